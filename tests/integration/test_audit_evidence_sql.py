"""The NDSA and audit-report queries on real databases (SQLite and PostgreSQL).

The rows are written through the real catalog repository, audit ledger, action log and token store
(deaccession requests, which have no writer here, by plain inserts); every figure the queries return
is checked against a count made here from what the test wrote. The period's edges: the first instant
of the first day is in, the last second of the last day is in, midnight after it is out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oais.adapters.catalog.actions import SqlActionLog
from oais.adapters.catalog.audit import SqlAuditLedger
from oais.adapters.catalog.audit_evidence import SqlAuditEvidence
from oais.adapters.catalog.deaccession import SqlDeaccessionCatalog
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.tokens import SqlTokenStore
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.administration.audit_report import period_bounds
from oais.domain.access_control import AccessLogEntry, Role
from oais.domain.actions import ActionOutcome, Actor, Basis, Channel
from oais.domain.audit import AuditMode, Finding, FindingKind, SliceOutcome
from oais.domain.deaccession import (
    DeletedVersion,
    LocationDeletion,
    RequestStatus,
    decide,
    executed,
    make_tombstone,
    new_request,
)
from oais.domain.descriptive import DescriptiveMetadata
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, LoggedEvent, Outcome
from oais.domain.storage import Copy, Segment


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


START, END = period_bounds(at("2025-03-01T00:00:00").date(), at("2025-03-31T00:00:00").date())
LONG_AGO = at("2025-01-10T08:00:00")
BEFORE = at("2025-02-20T10:00:00")
FIRST = at("2025-03-01T00:00:00")  # the first instant of the period: in
MIDDLE = at("2025-03-15T12:00:00")
LAST = at("2025-03-31T23:59:59")  # the last second of the period: in
AFTER = at("2025-04-01T00:00:00")  # midnight after the period: out
NOW = at("2025-04-10T00:00:00")

SOFTWARE = Agent(identifier="software:oais/9.9", name="oais", type=AgentType.SOFTWARE, version="9.9")
PRODUCER = Agent(identifier="organization:IAS", name="IAS", type=AgentType.ORGANIZATION)
ALICE = Actor(name="alice", basis=Basis.OS_USER, role=Role.ADMIN)
DAEMON = Actor(name="daemon host-1", basis=Basis.DAEMON)
ALICE_TOKEN = Actor(name="alice", basis=Basis.TOKEN, role=Role.ADMIN)
BOB_TOKEN = Actor(name="bob", basis=Basis.TOKEN, role=Role.ADMIN)
CAROL_TOKEN = Actor(name="carol", basis=Basis.TOKEN, role=Role.ADMIN)

FITS = FormatFacts(
    puid="x-fmt/383", name="FITS", mime_type="application/fits", basis="signature", tool="fido"
)
TEXT = FormatFacts(
    puid="x-fmt/111", name="Plain Text", mime_type="text/plain", basis="extension", tool="fido"
)
UNKNOWN = FormatFacts(
    puid=None, name="Unknown", mime_type="application/octet-stream", basis="none", tool="fido"
)


def entry(path: str, size: int, fmt: FormatFacts, record: bool = True) -> FileEntry:
    algorithms = [DigestAlgorithm.XXH3_128] + ([DigestAlgorithm.SHA256] if record else [])
    digests = {
        a: (f"{a.value}:{path}:{size}".encode().hex() * 4)[: 64 if a is DigestAlgorithm.SHA256 else 32]
        for a in algorithms
    }
    return FileEntry(path=path, size=size, digests=digests, format=fmt)


class Clock:
    def __init__(self) -> None:
        self.moment = LONG_AGO

    def now(self) -> datetime:
        return self.moment


@dataclass
class Scenario:
    """What the test wrote, to count from."""

    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    fixity_times: list[datetime] = field(default_factory=list)
    copies: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    files: list[tuple[str, FileEntry]] = field(default_factory=list)  # (aip, stored file)
    deaccessioned: set[str] = field(default_factory=set)

    def event(
        self, aip: str, when: datetime, type_: EventType, outcome: Outcome = Outcome.SUCCESS, n: int = 0
    ) -> Event:
        self.events[(type_.value, outcome.value)] += 1
        if type_ is EventType.FIXITY_CHECK:
            self.fixity_times.append(when)
        return Event(
            identifier=f"urn:uuid:{aip}-{type_.code}-{when.isoformat()}-{n}-{sum(self.events.values())}",
            type=type_,
            date_time=when,
            detail=f"{type_.value} of {aip}",
            outcome=outcome,
            outcome_detail=f"{outcome.value}: {type_.value}",
            agents=(AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),),
            objects=(aip,),
        )


def record(
    s: Scenario,
    aip: str,
    number: int,
    when: datetime,
    files: list[FileEntry],
    copies: tuple[str, ...],
    described: bool = False,
    verified: bool = True,
) -> AipRecord:
    s.copies[(aip, number)] = set(copies)
    s.files += [(aip, f) for f in files if f.stored_version is None]
    return AipRecord(
        aip=Aip(
            aip_id=aip,
            title=f"title of {aip}",
            producer="IAS",
            created=when,
            metadata=DescriptiveMetadata(title=f"title of {aip}") if described else None,
        ),
        version=AipVersion(
            aip_id=aip,
            version=number,
            created=when,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=f"{aip}/{number}".encode().hex().ljust(64, "0")[:64],
            location=f"aips/{aip}/v{number}",
        ),
        files=files,
        events=[
            s.event(aip, when, EventType.INGESTION),
            s.event(aip, when, EventType.VALIDATION),
        ],
        agents=[SOFTWARE, PRODUCER],
        copies=[
            Copy(
                location=loc,
                stored=when,
                verified=when if verified else None,
                objects=len(files),
                bytes=sum(f.size for f in files),
            )
            for loc in copies
        ],
    )


def key(aip: str, number: int, path: str) -> str:
    return f"aips/{aip}/v{number}/data/objects/{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = (
        f"sqlite:///{tmp_path / 'catalog.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    upgrade(url)
    yield url


@dataclass
class Built:
    evidence: SqlAuditEvidence
    scenario: Scenario
    actions: dict[str, int]


def audit(
    s: Scenario,
    ledger: SqlAuditLedger,
    location: str,
    aip: str,
    number: int,
    when: datetime,
    findings: list[Finding] = (),  # type: ignore[assignment]
    whole: list[str] = (),  # type: ignore[assignment]
) -> str:
    """Audit every slice of one copy at ``when`` through the ledger; returns the event's id."""
    claimed = ledger.claim(
        location=location,
        holder="test",
        now=when,
        ttl=timedelta(minutes=30),
        limit=10,
        deep_before=when + timedelta(seconds=1),
        quick_before=when + timedelta(seconds=1),
        aip_id=aip,
    )
    [(sl, _)] = [(sl, m) for sl, m in claimed if sl.version == number]
    ledger.release([c.id for c, _ in claimed if c.id != sl.id], "test")
    outcome = Outcome.FAILURE if findings else Outcome.SUCCESS
    event = s.event(aip, when, EventType.FIXITY_CHECK, outcome, n=sl.id)
    ledger.record(
        holder="test",
        outcomes=[
            SliceOutcome(
                slice_id=sl.id,
                mode=AuditMode.DEEP,
                when=when,
                ok=not findings,
                event=LoggedEvent(aip, number, event),
                findings=findings,
                whole=whole,
            )
        ],
        agents=[SOFTWARE],
        segments=[],
    )
    return event.identifier


def found(location: str, aip: str, number: int, path: str, when: datetime, kind: FindingKind) -> Finding:
    return Finding(
        location=location,
        key=key(aip, number, path),
        kind=kind,
        aip_id=aip,
        version=number,
        path=path,
        algorithm=DigestAlgorithm.SHA256,
        expected="e" * 64,
        found="f" * 64,
        detected=when,
    )


@pytest.fixture
def built(catalog_url: str) -> Iterator[Built]:
    s = Scenario()
    catalog = sql_unit_of_work_factory(catalog_url)
    engine = make_engine(catalog_url)
    clock = Clock()
    ledger = SqlAuditLedger(engine)
    log = SqlActionLog(engine, clock)
    tokens = SqlTokenStore(engine, clock)
    actions: dict[str, int] = {}
    try:
        one = [entry("cube.fits", 2880, FITS), entry("notes.xyz", 7, UNKNOWN), entry("readme.txt", 100, TEXT)]
        two = [entry("b.fits", 5760, FITS), entry("weak.txt", 9, TEXT, record=False)]
        three = [entry("gone.txt", 11, TEXT)]
        with catalog() as uow:
            uow.aips.add(record(s, "aip-1", 1, LONG_AGO, one, ("a", "b"), described=True))
            uow.aips.add(record(s, "aip-2", 1, LONG_AGO, two, ("a",)))
            # Version 2 reuses version 1's files and adds one; a third location holds it.
            reused = [f.model_copy(update={"stored_version": 1}) for f in two] + [
                entry("new.fits", 2880, FITS)
            ]
            uow.aips.add(record(s, "aip-2", 2, BEFORE, reused, ("a", "b", "c"), verified=False))
            uow.aips.add(record(s, "aip-3", 1, LONG_AGO, three, ("a", "b")))
            uow.aips.add(record(s, "aip-4", 1, LONG_AGO, [entry("old.txt", 13, TEXT)], ("a", "b")))
            uow.aips.add_segment(
                Segment(
                    location="a",
                    sequence=1,
                    key="events/1",
                    sha256="1" * 64,
                    previous=None,
                    events=4,
                    created=BEFORE,
                )
            )
            uow.aips.add_segment(
                Segment(
                    location="a",
                    sequence=2,
                    key="events/2",
                    sha256="2" * 64,
                    previous="1" * 64,
                    events=3,
                    created=MIDDLE,
                )
            )
            uow.commit()
        ledger.make_slices()
        # A copy made after the slices: never audited.
        with catalog() as uow:
            uow.aips.put_copy(
                "aip-3", 1, Copy(location="c", stored=BEFORE, verified=BEFORE, objects=1, bytes=11)
            )
            uow.commit()
        s.copies[("aip-3", 1)].add("c")

        # The action log: the daemon runs from long ago and never finishes; an "audit run" covers the
        # first instant of the period; an ingest runs across the last second (not a fixity action).
        clock.moment = LONG_AGO
        actions["daemon"] = log.start(DAEMON, Channel.CLI, "daemon", None, {})
        clock.moment = FIRST - timedelta(minutes=1)
        actions["audit run"] = log.start(ALICE, Channel.CLI, "audit run", None, {"all": True})
        clock.moment = FIRST + timedelta(hours=1)
        log.finish(actions["audit run"], ActionOutcome.OK)
        clock.moment = LAST - timedelta(minutes=1)
        actions["ingest"] = log.start(ALICE, Channel.CLI, "ingest", None, {})
        clock.moment = AFTER + timedelta(minutes=1)
        log.finish(actions["ingest"], ActionOutcome.OK)
        # Audit reports made (the periodic review): one within 90 days of NOW, one in the 90 before.
        for when in (NOW - timedelta(days=8), NOW - timedelta(days=100), NOW - timedelta(days=300)):
            clock.moment = when
            log.finish(log.start(ALICE, Channel.CLI, "report audit", None, {}), ActionOutcome.OK)
        clock.moment = NOW - timedelta(days=5)
        log.finish(log.start(ALICE, Channel.API, "report audit", None, {}), ActionOutcome.FAILED)

        # Audits: a clean one before the period; failures found before, at the first instant, in
        # the middle, at the last second, and after the period.
        audit(s, ledger, "b", "aip-1", 1, BEFORE - timedelta(days=3))
        audit(
            s,
            ledger,
            "a",
            "aip-1",
            1,
            BEFORE,
            [found("a", "aip-1", 1, "notes.xyz", BEFORE, FindingKind.ALTERED)],
        )
        audit(
            s,
            ledger,
            "b",
            "aip-2",
            2,
            FIRST,
            [found("b", "aip-2", 2, "new.fits", FIRST, FindingKind.MISSING)],
        )
        audit(
            s,
            ledger,
            "a",
            "aip-2",
            1,
            MIDDLE,
            [found("a", "aip-2", 1, "b.fits", MIDDLE, FindingKind.TRUNCATED)],
        )
        audit(
            s, ledger, "b", "aip-3", 1, LAST, [found("b", "aip-3", 1, "gone.txt", LAST, FindingKind.ALTERED)]
        )
        audit(
            s,
            ledger,
            "a",
            "aip-3",
            1,
            AFTER,
            [found("a", "aip-3", 1, "gone.txt", AFTER, FindingKind.UNREADABLE)],
        )
        ledger.mark_unrecoverable("a", key("aip-1", 1, "notes.xyz"), True)

        def repair(location: str, aip: str, number: int, path: str, source: str, when: datetime) -> None:
            event = s.event(aip, when, EventType.RECOVERY)
            ledger.record_repair(
                location=location,
                key=key(aip, number, path),
                source=source,
                when=when,
                event=LoggedEvent(aip, number, event),
                agents=[SOFTWARE],
                segments=[],
            )

        repair("b", "aip-2", 2, "new.fits", "a", FIRST + timedelta(minutes=5))  # in the period
        repair("b", "aip-3", 1, "gone.txt", "a", AFTER + timedelta(hours=1))  # after: open at the end
        # Found whole again by a later audit of the same copy (in the period).
        audit(s, ledger, "a", "aip-2", 1, MIDDLE + timedelta(days=1), whole=[key("aip-2", 1, "b.fits")])

        # `oais storage verify` failing in the period: a failed fixity event without a finding.
        with catalog() as uow:
            uow.aips.add_events(
                "aip-1", 1, [s.event("aip-1", MIDDLE, EventType.FIXITY_CHECK, Outcome.FAILURE)], [SOFTWARE]
            )
            uow.commit()

        # Deaccession through the real catalog: aip-4 asked before the period, approved at its first
        # instant, carried out in the middle; aip-1 asked after the period; aip-2 rejected long ago.
        deaccessions = SqlDeaccessionCatalog(engine)
        req1 = new_request(
            request_id="req-1",
            aip_id="aip-4",
            reason="withdrawn by the producer",
            actor=ALICE_TOKEN,
            now=BEFORE,
            requests_of_aip=[],
        )
        deaccessions.add(req1)
        approved = decide(req1, actor=BOB_TOKEN, approve=True, note="agreed", now=FIRST)
        deaccessions.update(approved, RequestStatus.REQUESTED)
        begun = approved.model_copy(update={"started": MIDDLE - timedelta(hours=1)})
        deaccessions.begin(begun)
        deletion = s.event("aip-4", MIDDLE, EventType.DELETION)
        tombstone = make_tombstone(
            request=begun,
            title="title of aip-4",
            producer="IAS",
            ingested=LONG_AGO,
            versions=[
                DeletedVersion(version=1, created=LONG_AGO, files=1, bytes=13, payload_fingerprint="9" * 64)
            ],
            locations=[LocationDeletion(location=n, objects=8, bytes=900) for n in ("a", "b")],
            deleted=MIDDLE,
            event_id=deletion.identifier,
            policy="storage@1",
            software="oais 9.9",
        )
        deaccessions.finish(
            executed(begun, now=MIDDLE, event_id=deletion.identifier, detail="deleted at a, b"),
            tombstone,
            LoggedEvent("aip-4", 1, deletion),
            [SOFTWARE],
            [],
        )
        s.deaccessioned.add("aip-4")
        del s.copies[("aip-4", 1)]
        deaccessions.add(
            new_request(
                request_id="req-2",
                aip_id="aip-1",
                reason="duplicate",
                actor=CAROL_TOKEN,
                now=AFTER,
                requests_of_aip=[],
            )
        )
        req0 = new_request(
            request_id="req-0",
            aip_id="aip-2",
            reason="mistake",
            actor=CAROL_TOKEN,
            now=LONG_AGO,
            requests_of_aip=[],
        )
        deaccessions.add(req0)
        rejected = decide(req0, actor=ALICE_TOKEN, approve=False, note="keep it", now=LONG_AGO)
        deaccessions.update(rejected, RequestStatus.REQUESTED)

        # Tokens and the access log.
        clock.moment = BEFORE
        tokens.add("curator", Role.ADMIN)
        tokens.add("reader", Role.AUDITOR)
        tokens.add("portal", Role.PRODUCER, "IAS")
        tokens.revoke("reader")
        for status_ in (200, 200, 401, 403, 404):
            tokens.record(
                AccessLogEntry(time=MIDDLE, token="curator", method="GET", path="/aips", status=status_)
            )
        yield Built(SqlAuditEvidence(engine), s, actions)
    finally:
        catalog.dispose()
        engine.dispose()


# --- NDSA figures ---------------------------------------------------------------------------------


def test_catalog_facts_match_the_rows_written(built: Built) -> None:
    s = built.scenario
    windows = [(NOW - timedelta(days=7 * (k + 1)), NOW - timedelta(days=7 * k)) for k in reversed(range(13))]
    facts = built.evidence.catalog_facts(["a", "b"], NOW, windows, timedelta(days=90))

    live = {k: v for k, v in s.copies.items() if k[0] not in s.deaccessioned}
    assert facts.versions == len(live) == 4
    assert (facts.aips, facts.deaccessioned_aips, facts.described_aips) == (3, 1, 1)
    # Versions grouped by the configured locations holding them ("" for c, which is not named).
    expected_sets = Counter(
        tuple(sorted(n if n in ("a", "b") else "" for n in held)) for held in live.values()
    )
    assert {h.locations: h.versions for h in facts.holder_sets} == dict(expected_sets)
    assert {h.locations: h.versions for h in facts.holder_sets} == {
        ("a", "b"): 1,
        ("a",): 1,
        ("", "a", "b"): 2,
    }

    stored = [f for aip, f in s.files if aip not in s.deaccessioned]
    assert facts.files == len(stored) == 7
    assert facts.bytes == sum(f.size for f in stored)
    assert facts.files_identified == sum(1 for f in stored if f.format.puid)
    assert facts.files_validated == sum(1 for f in stored if f.format.mime_type == "application/fits")
    assert facts.files_without_record_digest == sum(
        1 for f in stored if DigestAlgorithm.SHA256 not in f.digests
    )
    assert facts.files_without_record_digest == 1

    by_location = {h.location: h for h in facts.holdings}
    for name in ("a", "b", "c"):
        assert by_location[name].copies == sum(1 for held in s.copies.values() if name in held)
    assert by_location["c"].unaudited == 1  # aip-3's copy at c came after the slices
    assert by_location["a"].unaudited == by_location["b"].unaudited == 0
    assert (by_location["a"].unverified, by_location["b"].unverified, by_location["c"].unverified) == (
        1,
        1,
        1,
    )
    assert (by_location["a"].segments, by_location["a"].logged_events) == (2, 7)

    assert {(e.type, e.outcome): e.count for e in facts.events} == dict(s.events)
    assert facts.event_count("fixity check", outcome="failure") == 6
    assert [w.checks for w in facts.fixity_windows] == [
        sum(1 for t in s.fixity_times if a <= t < b) for a, b in windows
    ]
    assert sum(w.checks for w in facts.fixity_windows) == len(s.fixity_times) == 8

    assert (facts.findings_detected, facts.findings_open, facts.findings_unrecoverable) == (5, 2, 1)
    assert facts.findings_repaired == 2
    assert facts.tokens == {"admin": 1, "producer": 1}
    assert (facts.access_requests, facts.access_refused) == (5, 2)
    assert facts.actions == {"cli": 6, "api": 1}
    # Made with outcome ok: within 90 days of NOW, in the 90 days before, in all.
    assert (facts.audit_reports_last_period, facts.audit_reports_period_before, facts.audit_reports) == (
        1,
        1,
        3,
    )
    assert facts.deaccessions == {"executed": 1, "requested": 1, "rejected": 1}
    assert facts.agents == {"software": 1, "organization": 1}
    assert facts.first_copy == LONG_AGO


# --- the audit trail --------------------------------------------------------------------------------


def test_the_audit_trail_of_a_period_lists_each_item_with_who_and_when(built: Built) -> None:
    s = built.scenario
    trail = built.evidence.audit_trail(START, END, limit=100)
    assert (START, END) == (FIRST, AFTER)

    fixity = [t for t in s.fixity_times if START <= t < END]
    assert trail.event_count("fixity check") == len(fixity) == 5
    assert trail.event_count("fixity check", "failure") == 4  # first, middle, last, storage verify
    assert trail.event_count("recovery") == 1 and trail.event_count("deletion") == 1

    # Failures detected in the period: the first instant and the last second are in.
    assert [(f.detected, f.location, f.path, f.kind) for f in trail.failures] == [
        (FIRST, "b", "new.fits", "missing"),
        (MIDDLE, "a", "b.fits", "truncated"),
        (LAST, "b", "gone.txt", "altered"),
    ]
    assert trail.failures_total == 3
    first, middle, last = trail.failures
    assert first.resolution == "repaired from 'a'" and first.resolved == FIRST + timedelta(minutes=5)
    assert middle.resolution == "found whole again"
    assert last.resolution == "open"  # repaired after the period ended
    assert all(f.agents == ["oais 9.9 (software, executing program)"] for f in trail.failures)
    # Who: the audit run covering the first instant, the daemon otherwise (never the ingest).
    assert first.acting is not None and (first.acting.action, first.acting.actor) == ("audit run", "alice")
    assert first.acting.id == built.actions["audit run"]
    assert middle.acting is not None and middle.acting.action == "daemon"
    assert last.acting is not None and last.acting.id == built.actions["daemon"]

    [check] = trail.failed_checks
    assert trail.failed_checks_total == 1
    assert (check.when, check.aip_id, check.version) == (MIDDLE, "aip-1", 1)

    [repair] = trail.repairs
    assert trail.repairs_total == 1 and trail.found_whole_total == 1
    assert (repair.location, repair.source, repair.path, repair.detected) == ("b", "a", "new.fits", FIRST)
    assert repair.agents == ["oais 9.9 (software, executing program)"] and repair.event_id
    assert repair.acting is not None and repair.acting.action == "audit run"

    [deletion] = trail.deletions
    assert trail.deletions_total == 1 and trail.deletions_executed_total == 1
    assert (deletion.request_id, deletion.requested_by, deletion.decided_by) == ("req-1", "alice", "bob")
    assert (deletion.requested_at, deletion.decided_at, deletion.executed_at) == (BEFORE, FIRST, MIDDLE)
    assert (deletion.event_time, deletion.event_outcome) == (MIDDLE, "success")

    # Open at the end: found before the period (no good copy left) and at its last second.
    assert [(f.detected, f.unrecoverable) for f in trail.unresolved] == [(BEFORE, True), (LAST, False)]
    assert (trail.unresolved_total, trail.unrecoverable_total) == (2, 1)
    assert {(a.channel, a.outcome): a.count for a in trail.actions} == {("cli", "ok"): 1}


def test_lists_are_cut_at_the_limit_and_the_totals_still_count_every_item(built: Built) -> None:
    trail = built.evidence.audit_trail(START, END, limit=1)
    assert len(trail.failures) == 1 and trail.failures_total == 3
    assert len(trail.unresolved) == 1 and trail.unresolved_total == 2
    assert trail.unresolved[0].unrecoverable  # the worst first


def test_a_one_day_period_and_a_period_with_nothing(built: Built) -> None:
    start, end = period_bounds(LAST.date(), LAST.date())
    trail = built.evidence.audit_trail(start, end, limit=10)
    assert [f.detected for f in trail.failures] == [LAST]
    assert trail.repairs_total == 0 and trail.deletions_total == 0
    start, end = period_bounds(NOW.date(), NOW.date())
    empty = built.evidence.audit_trail(start, end, limit=10)
    assert (empty.failures_total, empty.repairs_total, empty.deletions_total, empty.events) == (0, 0, 0, [])
    # What is still open then: found before the period, and after it.
    assert [f.detected for f in empty.unresolved] == [BEFORE, AFTER]


def test_inverted_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="ends"):
        period_bounds(LAST.date(), FIRST.date())
