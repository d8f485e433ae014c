"""Deaccession: the rules (pure), and the service on the shipped fakes (in-memory locations with and
without Object Lock, the in-memory catalog and deaccession catalog, a clock the test moves)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.deaccession_memory import InMemoryDeaccessionCatalog
from oais.adapters.catalog.memory import InMemoryCatalog
from oais.adapters.local_store import LocalScratch
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.administration.deaccession import DeaccessionService
from oais.archival_storage.layout import tombstone_key
from oais.archival_storage.service import ArchivalStorage
from oais.domain.access_control import Role
from oais.domain.actions import Actor, Basis
from oais.domain.deaccession import (
    TRANSITIONS,
    DeaccessionRequest,
    LocationDeletion,
    RequestStatus,
    clean_text,
    decide,
    make_tombstone,
    new_request,
    require_executable,
    tombstone_from_json,
    tombstone_json,
)
from oais.domain.errors import AccessDenied, AipDeaccessioned, ConflictError, StorageError, ValidationFailed
from oais.domain.premis import Agent, AgentRole, AgentType, EventType
from oais.domain.storage import (
    Copy,
    DeaccessionRules,
    DeletionPlan,
    DeletionReport,
    Retention,
    RetentionMode,
    StoragePolicy,
    StoredVersion,
    WriteItem,
    WriteResult,
)
from tests.integration.test_catalog_contract import make_record

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
ALICE = Actor(name="alice", basis=Basis.TOKEN, role=Role.ADMIN)
BOB = Actor(name="bob", basis=Basis.TOKEN, role=Role.ADMIN)
AUDITOR = Actor(name="audra", basis=Basis.TOKEN, role=Role.AUDITOR)
PRODUCER = Actor(name="ias pipeline", basis=Basis.TOKEN, role=Role.PRODUCER)
OS_USER = Actor(name="root", basis=Basis.OS_USER, role=Role.ADMIN)
DAEMON = Actor(name="oais daemon d1", basis=Basis.DAEMON)
SOFTWARE = Agent(identifier="software:oais/9.9", name="oais", type=AgentType.SOFTWARE, version="9.9")


def _request(**changes: Any) -> DeaccessionRequest:
    request = new_request(
        request_id="dea-1", aip_id="aip-1", reason="ingested twice", actor=ALICE, now=T0, requests_of_aip=()
    )
    return request.model_copy(update=changes)


# --- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "said"),
    [
        (OS_USER, "the operating-system user 'root' proves no role; set OAIS_TOKEN"),
        (DAEMON, "the daemon 'oais daemon d1' has none"),
        (AUDITOR, "token 'audra' has the role auditor"),
        (PRODUCER, "token 'ias pipeline' has the role producer"),
    ],
)
def test_only_an_administrators_token_asks_or_decides(actor: Actor, said: str) -> None:
    with pytest.raises(AccessDenied, match=said):
        new_request(request_id="dea-1", aip_id="aip-1", reason="r", actor=actor, now=T0, requests_of_aip=())
    with pytest.raises(AccessDenied, match=said):
        decide(_request(), actor=actor, approve=True, note=None, now=T0)
    with pytest.raises(AccessDenied, match=said):
        decide(_request(), actor=actor, approve=False, note="no", now=T0)


def test_the_requester_may_neither_approve_nor_reject() -> None:
    for approve in (True, False):
        with pytest.raises(AccessDenied, match=r"asked for by 'alice', who may not also .* \(four eyes\)"):
            decide(_request(), actor=ALICE, approve=approve, note="mine", now=T0)


def test_a_decision_is_made_once() -> None:
    approved = decide(_request(), actor=BOB, approve=True, note=None, now=T0)
    assert (approved.status, approved.decided_by, approved.decided_at, approved.decision_note) == (
        RequestStatus.APPROVED,
        "bob",
        T0,
        None,
    )
    rejected = decide(_request(), actor=BOB, approve=False, note="  keep it: still cited  ", now=T0)
    assert (rejected.status, rejected.decision_note) == (RequestStatus.REJECTED, "keep it: still cited")
    carol = Actor(name="carol", basis=Basis.TOKEN, role=Role.ADMIN)
    with pytest.raises(
        ConflictError, match=r"cannot approve deaccession request dea-1 .* already rejected by bob"
    ):
        decide(rejected, actor=carol, approve=True, note=None, now=T0)
    with pytest.raises(ConflictError, match="already approved by bob"):
        decide(approved, actor=carol, approve=True, note=None, now=T0)
    with pytest.raises(ConflictError, match="already approved by bob"):
        decide(approved, actor=carol, approve=False, note="too late", now=T0)
    with pytest.raises(ValidationFailed, match="the note cannot be kept: it is empty") as caught:
        decide(_request(), actor=BOB, approve=False, note=" ", now=T0)
    assert [i.code for i in caught.value.issues] == ["DEA-E001"]


def test_only_an_approved_request_is_carried_out() -> None:
    assert TRANSITIONS[RequestStatus.REQUESTED] == {RequestStatus.APPROVED, RequestStatus.REJECTED}
    assert TRANSITIONS[RequestStatus.APPROVED] == {RequestStatus.EXECUTED}
    assert TRANSITIONS[RequestStatus.REJECTED] == TRANSITIONS[RequestStatus.EXECUTED] == frozenset()
    with pytest.raises(
        ConflictError, match="cannot carry out deaccession request dea-1: it has not been approved"
    ):
        require_executable(_request())
    with pytest.raises(ConflictError, match="already rejected"):
        require_executable(decide(_request(), actor=BOB, approve=False, note="no", now=T0))
    executed = _request(
        status=RequestStatus.EXECUTED, decided_by="bob", decided_at=T0, executed_at=T0, event_id="e"
    )
    with pytest.raises(ConflictError, match="already executed on 2030-03-01"):
        require_executable(executed)
    require_executable(decide(_request(), actor=BOB, approve=True, note=None, now=T0))


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("", "it is empty"),
        (" \n\t ", "it is empty"),
        ("removed\x00", "the control character U+0000"),
        ("a" * 4001, "4001 characters, more than 4000"),
    ],
)
def test_a_reason_must_be_one_premis_and_json_can_hold(reason: str, problem: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(problem)):
        new_request(
            request_id="dea-1", aip_id="aip-1", reason=reason, actor=ALICE, now=T0, requests_of_aip=()
        )
    assert clean_text("  two\nparagraphs\t ", "reason") == "two\nparagraphs"


def test_one_open_request_per_aip_and_none_after_the_deaccession() -> None:
    def ask(earlier: DeaccessionRequest) -> None:
        new_request(
            request_id="dea-2", aip_id="aip-1", reason="again", actor=BOB, now=T0, requests_of_aip=[earlier]
        )

    with pytest.raises(ConflictError, match="already has an open deaccession request, dea-1 \\(requested"):
        ask(_request())
    with pytest.raises(ConflictError, match="open deaccession request, dea-1 \\(approved"):
        ask(_request(status=RequestStatus.APPROVED, decided_by="bob", decided_at=T0))
    with pytest.raises(ConflictError, match="AIP aip-1 was already deaccessioned \\(request dea-1"):
        ask(
            _request(
                status=RequestStatus.EXECUTED, decided_by="bob", decided_at=T0, executed_at=T0, event_id="e"
            )
        )
    ask(_request(status=RequestStatus.REJECTED, decided_by="bob", decided_at=T0, decision_note="no"))


@pytest.mark.parametrize(
    ("version", "bypass", "blocked"),
    [
        (StoredVersion(key="k"), False, False),
        (
            StoredVersion(
                key="k", retention_mode=RetentionMode.COMPLIANCE, retain_until=T0 + timedelta(days=1)
            ),
            True,
            True,
        ),
        (StoredVersion(key="k", retention_mode=RetentionMode.COMPLIANCE, retain_until=T0), False, False),
        (
            StoredVersion(
                key="k", retention_mode=RetentionMode.GOVERNANCE, retain_until=T0 + timedelta(days=1)
            ),
            False,
            True,
        ),
        (
            StoredVersion(
                key="k", retention_mode=RetentionMode.GOVERNANCE, retain_until=T0 + timedelta(days=1)
            ),
            True,
            False,
        ),
        (StoredVersion(key="k", legal_hold=True), True, True),
    ],
)
def test_what_blocks_a_deletion(version: StoredVersion, bypass: bool, blocked: bool) -> None:
    assert version.blocked(T0, bypass) is blocked


def test_the_tombstone_is_canonical_json_that_reads_back() -> None:
    approved = decide(_request(), actor=BOB, approve=True, note="agreed", now=T0)
    tombstone = make_tombstone(
        request=approved,
        title="Émission",
        producer="IAS",
        ingested=T0 - timedelta(days=9),
        versions=[],
        locations=[
            LocationDeletion(location="b", objects=2, bytes=3),
            LocationDeletion(location="a", objects=1, bytes=1),
        ],
        deleted=T0,
        event_id="urn:uuid:1",
        policy="storage@2",
        software="oais 9.9",
    )
    data = tombstone_json(tombstone)
    assert data.endswith(b"}\n") and "Émission".encode() in data
    assert list(json.loads(data)) == sorted(json.loads(data))
    assert [loc.location for loc in tombstone.locations] == ["a", "b"]
    assert tombstone_from_json(data, "here") == tombstone
    with pytest.raises(ValueError, match="here: not an oais tombstone: format"):
        tombstone_from_json(data.replace(b'"format": 1', b'"format": 2'), "here")


# --- the service on fakes -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.time = T0

    def now(self) -> datetime:
        return self.time


def _service_parts(
    tmp_path: Path,
    *,
    object_lock: bool,
    retention: Retention | None = None,
    bypass: bool = False,
    wrap: Callable[[InMemoryObjectStore], Any] | None = None,
) -> tuple[DeaccessionService, dict[str, InMemoryObjectStore], InMemoryCatalog, Clock]:
    clock = Clock()
    catalog = InMemoryCatalog()
    stores = {"a": InMemoryObjectStore("a"), "b": InMemoryObjectStore("b", object_lock=object_lock)}
    deaccessions = InMemoryDeaccessionCatalog(catalog)
    storage = ArchivalStorage(
        locations={n: (wrap(s) if wrap else s) for n, s in stores.items()},
        policy=StoragePolicy(
            id="storage",
            version="2",
            locations=("a", "b"),
            retention=retention,
            deaccession=DeaccessionRules(governance_bypass=bypass),
        ),
        catalog=catalog.unit_of_work,
        bag_codec=BagItCodec(),
        clock=clock,
        software=SOFTWARE,
        scratch=LocalScratch(tmp_path / "scratch"),
        deaccessions=deaccessions,
    )
    service = DeaccessionService(
        catalog=catalog.unit_of_work,
        deaccessions=deaccessions,
        storage=storage,
        clock=clock,
        software=SOFTWARE,
    )
    return service, stores, catalog, clock


def _stored(
    stores: dict[str, InMemoryObjectStore], catalog: InMemoryCatalog, retention: Retention | None
) -> None:
    """aip-1 (two versions) and aip-2, their objects at both locations, their copies in the catalog."""
    for aip, versions in (("aip-1", (1, 2)), ("aip-2", (1,))):
        for n in versions:
            items = [
                WriteItem(
                    key=f"aips/{aip}/v{n}/{name}", size=len(d), sha256=hashlib.sha256(d).hexdigest(), data=d
                )
                for name, d in (
                    ("bagit.txt", b"BagIt-Version: 1.0\n"),
                    ("data/objects/x", f"{aip} v{n}".encode()),
                )
            ]
            for store in stores.values():
                list(store.write(items, retention=retention, now=T0))
            copies = [Copy(location=s, stored=T0, verified=T0, objects=2, bytes=30) for s in stores]
            with catalog.unit_of_work() as uow:
                uow.aips.add(make_record(aip, n, copies=copies))
                uow.commit()


def _keys(store: InMemoryObjectStore, aip: str) -> list[str]:
    return [v.key for v in store.versions() if v.key.startswith(f"aips/{aip}/")]


def test_an_approved_request_deletes_every_version_everywhere_and_leaves_a_tombstone(tmp_path: Path) -> None:
    governance = Retention(mode=RetentionMode.GOVERNANCE, days=30)
    service, stores, catalog, clock = _service_parts(
        tmp_path, object_lock=True, retention=governance, bypass=True
    )
    _stored(stores, catalog, governance)
    aip2_before = {n: _keys(s, "aip-2") for n, s in stores.items()}
    request = service.request("aip-1", "ingested twice by mistake", ALICE)
    clock.time += timedelta(hours=1)

    outcome = service.approve(request.id, BOB, "agreed")

    assert outcome.state == "executed" and outcome.problems == []
    for name, store in stores.items():
        assert _keys(store, "aip-1") == [tombstone_key("aip-1")], name
        assert {n: _keys(s, "aip-2") for n, s in stores.items()} == aip2_before
    tombstone = tombstone_from_json(stores["a"].get_bytes(tombstone_key("aip-1")), "a")
    assert tombstone == outcome.tombstone
    assert (tombstone.requested_by, tombstone.approved_by, tombstone.approval_note) == (
        "alice",
        "bob",
        "agreed",
    )
    assert [v.version for v in tombstone.versions] == [1, 2]
    assert {loc.location: loc.objects for loc in tombstone.locations} == {"a": 4, "b": 4}
    # The tombstone on the locked location is itself retained.
    head = stores["b"].head(tombstone_key("aip-1"))
    assert head is not None and head.retention_mode is RetentionMode.GOVERNANCE
    with catalog.unit_of_work() as uow:
        record = uow.aips.get("aip-1")
        assert record is not None and record.copies == []
        deletion = record.events[-1]
        assert deletion.type is EventType.DELETION and deletion.identifier == tombstone.event_id
        assert {(link.agent, link.role) for link in deletion.agents} == {
            (SOFTWARE.identifier, AgentRole.EXECUTING_PROGRAM),
            ("person:alice", AgentRole.IMPLEMENTER),
            ("person:bob", AgentRole.AUTHORIZER),
        }
        assert deletion.objects == ("aip-1", "aip-1/v1", "aip-1/v2")
        assert "reason: ingested twice by mistake" in deletion.outcome_detail
        assert [s.location for s in uow.aips.segments("a") + uow.aips.segments("b")] == ["a", "b"]
    with pytest.raises(AipDeaccessioned, match=r"AIP aip-1 was deaccessioned on .* approved by bob"):
        service._storage.verify("aip-1")
    with pytest.raises(ConflictError, match="already executed"):
        service.approve(request.id, Actor(name="carol", basis=Basis.TOKEN, role=Role.ADMIN))
    with pytest.raises(ConflictError, match="already deaccessioned"):
        service.request("aip-1", "again", BOB)


def test_compliance_retention_makes_the_deletion_wait_until_its_date(tmp_path: Path) -> None:
    compliance = Retention(mode=RetentionMode.COMPLIANCE, days=10)
    service, stores, catalog, clock = _service_parts(
        tmp_path, object_lock=True, retention=compliance, bypass=True
    )
    _stored(stores, catalog, compliance)
    before = {n: _keys(s, "aip-1") for n, s in stores.items()}
    request = service.request("aip-1", "withdrawn by the producer", ALICE)

    outcome = service.approve(request.id, BOB)

    assert outcome.state == "waiting"
    assert outcome.request.status is RequestStatus.APPROVED and outcome.request.started is None
    assert outcome.request.retry_after == compliance.until(T0)
    assert f"waiting for retention until {compliance.until(T0).isoformat()}" in outcome.request.detail
    assert "location 'b': 4 object versions retained until" in outcome.request.detail
    assert "(COMPLIANCE)" in outcome.request.detail
    assert {n: _keys(s, "aip-1") for n, s in stores.items()} == before  # nothing anywhere, not even at a
    assert service.run_due(DAEMON) == []  # not due yet
    clock.time = compliance.until(T0) - timedelta(seconds=1)
    assert service.run_due(OS_USER) == []
    assert service._storage.withdrawn() == {}  # still kept, audited and replicated meanwhile

    clock.time = compliance.until(T0) + timedelta(seconds=1)
    (done,) = service.run_due(DAEMON)

    assert done.state == "executed"
    assert {n: _keys(s, "aip-1") for n, s in stores.items()} == {n: [tombstone_key("aip-1")] for n in stores}


def test_governance_retention_waits_too_unless_the_policy_lifts_it(tmp_path: Path) -> None:
    governance = Retention(mode=RetentionMode.GOVERNANCE, days=3)
    service, stores, catalog, _ = _service_parts(
        tmp_path, object_lock=True, retention=governance, bypass=False
    )
    _stored(stores, catalog, governance)
    request = service.request("aip-1", "withdrawn", ALICE)
    outcome = service.approve(request.id, BOB)
    assert outcome.state == "waiting"
    assert "the storage policy does not allow lifting GOVERNANCE retention" in outcome.request.detail
    assert len(_keys(stores["b"], "aip-1")) == 4


def test_only_an_administrator_or_the_daemon_runs_due_deletions(tmp_path: Path) -> None:
    service, _, _, _ = _service_parts(tmp_path, object_lock=False)
    for actor in (AUDITOR, PRODUCER):
        with pytest.raises(AccessDenied, match="needs an administrator"):
            service.run_due(actor)
    assert service.run_due(OS_USER) == [] and service.run_due(DAEMON) == []


class _Failing:
    """A location that fails in one method, a number of times, and otherwise is the store it wraps."""

    def __init__(self, store: InMemoryObjectStore, method: str, times: int) -> None:
        self._store = store
        self._method = method
        self.times = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _fail(self) -> None:
        if self.times:
            self.times -= 1
            raise StorageError(f"location '{self._store.name}': cannot reach the endpoint")

    def plan_deletion(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionPlan:
        if self._method == "plan_deletion":
            self._fail()
        return self._store.plan_deletion(prefix, now, bypass_governance, keep)

    def delete_prefix(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionReport:
        if self._method == "delete_prefix":
            self._fail()
        return self._store.delete_prefix(prefix, now, bypass_governance, keep)

    def write(self, items: Sequence[WriteItem], **kwargs: Any) -> Iterator[WriteResult]:
        if self._method == "write":
            self._fail()
        return self._store.write(items, **kwargs)


def test_a_location_that_cannot_be_checked_stops_the_deletion_everywhere(tmp_path: Path) -> None:
    wrapped: dict[str, _Failing] = {}

    def wrap(store: InMemoryObjectStore) -> Any:
        if store.name != "b":
            return store
        wrapped["b"] = _Failing(store, "plan_deletion", 1)
        return wrapped["b"]

    service, stores, catalog, _ = _service_parts(tmp_path, object_lock=False, wrap=wrap)
    _stored(stores, catalog, None)
    request = service.request("aip-1", "withdrawn", ALICE)

    outcome = service.approve(request.id, BOB)

    assert outcome.state == "failed"
    assert "a location could not be checked (nothing was deleted anywhere)" in outcome.request.detail
    assert outcome.problems == ["location 'b': cannot reach the endpoint"]
    assert len(_keys(stores["a"], "aip-1")) == 4 and len(_keys(stores["b"], "aip-1")) == 4
    assert service._storage.withdrawn() == {}
    (done,) = service.run_due(OS_USER)  # the location answers again
    assert done.state == "executed"


def test_an_interrupted_deletion_is_finished_by_the_next_run_with_the_first_plan(tmp_path: Path) -> None:
    def wrap(store: InMemoryObjectStore) -> Any:
        return _Failing(store, "delete_prefix", 1) if store.name == "b" else store

    service, stores, catalog, _ = _service_parts(tmp_path, object_lock=False, wrap=wrap)
    _stored(stores, catalog, None)
    request = service.request("aip-1", "withdrawn", ALICE)

    outcome = service.approve(request.id, BOB)

    assert outcome.state == "failed"
    assert "deletion interrupted: location 'b': cannot reach the endpoint" in outcome.request.detail
    assert _keys(stores["a"], "aip-1") == [] and len(_keys(stores["b"], "aip-1")) == 4
    # Withdrawn already: audits and replication leave the half-deleted AIP alone.
    assert list(service._storage.withdrawn()) == ["aip-1"]
    with catalog.unit_of_work() as uow:
        assert [c for a, _, c in uow.aips.copies() if a == "aip-1"] == []

    (done,) = service.run_due(OS_USER)

    assert done.state == "executed" and done.tombstone is not None
    # The tombstone tells what the first run found at a, though the retry found nothing left there.
    assert {loc.location: loc.objects for loc in done.tombstone.locations} == {"a": 4, "b": 4}
    assert {n: _keys(s, "aip-1") for n, s in stores.items()} == {n: [tombstone_key("aip-1")] for n in stores}


def test_the_daemon_carries_out_due_deaccessions_and_records_the_run(tmp_path: Path) -> None:
    import threading

    from oais.adapters.actions_memory import InMemoryActionLog
    from oais.data_management.actions import ActionRecorder
    from oais.domain.actions import ActionOutcome, Channel
    from oais.entrypoints import daemon

    compliance = Retention(mode=RetentionMode.COMPLIANCE, days=1)
    service, stores, catalog, clock = _service_parts(tmp_path, object_lock=True, retention=compliance)
    _stored(stores, catalog, compliance)
    log = InMemoryActionLog(clock)
    context = daemon._Context(
        service=Any,  # type: ignore[arg-type]
        readers=Any,  # type: ignore[arg-type]
        stopping=threading.Event(),
        ticking=threading.Lock(),
        recorder=ActionRecorder(log, list),
        actor=Actor(name="oais daemon d1", basis=Basis.DAEMON),
        deaccessions=service,
    )
    request = service.request("aip-1", "withdrawn", ALICE)
    assert service.approve(request.id, BOB).state == "waiting"

    daemon._deaccessions(context)  # nothing due: nothing done, nothing recorded
    assert log.actions() == []
    assert len(_keys(stores["b"], "aip-1")) == 4

    clock.time += timedelta(days=1, seconds=1)
    daemon._deaccessions(context)

    (action,) = log.actions()
    assert (action.action, action.channel, action.actor.name, action.outcome) == (
        "deaccession run",
        Channel.DAEMON,
        "oais daemon d1",
        ActionOutcome.OK,
    )
    assert f"{request.id}: executed" in action.detail
    assert _keys(stores["b"], "aip-1") == [tombstone_key("aip-1")]


def test_a_tombstone_written_before_a_failure_is_reused_by_the_retry(tmp_path: Path) -> None:
    """The tombstone went to a, then b failed: the next run leaves a's tombstone out of its plan (on a
    locked bucket it could not delete it: see the store contract's kept keys), writes the same bytes
    at b and records the event the tombstone names."""
    governance = Retention(mode=RetentionMode.GOVERNANCE, days=30)

    def wrap(store: InMemoryObjectStore) -> Any:
        return _Failing(store, "write", 1) if store.name == "b" else store

    service, stores, catalog, clock = _service_parts(
        tmp_path, object_lock=True, retention=governance, bypass=True, wrap=wrap
    )
    _stored(stores, catalog, governance)
    request = service.request("aip-1", "withdrawn", ALICE)

    first = service.approve(request.id, BOB)

    assert first.state == "failed" and "cannot reach the endpoint" in first.request.detail
    written = stores["a"].get_bytes(tombstone_key("aip-1"))
    assert _keys(stores["a"], "aip-1") == [tombstone_key("aip-1")] and _keys(stores["b"], "aip-1") == []
    clock.time += timedelta(minutes=5)
    (done,) = service.run_due(OS_USER)

    assert done.state == "executed" and done.tombstone is not None
    assert tombstone_json(done.tombstone) == written
    assert stores["b"].get_bytes(tombstone_key("aip-1")) == written
    assert done.request.event_id == done.tombstone.event_id
    assert {loc.location: loc.objects for loc in done.tombstone.locations} == {"a": 4, "b": 4}
