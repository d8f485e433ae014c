"""The deaccession catalog contract: requests and tombstones, on the in-memory fake, SQLite and
PostgreSQL; and the database's own refusals (four eyes, one open request per AIP, an execution
without its event), which hold whatever code writes to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from oais.adapters.catalog.deaccession import SqlDeaccessionCatalog
from oais.adapters.catalog.deaccession_memory import InMemoryDeaccessionCatalog
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.memory import InMemoryCatalog
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.domain.deaccession import (
    DeaccessionRequest,
    DeletedVersion,
    LocationDeletion,
    RequestStatus,
    Tombstone,
    make_tombstone,
)
from oais.domain.errors import CatalogError, ConflictError
from oais.domain.ports import DeaccessionCatalog, UnitOfWorkFactory
from oais.domain.premis import AgentLink, AgentRole, Event, EventType, LoggedEvent, Outcome
from oais.domain.storage import Copy, Segment
from tests.integration.test_catalog_contract import CEST, SOFTWARE, T0, commit, make_record, reset_postgres

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@dataclass
class Backend:
    catalog: UnitOfWorkFactory
    deaccessions: DeaccessionCatalog
    engine: Engine | None = None  # the SQL backends' database, to act behind the adapter's back


def _sql(url: str) -> Iterator[Backend]:
    upgrade(url)
    factory = sql_unit_of_work_factory(url)
    deaccessions = SqlDeaccessionCatalog(make_engine(url))
    engine = make_engine(url)
    try:
        yield Backend(factory, deaccessions, engine)
    finally:
        engine.dispose()
        deaccessions.dispose()
        factory.dispose()


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "memory":
        shared = InMemoryCatalog()
        yield Backend(shared.unit_of_work, InMemoryDeaccessionCatalog(shared))
    elif request.param == "sqlite":
        yield from _sql(f"sqlite:///{tmp_path / 'catalog.db'}")
    else:
        yield from _sql(reset_postgres(request.getfixturevalue("postgres_url")))


def _aips(backend: Backend) -> None:
    """aip-1 (two versions, copies at a and b) and aip-2 (one version, copies at a)."""
    copy = Copy(location="a", stored=T0, verified=T0, objects=9, bytes=100)
    commit(
        backend.catalog,
        make_record("aip-1", 1, copies=[copy, copy.model_copy(update={"location": "b"})]),
        make_record("aip-1", 2, copies=[copy]),
        make_record("aip-2", 1, copies=[copy]),
    )


def _request(request_id: str = "dea-1", aip_id: str = "aip-1", minutes: int = 0) -> DeaccessionRequest:
    return DeaccessionRequest(
        id=request_id,
        aip_id=aip_id,
        reason="a duplicate of aip-2, ingested twice by mistake",
        requested_by="alice",
        requested_at=(T0 + timedelta(hours=1, minutes=minutes)).astimezone(CEST),
    )


def _approved(request: DeaccessionRequest) -> DeaccessionRequest:
    return request.model_copy(
        update={"status": RequestStatus.APPROVED, "decided_by": "bob", "decided_at": T0 + timedelta(hours=2)}
    )


def _tombstone(request: DeaccessionRequest, event_id: str = "urn:uuid:deletion-1") -> Tombstone:
    return make_tombstone(
        request=request,
        title="OMEGA Mars Express cubes",
        producer="IAS / OMEGA team",
        ingested=T0,
        versions=[
            DeletedVersion(
                version=n,
                created=T0 + timedelta(minutes=n),
                files=4,
                bytes=8767,
                payload_fingerprint="f" * 64,
            )
            for n in (1, 2)
        ],
        locations=[
            LocationDeletion(location="a", objects=20, bytes=9000),
            LocationDeletion(location="b", objects=11, bytes=5000),
        ],
        deleted=T0 + timedelta(hours=3),
        event_id=event_id,
        policy="storage@2",
        software="oais 0.1.0",
    )


def _event(event_id: str = "urn:uuid:deletion-1") -> LoggedEvent:
    return LoggedEvent(
        "aip-1",
        2,
        Event(
            identifier=event_id,
            type=EventType.DELETION,
            date_time=T0 + timedelta(hours=3),
            detail="deaccession of AIP aip-1",
            outcome=Outcome.SUCCESS,
            outcome_detail="asked by alice, approved by bob",
            agents=(AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),),
            objects=("aip-1", "aip-1/v1", "aip-1/v2"),
            policy="storage@2",
        ),
    )


def _segment() -> Segment:
    return Segment(
        location="a",
        sequence=1,
        key="events/000000000001.jsonl",
        sha256="e" * 64,
        previous=None,
        events=1,
        created=T0,
    )


def _copies(backend: Backend) -> set[tuple[str, int, str]]:
    with backend.catalog() as uow:
        return {(a, v, c.location) for a, v, c in uow.aips.copies()}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_requests_are_kept_and_listed_oldest_first(backend: Backend) -> None:
    _aips(backend)
    first, second = _request("dea-1", "aip-1"), _request("dea-2", "aip-2", minutes=5)
    backend.deaccessions.add(second)
    backend.deaccessions.add(first)

    found = backend.deaccessions.get("dea-1")
    assert found is not None and found == first.model_copy(update={"requested_at": first.requested_at})
    assert found.requested_at == first.requested_at and found.requested_at.utcoffset() == timedelta(0)
    assert [r.id for r in backend.deaccessions.list()] == ["dea-1", "dea-2"]
    assert [r.id for r in backend.deaccessions.list("aip-2")] == ["dea-2"]
    assert backend.deaccessions.list(status=RequestStatus.APPROVED) == []
    assert backend.deaccessions.get("dea-9") is None
    assert backend.deaccessions.withdrawn() == {}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_an_aip_has_one_open_request_at_most(backend: Backend) -> None:
    _aips(backend)
    backend.deaccessions.add(_request("dea-1"))
    with pytest.raises(ConflictError, match="AIP aip-1 already has an open deaccession request, dea-1"):
        backend.deaccessions.add(_request("dea-2"))
    rejected = _request("dea-1").model_copy(
        update={
            "status": RequestStatus.REJECTED,
            "decided_by": "bob",
            "decided_at": T0,
            "decision_note": "no",
        }
    )
    backend.deaccessions.update(rejected, RequestStatus.REQUESTED)
    backend.deaccessions.add(_request("dea-2"))  # the first one is closed
    assert [r.status for r in backend.deaccessions.list("aip-1")] == [
        RequestStatus.REJECTED,
        RequestStatus.REQUESTED,
    ]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_decision_is_compare_and_set_and_keeps_four_eyes(backend: Backend) -> None:
    _aips(backend)
    request = _request()
    backend.deaccessions.add(request)
    backend.deaccessions.update(_approved(request), RequestStatus.REQUESTED)
    # A second administrator deciding on the same stale view loses.
    with pytest.raises(ConflictError, match="dea-1 is approved by bob now, no longer requested"):
        backend.deaccessions.update(
            _approved(request).model_copy(update={"decided_by": "carol"}), RequestStatus.REQUESTED
        )
    stored = backend.deaccessions.get("dea-1")
    assert stored is not None and stored.decided_by == "bob"
    other = _request("dea-2", "aip-2")
    backend.deaccessions.add(other)
    with pytest.raises(CatalogError, match="four_eyes"):
        backend.deaccessions.update(
            _approved(other).model_copy(update={"decided_by": "alice"}), RequestStatus.REQUESTED
        )
    stored = backend.deaccessions.get("dea-2")
    assert stored is not None and stored.status is RequestStatus.REQUESTED


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_an_execution_that_begins_withdraws_the_aip_from_audits_and_replication(backend: Backend) -> None:
    _aips(backend)
    request = _request()
    backend.deaccessions.add(request)
    approved = _approved(request)
    backend.deaccessions.update(approved, RequestStatus.REQUESTED)
    assert backend.deaccessions.withdrawn() == {}  # approved, not begun: still kept

    started = approved.model_copy(
        update={
            "started": T0 + timedelta(hours=2, minutes=1),
            "planned": (LocationDeletion(location="a", objects=20, bytes=9000),),
        }
    )
    backend.deaccessions.begin(started)

    assert _copies(backend) == {("aip-2", 1, "a")}
    assert list(backend.deaccessions.withdrawn()) == ["aip-1"]
    stored = backend.deaccessions.get("dea-1")
    assert stored is not None and stored.planned == started.planned and stored.started == started.started
    with pytest.raises(ConflictError, match="being carried out already"):
        backend.deaccessions.begin(started)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_finished_execution_is_recorded_with_its_tombstone_event_and_segments(backend: Backend) -> None:
    _aips(backend)
    request = _request()
    backend.deaccessions.add(request)
    approved = _approved(request)
    backend.deaccessions.update(approved, RequestStatus.REQUESTED)
    tombstone = _tombstone(approved)
    done = approved.model_copy(
        update={
            "status": RequestStatus.EXECUTED,
            "started": tombstone.deleted,
            "executed_at": tombstone.deleted,
            "event_id": tombstone.event_id,
            "detail": tombstone.summary(),
        }
    )

    backend.deaccessions.finish(done, tombstone, _event(), [SOFTWARE], [_segment()])

    assert backend.deaccessions.tombstone("aip-1") == tombstone
    assert backend.deaccessions.tombstone("aip-2") is None
    assert backend.deaccessions.get("dea-1") == done
    assert list(backend.deaccessions.withdrawn()) == ["aip-1"]
    assert _copies(backend) == {("aip-2", 1, "a")}
    with backend.catalog() as uow:
        record = uow.aips.get("aip-1")
        assert record is not None and record.events[-1].type is EventType.DELETION
        assert len(record.files) == 4  # the catalog keeps the history
        assert uow.aips.segments("a") == [_segment()]
    with pytest.raises(ConflictError):
        backend.deaccessions.finish(done, tombstone, _event("urn:uuid:deletion-2"), [SOFTWARE], [])


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_tombstone_restores_the_aip_as_history_into_an_empty_catalog(backend: Backend) -> None:
    tombstone = _tombstone(_approved(_request()))

    backend.deaccessions.restore(tombstone)

    assert backend.deaccessions.tombstone("aip-1") == tombstone
    restored = backend.deaccessions.get("dea-1")
    assert restored is not None and restored.status is RequestStatus.EXECUTED
    assert (restored.requested_by, restored.decided_by, restored.event_id) == (
        "alice",
        "bob",
        "urn:uuid:deletion-1",
    )
    assert list(backend.deaccessions.withdrawn()) == ["aip-1"]
    with backend.catalog() as uow:
        record = uow.aips.get("aip-1")
        assert (
            record is not None and record.version.version == 2 and record.files == [] and record.copies == []
        )
        assert (record.version.files, record.version.bytes) == (4, 8767)
        assert record.aip.title == "OMEGA Mars Express cubes"
        # The event log's deletion event can now be replayed onto the version it names.
        uow.aips.add_events("aip-1", 2, [_event().event], [SOFTWARE])
        uow.commit()
    with pytest.raises(ConflictError, match="tombstone of AIP aip-1 already"):
        backend.deaccessions.restore(tombstone)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_tombstone_is_not_restored_over_an_aip_the_catalog_holds(backend: Backend) -> None:
    _aips(backend)
    with pytest.raises(ConflictError, match="holds files of AIP aip-1"):
        backend.deaccessions.restore(_tombstone(_approved(_request())))
    assert backend.deaccessions.tombstone("aip-1") is None


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
def test_the_database_refuses_what_the_rules_forbid_whoever_writes(backend: Backend) -> None:
    """The CHECK constraints and the partial unique index hold even against a hand-written UPDATE."""
    _aips(backend)
    backend.deaccessions.add(_request("dea-1"))
    assert backend.engine is not None
    refusals = [
        # The requester approving their own request.
        "UPDATE deaccession_requests SET status = 'approved', decided_by = requested_by, "
        "decided_at = requested_at WHERE id = 'dea-1'",
        # Executed without a deletion event.
        "UPDATE deaccession_requests SET status = 'executed', decided_by = 'bob', decided_at = requested_at, "
        "executed_at = requested_at WHERE id = 'dea-1'",
        # Begun before any approval.
        "UPDATE deaccession_requests SET started = requested_at WHERE id = 'dea-1'",
        # A second open request for the same AIP.
        "INSERT INTO deaccession_requests (id, aip_id, reason, requested_by, requested_at, status, detail) "
        "SELECT 'dea-9', aip_id, reason, 'carol', requested_at, 'requested', '' FROM deaccession_requests "
        "WHERE id = 'dea-1'",
        # An unknown status.
        "UPDATE deaccession_requests SET status = 'deleted' WHERE id = 'dea-1'",
    ]
    for statement in refusals:
        with pytest.raises(IntegrityError), backend.engine.begin() as connection:
            connection.execute(text(statement))
    stored = backend.deaccessions.get("dea-1")
    assert stored is not None and stored == _request("dea-1").model_copy(
        update={"requested_at": stored.requested_at}
    )
    assert stored.status is RequestStatus.REQUESTED and stored.decided_by is None
