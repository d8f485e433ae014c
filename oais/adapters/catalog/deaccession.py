"""Deaccession requests and tombstones in the catalog database (tables of migration 0007).

Every change of a request is a compare and set on its status (``UPDATE ... WHERE status = ...``), so
that two administrators deciding at once cannot both win; the partial unique index on open requests
keeps one open request per AIP, whoever asks at the same moment. The catalog side of an execution
(the request executed, its tombstone, the deletion event and the event log segments, and no copy,
audit slice or finding of the AIP left) is one transaction.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from oais.adapters.catalog.admin_rows import DeaccessionRequestRow, TombstoneRow
from oais.adapters.catalog.repository import SqlAipRepository, describe_integrity_error
from oais.adapters.catalog.rows import (
    AipRow,
    AipVersionRow,
    AuditFindingRow,
    AuditSliceRow,
    CopyRow,
    FileRow,
    table,
)
from oais.domain.deaccession import (
    DeaccessionRequest,
    LocationDeletion,
    RequestStatus,
    Tombstone,
    tombstone_from_json,
    tombstone_json,
)
from oais.domain.errors import CatalogError, ConflictError
from oais.domain.premis import Agent, LoggedEvent
from oais.domain.storage import Segment

if TYPE_CHECKING:
    from oais.domain.ports import DeaccessionCatalog

_R = table(DeaccessionRequestRow)
_T = table(TombstoneRow)

_WITHDRAWN = or_(
    _R.c.status == RequestStatus.EXECUTED.value,
    (_R.c.status == RequestStatus.APPROVED.value) & _R.c.started.is_not(None),
)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]


def _planned_json(planned: Sequence[LocationDeletion]) -> str | None:
    if not planned:
        return None
    return json.dumps([p.model_dump(mode="json") for p in planned], sort_keys=True, separators=(",", ":"))


def _values(request: DeaccessionRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "aip_id": request.aip_id,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at,
        "status": request.status.value,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "executed_at": request.executed_at,
        "event_id": request.event_id,
        "started": request.started,
        "planned": _planned_json(request.planned),
        "detail": request.detail,
        "retry_after": request.retry_after,
    }


def _request(row: Any) -> DeaccessionRequest:
    planned = (
        tuple(LocationDeletion.model_validate(p) for p in json.loads(row.planned)) if row.planned else ()
    )
    return DeaccessionRequest(
        id=row.id,
        aip_id=row.aip_id,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        status=RequestStatus(row.status),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        started=row.started,
        planned=planned,
        executed_at=row.executed_at,
        event_id=row.event_id,
        detail=row.detail,
        retry_after=row.retry_after,
    )


class SqlDeaccessionCatalog:
    """:class:`~oais.domain.ports.DeaccessionCatalog` on the catalog database (migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        """Args:
        engine: the catalog's engine.
        """
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _session(self, what: str) -> Iterator[Session]:
        """A session committed at the end of the block; a database failure becomes CatalogError."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise CatalogError(f"cannot {what}: {describe_integrity_error(exc)}") from exc
        except SQLAlchemyError as exc:
            session.rollback()
            raise CatalogError(f"cannot {what}: {_one_line(exc)}") from exc
        finally:
            session.close()

    # -- requests -------------------------------------------------------------------------------

    def add(self, request: DeaccessionRequest) -> None:
        """Record a new request (see the port).

        Raises:
            ConflictError: the AIP already has an open request.
            CatalogError: no such AIP, or the database failed.
        """
        try:
            with self._session(f"record deaccession request {request.id}") as session:
                session.execute(insert(_R), _values(request))
        except CatalogError:
            for other in self.list(request.aip_id):
                if other.open:
                    raise ConflictError(
                        f"AIP {request.aip_id} already has an open deaccession request, {other.id} "
                        f"({other.status.value}, asked by {other.requested_by})"
                    ) from None
            raise

    def get(self, request_id: str) -> DeaccessionRequest | None:
        """One request, or None."""
        with self._session(f"read deaccession request {request_id}") as session:
            row = session.execute(select(_R).where(_R.c.id == request_id)).first()
        return _request(row) if row is not None else None

    def list(
        self, aip_id: str | None = None, status: RequestStatus | None = None
    ) -> builtins.list[DeaccessionRequest]:
        """Requests, oldest first (of one AIP, of one status, if given)."""
        query = select(_R).order_by(_R.c.requested_at, _R.c.id)
        if aip_id is not None:
            query = query.where(_R.c.aip_id == aip_id)
        if status is not None:
            query = query.where(_R.c.status == status.value)
        with self._session("list deaccession requests") as session:
            rows = session.execute(query).all()
        return [_request(row) for row in rows]

    def _set(
        self,
        session: Session,
        request: DeaccessionRequest,
        expected: RequestStatus,
        not_started: bool = False,
    ) -> None:
        """Compare and set; ConflictError if the stored status is no longer ``expected`` (or, with
        ``not_started``, if its execution began meanwhile)."""
        values = _values(request)
        del values["id"]
        where = [_R.c.id == request.id, _R.c.status == expected.value]
        if not_started:
            where.append(_R.c.started.is_(None))
        result = session.execute(update(_R).where(*where).values(**values))
        if int(getattr(result, "rowcount", 0) or 0) != 1:
            row = session.execute(select(_R).where(_R.c.id == request.id)).first()
            if row is None:
                raise ConflictError(f"deaccession request {request.id} is not in the catalog")
            now = _request(row)
            if not_started and now.status is expected and now.started is not None:
                raise ConflictError(
                    f"deaccession request {request.id} is being carried out already (since "
                    f"{now.started.isoformat()})"
                )
            by = f" by {now.decided_by}" if now.decided_by else ""
            raise ConflictError(
                f"deaccession request {request.id} is {now.status.value}{by} now, no longer {expected.value}"
            )

    def update(self, request: DeaccessionRequest, expected: RequestStatus) -> None:
        """Store a request's new state if it still has the status ``expected``.

        Raises:
            ConflictError: it has another status now.
            CatalogError: the database refused it (the four-eyes rule among others) or failed.
        """
        with self._session(f"update deaccession request {request.id}") as session:
            self._set(session, request, expected)

    # -- execution ------------------------------------------------------------------------------

    @staticmethod
    def _forget_copies(session: Session, aip_id: str) -> None:
        """No copy, audit slice or finding of ``aip_id`` left: audits and replication stop."""
        versions = select(AipVersionRow.id).where(AipVersionRow.aip_id == aip_id).scalar_subquery()
        session.execute(delete(table(AuditSliceRow)).where(table(AuditSliceRow).c.version_id.in_(versions)))
        session.execute(delete(table(AuditFindingRow)).where(table(AuditFindingRow).c.aip_id == aip_id))
        session.execute(delete(table(CopyRow)).where(table(CopyRow).c.version_id.in_(versions)))

    def begin(self, request: DeaccessionRequest) -> None:
        """Record that the execution begins and forget the AIP's copies (one transaction).

        Raises:
            ConflictError: the request is no longer approved.
            CatalogError: the database failed.
        """
        with self._session(f"begin deaccession request {request.id}") as session:
            self._set(session, request, RequestStatus.APPROVED, not_started=True)
            self._forget_copies(session, request.aip_id)

    def finish(
        self,
        request: DeaccessionRequest,
        tombstone: Tombstone,
        event: LoggedEvent,
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> None:
        """Record the executed request, its tombstone, the deletion event and the segments.

        Raises:
            ConflictError: the request is no longer approved, or the AIP has a tombstone already.
            CatalogError: the database failed; nothing is recorded.
        """
        with self._session(f"record the execution of deaccession request {request.id}") as session:
            self._set(session, request, RequestStatus.APPROVED)
            if session.execute(select(_T.c.request_id).where(_T.c.aip_id == request.aip_id)).first():
                raise ConflictError(f"AIP {request.aip_id} has a tombstone already")
            session.execute(
                insert(_T),
                {
                    "aip_id": tombstone.aip_id,
                    "request_id": tombstone.request_id,
                    "deleted": tombstone.deleted,
                    "record": tombstone_json(tombstone).decode("utf-8"),
                },
            )
            repository = SqlAipRepository(session)
            repository.add_events(event.aip_id, event.version, [event.event], agents)
            for segment in segments:
                repository.add_segment(segment)
            self._forget_copies(session, request.aip_id)

    # -- tombstones -----------------------------------------------------------------------------

    def tombstone(self, aip_id: str) -> Tombstone | None:
        """The tombstone of ``aip_id``, or None."""
        with self._session(f"read the tombstone of AIP {aip_id}") as session:
            record = session.execute(select(_T.c.record).where(_T.c.aip_id == aip_id)).scalar()
        if record is None:
            return None
        try:
            return tombstone_from_json(record.encode("utf-8"), f"the catalog's tombstone of AIP {aip_id}")
        except ValueError as exc:
            raise CatalogError(str(exc)) from exc

    def withdrawn(self) -> dict[str, DeaccessionRequest]:
        """AIP id -> request, for every AIP deaccessioned or being deaccessioned."""
        with self._session("list the deaccessioned AIPs") as session:
            rows = session.execute(select(_R).where(_WITHDRAWN)).all()
        return {row.aip_id: _request(row) for row in rows}

    def restore(self, tombstone: Tombstone) -> None:
        """Put a tombstone read from storage back into the catalog, with the AIP and its versions
        as history (no files, no copies) and the executed request.

        Raises:
            ConflictError: the catalog holds files of the AIP, or a tombstone of it already.
            CatalogError: the database failed.
        """
        aip_id = tombstone.aip_id
        with self._session(f"restore the tombstone of AIP {aip_id}") as session:
            if session.execute(select(_T.c.aip_id).where(_T.c.aip_id == aip_id)).first() is not None:
                raise ConflictError(f"the catalog holds a tombstone of AIP {aip_id} already")
            held = session.execute(
                select(FileRow.id)
                .join(AipVersionRow, AipVersionRow.id == FileRow.version_id)
                .where(AipVersionRow.aip_id == aip_id)
            ).first()
            if held is not None:
                raise ConflictError(
                    f"the catalog holds files of AIP {aip_id}, which a tombstone says are deleted"
                )
            if session.execute(select(AipRow.id).where(AipRow.id == aip_id)).first() is None:
                session.execute(
                    insert(table(AipRow)),
                    {
                        "id": aip_id,
                        "title": tombstone.title,
                        "producer": tombstone.producer,
                        "created": tombstone.ingested,
                        "metadata": None,
                    },
                )
            known = set(
                session.execute(select(AipVersionRow.version).where(AipVersionRow.aip_id == aip_id)).scalars()
            )
            for v in tombstone.versions:
                if v.version in known:
                    continue
                session.execute(
                    insert(table(AipVersionRow)),
                    {
                        "aip_id": aip_id,
                        "version": v.version,
                        "created": v.created,
                        "files": v.files,
                        "bytes": v.bytes,
                        "payload_fingerprint": v.payload_fingerprint,
                        "location": f"aips/{aip_id}/v{v.version}",
                    },
                )
            request = DeaccessionRequest(
                id=tombstone.request_id,
                aip_id=aip_id,
                reason=tombstone.reason,
                requested_by=tombstone.requested_by,
                requested_at=tombstone.requested_at,
                status=RequestStatus.EXECUTED,
                decided_by=tombstone.approved_by,
                decided_at=tombstone.approved_at,
                decision_note=tombstone.approval_note,
                started=tombstone.deleted,
                planned=tombstone.locations,
                executed_at=tombstone.deleted,
                event_id=tombstone.event_id,
                detail="restored from the tombstone by a catalog rebuild",
            )
            session.execute(insert(_R), _values(request))
            session.execute(
                insert(_T),
                {
                    "aip_id": aip_id,
                    "request_id": tombstone.request_id,
                    "deleted": tombstone.deleted,
                    "record": tombstone_json(tombstone).decode("utf-8"),
                },
            )


if TYPE_CHECKING:

    def _is_port(catalog: SqlDeaccessionCatalog) -> DeaccessionCatalog:
        return catalog
