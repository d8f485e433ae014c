"""Information packages: what a SIP holds, what an AIP version stores, what a DIP hands out."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.descriptive import DescriptiveMetadata, minimal
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.premis import Agent, Event
from oais.domain.storage import Copy

#: What an AIP identifier may look like: it names a directory or key prefix in every store.
AIP_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def aip_id_problem(aip_id: str) -> str | None:
    """Why ``aip_id`` cannot be an AIP identifier, or None if it can."""
    if AIP_ID_PATTERN.fullmatch(aip_id) is None:
        return (
            f"AIP id {aip_id!r} is not allowed: use 1 to 128 ASCII letters, digits, '.', '_', ':' "
            "or '-', starting with a letter or digit"
        )
    if ".." in aip_id:
        return f"AIP id {aip_id!r} is not allowed: it must not contain '..'"
    return None


class SipForm(StrEnum):
    """How a SIP was submitted."""

    DIRECTORY = "directory"
    ZIP = "zip"
    TAR = "tar"


class EntryKind(StrEnum):
    """What a name in a SIP is, before anything is read."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"  # tar only
    SPECIAL = "special"  # device, socket, FIFO


class SipEntry(BaseModel):
    """One name in a SIP as listed by its reader, before quality assurance.

    ``path`` is the name relative to the SIP root, '/'-separated, decoded from UTF-8 with
    ``surrogateescape`` so that an invalid name can still be reported. ``raw_path`` is the name as
    the archive or file system holds it.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    raw_path: bytes
    kind: EntryKind
    size: int = 0
    link_target: str | None = None  # symlinks and hardlinks: the target as recorded
    resolved_target: str | None = None  # symlinks resolved inside the SIP: the target's SIP path


class FormatFacts(BaseModel):
    """What format identification found for one file."""

    model_config = ConfigDict(frozen=True)

    puid: str | None  # PRONOM unique identifier, None when not identified
    name: str
    version: str | None = None
    mime_type: str
    basis: str  # "signature", "container", "extension", "none"
    tool: str  # e.g. "fido 1.6.1 (PRONOM v109)"
    issues: tuple[Issue, ...] = ()  # FMT-* issues (FITS header validity, not identified)


class FileEntry(BaseModel):
    """One payload file of an AIP version."""

    model_config = ConfigDict(frozen=True)

    path: str  # original path relative to the SIP root (or to a submitted bag's data/)
    size: int
    digests: dict[DigestAlgorithm, str]
    format: FormatFacts
    #: Where the file is stored in the bag when not at data/objects/<path> (a submitted bag's tag
    #: files are kept under data/metadata/submission/).
    stored_path: str | None = None
    #: The earlier version whose objects hold this file when this version reuses it (listed in the
    #: version's fetch.txt); None when the file is stored with its own version.
    stored_version: int | None = None
    #: The ``path`` of the file of this same AIP version that this file was made from by a format
    #: migration or normalisation (recorded in PREMIS as a derivation relationship); None for a file
    #: received from the producer.
    derived_from: str | None = None

    @property
    def bag_path(self) -> str:
        """The file's path inside the bag."""
        return self.stored_path or f"data/objects/{self.path}"


class AipVersion(BaseModel):
    """One immutable version of an AIP."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    version: int = Field(ge=1)
    created: datetime
    files: int
    bytes: int
    payload_fingerprint: str  # sha256 over the sorted "sha256  path" lines of the files received
    #: The version's key prefix in every location ("aips/<aip id>/v<version>", see docs/aip-layout.md).
    location: str


class Aip(BaseModel):
    """An archival information package: an intellectual entity and its versions."""

    model_config = ConfigDict(frozen=True)

    aip_id: str
    title: str
    producer: str
    created: datetime
    #: Descriptive metadata given at ingest (``oais ingest --metadata``); None when only a title was.
    metadata: DescriptiveMetadata | None = None

    @property
    def descriptive(self) -> DescriptiveMetadata:
        """The descriptive metadata (a title and open access when none was given)."""
        return self.metadata or minimal(self.title)


class AipRecord(BaseModel):
    """Everything the catalog holds about one AIP version."""

    aip: Aip
    version: AipVersion
    files: list[FileEntry]
    events: list[Event]
    agents: list[Agent]
    #: The verified copies at storage locations (one per location).
    copies: list[Copy] = []


class Rejection(BaseModel):
    """A SIP that was refused: what, when, why."""

    model_config = ConfigDict(frozen=True)

    identifier: str
    sip_path: str
    producer: str
    title: str
    date_time: datetime
    issues: tuple[Issue, ...]


def payload_fingerprint(files: Iterable[FileEntry], algorithm: DigestAlgorithm) -> str:
    """A sha256 over the sorted ``<digest>  <bag path>`` lines of every file received from the
    producer (files the archive derived from them, by normalisation or migration, are left out).

    Two SIPs with the same fingerprint hold the same files under the same names; every version of
    an AIP has the fingerprint of the SIP it was made from.
    """
    h = hashlib.sha256()
    received = (f for f in files if f.derived_from is None)
    for line in sorted(f"{f.digests[algorithm]}  {f.bag_path}\n" for f in received):
        h.update(line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()
