"""`oais report cts` and `oais report verify` on an archive built by the real commands: ingests, a
rejected SIP, an audit that finds a flipped bit and repairs it, a planned and applied migration, a
deaccession approved by a second administrator and a refused command-line token. Every figure checked
here is counted again by the test, from the store, the command's own listings or the catalog read
behind its back; the HTML is opened in headless Chromium and each section photographed."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.e2e.audit_deployment import Deployment, deployment
from tests.e2e.conftest import Run
from tests.e2e.test_migration import make_sip
from tests.support.browser import assert_plots_rendered, screenshot_sections
from tests.support.damage import flip_bit

pytestmark = [pytest.mark.slow]

FLIPPED = "cubes/ORB0042_1.fits"  # a payload file of the sample SIP


def _ok(run: Run, code: int = 0) -> Any:
    assert run.code == code, f"exit {run.code}, not {code}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    return run.json if run.stdout.startswith("{") else run


@pytest.fixture
def archive(tmp_path: Path) -> Deployment:
    return deployment(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_archive(request: pytest.FixtureRequest, tmp_path: Path) -> Deployment:
    """A deployment whose catalog is SQLite, or a fresh PostgreSQL database."""
    url = request.getfixturevalue("fresh_postgres_url") if request.param == "postgres" else None
    return deployment(tmp_path, url)


def _as(archive: Deployment, token: str) -> Deployment:
    """The same deployment, acting with an API token (OAIS_TOKEN)."""
    oais = type(archive.oais)(home=archive.oais.home, env={**archive.oais.env, "OAIS_TOKEN": token})
    return Deployment(oais, archive.base, archive.policies, archive.config, archive.roots)


def _sections(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in report["sections"]}


def _figures(section: dict[str, Any]) -> dict[str, Any]:
    return {f["key"]: f["value"] for f in section["figures"]}


def _table(section: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in section["tables"] if t["key"] == key)


@pytest.fixture
def built(archive: Deployment, sample_sip: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The archive after a day of work; returns the AIP ids by role."""
    alice = _ok(archive.oais("token", "add", "alice", "--role", "admin", "--json"))["token"]
    bob = _ok(archive.oais("token", "add", "bob", "--role", "admin", "--json"))["token"]
    sample = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    plates = _ok(archive.oais.ingest(make_sip(tmp_path / "plates-sip"), title="Orbit 0042 plates"))["aip_id"]
    doomed_sip = tmp_path / "doomed-sip"
    doomed_sip.mkdir()
    (doomed_sip / "duplicate.txt").write_text("ingested by mistake\n", encoding="utf-8")
    doomed = _ok(archive.oais.ingest(doomed_sip, title="A duplicate"))["aip_id"]
    empty = tmp_path / "empty-sip"
    empty.mkdir()
    _ok(archive.oais.ingest(empty, title="Nothing"), 1)  # rejected: SIP-E007

    # A bit flipped at location a, found by the audit and repaired from b.
    flip_bit(archive.version_dir("a", sample) / "data" / "objects" / FLIPPED)
    _ok(archive.oais("audit", "run", "--all", "--deep", "--json"))

    # The formats at risk migrated by a reviewed plan.
    plan = tmp_path / "plan.json"
    _ok(archive.oais("plan", "migrations", "--out", plan, "--json"))
    assert _ok(archive.oais("migrate", "apply", plan, "--json"))["failed"] == 0

    # A deaccession: asked by alice, approved (and carried out) by bob.
    request = _ok(
        _as(archive, alice).oais("deaccession", "request", doomed, "--reason", "a duplicate", "--json")
    )
    _ok(_as(archive, bob).oais("deaccession", "approve", request["id"], "--json"))

    # A command run with a token that is not one: refused and recorded in the access log.
    _ok(_as(archive, "oais_not-a-token").oais("deaccession", "request", plates, "--reason", "x"), 10)
    yield {"sample": sample, "plates": plates, "doomed": doomed}


def _count(archive: Deployment, sql: str, **params: Any) -> int:
    return int(archive.query(sql, **params)[0][0])


def test_a_cts_report_states_what_the_archive_did(
    archive: Deployment, built: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "cts"
    summary = _ok(archive.oais("report", "cts", "--out", folder, "--json"))
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.json.sha256"]
    data = (folder / "report.json").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert summary["sha256"] == sha
    assert (folder / "report.json.sha256").read_text() == f"{sha}  report.json\n"
    assert sha in (folder / "report.html").read_text(encoding="utf-8")
    report = json.loads(data)
    assert report["kind"] == "cts" and report["software"].startswith("oais ")
    assert report["period"] == {"start": None, "end": None}
    sections = _sections(report)
    assert list(sections) == ["R07", "R08", "R09", "R10", "R11", "R14", "R16"]
    assert {p["id"] for p in report["policies"]} >= {"formats", "audit", "storage", "ingest"}

    # R07: every event of the catalog, and both event logs verified whole.
    r07 = _figures(sections["R07"])
    assert r07["events"] == _count(archive, "SELECT count(*) FROM events")
    assert r07["events_failure"] == _count(archive, "SELECT count(*) FROM events WHERE outcome = 'failure'")
    assert (r07["event_logs_whole"], r07["event_logs_broken"]) == (2, 0)
    assert r07["versions_created"] == 4  # three ingests and the migration's version 2
    assert r07["aips_with_versions"] == 1

    # R08: the accepted and the rejected SIPs, as `oais rejections` lists them.
    rejections = _ok(archive.oais("rejections", "--json"))["rejections"]
    r08 = _figures(sections["R08"])
    assert r08["sips_rejected"] == len(rejections) == 1
    assert r08["sips_accepted"] == 3
    by_code = {row[0]: row[1] for row in _table(sections["R08"], "rejections_by_code")["rows"]}
    assert by_code == {"SIP-E007": 1}
    received = _count(
        archive, "SELECT count(*) FROM files WHERE derived_from IS NULL AND stored_version IS NULL"
    )
    assert r08["files_received"] == received

    # R09: the policy in force, and the migrations done (one output file per planned file).
    r09 = _figures(sections["R09"])
    migrated = [
        p
        for p in (archive.roots["a"] / "aips" / built["plates"] / "v2" / "data" / "objects").rglob("*")
        if p.is_file()
    ]
    assert r09["format_policy"] == "formats@2"
    assert r09["migrations_done"] == len(migrated) == 4
    assert r09["files_to_migrate"] == 0
    assert r09["migration_runs"] == 1 and r09["plan_runs"] == 1

    # R10: every migration compared its significant properties and kept them.
    r10 = _figures(sections["R10"])
    assert r10["conversions"] == 4 and r10["conversions_differ"] == 0 and r10["conversions_failed"] == 0
    compared = {row[0] for row in _table(sections["R10"], "significant_properties")["rows"]}
    assert {"width", "height", "pixels", "pages"} <= compared

    # R11: the action log's entries (the command making the report left out).
    r11 = _figures(sections["R11"])
    recorded = _count(archive, "SELECT count(*) FROM action_log WHERE action <> 'report cts'")
    assert r11["actions"] == recorded
    assert r11["ingests"] == 4 and r11["ingests_refused"] == 1
    assert r11["migration_runs"] == 1 and r11["audit_runs"] == 1

    # R14: what the store holds, the failure and its repair, the deaccession and its approval.
    r14 = _figures(sections["R14"])
    held = [
        p
        for p in (archive.roots["a"] / "aips").glob("*/v*/data/objects/**/*")
        if p.is_file() and p.relative_to(archive.roots["a"] / "aips").parts[0] != built["doomed"]
    ]
    assert list((archive.roots["a"] / "aips" / built["doomed"]).glob("v*")) == []  # a tombstone is left
    assert r14["files_held"] == len(held)
    assert r14["bytes_held"] == sum(p.stat().st_size for p in held)
    assert r14["versions_held"] == 3 and r14["versions_below_policy"] == 0
    assert r14["fixity_failures"] == _count(
        archive, "SELECT count(*) FROM events WHERE type = 'fixity check' AND outcome = 'failure'"
    )
    assert r14["fixity_failures"] >= 1
    assert r14["repairs"] == _count(archive, "SELECT count(*) FROM events WHERE type = 'recovery'") == 1
    assert (r14["findings_detected"], r14["findings_repaired"], r14["findings_open"]) == (1, 1, 0)
    assert (r14["deletions"], r14["deletion_events"], r14["deletions_unapproved"]) == (1, 1, 0)
    requests = _table(sections["R14"], "deaccessions")["rows"]
    assert [(r[1], r[3], r[5], r[6]) for r in requests] == [(built["doomed"], "alice", "executed", "bob")]
    # The versions stored since the audit (the migration's) are not audited yet.
    coverage = {row[0]: row for row in _table(sections["R14"], "audit_coverage")["rows"]}
    assert set(coverage) == {"a", "b"}
    for row in coverage.values():
        assert row[1] == _count(
            archive,
            "SELECT count(*) FROM files f JOIN aip_versions v ON v.id = f.version_id "
            "WHERE f.stored_version IS NULL AND v.aip_id <> :doomed",
            doomed=built["doomed"],
        )
    levels = {f["level"] for f in sections["R14"]["findings"]}
    assert "problem" not in levels

    # R16: the refused token, and the two tokens made.
    r16 = _figures(sections["R16"])
    assert r16["auth_failures_cli"] == 1 and r16["auth_failures_http"] == 0
    assert r16["tokens_created"] == 2 and r16["tokens_valid_admin"] == 2
    changes = _table(sections["R16"], "role_changes")["rows"]
    assert [row[1] for row in changes] == ["token add", "token add"]

    # Each section, as a reader sees it, with every plot drawn.
    shots = screenshot_sections(folder / "report.html", tmp_path / "screenshots")
    assert list(shots) == list(sections)
    for key, shot in shots.items():
        assert len(shot.images) == len(sections[key]["plots"]) > 0, key
        assert_plots_rendered(shot)
        assert shot.png.stat().st_size > 0

    # The report verifies; one byte edited, it does not, whatever the digest file says.
    verified = _ok(archive.oais("report", "verify", folder, "--json"))
    assert verified["ok"] is True and verified["sha256"] == sha
    assert [m["action"] for m in verified["made_by"]] == ["report cts"]
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    body = bytearray(data)
    at = body.index(b'"archive"') + 1
    body[at] = ord("A")
    (edited / "report.json").write_bytes(bytes(body))
    run = archive.oais("report", "verify", edited)
    assert run.code == 1, run.stdout
    assert "report.json was edited" in run.stdout
    new_sha = hashlib.sha256(bytes(body)).hexdigest()
    (edited / "report.json.sha256").write_text(f"{new_sha}  report.json\n")
    run = archive.oais("report", "verify", edited)
    assert run.code == 1 and "report.json was edited" not in run.stdout
    assert f"no report with sha256 {new_sha} was made by this archive" in run.stdout


def test_a_period_leaves_out_what_happened_before_it(
    any_archive: Deployment, sample_sip: Path, tmp_path: Path
) -> None:
    archive = any_archive
    first = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    later_sip = tmp_path / "later-sip"
    later_sip.mkdir()
    (later_sip / "notes.txt").write_text("a later deposit\n", encoding="utf-8")
    later = _ok(archive.oais.ingest(later_sip, title="Later"))["aip_id"]
    # The first AIP was ingested forty days ago: its rows in the catalog say so.
    with archive.catalog() as connection:
        rows = connection.execute(
            text("SELECT identifier, date_time FROM events WHERE aip_id = :aip"), {"aip": first}
        ).all()
        for identifier, when in rows:
            moved = (when if isinstance(when, datetime) else datetime.fromisoformat(when)) - timedelta(
                days=40
            )
            connection.execute(
                text("UPDATE events SET date_time = :t WHERE identifier = :i"),
                {
                    "t": moved.replace(tzinfo=None) if archive.database_url.startswith("sqlite") else moved,
                    "i": identifier,
                },
            )
        connection.commit()
    today = datetime.now(UTC).date()
    folder = tmp_path / "recent"
    _ok(
        archive.oais(
            "report", "cts", "--out", folder, "--from", str(today - timedelta(days=10)), "--to", str(today)
        )
    )
    report = json.loads((folder / "report.json").read_bytes())
    assert report["period"] == {"start": str(today - timedelta(days=10)), "end": str(today)}
    sections = _sections(report)
    r07 = _figures(sections["R07"])
    everything = _count(archive, "SELECT count(*) FROM events")
    of_later = _count(archive, "SELECT count(*) FROM events WHERE aip_id = :aip", aip=later)
    assert r07["events"] == of_later < everything
    assert _figures(sections["R08"])["sips_accepted"] == 1
    # Time series go by day over a period this short, one value per day.
    plot = sections["R07"]["plots"][0]
    assert plot["x"][0] == str(today - timedelta(days=10)) and plot["x"][-1] == str(today)
    assert len(plot["x"]) == 11

    # The command line refuses a period that makes no sense, and a folder it would overwrite.
    bad = archive.oais(
        "report", "cts", "--out", tmp_path / "x", "--from", str(today), "--to", str(today - timedelta(days=1))
    )
    assert bad.code == 2 and "before it starts" in bad.stderr
    assert archive.oais("report", "cts", "--out", tmp_path / "y", "--from", "2026-13-01").code == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    taken = archive.oais("report", "cts", "--out", folder)
    assert taken.code == 4 and "not empty" in taken.stderr
    assert json.loads((folder / "report.json").read_bytes()) == report  # nothing overwritten
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    unwritable = archive.oais("report", "cts", "--out", blocker / "report")
    assert unwritable.code == 5, unwritable.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert date.fromisoformat(report["generated"][:10]) == today
