"""Archival storage: writes AIP versions to every location the storage policy names, verifies every
copy against the digests of record, replicates, re-verifies on demand and exports.

Storage is not transactional, so the order is always: write the objects, read them back and compare
their sha256 with the digests of record, write ``bagit.txt`` last (a version without it is
incomplete, never an AIP), and only then commit the catalog. Objects are never overwritten, except
those of a version that is not complete yet (a rerun after a crash), and never deleted here: only an
approved deaccession deletes (``oais.administration.deaccession``). An AIP deaccessioned, or whose
approved deletion is under way, is *withdrawn*: this service neither verifies, replicates, exports
nor hands out its files, and says why (:class:`~oais.domain.errors.AipDeaccessioned`).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from oais.archival_storage import event_log
from oais.archival_storage.layout import (
    BAGIT,
    DESCRIPTIVE,
    FETCH,
    PREMIS,
    TAG_MANIFEST,
    Fetched,
    aip_prefix,
    drop_fetch_from_tag_manifest,
    parse_fetch_url,
    version_prefix,
)
from oais.domain.deaccession import DeaccessionRequest, Tombstone, withdrawn_message
from oais.domain.descriptive import DescriptiveMetadata, metadata_from_json
from oais.domain.errors import (
    AipDeaccessioned,
    AipNotFound,
    ConfigError,
    ConflictError,
    NotFound,
    OaisError,
    StorageError,
)
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.packages import AipRecord, FileEntry
from oais.domain.ports import (
    BagCodec,
    Clock,
    DeaccessionCatalog,
    ObjectStore,
    ScratchSpace,
    UnitOfWorkFactory,
)
from oais.domain.premis import Agent, AgentLink, AgentRole, Event, EventType, LoggedEvent, Outcome, new_event
from oais.domain.storage import (
    Copy,
    LocationInfo,
    ReadItem,
    Segment,
    StoragePolicy,
    WriteItem,
)

SHA256 = DigestAlgorithm.SHA256
XXH3 = DigestAlgorithm.XXH3_128
#: A descriptive.json is a few kilobytes; one this large is not one oais wrote.
_DESCRIPTIVE_LIMIT = 16 << 20
Progress = Callable[[int], None]


class StoredFile(BaseModel):
    """One object a version's copy must hold, with the digest it must have."""

    bag_path: str
    key: str
    size: int | None  # None when only the digest is known (tag files listed by the tag manifest)
    sha256: str | None  # None for the tag manifest itself (nothing records its digest)


class FileCheck(BaseModel):
    """The verdict on one file of one copy."""

    path: str  # its path in the bag
    key: str  # the object read
    status: str  # "ok", "missing", "altered", "unreadable", "unexpected"
    expected: str | None = None
    actual: str | None = None


class CopyCheck(BaseModel):
    """A full re-read of one version's copy at one location."""

    aip_id: str
    version: int
    location: str
    checked: datetime
    files: list[FileCheck]
    problem: str | None = None  # the copy could not be checked at all (location unreachable…)
    objects: int = 0  # objects under the version's prefix
    bytes: int = 0  # their total size

    @property
    def ok(self) -> bool:
        """True if every file was read and had its digest of record."""
        return self.problem is None and all(f.status == "ok" for f in self.files)

    @property
    def bad(self) -> list[FileCheck]:
        """The files that are not ok."""
        return [f for f in self.files if f.status != "ok"]


class LocationStatus(BaseModel):
    """What the catalog knows a location holds, and what the location says of itself."""

    name: str
    required: bool  # the storage policy names it
    info: LocationInfo | None
    problem: str | None  # why the location could not be asked
    aips: int
    versions: int
    objects: int
    bytes: int
    lacking: list[tuple[str, int]]  # (AIP id, version) without a copy here, if required


class ReplicationResult(BaseModel):
    """One version copied to one location (or the reason it could not be)."""

    aip_id: str
    version: int
    source: str
    target: str
    objects: int
    bytes: int
    problem: str | None = None


class ExportResult(BaseModel):
    """A version written out as one complete bag."""

    aip_id: str
    version: int
    location: str
    path: str
    files: int
    bytes: int


#: Objects handed to a location at a time: large enough to keep every connection busy, small enough
#: that a 100,000-file AIP's items never sit in memory all at once.
WRITE_BATCH = 5_000


@dataclass
class _Written:
    objects: int = 0
    bytes: int = 0

    def __iadd__(self, other: _Written) -> _Written:
        self.objects += other.objects
        self.bytes += other.bytes
        return self


class ArchivalStorage:
    """Copies of AIP versions at every location (see the module docstring for the order of steps)."""

    def __init__(
        self,
        *,
        locations: Mapping[str, ObjectStore],
        policy: StoragePolicy,
        catalog: UnitOfWorkFactory,
        bag_codec: BagCodec,
        clock: Clock,
        software: Agent,
        scratch: ScratchSpace,
        deaccessions: DeaccessionCatalog | None = None,
    ) -> None:
        """Wire the service (see ``oais.bootstrap``).

        Args:
            locations: every configured location by name.
            policy: the storage policy; each location it names must be configured.
            catalog: the catalog's unit of work.
            bag_codec: reads a stored version's tag files.
            clock: where the time comes from.
            software: this software, the agent of every storage event.
            scratch: local scratch space for replication (each use removed when done).
            deaccessions: the catalog's deaccession requests and tombstones (None: nothing was
                ever deaccessioned, as in tests of storage alone).

        Raises:
            ConfigError: the policy names a location that is not configured.
        """
        missing = [name for name in policy.locations if name not in locations]
        if missing:
            raise ConfigError(
                f"storage policy {policy.reference} names location(s) {', '.join(missing)}, which the "
                f"configuration does not define (configured: {', '.join(sorted(locations)) or 'none'})"
            )
        self._locations = dict(locations)
        self._policy = policy
        self._catalog = catalog
        self._codec = bag_codec
        self._clock = clock
        self._software = software
        self._scratch = scratch
        self._deaccessions = deaccessions

    # -- locations ------------------------------------------------------------------------------

    @property
    def policy(self) -> StoragePolicy:
        """The storage policy in force."""
        return self._policy

    @property
    def required(self) -> tuple[str, ...]:
        """The locations that must hold a copy of every version, in policy order."""
        return self._policy.locations

    def location(self, name: str) -> ObjectStore:
        """The configured location ``name``.

        Raises:
            NotFound: no location of that name is configured.
        """
        try:
            return self._locations[name]
        except KeyError:
            raise NotFound(
                f"no location named '{name}' (configured: {', '.join(sorted(self._locations))})"
            ) from None

    def names(self) -> list[str]:
        """Every configured location: the required ones in policy order, then the others."""
        return [*self.required, *sorted(n for n in self._locations if n not in self.required)]

    @property
    def scratch(self) -> ScratchSpace:
        """Local scratch space (replication, repair)."""
        return self._scratch

    # -- withdrawn AIPs (deaccessioned, or being deaccessioned) -------------------------------------

    def withdrawn(self) -> dict[str, DeaccessionRequest]:
        """AIP id -> the approved request, for every AIP deaccessioned or whose deletion began."""
        return self._deaccessions.withdrawn() if self._deaccessions is not None else {}

    def withdrawal(self, aip_id: str) -> tuple[DeaccessionRequest, Tombstone | None] | None:
        """The request that withdrew ``aip_id`` and its tombstone (None until it is carried out), or
        None if the AIP is kept."""
        request = self.withdrawn().get(aip_id)
        if request is None or self._deaccessions is None:
            return None
        return request, self._deaccessions.tombstone(aip_id)

    def require_kept(self, aip_id: str) -> None:
        """Refuse to work on an AIP that was deaccessioned (or whose deletion began).

        Raises:
            AipDeaccessioned: naming when, the request and the reason.
        """
        found = self.withdrawal(aip_id)
        if found is not None:
            raise AipDeaccessioned(withdrawn_message(aip_id, *found))

    def copies_at(self, name: str) -> list[tuple[str, int, Copy]]:
        """(AIP id, version, copy) of every copy the catalog knows at location ``name``."""
        with self._catalog() as uow:
            return uow.aips.copies(name)

    def locate(self, aip_id: str, version: int) -> str:
        """Where the version's bag is at the first required location, for people."""
        return self.location(self.required[0]).locate(version_prefix(aip_id, version).rstrip("/"))

    # -- writing a new version ------------------------------------------------------------------

    def store_version(
        self,
        bag_dir: Path,
        aip_id: str,
        version: int,
        files: Sequence[FileEntry],
        progress: Progress | None = None,
        reused: Sequence[Fetched] = (),
    ) -> list[Copy]:
        """Write a staged bag to every required location and verify every copy.

        Payload files that the version reuses from an earlier one (listed in its fetch.txt by the
        one who built it, and given here as ``reused``) are not written again; they must already be
        stored at each location.

        Args:
            bag_dir: the staged bag (its tag files written).
            aip_id: the AIP.
            version: the version number.
            files: the payload files with their digests of record (as in the catalog).
            progress: told how many bytes were written and read back.
            reused: the payload files kept under an earlier version (none for version 1).

        Returns:
            One verified copy per required location, in policy order.

        Raises:
            FixityMismatch: a copy read back differs from the digests of record (naming the location).
            ConflictError: a location already holds this version with other content.
            StorageError: a location failed (naming it).
            AipDeaccessioned: the AIP was deaccessioned (its id is not reused).
        """
        self.require_kept(aip_id)
        return [
            self._store_copy(self.location(name), bag_dir, aip_id, version, files, reused, progress)
            for name in self.required
        ]

    def _staged_items(
        self,
        bag_dir: Path,
        aip_id: str,
        version: int,
        files: Sequence[FileEntry],
        fetched: Sequence[Fetched],
        replace: bool,
    ) -> Iterator[WriteItem]:
        """One write item per file of the staged bag except bagit.txt, made as the bag is walked (a
        100,000-file AIP never has all its items in memory at once)."""
        prefix = version_prefix(aip_id, version)
        payload = {f.bag_path: f for f in files}
        reused = {f.bag_path for f in fetched}
        for relative, path in _walk(bag_dir):
            if relative == BAGIT:
                continue
            entry = payload.pop(relative, None)
            if relative in reused:
                raise StorageError(f"{path}: listed in {FETCH}, so it must not be in the staged bag too")
            fast = None
            if entry is not None:
                sha, size, fast = entry.digests[SHA256], entry.size, entry.digests.get(XXH3)
            else:
                sha, size = _sha256_file(path), path.stat().st_size
            yield WriteItem(
                key=prefix + relative, size=size, sha256=sha, xxh3_128=fast, path=str(path), replace=replace
            )
        absent = set(payload) - reused
        if absent:
            raise StorageError(f"{bag_dir}: payload missing from the staged bag: {sorted(absent)[:5]}")

    def _store_copy(
        self,
        store: ObjectStore,
        bag_dir: Path,
        aip_id: str,
        version: int,
        files: Sequence[FileEntry],
        fetched: Sequence[Fetched],
        progress: Progress | None,
    ) -> Copy:
        now = self._clock.now()
        prefix = version_prefix(aip_id, version)
        self._require_reused(store, aip_id, version, [(f.key, f.size) for f in fetched])
        marker = bag_dir / BAGIT
        if not marker.is_file():
            raise StorageError(f"{marker}: missing: the staged bag of AIP {aip_id} v{version} is not a bag")
        # Objects of an incomplete version (an interrupted run) may be replaced; those of a complete
        # version never: they must be the same bytes.
        replace = store.head(prefix + BAGIT) is None
        written = _Written()
        items = self._staged_items(bag_dir, aip_id, version, files, fetched, replace)
        while batch := list(itertools.islice(items, WRITE_BATCH)):
            written += self._write_verified(store, batch, progress, now)
        last = WriteItem(
            key=prefix + BAGIT,
            size=marker.stat().st_size,
            sha256=_sha256_file(marker),
            path=str(marker),
            replace=replace,
        )
        written += self._write_verified(store, [last], progress, now)
        return Copy(
            location=store.name,
            stored=now,
            verified=self._clock.now(),
            objects=written.objects,
            bytes=written.bytes,
        )

    def _write_verified(
        self, store: ObjectStore, items: Sequence[WriteItem], progress: Progress | None, now: datetime
    ) -> _Written:
        """Write ``items`` (locked as the policy says), then read back every object whose stored bytes
        the store did not hash itself, and compare its sha256 with the digest of record."""
        retention = self._policy.retention
        unproven = {
            r.key
            for r in store.write(items, retention=retention, now=now, progress=progress)
            if not r.verified
        }
        expected = {i.key: i for i in items if i.key in unproven}
        for result in store.read([ReadItem(key=k) for k in expected], progress=progress):
            item = expected[result.key]
            if result.problem is not None:
                raise StorageError(
                    f"location '{store.name}': {result.key} cannot be read back: {result.problem}"
                )
            if result.sha256 != item.sha256 or result.size != item.size:
                raise FixityMismatch(
                    f"location '{store.name}': {result.key}", SHA256, item.sha256, result.sha256 or "(none)"
                )
        return _Written(objects=len(items), bytes=sum(i.size for i in items))

    # -- complete versions at locations ---------------------------------------------------------

    def holders(self, aip_id: str, version: int) -> list[str]:
        """The required locations that hold the version complete (with its bagit.txt)."""
        key = version_prefix(aip_id, version) + BAGIT
        return [n for n in self.required if self.location(n).head(key) is not None]

    def confirm_copy(
        self,
        name: str,
        aip_id: str,
        version: int,
        files: Sequence[FileEntry],
        progress: Progress | None = None,
    ) -> Copy:
        """Verify in full a complete copy found at location ``name`` and describe it as a copy.

        Raises:
            FixityMismatch: a file of the copy is not as recorded.
            StorageError: the copy cannot be read.
        """
        check = self.check_copy(self.location(name), aip_id, version, files, progress)
        if check.problem is not None:
            raise StorageError(check.problem)
        if not check.ok:
            raise StorageError(
                f"location '{name}': the copy of AIP {aip_id} version {version} is not as recorded: "
                + "; ".join(
                    f"{f.key}: {f.status} (expected {f.expected}, found {f.actual})" for f in check.bad[:5]
                )
            )
        return Copy(
            location=name,
            stored=check.checked,
            verified=self._clock.now(),
            objects=check.objects,
            bytes=check.bytes,
        )

    def fetch_premis(self, aip_id: str, version: int, location: str, dest: Path) -> None:
        """Copy a stored version's premis.xml to ``dest`` (recovery, rebuild)."""
        key = version_prefix(aip_id, version) + PREMIS
        for r in self.location(location).read([ReadItem(key=key, dest=str(dest))]):
            if r.problem is not None:
                raise StorageError(f"location '{location}': {key}: {r.problem}")

    def fetch_descriptive(self, aip_id: str, version: int, location: str) -> DescriptiveMetadata | None:
        """The descriptive metadata a stored version carries (its ``descriptive.json``), for recovery
        and rebuild.

        Args:
            aip_id: the AIP.
            version: the version.
            location: the location to read it from.

        Returns:
            The metadata, or None when the version has none (an AIP ingested with a title only).

        Raises:
            StorageError: it cannot be read, or is not valid descriptive metadata (naming the key and
                every problem).
        """
        store = self.location(location)
        key = version_prefix(aip_id, version) + DESCRIPTIVE
        try:
            data = store.get_bytes(key, limit=_DESCRIPTIVE_LIMIT)
        except NotFound:
            return None
        metadata, problems = metadata_from_json(data, f"location '{location}': {key}")
        if metadata is None:
            raise StorageError("; ".join(str(p) for p in problems))
        return metadata

    def fetch_files(self, record: AipRecord, wanted: Sequence[tuple[FileEntry, Path]]) -> None:
        """Copy payload files of a version to local paths, each checked against its digest of record,
        from the first location holding a good copy (the next one if a location fails).

        Args:
            record: the version, as the catalog has it.
            wanted: (file of the version, local path to write) pairs; the directories exist.

        Raises:
            FixityMismatch: every location's copy of a file differs from its digest of record.
            StorageError: no location could supply every file (naming each location's problem).
        """
        aip_id, version = record.aip.aip_id, record.version.version
        # A file a version reuses is stored under the version that holds it (its fetch.txt line).
        keys = [version_prefix(aip_id, f.stored_version or version) + f.bag_path for f, _ in wanted]
        items = [ReadItem(key=key, dest=str(dest)) for key, (_, dest) in zip(keys, wanted, strict=True)]
        sha = {key: f.digests[SHA256] for key, (f, _) in zip(keys, wanted, strict=True)}
        problems = []
        for name in self._copy_locations(record):
            store = self.location(name)
            try:
                for r in store.read(items):
                    if r.problem is not None:
                        raise StorageError(f"location '{name}': {r.key}: {r.problem}")
                    if r.sha256 != sha[r.key]:
                        raise FixityMismatch(
                            f"location '{name}': {r.key}", SHA256, sha[r.key], r.sha256 or ""
                        )
                return
            except (FixityMismatch, StorageError) as exc:
                problems.append(str(exc))
        raise StorageError(
            f"AIP {aip_id} version {version}: no location could supply the files: " + "; ".join(problems)
        )

    def expected_files(
        self, store: ObjectStore, aip_id: str, version: int, files: Sequence[FileEntry]
    ) -> tuple[list[StoredFile], dict[str, int]]:
        """What a copy of the version must hold: the catalog's digests of record for the payload, the
        copy's own tag manifest for the tag files.

        The catalog wins over the stored manifest, so an edited manifest (and the payload file edited
        to match it) is caught, whatever reads the copy: verification, replication or export.

        Args:
            store: the location.
            aip_id: the AIP.
            version: the version.
            files: the version's payload files as the catalog (or, in recovery, its premis.xml) has them.

        Returns:
            (files, listing): payload files (reused ones under the earlier version's key), tag files
            and the tag manifest itself; and every object under the version's prefix with its size.

        Raises:
            StorageError: the version's tag files cannot be read or parsed.
        """
        prefix = version_prefix(aip_id, version)
        stored = StoredBag(store, prefix)
        structure = self._codec.read_structure(stored)
        payload = structure.manifests.get(SHA256)
        tags = structure.tag_manifests.get(SHA256)
        if payload is None or tags is None:
            raise StorageError(
                f"location '{store.name}': {prefix} has no manifest-sha256.txt or tagmanifest-sha256.txt"
            )
        try:
            fetched = {e.path: parse_fetch_url(e.url, e.size, e.path) for e in structure.fetch}
        except ValueError as exc:
            raise StorageError(f"location '{store.name}': {prefix}{exc}") from exc
        of_record = {f.bag_path: f.digests[SHA256] for f in files}
        out = []
        for path in sorted(set(payload) | set(of_record)):
            f = fetched.get(path)
            out.append(
                StoredFile(
                    bag_path=path,
                    key=f.key if f else prefix + path,
                    size=f.size if f else structure.payload.get(path),
                    sha256=of_record.get(path, payload.get(path)),
                )
            )
        out += [StoredFile(bag_path=p, key=prefix + p, size=None, sha256=d) for p, d in sorted(tags.items())]
        out.append(StoredFile(bag_path=TAG_MANIFEST, key=prefix + TAG_MANIFEST, size=None, sha256=None))
        return out, stored.listing

    # -- verification ---------------------------------------------------------------------------

    def verify(
        self,
        aip_id: str,
        version: int | None = None,
        location: str | None = None,
        progress: Progress | None = None,
    ) -> list[CopyCheck]:
        """Re-read and re-hash every file of an AIP's copies, report per file, and record the checks.

        Each copy is checked against the catalog's digests of record (payload) and its own tag
        manifest (tag files); objects under the version's prefix that the bag does not list are
        reported as unexpected. Every check is a PREMIS fixity check event (catalog and event log),
        and a copy found whole gets its verification time updated.

        Args:
            aip_id: the AIP.
            version: one version (default: every version).
            location: one location (default: every required location and any other holding a copy).
            progress: told how many bytes were read.

        Returns:
            One check per (version, location), by version then location.

        Raises:
            AipNotFound: the catalog has no such AIP or version.
        """
        records = self._records(aip_id, version, every=True)
        checks: list[CopyCheck] = []
        for record in records:
            names = [location] if location else self._copy_locations(record)
            for name in names:
                checks.append(
                    self.check_copy(
                        self.location(name), record.aip.aip_id, record.version.version, record.files, progress
                    )
                )
        self._record_checks(checks, records)
        return checks

    def _records(self, aip_id: str, version: int | None, every: bool = False) -> list[AipRecord]:
        """The record of ``version`` (default: the latest, or with ``every`` all versions, oldest first).

        Raises:
            AipNotFound: no such AIP or version.
            AipDeaccessioned: the AIP was deaccessioned (or its deletion began).
        """
        self.require_kept(aip_id)
        with self._catalog() as uow:
            record = uow.aips.get(aip_id, version)
            if record is None:
                if version is not None and uow.aips.get(aip_id) is not None:
                    raise AipNotFound(f"AIP {aip_id} has no version {version}")
                raise AipNotFound(f"AIP {aip_id} is not in the catalog")
            if version is not None or not every:
                return [record]
            records = []
            for n in range(1, record.version.version):
                earlier = uow.aips.get(aip_id, n)
                if earlier is None:
                    raise AipNotFound(f"AIP {aip_id} has no version {n}")
                records.append(earlier)
        return [*records, record]

    def _copy_locations(self, record: AipRecord) -> list[str]:
        held = [c.location for c in record.copies if c.location in self._locations]
        return [*[n for n in self.required], *[n for n in held if n not in self.required]]

    def check_copy(
        self,
        store: ObjectStore,
        aip_id: str,
        version: int,
        files: Sequence[FileEntry],
        progress: Progress | None = None,
    ) -> CopyCheck:
        """Re-read one copy in full and compare every file with ``files`` and the copy's tag manifest.

        Nothing is recorded (see :meth:`verify` for the command that records its checks).
        """
        now = self._clock.now()
        try:
            expected, listing = self.expected_files(store, aip_id, version, files)
        except (StorageError, NotFound) as exc:
            return CopyCheck(
                aip_id=aip_id, version=version, location=store.name, checked=now, files=[], problem=str(exc)
            )
        by_key = {s.key: s for s in expected}
        try:
            results = list(store.read([ReadItem(key=k) for k in by_key], progress=progress))
        except StorageError as exc:
            return CopyCheck(
                aip_id=aip_id, version=version, location=store.name, checked=now, files=[], problem=str(exc)
            )
        checks: dict[str, FileCheck] = {}
        for r in results:
            s = by_key[r.key]
            if r.problem == "missing":
                status, actual = "missing", None
            elif r.problem is not None:
                status, actual = "unreadable", r.problem
            elif s.sha256 is not None and r.sha256 != s.sha256:
                status, actual = "altered", r.sha256
            elif s.size is not None and r.size != s.size:
                status, actual = "altered", f"{r.size} bytes, not {s.size}"
            else:
                status, actual = "ok", r.sha256
            checks[s.bag_path] = FileCheck(
                path=s.bag_path, key=r.key, status=status, expected=s.sha256, actual=actual
            )
        prefix = version_prefix(aip_id, version)
        for key, size in listing.items():
            if key not in by_key:
                path = key[len(prefix) :]
                checks[path] = FileCheck(path=path, key=key, status="unexpected", actual=f"{size} bytes")
        return CopyCheck(
            aip_id=aip_id,
            version=version,
            location=store.name,
            checked=now,
            files=sorted(checks.values(), key=lambda c: c.path),
            objects=len(listing),
            bytes=sum(listing.values()),
        )

    def _record_checks(self, checks: Sequence[CopyCheck], records: Sequence[AipRecord]) -> None:
        logged = []
        for c in checks:
            if c.problem is not None:
                outcome, detail = Outcome.FAILURE, f"not checked: {c.problem}"
            elif c.ok:
                outcome, detail = (
                    Outcome.SUCCESS,
                    f"{len(c.files)} files read in full, every sha256 as recorded",
                )
            else:
                bad = c.bad
                outcome = Outcome.FAILURE
                detail = (
                    f"{len(bad)} of {len(c.files)} files not as recorded: "
                    + "; ".join(f"{f.path}: {f.status}" for f in bad[:20])
                    + ("; …" if len(bad) > 20 else "")
                )
            event = self._event(
                EventType.FIXITY_CHECK,
                c.checked,
                f"full re-read and sha256 of every file of AIP {c.aip_id} version {c.version} "
                f"at location '{c.location}'",
                outcome,
                detail,
                c.aip_id,
                c.version,
            )
            logged.append((LoggedEvent(c.aip_id, c.version, event), c))
        known = {(r.aip.aip_id, r.version.version, c.location): c for r in records for c in r.copies}
        verified = [
            (c.aip_id, c.version, old.model_copy(update={"verified": c.checked}))
            for _, c in logged
            if c.ok and (old := known.get((c.aip_id, c.version, c.location))) is not None
        ]
        self._commit_events([e for e, _ in logged], new_copies=verified)

    # -- replication ----------------------------------------------------------------------------

    def replicate(
        self, target: str | None = None, progress: Progress | None = None
    ) -> list[ReplicationResult]:
        """Bring a new or lagging location (or every required one) up to the policy.

        Every version the catalog knows that lacks a copy at a required location is copied from a
        location that holds it, each object verified on the way and read back at the target. One
        PREMIS replication event per version copied goes to the catalog and every event log.

        Args:
            target: only this location (it need not be required: a new location being filled).
            progress: told how many bytes were copied.

        Returns:
            One result per version copied or attempted.
        """
        targets = [target] if target else list(self.required)
        for name in targets:
            self.location(name)
        withdrawn = self.withdrawn()
        with self._catalog() as uow:
            versions = [v for v in uow.aips.versions() if v.aip_id not in withdrawn]
            copies: dict[tuple[str, int], set[str]] = {}
            for aip_id, v, c in uow.aips.copies():
                copies.setdefault((aip_id, v), set()).add(c.location)
        results: list[ReplicationResult] = []
        for version in versions:
            key = (version.aip_id, version.version)
            have = copies.get(key, set())
            for name in targets:
                if name in have:
                    continue
                sources = [n for n in self.names() if n in have and n != name]
                results.append(self._replicate_one(version.aip_id, version.version, sources, name, progress))
        return results

    def _replicate_one(
        self, aip_id: str, version: int, sources: Sequence[str], target: str, progress: Progress | None
    ) -> ReplicationResult:
        last_problem = "no location holds a copy"
        (record,) = self._records(aip_id, version)
        for source in sources:
            try:
                copy = self.copy_version(aip_id, version, source, target, record.files, progress)
            except ConflictError:
                raise
            except OaisError as exc:
                last_problem = str(exc)
                continue
            event = self._event(
                EventType.REPLICATION,
                copy.stored,
                f"copy of AIP {aip_id} version {version} from location '{source}' to location '{target}'",
                Outcome.SUCCESS,
                f"{copy.objects} objects, {copy.bytes} bytes written at '{target}' and read back with every "
                "sha256 as recorded",
                aip_id,
                version,
            )
            self._commit_events([LoggedEvent(aip_id, version, event)], new_copies=[(aip_id, version, copy)])
            return ReplicationResult(
                aip_id=aip_id,
                version=version,
                source=source,
                target=target,
                objects=copy.objects,
                bytes=copy.bytes,
            )
        return ReplicationResult(
            aip_id=aip_id,
            version=version,
            source=",".join(sources) or "-",
            target=target,
            objects=0,
            bytes=0,
            problem=last_problem,
        )

    def copy_version(
        self,
        aip_id: str,
        version: int,
        source: str,
        target: str,
        files: Sequence[FileEntry],
        progress: Progress | None = None,
    ) -> Copy:
        """Copy one complete version from ``source`` to ``target`` through local scratch space.

        Every object read from the source must have its digest of record (``files``; the tag
        manifest for tag files); every object written is read back at the target; bagit.txt is
        written last.

        Raises:
            FixityMismatch: the source copy is bad (nothing is written for it).
            StorageError: a location failed.
        """
        src = self.location(source)
        dst = self.location(target)
        expected, _ = self.expected_files(src, aip_id, version, files)
        prefix = version_prefix(aip_id, version)
        own = [s for s in expected if s.key.startswith(prefix)]
        self._require_reused(dst, aip_id, version, [(s.key, s.size) for s in expected if s not in own])
        with self._scratch.staging() as staging:
            local: dict[str, Path] = {s.key: staging.path / f"{n:08d}" for n, s in enumerate(own)}
            digests: dict[str, tuple[int, str]] = {}
            for r in src.read([ReadItem(key=k, dest=str(p)) for k, p in local.items()], progress=progress):
                if r.problem is not None or r.sha256 is None:
                    raise StorageError(
                        f"location '{source}': {r.key} cannot be read: {r.problem or 'no data'}"
                    )
                digests[r.key] = (r.size, r.sha256)
            for s in own:
                sha = digests[s.key][1]
                if s.sha256 is not None and sha != s.sha256:
                    raise FixityMismatch(f"location '{source}': {s.key}", SHA256, s.sha256, sha)
            now = self._clock.now()
            replace = dst.head(prefix + BAGIT) is None

            def item(s: StoredFile) -> WriteItem:
                size, sha = digests[s.key]
                return WriteItem(key=s.key, size=size, sha256=sha, path=str(local[s.key]), replace=replace)

            written = self._write_verified(dst, [item(s) for s in own if s.bag_path != BAGIT], progress, now)
            written += self._write_verified(dst, [item(s) for s in own if s.bag_path == BAGIT], progress, now)
        return Copy(
            location=target,
            stored=now,
            verified=self._clock.now(),
            objects=written.objects,
            bytes=written.bytes,
        )

    def _require_reused(
        self, store: ObjectStore, aip_id: str, version: int, reused: Sequence[tuple[str, int | None]]
    ) -> None:
        """Every object a version reuses from an earlier one must be at ``store`` (one listing, not
        one request per file)."""
        if not reused:
            return
        held = {i.key: i.size for i in store.list(aip_prefix(aip_id))}
        for key, size in reused:
            if key not in held or (size is not None and held[key] != size):
                raise StorageError(
                    f"location '{store.name}': {key}, which version {version} of AIP {aip_id} reuses, is "
                    "missing; replicate the earlier version first"
                )

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> list[LocationStatus]:
        """Per configured location: what it is, and the AIPs, versions, objects and bytes it holds
        according to the catalog, with the versions it lacks if the policy requires it."""
        withdrawn = self.withdrawn()
        with self._catalog() as uow:
            versions = [(v.aip_id, v.version) for v in uow.aips.versions() if v.aip_id not in withdrawn]
            copies = uow.aips.copies()
        out = []
        for name in self.names():
            mine = [(a, v, c) for a, v, c in copies if c.location == name]
            held = {(a, v) for a, v, _ in mine}
            info, problem = None, None
            try:
                info = self.location(name).describe()
            except OaisError as exc:
                problem = str(exc)
            required = name in self.required
            out.append(
                LocationStatus(
                    name=name,
                    required=required,
                    info=info,
                    problem=problem,
                    aips=len({a for a, _, _ in mine}),
                    versions=len(mine),
                    objects=sum(c.objects for _, _, c in mine),
                    bytes=sum(c.bytes for _, _, c in mine),
                    lacking=[k for k in versions if k not in held] if required else [],
                )
            )
        return out

    # -- export ---------------------------------------------------------------------------------

    def export(
        self,
        aip_id: str,
        dest: Path,
        version: int | None = None,
        location: str | None = None,
        progress: Progress | None = None,
    ) -> ExportResult:
        """Write one version as a complete, valid bag at ``dest`` (which must not exist).

        Payload reused from earlier versions is put in place and fetch.txt is left out (with its
        line in the tag manifest), so the bag stands alone. Every file is checked against the
        digests of record as it is written; the bag appears at ``dest`` only when whole.

        Raises:
            AipNotFound: no such AIP or version in the catalog.
            ConflictError: ``dest`` exists.
            FixityMismatch: a stored file is not as recorded (nothing is left at ``dest``).
            StorageError: no location could supply the version.
        """
        (record,) = self._records(aip_id, version)  # the latest unless a version is asked for
        v = record.version.version
        if dest.exists():
            raise ConflictError(f"{dest}: already exists; export writes a new directory")
        names = [location] if location else self._copy_locations(record)
        problems = []
        for name in names:
            try:
                return self._export_from(self.location(name), record, dest, progress)
            except (FixityMismatch, StorageError, NotFound) as exc:
                problems.append(str(exc))
        raise StorageError(f"AIP {aip_id} version {v} could not be exported: " + "; ".join(problems))

    def _export_from(
        self, store: ObjectStore, record: AipRecord, dest: Path, progress: Progress | None
    ) -> ExportResult:
        aip_id, version = record.aip.aip_id, record.version.version
        listed, _ = self.expected_files(store, aip_id, version, record.files)
        has_fetch = any(s.bag_path == FETCH for s in listed)
        expected = [s for s in listed if s.bag_path != FETCH]
        partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
        partial.mkdir(parents=True)
        try:
            by_key: dict[str, StoredFile] = {}
            items = []
            for s in expected:
                target = partial / s.bag_path
                target.parent.mkdir(parents=True, exist_ok=True)
                by_key[s.key] = s
                items.append(ReadItem(key=s.key, dest=str(target)))
            total = 0
            for r in store.read(items, progress=progress):
                s = by_key[r.key]
                if r.problem is not None:
                    raise StorageError(f"location '{store.name}': {r.key}: {r.problem}")
                if s.sha256 is not None and r.sha256 != s.sha256:
                    raise FixityMismatch(
                        f"location '{store.name}': {r.key}", SHA256, s.sha256, r.sha256 or ""
                    )
                total += r.size
            if has_fetch:
                # The fetched files are now in place: the bag stands alone without fetch.txt.
                manifest = partial / TAG_MANIFEST
                text = drop_fetch_from_tag_manifest(manifest.read_text(encoding="utf-8"))
                manifest.write_text(text, encoding="utf-8")
            os.rename(partial, dest)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return ExportResult(
            aip_id=aip_id,
            version=version,
            location=store.name,
            path=str(dest),
            files=len(expected),
            bytes=total,
        )

    # -- events ---------------------------------------------------------------------------------

    def _event(
        self,
        type_: EventType,
        when: datetime,
        detail: str,
        outcome: Outcome,
        outcome_detail: str,
        aip_id: str,
        version: int,
    ) -> Event:
        return new_event(
            type_,
            when,
            detail,
            outcome,
            outcome_detail,
            [AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM)],
            [aip_id, f"{aip_id}/v{version}"],
            self._policy.reference,
        )

    def record_events(self, events: Sequence[LoggedEvent], agents: Sequence[Agent]) -> None:
        """Record events that happened after ingest (a dissemination): in the event log of every
        required location, then in the catalog.

        Args:
            events: the events, each with its AIP version.
            agents: every agent they name besides this software.

        Raises:
            StorageError: an event log could not be written (the catalog still gets the events, and
                ``oais events verify`` shows the location whose log lacks them).
        """
        self._commit_events(events, agents=[self._software, *agents])

    def _commit_events(
        self,
        events: Sequence[LoggedEvent],
        new_copies: Sequence[tuple[str, int, Copy]] = (),
        agents: Sequence[Agent] | None = None,
    ) -> None:
        """Log events at every required location, then commit them (and copy facts) to the catalog.

        Raises:
            StorageError: an event log could not be written (the catalog still gets the events, and
                ``oais events verify`` shows the location whose log lacks them).
        """
        if not events:
            return
        agents = agents or [self._software]
        segments, failures = self.append_to_logs(events, agents)
        with self._catalog() as uow:
            by_version: dict[tuple[str, int], list[Event]] = {}
            for e in events:
                by_version.setdefault((e.aip_id, e.version), []).append(e.event)
            for (aip_id, version), evs in by_version.items():
                uow.aips.add_events(aip_id, version, evs, agents)
            for aip_id, version, copy in new_copies:
                uow.aips.put_copy(aip_id, version, copy)
            for segment in segments:
                uow.aips.add_segment(segment)
            uow.commit()
        if failures:
            raise StorageError(
                "events recorded in the catalog but not in every event log: " + "; ".join(failures)
            )

    def append_to_logs(
        self, events: Sequence[LoggedEvent], agents: Sequence[Agent]
    ) -> tuple[list[Segment], list[str]]:
        """Append events to the event log of every required location (before the catalog records
        them and the segments, in its own transaction).

        Returns:
            (the segments written, one line per location whose log could not be written).
        """
        now = self._clock.now()
        with self._catalog() as uow:
            last = {name: uow.aips.segments(name)[-1:] for name in self.required}
        failures = []
        segments = []
        # Network writes happen before the catalog transaction opens, never inside it.
        for name in self.required:
            try:
                newest = last[name][0] if last[name] else None
                segments.append(event_log.append(self.location(name), newest, events, agents, now))
            except OaisError as exc:
                failures.append(f"{name}: {exc}")
        return segments, failures

    def verify_events(self, location: str | None = None) -> dict[str, tuple[list[str], int, int]]:
        """Check the event log of one location (or every configured one).

        Returns:
            location -> (problems, segments, events); no problems means the log is whole.
        """
        out = {}
        names = [location] if location else self.names()
        for name in names:
            store = self.location(name)
            with self._catalog() as uow:
                known = uow.aips.segments(name)
            try:
                out[name] = event_log.verify(store, known)
            except OaisError as exc:
                out[name] = ([str(exc)], 0, 0)
        return out


class StoredBag:
    """A stored version as ``BagFiles`` for the bag codec (tag files are read, payload only listed)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self._store = store
        self._prefix = prefix
        self.listing: dict[str, int] = {}  # key -> size, once listed

    def list_files(self) -> Iterator[tuple[str, int]]:
        for info in self._store.list(self._prefix):
            self.listing[info.key] = info.size
            yield info.key[len(self._prefix) :], info.size

    def read_bytes(self, path: str) -> bytes:
        return self._store.get_bytes(self._prefix + path)


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as scan:
            for entry in scan:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
                else:
                    yield f"{prefix}{entry.name}", Path(entry.path)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return h.hexdigest()
