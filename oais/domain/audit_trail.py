"""The auditor's view of a period: fixity failures, repairs, deletions, each with who and when.

What the catalog holds about a period ``[start, end)``, as the audit report (``oais report audit``)
shows it: the counts of everything in the period (SQL aggregates) and the individual items, which
are few in a healthy archive but are cut at a limit (``*_total`` still counts all of them).

"Who" is told twice: by the PREMIS agents the event names (the software that did it, the person if
any) and by the action-log entry that was running at that time (the command, the daemon or the HTTP
request, with the person or process behind it).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Acting(BaseModel):
    """The action-log entry under which something happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    action: str  # "audit run", "daemon"...
    actor: str
    basis: str  # token, os-user, daemon
    role: str | None = None
    channel: str  # cli, api, daemon
    started: datetime
    finished: datetime | None = None

    def line(self) -> str:
        """For people: "'audit run' by alice (os-user, cli), action 17"."""
        return f"'{self.action}' by {self.actor} ({self.basis}, {self.channel}), action {self.id}"


class Failure(BaseModel):
    """An object an audit found wrong in the period (an audit finding)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detected: datetime
    location: str
    key: str
    kind: str  # missing, truncated, altered, unreadable, unexpected
    aip_id: str | None = None
    version: int | None = None
    path: str | None = None
    expected: str | None = None
    found: str | None = None
    event_id: str | None = None  # the fixity check event that found it
    #: The PREMIS agents of that event ("oais 1.0 (software)").
    agents: list[str] = Field(default_factory=list)
    acting: Acting | None = None
    resolved: datetime | None = None
    repaired_from: str | None = None  # None with ``resolved``: found whole again
    resolution_event: str | None = None
    unrecoverable: bool = False

    @property
    def resolution(self) -> str:
        """How it was resolved, for people."""
        if self.resolved is None:
            return "no good copy left" if self.unrecoverable else "open"
        if self.repaired_from:
            return f"repaired from '{self.repaired_from}'"
        return "found whole again"


class FailedCheck(BaseModel):
    """A fixity check event that failed in the period without an audit finding (``oais storage verify``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    when: datetime
    aip_id: str | None = None
    version: int | None = None
    detail: str
    outcome_detail: str
    agents: list[str] = Field(default_factory=list)
    acting: Acting | None = None


class Repair(BaseModel):
    """A damaged object replaced from a good copy in the period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: datetime
    location: str  # where the object was replaced
    source: str  # the location the good copy came from
    key: str
    kind: str
    aip_id: str | None = None
    version: int | None = None
    path: str | None = None
    detected: datetime
    event_id: str | None = None  # the PREMIS recovery event
    agents: list[str] = Field(default_factory=list)
    acting: Acting | None = None


class Deletion(BaseModel):
    """A deaccession request with something done in the period (asked, decided or carried out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    aip_id: str
    reason: str
    status: str  # requested, approved, rejected, executed
    requested_by: str
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    executed_at: datetime | None = None
    event_id: str | None = None  # the PREMIS deletion event
    event_time: datetime | None = None
    event_outcome: str | None = None


class TypeCount(BaseModel):
    """Events of one type and outcome in the period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    outcome: str
    count: int


class ActionCount(BaseModel):
    """Action-log entries started in the period, by channel and outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    outcome: str  # ok, failed, refused, or "running" (no outcome recorded)
    count: int


class AuditTrail(BaseModel):
    """Everything the catalog holds about ``[start, end)`` for the audit report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    end: datetime
    limit: int  # the most items listed in each list
    events: list[TypeCount] = Field(default_factory=list)
    actions: list[ActionCount] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    failures_total: int = 0
    failed_checks: list[FailedCheck] = Field(default_factory=list)
    failed_checks_total: int = 0
    repairs: list[Repair] = Field(default_factory=list)
    repairs_total: int = 0
    #: Findings closed in the period because a later audit found the object whole again.
    found_whole_total: int = 0
    deletions: list[Deletion] = Field(default_factory=list)
    deletions_total: int = 0
    deletions_executed_total: int = 0  # requests carried out in the period
    #: Findings detected before ``end`` and still open at ``end``.
    unresolved: list[Failure] = Field(default_factory=list)
    unresolved_total: int = 0
    unrecoverable_total: int = 0  # of those, with no good copy left

    def event_count(self, type_: str, outcome: str | None = None) -> int:
        """Events of ``type_`` in the period (with ``outcome`` if given)."""
        return sum(
            e.count for e in self.events if e.type == type_ and (outcome is None or e.outcome == outcome)
        )
