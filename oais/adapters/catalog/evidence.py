"""The evidence an evidence report needs, counted by the catalog database.

Every figure is a grouped count or sum computed by the database; Python receives aggregate rows
(one per bucket, type, format, location, code...) and the first rows of the lists a report shows,
never one row per event or file. A catalog of millions of files and events is summed where it lies.

Dialects differ in two places, chosen by the engine's dialect:

- time buckets: ``strftime`` on SQLite (times are stored as UTC text), ``date_trunc`` on the UTC time
  on PostgreSQL;
- issue codes inside the JSON arrays of rejections and format issues: ``json_each`` on SQLite,
  ``jsonb_array_elements`` on PostgreSQL.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    FromClause,
    String,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from oais.adapters.catalog.admin_rows import ActionRow, DeaccessionRequestRow, TombstoneRow
from oais.adapters.catalog.rows import (
    AgentRow,
    AipRow,
    AipVersionRow,
    AuditFindingRow,
    CopyRow,
    EventAgentRow,
    EventRow,
    FileRow,
    RejectionRow,
    SegmentRow,
    table,
)
from oais.adapters.catalog.tokens import ApiAccessRow, ApiTokenRow
from oais.domain.errors import CatalogError
from oais.domain.evidence import (
    SIGNIFICANT_PROPERTIES,
    Access,
    AccessFailure,
    ActionCount,
    ActionEntry,
    Actions,
    AgentUse,
    AipVersions,
    CodeCount,
    ConversionEvent,
    Conversions,
    Copies,
    Cut,
    DeaccessionEntry,
    Deaccessions,
    EventCount,
    EventLogSummary,
    FindingEntry,
    Findings,
    FormatCounts,
    Granularity,
    Growth,
    Holdings,
    LocationCopies,
    PropertyTally,
    RejectedSip,
    Rejections,
    ReportAction,
    Totals,
    VersionCopies,
    VersionHistory,
    Window,
)
from oais.domain.formats import FormatHolding

if TYPE_CHECKING:
    from oais.domain.ports import EvidenceCatalog

_E = table(EventRow)
_EA = table(EventAgentRow)
_AG = table(AgentRow)
_A = table(AipRow)
_V = table(AipVersionRow)
_F = table(FileRow)
_R = table(RejectionRow)
_C = table(CopyRow)
_S = table(SegmentRow)
_FI = table(AuditFindingRow)
_ACT = table(ActionRow)
_D = table(DeaccessionRequestRow)
_T = table(TombstoneRow)
_TOK = table(ApiTokenRow)
_LOG = table(ApiAccessRow)

#: The event types of format conversions.
_CONVERSIONS = ("migration", "normalization")
#: The access log statuses a report counts as refusals.
_REFUSED = (401, 403)
#: The method the command line records its authentication failures under.
_CLI = "CLI"
#: The outcome shown for an action that has not finished.
_RUNNING = "running"


def _in(column: Any, window: Window) -> list[ColumnElement[bool]]:
    """``column`` within the window: ``start <= column < end`` (either bound left out if open)."""
    found: list[ColumnElement[bool]] = []
    if window.start is not None:
        found.append(column >= window.start)
    if window.end is not None:
        found.append(column < window.end)
    return found


def _before_end(column: Any, window: Window) -> list[ColumnElement[bool]]:
    return [column < window.end] if window.end is not None else []


def _held(versions: Any, window: Window | None = None) -> ColumnElement[bool]:
    """The version's AIP is not deaccessioned (by the window's end, or at all)."""
    gone = exists().where(_T.c.aip_id == versions.c.aip_id)
    if window is not None and window.end is not None:
        gone = gone.where(_T.c.deleted < window.end)
    return ~gone


class SqlEvidence:
    """:class:`~oais.domain.ports.EvidenceCatalog` on the catalog database (at schema head)."""

    def __init__(self, engine: Engine) -> None:
        """Args:
        engine: the catalog's engine.
        """
        self.engine = engine

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    # -- helpers --------------------------------------------------------------------------------

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _bucket(self, column: Any, window: Window) -> ColumnElement[Any]:
        """The time bucket of ``column``: a label on SQLite, the start of the bucket on PostgreSQL.

        The constants are literal SQL, so that the expression in GROUP BY is the one in SELECT.
        """
        daily = window.granularity is Granularity.DAY
        if self._postgres:
            unit: ColumnElement[str] = literal_column("'day'" if daily else "'month'")
            return func.date_trunc(unit, func.timezone(literal_column("'UTC'"), column), type_=DateTime())
        pattern: ColumnElement[str] = literal_column("'%Y-%m-%d'" if daily else "'%Y-%m'")
        return func.strftime(pattern, column, type_=String())

    @staticmethod
    def _label(value: Any, window: Window) -> str:
        return value if isinstance(value, str) else window.label(value)

    def _codes(self, column: Any) -> tuple[FromClause, ColumnElement[Any]]:
        """A table of the elements of the JSON array in ``column`` (to join ON true), and the
        ``code`` of each."""
        if self._postgres:
            elements = func.jsonb_array_elements(cast(column, JSONB)).table_valued("value").alias("issue")
            return elements, elements.c.value.op("->>")(literal_column("'code'"))
        elements = func.json_each(column).table_valued("value").alias("issue")
        return elements, func.json_extract(elements.c.value, literal_column("'$.code'"), type_=String())

    def _read(self, what: str, work: Any, hashed: bool = False) -> Any:
        """Run ``work`` on a connection, in a transaction of its own.

        ``hashed``: the queries group millions of rows into few groups by expressions the planner
        has no statistics for (time buckets, format and AIP): PostgreSQL would then expect as many
        groups as rows and sort every row, on disk, to group them. Sorting is turned off for the
        transaction (``SET LOCAL``), so that it groups in a hash table, and the memory a hash table
        may use before it spills is raised.
        """
        try:
            with self.engine.connect() as connection:
                if hashed and self._postgres:
                    connection.exec_driver_sql("SET LOCAL enable_sort = off")
                    connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")
                return work(connection)
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read {what}: {exc}") from exc

    # -- provenance -----------------------------------------------------------------------------

    def events(self, window: Window) -> builtins.list[EventCount]:
        """PREMIS events by bucket, type and outcome (see the port)."""
        bucket = self._bucket(_E.c.date_time, window)
        query = (
            select(bucket, _E.c.type, _E.c.outcome, func.count())
            .where(*_in(_E.c.date_time, window))
            .group_by(bucket, _E.c.type, _E.c.outcome)
        )
        rows = self._read("the events by type", lambda c: c.execute(query).all(), hashed=True)
        found = [
            EventCount(bucket=self._label(b, window), type=t, outcome=o, events=n) for b, t, o, n in rows
        ]
        return sorted(found, key=lambda e: (e.bucket, e.type, e.outcome))

    def agents(self, window: Window, limit: int) -> Cut[AgentUse]:
        """The agents the window's events name, most used first (see the port)."""
        links = select(_EA.c.agent_id, func.count().label("events"))
        if window.start is not None or window.end is not None:
            links = links.join(_E, _E.c.identifier == _EA.c.event_id).where(*_in(_E.c.date_time, window))
        used = links.group_by(_EA.c.agent_id).subquery()
        query = select(_AG.c.identifier, _AG.c.name, _AG.c.type, _AG.c.version, used.c.events).join(
            used, used.c.agent_id == _AG.c.identifier
        )
        # One row per agent: agents are few (software versions, the archive, producers).
        rows = self._read("the agents", lambda c: c.execute(query).all())
        agents = sorted(
            (AgentUse(identifier=i, name=n, type=t, version=v, events=e) for i, n, t, v, e in rows),
            key=lambda a: (-a.events, a.identifier),
        )
        return Cut[AgentUse](rows=agents[:limit], total=len(agents))

    def versions(self, window: Window, limit: int) -> VersionHistory:
        """Versions made in the window and versions per AIP at its end (see the port)."""
        per_aip = (
            select(
                _V.c.aip_id,
                func.count().label("n"),
                func.min(_V.c.created).label("first"),
                func.max(_V.c.created).label("latest"),
            )
            .where(*_before_end(_V.c.created, window))
            .group_by(_V.c.aip_id)
            .subquery()
        )

        def work(c: Connection) -> VersionHistory:
            created = c.execute(
                select(func.count()).select_from(_V).where(*_in(_V.c.created, window))
            ).scalar_one()
            histogram = {
                int(n): int(aips)
                for n, aips in c.execute(select(per_aip.c.n, func.count()).group_by(per_aip.c.n)).all()
            }
            rows = c.execute(
                select(_A.c.id, _A.c.title, per_aip.c.n, per_aip.c.first, per_aip.c.latest)
                .join(per_aip, per_aip.c.aip_id == _A.c.id)
                .where(per_aip.c.n > 1)
                .order_by(per_aip.c.n.desc(), per_aip.c.latest.desc(), _A.c.id)
                .limit(limit)
            ).all()
            aips = [
                AipVersions(aip_id=a, title=t, versions=n, first=_utc(f), latest=_utc(latest))
                for a, t, n, f, latest in rows
            ]
            total = sum(aips_ for n, aips_ in histogram.items() if n > 1)
            return VersionHistory(
                created=int(created), per_aip=histogram, aips=Cut[AipVersions](rows=aips, total=total)
            )

        result: VersionHistory = self._read("the AIP versions", work)
        return result

    def event_logs(self) -> builtins.list[EventLogSummary]:
        """Per location, the event log segments the catalog records (see the port)."""
        query = select(
            _S.c.location, func.count(), func.coalesce(func.sum(_S.c.events), 0), func.max(_S.c.created)
        ).group_by(_S.c.location)
        rows = self._read("the event log segments", lambda c: c.execute(query).all())
        return sorted(
            (
                EventLogSummary(location=loc, segments=n, events=int(e), last=_utc(last) if last else None)
                for loc, n, e, last in rows
            ),
            key=lambda s: s.location,
        )

    # -- holdings -------------------------------------------------------------------------------

    def holdings(self, window: Window) -> Holdings:
        """Holdings before the window, changes per bucket, holdings at its end (see the port)."""
        own = _F.c.stored_version.is_(None)  # a file stored under its own version: counted once

        def totals(c: Connection, version_filter: list[ColumnElement[bool]], deleted: bool) -> Totals:
            """Totals of versions (and of their own files) selected by ``version_filter``, of AIPs
            deaccessioned (``deleted``) or of all."""
            versions = select(
                func.count(distinct(_V.c.aip_id)), func.count(), func.coalesce(func.sum(_V.c.files), 0)
            ).where(*version_filter)
            files = (
                select(func.count(), func.coalesce(func.sum(_F.c.size), 0))
                .select_from(_F)
                .join(_V, _V.c.id == _F.c.version_id)
                .where(own, *version_filter)
            )
            if deleted:
                versions = versions.join(_T, _T.c.aip_id == _V.c.aip_id)
                files = files.join(_T, _T.c.aip_id == _V.c.aip_id)
            aips, n_versions, _ = c.execute(versions).one()
            n_files, size = c.execute(files).one()
            return Totals(aips=aips, versions=n_versions, files=n_files, bytes=int(size))

        def work(c: Connection) -> Holdings:
            before = Totals()
            if window.start is not None:
                added = totals(c, [_V.c.created < window.start], deleted=False)
                removed = totals(c, [_T.c.deleted < window.start], deleted=True)
                before = _minus(added, removed)
            growth: dict[str, dict[str, Totals]] = {}
            for kind, column, deleted in (("added", _V.c.created, False), ("removed", _T.c.deleted, True)):
                bucket = self._bucket(column, window)
                # AIPs: those made (version 1) in the bucket, or those deleted in it.
                aips = (
                    func.count(distinct(_V.c.aip_id))
                    if deleted
                    else func.sum(case((_V.c.version == 1, 1), else_=0))
                )
                versions = select(bucket, aips, func.count()).where(*_in(column, window))
                files = (
                    select(bucket, func.count(), func.coalesce(func.sum(_F.c.size), 0))
                    .select_from(_F)
                    .join(_V, _V.c.id == _F.c.version_id)
                    .where(own, *_in(column, window))
                )
                if deleted:
                    versions = versions.select_from(_V).join(_T, _T.c.aip_id == _V.c.aip_id)
                    files = files.join(_T, _T.c.aip_id == _V.c.aip_id)
                counted: dict[str, list[int]] = {}
                for b, n_aips, n in c.execute(versions.group_by(bucket)).all():
                    counted.setdefault(self._label(b, window), [0, 0, 0, 0])[:2] = [int(n_aips or 0), int(n)]
                for b, n, size in c.execute(files.group_by(bucket)).all():
                    counted.setdefault(self._label(b, window), [0, 0, 0, 0])[2:] = [int(n), int(size)]
                for label, (n_aips, n, n_files, size) in counted.items():
                    growth.setdefault(label, {})[kind] = Totals(
                        aips=n_aips, versions=n, files=n_files, bytes=size
                    )
            points = [
                Growth(bucket=b, added=g.get("added", Totals()), removed=g.get("removed", Totals()))
                for b, g in sorted(growth.items())
            ]
            at_end = before
            for p in points:
                at_end = _minus(_plus(at_end, p.added), p.removed)
            return Holdings(before=before, growth=points, at_end=at_end)

        result: Holdings = self._read("the holdings", work, hashed=True)
        return result

    def formats(self, window: Window) -> FormatCounts:
        """Stored files by PUID, received in the window and held at its end (see the port).

        One pass over the files: grouped by format and AIP (to count AIPs without a DISTINCT, which
        sorts), then by format.
        """
        t = _T.alias("gone")
        received = and_(true(), _F.c.derived_from.is_(None), *_in(_V.c.created, window))
        kept: ColumnElement[bool] = t.c.aip_id.is_(None)  # no tombstone (the outer join found none)
        if window.end is not None:
            kept = or_(kept, t.c.deleted >= window.end)
        held = and_(true(), *_before_end(_V.c.created, window), kept)
        per_aip = (
            select(
                _F.c.format_puid.label("puid"),
                func.max(_F.c.format_name).label("name"),
                func.sum(case((received, 1), else_=0)).label("received"),
                func.sum(case((received, _F.c.size), else_=0)).label("received_bytes"),
                func.sum(case((held, 1), else_=0)).label("held"),
                func.sum(case((held, _F.c.size), else_=0)).label("held_bytes"),
            )
            .select_from(_F)
            .join(_V, _V.c.id == _F.c.version_id)
            .outerjoin(t, t.c.aip_id == _V.c.aip_id)
            .where(_F.c.stored_version.is_(None))
            .group_by(_F.c.format_puid, _V.c.aip_id)
            .subquery()
        )
        query = select(
            per_aip.c.puid,
            func.max(per_aip.c.name),
            func.sum(per_aip.c.received),
            func.sum(per_aip.c.received_bytes),
            func.sum(case((per_aip.c.received > 0, 1), else_=0)),
            func.sum(per_aip.c.held),
            func.sum(per_aip.c.held_bytes),
            func.sum(case((per_aip.c.held > 0, 1), else_=0)),
        ).group_by(per_aip.c.puid)
        rows = self._read("the holdings by format", lambda c: c.execute(query).all(), hashed=True)
        received_list: list[FormatHolding] = []
        held_list: list[FormatHolding] = []
        for puid, name, r_n, r_b, r_aips, h_n, h_b, h_aips in rows:
            if r_n:
                received_list.append(
                    FormatHolding(
                        puid=puid, name=name or "", files=int(r_n), bytes=int(r_b), aips=int(r_aips)
                    )
                )
            if h_n:
                held_list.append(
                    FormatHolding(
                        puid=puid, name=name or "", files=int(h_n), bytes=int(h_b), aips=int(h_aips)
                    )
                )

        def order(h: FormatHolding) -> tuple[int, str]:
            return (-h.files, h.puid or "")

        return FormatCounts(received=sorted(received_list, key=order), held=sorted(held_list, key=order))

    def format_issues(self, window: Window) -> builtins.list[CodeCount]:
        """Format issue codes of the files received in the window (see the port)."""
        elements, code = self._codes(_F.c.format_issues)
        query = (
            select(code, func.count(distinct(_F.c.id)), func.count())
            .select_from(_F)
            .join(_V, _V.c.id == _F.c.version_id)
            .join(elements, true())
            .where(
                _F.c.stored_version.is_(None),
                _F.c.derived_from.is_(None),
                _F.c.format_issues != "[]",
                *_in(_V.c.created, window),
            )
            .group_by(code)
        )
        rows = self._read("the format issues", lambda c: c.execute(query).all())
        return sorted(
            (CodeCount(code=str(k), units=u, issues=n) for k, u, n in rows), key=lambda x: (-x.units, x.code)
        )

    # -- deposit --------------------------------------------------------------------------------

    def rejections(self, window: Window, limit: int) -> Rejections:
        """SIPs rejected in the window (see the port)."""
        in_window = _in(_R.c.date_time, window)
        elements, code = self._codes(_R.c.issues)

        def work(c: Connection) -> Rejections:
            total = c.execute(select(func.count()).select_from(_R).where(*in_window)).scalar_one()
            if not total:
                return Rejections(total=0)
            by_code = c.execute(
                select(code, func.count(distinct(_R.c.identifier)), func.count())
                .select_from(_R)
                .join(elements, true())
                .where(*in_window)
                .group_by(code)
            ).all()
            bucket = self._bucket(_R.c.date_time, window)
            by_bucket = c.execute(select(bucket, func.count()).where(*in_window).group_by(bucket)).all()
            by_producer = c.execute(
                select(_R.c.producer, func.count()).where(*in_window).group_by(_R.c.producer)
            ).all()
            latest = c.execute(
                select(_R.c.date_time, _R.c.producer, _R.c.title, _R.c.sip_path, _R.c.issues)
                .where(*in_window)
                .order_by(_R.c.date_time.desc(), _R.c.identifier)
                .limit(limit)
            ).all()
            return Rejections(
                total=int(total),
                by_bucket=dict(sorted((self._label(b, window), int(n)) for b, n in by_bucket)),
                by_code=sorted(
                    (CodeCount(code=str(k), units=u, issues=n) for k, u, n in by_code),
                    key=lambda x: (-x.units, x.code),
                ),
                by_producer={p: int(n) for p, n in sorted(by_producer)},
                latest=Cut[RejectedSip](
                    rows=[
                        RejectedSip(date_time=t, producer=p, title=ti, sip_path=s, codes=_issue_codes(i))
                        for t, p, ti, s, i in latest
                    ],
                    total=int(total),
                ),
            )

        result: Rejections = self._read("the rejections", work)
        return result

    def conversions(self, window: Window, limit: int) -> Conversions:
        """Migrations and normalisations in the window (see the port)."""
        conversion = and_(_E.c.type.in_(_CONVERSIONS), *_in(_E.c.date_time, window))
        differs = _E.c.outcome_detail.like("%(DIFFERS)%")
        compared = [
            func.sum(
                case(
                    (
                        or_(
                            _E.c.outcome_detail.like(f"%: {name} %"), _E.c.outcome_detail.like(f"%; {name} %")
                        ),
                        1,
                    ),
                    else_=0,
                )
            )
            for name in SIGNIFICANT_PROPERTIES
        ]
        exceptional = or_(_E.c.outcome != "success", differs)
        columns = (_E.c.date_time, _E.c.type, _E.c.aip_id, _E.c.version, _E.c.outcome, _E.c.outcome_detail)

        def listed(c: Connection, condition: ColumnElement[bool]) -> builtins.list[ConversionEvent]:
            rows = c.execute(
                select(*columns)
                .where(condition)
                .order_by(_E.c.date_time.desc(), _E.c.identifier)
                .limit(limit)
            ).all()
            return [
                ConversionEvent(date_time=t, type=ty, aip_id=a, version=v, outcome=o, detail=d)
                for t, ty, a, v, o, d in rows
            ]

        def work(c: Connection) -> Conversions:
            grouped = c.execute(
                select(
                    _E.c.type,
                    _E.c.outcome,
                    func.count(),
                    func.sum(case((differs, 1), else_=0)),
                    func.sum(case((exceptional, 1), else_=0)),
                    *compared,
                )
                .where(conversion)
                .group_by(_E.c.type, _E.c.outcome)
            ).all()
            events: dict[str, dict[str, int]] = {}
            n_differs = n_kept_differs = n_exceptions = n_all = 0
            tallies = [0] * len(SIGNIFICANT_PROPERTIES)
            for type_, outcome, n, d, x, *props in grouped:
                events.setdefault(type_, {})[outcome] = int(n)
                n_all += int(n)
                n_differs += int(d or 0)
                if outcome == "success":
                    n_kept_differs += int(d or 0)
                n_exceptions += int(x or 0)
                tallies = [t + int(p or 0) for t, p in zip(tallies, props, strict=True)]
            derived, derived_bytes = c.execute(
                select(func.count(), func.coalesce(func.sum(_F.c.size), 0))
                .select_from(_F)
                .join(_V, _V.c.id == _F.c.version_id)
                .where(
                    _F.c.derived_from.is_not(None), _F.c.stored_version.is_(None), *_in(_V.c.created, window)
                )
            ).one()
            # The lists are read only when there is something to list: a backward scan of the
            # events' time index for a type that is absent would read the whole index.
            exceptions = listed(c, and_(conversion, exceptional)) if n_exceptions else []
            latest = listed(c, conversion) if n_all else []
            return Conversions(
                events=events,
                differs=n_differs,
                kept_differs=n_kept_differs,
                derived_files=int(derived),
                derived_bytes=int(derived_bytes),
                properties=[
                    PropertyTally(name=name, events=n)
                    for name, n in zip(SIGNIFICANT_PROPERTIES, tallies, strict=True)
                    if n
                ],
                exceptions=Cut[ConversionEvent](rows=exceptions, total=n_exceptions),
                latest=Cut[ConversionEvent](rows=latest, total=n_all),
            )

        result: Conversions = self._read("the migrations", work)
        return result

    # -- workflows ------------------------------------------------------------------------------

    def actions(self, window: Window, limit: int, exclude: int | None = None) -> Actions:
        """The action log over the window (see the port)."""
        conditions = _in(_ACT.c.started, window)
        if exclude is not None:
            conditions.append(_ACT.c.id != exclude)
        outcome = func.coalesce(_ACT.c.outcome, literal_column(f"'{_RUNNING}'"))
        bucket = self._bucket(_ACT.c.started, window)
        exceptional = or_(_ACT.c.outcome.is_(None), _ACT.c.outcome != "ok")

        def work(c: Connection) -> Actions:
            counts = c.execute(
                select(_ACT.c.action, _ACT.c.channel, outcome, func.count())
                .where(*conditions)
                .group_by(_ACT.c.action, _ACT.c.channel, outcome)
            ).all()
            by_bucket: dict[str, dict[str, int]] = {}
            for b, o, n in c.execute(
                select(bucket, outcome, func.count()).where(*conditions).group_by(bucket, outcome)
            ).all():
                by_bucket.setdefault(self._label(b, window), {})[o] = int(n)
            total = sum(int(n) for _, _, o, n in counts if o != "ok")
            rows = _entries(c, and_(*conditions, exceptional), limit) if total else []
            return Actions(
                counts=sorted(
                    (ActionCount(action=a, channel=ch, outcome=o, actions=int(n)) for a, ch, o, n in counts),
                    key=lambda x: (x.action, x.channel, x.outcome),
                ),
                by_bucket=dict(sorted(by_bucket.items())),
                exceptions=Cut[ActionEntry](rows=rows, total=total),
            )

        result: Actions = self._read("the action log", work)
        return result

    # -- storage and integrity ------------------------------------------------------------------

    def copies(self, required: Sequence[str], limit: int) -> Copies:
        """Copies of every version held against the required locations (see the port)."""
        wanted = list(required)
        order = {name: i for i, name in enumerate(wanted)}
        n = func.count(_C.c.location)
        per_version = (
            select(_V.c.id, _V.c.aip_id, _V.c.version, n.label("n"))
            .select_from(_V.outerjoin(_C, and_(_C.c.version_id == _V.c.id, _C.c.location.in_(wanted))))
            .where(_held(_V))
            .group_by(_V.c.id, _V.c.aip_id, _V.c.version)
            .subquery()
        )

        def work(c: Connection) -> Copies:
            histogram = {
                int(k): int(v)
                for k, v in c.execute(select(per_version.c.n, func.count()).group_by(per_version.c.n)).all()
            }
            below_total = sum(v for k, v in histogram.items() if k < len(wanted))
            below: list[VersionCopies] = []
            if below_total:
                rows = c.execute(
                    select(per_version.c.id, per_version.c.aip_id, per_version.c.version)
                    .where(per_version.c.n < len(wanted))
                    .order_by(per_version.c.n, per_version.c.aip_id, per_version.c.version)
                    .limit(limit)
                ).all()
                held: dict[int, list[str]] = {}
                for version_id, location in c.execute(
                    select(_C.c.version_id, _C.c.location).where(
                        _C.c.version_id.in_([r[0] for r in rows]), _C.c.location.in_(wanted)
                    )
                ).all():
                    held.setdefault(version_id, []).append(location)
                below = [
                    VersionCopies(aip_id=a, version=v, locations=sorted(held.get(i, []), key=wanted.index))
                    for i, a, v in rows
                ]
            locations = c.execute(
                select(
                    _C.c.location,
                    func.count(distinct(_V.c.aip_id)),
                    func.count(),
                    func.coalesce(func.sum(_C.c.objects), 0),
                    func.coalesce(func.sum(_C.c.bytes), 0),
                    func.sum(case((_C.c.verified.is_(None), 1), else_=0)),
                )
                .join(_V, _V.c.id == _C.c.version_id)
                .where(_held(_V))
                .group_by(_C.c.location)
            ).all()
            files: dict[str, int] = dict(
                c.execute(
                    select(_C.c.location, func.count())
                    .select_from(_C)
                    .join(_V, _V.c.id == _C.c.version_id)
                    .join(_F, _F.c.version_id == _V.c.id)
                    .where(_held(_V), _F.c.stored_version.is_(None))
                    .group_by(_C.c.location)
                ).all()
            )
            return Copies(
                versions=sum(histogram.values()),
                per_version=dict(sorted(histogram.items())),
                below=Cut[VersionCopies](rows=below, total=below_total),
                locations=sorted(
                    (
                        LocationCopies(
                            location=loc,
                            aips=aips,
                            versions=versions,
                            objects=int(objects),
                            bytes=int(size),
                            never_verified=int(never or 0),
                            files=int(files.get(loc, 0)),
                        )
                        for loc, aips, versions, objects, size, never in locations
                    ),
                    key=lambda x: (order.get(x.location, len(wanted)), x.location),
                ),
            )

        result: Copies = self._read("the copies", work)
        return result

    def findings(self, window: Window, limit: int) -> Findings:
        """Audit findings of the window and those still open (see the port)."""
        detected = _in(_FI.c.detected, window)
        resolved = [_FI.c.resolved.is_not(None), *_in(_FI.c.resolved, window)]
        repaired = _FI.c.repaired_from.is_not(None)

        def work(c: Connection) -> Findings:
            by_bucket: dict[str, dict[str, int]] = {}
            bucket = self._bucket(_FI.c.detected, window)
            for b, n in c.execute(select(bucket, func.count()).where(*detected).group_by(bucket)).all():
                by_bucket.setdefault(self._label(b, window), {})["detected"] = int(n)
            bucket = self._bucket(_FI.c.resolved, window)
            kind = case((repaired, literal_column("'repaired'")), else_=literal_column("'found whole'"))
            for b, k, n in c.execute(
                select(bucket, kind, func.count()).where(*resolved).group_by(bucket, kind)
            ).all():
                by_bucket.setdefault(self._label(b, window), {})[k] = int(n)
            by_location: dict[str, dict[str, int]] = {}
            for loc, k, n in c.execute(
                select(_FI.c.location, _FI.c.kind, func.count())
                .where(*detected)
                .group_by(_FI.c.location, _FI.c.kind)
            ).all():
                by_location.setdefault(loc, {})[k] = int(n)
            open_now, lost = c.execute(
                select(
                    func.count(), func.coalesce(func.sum(case((_FI.c.unrecoverable, 1), else_=0)), 0)
                ).where(_FI.c.resolved.is_(None))
            ).one()
            unresolved = [*detected, _FI.c.resolved.is_(None)]
            n_unresolved = c.execute(select(func.count()).select_from(_FI).where(*unresolved)).scalar_one()
            rows = (
                c.execute(
                    select(
                        _FI.c.detected,
                        _FI.c.location,
                        _FI.c.kind,
                        _FI.c.key,
                        _FI.c.aip_id,
                        _FI.c.version,
                        _FI.c.unrecoverable,
                        _FI.c.resolved,
                        _FI.c.repaired_from,
                    )
                    .where(*unresolved)
                    .order_by(_FI.c.unrecoverable.desc(), _FI.c.detected.desc(), _FI.c.id)
                    .limit(limit)
                ).all()
                if n_unresolved
                else []
            )
            totals = {
                k: sum(b.get(k, 0) for b in by_bucket.values())
                for k in ("detected", "repaired", "found whole")
            }
            return Findings(
                detected=totals["detected"],
                repaired=totals["repaired"],
                found_whole=totals["found whole"],
                open=int(open_now),
                unrecoverable=int(lost),
                by_bucket=dict(sorted(by_bucket.items())),
                by_location={k: dict(sorted(v.items())) for k, v in sorted(by_location.items())},
                unresolved=Cut[FindingEntry](
                    rows=[
                        FindingEntry(
                            detected=d,
                            location=loc,
                            kind=k,
                            key=key,
                            aip_id=a,
                            version=v,
                            unrecoverable=bool(u),
                            resolved=r,
                            repaired_from=src,
                        )
                        for d, loc, k, key, a, v, u, r, src in rows
                    ],
                    total=int(n_unresolved),
                ),
            )

        result: Findings = self._read("the audit findings", work)
        return result

    def deaccessions(self, window: Window, limit: int) -> Deaccessions:
        """Deaccession requests, tombstones and deletion events of the window (see the port)."""
        touched = or_(
            and_(true(), *_in(_D.c.requested_at, window)),
            and_(_D.c.decided_at.is_not(None), *_in(_D.c.decided_at, window)),
            and_(_D.c.executed_at.is_not(None), *_in(_D.c.executed_at, window)),
        )
        # Deletion events an executed request accounts for, found from the requests (a few rows)
        # through the events' primary key and their (aip_id, ...) index, not by reading every event.
        executed = _D.c.status == "executed"
        deletion = [_E.c.type == "deletion", *_in(_E.c.date_time, window)]
        by_event = (
            select(_E.c.identifier).join(_D, _D.c.event_id == _E.c.identifier).where(executed, *deletion)
        )
        by_aip = select(_E.c.identifier).join(_D, _D.c.aip_id == _E.c.aip_id).where(executed, *deletion)
        approved = select(func.count()).select_from(union(by_event, by_aip).subquery())

        def work(c: Connection) -> Deaccessions:
            by_status = {
                s: int(n)
                for s, n in c.execute(
                    select(_D.c.status, func.count()).where(touched).group_by(_D.c.status)
                ).all()
            }
            tombstones = c.execute(
                select(func.count()).select_from(_T).where(*_in(_T.c.deleted, window))
            ).scalar_one()
            n_approved = c.execute(approved).scalar_one()
            total = sum(by_status.values())
            rows = (
                c.execute(
                    select(
                        _D.c.id,
                        _D.c.aip_id,
                        _D.c.reason,
                        _D.c.requested_by,
                        _D.c.requested_at,
                        _D.c.status,
                        _D.c.decided_by,
                        _D.c.decided_at,
                        _D.c.executed_at,
                        _D.c.event_id,
                    )
                    .where(touched)
                    .order_by(_D.c.requested_at.desc(), _D.c.id)
                    .limit(limit)
                ).all()
                if total
                else []
            )
            return Deaccessions(
                by_status=dict(sorted(by_status.items())),
                tombstones=int(tombstones),
                approved_deletions=int(n_approved),
                requests=Cut[DeaccessionEntry](
                    rows=[
                        DeaccessionEntry(
                            id=i,
                            aip_id=a,
                            reason=r,
                            requested_by=rb,
                            requested_at=ra,
                            status=s,
                            decided_by=db,
                            decided_at=da,
                            executed_at=ea,
                            event_id=e,
                        )
                        for i, a, r, rb, ra, s, db, da, ea, e in rows
                    ],
                    total=total,
                ),
            )

        result: Deaccessions = self._read("the deaccessions", work)
        return result

    # -- security -------------------------------------------------------------------------------

    def access(self, window: Window, limit: int) -> Access:
        """Refusals, token changes and valid tokens (see the port)."""
        in_window = _in(_LOG.c.time, window)
        refused = _LOG.c.status.in_(_REFUSED)
        channel = case((_LOG.c.method == _CLI, literal_column("'CLI'")), else_=literal_column("'HTTP'"))
        bucket = self._bucket(_LOG.c.time, window)
        failures = (
            select(
                _LOG.c.method,
                _LOG.c.path,
                _LOG.c.status,
                func.count().label("requests"),
                func.max(_LOG.c.time).label("last"),
            )
            .where(refused, *in_window)
            .group_by(_LOG.c.method, _LOG.c.path, _LOG.c.status)
            .subquery()
        )
        token_actions = and_(_ACT.c.action.in_(("token add", "token revoke")), *_in(_ACT.c.started, window))
        valid = [*_before_end(_TOK.c.created, window)]
        if window.end is not None:
            valid.append(or_(_TOK.c.revoked.is_(None), _TOK.c.revoked >= window.end))
        else:
            valid.append(_TOK.c.revoked.is_(None))

        def work(c: Connection) -> Access:
            requests = c.execute(select(func.count()).select_from(_LOG).where(*in_window)).scalar_one()
            by_bucket: dict[str, dict[str, int]] = {}
            for b, status, ch, n in c.execute(
                select(bucket, _LOG.c.status, channel, func.count())
                .where(refused, *in_window)
                .group_by(bucket, _LOG.c.status, channel)
            ).all():
                by_bucket.setdefault(self._label(b, window), {})[f"{status} {ch}"] = int(n)
            n_failures = c.execute(select(func.count()).select_from(failures)).scalar_one()
            rows = c.execute(
                select(failures)
                .order_by(failures.c.requests.desc(), failures.c.method, failures.c.path, failures.c.status)
                .limit(limit)
            ).all()
            created = c.execute(
                select(func.count()).select_from(_TOK).where(*_in(_TOK.c.created, window))
            ).scalar_one()
            revoked = c.execute(
                select(func.count())
                .select_from(_TOK)
                .where(_TOK.c.revoked.is_not(None), *_in(_TOK.c.revoked, window))
            ).scalar_one()
            by_role = {
                r: int(n)
                for r, n in c.execute(select(_TOK.c.role, func.count()).where(*valid).group_by(_TOK.c.role))
            }
            n_changes = c.execute(select(func.count()).select_from(_ACT).where(token_actions)).scalar_one()
            changes = _entries(c, token_actions, limit) if n_changes else []
            return Access(
                requests=int(requests),
                by_bucket=dict(sorted(by_bucket.items())),
                failures=Cut[AccessFailure](
                    rows=[
                        AccessFailure(method=m, path=p, status=s, requests=int(n), last=_utc(last))
                        for m, p, s, n, last in rows
                    ],
                    total=int(n_failures),
                ),
                tokens_created=int(created),
                tokens_revoked=int(revoked),
                valid_by_role=dict(sorted(by_role.items())),
                role_changes=Cut[ActionEntry](rows=changes, total=int(n_changes)),
            )

        result: Access = self._read("the access log", work)
        return result

    def report_actions(self, digest: str) -> builtins.list[ReportAction]:
        """The actions that recorded a report with this sha256 (see the port)."""
        if not digest or any(ch not in "0123456789abcdef" for ch in digest):
            return []  # not a sha256 in hex: no action recorded it (and no LIKE pattern is built from it)
        query = (
            select(
                _ACT.c.id,
                _ACT.c.started,
                _ACT.c.actor,
                _ACT.c.action,
                func.coalesce(_ACT.c.outcome, _RUNNING),
            )
            .where(_ACT.c.action.like("report %"), _ACT.c.detail.like(f"%sha256 {digest}%"))
            .order_by(_ACT.c.started, _ACT.c.id)
        )
        rows = self._read("the action log", lambda c: c.execute(query).all())
        return [ReportAction(id=i, started=s, actor=a, action=ac, outcome=o) for i, s, a, ac, o in rows]


def _entries(c: Connection, condition: ColumnElement[bool], limit: int) -> builtins.list[ActionEntry]:
    """The action log entries matching ``condition``, the latest first."""
    rows = c.execute(
        select(
            _ACT.c.id,
            _ACT.c.started,
            _ACT.c.finished,
            _ACT.c.actor,
            _ACT.c.role,
            _ACT.c.channel,
            _ACT.c.action,
            _ACT.c.target,
            func.coalesce(_ACT.c.outcome, _RUNNING),
            _ACT.c.detail,
        )
        .where(condition)
        .order_by(_ACT.c.started.desc(), _ACT.c.id.desc())
        .limit(limit)
    ).all()
    return [
        ActionEntry(
            id=i,
            started=s,
            finished=f,
            actor=a,
            role=r,
            channel=ch,
            action=ac,
            target=t,
            outcome=o,
            detail=d,
        )
        for i, s, f, a, r, ch, ac, t, o, d in rows
    ]


def _issue_codes(issues: str) -> str:
    """The distinct codes of a JSON array of issues, in order of first appearance."""
    try:
        found = json.loads(issues)
    except ValueError:
        return ""
    codes: dict[str, None] = {}
    for item in found if isinstance(found, list) else []:
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            codes.setdefault(item["code"], None)
    return ", ".join(codes)


def _utc(value: datetime) -> datetime:
    """A time in UTC, time-zone aware (a driver may return another zone, or none for UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _plus(a: Totals, b: Totals) -> Totals:
    return Totals(
        aips=a.aips + b.aips,
        versions=a.versions + b.versions,
        files=a.files + b.files,
        bytes=a.bytes + b.bytes,
    )


def _minus(a: Totals, b: Totals) -> Totals:
    return Totals(
        aips=a.aips - b.aips,
        versions=a.versions - b.versions,
        files=a.files - b.files,
        bytes=a.bytes - b.bytes,
    )


if TYPE_CHECKING:
    # mypy proves here that the class satisfies the port it implements.
    def _is_evidence(evidence: SqlEvidence) -> EvidenceCatalog:
        return evidence
