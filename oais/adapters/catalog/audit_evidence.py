"""Evidence for the NDSA self-assessment and the audit report, counted in the catalog database.

Every figure is one SQL aggregate, and every list a bounded selection by period on an indexed time
(``events.date_time``, ``audit_findings.resolved``, ``action_log.started``), so that a report over a
billion files reads no file row and a few rows of events: nothing is loaded row by row into Python
to be counted there. The lists (failures, repairs, deletions) are short in a healthy archive and cut
at ``limit``; their totals are counted apart.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, case, exists, func, literal, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import ColumnElement

from oais.adapters.catalog.admin_rows import ActionRow, DeaccessionRequestRow, TombstoneRow
from oais.adapters.catalog.rows import (
    AgentRow,
    AipRow,
    AipVersionRow,
    AuditFindingRow,
    AuditSliceRow,
    CopyRow,
    EventAgentRow,
    EventRow,
    FileDigestRow,
    FileRow,
    SegmentRow,
    table,
)
from oais.adapters.catalog.tokens import ApiAccessRow, ApiTokenRow
from oais.domain.audit_trail import (
    Acting,
    ActionCount,
    AuditTrail,
    Deletion,
    FailedCheck,
    Failure,
    Repair,
    TypeCount,
)
from oais.domain.errors import CatalogError
from oais.domain.ndsa import CatalogFacts, EventCount, HolderSet, LocationHoldings, Window

if TYPE_CHECKING:
    from oais.domain.ports import AuditEvidence

_V = table(AipVersionRow)
_A = table(AipRow)
_C = table(CopyRow)
_F = table(FileRow)
_D = table(FileDigestRow)
_E = table(EventRow)
_EA = table(EventAgentRow)
_AG = table(AgentRow)
_S = table(AuditSliceRow)
_FI = table(AuditFindingRow)
_SEG = table(SegmentRow)
_ACT = table(ActionRow)
_DR = table(DeaccessionRequestRow)
_TS = table(TombstoneRow)
_TOK = table(ApiTokenRow)
_ACC = table(ApiAccessRow)

FIXITY = "fixity check"
#: Digests strong enough to be a digest of record (a file without sha256 has one of these).
_RECORD_ALGORITHMS = ("sha512", "sha384", "sha3_256", "sha3_512", "blake2b")
#: Actions that verify or repair copies, by the action log's names: the entry running at the time
#: of a fixity event says who ran it.
FIXITY_ACTIONS = ("audit run", "daemon", "audit tick", "storage verify")
#: The action that makes the audit report (its entries show the logs are reviewed).
REVIEW_ACTION = "report audit"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n")[0].split())


def _int(value: Any) -> int:
    return int(value or 0)


def _sum_if(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _withdrawn(aip_id: Any) -> ColumnElement[bool]:
    """The AIP is deaccessioned, or its deaccession began (the catalog then keeps no copy of it)."""
    return or_(
        exists().where(_TS.c.aip_id == aip_id),
        exists().where(
            _DR.c.aip_id == aip_id,
            or_(_DR.c.status == "executed", and_(_DR.c.status == "approved", _DR.c.started.is_not(None))),
        ),
    )


def _live_versions() -> ColumnElement[bool]:
    """Versions of AIPs not withdrawn."""
    return ~_withdrawn(_V.c.aip_id)


class SqlAuditEvidence:
    """:class:`~oais.domain.ports.AuditEvidence` on the catalog database (its schema migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        """Use the catalog's engine."""
        self.engine = engine

    @contextmanager
    def _connection(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot {what}: {_one_line(exc)}") from exc

    # -- NDSA -----------------------------------------------------------------------------------

    def catalog_facts(
        self,
        locations: Sequence[str],
        now: datetime,
        windows: Sequence[tuple[datetime, datetime]],
        review_period: timedelta,
    ) -> CatalogFacts:
        """What the NDSA self-assessment counts (:meth:`~oais.domain.ports.AuditEvidence.catalog_facts`).

        Raises:
            CatalogError: the database failed.
        """
        with self._connection("count the holdings for the NDSA self-assessment") as db:
            aips = db.execute(
                select(
                    func.count(),
                    _sum_if(and_(_A.c.metadata.is_not(None), ~_withdrawn(_A.c.id))),
                    _sum_if(_withdrawn(_A.c.id)),
                )
            ).one()
            versions = _int(db.execute(select(func.count()).select_from(_V).where(_live_versions())).scalar())
            holder_sets = self._holder_sets(db, locations)
            holdings = self._holdings(db)
            first_copy = db.execute(select(func.min(_C.c.stored))).scalar()
            files = self._files(db)
            events = [
                EventCount(type=t, outcome=o, count=n)
                for t, o, n in db.execute(
                    select(_E.c.type, _E.c.outcome, func.count())
                    .group_by(_E.c.type, _E.c.outcome)
                    .order_by(_E.c.type, _E.c.outcome)
                )
            ]
            fixity_windows = self._windows(db, windows)
            findings = db.execute(
                select(
                    func.count(),
                    _sum_if(_FI.c.resolved.is_(None)),
                    _sum_if(and_(_FI.c.resolved.is_(None), _FI.c.unrecoverable)),
                    _sum_if(_FI.c.repaired_from.is_not(None)),
                )
            ).one()
            tokens = {
                role: n
                for role, n in db.execute(
                    select(_TOK.c.role, func.count()).where(_TOK.c.revoked.is_(None)).group_by(_TOK.c.role)
                )
            }
            access = db.execute(select(func.count(), _sum_if(_ACC.c.status.in_((401, 403))))).one()
            actions = {
                ch: n for ch, n in db.execute(select(_ACT.c.channel, func.count()).group_by(_ACT.c.channel))
            }
            last_action = db.execute(select(func.max(_ACT.c.started))).scalar()
            last_period, period_before = now - review_period, now - 2 * review_period
            reviews = db.execute(
                select(
                    func.count(),
                    _sum_if(_ACT.c.started >= last_period),
                    _sum_if(and_(_ACT.c.started >= period_before, _ACT.c.started < last_period)),
                ).where(_ACT.c.action == REVIEW_ACTION, _ACT.c.outcome == "ok", _ACT.c.started <= now)
            ).one()
            deaccessions = {
                status: n
                for status, n in db.execute(select(_DR.c.status, func.count()).group_by(_DR.c.status))
            }
            agents = {t: n for t, n in db.execute(select(_AG.c.type, func.count()).group_by(_AG.c.type))}
        return CatalogFacts(
            aips=_int(aips[0]) - _int(aips[2]),
            described_aips=_int(aips[1]),
            deaccessioned_aips=_int(aips[2]),
            versions=versions,
            holder_sets=holder_sets,
            holdings=holdings,
            first_copy=first_copy,
            events=events,
            fixity_windows=fixity_windows,
            findings_detected=_int(findings[0]),
            findings_open=_int(findings[1]),
            findings_unrecoverable=_int(findings[2]),
            findings_repaired=_int(findings[3]),
            tokens=tokens,
            access_requests=_int(access[0]),
            access_refused=_int(access[1]),
            actions=actions,
            last_action=last_action,
            audit_reports=_int(reviews[0]),
            audit_reports_last_period=_int(reviews[1]),
            audit_reports_period_before=_int(reviews[2]),
            deaccessions=deaccessions,
            agents=agents,
            **files,
        )

    @staticmethod
    def _holder_sets(db: Connection, locations: Sequence[str]) -> list[HolderSet]:
        """AIP versions by the set of locations holding a verified copy: one flag per configured
        location (and one for any other) per version, then a count per combination of flags."""
        names = list(dict.fromkeys(locations))
        flags = [
            func.max(case((_C.c.location == name, 1), else_=0)).label(f"h{i}") for i, name in enumerate(names)
        ]
        elsewhere = _C.c.location.not_in(names) if names else literal(True)
        flags.append(func.max(case((and_(_C.c.location.is_not(None), elsewhere), 1), else_=0)).label("hx"))
        per_version = (
            select(_V.c.id, *flags)
            .select_from(_V.outerjoin(_C, _C.c.version_id == _V.c.id))
            .where(_live_versions())
            .group_by(_V.c.id)
            .subquery()
        )
        columns = [per_version.c[f"h{i}"] for i in range(len(names))] + [per_version.c.hx]
        out = []
        for row in db.execute(select(*columns, func.count()).group_by(*columns)):
            held = [name for name, flag in zip(names, row[: len(names)], strict=True) if flag]
            if row[len(names)]:
                held.append("")
            out.append(HolderSet(locations=tuple(sorted(held)), versions=_int(row[-1])))
        return sorted(out, key=lambda h: (-h.versions, h.locations))

    @staticmethod
    def _holdings(db: Connection) -> list[LocationHoldings]:
        copies = {
            loc: (_int(n), _int(unverified))
            for loc, n, unverified in db.execute(
                select(_C.c.location, func.count(), _sum_if(_C.c.verified.is_(None))).group_by(_C.c.location)
            )
        }
        unaudited = {
            loc: _int(n)
            for loc, n in db.execute(
                select(_C.c.location, func.count())
                .where(~exists().where(_S.c.version_id == _C.c.version_id, _S.c.location == _C.c.location))
                .group_by(_C.c.location)
            )
        }
        segments = {
            loc: (_int(n), _int(events))
            for loc, n, events in db.execute(
                select(_SEG.c.location, func.count(), func.coalesce(func.sum(_SEG.c.events), 0)).group_by(
                    _SEG.c.location
                )
            )
        }
        return [
            LocationHoldings(
                location=loc,
                copies=copies.get(loc, (0, 0))[0],
                unverified=copies.get(loc, (0, 0))[1],
                unaudited=unaudited.get(loc, 0),
                segments=segments.get(loc, (0, 0))[0],
                logged_events=segments.get(loc, (0, 0))[1],
            )
            for loc in sorted(set(copies) | set(segments))
        ]

    @staticmethod
    def _files(db: Connection) -> dict[str, int]:
        """Stored files (each once: not the rows of later versions that reuse them) of live AIPs."""
        dead = select(_V.c.id).where(_withdrawn(_V.c.aip_id))
        no_record = and_(
            _F.c.sha256.is_(None),
            ~exists().where(_D.c.file_id == _F.c.id, _D.c.algorithm.in_(_RECORD_ALGORITHMS)),
        )
        row = db.execute(
            select(
                func.count(),
                func.coalesce(func.sum(_F.c.size), 0),
                _sum_if(_F.c.format_puid.is_not(None)),
                _sum_if(_F.c.format_issues != "[]"),
                _sum_if(_F.c.format_mime == "application/fits"),
            ).where(_F.c.stored_version.is_(None), _F.c.version_id.not_in(dead))
        ).one()
        # Rare (another digest of record): counted apart, so that the exists() runs for those only.
        without = db.execute(
            select(func.count()).where(_F.c.stored_version.is_(None), _F.c.version_id.not_in(dead), no_record)
        ).scalar()
        return {
            "files": _int(row[0]),
            "bytes": _int(row[1]),
            "files_identified": _int(row[2]),
            "files_with_format_issues": _int(row[3]),
            "files_validated": _int(row[4]),
            "files_without_record_digest": _int(without),
        }

    @staticmethod
    def _windows(db: Connection, windows: Sequence[tuple[datetime, datetime]]) -> list[Window]:
        """Fixity check events in each window: one range scan of the events' time index."""
        if not windows:
            return []
        sums = [_sum_if(and_(_E.c.date_time >= a, _E.c.date_time < b)) for a, b in windows]
        row = db.execute(
            select(*sums).where(
                _E.c.type == FIXITY,
                _E.c.date_time >= min(a for a, _ in windows),
                _E.c.date_time < max(b for _, b in windows),
            )
        ).one()
        return [Window(start=a, end=b, checks=_int(n)) for (a, b), n in zip(windows, row, strict=True)]

    # -- the audit report -----------------------------------------------------------------------

    def audit_trail(
        self, start: datetime, end: datetime, limit: int, exclude_action: int | None = None
    ) -> AuditTrail:
        """Everything about ``[start, end)`` (see :meth:`oais.domain.ports.AuditEvidence.audit_trail`).

        Raises:
            CatalogError: the database failed.
        """

        def in_period(column: Any) -> ColumnElement[bool]:
            return and_(column >= start, column < end)

        started = [in_period(_ACT.c.started)]
        if exclude_action is not None:
            started.append(_ACT.c.id != exclude_action)
        with self._connection(f"read the audit trail from {start.isoformat()} to {end.isoformat()}") as db:
            events = [
                TypeCount(type=t, outcome=o, count=n)
                for t, o, n in db.execute(
                    select(_E.c.type, _E.c.outcome, func.count())
                    .where(in_period(_E.c.date_time))
                    .group_by(_E.c.type, _E.c.outcome)
                    .order_by(_E.c.type, _E.c.outcome)
                )
            ]
            actions = [
                ActionCount(channel=ch, outcome=o or "running", count=n)
                for ch, o, n in db.execute(
                    select(_ACT.c.channel, _ACT.c.outcome, func.count())
                    .where(*started)
                    .group_by(_ACT.c.channel, _ACT.c.outcome)
                    .order_by(_ACT.c.channel, _ACT.c.outcome)
                )
            ]
            detected = in_period(_FI.c.detected)
            failures_total = _count(db, _FI, detected)
            failure_rows = db.execute(
                select(_FI).where(detected).order_by(_FI.c.detected, _FI.c.id).limit(limit)
            ).all()

            failed_check = and_(
                _E.c.type == FIXITY,
                _E.c.outcome == "failure",
                in_period(_E.c.date_time),
                ~exists().where(_FI.c.event_id == _E.c.identifier),
            )
            # One pass over the period's events: the rows listed, and how many there are in all.
            failed_check_rows = db.execute(
                select(_E, func.count().over().label("total"))
                .where(failed_check)
                .order_by(_E.c.date_time, _E.c.identifier)
                .limit(limit)
            ).all()
            failed_checks_total = _int(failed_check_rows[0].total) if failed_check_rows else 0

            repaired = and_(in_period(_FI.c.resolved), _FI.c.repaired_from.is_not(None))
            repairs_total = _count(db, _FI, repaired)
            repair_rows = db.execute(
                select(_FI).where(repaired).order_by(_FI.c.resolved, _FI.c.id).limit(limit)
            ).all()
            found_whole_total = _count(
                db, _FI, and_(in_period(_FI.c.resolved), _FI.c.repaired_from.is_(None))
            )

            touched = or_(
                in_period(_DR.c.requested_at), in_period(_DR.c.decided_at), in_period(_DR.c.executed_at)
            )
            deletions_total = _count(db, _DR, touched)
            deletions_executed_total = _count(db, _DR, in_period(_DR.c.executed_at))
            deletion_rows = db.execute(
                select(_DR, _E.c.date_time.label("event_time"), _E.c.outcome.label("event_outcome"))
                .select_from(_DR.outerjoin(_E, _E.c.identifier == _DR.c.event_id))
                .where(touched)
                .order_by(_DR.c.requested_at, _DR.c.id)
                .limit(limit)
            ).all()

            open_at_end = and_(_FI.c.detected < end, or_(_FI.c.resolved.is_(None), _FI.c.resolved >= end))
            unresolved_total = _count(db, _FI, open_at_end)
            unrecoverable_total = _count(db, _FI, and_(open_at_end, _FI.c.unrecoverable))
            unresolved_rows = db.execute(
                select(_FI)
                .where(open_at_end)
                .order_by(_FI.c.unrecoverable.desc(), _FI.c.detected, _FI.c.id)
                .limit(limit)
            ).all()

            event_ids = {r.event_id for r in (*failure_rows, *unresolved_rows) if r.event_id}
            event_ids |= {r.resolution_event for r in repair_rows if r.resolution_event}
            event_ids |= {r.identifier for r in failed_check_rows}
            agents = _agents(db, event_ids)
            times = {r.detected for r in (*failure_rows, *unresolved_rows)}
            times |= {r.resolved for r in repair_rows} | {r.date_time for r in failed_check_rows}
            acting = _acting(db, times)

        def failure(r: Any) -> Failure:
            return Failure(
                detected=r.detected,
                location=r.location,
                key=r.key,
                kind=r.kind,
                aip_id=r.aip_id,
                version=r.version,
                path=r.path,
                expected=r.expected,
                found=r.found,
                event_id=r.event_id,
                agents=agents.get(r.event_id, []) if r.event_id else [],
                acting=acting.get(r.detected),
                # As they stand at the end of the period.
                resolved=r.resolved if r.resolved is not None and r.resolved < end else None,
                repaired_from=r.repaired_from if r.resolved is not None and r.resolved < end else None,
                resolution_event=r.resolution_event if r.resolved is not None and r.resolved < end else None,
                unrecoverable=bool(r.unrecoverable),
            )

        return AuditTrail(
            start=start,
            end=end,
            limit=limit,
            events=events,
            actions=actions,
            failures=[failure(r) for r in failure_rows],
            failures_total=failures_total,
            failed_checks=[
                FailedCheck(
                    event_id=r.identifier,
                    when=r.date_time,
                    aip_id=r.aip_id,
                    version=r.version,
                    detail=r.detail,
                    outcome_detail=r.outcome_detail,
                    agents=agents.get(r.identifier, []),
                    acting=acting.get(r.date_time),
                )
                for r in failed_check_rows
            ],
            failed_checks_total=failed_checks_total,
            repairs=[
                Repair(
                    when=r.resolved,
                    location=r.location,
                    source=r.repaired_from,
                    key=r.key,
                    kind=r.kind,
                    aip_id=r.aip_id,
                    version=r.version,
                    path=r.path,
                    detected=r.detected,
                    event_id=r.resolution_event,
                    agents=agents.get(r.resolution_event, []) if r.resolution_event else [],
                    acting=acting.get(r.resolved),
                )
                for r in repair_rows
            ],
            repairs_total=repairs_total,
            found_whole_total=found_whole_total,
            deletions=[
                Deletion(
                    request_id=r.id,
                    aip_id=r.aip_id,
                    reason=r.reason,
                    status=r.status,
                    requested_by=r.requested_by,
                    requested_at=r.requested_at,
                    decided_by=r.decided_by,
                    decided_at=r.decided_at,
                    decision_note=r.decision_note,
                    executed_at=r.executed_at,
                    event_id=r.event_id,
                    event_time=r.event_time,
                    event_outcome=r.event_outcome,
                )
                for r in deletion_rows
            ],
            deletions_total=deletions_total,
            deletions_executed_total=deletions_executed_total,
            unresolved=[failure(r) for r in unresolved_rows],
            unresolved_total=unresolved_total,
            unrecoverable_total=unrecoverable_total,
        )

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def _count(db: Connection, from_: Any, condition: ColumnElement[bool]) -> int:
    return _int(db.execute(select(func.count()).select_from(from_).where(condition)).scalar())


def _agents(db: Connection, event_ids: set[str]) -> dict[str, list[str]]:
    """The agents of each of ``event_ids`` (few: those of the listed items), in their order."""
    out: dict[str, list[str]] = {}
    ids = sorted(event_ids)
    for i in range(0, len(ids), 500):
        rows = db.execute(
            select(_EA.c.event_id, _EA.c.role, _AG.c.name, _AG.c.type, _AG.c.version)
            .join(_AG, _AG.c.identifier == _EA.c.agent_id)
            .where(_EA.c.event_id.in_(ids[i : i + 500]))
            .order_by(_EA.c.event_id, _EA.c.position)
        )
        for event_id, role, name, type_, version in rows:
            who = f"{name} {version}" if version else name
            out.setdefault(event_id, []).append(f"{who} ({type_}, {role})")
    return out


def _acting(db: Connection, times: set[datetime]) -> dict[datetime, Acting]:
    """The fixity action (an audit run, a daemon tick or run, a storage verify) running at each of
    ``times``: the latest started at or before it and not finished before it.

    One query reads the fixity actions that overlap the span of ``times`` (actions, not events: a
    daemon records one per tick at most), oldest first; one sweep over them and the sorted times
    matches each time, keeping the actions started so far in a heap, the latest on top, and
    dropping those finished before the current time (they cannot cover a later one either).
    """
    if not times:
        return {}
    columns = (
        _ACT.c.id,
        _ACT.c.action,
        _ACT.c.actor,
        _ACT.c.authenticated_by,
        _ACT.c.role,
        _ACT.c.channel,
        _ACT.c.started,
        _ACT.c.finished,
    )
    rows = db.execute(
        select(*columns)
        .where(
            _ACT.c.action.in_(FIXITY_ACTIONS),
            _ACT.c.started <= max(times),
            or_(_ACT.c.finished.is_(None), _ACT.c.finished >= min(times)),
        )
        .order_by(_ACT.c.started, _ACT.c.id)
    ).all()
    out: dict[datetime, Acting] = {}
    running: list[tuple[float, int, int]] = []  # (-started, -id, row index): the latest on top
    next_row = 0
    for when in sorted(times):
        while next_row < len(rows) and rows[next_row].started <= when:
            r = rows[next_row]
            heapq.heappush(running, (-r.started.timestamp(), -r.id, next_row))
            next_row += 1
        while running and (ended := rows[running[0][2]].finished) is not None and ended < when:
            heapq.heappop(running)
        if running:
            r = rows[running[0][2]]
            out[when] = Acting(
                id=r.id,
                action=r.action,
                actor=r.actor,
                basis=r.authenticated_by,
                role=r.role,
                channel=r.channel,
                started=r.started,
                finished=r.finished,
            )
    return out


if TYPE_CHECKING:
    # mypy proves here that the class satisfies the port it implements.
    def _is_audit_evidence(evidence: SqlAuditEvidence) -> AuditEvidence:
        return evidence
