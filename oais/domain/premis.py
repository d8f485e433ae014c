"""PREMIS 3 entities as plain models: events, agents, outcomes.

Event types use the Library of Congress vocabulary (id.loc.gov/vocabulary/preservation/eventType);
agent types use id.loc.gov/vocabulary/preservation/agentType. No field may be blank: a PREMIS event
without an agent, a time, an outcome or a detail is not evidence.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

EVENT_TYPE_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/eventType"
AGENT_TYPE_AUTHORITY = "http://id.loc.gov/vocabulary/preservation/agentType"


class EventType(StrEnum):
    """Event types from id.loc.gov; the value is the label, ``code`` the vocabulary code."""

    INGESTION = "ingestion"
    MESSAGE_DIGEST_CALCULATION = "message digest calculation"
    FORMAT_IDENTIFICATION = "format identification"
    VALIDATION = "validation"
    ACCESSION = "accession"
    FIXITY_CHECK = "fixity check"
    REPLICATION = "replication"
    RECOVERY = "recovery"  # a bad copy replaced from a good one
    MIGRATION = "migration"
    NORMALIZATION = "normalization"  # a preservation copy made at ingest
    DISSEMINATION = "dissemination"
    DELETION = "deletion"
    DEACCESSION = "deaccession"
    METADATA_MODIFICATION = "metadata modification"

    @property
    def code(self) -> str:
        """The id.loc.gov code (the last part of the term's URI)."""
        return _EVENT_CODES[self]

    @property
    def uri(self) -> str:
        """The term's URI."""
        return f"{EVENT_TYPE_AUTHORITY}/{self.code}"


_EVENT_CODES = {
    EventType.INGESTION: "ing",
    EventType.MESSAGE_DIGEST_CALCULATION: "mes",
    EventType.FORMAT_IDENTIFICATION: "for",
    EventType.VALIDATION: "val",
    EventType.ACCESSION: "acc",
    EventType.FIXITY_CHECK: "fix",
    EventType.REPLICATION: "rep",
    EventType.RECOVERY: "rec",
    EventType.MIGRATION: "mig",
    EventType.NORMALIZATION: "nor",
    EventType.DISSEMINATION: "dis",
    EventType.DELETION: "del",
    EventType.DEACCESSION: "dea",
    EventType.METADATA_MODIFICATION: "mem",
}


class Outcome(StrEnum):
    """Event outcomes (id.loc.gov eventOutcome vocabulary labels)."""

    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


class AgentType(StrEnum):
    """Agent types from id.loc.gov."""

    SOFTWARE = "software"
    PERSON = "person"
    ORGANIZATION = "organization"
    HARDWARE = "hardware"


class AgentRole(StrEnum):
    """How an agent took part in an event (PREMIS linkingAgentRole)."""

    EXECUTING_PROGRAM = "executing program"
    IMPLEMENTER = "implementer"
    AUTHORIZER = "authorizer"
    VALIDATOR = "validator"
    PRODUCER = "producer"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class Agent(BaseModel):
    """A PREMIS agent: software with its version, a person or an organisation."""

    model_config = ConfigDict(frozen=True)

    identifier: str  # e.g. "software:oais/0.1.0", "organization:IAS / OMEGA team"
    name: str
    type: AgentType
    version: str | None = None
    note: str | None = None

    _check_identifier = field_validator("identifier", "name")(_not_blank)


class AgentLink(BaseModel):
    """An agent's part in one event."""

    model_config = ConfigDict(frozen=True)

    agent: str  # Agent.identifier
    role: AgentRole


class Event(BaseModel):
    """A PREMIS event: what happened, when, with what outcome, and who did it."""

    model_config = ConfigDict(frozen=True)

    identifier: str  # a UUID URN
    type: EventType
    date_time: datetime
    detail: str
    outcome: Outcome
    outcome_detail: str
    agents: tuple[AgentLink, ...] = Field(min_length=1)
    objects: tuple[str, ...] = ()  # PREMIS objectIdentifierValue of the objects concerned
    policy: str | None = None  # "<policy id>@<version>" that the event applied

    _check_text = field_validator("identifier", "detail", "outcome_detail")(_not_blank)

    @field_validator("date_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("event time must carry a time zone")
        return value


def new_event(
    type_: EventType,
    when: datetime,
    detail: str,
    outcome: Outcome,
    outcome_detail: str,
    agents: Iterable[AgentLink],
    objects: Iterable[str],
    policy: str | None,
) -> Event:
    """An event with a fresh UUID URN as its identifier."""
    return Event(
        identifier=f"urn:uuid:{uuid.uuid4()}",
        type=type_,
        date_time=when,
        detail=detail,
        outcome=outcome,
        outcome_detail=outcome_detail,
        agents=tuple(agents),
        objects=tuple(objects),
        policy=policy,
    )


def archive_agent(name: str) -> Agent:
    """The archive that holds the AIPs, as the PREMIS agent that implements its events."""
    return Agent(
        identifier=f"organization:{name}",
        name=name,
        type=AgentType.ORGANIZATION,
        note="the archive that holds the AIP",
    )


def accession_time(events: Iterable[Event]) -> datetime | None:
    """When the first accession event among ``events`` happened (when a version entered storage)."""
    return next((e.date_time for e in events if e.type is EventType.ACCESSION), None)


@dataclass(frozen=True)
class LoggedEvent:
    """An event about one AIP version, as the event log and the catalog hold it."""

    aip_id: str
    version: int
    event: Event
