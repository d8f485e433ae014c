"""Archival storage: locations, objects, copies, retention and the storage policy.

A *location* is one place that holds copies of AIPs: a directory on a local file system or a bucket
(with an optional key prefix) on an S3 service such as Ceph RGW. Inside a location everything is an
*object* named by a '/'-separated *key*; ``docs/aip-layout.md`` documents which keys hold what.
Where a location is and how to reach it is configuration (``oais.config``); which locations must
hold a copy, and for how long objects are locked, is policy (``policies/storage.toml``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: A top-level key segment no object may use: the local store keeps its temporary files there.
INCOMING = ".incoming"

#: What a location name may look like (it appears in commands, messages and the catalog).
LOCATION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class RetentionMode(StrEnum):
    """S3 Object Lock retention modes."""

    GOVERNANCE = "GOVERNANCE"  # privileged users may shorten or remove it (with a bypass header)
    COMPLIANCE = "COMPLIANCE"  # nobody may shorten it or delete the object before it ends


class Retention(BaseModel):
    """How long every object of an AIP is locked against deletion, where the location can lock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: RetentionMode
    days: int = Field(ge=1, le=365 * 200)

    def until(self, now: datetime) -> datetime:
        """The end of the retention for an object written at ``now``."""
        return now + timedelta(days=self.days)


class DeaccessionRules(BaseModel):
    """What an approved deaccession may do to locked objects (the ``[deaccession]`` table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether an approved deletion may lift GOVERNANCE retention where the location allows it
    #: (S3 ``BypassGovernanceRetention``). COMPLIANCE retention is never lifted: the deletion waits.
    governance_bypass: bool = False


class StoragePolicy(BaseModel):
    """The storage policy (``policies/storage.toml``): where copies go and how they are protected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = ""
    #: Every location that must hold a verified copy of every AIP version, by name.
    locations: tuple[str, ...] = Field(min_length=1)
    #: Retention for locations whose bucket has S3 Object Lock (None: no retention is asked for).
    retention: Retention | None = None
    #: What an approved deaccession may do (absent: the defaults, no governance bypass).
    deaccession: DeaccessionRules = DeaccessionRules()

    @field_validator("locations")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if LOCATION_NAME.fullmatch(name) is None:
                raise ValueError(f"{name!r} is not a location name (lower-case letters, digits, '-', '_')")
        if len(set(value)) != len(value):
            raise ValueError("a location is named twice")
        return value

    @property
    def reference(self) -> str:
        """How events cite this policy."""
        return f"{self.id}@{self.version}"


class LocationKind(StrEnum):
    """The kinds of storage a location can be."""

    LOCAL = "local"
    S3 = "s3"


class LocationInfo(BaseModel):
    """What a location is and what it can do, as found by asking it."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: LocationKind
    uri: str  # e.g. "file:///srv/oais/store" or "s3://aips-a/prefix/ at http://127.0.0.1:7480"
    object_lock: bool  # objects can be locked against deletion (S3 Object Lock enabled on the bucket)
    versioned: bool = False  # the bucket keeps older versions of an overwritten key


class ObjectInfo(BaseModel):
    """One stored object, as listed or looked up (its content is not read)."""

    model_config = ConfigDict(frozen=True)

    key: str
    size: int
    modified: datetime | None = None
    #: The sha256 the object was written with, from its metadata (S3 ``x-amz-meta-sha256``); a hint
    #: for listings only: fixity is always checked by reading the bytes.
    sha256: str | None = None
    retain_until: datetime | None = None
    retention_mode: RetentionMode | None = None


class WriteItem(BaseModel):
    """One object to write: from a local file or from bytes in memory."""

    model_config = ConfigDict(frozen=True)

    key: str
    size: int
    sha256: str  # the digest of record: the bytes sent must have it, or nothing is kept
    #: The fast digest of the same bytes, if known. A store that hashes bytes on their way to a
    #: remote service (and reads them back for the sha256 of record) may check this one on the way
    #: instead: the transfer check then costs a tenth of the CPU.
    xxh3_128: str | None = None
    path: str | None = None  # a local file to send
    data: bytes | None = None  # or the bytes themselves (small tag files, event log segments)
    #: Allow replacing an existing object with different content. Only for objects of a version that
    #: is not yet complete (its bagit.txt is absent), never for an object of a stored AIP.
    replace: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> WriteItem:
        if (self.path is None) == (self.data is None):
            raise ValueError("a write item has either a path or data")
        return self


class WriteOutcome(StrEnum):
    """What writing one object did."""

    WRITTEN = "written"
    PRESENT = "present"  # an object with the same size and sha256 was already there: not written again


class WriteResult(BaseModel):
    """The result of writing one object."""

    model_config = ConfigDict(frozen=True)

    key: str
    outcome: WriteOutcome
    #: True if the bytes hashed are the stored object's own bytes (a local hard link, an object found
    #: present and hashed in place): the object needs no read-back. False when the bytes were hashed
    #: on their way to the store (S3, a copy), so only a read-back proves what was stored.
    verified: bool = False


class ReadItem(BaseModel):
    """One object to read whole: hashed, and written to a local file if ``dest`` is given."""

    model_config = ConfigDict(frozen=True)

    key: str
    dest: str | None = None


class ReadResult(BaseModel):
    """What reading one object found: its size and digests, or why it could not be read."""

    model_config = ConfigDict(frozen=True)

    key: str
    size: int = 0
    sha256: str | None = None
    #: None if the object was read whole; otherwise "missing" or a one-line reason.
    problem: str | None = None


class Hashed(NamedTuple):
    """What hashing one stored object found (a plain tuple: audits produce billions of these)."""

    key: str
    size: int  # bytes read (for a problem: how many were read before it)
    digest: str | None  # lower-case hexadecimal digest in the algorithm asked for; None with a problem
    problem: str | None  # None if read whole; otherwise "missing" or a one-line reason


class Copy(BaseModel):
    """One copy of an AIP version at one location, as the catalog knows it."""

    model_config = ConfigDict(frozen=True)

    location: str
    stored: datetime  # when the copy was written and verified
    verified: datetime | None = None  # when its fixity was last checked in full (None: not since rebuild)
    objects: int = Field(ge=0)  # objects stored under the version's prefix (unchanged payload is not)
    bytes: int = Field(ge=0)  # their total size


class StoredVersion(BaseModel):
    """One stored object version under a prefix, with what protects it against deletion (a plain
    object store has one version per key and no protection)."""

    model_config = ConfigDict(frozen=True)

    key: str
    #: The S3 version id (``"null"`` for an object written before versioning); None where the store
    #: keeps no versions.
    version_id: str | None = None
    size: int = 0
    #: A delete marker of a versioned bucket: no bytes, but a version to remove all the same.
    delete_marker: bool = False
    retention_mode: RetentionMode | None = None
    retain_until: datetime | None = None
    legal_hold: bool = False

    def blocked(self, now: datetime, bypass_governance: bool) -> bool:
        """Whether this version may not be deleted at ``now``: under a legal hold, or retained until
        later (GOVERNANCE retention does not block when it may be bypassed)."""
        if self.legal_hold:
            return True
        if self.retain_until is None or self.retain_until <= now:
            return False
        return not (self.retention_mode is RetentionMode.GOVERNANCE and bypass_governance)

    def describe(self) -> str:
        """One line for people: the key, and the version and protection if any."""
        version = f" (version {self.version_id})" if self.version_id not in (None, "null") else ""
        marker = " [delete marker]" if self.delete_marker else ""
        held = " under legal hold" if self.legal_hold else ""
        until = (
            f" retained ({self.retention_mode.value if self.retention_mode else '?'}) until "
            f"{self.retain_until.isoformat()}"
            if self.retain_until is not None
            else ""
        )
        return f"{self.key}{version}{marker}{held}{until}"


class DeletionPlan(BaseModel):
    """Everything stored under a prefix at one location, and what of it may not be deleted yet.

    Made before anything is deleted (a planning pass): a deletion goes ahead at a location only when
    nothing under the prefix is blocked, so that a location never holds half an AIP.
    """

    model_config = ConfigDict(frozen=True)

    location: str
    prefix: str
    now: datetime
    bypass_governance: bool
    versions: tuple[StoredVersion, ...] = ()
    #: Incomplete multipart uploads under the prefix (parts stored, no object made yet).
    uploads: int = 0

    @property
    def blocked(self) -> list[StoredVersion]:
        """The versions that may not be deleted at ``now``."""
        return [v for v in self.versions if v.blocked(self.now, self.bypass_governance)]

    @property
    def clear(self) -> bool:
        """True if everything under the prefix may be deleted now."""
        return not self.blocked

    @property
    def held_until(self) -> datetime | None:
        """When the last blocking retention ends (None if nothing is blocked, or only legal holds
        block, which end only when lifted)."""
        dates = [v.retain_until for v in self.blocked if v.retain_until is not None and not v.legal_hold]
        return max(dates) if dates else None

    @property
    def legal_holds(self) -> int:
        """How many versions are under a legal hold."""
        return sum(1 for v in self.versions if v.legal_hold)

    @property
    def objects(self) -> int:
        """Object versions with bytes (delete markers not counted)."""
        return sum(1 for v in self.versions if not v.delete_marker)

    @property
    def bytes(self) -> int:
        """Their total size."""
        return sum(v.size for v in self.versions)


class DeletionReport(BaseModel):
    """What a deletion under a prefix did at one location."""

    model_config = ConfigDict(frozen=True)

    location: str
    prefix: str
    #: Every version deleted (with its key, version id and size).
    deleted: tuple[StoredVersion, ...] = ()
    #: The versions that blocked the deletion (then nothing was deleted) with their retention.
    blocked: tuple[StoredVersion, ...] = ()
    uploads_aborted: int = 0

    @property
    def done(self) -> bool:
        """True if nothing is left under the prefix."""
        return not self.blocked

    @property
    def objects(self) -> int:
        """Object versions deleted (delete markers not counted)."""
        return sum(1 for v in self.deleted if not v.delete_marker)

    @property
    def bytes(self) -> int:
        """Bytes deleted."""
        return sum(v.size for v in self.deleted)


class Segment(BaseModel):
    """One segment of a location's append-only event log, as the catalog remembers it.

    Each segment names the sha256 of the one before it; the catalog keeps every segment's own
    sha256, so that an edit of the newest segment is detected too.
    """

    model_config = ConfigDict(frozen=True)

    location: str
    sequence: int = Field(ge=1)
    key: str
    sha256: str
    previous: str | None  # sha256 of segment ``sequence - 1``; None for the first
    events: int = Field(ge=0)
    created: datetime


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name an object, or None if it can.

    A key is a '/'-separated relative path without empty, '.' or '..' segments and without NUL, so
    that it means the same file wherever an AIP is restored, and never reaches outside the location.
    """
    if not key:
        return "the key is empty"
    if "\0" in key:
        return "the key contains NUL"
    if key.startswith("/"):
        return "the key is absolute"
    segments = key.split("/")
    if "" in segments:
        return "the key has an empty segment"
    if "." in segments or ".." in segments:
        return "the key has a '.' or '..' segment"
    if segments[0] == INCOMING:
        return f"keys under {INCOMING}/ are reserved"
    return None


def prefix_problem(prefix: str, *, whole_segments: bool) -> str | None:
    """Why ``prefix`` cannot select keys (``list``, ``children``), or None if it can.

    Args:
        prefix: a key prefix; "" selects everything.
        whole_segments: the prefix must be "" or end with '/' (``children``).
    """
    if prefix == "":
        return None
    if whole_segments and not prefix.endswith("/"):
        return "the prefix does not end with '/'"
    if "\0" in prefix:
        return "the prefix contains NUL"
    if prefix.startswith("/"):
        return "the prefix is absolute"
    complete = prefix.split("/")[:-1]
    if "" in complete:
        return "the prefix has an empty segment"
    if "." in complete or ".." in complete:
        return "the prefix has a '.' or '..' segment"
    return None
