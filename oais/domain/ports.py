"""Ports: the small interfaces services call. Adapters implement them; services never import an SDK.

Each port has one shipped fake (for unit tests) that passes the same contract tests as the real
adapters.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from pydantic import BaseModel, ConfigDict

from oais.domain.access_control import AccessLogEntry, ApiToken, IssuedToken, Role
from oais.domain.actions import ActionOutcome, ActionRecord, Actor, ArgumentValue, Channel, PolicyChange
from oais.domain.audit import (
    AuditMode,
    AuditPolicy,
    Expected,
    Finding,
    FindingKind,
    LocationCoverage,
    ObjectCheck,
    Slice,
    SliceOutcome,
)
from oais.domain.audit_trail import AuditTrail
from oais.domain.bag import BagStructure
from oais.domain.deaccession import DeaccessionRequest, RequestStatus, Tombstone
from oais.domain.evidence import (
    Access,
    Actions,
    AgentUse,
    CodeCount,
    Conversions,
    Copies,
    Cut,
    Deaccessions,
    EventCount,
    EventLogSummary,
    Findings,
    FormatCounts,
    Holdings,
    Rejections,
    ReportAction,
    VersionHistory,
    Window,
)
from oais.domain.fixity import DigestAlgorithm
from oais.domain.formats import FormatHolding, FormatPolicy, Rule, Tool
from oais.domain.issues import Issue
from oais.domain.migration import Candidate, Conversion
from oais.domain.ndsa import CatalogFacts
from oais.domain.packages import (
    Aip,
    AipRecord,
    AipVersion,
    FileEntry,
    FormatFacts,
    Rejection,
    SipEntry,
    SipForm,
)
from oais.domain.premis import Agent, Event, LoggedEvent
from oais.domain.reports import PolicyInForce, Report
from oais.domain.search import AipSummary, SearchPage, SearchQuery
from oais.domain.storage import (
    Copy,
    DeletionPlan,
    DeletionReport,
    Hashed,
    LocationInfo,
    ObjectInfo,
    ReadItem,
    ReadResult,
    Retention,
    Segment,
    WriteItem,
    WriteResult,
)


class Clock(Protocol):
    """Where the time comes from (services never call datetime.now)."""

    def now(self) -> datetime:
        """The current time, time-zone aware (UTC)."""
        ...


# --- Submission information packages ---------------------------------------------------------


class SipSource(Protocol):
    """A SIP opened for reading: a directory, a zip or a tar archive.

    Instances are picklable: a worker process re-opens the underlying file lazily.
    """

    @property
    def form(self) -> SipForm:
        """How the SIP was submitted."""
        ...

    @property
    def location(self) -> str:
        """The SIP's path as given, for messages and records."""
        ...

    @property
    def parallel_reads(self) -> bool:
        """True if several processes may read members at once (False for compressed tar)."""
        ...

    def entries(self) -> Iterator[SipEntry]:
        """Every name in the SIP (files, directories, links, special files), without reading content.

        Raises:
            SipRejected: SIP-E008 if the SIP cannot be listed (corrupt archive, unreadable folder).
        """
        ...

    def open(self, path: str) -> BinaryIO:
        """Open the regular file at SIP path ``path`` for reading (symlinks already resolved by QA).

        Raises:
            NotFound: if there is no such file.
        """
        ...

    def read_bytes(self, path: str, limit: int = 64 << 20) -> bytes:
        """Read a small file whole (bag tag files); refuses files larger than ``limit``.

        Raises:
            NotFound: if there is no such file.
            ValidationFailed: if the file is larger than ``limit``.
        """
        ...

    def close(self) -> None:
        """Release open handles."""
        ...


class SipReader(Protocol):
    """Opens a SIP of any supported form."""

    def open_sip(self, path: Path) -> SipSource:
        """Open ``path`` (directory, .zip, .tar, .tar.gz/.tgz).

        Raises:
            SipRejected: SIP-E008 if the path is missing, unreadable or of an unsupported kind.
        """
        ...


# --- Copying, hashing, identifying -------------------------------------------------------------


class CopyItem(BaseModel):
    """One file to read from a SIP (and to write to ``target`` under a destination, if given)."""

    model_config = ConfigDict(frozen=True)

    source: str  # path in the SIP (a followed symlink names its target here)
    target: str  # path relative to the destination directory, '/'-separated
    size: int


class CopiedFile(BaseModel):
    """What one pass over a file found: its size, its digests and its format."""

    model_config = ConfigDict(frozen=True)

    source: str
    target: str
    size: int
    digests: dict[DigestAlgorithm, str]
    format: FormatFacts | None


class PayloadCopier(Protocol):
    """Reads every file once: copies it, computes every digest and identifies its format in one pass."""

    def prepare(self) -> None:
        """Start the workers ahead of the first copy, so that their start-up overlaps other work."""
        ...

    def close(self) -> None:
        """Stop the workers when no copy is coming soon (a later copy starts them again)."""
        ...

    def copy(
        self,
        source: SipSource,
        items: Sequence[CopyItem],
        destination: Path | None,
        algorithms: Iterable[DigestAlgorithm],
        identify: bool,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[CopiedFile]:
        """Process ``items``, spread over the available cores, in constant memory per file.

        Args:
            source: the SIP to read from.
            items: the files to process.
            destination: directory to write copies under (None: read and hash only).
            algorithms: digests to compute for every file.
            identify: run format identification on the bytes as they pass.
            progress: called with a number of bytes each time some are done.

        Returns:
            One result per item, in the order of ``items``.

        Raises:
            SipRejected: SIP-E011 if a file's size changed while it was read.
            StorageError: if a copy cannot be written.
        """
        ...


class FormatProbe(Protocol):
    """Sees a file's bytes once, in order, and keeps only what identification needs."""

    def feed(self, chunk: bytes | memoryview) -> None:
        """The next bytes of the file."""
        ...

    def finish(self) -> FormatFacts:
        """The format of the file whose bytes were fed."""
        ...


class FormatIdentifier(Protocol):
    """Format identification (PRONOM PUID and MIME type) plus format validation (FITS)."""

    def start(self, name: str, size: int, reopen: Callable[[], BinaryIO] | None = None) -> FormatProbe:
        """Begin identifying the file ``name`` (its SIP path) of ``size`` bytes.

        Args:
            name: the file's path in the SIP (its extension is a fallback clue).
            size: the file's size in bytes.
            reopen: opens the file again, for the rare formats (zip and OLE2 containers) whose
                identification needs bytes beyond the head and tail kept by the probe.
        """
        ...


# --- BagIt -------------------------------------------------------------------------------------


class BagFiles(Protocol):
    """Read access to the files of a bag wherever they are (folder or archive)."""

    def list_files(self) -> Iterable[tuple[str, int]]:
        """Every regular file as ('/'-separated path relative to the bag root, size in bytes)."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """A small file's bytes (tag files).

        Raises:
            NotFound: if there is no such file.
        """
        ...


class BagCodec(Protocol):
    """Reads and writes BagIt 1.0 bags (RFC 8493)."""

    def read_structure(self, files: BagFiles) -> BagStructure:
        """Parse a bag's tag files and list its payload, collecting every structural problem.

        Returns:
            The structure; ``issues`` lists every BAG-* problem found without reading payload.
        """
        ...

    def check_payload(
        self, structure: BagStructure, actual: Mapping[str, Mapping[DigestAlgorithm, str]]
    ) -> list[Issue]:
        """Compare the digests computed over the payload with every manifest.

        Args:
            structure: as returned by :meth:`read_structure`.
            actual: bag-relative payload path -> computed digests (every algorithm the bag declares).
        """
        ...

    def write_tags(
        self,
        bag_dir: Path,
        payload: Iterable[tuple[str, int, Mapping[DigestAlgorithm, str]]],
        info: Sequence[tuple[str, str]],
        fetch: Sequence[tuple[str, int, str]] = (),
    ) -> None:
        """Write bagit.txt, payload manifests, bag-info.txt (with Payload-Oxum), fetch.txt and tag
        manifests.

        Args:
            bag_dir: the bag's root; payload files are already under ``data/`` (except fetched ones).
            payload: (bag-relative path, size, digests) for every payload file.
            info: bag-info.txt fields in order (Payload-Oxum and Bagging-Date are added).
            fetch: (URL, size, bag path) of payload files stored elsewhere; written to fetch.txt.
        """
        ...


# --- PREMIS ------------------------------------------------------------------------------------


class PremisDocument(Protocol):
    """A PREMIS 3 document being written, streaming: objects first, then events, then agents."""

    def add_file(self, entry: FileEntry) -> None:
        """Write one file object."""
        ...

    def add_events(self, events: Iterable[Event]) -> None:
        """Write events (after the last file)."""
        ...

    def add_agents(self, agents: Iterable[Agent]) -> None:
        """Write agents (after the last event) and close the document."""
        ...


class PremisCodec(Protocol):
    """Writes and reads premis.xml."""

    def writer(
        self, path: Path, aip: Aip, version: int, representation_id: str
    ) -> AbstractContextManager[PremisDocument]:
        """Open ``path`` for a streaming PREMIS document about ``aip`` version ``version``."""
        ...

    def read_record(self, path: Path) -> tuple[Aip, list[FileEntry], list[Event], list[Agent]]:
        """Read the AIP, its files, events and agents back from a premis.xml (streaming).

        Raises:
            StorageError: if the document cannot be read or is not one of ours.
        """
        ...


# --- Storage -----------------------------------------------------------------------------------


class Staging(Protocol):
    """A private directory where one AIP version is built; invisible until published."""

    @property
    def path(self) -> Path:
        """The directory to build the bag in."""
        ...


class ScratchSpace(Protocol):
    """Local scratch space where AIP versions are built before they go to storage."""

    def staging(self) -> AbstractContextManager[Staging]:
        """A fresh staging directory, removed on exit (whatever happens)."""
        ...


class ObjectStore(Protocol):
    """One archival storage location's object space: a local directory or an S3 bucket (and prefix).

    Keys are '/'-separated and relative to the location's root. Objects are written once: an
    existing key is never overwritten unless the item says ``replace`` (objects of a version that is
    not complete yet). Nothing is deleted except by :meth:`delete_prefix`, which only the approved
    deaccession workflow calls (``oais.administration.deaccession``; a test checks that nothing
    else does). Every error names the location.
    """

    @property
    def name(self) -> str:
        """The location's name (from the configuration)."""
        ...

    def locate(self, key: str) -> str:
        """Where an object is, for people: a file path for a local location, an s3:// URI otherwise
        (no I/O)."""
        ...

    def describe(self) -> LocationInfo:
        """Ask the location what it is and whether it can lock objects.

        Raises:
            StorageError: one line naming the location if it cannot be reached, the credentials are
                refused or the bucket does not exist.
        """
        ...

    def write(
        self,
        items: Sequence[WriteItem],
        retention: Retention | None = None,
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[WriteResult]:
        """Write objects, several at once, large ones in parts, each part checked by the server.

        The bytes sent are hashed on the way and must have the item's sha256; an object whose bytes
        differ is not kept. An object already present with the same size and sha256 is not written
        again (a rerun after a crash), one present with other content is an error unless the item
        says ``replace``.

        Args:
            items: what to write.
            retention: lock every written object until ``now`` + the retention period, where the
                location supports Object Lock (ignored where it does not: see :meth:`describe`).
            now: the time the retention counts from.
            progress: called with a number of bytes each time some are sent.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            ConflictError: a key holds other content and the item may not replace it.
            FixityMismatch: the bytes read for sending do not have the item's sha256.
            StorageError: the location failed (naming it and the key).
        """
        ...

    def read(
        self, items: Sequence[ReadItem], progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadResult]:
        """Read objects whole, several at once, computing the sha256 of the bytes as they arrive.

        A missing or unreadable object is reported in its result (``problem``), not raised, so that a
        verification can report every file.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            StorageError: the location as a whole failed (unreachable, credentials refused), or a
                destination file cannot be written.
        """
        ...

    def hash_objects(
        self,
        keys: Sequence[str],
        algorithm: DigestAlgorithm,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Hashed]:
        """Read objects whole and compute each one's digest in ``algorithm``, keeping no bytes (audits).

        A local location reads in the calling thread, one object after another (the audit spreads
        batches over processes); a remote one keeps ``concurrency`` requests in flight. A missing or
        unreadable object is reported in its result, not raised.

        Args:
            keys: the objects to hash.
            algorithm: the digest to compute (sha256 for a deep audit, xxh3_128 for a quick one).
            progress: called with a number of bytes in the thread that read them, as they are read;
                it may block, which slows reading down (how read budgets are kept).

        Returns:
            One result per key, in any order, as each completes.

        Raises:
            StorageError: a key is invalid or the location as a whole failed (unreachable,
                credentials refused).
        """
        ...

    def get_bytes(self, key: str, limit: int = 256 << 20) -> bytes:
        """Read a small object whole (tag files, premis.xml, event log segments).

        Raises:
            NotFound: if there is no such object.
            StorageError: if it is larger than ``limit`` or the location failed.
        """
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and metadata, or None if there is no such object."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""
        ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """The keys :meth:`list` gives, without sizes or times (on a file system, no file is
        looked at: a version of 100,000 files is listed in a fraction of the time)."""
        ...

    def children(self, prefix: str) -> Iterator[str]:
        """The distinct next path segments below ``prefix`` (which ends with '/'), in order."""
        ...

    def plan_deletion(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionPlan:
        """Everything stored under ``prefix`` with what protects it; nothing is deleted.

        On a versioned bucket every version of every key is listed (older versions and delete
        markers too: a plain DELETE only adds a marker, it deletes nothing), each with its Object
        Lock retention and legal hold; incomplete multipart uploads are counted.

        Args:
            prefix: a non-empty prefix ending with '/' (an AIP's is ``aips/<id>/``).
            now: the time retention is judged at.
            bypass_governance: whether GOVERNANCE retention may be lifted (it then blocks nothing).
            keep: keys under ``prefix`` left out of the plan, every version of them (a tombstone
                written by an earlier attempt).

        Returns:
            The plan: every version, and which of them block a deletion now.

        Raises:
            StorageError: the prefix is empty or does not end with '/', or the location failed.
        """
        ...

    def delete_prefix(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionReport:
        """Delete everything under ``prefix`` (every version of every key, every delete marker, every
        incomplete upload), but only if nothing under it is blocked: otherwise nothing is deleted
        and the report names what blocks, with its retention. Only the approved deaccession
        workflow calls this.

        Args:
            prefix: a non-empty prefix ending with '/'.
            now: the time retention is judged at.
            bypass_governance: lift GOVERNANCE retention (where the location allows it).
            keep: keys under ``prefix`` left alone, every version of them.

        Returns:
            What was deleted, version by version, or what blocked the deletion.

        Raises:
            StorageError: the prefix is invalid, the location failed, or it refused a deletion the
                plan allowed, or something is left afterwards (the message says what was deleted
                and what is left: a deletion is never partial silently).
        """
        ...


# --- Catalog -----------------------------------------------------------------------------------


class AipRepository(Protocol):
    """AIPs, versions, files, events and agents in the catalog."""

    def add(self, record: AipRecord) -> None:
        """Add an AIP version (and the AIP itself on version 1) with its files, events and agents.

        Raises:
            CatalogError: the record is inconsistent, the version or an identifier is taken, or the
                database fails; the unit of work is then rolled back.
        """
        ...

    def get(self, aip_id: str, version: int | None = None) -> AipRecord | None:
        """The record of one version (the latest if ``version`` is None), or None."""
        ...

    def find_by_fingerprint(self, fingerprint: str) -> AipVersion | None:
        """The oldest version whose payload fingerprint is ``fingerprint``, if any."""
        ...

    def list(self) -> builtins.list[tuple[Aip, int]]:
        """Every AIP with its latest version number, oldest first."""
        ...

    def add_rejection(self, rejection: Rejection) -> None:
        """Record a refused SIP.

        Raises:
            CatalogError: the identifier is taken or the database fails; the unit of work is then
                rolled back.
        """
        ...

    def rejections(self) -> builtins.list[Rejection]:
        """Every refused SIP, oldest first."""
        ...

    def versions(self) -> Iterator[AipVersion]:
        """Every AIP version, by AIP (oldest AIP first), then by version."""
        ...

    def add_events(self, aip_id: str, version: int, events: Sequence[Event], agents: Sequence[Agent]) -> None:
        """Record events that happened to a stored version after its ingest (replication, fixity
        checks…), with the agents they name (agents already known are kept as they are).

        Raises:
            CatalogError: no such version, an event identifier is taken, or the database fails.
        """
        ...

    def put_copy(self, aip_id: str, version: int, copy: Copy) -> None:
        """Record a copy of a version at a location, replacing what was known about that location.

        Raises:
            CatalogError: no such version, or the database fails.
        """
        ...

    def copies(self, location: str | None = None) -> builtins.list[tuple[str, int, Copy]]:
        """(AIP id, version, copy) of every copy, or of every copy at ``location``, by AIP and version."""
        ...

    def add_segment(self, segment: Segment) -> None:
        """Remember an event log segment written to a location.

        Raises:
            CatalogError: that location already has a segment with this sequence number.
        """
        ...

    def segments(self, location: str) -> builtins.list[Segment]:
        """The event log segments written to ``location``, by sequence number."""
        ...

    def is_empty(self) -> bool:
        """True if the catalog holds no AIP, rejection, event or segment (a rebuild target)."""
        ...


class UnitOfWork(Protocol):
    """A catalog transaction: nothing persists unless :meth:`commit` is called."""

    aips: AipRepository

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None:
        """Persist everything done in this unit of work.

        Raises:
            CatalogError: if the database refuses it.
        """
        ...

    def rollback(self) -> None:
        """Discard everything not committed."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class DeaccessionCatalog(Protocol):
    """Deaccession requests and tombstones in the catalog (see :mod:`oais.domain.deaccession`).

    The rules are the domain's; this port keeps the state, refuses moves that another writer made
    stale (compare and set on the status), and applies the catalog side of an execution in one
    transaction.
    """

    def add(self, request: DeaccessionRequest) -> None:
        """Record a new request.

        Raises:
            ConflictError: the AIP already has an open request (one made at the same moment won).
            CatalogError: no such AIP, or the database failed.
        """
        ...

    def get(self, request_id: str) -> DeaccessionRequest | None:
        """One request, or None.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def list(
        self, aip_id: str | None = None, status: RequestStatus | None = None
    ) -> builtins.list[DeaccessionRequest]:
        """Requests (of one AIP, of one status), oldest first.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def update(self, request: DeaccessionRequest, expected: RequestStatus) -> None:
        """Store a request's new state if it still has the status ``expected`` (two administrators
        deciding at once cannot both win).

        Raises:
            ConflictError: its status is no longer ``expected`` (naming what it is now).
            CatalogError: the database failed.
        """
        ...

    def begin(self, request: DeaccessionRequest) -> None:
        """Record that an approved request's execution begins (``started``, ``planned``) and forget
        the AIP's copies, audit slices and open findings in the same transaction, so that neither
        audits nor replication touch it while its objects are deleted.

        Raises:
            ConflictError: the request is no longer approved.
            CatalogError: the database failed.
        """
        ...

    def finish(
        self,
        request: DeaccessionRequest,
        tombstone: Tombstone,
        event: LoggedEvent,
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> None:
        """Record an executed request in one transaction: the request, its tombstone, the deletion
        event with its agents, the event log segments written, and no copy of the AIP left.

        Raises:
            ConflictError: the request is no longer approved, or the AIP has a tombstone already.
            CatalogError: the database failed; nothing is recorded.
        """
        ...

    def tombstone(self, aip_id: str) -> Tombstone | None:
        """The tombstone of a deaccessioned AIP, or None.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def withdrawn(self) -> dict[str, DeaccessionRequest]:
        """AIP id -> request, for every AIP no longer kept: deaccessioned, or being deaccessioned.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def restore(self, tombstone: Tombstone) -> None:
        """Put a tombstone read from storage back into an emptied catalog (``oais catalog
        rebuild``): the AIP and its versions as history (no files, no copies), the executed request
        and the tombstone.

        Raises:
            ConflictError: the catalog holds the AIP already (with its files) or another tombstone.
            CatalogError: the database failed.
        """
        ...


# --- Fixity audits -----------------------------------------------------------------------------


class AuditLedger(Protocol):
    """The catalog's record of fixity audits: slices with their claims and last verification,
    findings, and location sweeps (see :mod:`oais.domain.audit`)."""

    def make_slices(self) -> int:
        """Cut every copy without slices into slices; returns how many were made."""
        ...

    def claim(
        self,
        *,
        location: str,
        holder: str,
        now: datetime,
        ttl: timedelta,
        limit: int,
        deep_before: datetime | None,
        quick_before: datetime | None,
        aip_id: str | None = None,
    ) -> builtins.list[tuple[Slice, AuditMode]]:
        """Claim up to ``limit`` due slices at ``location``, oldest verification first (deep first).

        A None cut-off claims nothing for that mode; claims expire at ``now + ttl``.
        """
        ...

    def expected(self, slice_id: int, mode: AuditMode) -> builtins.list[Expected]:
        """What a worker compares each file of a slice with (in the digest ``mode`` checks), in the
        order of :meth:`objects`, as plain tuples."""
        ...

    def objects(self, slice_id: int, mode: AuditMode) -> builtins.list[ObjectCheck]:
        """The files a slice covers, each with the digest ``mode`` checks and what a finding about
        it names (its path, file and digest of record)."""
        ...

    def version_paths(self, aip_id: str, version: int) -> str:
        """The bag path of every file the catalog lists for a version (reused ones included), as
        one JSON array: it is read by a worker, and one string crosses to it with no work per path."""
        ...

    def extend(self, slice_ids: Sequence[int], holder: str, until: datetime) -> None:
        """Push back the expiry of claims still held by ``holder``."""
        ...

    def release(self, slice_ids: Sequence[int], holder: str) -> None:
        """Give back claims not worked on."""
        ...

    def record(
        self,
        *,
        holder: str,
        outcomes: Sequence[SliceOutcome],
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> builtins.set[int]:
        """Record audited slices in one transaction; returns those recorded (a slice whose claim was
        lost is not).

        Raises:
            CatalogError: the database failed; nothing is recorded.
        """
        ...

    def record_repair(
        self,
        *,
        location: str,
        key: str,
        source: str,
        when: datetime,
        event: LoggedEvent,
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> None:
        """Record a repaired object and its event.

        Raises:
            CatalogError: the database failed; nothing is recorded.
        """
        ...

    def mark_unrecoverable(self, location: str, key: str, unrecoverable: bool) -> None:
        """Say whether an open finding has no good copy left anywhere."""
        ...

    def findings(
        self,
        *,
        open_only: bool = True,
        location: str | None = None,
        version: tuple[str, int] | None = None,
        kind: FindingKind | None = None,
    ) -> builtins.list[Finding]:
        """Findings, unrecoverable first; only those of ``location``, of one AIP ``version`` (AIP id,
        version) and of one ``kind`` if given."""
        ...

    def claim_sweep(
        self, location: str, holder: str, now: datetime, due_before: datetime | None, ttl: timedelta
    ) -> bool:
        """Claim the full listing of ``location`` if due (None: whenever nobody else sweeps it)."""
        ...

    def release_sweep(self, location: str, holder: str) -> None:
        """Give back a sweep that failed (it stays due)."""
        ...

    def finish_sweep(self, location: str, holder: str, when: datetime, findings: Sequence[Finding]) -> None:
        """Record a sweep and its findings."""
        ...

    def coverage(
        self, policy: AuditPolicy, now: datetime, locations: Sequence[str]
    ) -> builtins.list[LocationCoverage]:
        """Per location: verified within the cycle, oldest verification, backlog, needed rate."""
        ...

    def file_checks(
        self, aip_id: str, version: int
    ) -> builtins.list[tuple[str, str, datetime | None, str | None, str]]:
        """Each file copy's last verification: (location, bag path, time, mode, outcome)."""
        ...


class FormatCatalog(Protocol):
    """The catalog's view of holdings by format."""

    def holdings(self) -> builtins.list[FormatHolding]:
        """Files, bytes and AIPs per format PUID, each stored file counted once."""
        ...

    def candidates(self, puids: Iterable[str]) -> Iterator[Candidate]:
        """The files in formats ``puids`` of every AIP's newest version that no file of that
        version derives from yet, by AIP id and path (one query, streamed).

        Raises:
            CatalogError: the database failed.
        """
        ...

    def unmigrated(self, puids: Iterable[str]) -> dict[str, tuple[int, int, int]]:
        """(files, bytes, AIPs) of what :meth:`candidates` would give, per PUID.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def existing_paths(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Those of ``keys`` (AIP id, version, file path) that name a file the catalog holds.

        Raises:
            CatalogError: the database failed.
        """
        ...


class FormatConverter(Protocol):
    """Runs a format policy rule on one file and says what came out."""

    def missing_tools(self, policy: FormatPolicy, tools: Iterable[str]) -> builtins.list[str]:
        """One line per tool of ``tools`` (names in ``policy``) not installed here, naming the
        Debian package that provides it (empty when all are there)."""
        ...

    def convert(
        self, tool_name: str, tool: Tool, rule: Rule, source: Path, source_puid: str, output: Path
    ) -> Conversion:
        """Run ``rule`` on ``source`` (identified as ``source_puid``), writing ``output``; identify
        the output's format and compare the significant properties of the two files.

        Args:
            tool_name: the policy's name for the tool (``pillow``).
            tool: the tool as the policy describes it.
            rule: the rule to run (its arguments, target, timeout, whether it is lossless).
            source: the file to convert (a private copy: the tool may not change the original).
            source_puid: the source's format as the catalog records it.
            output: where the tool writes its output; its directory exists and is private.

        Returns:
            The output's format and the property comparison (the caller decides whether to keep it).

        Raises:
            ConversionFailed: the tool failed, timed out or wrote nothing, or a file could not be
                read for the comparison; the message names the file and the reason.
        """
        ...


class DipSink(Protocol):
    """Where a DIP is written: a folder, a ``.zip`` or ``.tar`` file, or an S3 prefix.

    Nothing appears at the destination until :meth:`commit` (a folder or file is renamed into place;
    on S3, ``bagit.txt`` is written last and :meth:`abort` removes what was written).
    """

    @property
    def destination(self) -> str:
        """Where the DIP goes, as the user named it."""
        ...

    def check(self) -> None:
        """Make sure the destination can be written, before any work is done.

        Raises:
            ConflictError: the destination already exists.
            StorageError: it cannot be written (naming it and why).
        """
        ...

    def add(
        self, path: str, source: Path, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        """Copy a local file into the DIP at ``path`` (relative to the bag's root), streaming.

        Returns:
            The digests in ``algorithms`` of the bytes written (computed on the way, one read).

        Raises:
            StorageError: the destination could not be written.
        """
        ...

    def add_bytes(
        self, path: str, data: bytes, algorithms: Sequence[DigestAlgorithm]
    ) -> dict[DigestAlgorithm, str]:
        """Write a small file (a tag file, metadata) into the DIP; returns its digests in ``algorithms``."""
        ...

    def place(self, path: str) -> Path | None:
        """A local file the caller may write the DIP's file at ``path`` to directly (its folder
        exists), then :meth:`adopt` it; None when the sink must be given a copy (:meth:`add`).

        Raises:
            StorageError: ``path`` is not a path inside a bag.
        """
        ...

    def adopt(self, path: str, algorithms: Sequence[DigestAlgorithm]) -> dict[DigestAlgorithm, str]:
        """Take the file the caller wrote at :meth:`place` into the DIP; returns its digests in
        ``algorithms`` (one read).

        Raises:
            StorageError: the file cannot be read or synced.
        """
        ...

    def commit(self) -> None:
        """Make the DIP visible at its destination, whole.

        Raises:
            ConflictError: the destination appeared meanwhile (nothing is replaced).
            StorageError: it could not be published.
        """
        ...

    def abort(self) -> None:
        """Remove everything written so far; the destination is as it was."""
        ...


class GranuleTableWriter(Protocol):
    """Reads what the EPN-TAP granule table needs from files and writes the table."""

    def header(self, path: Path, puid: str | None) -> dict[str, str | int | float | bool]:
        """The header keywords of a FITS file that the table uses (empty for other formats).

        Raises:
            ToolError: a FITS file whose header cannot be read (naming it).
        """
        ...

    def write(self, rows: Sequence[Mapping[str, object]], csv: Path, votable: Path) -> None:
        """Write the rows (EPN-TAP 2.0 columns, see :mod:`oais.domain.epntap`) as CSV and VOTable."""
        ...


# --- HTTP API: tokens, access log, catalog search ----------------------------------------------


class TokenStore(Protocol):
    """The API tokens (see :mod:`oais.domain.access_control`): only their sha256 is kept."""

    def add(self, name: str, role: Role, producer: str | None = None) -> IssuedToken:
        """Make a new random token.

        Args:
            name: who holds it (a person or a portal); unique, also among revoked tokens.
            role: what it may do.
            producer: the producer name a producer token is bound to (producer tokens only).

        Returns:
            The record and the token itself, which is shown this once and never stored.

        Raises:
            ConfigError: the name, role and producer do not make a valid token.
            ConflictError: a token (revoked or not) already has this name.
            CatalogError: the database failed.
        """
        ...

    def authenticate(self, secret: str) -> ApiToken | None:
        """The unrevoked token ``secret`` is, or None (unknown, malformed or revoked).

        Raises:
            CatalogError: the database failed.
        """
        ...

    def list(self) -> builtins.list[ApiToken]:
        """Every token, revoked ones included, oldest first.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def revoke(self, name: str) -> ApiToken:
        """Revoke the token ``name`` (at once: its next request is refused).

        Returns:
            The token as revoked (revoking a revoked token keeps its first revocation time).

        Raises:
            NotFound: no token has this name.
            CatalogError: the database failed.
        """
        ...


class AccessLog(Protocol):
    """Where every HTTP request is recorded (who, what, status), refused ones included."""

    def record(self, entry: AccessLogEntry) -> None:
        """Append one request.

        Raises:
            CatalogError: the database failed.
        """
        ...


class AipSearch(Protocol):
    """The catalog searched by title, producer, ingest date, format and identifier."""

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the AIPs matching every criterion of ``query``, oldest first.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def summary(self, aip_id: str) -> AipSummary | None:
        """One AIP as search results show it (a cheap read: no files), or None.

        Raises:
            CatalogError: the database failed.
        """
        ...


class ActionLog(Protocol):
    """The action log (who did every state-changing action) and the policy register beside it."""

    def start(
        self,
        actor: Actor,
        channel: Channel,
        action: str,
        target: str | None,
        arguments: Mapping[str, ArgumentValue],
    ) -> int:
        """Record that ``actor`` starts ``action`` (committed at once, so a crash leaves a trace).

        Args:
            actor: who does it.
            channel: command line, HTTP API or daemon.
            action: what, e.g. ``"ingest"`` or ``"deaccession approve"``.
            target: what it is done to (an AIP id, a request id...), if known yet.
            arguments: the options given, as JSON-able values (never a secret).

        Returns:
            The action's id, for :meth:`finish`.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def finish(
        self, action_id: int, outcome: ActionOutcome, detail: str = "", target: str | None = None
    ) -> None:
        """Record how an action ended (and its target, if it was learnt on the way, e.g. an AIP id).

        Raises:
            CatalogError: the database failed.
        """
        ...

    def actions(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[ActionRecord]:
        """The actions started in ``[start, end)`` (None: open-ended), oldest first.

        Raises:
            CatalogError: the database failed.
        """
        ...

    def note_policies(
        self, policies: Sequence[PolicyInForce], actor: Actor, action_id: int | None
    ) -> builtins.list[PolicyChange]:
        """Register the policy texts an action acts under; those never seen before are changes.

        Returns:
            The policy texts seen for the first time (empty when nothing changed).

        Raises:
            CatalogError: the database failed.
        """
        ...

    def policy_changes(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[PolicyChange]:
        """Every policy text first seen in ``[start, end)``, oldest first, each with the version before it.

        Raises:
            CatalogError: the database failed.
        """
        ...


# --- Evidence reports --------------------------------------------------------------------------


class ReportRenderer(Protocol):
    """Turns an evidence report into a document for people."""

    def render(self, report: Report, json_digest: str) -> bytes:
        """The report as one self-contained HTML document (UTF-8).

        Styles and plots are inline: the document runs no script, fetches nothing from the network and
        prints on A4. It states ``json_digest`` so that a reader can check the ``report.json`` it came
        with.

        Args:
            report: the report.
            json_digest: the sha256 (hex) of the report's JSON,
                ``digest(canonical_json(report))`` from :mod:`oais.domain.reports`.

        Returns:
            The document's bytes; the same report and digest always give the same bytes.

        Raises:
            ValueError: ``json_digest`` is not a sha256 in hex, two sections share a key (their
                anchors would clash), or a plot's series does not have one value per x.
        """
        ...


class EvidenceCatalog(Protocol):
    """The catalog's answers to an evidence report (:mod:`oais.domain.evidence`): every figure counted
    by the database (grouped counts and sums), never one row per event or file read into Python;
    lists of rows are cut at ``limit`` and say how many rows there were.

    Every method that takes a :class:`~oais.domain.evidence.Window` counts what happened in it
    (``start <= time < end``, UTC) and buckets its time series by the window's granularity.

    Raises (every method):
        CatalogError: the database failed.
    """

    def events(self, window: Window) -> builtins.list[EventCount]:
        """PREMIS events by bucket, type and outcome."""
        ...

    def agents(self, window: Window, limit: int) -> Cut[AgentUse]:
        """The agents the window's events name, the most used first, with the events naming each."""
        ...

    def versions(self, window: Window, limit: int) -> VersionHistory:
        """Versions made in the window; versions per AIP at its end; the AIPs with most versions."""
        ...

    def event_logs(self) -> builtins.list[EventLogSummary]:
        """Per location, the event log segments and events the catalog records."""
        ...

    def holdings(self, window: Window) -> Holdings:
        """Stored files and bytes before the window, added and deaccessioned per bucket, held at its
        end (each stored file once, whatever versions reuse it)."""
        ...

    def formats(self, window: Window) -> FormatCounts:
        """Stored files by format PUID: those received from producers (not derived by a migration
        or normalisation) in versions made in the window, and every file held at its end."""
        ...

    def format_issues(self, window: Window) -> builtins.list[CodeCount]:
        """Issue codes of format identification and validation (``FMT-*``) of the files received
        in the window, with the files that have each."""
        ...

    def rejections(self, window: Window, limit: int) -> Rejections:
        """SIPs rejected in the window: by issue code, by producer, the latest."""
        ...

    def conversions(self, window: Window, limit: int) -> Conversions:
        """Migration and normalisation events and the derived files of the window, with the
        significant properties their outcome details compare."""
        ...

    def actions(self, window: Window, limit: int, exclude: int | None = None) -> Actions:
        """The action log: actions started in the window by action, channel and outcome, and those
        that failed, were refused or did not finish (``exclude``: an action id left out, e.g. the
        one making the report)."""
        ...

    def copies(self, required: Sequence[str], limit: int) -> Copies:
        """Copies of every AIP version held now against the ``required`` locations, and per
        location what it holds."""
        ...

    def findings(self, window: Window, limit: int) -> Findings:
        """Audit findings detected and resolved in the window, and those still open."""
        ...

    def deaccessions(self, window: Window, limit: int) -> Deaccessions:
        """Deaccession requests made, decided or carried out in the window, tombstones, and the
        window's deletion events that an executed request accounts for."""
        ...

    def access(self, window: Window, limit: int) -> Access:
        """The access log's refusals (401, 403) by bucket and path, API tokens made and revoked,
        tokens valid at the window's end by role, and the token actions of the action log."""
        ...

    def report_actions(self, digest: str) -> builtins.list[ReportAction]:
        """The actions of the action log (``report ...``) that recorded a report with this sha256."""
        ...


class AuditEvidence(Protocol):
    """The catalog's figures for the NDSA self-assessment and the audit report: SQL aggregates and
    bounded selections by period, never one row per event or file read into Python.

    Raises (every method):
        CatalogError: the database failed.
    """

    def catalog_facts(
        self,
        locations: Sequence[str],
        now: datetime,
        windows: Sequence[tuple[datetime, datetime]],
        review_period: timedelta,
    ) -> CatalogFacts:
        """What the NDSA self-assessment counts in the catalog.

        Args:
            locations: the configured locations (AIP versions are grouped by which of them hold a
                copy; any other location counts as one unnamed).
            now: the time of the assessment.
            windows: ``[start, end)`` intervals in which to count fixity check events.
            review_period: the audit reports made in the last period and the one before are counted.

        Returns:
            The figures.
        """
        ...

    def audit_trail(
        self, start: datetime, end: datetime, limit: int, exclude_action: int | None = None
    ) -> AuditTrail:
        """The fixity failures, repairs and deletions of ``[start, end)``, with who and when.

        Args:
            start: the first moment of the period.
            end: the first moment after it.
            limit: the most items of each list (their totals count every one).
            exclude_action: an action left out of the counts (the one making the report).

        Returns:
            Counts of the period's events and actions, and the lists.
        """
        ...
