"""Evidence: what the catalog answers when a report asks, counted in the database.

Each model here is the answer of one method of the :class:`~oais.domain.ports.EvidenceCatalog` port:
counts and sums grouped by time bucket, type, outcome, format, location..., never one row per event
or per file. Where a report shows rows (the latest rejections, the open findings), the answer holds
at most a limit of them and says how many there were in all (:class:`Cut`).

A report covers a :class:`Window`: ``[start, end)`` in UTC, either end open, with time series
bucketed by month, or by day for a window of three months or less.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.formats import FormatHolding
from oais.domain.reports import Period

#: The significant properties a migration or normalisation compares (as their names appear in the
#: outcome detail of its PREMIS event: "significant properties: width 64 (kept); ...").
SIGNIFICANT_PROPERTIES = (
    "width",
    "height",
    "channels",
    "bit depth",
    "frames",
    "pixels",
    "pages",
    "hdus",
    "header keywords",
    "data checksum",
)

#: The longest window whose time series go by day (longer ones go by month).
DAILY_UP_TO = timedelta(days=92)

T = TypeVar("T")


class Granularity(StrEnum):
    """The width of one bucket of a time series."""

    DAY = "day"  # labels "2026-03-05"
    MONTH = "month"  # labels "2026-03"


class Window(BaseModel):
    """The part of the archive's history a report covers: ``start <= t < end`` (UTC), None: open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime | None = None
    end: datetime | None = None
    granularity: Granularity = Granularity.MONTH

    def label(self, moment: datetime | date) -> str:
        """The bucket label of ``moment`` (a time is taken in UTC)."""
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC) if moment.tzinfo else moment
            moment = moment.date()
        return moment.isoformat() if self.granularity is Granularity.DAY else moment.strftime("%Y-%m")

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` is in the window."""
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)

    def buckets(self, seen: Iterable[str], last_day: date) -> list[str]:
        """Every bucket label from the window's start (or the first label ``seen``) to its end (or
        ``last_day``, or the last label seen if later), with no gap: a time series has a value for
        every month (day) even if nothing happened in it.

        Args:
            seen: labels of buckets that hold data.
            last_day: the last day of an open-ended window (the day the report is made).
        """
        seen = sorted(set(seen))
        first = self.start.date() if self.start else (_parse(seen[0]) if seen else None)
        end = (self.end - timedelta(microseconds=1)).date() if self.end else last_day
        if seen:
            end = max(end, _parse(seen[-1]))
        if first is None or first > end:
            return seen
        out: list[str] = []
        day = first
        while day <= end:
            out.append(self.label(day))
            if self.granularity is Granularity.DAY:
                day += timedelta(days=1)
            else:
                day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return out


def _parse(label: str) -> date:
    return date.fromisoformat(label if len(label) == 10 else f"{label}-01")


def window_of(period: Period) -> Window:
    """The window of a report period: from the start day's midnight (UTC) to the midnight after the
    end day, so that an event at 23:59:59 on the last day is in and one at 00:00 the next day is not.
    A period of at most :data:`DAILY_UP_TO` is bucketed by day, any other by month."""
    start = datetime.combine(period.start, time(), UTC) if period.start else None
    end = datetime.combine(period.end + timedelta(days=1), time(), UTC) if period.end else None
    daily = start is not None and end is not None and end - start <= DAILY_UP_TO
    return Window(start=start, end=end, granularity=Granularity.DAY if daily else Granularity.MONTH)


class Cut(BaseModel, Generic[T]):
    """The first rows of a longer list, and how many rows the list had in all."""

    model_config = ConfigDict(frozen=True)

    rows: list[T] = Field(default_factory=list)
    total: int = 0

    @property
    def left_out(self) -> int:
        """How many rows are not in :attr:`rows`."""
        return max(0, self.total - len(self.rows))


# --- provenance -----------------------------------------------------------------------------------


class EventCount(BaseModel):
    """Events of one type and outcome in one bucket."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    type: str
    outcome: str
    events: int


class AgentUse(BaseModel):
    """A PREMIS agent and how many events of the window name it."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    name: str
    type: str
    version: str | None
    events: int


class AipVersions(BaseModel):
    """An AIP with more than one version."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    title: str
    versions: int
    first: datetime
    latest: datetime


class VersionHistory(BaseModel):
    """AIP versions: made in the window, and how many versions the AIPs held at its end have."""

    model_config = ConfigDict(frozen=True)

    created: int  # versions made in the window
    #: versions per AIP -> number of AIPs (AIPs made before the window's end)
    per_aip: dict[int, int] = Field(default_factory=dict)
    #: AIPs with more than one version, most versions first
    aips: Cut[AipVersions] = Field(default_factory=Cut[AipVersions])


class EventLogSummary(BaseModel):
    """A location's event log as the catalog records it (its segments)."""

    model_config = ConfigDict(frozen=True)

    location: str
    segments: int
    events: int
    last: datetime | None


# --- holdings -------------------------------------------------------------------------------------


class Totals(BaseModel):
    """AIPs, versions and stored files (each stored file once, whatever versions reuse it)."""

    model_config = ConfigDict(frozen=True)

    aips: int = 0
    versions: int = 0
    files: int = 0
    bytes: int = 0


class Growth(BaseModel):
    """What was added to, and removed from (deaccessioned), the holdings in one bucket."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    added: Totals
    removed: Totals


class FormatCounts(BaseModel):
    """Stored files by format: received from producers in the window, and held at its end."""

    model_config = ConfigDict(frozen=True)

    #: files of versions made in the window, as received (not derived by a conversion)
    received: list[FormatHolding] = Field(default_factory=list)
    #: every file held at the window's end (deaccessioned AIPs are not held)
    held: list[FormatHolding] = Field(default_factory=list)


class Holdings(BaseModel):
    """The holdings before the window, what changed in each of its buckets, and what is held at its
    end (deaccessioned AIPs are no longer held)."""

    model_config = ConfigDict(frozen=True)

    before: Totals
    growth: list[Growth]
    at_end: Totals


# --- deposit and quality --------------------------------------------------------------------------


class CodeCount(BaseModel):
    """How often an issue code was found: in how many SIPs (files), and how many times."""

    model_config = ConfigDict(frozen=True)

    code: str
    units: int  # SIPs for rejections, files for format issues
    issues: int


class RejectedSip(BaseModel):
    """One rejected SIP."""

    model_config = ConfigDict(frozen=True)

    date_time: datetime
    producer: str
    title: str
    sip_path: str
    codes: str  # the issue codes, as the catalog holds them


class Rejections(BaseModel):
    """SIPs rejected in the window, by code and producer, the latest first."""

    model_config = ConfigDict(frozen=True)

    total: int
    #: bucket -> SIPs rejected
    by_bucket: dict[str, int] = Field(default_factory=dict)
    by_code: list[CodeCount] = Field(default_factory=list)
    by_producer: dict[str, int] = Field(default_factory=dict)
    latest: Cut[RejectedSip] = Field(default_factory=Cut[RejectedSip])


class PropertyTally(BaseModel):
    """How many conversion events compared a significant property."""

    model_config = ConfigDict(frozen=True)

    name: str
    events: int


class ConversionEvent(BaseModel):
    """A migration or normalisation event."""

    model_config = ConfigDict(frozen=True)

    date_time: datetime
    type: str
    aip_id: str | None
    version: int | None
    outcome: str
    detail: str  # the outcome detail: identification and significant properties


class Conversions(BaseModel):
    """Migrations and normalisations in the window."""

    model_config = ConfigDict(frozen=True)

    #: (event type, outcome) -> events
    events: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: events whose comparison found a significant property that differs
    differs: int = 0
    #: of those, events whose output was kept all the same (never, unless the records were altered)
    kept_differs: int = 0
    derived_files: int = 0  # files made by a migration or normalisation in versions of the window
    derived_bytes: int = 0
    properties: list[PropertyTally] = Field(default_factory=list)
    #: events that failed or whose comparison differs, the latest first
    exceptions: Cut[ConversionEvent] = Field(default_factory=Cut[ConversionEvent])
    #: every event, the latest first
    latest: Cut[ConversionEvent] = Field(default_factory=Cut[ConversionEvent])


# --- workflows ------------------------------------------------------------------------------------


class ActionCount(BaseModel):
    """Actions of one kind through one channel with one outcome ("running": not finished)."""

    model_config = ConfigDict(frozen=True)

    action: str
    channel: str
    outcome: str
    actions: int


class ActionEntry(BaseModel):
    """One entry of the action log."""

    model_config = ConfigDict(frozen=True)

    id: int
    started: datetime
    finished: datetime | None
    actor: str
    role: str | None
    channel: str
    action: str
    target: str | None
    outcome: str  # "running" when not finished
    detail: str


class Actions(BaseModel):
    """The action log over the window."""

    model_config = ConfigDict(frozen=True)

    counts: list[ActionCount] = Field(default_factory=list)
    #: bucket -> outcome -> actions
    by_bucket: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: actions that failed, were refused or never finished, the latest first
    exceptions: Cut[ActionEntry] = Field(default_factory=Cut[ActionEntry])


# --- storage and integrity ------------------------------------------------------------------------


class LocationCopies(BaseModel):
    """The verified copies the catalog knows at one location."""

    model_config = ConfigDict(frozen=True)

    location: str
    aips: int
    versions: int
    objects: int
    bytes: int
    never_verified: int  # copies not verified in full since they were stored or rebuilt
    #: payload files of those copies that fixity audits must cover (each stored file once: a file a
    #: later version reuses is audited with the version that stores it)
    files: int = 0


class VersionCopies(BaseModel):
    """An AIP version and the required locations holding a copy of it."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    version: int
    locations: list[str]


class Copies(BaseModel):
    """Copies of every AIP version held (not deaccessioned) against the storage policy."""

    model_config = ConfigDict(frozen=True)

    versions: int
    #: copies at required locations -> versions
    per_version: dict[int, int] = Field(default_factory=dict)
    #: versions with fewer copies than the policy's locations, the fewest first
    below: Cut[VersionCopies] = Field(default_factory=Cut[VersionCopies])
    locations: list[LocationCopies] = Field(default_factory=list)


class FindingEntry(BaseModel):
    """An audit finding."""

    model_config = ConfigDict(frozen=True)

    detected: datetime
    location: str
    kind: str
    key: str
    aip_id: str | None
    version: int | None
    unrecoverable: bool
    resolved: datetime | None
    repaired_from: str | None


class Findings(BaseModel):
    """What fixity audits found wrong, and what became of it."""

    model_config = ConfigDict(frozen=True)

    detected: int  # findings detected in the window
    repaired: int  # findings repaired from another copy in the window
    found_whole: int  # findings resolved in the window without a repair (found whole again)
    open: int  # findings open at the time of the report, whenever detected
    unrecoverable: int  # open findings with no good copy left anywhere
    #: bucket -> {"detected", "repaired", "found whole"} -> findings
    by_bucket: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: location -> kind -> findings detected in the window
    by_location: dict[str, dict[str, int]] = Field(default_factory=dict)
    #: findings detected in the window and still open, unrecoverable first
    unresolved: Cut[FindingEntry] = Field(default_factory=Cut[FindingEntry])


class DeaccessionEntry(BaseModel):
    """A deaccession request and its decision."""

    model_config = ConfigDict(frozen=True)

    id: str
    aip_id: str
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    executed_at: datetime | None
    event_id: str | None


class Deaccessions(BaseModel):
    """Deletions and their approvals in the window."""

    model_config = ConfigDict(frozen=True)

    #: status -> requests made, decided or carried out in the window
    by_status: dict[str, int] = Field(default_factory=dict)
    tombstones: int = 0  # AIPs deleted in the window
    #: deletion events of the window that an executed request accounts for (its event, or its AIP);
    #: the others (counted with the events) are deletions outside the workflow
    approved_deletions: int = 0
    requests: Cut[DeaccessionEntry] = Field(default_factory=Cut[DeaccessionEntry])


# --- security -------------------------------------------------------------------------------------


class AccessFailure(BaseModel):
    """Refused requests or commands to one path with one status."""

    model_config = ConfigDict(frozen=True)

    method: str  # HTTP method, or "CLI" for a command-line authentication
    path: str
    status: int
    requests: int
    last: datetime


class Access(BaseModel):
    """Authentication failures (401), refusals (403) and token changes."""

    model_config = ConfigDict(frozen=True)

    requests: int  # every request recorded in the window
    #: bucket -> "401 HTTP" | "401 CLI" | "403 HTTP" | "403 CLI" -> requests
    by_bucket: dict[str, dict[str, int]] = Field(default_factory=dict)
    failures: Cut[AccessFailure] = Field(default_factory=Cut[AccessFailure])
    tokens_created: int = 0
    tokens_revoked: int = 0
    #: role -> tokens valid at the end of the window
    valid_by_role: dict[str, int] = Field(default_factory=dict)
    #: "token add" and "token revoke" actions, the latest first
    role_changes: Cut[ActionEntry] = Field(default_factory=Cut[ActionEntry])


class ReportAction(BaseModel):
    """An action of the action log that made a report with a given digest."""

    model_config = ConfigDict(frozen=True)

    id: int
    started: datetime
    actor: str
    action: str
    outcome: str
