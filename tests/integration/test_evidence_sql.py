"""Evidence queries on real databases (SQLite and PostgreSQL): every figure a report shows, counted
by the database, checked against counts made here from the rows the test wrote; the edges of a
period (an event at 23:59:59 on its last day is in, one at midnight the next day is out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from oais.adapters.catalog.actions import SqlActionLog
from oais.adapters.catalog.admin_rows import DeaccessionRequestRow, TombstoneRow
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.evidence import SqlEvidence
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.rows import AuditFindingRow, table
from oais.adapters.catalog.tokens import SqlTokenStore
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.domain.access_control import AccessLogEntry, Role
from oais.domain.actions import ActionOutcome, Actor, Basis, Channel
from oais.domain.evidence import Granularity, Window, window_of
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import issue
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, Rejection
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome
from oais.domain.reports import Period
from oais.domain.storage import Copy, Segment
from tests.integration.test_catalog_contract import FITS, TEXT, UNKNOWN, hexdigest


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PERIOD = Period(start=date(2024, 5, 1), end=date(2024, 5, 31))
BEFORE = at("2024-04-20T10:00:00")
FIRST = at("2024-05-01T00:00:00")  # the first instant of the period: in
MIDDLE = at("2024-05-10T12:00:00")
LAST = at("2024-05-31T23:59:59")  # the last second of the period: in
AFTER = at("2024-06-01T00:00:00")  # midnight after the period: out

SOFTWARE = Agent(identifier="software:oais/9.9", name="oais", type=AgentType.SOFTWARE, version="9.9")
PRODUCER = Agent(identifier="organization:IAS", name="IAS", type=AgentType.ORGANIZATION)
PILLOW = Agent(identifier="software:pillow 11", name="pillow", type=AgentType.SOFTWARE, version="11")
BMP = FormatFacts(
    puid="fmt/116", name="Windows Bitmap", mime_type="image/bmp", basis="signature", tool="fido"
)
PNG = FormatFacts(puid="fmt/11", name="PNG 1.0", mime_type="image/png", basis="signature", tool="fido")
REQUIRED = ("a", "b")
KEPT = (
    "output identified as fmt/11 (PNG 1.0); significant properties: width 64 (kept); height 64 (kept); "
    "pixels 3f2a (kept)"
)
DIFFERS = (
    "the fmt/11 output does not keep the significant properties of the source: width 64 -> 32 (DIFFERS); "
    "pixels 3f2a -> 9c1d (DIFFERS); nothing was kept, the original stays"
)


def entry(path: str, size: int, fmt: FormatFacts = TEXT, **extra: object) -> FileEntry:
    digests = {a: hexdigest(a, path + str(size)) for a in (DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128)}
    return FileEntry(path=path, size=size, digests=digests, format=fmt, **extra)  # type: ignore[arg-type]


@dataclass
class Scenario:
    """What the test wrote, to count from."""

    events: list[tuple[datetime, str, str, tuple[str, ...]]] = field(
        default_factory=list
    )  # time, type, outcome, agents
    versions: list[tuple[str, int, datetime, list[FileEntry]]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def event(
    scenario: Scenario,
    aip: str,
    when: datetime,
    type_: EventType,
    outcome: Outcome,
    detail: str,
    agents: tuple[Agent, ...] = (SOFTWARE,),
) -> Event:
    e = Event(
        identifier=f"urn:uuid:{aip}-{type_.code}-{when.isoformat()}-{len(scenario.events)}",
        type=type_,
        date_time=when,
        detail=f"{type_.value} of {aip}",
        outcome=outcome,
        outcome_detail=detail,
        agents=tuple(AgentLink(agent=a.identifier, role=AgentRole.EXECUTING_PROGRAM) for a in agents),
        objects=(aip,),
    )
    scenario.events.append((when, type_.value, outcome.value, tuple(a.identifier for a in agents)))
    return e


def version(
    scenario: Scenario,
    aip: str,
    number: int,
    when: datetime,
    files: list[FileEntry],
    copies: tuple[str, ...],
    events: list[Event] | None = None,
) -> AipRecord:
    scenario.versions.append((aip, number, when, files))
    events = events or [
        event(scenario, aip, when, EventType.INGESTION, Outcome.SUCCESS, "received", (SOFTWARE, PRODUCER))
    ]
    return AipRecord(
        aip=Aip(aip_id=aip, title=f"title of {aip}", producer="IAS", created=when),
        version=AipVersion(
            aip_id=aip,
            version=number,
            created=when,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=hexdigest(DigestAlgorithm.SHA256, f"{aip}/{number}"),
            location=f"aips/{aip}/v{number}",
        ),
        files=files,
        events=events,
        agents=[SOFTWARE, PRODUCER, PILLOW],
        copies=[
            Copy(
                location=loc,
                stored=when,
                verified=when if loc == "a" else None,
                objects=len(files),
                bytes=sum(f.size for f in files),
            )
            for loc in copies
        ],
    )


class Clock:
    def __init__(self) -> None:
        self.moment = BEFORE

    def now(self) -> datetime:
        return self.moment


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
    evidence: SqlEvidence
    scenario: Scenario
    report_digest: str


@pytest.fixture
def built(catalog_url: str) -> Iterator[Built]:
    s = Scenario()
    uow_factory = sql_unit_of_work_factory(catalog_url)
    engine = make_engine(catalog_url)
    clock = Clock()
    try:
        a1_files = [
            entry("cube.fits", 2880, FITS),
            entry("notes.xyz", 7, UNKNOWN),
            entry("readme.txt", 100),
            entry("image.bmp", 9270, BMP),
        ]
        a1 = version(
            s,
            "aip-a",
            1,
            BEFORE,
            a1_files,
            REQUIRED,
            [
                event(
                    s, "aip-a", BEFORE, EventType.INGESTION, Outcome.SUCCESS, "received", (SOFTWARE, PRODUCER)
                ),
                event(s, "aip-a", BEFORE, EventType.FORMAT_IDENTIFICATION, Outcome.WARNING, "FMT-W001"),
            ],
        )
        a2_files = [f.model_copy(update={"stored_version": 1}) for f in a1_files] + [
            entry("image.png", 1200, PNG, derived_from="image.bmp")
        ]
        a2 = version(
            s,
            "aip-a",
            2,
            MIDDLE,
            a2_files,
            ("a",),
            [
                event(s, "aip-a", MIDDLE, EventType.MIGRATION, Outcome.SUCCESS, KEPT, (SOFTWARE, PILLOW)),
                event(s, "aip-a", MIDDLE, EventType.ACCESSION, Outcome.SUCCESS, "stored"),
            ],
        )
        b1 = version(
            s,
            "aip-b",
            1,
            LAST,
            [entry("b/one.txt", 10), entry("b/two.txt", 20), entry("b/c.fits", 5760, FITS)],
            REQUIRED,
        )
        c1 = version(s, "aip-c", 1, AFTER, [entry("c.txt", 30)], REQUIRED)
        d1 = version(s, "aip-d", 1, FIRST, [entry("d.txt", 40), entry("d.bmp", 50, BMP)], REQUIRED)
        with uow_factory() as uow:
            for r in (a1, a2, b1, c1, d1):
                uow.aips.add(r)
            uow.commit()
        later = {
            ("aip-b", 1): [
                event(
                    s, "aip-b", at("2024-05-15T00:00:00"), EventType.FIXITY_CHECK, Outcome.FAILURE, "altered"
                ),
                event(s, "aip-b", at("2024-05-15T01:00:00"), EventType.RECOVERY, Outcome.SUCCESS, "from a"),
                event(
                    s,
                    "aip-b",
                    at("2024-05-16T00:00:00"),
                    EventType.NORMALIZATION,
                    Outcome.FAILURE,
                    DIFFERS,
                    (SOFTWARE, PILLOW),
                ),
                event(
                    s,
                    "aip-b",
                    at("2024-05-25T00:00:00"),
                    EventType.DELETION,
                    Outcome.SUCCESS,
                    "deleted without approval",
                ),
                event(s, "aip-b", AFTER, EventType.FIXITY_CHECK, Outcome.SUCCESS, "ok"),
            ],
            ("aip-d", 1): [
                event(
                    s,
                    "aip-d",
                    at("2024-05-20T00:00:00"),
                    EventType.DELETION,
                    Outcome.SUCCESS,
                    "deaccessioned",
                ),
            ],
        }
        with uow_factory() as uow:
            for (aip, n), evs in later.items():
                uow.aips.add_events(aip, n, evs, [SOFTWARE, PILLOW])
            for seq, created in ((1, BEFORE), (2, MIDDLE)):
                uow.aips.add_segment(
                    Segment(
                        location="a",
                        sequence=seq,
                        key=f"events/{seq:08d}.jsonl",
                        sha256="0" * 64 if seq == 1 else "1" * 64,
                        previous=None if seq == 1 else "0" * 64,
                        events=3 * seq,
                        created=created,
                    )
                )
            for ident, when, producer, codes in (
                ("r1", FIRST, "P1", ("SIP-E001", "SIP-E001", "SIP-E005")),
                ("r2", LAST, "P2", ("SIP-E007",)),
                ("r3", AFTER, "P1", ("SIP-E001",)),
                ("r4", BEFORE, "P2", ("SIP-E008",)),
            ):
                rejection = Rejection(
                    identifier=f"urn:uuid:{ident}",
                    sip_path=f"/sips/{ident}",
                    producer=producer,
                    title=ident,
                    date_time=when,
                    issues=tuple(issue(code, f"p{i}", "bad") for i, code in enumerate(codes)),
                )
                s.rejections.append(rejection)
                uow.aips.add_rejection(rejection)
            uow.commit()
        deletion_event = later[("aip-d", 1)][0].identifier
        with engine.begin() as c:
            c.execute(
                insert(table(DeaccessionRequestRow)),
                [
                    dict(
                        id="req-1",
                        aip_id="aip-d",
                        reason="duplicate",
                        requested_by="alice",
                        requested_at=at("2024-04-30T00:00:00"),
                        status="executed",
                        decided_by="bob",
                        decided_at=at("2024-05-19T00:00:00"),
                        decision_note="ok",
                        executed_at=at("2024-05-20T00:00:00"),
                        event_id=deletion_event,
                        detail="",
                    ),
                    dict(
                        id="req-2",
                        aip_id="aip-c",
                        reason="asked",
                        requested_by="alice",
                        requested_at=AFTER,
                        status="requested",
                        decided_by=None,
                        decided_at=None,
                        decision_note=None,
                        executed_at=None,
                        event_id=None,
                        detail="",
                    ),
                    dict(
                        id="req-3",
                        aip_id="aip-a",
                        reason="wrong",
                        requested_by="carol",
                        requested_at=MIDDLE,
                        status="rejected",
                        decided_by="bob",
                        decided_at=LAST,
                        decision_note="no",
                        executed_at=None,
                        event_id=None,
                        detail="",
                    ),
                ],
            )
            c.execute(
                insert(table(TombstoneRow)),
                [dict(aip_id="aip-d", request_id="req-1", deleted=at("2024-05-20T00:00:00"), record="{}")],
            )
            finding = dict(
                aip_id="aip-b",
                version=1,
                path=None,
                file_id=None,
                algorithm=None,
                expected=None,
                found=None,
                event_id=None,
                resolution_event=None,
            )
            c.execute(
                insert(table(AuditFindingRow)),
                [
                    {
                        **finding,
                        "location": "b",
                        "key": "k1",
                        "kind": "altered",
                        "detected": at("2024-05-15T00:00:00"),
                        "last_seen": at("2024-05-15T00:00:00"),
                        "unrecoverable": False,
                        "resolved": at("2024-05-15T01:00:00"),
                        "repaired_from": "a",
                    },
                    {
                        **finding,
                        "location": "a",
                        "key": "k2",
                        "kind": "missing",
                        "detected": LAST,
                        "last_seen": LAST,
                        "unrecoverable": True,
                        "resolved": None,
                        "repaired_from": None,
                    },
                    {
                        **finding,
                        "location": "a",
                        "key": "k3",
                        "kind": "truncated",
                        "detected": BEFORE,
                        "last_seen": BEFORE,
                        "unrecoverable": False,
                        "resolved": MIDDLE,
                        "repaired_from": None,
                    },
                    {
                        **finding,
                        "location": "b",
                        "key": "k4",
                        "kind": "missing",
                        "detected": AFTER,
                        "last_seen": AFTER,
                        "unrecoverable": False,
                        "resolved": None,
                        "repaired_from": None,
                    },
                ],
            )
        log = SqlActionLog(engine, clock)
        admin = Actor(name="alice", basis=Basis.OS_USER, role=Role.ADMIN)
        digest = "ab" * 32
        for when, action, outcome, detail in (
            (BEFORE, "ingest", ActionOutcome.OK, ""),
            (at("2024-05-15T00:00:00"), "audit run", ActionOutcome.FAILED, "exit status 1"),
            (MIDDLE, "migrate apply", ActionOutcome.OK, ""),
            (FIRST, "token add", ActionOutcome.OK, "token bob"),
            (LAST, "token revoke", ActionOutcome.OK, "token bob"),
            (MIDDLE, "report cts", ActionOutcome.OK, f"sha256 {digest}"),
            (at("2024-05-20T00:00:00"), "storage replicate", None, ""),
            (AFTER, "ingest", ActionOutcome.REFUSED, "ValidationFailed"),
        ):
            clock.moment = when
            action_id = log.start(admin, Channel.CLI, action, None, {})
            if outcome is not None:
                log.finish(action_id, outcome, detail)
        tokens = SqlTokenStore(engine, clock)
        for when, method, path, status in (
            (FIRST, "GET", "/aips", 401),
            (FIRST, "GET", "/aips", 401),
            (MIDDLE, "GET", "/aips/aip-a", 403),
            (LAST, "CLI", "deaccession approve", 401),
            (MIDDLE, "GET", "/aips", 200),
            (AFTER, "GET", "/aips", 401),
            (BEFORE, "GET", "/aips", 401),
        ):
            tokens.record(AccessLogEntry(time=when, token=None, method=method, path=path, status=status))
        for when, name, role, producer in (
            (BEFORE, "alice", Role.ADMIN, None),
            (MIDDLE, "bob", Role.AUDITOR, None),
            (AFTER, "carol", Role.PRODUCER, "IAS"),
        ):
            clock.moment = when
            tokens.add(name, role, producer)
        clock.moment = LAST
        tokens.revoke("bob")
        yield Built(SqlEvidence(engine), s, digest)
    finally:
        uow_factory.dispose()
        engine.dispose()


WINDOW = window_of(PERIOD)
OPEN = Window()


def inside(when: datetime, window: Window = WINDOW) -> bool:
    return (window.start is None or when >= window.start) and (window.end is None or when < window.end)


def test_a_period_runs_from_midnight_to_the_midnight_after_its_last_day() -> None:
    assert WINDOW.start == FIRST and WINDOW.end == AFTER
    assert WINDOW.granularity is Granularity.DAY
    assert (
        inside(LAST) and not inside(AFTER) and inside(FIRST) and not inside(FIRST - timedelta(microseconds=1))
    )
    year = window_of(Period(start=date(2024, 1, 1), end=date(2024, 12, 31)))
    assert year.granularity is Granularity.MONTH
    assert (
        year.buckets([], date(2030, 1, 1))[:2] == ["2024-01", "2024-02"]
        and len(year.buckets([], date(2030, 1, 1))) == 12
    )
    assert len(WINDOW.buckets(["2024-05-03"], date(2030, 1, 1))) == 31


@pytest.mark.parametrize("window", [WINDOW, OPEN], ids=["may", "open"])
def test_events_by_type_and_outcome_are_counted_per_bucket(built: Built, window: Window) -> None:
    found = built.evidence.events(window)
    expected = Counter((window.label(t), ty, o) for t, ty, o, _ in built.scenario.events if inside(t, window))
    assert {(e.bucket, e.type, e.outcome): e.events for e in found} == dict(expected)
    if window is WINDOW:
        # The edges: the ingestion at 23:59:59 on the last day is in, the one at midnight after is not.
        assert ("2024-05-31", "ingestion", "success") in expected
        assert all(not b.startswith("2024-06") for b, _, _ in expected)


@pytest.mark.parametrize("window", [WINDOW, OPEN], ids=["may", "open"])
def test_agents_are_ranked_by_the_events_that_name_them(built: Built, window: Window) -> None:
    found = built.evidence.agents(window, limit=2)
    expected = Counter(a for t, _, _, agents in built.scenario.events if inside(t, window) for a in agents)
    assert found.total == len(expected)
    assert [(a.identifier, a.events) for a in found.rows] == sorted(
        expected.items(), key=lambda kv: (-kv[1], kv[0])
    )[:2]


def test_versions_made_in_the_period_and_versions_per_aip(built: Built) -> None:
    found = built.evidence.versions(WINDOW, limit=10)
    assert found.created == sum(1 for _, _, t, _ in built.scenario.versions if inside(t))
    # At the period's end: aip-a has 2 versions; aip-b and aip-d one (aip-c comes later).
    assert found.per_aip == {1: 2, 2: 1}
    assert [(a.aip_id, a.versions, a.latest) for a in found.aips.rows] == [("aip-a", 2, MIDDLE)]
    assert found.aips.total == 1


def test_holdings_grow_by_bucket_and_shrink_with_a_deaccession(built: Built) -> None:
    found = built.evidence.holdings(WINDOW)
    own = [
        (aip, t, f) for aip, _, t, files in built.scenario.versions for f in files if f.stored_version is None
    ]
    before = [f for _, t, f in own if t < FIRST]
    assert (found.before.files, found.before.bytes) == (len(before), sum(f.size for f in before))
    assert (found.before.aips, found.before.versions) == (1, 1)
    added = {g.bucket: g.added for g in found.growth}
    assert (
        added["2024-05-10"].files == 1 and added["2024-05-10"].versions == 1 and added["2024-05-10"].aips == 0
    )
    assert added["2024-05-31"].files == 3 and added["2024-05-31"].aips == 1
    removed = {g.bucket: g.removed for g in found.growth if g.removed.versions}
    assert (
        set(removed) == {"2024-05-20"}
        and removed["2024-05-20"].files == 2
        and removed["2024-05-20"].bytes == 90
    )
    held = [f for aip, t, f in own if t < AFTER and aip != "aip-d"]
    assert (found.at_end.files, found.at_end.bytes) == (len(held), sum(f.size for f in held))
    assert (found.at_end.aips, found.at_end.versions) == (2, 3)
    everything = built.evidence.holdings(OPEN)
    assert everything.at_end.files == len([1 for aip, _, _ in own if aip != "aip-d"])


def test_formats_received_and_held(built: Built) -> None:
    counts = built.evidence.formats(WINDOW)
    received = {h.puid: (h.files, h.bytes) for h in counts.received}
    # In May: aip-b's three files and aip-d's two; aip-a's PNG was derived, not received.
    assert received == {"x-fmt/111": (3, 70), "fmt/144": (1, 5760), "fmt/116": (1, 50)}
    held = {h.puid: h.files for h in counts.held}
    # aip-a (both versions, each file once) and aip-b; aip-d is deaccessioned.
    assert held == {"fmt/144": 2, None: 1, "x-fmt/111": 3, "fmt/116": 1, "fmt/11": 1}
    issues = {c.code: c.units for c in built.evidence.format_issues(WINDOW)}
    assert issues == {"FMT-W002": 1}  # aip-b's FITS file; aip-a's files came in April
    assert {c.code: c.units for c in built.evidence.format_issues(OPEN)} == {"FMT-W002": 2, "FMT-W001": 1}


def test_rejections_by_code_and_producer(built: Built) -> None:
    found = built.evidence.rejections(WINDOW, limit=1)
    mine = [r for r in built.scenario.rejections if inside(r.date_time)]
    assert found.total == len(mine) == 2
    sips = Counter(code for r in mine for code in {i.code for i in r.issues})
    issues = Counter(i.code for r in mine for i in r.issues)
    assert {c.code: (c.units, c.issues) for c in found.by_code} == {k: (sips[k], issues[k]) for k in sips}
    assert found.by_producer == dict(Counter(r.producer for r in mine))
    assert found.by_bucket == {"2024-05-01": 1, "2024-05-31": 1}
    assert [(r.title, r.codes) for r in found.latest.rows] == [("r2", "SIP-E007")]
    assert found.latest.left_out == 1
    assert built.evidence.rejections(Window(start=AFTER + timedelta(days=1)), 5).total == 0


def test_conversions_and_their_significant_properties(built: Built) -> None:
    found = built.evidence.conversions(WINDOW, limit=10)
    assert found.events == {"migration": {"success": 1}, "normalization": {"failure": 1}}
    assert (found.differs, found.kept_differs) == (1, 0)
    assert {p.name: p.events for p in found.properties} == {"width": 2, "height": 1, "pixels": 2}
    assert (found.derived_files, found.derived_bytes) == (1, 1200)
    assert [e.type for e in found.exceptions.rows] == ["normalization"] and found.exceptions.total == 1
    assert [e.type for e in found.latest.rows] == ["normalization", "migration"]
    assert "DIFFERS" in found.exceptions.rows[0].detail


def test_actions_by_outcome_and_their_exceptions(built: Built) -> None:
    found = built.evidence.actions(WINDOW, limit=10)
    counts = {(c.action, c.outcome): c.actions for c in found.counts}
    assert counts == {
        ("audit run", "failed"): 1,
        ("migrate apply", "ok"): 1,
        ("token add", "ok"): 1,
        ("token revoke", "ok"): 1,
        ("report cts", "ok"): 1,
        ("storage replicate", "running"): 1,
    }
    assert [e.action for e in found.exceptions.rows] == ["storage replicate", "audit run"]
    assert found.by_bucket["2024-05-15"] == {"failed": 1}
    report_id = next(
        e.id for e in built.evidence.actions(OPEN, 10).exceptions.rows if e.action == "storage replicate"
    )
    assert ("storage replicate", "running") not in {
        (c.action, c.outcome) for c in built.evidence.actions(WINDOW, 10, exclude=report_id).counts
    }


def test_copies_against_the_policy_leave_deaccessioned_aips_out(built: Built) -> None:
    found = built.evidence.copies(REQUIRED, limit=10)
    # aip-a v1, aip-b v1, aip-c v1 at both; aip-a v2 at a only; aip-d is deaccessioned.
    assert found.versions == 4
    assert found.per_version == {1: 1, 2: 3}
    assert [(v.aip_id, v.version, v.locations) for v in found.below.rows] == [("aip-a", 2, ["a"])]
    by_location = {loc.location: loc for loc in found.locations}
    assert [loc.location for loc in found.locations] == ["a", "b"]
    assert (by_location["a"].versions, by_location["b"].versions) == (4, 3)
    assert by_location["b"].never_verified == 3 and by_location["a"].never_verified == 0
    # Payload files to audit: aip-a v1 (4) and v2 (its one new file), aip-b (3), aip-c (1).
    assert (by_location["a"].files, by_location["b"].files) == (9, 8)
    assert built.evidence.copies(("a", "b", "c"), 10).per_version == {1: 1, 2: 3}


def test_findings_detected_repaired_and_open(built: Built) -> None:
    found = built.evidence.findings(WINDOW, limit=10)
    assert (found.detected, found.repaired, found.found_whole) == (2, 1, 1)
    assert (found.open, found.unrecoverable) == (2, 1)
    assert found.by_bucket["2024-05-15"] == {"detected": 1, "repaired": 1}
    assert found.by_bucket["2024-05-10"] == {"found whole": 1}
    assert found.by_location == {"a": {"missing": 1}, "b": {"altered": 1}}
    assert [(f.key, f.unrecoverable) for f in found.unresolved.rows] == [("k2", True)]


def test_deaccessions_with_their_approvals(built: Built) -> None:
    found = built.evidence.deaccessions(WINDOW, limit=10)
    # req-1 decided and carried out in May, req-3 made and decided in May; req-2 came in June.
    assert found.by_status == {"executed": 1, "rejected": 1}
    assert [r.id for r in found.requests.rows] == ["req-3", "req-1"]
    # Two deletion events in May: aip-d's, which req-1 accounts for, and one on aip-b that none does.
    deletions = [t for t, ty, _, _ in built.scenario.events if ty == "deletion" and inside(t)]
    assert (found.tombstones, len(deletions), found.approved_deletions) == (1, 2, 1)


def test_access_refusals_tokens_and_role_changes(built: Built) -> None:
    found = built.evidence.access(WINDOW, limit=10)
    assert found.requests == 5
    assert found.by_bucket == {
        "2024-05-01": {"401 HTTP": 2},
        "2024-05-10": {"403 HTTP": 1},
        "2024-05-31": {"401 CLI": 1},
    }
    assert [(f.method, f.path, f.status, f.requests) for f in found.failures.rows] == [
        ("GET", "/aips", 401, 2),
        ("CLI", "deaccession approve", 401, 1),
        ("GET", "/aips/aip-a", 403, 1),
    ]
    assert (found.tokens_created, found.tokens_revoked) == (1, 1)
    assert found.valid_by_role == {"admin": 1}  # bob's revoked on the last day; carol's made after
    assert [c.action for c in found.role_changes.rows] == ["token revoke", "token add"]


def test_event_logs_and_report_actions(built: Built) -> None:
    logs = built.evidence.event_logs()
    assert [(s.location, s.segments, s.events, s.last) for s in logs] == [("a", 2, 9, MIDDLE)]
    found = built.evidence.report_actions(built.report_digest)
    assert [(a.action, a.outcome, a.actor) for a in found] == [("report cts", "ok", "alice")]
    assert built.evidence.report_actions("cd" * 32) == []
    assert built.evidence.report_actions("%") == []
