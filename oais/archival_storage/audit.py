"""Fixity audits: claim the slices that are due, re-read every object of them within the read budget,
record one PREMIS fixity check event per slice, and repair bad copies from good ones.

The reading runs through a ``concurrent.futures`` executor (a local process pool, or a Dask cluster)
in batches; this process claims, compares, records and repairs. See docs/audit.md and
docs/decisions/0009-fixity-audits.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from oais.archival_storage.audit_worker import (
    Batch,
    StoreOpener,
    Survey,
    Surveyed,
    hash_batch,
    survey_version,
    verdict,
)
from oais.archival_storage.layout import EVENTS, TAG_MANIFEST, TOMBSTONE, version_prefix
from oais.archival_storage.service import ArchivalStorage
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
from oais.domain.deaccession import RequestStatus
from oais.domain.errors import CatalogError, OaisError, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.ports import AuditLedger, Clock, ObjectStore
from oais.domain.premis import Agent, AgentLink, AgentRole, EventType, LoggedEvent, Outcome, new_event
from oais.domain.storage import Hashed, ReadItem, WriteItem

log = logging.getLogger("oais.audit")

SHA256 = DigestAlgorithm.SHA256
#: Most objects, and bytes, in one batch handed to a worker.
BATCH_FILES = 2_000
BATCH_BYTES = 256 << 20
#: Slices claimed at a time.
CLAIM_SLICES = 16
#: Audited slices recorded together (one event log segment, one catalog transaction), at most.
RECORD_SLICES = 64
#: ...and an audited slice waits no longer than this to be recorded.
RECORD_AFTER = timedelta(seconds=10)
#: Findings an event's outcome detail describes one by one (the ledger keeps them all).
DETAIL_FINDINGS = 50


def holder_name() -> str:
    """A name for this process in claims: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SliceResult(BaseModel):
    """One slice audited."""

    aip_id: str
    version: int
    location: str
    number: int
    mode: AuditMode
    files: int
    bytes: int
    ok: bool
    event: str | None  # the fixity check event's identifier (None if it could not be recorded)
    findings: list[Finding]


class AuditReport(BaseModel):
    """What one run (or daemon tick) did."""

    started: datetime
    finished: datetime | None = None
    slices: list[SliceResult] = []
    repaired: list[Finding] = []
    unrecoverable: list[Finding] = []
    unexpected: list[Finding] = []  # objects no AIP lists, found by sweeps
    #: Locations (or their sweeps) that could not be audited, and why: their copies stay due.
    unaudited: list[str] = []
    problems: list[str] = []  # other failures: repairs, event log writes, claims taken over

    @property
    def files(self) -> int:
        """Files verified."""
        return sum(s.files for s in self.slices)

    @property
    def bytes(self) -> int:
        """Bytes read."""
        return sum(s.bytes for s in self.slices)

    @property
    def failed(self) -> list[Finding]:
        """Every object found wrong in this run."""
        return [f for s in self.slices for f in s.findings]


class AuditStatus(BaseModel):
    """Coverage per location and the open findings, unrecoverable first."""

    policy: str
    now: datetime
    cycle_days: float
    locations: list[LocationCoverage]
    findings: list[Finding]


@dataclass
class _Work:
    """A claimed slice being audited."""

    slice: Slice
    mode: AuditMode
    #: The slice's files, as its workers compare them (plain tuples: no object per file).
    rows: list[Expected] = field(default_factory=list)
    #: Objects the survey adds (tag files, the PREMIS file), with what a finding about them names.
    listed: dict[str, ObjectCheck] = field(default_factory=dict)
    unexpected: list[tuple[str, int]] = field(default_factory=list)
    #: Open findings of unexpected objects in the version that its listing no longer shows.
    gone: list[str] = field(default_factory=list)
    pending: int = 0
    #: Objects read and found not as expected, and bytes read, by the batches finished so far.
    differing: list[Hashed] = field(default_factory=list)
    bytes: int = 0
    #: Objects that could not be read because their batch (or the survey) failed, and why.
    unread: list[tuple[str, str]] = field(default_factory=list)


class AuditService:
    """Scheduled and by-hand fixity audits (see the module docstring)."""

    def __init__(
        self,
        *,
        storage: ArchivalStorage,
        ledger: AuditLedger,
        policy: AuditPolicy,
        openers: Mapping[str, StoreOpener],
        clock: Clock,
        software: Agent,
        holder: str | None = None,
    ) -> None:
        """Wire the service (see ``oais.bootstrap``).

        Args:
            storage: archival storage (locations, event logs, scratch space).
            ledger: the catalog's audit ledger.
            policy: the audit policy in force.
            openers: per location, how a worker opens it.
            clock: where the time comes from.
            software: this software, the agent of every audit event.
            holder: this process's name in claims (default: host, pid and a random part).
        """
        self._storage = storage
        self._ledger = ledger
        self._policy = policy
        self._openers = dict(openers)
        self._clock = clock
        self._software = software
        self.holder = holder or holder_name()
        # Slices audited but not yet logged and recorded (see _flush).
        self._unrecorded: list[tuple[SliceOutcome, SliceResult]] = []
        # (location, key) -> sha256 of record of each object found wrong, for its repair.
        self._record_digests: dict[tuple[str, str], str | None] = {}

    @property
    def policy(self) -> AuditPolicy:
        """The audit policy in force."""
        return self._policy

    # -- running --------------------------------------------------------------------------------

    def run(
        self,
        executor: Executor,
        parallelism: int,
        *,
        aip_id: str | None = None,
        location: str | None = None,
        deep: bool = False,
        everything: bool = False,
        budget: int | None = None,
        limit_seconds: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> AuditReport:
        """Audit what is due (or, with ``aip_id`` or ``everything``, every slice not yet audited in
        this run), location by location, then repair what failed; locations due for a sweep are
        listed meanwhile, and their sweeps recorded at the end.

        Args:
            executor: runs the hashing batches.
            parallelism: how many batches can run at once (the budget is shared among them).
            aip_id: only this AIP (every version, every copy), whether due or not.
            location: only this location (default: every location holding copies).
            deep: sha256 for everything (default: the mode each slice is due for; quick otherwise).
            everything: every slice, whether due or not.
            budget: bytes per second per location instead of the policy's.
            limit_seconds: stop claiming at a location once it was given this many seconds'
                worth of its budget (a daemon tick).
            progress: told how many bytes each finished batch read.

        Returns:
            What was audited, found, repaired and could not be.
        """
        now = self._clock.now()
        report = AuditReport(started=now)
        self._ledger.make_slices()
        forced = everything or aip_id is not None
        # Scheduled: what each mode is due for. Forced: every slice not yet audited in this run.
        deep_before = now if forced and deep else now - self._policy.deep.interval
        quick_before = now if forced else now - self._policy.quick.interval
        names = [location] if location else self._storage.names()
        stopped: set[str] = set()  # locations whose audit stopped: their sweep is not recorded
        # The sweeps due are listed beside the audits (the listing waits on the location, this
        # process would otherwise only wait on the workers) and recorded after them.
        sweeps = self._start_sweeps(names, force=everything) if aip_id is None else None
        try:
            self._run_locations(
                names,
                executor,
                parallelism,
                (deep_before, quick_before, deep),
                aip_id,
                budget,
                limit_seconds,
                report,
                progress,
                stopped,
            )
            if self._policy.repair:
                self._repair(report)
        except BaseException:
            for name in sweeps or {}:
                # Best effort: a claim not given back expires.
                with contextlib.suppress(OaisError):
                    self._ledger.release_sweep(name, self.holder)
            raise
        finally:
            # Kept for this run's repairs only: a daemon runs for months.
            self._record_digests.clear()
        if sweeps:
            self._finish_sweeps(sweeps, stopped, report)
        report.finished = self._clock.now()
        for f in report.unrecoverable:
            log.error("no good copy left: %s", f.line())
        return report

    def _run_locations(
        self,
        names: Sequence[str],
        executor: Executor,
        parallelism: int,
        cut_offs: tuple[datetime, datetime, bool],
        aip_id: str | None,
        budget: int | None,
        limit_seconds: float | None,
        report: AuditReport,
        progress: Callable[[int], None] | None,
        stopped: set[str],
    ) -> None:
        for name in names:
            self._storage.location(name)
            rate = budget or self._policy.budget.of(name)
            try:
                self._run_location(
                    name,
                    executor,
                    parallelism,
                    rate,
                    cut_offs,
                    aip_id,
                    None if limit_seconds is None else int(rate * limit_seconds),
                    report,
                    progress,
                )
            except CatalogError:
                raise  # the catalog failed, not the location: the run stops (exit 6)
            except OaisError as exc:
                report.unaudited.append(_at(name, exc))
                log.warning("audit of location '%s' stopped: %s", name, exc)
                stopped.add(name)

    def _run_location(
        self,
        name: str,
        executor: Executor,
        parallelism: int,
        rate: int,
        cut_offs: tuple[datetime, datetime, bool],
        aip_id: str | None,
        limit_bytes: int | None,
        report: AuditReport,
        progress: Callable[[int], None] | None,
    ) -> None:
        deep_before, quick_before, all_deep = cut_offs
        opener = self._openers[name]
        # An unmounted disk or a wrong bucket or prefix lists nothing: that is the location missing,
        # not every object of it. It must be neither reported object by object nor "repaired".
        store = self._storage.location(name)
        looks_empty = "aips" not in set(store.children(""))
        share = rate / max(1, parallelism)
        ttl = self._policy.claim_ttl
        window = max(2, parallelism * 2)
        held: dict[int, _Work] = {}
        # Every slice claimed and not yet finished: released if this location's run stops early.
        claimed_ids: set[int] = set()
        # A task is a batch to hash, or the survey of a first slice's version.
        pending: dict[Future[Any], tuple[_Work, Batch | Survey]] = {}
        queue: deque[tuple[_Work, Batch | Survey]] = deque()

        def submit() -> None:
            while queue and len(pending) < window:
                work, task = queue.popleft()
                if isinstance(task, Survey):
                    pending[executor.submit(survey_version, task)] = (work, task)
                else:
                    pending[executor.submit(hash_batch, task)] = (work, task)

        def enqueue(work: _Work, rows: list[Expected]) -> None:
            batches = list(self._batches(work.slice.location, rows, opener, share, parallelism))
            work.pending += len(batches)
            queue.extend((work, b) for b in batches)

        read = 0
        exhausted = False
        last_extend = self._clock.now()
        try:
            while True:
                # Claim more when the queue runs low, until nothing is due or the tick's bytes are read.
                if not exhausted and len(queue) < window and (limit_bytes is None or read < limit_bytes):
                    claimed = self._ledger.claim(
                        location=name,
                        holder=self.holder,
                        now=self._clock.now(),
                        ttl=ttl,
                        limit=CLAIM_SLICES,
                        deep_before=deep_before,
                        quick_before=quick_before,
                        aip_id=aip_id,
                    )
                    if not claimed:
                        exhausted = True
                    elif looks_empty:
                        self._ledger.release([sl.id for sl, _ in claimed], self.holder)
                        raise _no_aips(store)
                    claimed_ids.update(sl.id for sl, _ in claimed)
                    for sl, due in claimed:
                        work = _Work(sl, AuditMode.DEEP if all_deep else due)
                        held[sl.id] = work
                        read += sl.bytes
                        if sl.number == 0:
                            # The version's listing and manifests are read by a worker, first.
                            work.pending += 1
                            queue.appendleft((work, self._survey(sl, opener)))
                        work.rows = self._ledger.expected(sl.id, work.mode)
                        enqueue(work, work.rows)
                        if not work.pending:
                            self._finish(work, report)
                            del held[sl.id]
                            claimed_ids.discard(sl.id)
                        submit()
                submit()
                if not pending:
                    if exhausted or (limit_bytes is not None and read >= limit_bytes):
                        self._flush(report)
                        return
                    continue
                done, _ = wait(
                    pending, timeout=max(1.0, ttl.total_seconds() / 4), return_when=FIRST_COMPLETED
                )
                now = self._clock.now()
                if now - last_extend > ttl / 3:
                    self._ledger.extend(list(held), self.holder, now + ttl)
                    last_extend = now
                for future in done:
                    work, task = pending.pop(future)
                    problem = ""
                    try:
                        outcome = future.result()
                    except StorageError:
                        raise
                    except OaisError as exc:
                        problem = str(exc)
                        outcome = None
                    except Exception as exc:
                        # The executor itself failed (a worker process killed, a Dask scheduler
                        # lost): nothing of this location's remaining work can be trusted to run.
                        # The claims are released below and the slices stay due.
                        raise StorageError(
                            f"the audit's workers failed: {type(exc).__name__}: {exc}"
                        ) from exc
                    if isinstance(task, Survey):
                        added = self._surveyed(work, task, outcome, problem)
                        work.listed.update((c.key, c) for c in added)
                        enqueue(work, [c.expected_row() for c in added])
                        submit()
                    elif outcome is None:
                        work.unread += [(e[0], problem) for e in task.objects]
                    else:
                        work.differing += outcome.differing
                        work.bytes += outcome.bytes
                        if progress is not None:
                            progress(outcome.bytes)
                    work.pending -= 1
                    if work.pending == 0:
                        self._finish(work, report)
                        held.pop(work.slice.id, None)
                        claimed_ids.discard(work.slice.id)
                if self._unrecorded and now - self._unrecorded[0][0].when > RECORD_AFTER:
                    self._flush(report)
        finally:
            for future in pending:
                future.cancel()
            # Slices read before a failure are still recorded; if that fails too, their claims
            # expire and they are read again.
            try:
                self._flush(report)
            except OaisError as exc:
                report.unaudited.append(f"location '{name}': audits read but not recorded: {exc}")
            if claimed_ids:
                # Whatever was not finished stays due; give it back now rather than at expiry.
                try:
                    self._ledger.release(sorted(claimed_ids), self.holder)
                except OaisError as exc:
                    log.warning("claims at location '%s' could not be released (they expire): %s", name, exc)

    def _survey(self, sl: Slice, opener: StoreOpener) -> Survey:
        """A first slice's survey: its version's tag files, the payload the catalog does not list
        (the PREMIS file), and the objects under its prefix that nothing lists."""
        return Survey(
            location=sl.location,
            opener=opener,
            prefix=version_prefix(sl.aip_id, sl.version),
            catalogued=self._ledger.version_paths(sl.aip_id, sl.version),
        )

    def _surveyed(
        self, work: _Work, survey: Survey, found: Surveyed | None, problem: str
    ) -> list[ObjectCheck]:
        """Take in a survey's findings (None: it failed, ``problem`` says why): the objects it adds
        to the slice, to be hashed."""
        sl = work.slice
        prefix = survey.prefix
        manifest = prefix + TAG_MANIFEST
        # The tag manifest is read in full; nothing is recorded to compare it with.
        tag_manifest = ObjectCheck(manifest, TAG_MANIFEST, None, None, SHA256, None)
        if found is None:
            # Reported unreadable with the survey's problem (see _finish); not hashed.
            work.listed[manifest] = tag_manifest
            work.unread.append((manifest, problem))
            return []
        added = [
            ObjectCheck(prefix + path, path, None, digest, SHA256, digest)
            for path, digest in [*found.payload.items(), *(found.tags or {}).items()]
        ]
        added.append(tag_manifest)
        work.unexpected = found.unexpected
        still = {key for key, _ in found.unexpected}
        # Only this version's open "unexpected" findings: one small query per first slice, not every
        # open finding of the location.
        known_unexpected = self._ledger.findings(
            location=sl.location, version=(sl.aip_id, sl.version), kind=FindingKind.UNEXPECTED
        )
        work.gone = [f.key for f in known_unexpected if f.key not in still]
        return added

    @staticmethod
    def _batches(
        location: str, rows: list[Expected], opener: StoreOpener, share: float, parallelism: int
    ) -> Iterator[Batch]:
        """Batches for ``rows``: runs of the list, cut by count and bytes."""
        # At least two batches per worker, so that one slice keeps every worker busy.
        most = max(1, min(BATCH_FILES, -(-len(rows) // (2 * parallelism))))
        start = size = 0
        for end, row in enumerate(rows, 1):
            size += row[2] or 0
            if end - start >= most or size >= BATCH_BYTES:
                yield Batch(location, opener, tuple(rows[start:end]), share)
                start, size = end, 0
        if start < len(rows):
            yield Batch(location, opener, tuple(rows[start:]), share)

    def _finish(self, work: _Work, report: AuditReport) -> None:
        """Compare, record the event and the slice's verification."""
        sl = work.slice
        now = self._clock.now()
        findings: list[Finding] = []
        checks = work.listed
        if any(r.key not in checks for r in work.differing) or any(k not in checks for k, _ in work.unread):
            # What a finding names (path, file, digest of record) is read for the slices that have one.
            checks = {**checks, **{c.key: c for c in self._ledger.objects(sl.id, work.mode)}}
        for r in work.differing:
            c = checks[r.key]
            kind, found = verdict(c.expected_row(), r)
            if kind is not None:
                findings.append(self._found(sl, c, kind, found, now))
        for key, problem in work.unread:
            findings.append(self._found(sl, checks[key], FindingKind.UNREADABLE, problem, now))
        bad = {f.key for f in findings}
        whole = [row[0] for row in work.rows if row[0] not in bad]
        whole += [key for key in work.listed if key not in bad]
        for key, size in work.unexpected:
            findings.append(
                Finding(
                    location=sl.location,
                    key=key,
                    kind=FindingKind.UNEXPECTED,
                    aip_id=sl.aip_id,
                    version=sl.version,
                    path=key[len(version_prefix(sl.aip_id, sl.version)) :],
                    found=f"{size} bytes",
                    detected=now,
                )
            )
        findings.sort(key=lambda f: f.key)  # batches finish in any order: report in key order
        files = len(work.rows) + len(work.listed)
        nbytes = work.bytes
        event = self._event(sl, work.mode, files, nbytes, findings, now)
        for f in findings:
            log.warning("fixity: %s", f.line())
        outcome = SliceOutcome(
            slice_id=sl.id,
            mode=work.mode,
            when=now,
            ok=not findings,
            event=event,
            findings=findings,
            whole=[*whole, *work.gone],
        )
        result = SliceResult(
            aip_id=sl.aip_id,
            version=sl.version,
            location=sl.location,
            number=sl.number,
            mode=work.mode,
            files=files,
            bytes=nbytes,
            ok=not findings,
            event=event.event.identifier,
            findings=findings,
        )
        self._unrecorded.append((outcome, result))
        if len(self._unrecorded) >= RECORD_SLICES:
            self._flush(report)

    def _found(
        self, sl: Slice, check: ObjectCheck, kind: FindingKind, found: str | None, now: datetime
    ) -> Finding:
        """A finding about one object of a slice (its digest of record kept for the repair)."""
        self._record_digests[(sl.location, check.key)] = check.record
        return Finding(
            location=sl.location,
            key=check.key,
            kind=kind,
            aip_id=sl.aip_id,
            version=sl.version,
            path=check.path,
            file_id=check.file_id,
            algorithm=check.algorithm,
            expected=check.expected,
            found=found,
            detected=now,
        )

    def _flush(self, report: AuditReport) -> None:
        """Log and record the slices audited since the last flush: one event log segment per
        location and one catalog transaction for all of them."""
        if not self._unrecorded:
            return
        batch, self._unrecorded = self._unrecorded, []
        agents = [self._software]
        segments, failures = self._storage.append_to_logs([o.event for o, _ in batch], agents)
        for failure in failures:
            report.problems.append(f"event log not written: {failure}")
        recorded = self._ledger.record(
            holder=self.holder, outcomes=[o for o, _ in batch], agents=agents, segments=segments
        )
        for outcome, result in batch:
            if outcome.slice_id not in recorded:
                report.problems.append(
                    f"location '{result.location}': the claim on AIP {result.aip_id} v{result.version} "
                    f"slice {result.number} expired before its audit ended; another audit has it"
                )
                result = result.model_copy(update={"event": None})
            report.slices.append(result)

    def _event(
        self, sl: Slice, mode: AuditMode, files: int, nbytes: int, findings: Sequence[Finding], now: datetime
    ) -> LoggedEvent:
        algorithms = "sha256" if mode is AuditMode.DEEP else "xxh3_128 (sha256 where no xxh3_128 is recorded)"
        if sl.of > 1:
            covered = f"slice {sl.number + 1} of {sl.of}: {files} objects" + (
                ", the version's tag files among them" if sl.number == 0 else ""
            )
        else:
            covered = f"{files} objects: every file stored under the version and its tag files"
        detail = (
            f"{mode.value} audit ({algorithms}) of AIP {sl.aip_id} version {sl.version} at location "
            f"'{sl.location}', {covered}, {nbytes} bytes read"
        )
        if findings:
            outcome = Outcome.FAILURE
            shown = "; ".join(_described(f) for f in findings[:DETAIL_FINDINGS])
            more = len(findings) - DETAIL_FINDINGS
            outcome_detail = f"{len(findings)} of {files} objects not as recorded: {shown}" + (
                f"; and {more} more (`oais audit status` lists every open finding)" if more > 0 else ""
            )
        else:
            outcome = Outcome.SUCCESS
            outcome_detail = f"all {files} objects read in full, every digest as recorded"
        objects = [sl.aip_id, f"{sl.aip_id}/v{sl.version}"]
        objects += [f"{sl.aip_id}/v{sl.version}/{f.path}" for f in findings if f.path]
        event = new_event(
            EventType.FIXITY_CHECK,
            now,
            detail,
            outcome,
            outcome_detail,
            [AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM)],
            objects,
            self._policy.reference,
        )
        return LoggedEvent(sl.aip_id, sl.version, event)

    # -- repair ---------------------------------------------------------------------------------

    def _repair(self, report: AuditReport) -> None:
        """Replace every failed object from a location whose copy verifies now."""
        for finding in report.failed:
            if finding.kind is FindingKind.UNEXPECTED or finding.aip_id is None or finding.version is None:
                continue
            record = self._record_digests.pop((finding.location, finding.key), None)
            if record is None:
                continue
            try:
                source = self._repair_one(finding, record)
            except OaisError as exc:
                # A good copy exists but the damaged location could not take it: the finding stays
                # open (a later run repairs it); this is not a file without a good copy.
                report.problems.append(f"repair of {finding.line()} failed: {exc}")
                continue
            if source is None:
                self._ledger.mark_unrecoverable(finding.location, finding.key, True)
                report.unrecoverable.append(finding.model_copy(update={"unrecoverable": True}))
            else:
                report.repaired.append(
                    finding.model_copy(update={"repaired_from": source, "repaired": self._clock.now()})
                )

    def _repair_one(self, finding: Finding, record: str) -> str | None:
        assert finding.aip_id is not None and finding.version is not None
        target = self._storage.location(finding.location)
        for name in self._storage.names():
            if name == finding.location:
                continue
            source = self._storage.location(name)
            with self._storage.scratch.staging() as staging:
                local = staging.path / "object"
                # One read: the copy is hashed as it arrives in scratch space, and used only if it
                # has the sha256 of record.
                try:
                    (got,) = list(source.read([ReadItem(key=finding.key, dest=str(local))]))
                except StorageError as exc:
                    log.warning("repair: location '%s' cannot be read: %s", name, exc)
                    continue
                if got.problem is not None or got.sha256 != record:
                    continue
                # Locked like every other object the storage policy writes.
                for _ in target.write(
                    [WriteItem(key=finding.key, size=got.size, sha256=record, path=str(local), replace=True)],
                    retention=self._storage.policy.retention,
                    now=self._clock.now(),
                ):
                    pass
            (after,) = list(target.hash_objects([finding.key], SHA256))
            if after.problem is not None or after.digest != record:
                raise StorageError(
                    f"location '{finding.location}': {finding.key} still differs after the repair "
                    f"({after.problem or after.digest})"
                )
            now = self._clock.now()
            event = new_event(
                EventType.RECOVERY,
                now,
                f"repair of {finding.path} of AIP {finding.aip_id} version {finding.version} at location "
                f"'{finding.location}' ({finding.kind.value}) from the copy at location '{name}'",
                Outcome.SUCCESS,
                f"the copy at '{name}' had the sha256 of record {record}; the replaced object at "
                f"'{finding.location}' was read again and has it too",
                [AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM)],
                [
                    finding.aip_id,
                    f"{finding.aip_id}/v{finding.version}",
                    f"{finding.aip_id}/v{finding.version}/{finding.path}",
                ],
                self._policy.reference,
            )
            logged = LoggedEvent(finding.aip_id, finding.version, event)
            segments, failures = self._storage.append_to_logs([logged], [self._software])
            for failure in failures:
                log.warning("event log not written: %s", failure)
            self._ledger.record_repair(
                location=finding.location,
                key=finding.key,
                source=name,
                when=now,
                event=logged,
                agents=[self._software],
                segments=segments,
            )
            log.info("repaired %s from location '%s'", finding.line(), name)
            return name
        return None

    # -- sweeps ---------------------------------------------------------------------------------

    def _start_sweeps(self, names: Sequence[str], force: bool) -> dict[str, Future[list[Finding]]]:
        """Claim the sweeps due at ``names`` (every one with ``force``) and start listing them, one
        location after another, in a thread of their own."""
        now = self._clock.now()
        due_before = None if force else now - timedelta(hours=self._policy.sweep_hours)
        claimed = [
            name
            for name in names
            if self._ledger.claim_sweep(name, self.holder, now, due_before, self._policy.claim_ttl)
        ]
        if not claimed:
            return {}
        lister = ThreadPoolExecutor(1, thread_name_prefix="audit-sweep")
        try:
            return {name: lister.submit(self.sweep_location, name) for name in claimed}
        finally:
            lister.shutdown(wait=False)

    def _finish_sweeps(
        self, sweeps: dict[str, Future[list[Finding]]], stopped: set[str], report: AuditReport
    ) -> None:
        """Wait for the sweeps and record them; a location whose audit stopped (already reported)
        or whose sweep failed keeps its sweep due."""
        for name, sweep in sweeps.items():
            try:
                found = sweep.result()
            except OaisError as exc:
                found = None
                if name not in stopped:
                    report.unaudited.append(f"location '{name}': sweep failed: {exc}")
            if found is None or name in stopped:
                self._ledger.release_sweep(name, self.holder)
                continue
            self._ledger.finish_sweep(name, self.holder, self._clock.now(), found)
            report.unexpected += found

    def sweep_location(self, name: str) -> list[Finding]:
        """List ``name`` for objects outside every stored version and the event log (nothing is
        recorded here).

        Returns:
            One finding per unknown top-level object or folder, unknown AIP or unknown version.
        """
        store = self._storage.location(name)
        now = self._clock.now()
        held: dict[str, set[str]] = {}
        for aip, version, _copy in self._storage.copies_at(name):
            held.setdefault(aip, set()).add(f"v{version}")
        out: list[Finding] = []

        def unknown(path: str) -> None:
            # The object ``path`` and those below ``path/``: not "aips/a/v10" for "aips/a/v1".
            objects = [o for o in store.list(path) if o.key == path or o.key.startswith(path + "/")]
            below = any(o.key != path for o in objects)
            out.append(
                Finding(
                    location=name,
                    key=path + "/" if below else path,
                    kind=FindingKind.UNEXPECTED,
                    found=f"{len(objects)} objects, {sum(o.size for o in objects)} bytes",
                    detected=now,
                )
            )

        tops = list(store.children(""))
        if held and "aips" not in tops:
            raise _no_aips(store)
        for top in tops:
            if top in ("aips", EVENTS.strip("/")):
                continue
            unknown(top)  # an object or a folder of objects beside aips/ and events/
        withdrawn = self._storage.withdrawn()
        for aip in store.children("aips/"):
            if aip not in held:
                request = withdrawn.get(aip)
                if request is None:
                    unknown(f"aips/{aip}")
                elif request.status is RequestStatus.EXECUTED:
                    # A deaccessioned AIP leaves its tombstone and nothing else.
                    for child in store.children(f"aips/{aip}/"):
                        if child != TOMBSTONE:
                            unknown(f"aips/{aip}/{child}")
                # else: its approved deletion is under way (or must be finished by `deaccession run`).
                continue
            for v in store.children(f"aips/{aip}/"):
                if v not in held[aip]:
                    unknown(f"aips/{aip}/{v}")
        return out

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> AuditStatus:
        """Coverage per location and every open finding (those with no good copy left first)."""
        self._ledger.make_slices()
        now = self._clock.now()
        return AuditStatus(
            policy=self._policy.reference,
            now=now,
            cycle_days=self._policy.cycle_days,
            locations=self._ledger.coverage(self._policy, now, self._storage.names()),
            findings=self._ledger.findings(),
        )

    def file_checks(
        self, aip_id: str, version: int
    ) -> list[tuple[str, str, datetime | None, str | None, str]]:
        """Each file copy's last verification (location, bag path, time, mode, outcome)."""
        return self._ledger.file_checks(aip_id, version)


def _described(f: Finding) -> str:
    """One finding in an event's outcome detail: what was expected, what was found."""
    what = f"{f.path or f.key}: {f.kind.value}"
    if f.kind is FindingKind.UNEXPECTED:
        return f"{what} ({f.found}, listed by no manifest)"
    found = f.found or "nothing"
    if f.expected is None:
        return f"{what} (nothing recorded to compare with, found {found})"
    algorithm = f"{f.algorithm.value} " if f.algorithm else ""
    return f"{what} (expected {algorithm}{f.expected}, found {found})"


def _no_aips(store: ObjectStore) -> StorageError:
    """An unmounted disk, or a wrong bucket or prefix, lists nothing: that is the location missing,
    not every object of it."""
    return StorageError(
        f"{store.locate('aips')}: no such folder, yet the catalog has copies at this location (a disk "
        "not mounted, or the wrong bucket or prefix?): nothing was audited there"
    )


def _at(name: str, exc: OaisError) -> str:
    """``exc`` as a line that names the location ``name`` once (storage errors mostly name it)."""
    said = str(exc)
    return said if said.startswith(f"location '{name}'") else f"location '{name}': {said}"
