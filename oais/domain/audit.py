"""Fixity audits: the audit policy, the work they claim and what they find.

Every copy of every stored object is re-read on a schedule and its digest compared with the one of
record: a *quick* audit computes xxh3_128 (the fast digest ingest computed from the SIP), a *deep*
audit sha256 (the digest of record); the analogue of Ceph's scrub and deep scrub. The policy
(``policies/audit.toml``) says how often each runs, the cycle within which every copy must have been
verified, and how many bytes per second an audit may read from each location.

The unit of audit work is a *slice*: a contiguous run of one AIP version's files at one location (at
most :data:`SLICE_FILES` files, and less than :data:`SLICE_BYTES` bytes plus its last file), so that
claims, verification times and events stay proportionate to the holdings at a billion files. A file
copy's last verification (time, mode, outcome) is that of its slice, except where a *finding* names
the file. See docs/decisions/0009-fixity-audits.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oais.domain.fixity import DigestAlgorithm
from oais.domain.premis import LoggedEvent
from oais.domain.storage import LOCATION_NAME

#: Most files in one slice.
SLICE_FILES = 10_000
#: A slice is cut wherever the version's running total of bytes passes a multiple of this, so that it
#: holds less than this plus its last file.
SLICE_BYTES = 64 << 30


class AuditMode(StrEnum):
    """How deep an audit reads."""

    QUICK = "quick"  # xxh3_128 of every byte, against the fast digest computed at ingest
    DEEP = "deep"  # sha256 of every byte, against the digest of record

    @property
    def algorithm(self) -> DigestAlgorithm:
        """The digest this mode computes."""
        return DigestAlgorithm.XXH3_128 if self is AuditMode.QUICK else DigestAlgorithm.SHA256


class Schedule(BaseModel):
    """How often one audit mode runs over every copy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: float = Field(gt=0, le=3650)

    @property
    def interval(self) -> timedelta:
        """The time between two audits of a copy in this mode."""
        return timedelta(days=self.every_days)


class ReadBudget(BaseModel):
    """Bytes per second an audit may read from a location (all daemons and workers together)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: int = Field(gt=0, description="bytes per second for a location not listed below")
    locations: dict[str, int] = Field(default_factory=dict)

    @field_validator("locations")
    @classmethod
    def _valid(cls, value: dict[str, int]) -> dict[str, int]:
        for name, rate in value.items():
            if LOCATION_NAME.fullmatch(name) is None:
                raise ValueError(f"{name!r} is not a location name")
            if rate <= 0:
                raise ValueError(f"the budget of location {name!r} must be a positive number of bytes/s")
        return value

    def of(self, location: str) -> int:
        """The budget of ``location`` in bytes per second."""
        return self.locations.get(location, self.default)


class AuditPolicy(BaseModel):
    """The audit policy (``policies/audit.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    #: Every copy of every file must have been verified within this many days.
    cycle_days: float = Field(gt=0, le=3650)
    quick: Schedule
    deep: Schedule
    budget: ReadBudget
    #: How often the daemon wakes up to claim and verify the copies that are due.
    tick_seconds: int = Field(default=300, ge=1, le=86_400)
    #: How often each location is listed in full for objects that no AIP lists.
    sweep_hours: float = Field(default=24, gt=0, le=24 * 366)
    #: A claim's shortest life; a claim lasts long enough to read its slice within the budget, and a
    #: daemon that dies leaves claims that expire after this.
    claim_minutes: float = Field(default=30, gt=0, le=24 * 60)
    #: Replace a copy that fails from another location's copy that verifies now.
    repair: bool = True

    @model_validator(mode="after")
    def _keepable(self) -> AuditPolicy:
        if self.deep.every_days > self.cycle_days:
            raise ValueError(
                f"deep.every_days ({self.deep.every_days:g}) is longer than cycle_days "
                f"({self.cycle_days:g}): the cycle could not be kept"
            )
        if self.quick.every_days > self.deep.every_days:
            raise ValueError(
                f"quick.every_days ({self.quick.every_days:g}) is longer than deep.every_days "
                f"({self.deep.every_days:g}): a deep audit would always come first"
            )
        return self

    @property
    def reference(self) -> str:
        """How events cite this policy."""
        return f"{self.id}@{self.version}"

    @property
    def cycle(self) -> timedelta:
        """The time within which every copy must have been verified."""
        return timedelta(days=self.cycle_days)

    @property
    def claim_ttl(self) -> timedelta:
        """A claim's shortest life."""
        return timedelta(minutes=self.claim_minutes)

    def needed_rate(self, total_bytes: int) -> float:
        """Bytes per second a location holding ``total_bytes`` must give audits to keep the schedule.

        A deep audit also counts as the quick audit of its day, so every byte is read once per quick
        interval (the shorter one).
        """
        return total_bytes / self.quick.interval.total_seconds()


class FindingKind(StrEnum):
    """What an audit can find wrong with one object."""

    MISSING = "missing"  # the object is not there
    TRUNCATED = "truncated"  # shorter (or longer) than recorded
    ALTERED = "altered"  # the right size, another digest
    UNREADABLE = "unreadable"  # there, but reading it failed
    UNEXPECTED = "unexpected"  # an object no AIP lists


class Slice(BaseModel):
    """A claimed run of one version's files at one location, with what the audit needs to read it."""

    model_config = ConfigDict(frozen=True)

    id: int
    aip_id: str
    version: int
    location: str
    number: int  # 0 is the slice that also covers the version's tag files and its listing
    files: int
    bytes: int
    checked: datetime | None
    deep_checked: datetime | None
    #: How many slices the copy is cut into (events say whether one covered the whole version).
    of: int = 1


#: An object to hash and what it must be, as the catalog's database returns it: a plain tuple, so that
#: no Python object is built for each of a slice's files (and none unpickled in the worker).
#: (key, algorithm as a :class:`DigestAlgorithm` value, size, digest); a size or digest of None is not
#: known and not compared.
Expected = tuple[str, str, int | None, str | None]


class ObjectCheck(NamedTuple):
    """One object an audit must read, with what it must find (a plain tuple: there are billions)."""

    key: str
    path: str  # the file's path in the bag
    size: int | None  # None for tag files, whose size nothing records
    expected: str | None  # in ``algorithm``; None if nothing records it (the tag manifest itself)
    algorithm: DigestAlgorithm
    record: str | None  # the sha256 of record (what a repair must find), None if nothing records it
    file_id: int | None = None  # the catalog's file, None for tag files

    def expected_row(self) -> Expected:
        """What a worker compares this object with."""
        return (self.key, self.algorithm.value, self.size, self.expected)


@dataclass(frozen=True)
class SliceOutcome:
    """What one slice's audit found, ready to be recorded."""

    slice_id: int
    mode: AuditMode
    when: datetime
    ok: bool
    event: LoggedEvent  # the fixity check event
    findings: Sequence[Finding]  # objects found wrong
    whole: Sequence[str]  # keys read and found as recorded (their open findings are resolved)


class Finding(BaseModel):
    """One object found wrong."""

    model_config = ConfigDict(frozen=True)

    location: str
    key: str
    kind: FindingKind
    aip_id: str | None = None  # None for an object no AIP lists
    version: int | None = None
    path: str | None = None
    file_id: int | None = None  # the catalog's file (None for tag files and unknown objects)
    algorithm: DigestAlgorithm | None = None
    expected: str | None = None
    found: str | None = None  # the digest read (with the size read, if that differs), or what was found
    detected: datetime
    repaired: datetime | None = None
    repaired_from: str | None = None
    #: True while no location holds a good copy of the file: the archive may lose it.
    unrecoverable: bool = False

    def line(self) -> str:
        """One line for people."""
        what = f"AIP {self.aip_id} v{self.version} {self.path}" if self.aip_id else "no AIP lists it"
        parts = [f"expected {self.expected}"] if self.expected else []
        parts += [f"found {self.found}"] if self.found else []
        found = f" ({', '.join(parts)})" if parts else ""
        return f"location '{self.location}': {self.key}: {self.kind.value}{found} [{what}]"


class LocationCoverage(BaseModel):
    """How far one location's audits are within the cycle."""

    model_config = ConfigDict(frozen=True)

    location: str
    slices: int
    files: int
    bytes: int
    verified_files: int  # files whose last successful verification is within the cycle
    deep_files: int  # of those, files whose last deep audit is within the cycle
    oldest: datetime | None  # the oldest last verification (None: some were never verified)
    never: int  # files never verified since they were stored (or since a rebuild)
    backlog_files: int  # files due for an audit now (quick or deep)
    backlog_bytes: int
    needed_rate: float  # bytes/s to keep the schedule
    budget: int  # bytes/s the policy allows
    open_findings: int
    unrecoverable: int

    @property
    def share(self) -> float:
        """The share of file copies verified within the cycle (1.0 with nothing stored)."""
        return 1.0 if self.files == 0 else self.verified_files / self.files
