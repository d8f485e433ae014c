"""The NDSA Levels matrix judged on pure inputs: every level boundary an archive can cross by its
configuration (two or three locations, sites, threats and media declared or not), its policies and
what the catalog counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oais.administration.ndsa import build_report, fixity_windows
from oais.domain.audit import AuditPolicy, LocationCoverage, ReadBudget, Schedule
from oais.domain.ndsa import (
    LEVELS,
    MATRIX,
    Area,
    AuditFacts,
    CatalogFacts,
    CellResult,
    EventCount,
    FormatFacts,
    HolderSet,
    ItemResult,
    LocationFacts,
    LocationHoldings,
    NdsaFacts,
    Status,
    Window,
    area_level,
    assess,
    cell_status,
)

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
AUDIT = AuditFacts(reference="audit@1", cycle_days=90, quick_days=7, deep_days=90, repair=True)


def location(name: str, **declared: Any) -> LocationFacts:
    values: dict[str, Any] = {"kind": "local", "address": f"/srv/{name}", "required": True}
    values.update(declared)
    return LocationFacts(name=name, **values)


def facts(
    locations: list[LocationFacts],
    *,
    versions: int = 10,
    holder_sets: list[HolderSet] | None = None,
    catalog: dict[str, Any] | None = None,
    audit: AuditFacts | None = AUDIT,
    formats: FormatFacts | None = None,
    retention: str | None = "COMPLIANCE, 3650 days",
    coverage: list[LocationCoverage] | None = None,
    catalog_apart: bool = True,
) -> NdsaFacts:
    """An archive of ``versions`` AIP versions, each held at every required location unless
    ``holder_sets`` says otherwise; every other figure healthy unless ``catalog`` overrides it."""
    required = tuple(loc.name for loc in locations if loc.required)
    if holder_sets is None:
        holder_sets = [HolderSet(locations=tuple(sorted(required)), versions=versions)] if versions else []
    held: dict[str, int] = {}
    for h in holder_sets:
        for n in h.locations:
            held[n] = held.get(n, 0) + h.versions
    values: dict[str, Any] = {
        "aips": versions,
        "described_aips": versions,
        "versions": versions,
        "holder_sets": holder_sets,
        "holdings": [
            LocationHoldings(location=n, copies=c, unverified=0, unaudited=0, segments=2, logged_events=8)
            for n, c in held.items()
        ],
        "first_copy": NOW - timedelta(days=400) if versions else None,
        "files": 100 * versions,
        "bytes": 10_000 * versions,
        "files_identified": 100 * versions,
        "files_validated": 100 * versions,
        "events": [
            EventCount(type="ingestion", outcome="success", count=versions),
            EventCount(type="validation", outcome="success", count=versions),
            EventCount(type="fixity check", outcome="success", count=50 * versions),
        ],
        "fixity_windows": [Window(start=a, end=b, checks=5) for a, b in fixity_windows(NOW, _policy(AUDIT))],
        "tokens": {"admin": 1, "auditor": 2},
        "access_requests": 40,
        "access_refused": 3,
        "actions": {"cli": 12, "daemon": 3},
        "audit_reports": 3,
        "audit_reports_last_period": 1,
        "audit_reports_period_before": 1,
        "agents": {"software": 2, "organization": 1},
    }
    values.update(catalog or {})
    if coverage is None:
        coverage = [
            LocationCoverage(
                location=n,
                slices=c,
                files=100 * c,
                bytes=10_000 * c,
                verified_files=100 * c,
                deep_files=100 * c,
                oldest=NOW - timedelta(days=3),
                never=0,
                backlog_files=0,
                backlog_bytes=0,
                needed_rate=1.0,
                budget=100,
                open_findings=0,
                unrecoverable=0,
            )
            for n, c in held.items()
        ]
    return NdsaFacts(
        now=NOW,
        storage_policy="storage@1",
        required=required,
        retention=retention,
        locations=locations,
        catalog=CatalogFacts(**values),
        coverage=coverage,
        audit=audit,
        formats=formats or FormatFacts(reference="formats@2", files_by_status={"preferred": 100 * versions}),
        catalog_place="PostgreSQL at db.example.org/oais",
        catalog_apart=catalog_apart,
    )


def _policy(audit: AuditFacts) -> AuditPolicy:
    return AuditPolicy(
        id="audit",
        version="1",
        cycle_days=audit.cycle_days,
        quick=Schedule(every_days=audit.quick_days),
        deep=Schedule(every_days=audit.deep_days),
        budget=ReadBudget(default=1),
        repair=audit.repair,
    )


def status(f: NdsaFacts, key: str) -> Status:
    return assess(f).item(key).status


# Three locations at three sites, each under its own threat, on two media and two kinds of storage.
MADRID = location("madrid", site="ESAC Madrid", threat="Madrid: wildfire", media="disk", object_lock=True)
PARIS = location(
    "paris",
    kind="s3",
    address="https://rgw.ias.fr/aips",
    site="IAS Orsay",
    threat="Seine flood",
    media="disk",
    object_lock=True,
)
KIRUNA = location("kiruna", site="Kiruna vault", threat="arctic: none known", media="tape", object_lock=True)


# --- the matrix itself --------------------------------------------------------------------------


def test_the_matrix_has_every_ndsa_2019_item_once_with_a_judge() -> None:
    keys = [i.key for i in MATRIX]
    assert len(keys) == len(set(keys)) == 38
    per_area = {a: sum(1 for i in MATRIX if i.area is a) for a in Area}
    assert per_area == {
        Area.STORAGE: 11,
        Area.INTEGRITY: 11,
        Area.CONTROL: 4,
        Area.METADATA: 7,
        Area.CONTENT: 5,
    }
    # Every cell of the 5 x 4 matrix has at least one item.
    assert {(i.area, i.level) for i in MATRIX} == {(a, n) for a in Area for n in LEVELS}
    texts = {i.key: i.text for i in MATRIX}
    assert texts["storage-1-copies"] == "Have two complete copies in separate locations"
    assert texts["control-4-review"] == "Perform periodic review of actions/access logs"
    assessment = assess(facts([MADRID, PARIS, KIRUNA]))
    assert sum(len(c.items) for a in assessment.areas for c in a.cells) == 38


def test_a_cell_is_met_only_when_every_item_is_and_levels_are_cumulative() -> None:
    item = MATRIX[0]

    def judged(*statuses: Status) -> list[ItemResult]:
        return [ItemResult(item=item, status=s, evidence="") for s in statuses]

    assert cell_status(judged(Status.MET, Status.MET)) is Status.MET
    assert cell_status(judged(Status.MET, Status.NOT_EVIDENCED)) is Status.PARTLY
    assert cell_status(judged(Status.PARTLY)) is Status.PARTLY
    assert cell_status(judged(Status.NOT_MET, Status.NOT_EVIDENCED)) is Status.NOT_MET

    def cells(*statuses: Status) -> list[CellResult]:
        return [
            CellResult(area=Area.STORAGE, level=n + 1, status=s, items=[]) for n, s in enumerate(statuses)
        ]

    assert area_level(cells(Status.MET, Status.MET, Status.PARTLY, Status.MET)) == 2
    # Level 2 met does not count while level 1 is not.
    assert area_level(cells(Status.PARTLY, Status.MET, Status.MET, Status.MET)) == 0
    assert area_level(cells(*[Status.MET] * 4)) == 4


# --- storage ------------------------------------------------------------------------------------


def test_one_location_is_not_two_copies() -> None:
    f = facts([MADRID])
    assert status(f, "storage-1-copies") is Status.NOT_MET
    assert "1 of" not in assess(f).item("storage-1-copies").evidence
    assert assess(f).area(Area.STORAGE).level == 0


def test_two_locations_without_declared_sites_are_not_evidenced_as_separate() -> None:
    f = facts([location("a", media="disk"), location("b", media="disk")])
    result = assess(f).item("storage-1-copies")
    assert result.status is Status.NOT_EVIDENCED
    assert "declare `site` for 'a', 'b'" in result.missing
    assert result.evidence.startswith("0 of 10 AIP versions")


def test_two_locations_at_one_site_are_not_separate() -> None:
    f = facts([location("a", site="Madrid", media="disk"), location("b", site="Madrid", media="disk")])
    assert status(f, "storage-1-copies") is Status.NOT_MET


def test_two_sites_meet_level_1_and_three_copies_are_needed_for_level_2() -> None:
    two = facts([MADRID, PARIS])
    assert status(two, "storage-1-copies") is Status.MET
    assert status(two, "storage-2-copies") is Status.NOT_MET
    assert assess(two).area(Area.STORAGE).level == 1
    missing = assess(two).area(Area.STORAGE).next_missing
    assert [r.item.key for r in missing] == ["storage-2-copies"]

    three = facts([MADRID, PARIS, KIRUNA])
    assert status(three, "storage-2-copies") is Status.MET
    assert assess(three).area(Area.STORAGE).level == 2  # level 3 needs an obsolescence record


def test_three_copies_at_two_sites_still_meet_level_2() -> None:
    same = location("madrid-2", site="ESAC Madrid", threat="Madrid: wildfire", media="tape")
    f = facts([MADRID, same, PARIS])
    assert status(f, "storage-2-copies") is Status.MET
    # ...but not "each copy under its own threat" (level 4).
    assert status(f, "storage-4-threats") is Status.NOT_MET


def test_some_versions_short_of_copies_make_the_item_partly_met() -> None:
    f = facts(
        [MADRID, PARIS],
        holder_sets=[
            HolderSet(locations=("madrid", "paris"), versions=9),
            HolderSet(locations=("madrid",), versions=1),
        ],
    )
    result = assess(f).item("storage-1-copies")
    assert result.status is Status.PARTLY
    assert result.evidence.startswith("9 of 10 AIP versions")
    assert "1 AIP versions lack" in result.missing and "madrid" in result.missing
    stable = assess(f).item("storage-1-stable")
    assert stable.status is Status.PARTLY and "'paris' 1" in stable.missing


def test_a_different_threat_needs_declared_threats_that_differ() -> None:
    undeclared = facts([location("a", site="A", media="disk"), location("b", site="B", media="disk")])
    assert status(undeclared, "storage-3-threat") is Status.NOT_EVIDENCED
    same = facts(
        [
            location("a", site="A", threat="flood", media="disk"),
            location("b", site="B", threat="flood", media="disk"),
        ]
    )
    assert status(same, "storage-3-threat") is Status.NOT_MET
    different = facts([MADRID, PARIS])
    assert status(different, "storage-3-threat") is Status.MET


def test_a_different_media_type_needs_two_declared_media() -> None:
    assert status(facts([MADRID, PARIS]), "storage-3-media") is Status.NOT_MET  # disk and disk
    assert status(facts([MADRID, KIRUNA]), "storage-3-media") is Status.MET  # disk and tape
    assert status(facts([MADRID, location("b", site="B")]), "storage-3-media") is Status.NOT_EVIDENCED


def test_documented_media_counts_every_location_that_is_required_or_holds_copies() -> None:
    unused = location("spare", required=False)  # neither required nor holding anything: not asked
    assert status(facts([MADRID, PARIS, unused]), "storage-1-media") is Status.MET
    some = facts([MADRID, location("b", site="B")])
    assert status(some, "storage-1-media") is Status.PARTLY
    none = facts([location("a"), location("b")])
    result = assess(none).item("storage-1-media")
    assert result.status is Status.NOT_EVIDENCED and "declare `media` for 'a', 'b'" in result.missing


def test_diversity_needs_two_media_and_two_kinds_of_storage() -> None:
    assert status(facts([MADRID, PARIS, KIRUNA]), "storage-4-diversity") is Status.MET
    all_local = facts([MADRID, location("b", site="B", threat="b", media="disk"), KIRUNA])
    assert status(all_local, "storage-4-threats") is Status.MET
    assert status(all_local, "storage-4-diversity") is Status.NOT_MET  # local only


def test_obsolescence_of_storage_is_never_evidenced_by_oais() -> None:
    f = facts([MADRID, PARIS, KIRUNA])
    assert status(f, "storage-3-obsolescence") is Status.NOT_EVIDENCED
    assert status(f, "storage-4-plan") is Status.NOT_EVIDENCED
    replicated = facts(
        [MADRID, PARIS, KIRUNA],
        catalog={"events": [EventCount(type="replication", outcome="success", count=4)]},
    )
    assert status(replicated, "storage-4-plan") is Status.PARTLY


def test_with_nothing_stored_storage_is_judged_on_the_policy() -> None:
    f = facts([MADRID, PARIS], versions=0)
    assessment = assess(f)
    assert assessment.empty
    result = assessment.item("storage-1-copies")
    assert result.status is Status.MET
    assert result.evidence.startswith("nothing stored yet; the storage policy storage@1 requires")
    assert status(facts([MADRID], versions=0), "storage-1-copies") is Status.NOT_MET


# --- integrity ----------------------------------------------------------------------------------


def test_fixity_at_fixed_intervals_needs_full_coverage_and_checks_in_every_interval() -> None:
    good = facts([MADRID, PARIS])
    assert status(good, "integrity-3-intervals") is Status.MET

    windows = [
        Window(start=a, end=b, checks=0 if n == 5 else 5)
        for n, (a, b) in enumerate(fixity_windows(NOW, _policy(AUDIT)))
    ]
    gap = facts([MADRID, PARIS], catalog={"fixity_windows": windows})
    result = assess(gap).item("integrity-3-intervals")
    assert result.status is Status.PARTLY
    assert "1 quick-audit intervals without any fixity check" in result.missing

    half = [c.model_copy(update={"verified_files": c.files // 2}) for c in good.coverage]
    assert status(facts([MADRID, PARIS], coverage=half), "integrity-3-intervals") is Status.PARTLY

    never = [c.model_copy(update={"verified_files": 0}) for c in good.coverage]
    silent = [w.model_copy(update={"checks": 0}) for w in good.catalog.fixity_windows]
    nothing = facts([MADRID, PARIS], coverage=never, catalog={"fixity_windows": silent})
    assert status(nothing, "integrity-3-intervals") is Status.NOT_MET

    unaudited = facts(
        [MADRID, PARIS],
        catalog={
            "holdings": [
                LocationHoldings(
                    location="madrid", copies=10, unverified=0, unaudited=1, segments=1, logged_events=1
                ),
                LocationHoldings(
                    location="paris", copies=10, unverified=0, unaudited=0, segments=1, logged_events=1
                ),
            ]
        },
    )
    assert status(unaudited, "integrity-3-intervals") is Status.PARTLY
    assert status(facts([MADRID, PARIS], audit=None), "integrity-3-intervals") is Status.NOT_MET


def test_repair_needs_the_policy_a_second_location_and_nothing_open() -> None:
    assert status(facts([MADRID, PARIS]), "integrity-4-repair") is Status.MET
    assert status(facts([MADRID]), "integrity-4-repair") is Status.NOT_MET
    off = AUDIT.model_copy(update={"repair": False})
    assert status(facts([MADRID, PARIS], audit=off), "integrity-4-repair") is Status.NOT_MET
    open_ = facts(
        [MADRID, PARIS], catalog={"findings_detected": 3, "findings_open": 1, "findings_repaired": 2}
    )
    result = assess(open_).item("integrity-4-repair")
    assert result.status is Status.PARTLY and "1 findings open" in result.missing


def test_integrity_level_1_is_blocked_by_the_virus_check_oais_cannot_see() -> None:
    f = facts([MADRID, PARIS, KIRUNA])
    assert status(f, "integrity-1-verify") is Status.MET
    assert status(f, "integrity-1-generate") is Status.MET
    assert status(f, "integrity-1-virus") is Status.NOT_EVIDENCED
    assert assess(f).area(Area.INTEGRITY).level == 0
    missing = status(facts([MADRID], catalog={"files_without_record_digest": 2}), "integrity-1-generate")
    assert missing is Status.PARTLY


def test_unverified_copies_and_a_catalog_inside_a_location() -> None:
    rebuilt = facts(
        [MADRID, PARIS],
        catalog={
            "holdings": [
                LocationHoldings(
                    location="madrid", copies=10, unverified=10, unaudited=0, segments=1, logged_events=1
                ),
                LocationHoldings(
                    location="paris", copies=10, unverified=0, unaudited=0, segments=1, logged_events=1
                ),
            ]
        },
    )
    assert status(rebuilt, "integrity-2-moving") is Status.PARTLY
    inside = facts([MADRID, PARIS], catalog_apart=False)
    assert status(inside, "integrity-2-backup") is Status.PARTLY
    assert status(inside, "metadata-1-backup") is Status.PARTLY


# --- control ------------------------------------------------------------------------------------


def test_control_level_2_needs_tokens_and_object_lock_at_every_required_location() -> None:
    assert status(facts([MADRID, PARIS]), "control-2-applied") is Status.MET
    local = facts([MADRID, location("b", site="B", media="disk", object_lock=False)])
    result = assess(local).item("control-2-applied")
    assert result.status is Status.PARTLY and "Object Lock at 'b'" in result.missing
    unknown = facts([MADRID, location("b", site="B", media="disk")])  # could not be asked
    assert status(unknown, "control-2-applied") is Status.PARTLY
    bare = facts([location("a", object_lock=False)], catalog={"tokens": {}})
    assert status(bare, "control-2-applied") is Status.NOT_MET
    assert status(bare, "control-1-authorized") is Status.PARTLY
    no_retention = facts([MADRID, PARIS], retention=None)
    assert status(no_retention, "control-2-applied") is Status.PARTLY


def test_logs_are_maintained_when_the_action_log_is_in_use() -> None:
    assert status(facts([MADRID]), "control-3-logs") is Status.MET
    assert status(facts([MADRID], catalog={"actions": {}}), "control-3-logs") is Status.PARTLY


def test_periodic_review_needs_an_audit_report_in_each_of_the_last_two_periods() -> None:
    assert status(facts([MADRID]), "control-4-review") is Status.MET
    once = facts([MADRID], catalog={"audit_reports": 1, "audit_reports_period_before": 0})
    result = assess(once).item("control-4-review")
    assert result.status is Status.PARTLY and "every 90 days" in result.missing
    old = facts([MADRID], catalog={"audit_reports": 1, "audit_reports_last_period": 0})
    assert status(old, "control-4-review") is Status.PARTLY
    never = facts(
        [MADRID],
        catalog={"audit_reports": 0, "audit_reports_last_period": 0, "audit_reports_period_before": 0},
    )
    assert status(never, "control-4-review") is Status.NOT_MET
    assert assess(facts([MADRID, PARIS])).area(Area.CONTROL).level == 4


# --- metadata and content -----------------------------------------------------------------------


def test_descriptive_metadata_for_every_aip_is_level_2_of_metadata() -> None:
    assert assess(facts([MADRID, PARIS])).area(Area.METADATA).level == 4
    f = facts([MADRID, PARIS], catalog={"described_aips": 7})
    result = assess(f).item("metadata-2-enough")
    assert result.status is Status.PARTLY and "7 of 10 AIPs (70%)" in result.evidence
    assert assess(f).area(Area.METADATA).level == 1


def test_event_logs_missing_at_a_required_location() -> None:
    f = facts(
        [MADRID, PARIS],
        catalog={
            "holdings": [
                LocationHoldings(
                    location="madrid", copies=10, unverified=0, unaudited=0, segments=3, logged_events=9
                ),
                LocationHoldings(
                    location="paris", copies=10, unverified=0, unaudited=0, segments=0, logged_events=0
                ),
            ]
        },
    )
    result = assess(f).item("metadata-4-actions")
    assert result.status is Status.PARTLY and "no event log at 'paris'" in result.missing


def test_content_levels_follow_identification_validation_and_migration() -> None:
    f = facts([MADRID, PARIS])
    assert status(f, "content-1-formats") is Status.MET
    assert status(f, "content-2-verify") is Status.MET
    assert status(f, "content-2-creators") is Status.NOT_EVIDENCED
    assert assess(f).area(Area.CONTENT).level == 1
    unidentified = facts([MADRID], catalog={"files_identified": 990})
    assert status(unidentified, "content-1-formats") is Status.PARTLY
    assert status(unidentified, "content-3-obsolescence") is Status.PARTLY
    risky = FormatFacts(reference="formats@2", files_by_status={"at-risk": 5}, files_to_migrate=5)
    assert status(facts([MADRID], formats=risky), "content-4-migrations") is Status.NOT_MET
    migrated = facts(
        [MADRID],
        formats=risky,
        catalog={"events": [EventCount(type="migration", outcome="success", count=2)]},
    )
    assert status(migrated, "content-4-migrations") is Status.PARTLY
    assert (
        status(facts([MADRID], formats=FormatFacts(reference=None)), "content-3-obsolescence")
        is Status.NOT_MET
    )
    unrated = FormatFacts(reference="formats@2", files_unrated=4, unrated_formats=["fmt/999"])
    result = assess(facts([MADRID], formats=unrated)).item("content-3-obsolescence")
    assert result.status is Status.PARTLY and "fmt/999" in result.missing


# --- the report ---------------------------------------------------------------------------------


def test_fixity_windows_cover_the_cycle_in_quick_intervals_ending_now() -> None:
    windows = fixity_windows(NOW, _policy(AUDIT))
    assert len(windows) == 12  # 90 days in 7-day intervals
    assert windows[-1][1] == NOW and all(b - a == timedelta(days=7) for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
    daily = _policy(AUDIT.model_copy(update={"quick_days": 1, "cycle_days": 365, "deep_days": 30}))
    assert len(fixity_windows(NOW, daily)) == 52
    assert fixity_windows(NOW, None) == []


def test_the_report_has_a_summary_a_section_per_area_and_the_locations() -> None:
    f = facts([MADRID, PARIS])
    assessment = assess(f)
    report = build_report(f, assessment, archive="test archive", software="oais 0", policies=[])
    assert report.kind == "ndsa"
    assert [s.key for s in report.sections] == ["summary", *(a.value for a in Area), "locations"]
    summary = report.sections[0]
    figures = {fig.key: fig.value for fig in summary.figures}
    assert figures["storage_level"] == 1 and figures["control_level"] == 4
    assert figures["items"] == 38
    assert sum(figures[f"items_{s.name.lower()}"] for s in Status) == 38
    [levels] = summary.tables
    assert [row[0] for row in levels.rows] == [a.label for a in Area]
    storage_row = levels.rows[0]
    assert storage_row[1] == 1 and storage_row[2:6] == ["met", "partly", "partly", "not met"]
    assert "Have three complete copies" in str(storage_row[6])
    storage = report.sections[1]
    [items] = storage.tables
    assert items.columns[:5] == ["Level", "Item", "Status", "Evidence", "Missing"]
    assert len(items.rows) == 11
    assert {p.key for p in summary.plots} == {"levels", "items"}


@pytest.mark.parametrize("area", list(Area))
def test_every_item_not_met_says_what_is_missing(area: Area) -> None:
    bare = facts(
        [location("a", object_lock=False)],
        catalog={"tokens": {}, "actions": {}, "audit_reports": 0, "audit_reports_last_period": 0},
        audit=None,
        formats=FormatFacts(reference=None),
    )
    for cell in assess(bare).area(area).cells:
        for r in cell.items:
            assert (r.status is Status.MET) == (r.missing == ""), r
            assert r.evidence
