"""Archival storage: writes AIP versions to every location the storage policy names, verifies every
copy against the digests of record, replicates, re-verifies on demand and exports.

Storage is not transactional, so the order is always: write the objects, read them back and compare
their sha256 with the digests of record, write ``bagit.txt`` last (a version without it is
incomplete, never an AIP), and only then commit the catalog. Objects are never overwritten, except
those of a version that is not complete yet (a rerun after a crash), and never deleted.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from oais.archival_storage import event_log
from oais.archival_storage.layout import (
    BAGIT,
    FETCH,
    PREMIS,
    TAG_MANIFEST,
    Fetched,
    drop_fetch_from_tag_manifest,
    parse_fetch,
    version_prefix,
)
from oais.domain.errors import AipNotFound, ConfigError, ConflictError, NotFound, OaisError, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.packages import AipRecord, FileEntry
from oais.domain.ports import BagCodec, Clock, ObjectStore, UnitOfWorkFactory
from oais.domain.premis import Agent, AgentLink, AgentRole, Event, EventType, Outcome, new_event
from oais.domain.storage import (
    Copy,
    LocationInfo,
    ReadItem,
    StoragePolicy,
    WriteItem,
)

SHA256 = DigestAlgorithm.SHA256
XXH3 = DigestAlgorithm.XXH3_128
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
        scratch: Path,
    ) -> None:
        """Wire the service (see ``oais.bootstrap``).

        Args:
            locations: every configured location by name.
            policy: the storage policy; each location it names must be configured.
            catalog: the catalog's unit of work.
            bag_codec: reads a stored version's tag files.
            clock: where the time comes from.
            software: this software, the agent of every storage event.
            scratch: a local directory for replication (removed when done).

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
        self._lock_info: dict[str, bool] = {}

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
    ) -> list[Copy]:
        """Write a staged bag to every required location and verify every copy.

        Payload files listed in the bag's fetch.txt (unchanged since an earlier version) are not
        written again; they must already be stored at each location.

        Args:
            bag_dir: the staged bag (its tag files written).
            aip_id: the AIP.
            version: the version number.
            files: the payload files with their digests of record (as in the catalog).
            progress: told how many bytes were written and read back.

        Returns:
            One verified copy per required location, in policy order.

        Raises:
            FixityMismatch: a copy read back differs from the digests of record (naming the location).
            ConflictError: a location already holds this version with other content.
            StorageError: a location failed (naming it).
        """
        fetched = self._fetched(bag_dir)
        return [
            self._store_copy(self.location(name), bag_dir, aip_id, version, files, fetched, progress)
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

    @staticmethod
    def _fetched(bag_dir: Path) -> list[Fetched]:
        fetch = bag_dir / FETCH
        if not fetch.is_file():
            return []
        try:
            return parse_fetch(fetch.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise StorageError(f"{fetch}: {exc}") from exc

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
        for f in fetched:
            held = store.head(f.key)
            if held is None or held.size != f.size:
                raise StorageError(
                    f"location '{store.name}': {f.key}, which version {version} reuses as {f.bag_path}, "
                    "is missing; replicate the earlier version first"
                )
        marker = bag_dir / BAGIT
        if not marker.is_file():
            raise StorageError(f"the staged bag of {aip_id} v{version} has no {BAGIT}")
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

    def holders(self, aip_id: str, version: int, names: Iterable[str] | None = None) -> list[str]:
        """The locations (required ones by default) that hold the version complete (with bagit.txt)."""
        key = version_prefix(aip_id, version) + BAGIT
        return [n for n in (names or self.required) if self.location(n).head(key) is not None]

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
        store = self.location(name)
        check = self.check_copy(store, aip_id, version, files, progress)
        if check.problem is not None:
            raise StorageError(check.problem)
        if not check.ok:
            bad = check.bad[0]
            raise FixityMismatch(f"location '{name}': {bad.key}", SHA256, bad.expected or "", bad.status)
        listed = list(store.list(version_prefix(aip_id, version)))
        return Copy(
            location=name,
            stored=check.checked,
            verified=self._clock.now(),
            objects=len(listed),
            bytes=sum(i.size for i in listed),
        )

    def fetch_premis(self, aip_id: str, version: int, location: str, dest: Path) -> None:
        """Copy a stored version's premis.xml to ``dest`` (recovery, rebuild)."""
        key = version_prefix(aip_id, version) + PREMIS
        for r in self.location(location).read([ReadItem(key=key, dest=str(dest))]):
            if r.problem is not None:
                raise StorageError(f"location '{location}': {key}: {r.problem}")

    def expected_files(self, store: ObjectStore, aip_id: str, version: int) -> list[StoredFile]:
        """What a copy of the version must hold, from its own manifests at ``store``.

        Returns:
            Payload files (with digests from manifest-sha256.txt, sizes from the listing or fetch.txt,
            reused ones under the earlier version's key), tag files (digests from the tag manifest),
            and the tag manifest itself.

        Raises:
            StorageError: the version's tag files cannot be read or parsed.
        """
        prefix = version_prefix(aip_id, version)
        structure = self._codec.read_structure(_StoredBag(store, prefix))
        payload = structure.manifests.get(SHA256)
        tags = structure.tag_manifests.get(SHA256)
        if payload is None or tags is None:
            raise StorageError(
                f"location '{store.name}': {prefix} has no manifest-sha256.txt or tagmanifest-sha256.txt"
            )
        fetched: dict[str, Fetched] = {}
        if FETCH in tags:
            try:
                fetched = {
                    f.bag_path: f for f in parse_fetch(store.get_bytes(prefix + FETCH).decode("utf-8"))
                }
            except (ValueError, NotFound) as exc:
                raise StorageError(f"location '{store.name}': {prefix}{FETCH}: {exc}") from exc
        out = []
        for path, digest in sorted(payload.items()):
            f = fetched.get(path)
            key = f.key if f else prefix + path
            out.append(
                StoredFile(
                    bag_path=path, key=key, size=f.size if f else structure.payload.get(path), sha256=digest
                )
            )
        out += [StoredFile(bag_path=p, key=prefix + p, size=None, sha256=d) for p, d in sorted(tags.items())]
        out.append(StoredFile(bag_path=TAG_MANIFEST, key=prefix + TAG_MANIFEST, size=None, sha256=None))
        return out

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
        records = self._records(aip_id, version)
        checks: list[CopyCheck] = []
        for record in records:
            names = [location] if location else self._copy_locations(record)
            for name in names:
                checks.append(self._check_copy(self.location(name), record, progress))
        self._record_checks(checks)
        return checks

    def _records(self, aip_id: str, version: int | None) -> list[AipRecord]:
        with self._catalog() as uow:
            latest = uow.aips.get(aip_id)
            if latest is None:
                raise AipNotFound(f"AIP {aip_id} is not in the catalog")
            numbers = [version] if version is not None else list(range(1, latest.version.version + 1))
            records = []
            for n in numbers:
                record = latest if n == latest.version.version else uow.aips.get(aip_id, n)
                if record is None:
                    raise AipNotFound(f"AIP {aip_id} has no version {n}")
                records.append(record)
        return records

    def _copy_locations(self, record: AipRecord) -> list[str]:
        held = [c.location for c in record.copies if c.location in self._locations]
        return [*[n for n in self.required], *[n for n in held if n not in self.required]]

    def _check_copy(self, store: ObjectStore, record: AipRecord, progress: Progress | None) -> CopyCheck:
        return self.check_copy(store, record.aip.aip_id, record.version.version, record.files, progress)

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
            expected = self.expected_files(store, aip_id, version)
        except (StorageError, NotFound) as exc:
            return CopyCheck(
                aip_id=aip_id, version=version, location=store.name, checked=now, files=[], problem=str(exc)
            )
        of_record = {f.bag_path: f.digests[SHA256] for f in files}
        checks: dict[str, FileCheck] = {}
        by_key: dict[str, StoredFile] = {}
        for s in expected:
            by_key[s.key] = s
            # The catalog's digest wins over the stored manifest: an edited manifest is then caught too.
            record_digest = of_record.get(s.bag_path)
            if record_digest is not None and s.sha256 != record_digest:
                by_key[s.key] = s.model_copy(update={"sha256": record_digest})
        missing_from_manifest = set(of_record) - {s.bag_path for s in expected}
        for path in sorted(missing_from_manifest):
            checks[path] = FileCheck(
                path=path,
                key=version_prefix(aip_id, version) + path,
                status="missing",
                expected=of_record[path],
            )
        try:
            results = list(store.read([ReadItem(key=k) for k in by_key], progress=progress))
        except StorageError as exc:
            return CopyCheck(
                aip_id=aip_id, version=version, location=store.name, checked=now, files=[], problem=str(exc)
            )
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
        listed = {s.key for s in expected}
        for info in store.list(prefix):
            if info.key not in listed:
                path = info.key[len(prefix) :]
                checks[path] = FileCheck(
                    path=path, key=info.key, status="unexpected", actual=f"{info.size} bytes"
                )
        return CopyCheck(
            aip_id=aip_id,
            version=version,
            location=store.name,
            checked=now,
            files=sorted(checks.values(), key=lambda c: c.path),
        )

    def _record_checks(self, checks: Sequence[CopyCheck]) -> None:
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
            logged.append((event_log.LoggedEvent(c.aip_id, c.version, event), c))
        self._commit_events(
            [e for e, _ in logged],
            copies=[(c.aip_id, c.version, c.location, c.checked) for _, c in logged if c.ok],
        )

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
        with self._catalog() as uow:
            versions = list(uow.aips.versions())
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
        for source in sources:
            try:
                copy = self.copy_version(aip_id, version, source, target, progress)
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
            self._commit_events(
                [event_log.LoggedEvent(aip_id, version, event)], new_copies=[(aip_id, version, copy)]
            )
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
        self, aip_id: str, version: int, source: str, target: str, progress: Progress | None = None
    ) -> Copy:
        """Copy one complete version from ``source`` to ``target`` through local scratch space.

        Every object read from the source must have the digest its manifests give; every object
        written is read back at the target; bagit.txt is written last.

        Raises:
            FixityMismatch: the source copy is bad (nothing is written for it).
            StorageError: a location failed.
        """
        src = self.location(source)
        dst = self.location(target)
        expected = self.expected_files(src, aip_id, version)
        prefix = version_prefix(aip_id, version)
        own = [s for s in expected if s.key.startswith(prefix)]
        for s in expected:
            if not s.key.startswith(prefix) and dst.head(s.key) is None:
                raise StorageError(
                    f"location '{target}': {s.key}, which version {version} reuses, is missing; "
                    "replicate the earlier version first"
                )
        self._scratch.mkdir(parents=True, exist_ok=True)
        work = self._scratch / f"replicate-{uuid.uuid4().hex}"
        work.mkdir()
        try:
            local: dict[str, Path] = {s.key: work / f"{n:08d}" for n, s in enumerate(own)}
            digests: dict[str, tuple[int, str]] = {}
            for r in src.read([ReadItem(key=k, dest=str(p)) for k, p in local.items()], progress=progress):
                if r.problem is not None or r.sha256 is None:
                    raise StorageError(f"location '{source}': {r.key} cannot be read: {r.problem}")
                digests[r.key] = (r.size, r.sha256)
            for s in own:
                sha = digests[s.key][1]
                if s.sha256 is not None and sha != s.sha256:
                    raise FixityMismatch(f"location '{source}': {s.key}", SHA256, s.sha256, sha)
            now = self._clock.now()
            complete = dst.head(prefix + BAGIT) is not None

            def item(s: StoredFile) -> WriteItem:
                size, sha = digests[s.key]
                return WriteItem(
                    key=s.key, size=size, sha256=sha, path=str(local[s.key]), replace=not complete
                )

            body = [item(s) for s in own if s.bag_path != BAGIT]
            last = [item(s) for s in own if s.bag_path == BAGIT]
            written = self._write_verified(dst, body, progress, now)
            written_last = self._write_verified(dst, last, progress, now)
        finally:
            for p in work.iterdir():
                p.unlink()
            work.rmdir()
        return Copy(
            location=target,
            stored=now,
            verified=self._clock.now(),
            objects=written.objects + written_last.objects,
            bytes=written.bytes + written_last.bytes,
        )

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> list[LocationStatus]:
        """Per configured location: what it is, and the AIPs, versions, objects and bytes it holds
        according to the catalog, with the versions it lacks if the policy requires it."""
        with self._catalog() as uow:
            versions = [(v.aip_id, v.version) for v in uow.aips.versions()]
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
        (record,) = self._records(aip_id, version)
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
        listed = self.expected_files(store, aip_id, version)
        has_fetch = any(s.bag_path == FETCH for s in listed)
        expected = [s for s in listed if s.bag_path != FETCH]
        of_record = {f.bag_path: f.digests[SHA256] for f in record.files}
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
                want = of_record.get(s.bag_path, s.sha256)
                if want is not None and r.sha256 != want:
                    raise FixityMismatch(f"location '{store.name}': {r.key}", SHA256, want, r.sha256 or "")
                total += r.size
            if has_fetch:
                # The fetched files are now in place: the bag stands alone without fetch.txt.
                manifest = partial / TAG_MANIFEST
                text = drop_fetch_from_tag_manifest(manifest.read_text(encoding="utf-8"))
                manifest.write_text(text, encoding="utf-8")
            os.rename(partial, dest)
        except BaseException:
            _remove_tree(partial)
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

    def _commit_events(
        self,
        events: Sequence[event_log.LoggedEvent],
        copies: Sequence[tuple[str, int, str, datetime]] = (),
        new_copies: Sequence[tuple[str, int, Copy]] = (),
    ) -> None:
        """Log events at every required location, then commit them (and copy facts) to the catalog.

        Raises:
            StorageError: an event log could not be written (the catalog still gets the events, and
                ``oais events verify`` shows the location whose log lacks them).
        """
        if not events:
            return
        agents = [self._software]
        now = self._clock.now()
        failures = []
        segments = []
        with self._catalog() as uow:
            for name in self.required:
                try:
                    segments.append(
                        event_log.append(self.location(name), uow.aips.segments(name), events, agents, now)
                    )
                except OaisError as exc:
                    failures.append(f"{name}: {exc}")
            by_version: dict[tuple[str, int], list[Event]] = {}
            for e in events:
                by_version.setdefault((e.aip_id, e.version), []).append(e.event)
            for (aip_id, version), evs in by_version.items():
                uow.aips.add_events(aip_id, version, evs, agents)
            for aip_id, version, copy in new_copies:
                uow.aips.put_copy(aip_id, version, copy)
            if copies:
                known = {(a, v, c.location): c for a, v, c in uow.aips.copies()}
                for aip_id, version, name, when in copies:
                    old = known.get((aip_id, version, name))
                    if old is not None:
                        uow.aips.put_copy(aip_id, version, old.model_copy(update={"verified": when}))
            for segment in segments:
                uow.aips.add_segment(segment)
            uow.commit()
        if failures:
            raise StorageError(
                "events recorded in the catalog but not in every event log: " + "; ".join(failures)
            )

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


class _StoredBag:
    """A stored version as ``BagFiles`` for the bag codec (tag files are read, payload only listed)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    def list_files(self) -> Iterator[tuple[str, int]]:
        for info in self._store.list(self._prefix):
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


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for p in sorted(path.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.chmod(0o600)
            p.unlink()
    path.rmdir()
