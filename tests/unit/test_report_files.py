"""Report folders: written whole or not at all, never over anything; verified against their digest
file and the action log. And the time buckets of a report's period."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from oais.administration.reports import REPORT_DIGEST, REPORT_HTML, REPORT_JSON, verify_report, write_report
from oais.domain.errors import ConflictError, StorageError
from oais.domain.evidence import Granularity, ReportAction, Window, window_of
from oais.domain.reports import Figure, Period, Report, Section, canonical_json, digest

GENERATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def report() -> Report:
    return Report(
        kind="cts",
        title="CoreTrustSeal evidence report",
        archive="Test archive",
        generated=GENERATED,
        period=Period(start=date(2026, 1, 1), end=date(2026, 2, 28)),
        software="oais 9.9",
        sections=[
            Section(
                key="R14",
                title="Storage and integrity",
                summary="copies",
                figures=[Figure(key="versions_held", label="AIP versions held", value=3)],
            )
        ],
    )


class Renderer:
    def __init__(self) -> None:
        self.digests: list[str] = []

    def render(self, report: Report, json_digest: str) -> bytes:
        self.digests.append(json_digest)
        return f"<html>{report.title} {json_digest}</html>".encode()


def test_a_report_folder_holds_the_json_its_digest_and_the_html_stating_it(tmp_path: Path) -> None:
    renderer = Renderer()
    sha = write_report(report(), tmp_path / "out", renderer)
    data = canonical_json(report())
    assert sha == digest(data) == hashlib.sha256(data).hexdigest() == renderer.digests[0]
    folder = tmp_path / "out"
    assert sorted(p.name for p in folder.iterdir()) == sorted([REPORT_JSON, REPORT_DIGEST, REPORT_HTML])
    assert (folder / REPORT_JSON).read_bytes() == data
    assert (folder / REPORT_DIGEST).read_text() == f"{sha}  {REPORT_JSON}\n"
    assert sha in (folder / REPORT_HTML).read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_an_empty_folder_is_filled_and_a_folder_with_anything_in_it_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    write_report(report(), empty, Renderer())
    assert (empty / REPORT_JSON).is_file()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine\n")
    with pytest.raises(ConflictError, match="not empty"):
        write_report(report(), taken, Renderer())
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(ConflictError, match="not a folder"):
        write_report(report(), a_file, Renderer())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty", "taken"]


def test_a_folder_that_cannot_be_made_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder\n")
    with pytest.raises(StorageError, match="cannot write the report"):
        write_report(report(), blocker / "out", Renderer())


def actions(*made: str) -> Callable[[str], list[ReportAction]]:
    def lookup(sha: str) -> list[ReportAction]:
        return [
            ReportAction(id=7, started=GENERATED, actor="alice", action="report cts", outcome="ok")
            for m in made
            if m == sha
        ]

    return lookup


def test_verify_accepts_a_report_as_made_and_names_the_action(tmp_path: Path) -> None:
    sha = write_report(report(), tmp_path / "out", Renderer())
    check = verify_report(tmp_path / "out", actions(sha))
    assert check.ok and check.digest == check.recorded == sha
    assert check.made_by == [(7, "2026-03-01T12:00:00Z", "alice", "report cts")]


def test_verify_refuses_an_edited_report_and_one_this_archive_never_made(tmp_path: Path) -> None:
    sha = write_report(report(), tmp_path / "out", Renderer())
    folder = tmp_path / "out"
    edited = (folder / REPORT_JSON).read_bytes().replace(b'"value": 3', b'"value": 4')
    (folder / REPORT_JSON).write_bytes(edited)
    check = verify_report(folder, actions(sha))
    assert not check.ok
    assert any("report.json was edited" in p for p in check.problems)
    # The digest file rewritten to match: the action log still knows better.
    new = hashlib.sha256(edited).hexdigest()
    (folder / REPORT_DIGEST).write_text(f"{new}  {REPORT_JSON}\n")
    check = verify_report(folder, actions(sha))
    assert check.problems == [
        f"no report with sha256 {new} was made by this archive (its action log records none): the report "
        "was edited, or comes from another archive"
    ]
    missing = verify_report(tmp_path / "nowhere", actions(sha))
    assert not missing.ok and missing.digest is None


def test_a_period_is_bucketed_by_day_up_to_92_days_and_by_month_beyond() -> None:
    short = window_of(Period(start=date(2026, 1, 30), end=date(2026, 2, 2)))
    assert short.granularity is Granularity.DAY
    assert short.start == datetime(2026, 1, 30, tzinfo=UTC) and short.end == datetime(2026, 2, 3, tzinfo=UTC)
    assert short.buckets([], date(2030, 1, 1)) == ["2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"]
    long = window_of(Period(start=date(2025, 11, 15), end=date(2026, 2, 20)))
    assert long.granularity is Granularity.MONTH
    assert long.buckets([], date(2030, 1, 1)) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    # Open-ended: from the first bucket with data to the day of the report.
    assert Window().buckets(["2025-12", "2025-10"], date(2026, 1, 5)) == [
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
    ]
    assert Window().buckets([], date(2026, 1, 5)) == []
    assert Window().label(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)) == "2025-12"


def test_every_significant_property_a_conversion_compares_is_counted_by_reports() -> None:
    # The reports count properties by name in the PREMIS outcome details: a property the comparison
    # learns must be added to the names the reports look for.
    from oais.domain.evidence import SIGNIFICANT_PROPERTIES

    source = (Path(__file__).parents[2] / "oais" / "adapters" / "significant_properties.py").read_text()
    compared = set(re.findall(r'_check\(\s*"([^"]+)"', source)) | set(re.findall(r'name="([^"]+)"', source))
    assert compared and compared <= set(SIGNIFICANT_PROPERTIES)
