"""The audit ledger on SQLAlchemy: slices, claims, findings, sweeps and coverage.

Claims are rows, not locks held open: a daemon marks the slices it takes with its name and an expiry
in one short transaction, and nothing else takes them until they are released, recorded or expired.
On PostgreSQL the selection uses ``FOR UPDATE SKIP LOCKED``, so that several daemons claiming at the
same moment each get different slices without waiting; SQLite serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ColumnElement

from oais.adapters.catalog.repository import SqlAipRepository
from oais.adapters.catalog.rows import (
    NEVER,
    AipVersionRow,
    AuditFindingRow,
    AuditSliceRow,
    AuditSweepRow,
    FileRow,
    UtcDateTime,
    table,
)
from oais.domain.audit import (
    SLICE_BYTES,
    SLICE_FILES,
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
from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.premis import Agent, LoggedEvent
from oais.domain.storage import Segment

_S = table(AuditSliceRow)
_SHA256 = DigestAlgorithm.SHA256
_XXH3 = DigestAlgorithm.XXH3_128
_F = table(AuditFindingRow)

# Slices for every copy that has none: each version's own files (not those it reuses from an earlier
# version) in id order, cut whenever SLICE_FILES files or SLICE_BYTES bytes are reached; a version
# without own files still gets slice 0, which covers its tag files.
_MAKE_SLICES = """
INSERT INTO audit_slices (version_id, location, number, first_file, last_file, files, bytes,
                          checked, deep_checked)
SELECT c.version_id, c.location, COALESCE(g.number, 0), g.first_file, g.last_file,
       COALESCE(g.files, 0), COALESCE(g.bytes, 0), :never, :never
FROM copies c
LEFT JOIN (
    SELECT version_id, number, MIN(id) AS first_file, MAX(id) AS last_file,
           COUNT(*) AS files, SUM(size) AS bytes
    FROM (
        SELECT id, version_id, size,
               DENSE_RANK() OVER (PARTITION BY version_id ORDER BY by_count, by_bytes) - 1 AS number
        FROM (
            SELECT f.id, f.version_id, f.size,
                   (ROW_NUMBER() OVER w - 1) / :slice_files AS by_count,
                   CAST(SUM(f.size) OVER w - f.size AS BIGINT) / :slice_bytes AS by_bytes
            FROM files f
            WHERE f.stored_version IS NULL
              AND f.version_id IN (
                  SELECT c2.version_id FROM copies c2
                  WHERE NOT EXISTS (SELECT 1 FROM audit_slices s
                                    WHERE s.version_id = c2.version_id AND s.location = c2.location))
            WINDOW w AS (PARTITION BY f.version_id ORDER BY f.id)
        ) ranked
    ) numbered
    GROUP BY version_id, number
) g ON g.version_id = c.version_id
WHERE NOT EXISTS (SELECT 1 FROM audit_slices s
                  WHERE s.version_id = c.version_id AND s.location = c.location)
"""
# NEVER stored as every other time is (naive UTC text on SQLite), not as the driver would render it.
_MAKE_SLICES_STATEMENT = text(_MAKE_SLICES).bindparams(bindparam("never", type_=UtcDateTime()))


def _when(value: datetime) -> datetime | None:
    return None if value <= NEVER else value


class SqlAuditLedger:
    """:class:`~oais.domain.ports.AuditLedger` on the catalog database."""

    def __init__(self, engine: Engine) -> None:
        """Use the catalog's engine (its schema migrated to head)."""
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _session(self, what: str) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise CatalogError(f"cannot {what}: {_one_line(exc)}") from exc
        finally:
            session.close()

    # -- slices and claims ----------------------------------------------------------------------

    def make_slices(self) -> int:
        """Cut every copy without slices into slices (new copies, copies from before audits).

        Returns:
            How many slices were made.
        """
        with self._session("make audit slices") as session:
            result = session.execute(
                _MAKE_SLICES_STATEMENT,
                {"never": NEVER, "slice_files": SLICE_FILES, "slice_bytes": SLICE_BYTES},
            )
            return int(getattr(result, "rowcount", 0) or 0)

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
    ) -> list[tuple[Slice, AuditMode]]:
        """Claim up to ``limit`` slices at ``location`` that are due, oldest verification first.

        Slices whose deep audit is older than ``deep_before`` come first (deep); then those whose
        last verification of either mode is older than ``quick_before`` (quick). A None cut-off
        claims nothing for that mode. With ``aip_id`` only that AIP's slices.

        Returns:
            The slices claimed, each with the mode it is due for.
        """
        out: list[tuple[Slice, AuditMode]] = []
        with self._session(f"claim audit work at location '{location}'") as session:
            for mode, column, before in (
                (AuditMode.DEEP, _S.c.deep_checked, deep_before),
                (AuditMode.QUICK, _S.c.checked, quick_before),
            ):
                want = limit - len(out)
                if want <= 0:
                    break
                if before is None:
                    continue
                free = or_(_S.c.claim_expires.is_(None), _S.c.claim_expires < now)
                conditions = [_S.c.location == location, free]
                conditions.append(column < before)
                if aip_id is not None:
                    conditions.append(
                        _S.c.version_id.in_(select(AipVersionRow.id).where(AipVersionRow.aip_id == aip_id))
                    )
                chosen = select(_S.c.id).where(*conditions).order_by(column, _S.c.id).limit(want)
                if session.get_bind().dialect.name == "postgresql":
                    chosen = chosen.with_for_update(skip_locked=True)
                ids = list(session.execute(chosen).scalars())
                if not ids:
                    continue
                # The update asks again whether each slice is free: on SQLite the selection above
                # locks nothing, and another holder may have taken some of them meanwhile.
                taken = set(
                    session.execute(
                        update(_S)
                        .where(_S.c.id.in_(ids), free)
                        .values(claimed_by=holder, claim_expires=now + ttl)
                        .returning(_S.c.id)
                        .execution_options(synchronize_session=False)
                    ).scalars()
                )
                out += [(s, mode) for s in self._slices(session, [i for i in ids if i in taken])]
        return out

    def _slices(self, session: Session, ids: Sequence[int]) -> list[Slice]:
        if not ids:
            return []
        v = table(AipVersionRow)
        siblings = _S.alias("siblings")
        of = (
            select(func.count())
            .where(siblings.c.version_id == _S.c.version_id, siblings.c.location == _S.c.location)
            .scalar_subquery()
        )
        rows = session.execute(
            select(
                _S.c.id,
                v.c.aip_id,
                v.c.version,
                _S.c.location,
                _S.c.number,
                _S.c.files,
                _S.c.bytes,
                _S.c.checked,
                _S.c.deep_checked,
                of.label("of"),
            )
            .join(v, v.c.id == _S.c.version_id)
            .where(_S.c.id.in_(ids))
        )
        by_id = {
            r.id: Slice(
                id=r.id,
                aip_id=r.aip_id,
                version=r.version,
                location=r.location,
                number=r.number,
                files=r.files,
                bytes=r.bytes,
                checked=_when(r.checked),
                deep_checked=_when(r.deep_checked),
                of=r.of,
            )
            for r in rows
        }
        return [by_id[i] for i in ids]

    def expected(self, slice_id: int, mode: AuditMode) -> list[Expected]:
        """What a worker compares each file of a slice with, in id order: (key, algorithm, size,
        digest) as the driver returns them, built by the database (no Python per file: a slice
        of 10,000 files is one fetch of plain tuples)."""
        f = table(FileRow)
        with self._session("read a slice's files") as session:
            head = self._slice_head(session, slice_id)
            if head is None:
                return []
            key = literal(head.location.rstrip("/") + "/") + _bag_path(f)
            if mode is AuditMode.QUICK:
                # The fast digest where the file has one, sha256 where it has not.
                algorithm: Any = case((f.c.xxh3_128.is_(None), _SHA256.value), else_=_XXH3.value)
                digest: Any = func.coalesce(f.c.xxh3_128, f.c.sha256)
            else:
                algorithm, digest = literal(_SHA256.value), f.c.sha256
            query = select(key, algorithm, f.c.size, digest).where(*_slice_files(f, head)).order_by(f.c.id)
            return _plain_rows(session, query)

    def objects(self, slice_id: int, mode: AuditMode) -> list[ObjectCheck]:
        """The files a slice covers, each with the digest ``mode`` checks (sha256 where a file has no
        fast digest), in id order, with what a finding names (read only for a slice with findings).

        Returns:
            One check per file; ``key`` is the object's key in any location.
        """
        f = table(FileRow)
        with self._session("read a slice's files") as session:
            head = self._slice_head(session, slice_id)
            if head is None:
                return []
            prefix = head.location.rstrip("/") + "/"
            rows = session.execute(
                select(f.c.id, _bag_path(f), f.c.size, f.c.sha256, f.c.xxh3_128)
                .where(*_slice_files(f, head))
                .order_by(f.c.id)
            ).all()
        quick = mode is AuditMode.QUICK
        return [
            ObjectCheck(prefix + path, path, size, xxh3, _XXH3, sha256, file_id)
            if quick and xxh3 is not None
            else ObjectCheck(prefix + path, path, size, sha256, _SHA256, sha256, file_id)
            for file_id, path, size, sha256, xxh3 in rows
        ]

    @staticmethod
    def _slice_head(session: Session, slice_id: int) -> Any:
        """A slice's file range, version and location; None if it covers no file (tag files only)."""
        v = table(AipVersionRow)
        head = session.execute(
            select(_S.c.first_file, _S.c.last_file, _S.c.version_id, v.c.location)
            .join(v, v.c.id == _S.c.version_id)
            .where(_S.c.id == slice_id)
        ).one_or_none()
        if head is None:
            raise CatalogError(f"no audit slice {slice_id}")
        return None if head.first_file is None else head

    def version_paths(self, aip_id: str, version: int) -> str:
        """The bag path of every file the catalog lists for a version (reused ones included), as
        one JSON array built by the database."""
        v = table(AipVersionRow)
        f = table(FileRow)
        with self._session(f"read the files of AIP {aip_id} version {version}") as session:
            path = _bag_path(f)
            if session.get_bind().dialect.name == "postgresql":
                packed: Any = func.coalesce(cast(func.json_agg(path), Text), "[]")
            else:
                packed = func.json_group_array(path)
            query = select(packed).join(v, v.c.id == f.c.version_id)
            query = query.where(v.c.aip_id == aip_id, v.c.version == version)
            return str(session.execute(query).scalar_one())

    def extend(self, slice_ids: Sequence[int], holder: str, until: datetime) -> None:
        """Push back the expiry of claims still held by ``holder``."""
        if not slice_ids:
            return
        with self._session("extend audit claims") as session:
            session.execute(
                update(_S)
                .where(_S.c.id.in_(slice_ids), _S.c.claimed_by == holder)
                .values(claim_expires=until)
                .execution_options(synchronize_session=False)
            )

    def release(self, slice_ids: Sequence[int], holder: str) -> None:
        """Give back claims not worked on (their slices stay due)."""
        if not slice_ids:
            return
        with self._session("release audit claims") as session:
            session.execute(
                update(_S)
                .where(_S.c.id.in_(slice_ids), _S.c.claimed_by == holder)
                .values(claimed_by=None, claim_expires=None)
                .execution_options(synchronize_session=False)
            )

    # -- outcomes -------------------------------------------------------------------------------

    def record(
        self,
        *,
        holder: str,
        outcomes: Sequence[SliceOutcome],
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> set[int]:
        """Record audited slices in one transaction: their events, the event log segments that hold
        them, each slice's verification, new findings, and findings resolved because the object was
        found whole.

        Args:
            holder: who claimed the slices; a slice whose claim was lost (it expired and another
                took it) is not recorded.
            outcomes: what each slice's audit found.
            agents: the agents the events name.
            segments: event log segments that hold the events.

        Returns:
            The slices recorded.

        Raises:
            CatalogError: the database failed; nothing is recorded.
        """
        recorded: set[int] = set()
        # Open findings per location, read once per call (they are rare) and kept up to date here.
        open_keys: dict[str, set[str]] = {}
        with self._session(f"record the audit of {len(outcomes)} slices") as session:
            repository = SqlAipRepository(session)
            for o in outcomes:
                values: dict[str, Any] = {
                    "checked": o.when,
                    "outcome": "ok" if o.ok else "failed",
                    "event_id": o.event.event.identifier,
                    "claimed_by": None,
                    "claim_expires": None,
                }
                if o.mode is AuditMode.DEEP:
                    values["deep_checked"] = o.when
                # The claim is checked by the update that ends it, before anything else is written:
                # it takes the row's write lock (on SQLite the database's), so a claim cannot be
                # taken over between the check and the recording.
                location = session.execute(
                    update(_S)
                    .where(_S.c.id == o.slice_id, _S.c.claimed_by == holder)
                    .values(**values)
                    .returning(_S.c.location)
                ).scalar_one_or_none()
                if location is None:
                    continue
                recorded.add(o.slice_id)
                repository.add_events(o.event.aip_id, o.event.version, [o.event.event], agents)
                self._add_findings(session, o.findings, o.event.event.identifier)
                if location in open_keys:
                    open_keys[location].update(f.key for f in o.findings)
                if o.whole:
                    if location not in open_keys:
                        open_keys[location] = self._open_keys(session, location)
                    self._resolve(
                        session, location, o.whole, open_keys[location], o.when, o.event.event.identifier
                    )
            for segment in segments:
                repository.add_segment(segment)
        return recorded

    def _add_findings(self, session: Session, findings: Sequence[Finding], event_id: str | None) -> None:
        for finding in findings:
            open_row = session.execute(
                select(_F.c.id).where(
                    _F.c.location == finding.location, _F.c.key == finding.key, _F.c.resolved.is_(None)
                )
            ).first()
            if open_row is not None:
                session.execute(
                    update(_F)
                    .where(_F.c.id == open_row.id)
                    .values(
                        kind=finding.kind.value,
                        # What this audit compared, in its own algorithm (a quick audit then a deep
                        # one find the same damage in two digests).
                        algorithm=finding.algorithm.value if finding.algorithm else None,
                        expected=finding.expected,
                        found=finding.found,
                        last_seen=finding.detected,
                        unrecoverable=finding.unrecoverable,
                    )
                )
                continue
            session.execute(
                _F.insert().values(
                    location=finding.location,
                    key=finding.key,
                    kind=finding.kind.value,
                    aip_id=finding.aip_id,
                    version=finding.version,
                    path=finding.path,
                    file_id=finding.file_id,
                    algorithm=finding.algorithm.value if finding.algorithm else None,
                    expected=finding.expected,
                    found=finding.found,
                    detected=finding.detected,
                    last_seen=finding.detected,
                    event_id=event_id,
                    unrecoverable=finding.unrecoverable,
                )
            )

    def _open_keys(self, session: Session, location: str) -> set[str]:
        """The keys of the open findings at ``location`` (rare: one query, not one per key)."""
        return set(
            session.execute(
                select(_F.c.key).where(_F.c.location == location, _F.c.resolved.is_(None))
            ).scalars()
        )

    def _resolve(
        self,
        session: Session,
        location: str,
        keys: Sequence[str],
        open_keys: set[str],
        when: datetime,
        event_id: str,
    ) -> None:
        """Close the open findings of ``keys`` (found whole); ``open_keys`` loses them."""
        if not open_keys:  # the usual case: no need to look at a slice's every key
            return
        found = [k for k in keys if k in open_keys]
        if found:
            open_keys.difference_update(found)
            session.execute(
                update(_F)
                .where(_F.c.location == location, _F.c.key.in_(found), _F.c.resolved.is_(None))
                .values(resolved=when, resolution_event=event_id)
                .execution_options(synchronize_session=False)
            )

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
        """Record that the object ``key`` at ``location`` was replaced from ``source`` and verified.

        Raises:
            CatalogError: the database failed; nothing is recorded.
        """
        with self._session(f"record the repair of {key} at location '{location}'") as session:
            repository = SqlAipRepository(session)
            repository.add_events(event.aip_id, event.version, [event.event], agents)
            for segment in segments:
                repository.add_segment(segment)
            session.execute(
                update(_F)
                .where(_F.c.location == location, _F.c.key == key, _F.c.resolved.is_(None))
                .values(
                    resolved=when,
                    repaired_from=source,
                    resolution_event=event.event.identifier,
                    unrecoverable=False,
                )
            )

    def mark_unrecoverable(self, location: str, key: str, unrecoverable: bool) -> None:
        """Say whether an open finding has no good copy left anywhere."""
        with self._session(f"mark {key} at location '{location}'") as session:
            session.execute(
                update(_F)
                .where(_F.c.location == location, _F.c.key == key, _F.c.resolved.is_(None))
                .values(unrecoverable=unrecoverable)
            )

    def findings(
        self,
        *,
        open_only: bool = True,
        location: str | None = None,
        version: tuple[str, int] | None = None,
        kind: FindingKind | None = None,
    ) -> list[Finding]:
        """Findings, unrecoverable first, then by location and key; only those of ``location``,
        of one AIP ``version`` (AIP id, version) and of one ``kind`` if given."""
        conditions: list[ColumnElement[bool]] = []
        if open_only:
            conditions.append(_F.c.resolved.is_(None))
        if location is not None:
            conditions.append(_F.c.location == location)
        if version is not None:
            conditions += [_F.c.aip_id == version[0], _F.c.version == version[1]]
        if kind is not None:
            conditions.append(_F.c.kind == kind.value)
        with self._session("read audit findings") as session:
            rows = session.execute(
                select(_F)
                .where(*conditions)
                .order_by(_F.c.unrecoverable.desc(), _F.c.location, _F.c.key, _F.c.id)
            ).all()
        return [
            Finding(
                location=r.location,
                key=r.key,
                kind=FindingKind(r.kind),
                aip_id=r.aip_id,
                version=r.version,
                path=r.path,
                file_id=r.file_id,
                algorithm=DigestAlgorithm(r.algorithm) if r.algorithm else None,
                expected=r.expected,
                found=r.found,
                detected=r.detected,
                repaired=r.resolved if r.repaired_from else None,
                repaired_from=r.repaired_from,
                unrecoverable=r.unrecoverable,
            )
            for r in rows
        ]

    # -- sweeps ---------------------------------------------------------------------------------

    def claim_sweep(
        self, location: str, holder: str, now: datetime, due_before: datetime | None, ttl: timedelta
    ) -> bool:
        """Claim the full listing of ``location`` if it was last swept before ``due_before`` (None:
        whenever nobody else is sweeping it)."""
        sw = table(AuditSweepRow)
        with self._session(f"claim the sweep of location '{location}'") as session:
            query = select(sw.c.swept, sw.c.claimed_by, sw.c.claim_expires).where(sw.c.location == location)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            row = session.execute(query).one_or_none()
            if row is None:
                session.execute(
                    sw.insert().values(
                        location=location, swept=NEVER, claimed_by=holder, claim_expires=now + ttl
                    )
                )
                return True
            if row.claimed_by is not None and row.claim_expires is not None and row.claim_expires >= now:
                return False
            if due_before is not None and row.swept >= due_before:
                return False
            session.execute(
                update(sw).where(sw.c.location == location).values(claimed_by=holder, claim_expires=now + ttl)
            )
            return True

    def release_sweep(self, location: str, holder: str) -> None:
        """Give back a sweep that failed (it stays due)."""
        sw = table(AuditSweepRow)
        with self._session(f"release the sweep of location '{location}'") as session:
            session.execute(
                update(sw)
                .where(sw.c.location == location, sw.c.claimed_by == holder)
                .values(claimed_by=None, claim_expires=None)
            )

    def finish_sweep(self, location: str, holder: str, when: datetime, findings: Sequence[Finding]) -> None:
        """Record a sweep: its findings (objects no AIP lists) and its time."""
        sw = table(AuditSweepRow)
        with self._session(f"record the sweep of location '{location}'") as session:
            self._add_findings(session, findings, None)
            listed = {f.key for f in findings}
            gone = [
                k
                for k in session.execute(
                    select(_F.c.key).where(
                        _F.c.location == location,
                        _F.c.kind == FindingKind.UNEXPECTED.value,
                        _F.c.aip_id.is_(None),
                        _F.c.resolved.is_(None),
                    )
                ).scalars()
                if k not in listed
            ]
            if gone:
                session.execute(
                    update(_F)
                    .where(_F.c.location == location, _F.c.key.in_(gone), _F.c.aip_id.is_(None))
                    .values(resolved=when)
                    .execution_options(synchronize_session=False)
                )
            session.execute(
                update(sw)
                .where(sw.c.location == location, sw.c.claimed_by == holder)
                .values(swept=when, claimed_by=None, claim_expires=None)
            )

    # -- coverage -------------------------------------------------------------------------------

    def coverage(
        self, policy: AuditPolicy, now: datetime, locations: Sequence[str]
    ) -> list[LocationCoverage]:
        """Per location: how much was verified within the cycle, the oldest verification, the
        backlog and the read rate the schedule needs."""
        cycle_start = now - policy.cycle
        deep_before = now - policy.deep.interval
        quick_before = now - policy.quick.interval
        due = or_(_S.c.deep_checked < deep_before, _S.c.checked < quick_before)
        with self._session("read audit coverage") as session:
            rows = {
                r.location: r
                for r in session.execute(
                    select(
                        _S.c.location,
                        func.count().label("slices"),
                        func.coalesce(func.sum(_S.c.files), 0).label("files"),
                        func.coalesce(func.sum(_S.c.bytes), 0).label("bytes"),
                        func.coalesce(
                            func.sum(case((_S.c.checked >= cycle_start, _S.c.files), else_=0)), 0
                        ).label("verified"),
                        func.coalesce(
                            func.sum(case((_S.c.deep_checked >= cycle_start, _S.c.files), else_=0)), 0
                        ).label("deep"),
                        func.min(_S.c.checked).label("oldest"),
                        func.coalesce(func.sum(case((_S.c.checked <= NEVER, _S.c.files), else_=0)), 0).label(
                            "never"
                        ),
                        func.coalesce(func.sum(case((due, _S.c.files), else_=0)), 0).label("backlog_files"),
                        func.coalesce(func.sum(case((due, _S.c.bytes), else_=0)), 0).label("backlog_bytes"),
                    ).group_by(_S.c.location)
                )
            }
            open_by_location: dict[str, tuple[int, int, int]] = {
                r.location: (int(r.open), int(r.lost or 0), int(r.files or 0))
                for r in session.execute(
                    select(
                        _F.c.location,
                        func.count().label("open"),
                        func.sum(case((_F.c.unrecoverable, 1), else_=0)).label("lost"),
                        func.sum(case((_F.c.file_id.is_not(None), 1), else_=0)).label("files"),
                    )
                    .where(_F.c.resolved.is_(None))
                    .group_by(_F.c.location)
                )
            }
        out = []
        for name in [*locations, *sorted(set(rows) - set(locations))]:
            r = rows.get(name)
            # A file found wrong and not yet repaired does not count as verified.
            open_count, lost, bad_files = open_by_location.get(name, (0, 0, 0))
            total_bytes = int(r.bytes) if r else 0
            out.append(
                LocationCoverage(
                    location=name,
                    slices=int(r.slices) if r else 0,
                    files=int(r.files) if r else 0,
                    bytes=total_bytes,
                    verified_files=max(0, int(r.verified) - bad_files) if r else 0,
                    deep_files=int(r.deep) if r else 0,
                    oldest=_when(r.oldest) if r and r.oldest is not None else None,
                    never=int(r.never) if r else 0,
                    backlog_files=int(r.backlog_files) if r else 0,
                    backlog_bytes=int(r.backlog_bytes) if r else 0,
                    needed_rate=policy.needed_rate(total_bytes),
                    budget=policy.budget.of(name),
                    open_findings=open_count,
                    unrecoverable=lost,
                )
            )
        return out

    def file_checks(
        self, aip_id: str, version: int
    ) -> list[tuple[str, str, datetime | None, str | None, str]]:
        """Each file copy's last verification: (location, bag path, time, mode, outcome).

        The time and mode are those of the file's slice; the outcome is the open finding's kind where
        one names the file, "ok" where the slice was verified, "never" where it was not.
        """
        v = table(AipVersionRow)
        f = table(FileRow)
        with self._session(f"read the verification of AIP {aip_id} version {version}") as session:
            rows = session.execute(
                select(
                    _S.c.location,
                    f.c.path,
                    f.c.stored_path,
                    _S.c.checked,
                    _S.c.deep_checked,
                    v.c.location.label("prefix"),
                )
                .select_from(_S)
                .join(v, v.c.id == _S.c.version_id)
                .join(
                    f,
                    and_(
                        f.c.version_id == _S.c.version_id,
                        f.c.id.between(_S.c.first_file, _S.c.last_file),
                        f.c.stored_version.is_(None),
                    ),
                )
                .where(v.c.aip_id == aip_id, v.c.version == version)
                .order_by(_S.c.location, f.c.id)
            ).all()
            bad = {
                (r.location, r.key): r.kind
                for r in session.execute(
                    select(_F.c.location, _F.c.key, _F.c.kind).where(
                        _F.c.aip_id == aip_id, _F.c.version == version, _F.c.resolved.is_(None)
                    )
                )
            }
        out = []
        for r in rows:
            bag_path = r.stored_path or f"data/objects/{r.path}"
            checked = _when(r.checked)
            mode = None if checked is None else ("deep" if r.deep_checked == r.checked else "quick")
            key = r.prefix.rstrip("/") + "/" + bag_path
            outcome = bad.get((r.location, key)) or ("ok" if checked else "never")
            out.append((r.location, bag_path, checked, mode, outcome))
        return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n")[0].split())


def _slice_files(f: Any, head: Any) -> tuple[ColumnElement[bool], ...]:
    """The files of a slice whose head is ``head`` (see ``_slice_head``)."""
    return (
        # "+ 0": SQLite would otherwise read the version's every file through the (version_id, path)
        # index and sort them; the id range is the slice.
        f.c.version_id + 0 == head.version_id,
        f.c.id.between(head.first_file, head.last_file),
        f.c.stored_version.is_(None),
    )


def _plain_rows(session: Session, query: Any) -> list[Any]:
    """The rows of ``query`` as the driver's own tuples: no SQLAlchemy row object per row, which
    would cost more than the fetch and pickle into far more bytes for a worker."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.params
    args: Any = tuple(params[name] for name in compiled.positiontup) if compiled.positional else params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _bag_path(f: Any) -> Any:
    """A file's path in its bag, built by the database (no Python per row for 100,000 files)."""
    return func.coalesce(f.c.stored_path, literal("data/objects/") + f.c.path)
