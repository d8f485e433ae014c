"""The action log: who did every state-changing action, through which channel, and how it ended.

Every command that changes what the archive holds or promises (an ingest, a DIP, a replication, an
audit run, a migration, a token made or revoked, a deaccession request or decision, a report made)
is recorded when it starts and when it ends, with the person or process that did it:

- through the HTTP API, the API token's name and role (``authenticated_by = token``);
- on the command line, the API token in ``OAIS_TOKEN`` when one is set (its name and role,
  ``token``); otherwise the operating-system user running ``oais`` (``os-user``), who holds the
  catalog's and the storage's credentials and so acts as an administrator;
- the integrity daemon, by its own name (``daemon``).

The policy register beside it records every policy text the archive acted under, so that a report
can say which policy changed, when, and under whose action it was first applied.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.access_control import Role

#: A value of an action's arguments (kept as JSON).
ArgumentValue = str | int | float | bool | None | list[str]


class Channel(StrEnum):
    """Where an action came from."""

    CLI = "cli"
    API = "api"
    DAEMON = "daemon"


class Basis(StrEnum):
    """How the actor was established."""

    TOKEN = "token"  # an API token, checked against the token store
    OS_USER = "os-user"  # the operating-system user running the command
    DAEMON = "daemon"  # the integrity daemon, unattended


class ActionOutcome(StrEnum):
    """How an action ended."""

    OK = "ok"
    FAILED = "failed"  # it was tried and went wrong (storage, catalog, a tool...)
    REFUSED = "refused"  # it was not allowed or its input was rejected; nothing was changed


class Actor(BaseModel):
    """Who does an action."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    basis: Basis
    role: Role | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the actor acts with the administrator role (an OS user running oais does)."""
        return self.role is Role.ADMIN


class ActionRecord(BaseModel):
    """One entry of the action log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    started: datetime
    finished: datetime | None = None
    actor: Actor
    channel: Channel
    action: str  # "ingest", "deaccession approve", "token add"...
    target: str | None = None  # an AIP id, a request id, a token name...
    arguments: dict[str, ArgumentValue] = Field(default_factory=dict)
    outcome: ActionOutcome | None = None  # None while the action runs (or if it was killed)
    detail: str = ""


class PolicyChange(BaseModel):
    """A policy text first acted under at ``first_seen``: a new version, or new text under a version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy_id: str
    version: str
    sha256: str
    title: str
    first_seen: datetime
    first_seen_by: str
    action_id: int | None = None
    #: The version before it (None for the first text of a policy the archive saw).
    previous_version: str | None = None
    #: True when the text changed but the version did not: events cite "id@version", so two texts
    #: under one version cannot be told apart in PREMIS. A curator's mistake a report must show.
    same_version_new_text: bool = False


def arguments_json(arguments: Mapping[str, ArgumentValue]) -> str:
    """An action's arguments as compact, sorted JSON (as the action log keeps them)."""
    return json.dumps(dict(arguments), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
