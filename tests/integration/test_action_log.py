"""The action log and the policy register: one contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from oais.adapters.actions_memory import InMemoryActionLog
from oais.adapters.catalog.actions import SqlActionLog
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import upgrade
from oais.data_management.actions import ActionRecorder
from oais.domain.access_control import Role
from oais.domain.actions import ActionOutcome, Actor, Basis, Channel
from oais.domain.errors import AipNotFound, NotFound, StorageError
from oais.domain.ports import ActionLog
from oais.domain.reports import PolicyInForce
from tests.support.audit_archive import SteppingClock

ALICE = Actor(name="alice", basis=Basis.TOKEN, role=Role.ADMIN)
ROOT = Actor(name="root", basis=Basis.OS_USER, role=Role.ADMIN)

FORMATS_1 = PolicyInForce(id="formats", version="1", title="Formats", sha256="a" * 64)
FORMATS_1_EDITED = PolicyInForce(id="formats", version="1", title="Formats", sha256="b" * 64)
FORMATS_2 = PolicyInForce(id="formats", version="2", title="Formats", sha256="c" * 64)
AUDIT_1 = PolicyInForce(id="audit", version="1", title="Audits", sha256="d" * 64)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ActionLog, SteppingClock]]:
    clock = SteppingClock()
    if request.param == "memory":
        yield InMemoryActionLog(clock), clock
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    upgrade(url)
    log = SqlActionLog(make_engine(url), clock)
    try:
        yield log, clock
    finally:
        log.dispose()


def test_an_action_is_recorded_when_it_starts_and_when_it_ends(
    make_log: tuple[ActionLog, SteppingClock],
) -> None:
    log, clock = make_log
    action_id = log.start(ALICE, Channel.CLI, "ingest", None, {"sip": "/in/x.zip", "title": None})

    (running,) = log.actions()
    assert running.outcome is None and running.finished is None  # a killed action still shows
    assert running.actor == ALICE and running.channel is Channel.CLI
    assert running.arguments == {"sip": "/in/x.zip", "title": None}

    clock.advance(minutes=3)
    log.finish(action_id, ActionOutcome.OK, "stored: version 1", target="aip-1")

    (done,) = log.actions()
    assert done.outcome is ActionOutcome.OK and done.target == "aip-1" and done.detail == "stored: version 1"
    assert done.finished is not None and done.finished - done.started >= timedelta(minutes=3)


def test_actions_are_selected_by_the_time_they_started(make_log: tuple[ActionLog, SteppingClock]) -> None:
    log, clock = make_log
    first = log.start(ROOT, Channel.CLI, "audit run", None, {})
    clock.advance(days=1)
    start = clock.now()
    second = log.start(ALICE, Channel.API, "dip", "aip-1", {})
    clock.advance(days=1)
    end = clock.now()
    third = log.start(ROOT, Channel.DAEMON, "audit", None, {})

    assert [a.id for a in log.actions()] == [first, second, third]
    assert [a.id for a in log.actions(start, end)] == [second]
    assert [a.id for a in log.actions(end=start)] == [first]
    assert [a.id for a in log.actions(start=end)] == [third]


def test_finishing_an_unknown_action_is_not_found(make_log: tuple[ActionLog, SteppingClock]) -> None:
    log, _ = make_log
    with pytest.raises(NotFound, match="no action 99"):
        log.finish(99, ActionOutcome.OK)


def test_the_policy_register_records_every_text_once_and_tells_changes(
    make_log: tuple[ActionLog, SteppingClock],
) -> None:
    log, clock = make_log
    first = log.note_policies([AUDIT_1, FORMATS_1], ROOT, None)
    assert {(c.policy_id, c.previous_version) for c in first} == {("audit", None), ("formats", None)}
    assert log.note_policies([AUDIT_1, FORMATS_1], ALICE, None) == []  # nothing new

    clock.advance(days=2)
    since = clock.now()
    action = log.start(ALICE, Channel.CLI, "ingest", None, {})
    (edited,) = log.note_policies([AUDIT_1, FORMATS_1_EDITED], ALICE, action)
    clock.advance(days=2)
    (bumped,) = log.note_policies([AUDIT_1, FORMATS_2], ROOT, None)

    assert edited.same_version_new_text and edited.previous_version == "1" and edited.first_seen_by == "alice"
    assert edited.action_id == action
    assert not bumped.same_version_new_text and (bumped.previous_version, bumped.version) == ("1", "2")
    assert [(c.version, c.sha256[0]) for c in log.policy_changes(since)] == [("1", "b"), ("2", "c")]
    assert len(log.policy_changes()) == 4
    # A policy back to an older text is not a change: that text was acted under before.
    assert log.note_policies([AUDIT_1, FORMATS_1], ROOT, None) == []


def test_the_recorder_ends_each_action_by_how_it_ended(make_log: tuple[ActionLog, SteppingClock]) -> None:
    log, _ = make_log
    recorder = ActionRecorder(log, lambda: [AUDIT_1])

    with recorder.recording(ALICE, Channel.CLI, "ingest", arguments={"sip": "x"}) as act:
        act.note("stored", target="aip-1")
    with pytest.raises(AipNotFound), recorder.recording(ALICE, Channel.CLI, "dip", "aip-2"):
        raise AipNotFound("no AIP aip-2")
    with pytest.raises(StorageError), recorder.recording(ROOT, Channel.CLI, "storage replicate"):
        raise StorageError("location ceph-b: unreachable")
    with pytest.raises(RuntimeError), recorder.recording(ROOT, Channel.DAEMON, "audit"):
        raise RuntimeError("a bug")
    with recorder.recording(ROOT, Channel.CLI, "storage verify", "aip-1") as act:
        act.end(ActionOutcome.FAILED, "exit status 1")

    found = [(a.action, a.outcome, a.target, a.detail) for a in log.actions()]
    assert found == [
        ("ingest", ActionOutcome.OK, "aip-1", "stored"),
        ("dip", ActionOutcome.REFUSED, "aip-2", "AipNotFound: no AIP aip-2"),
        ("storage replicate", ActionOutcome.FAILED, None, "StorageError: location ceph-b: unreachable"),
        ("audit", ActionOutcome.FAILED, None, "internal error: RuntimeError: a bug"),
        ("storage verify", ActionOutcome.FAILED, "aip-1", "exit status 1"),
    ]
    (registered,) = log.policy_changes()
    assert registered.action_id == log.actions()[0].id  # first seen by the first action
