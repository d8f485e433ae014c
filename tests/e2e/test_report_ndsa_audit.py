"""`oais report audit` and `oais report ndsa` on a real deployment: two local locations at two
declared sites, the sample SIP ingested, a bit flipped behind the archive's back and repaired by an
audit, the policies changed between runs; then what the reports say, each figure checked against
the catalog read directly."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oais.entrypoints.identity import os_user
from tests.e2e.audit_deployment import LOCATIONS, Deployment, deployment
from tests.e2e.conftest import SAMPLE_SIP, Run
from tests.support.damage import flip_bit

FLIPPED = "cubes/ORB0042_1.fits"
SITES = {
    "a": ('site = "ESAC Madrid"\n', 'threat = "Madrid: wildfire, heat"\n'),
    "b": ('site = "IAS Orsay"\n', 'threat = "Paris basin: Seine flood"\n'),
}


def _json(run: Run, code: int = 0) -> Any:
    assert run.code == code, f"exit {run.code}, not {code}\n{run.stdout}\n{run.stderr}"
    return run.json


def _section(report: dict[str, Any], key: str) -> dict[str, Any]:
    [found] = [s for s in report["sections"] if s["key"] == key]
    return found


def _table(section: dict[str, Any], key: str) -> list[dict[str, Any]]:
    [table] = [t for t in section["tables"] if t["key"] == key]
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def _figures(section: dict[str, Any]) -> dict[str, Any]:
    return {f["key"]: f["value"] for f in section["figures"]}


def _declared(found: Deployment) -> Deployment:
    found.configure(
        **{
            name: f'kind = "local"\nroot = "{found.roots[name]}"\n{site}{threat}media = "disk"\n'
            for name, (site, threat) in SITES.items()
        }
    )
    return found


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """One deployment for the tests that only read its history (each command takes seconds)."""
    return _declared(deployment(tmp_path_factory.mktemp("reports")))


@pytest.fixture(scope="module")
def history(archive: Deployment) -> dict[str, Any]:
    """Ingest, damage, audit (repaired), then change two policies and audit again."""
    sample_sip = archive.base / SAMPLE_SIP.name
    shutil.copytree(SAMPLE_SIP, sample_sip)
    ingested = _json(archive.oais.ingest(sample_sip))
    assert ingested["copies"] == list(LOCATIONS)
    aip = ingested["aip_id"]
    flip_bit(archive.version_dir("a", aip) / "data" / "objects" / FLIPPED)
    repaired = archive.oais("audit", "run", "--all", "--deep")
    assert repaired.code == 0, repaired.stderr
    # A new version of the audit policy, and new text under the access policy's old version.
    audit_toml = archive.policies / "audit.toml"
    audit_toml.write_text(audit_toml.read_text().replace('version = "1"', 'version = "2"', 1))
    access_toml = archive.policies / "access.toml"
    access_toml.write_text(access_toml.read_text() + "\n# reviewed, nothing changed\n")
    again = archive.oais("audit", "run", "--all")
    assert again.code == 0, again.stderr
    return {"aip": aip, "who": os_user(archive.oais.env)}


def _period() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    return (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()


def test_the_audit_report_lists_the_failure_the_repair_and_the_policy_changes(
    archive: Deployment, history: dict[str, Any]
) -> None:
    aip, who = history["aip"], history["who"]
    first, last = _period()
    report = _json(archive.oais("report", "audit", "--from", first, "--to", last, "--json"))

    assert report["kind"] == "audit" and report["period"] == {"start": first, "end": last}
    summary = _figures(_section(report, "summary"))
    # Counted apart, straight from the catalog.
    [(checks, failed)] = archive.query(
        "SELECT COUNT(*), SUM(CASE WHEN outcome = 'failure' THEN 1 ELSE 0 END) FROM events "
        "WHERE type = 'fixity check'"
    )
    [(findings,)] = archive.query("SELECT COUNT(*) FROM audit_findings")
    assert (summary["fixity_checks"], summary["fixity_checks_failed"]) == (checks, failed) == (4, 1)
    assert summary["failures"] == findings == 1
    assert summary["repairs"] == summary["recovery_events"] == 1
    assert (summary["unresolved_at_end"], summary["unrecoverable_at_end"]) == (0, 0)

    key = f"aips/{aip}/v1/data/objects/{FLIPPED}"
    [failure] = _table(_section(report, "fixity-failures"), "failures")
    assert (failure["Location"], failure["Key"], failure["Kind"]) == ("a", key, "altered")
    assert failure["AIP"] == f"{aip} v1"
    assert failure["Resolution"] == "repaired from 'b'"
    assert re.fullmatch(r"oais \S+ \(software, executing program\)", failure["Agents"])
    assert failure["Under action"].startswith(f"'audit run' by {who} (os-user, cli)")
    [(detected,)] = archive.query("SELECT detected FROM audit_findings")
    assert failure["Detected"].startswith(str(detected)[:19].replace(" ", "T"))

    [repair] = _table(_section(report, "repairs"), "repairs")
    assert (repair["Location"], repair["From"], repair["Key"]) == ("a", "b", key)
    [(recovery,)] = archive.query("SELECT identifier FROM events WHERE type = 'recovery'")
    assert repair["Recovery event"] == recovery
    assert repair["Under action"].startswith(f"'audit run' by {who}")

    changes = _table(_section(report, "policy-changes"), "changes")
    # The first texts of every policy (the ingest acted under them), then the two changes.
    assert {c["Policy"] for c in changes if c["Version before"] is None} >= {"audit", "access", "storage"}
    [audit_change] = [c for c in changes if c["Policy"] == "audit" and c["Version before"] is not None]
    assert (audit_change["Version before"], audit_change["Version"]) == ("1", "2")
    assert audit_change["Same version, new text"] is False
    assert audit_change["By"] == who
    [access_change] = [c for c in changes if c["Policy"] == "access" and c["Version before"] is not None]
    assert (access_change["Version before"], access_change["Version"]) == ("1", "1")
    assert access_change["Same version, new text"] is True
    assert (
        access_change["sha256"] == hashlib.sha256((archive.policies / "access.toml").read_bytes()).hexdigest()
    )
    assert summary["policy_same_version_changes"] == 1
    problems = [f["text"] for s in report["sections"] for f in s["findings"] if f["level"] == "problem"]
    assert any("access" in p and "without a new version" in p for p in problems)
    assert _table(_section(report, "deletions"), "deletions") == []
    assert _table(_section(report, "unresolved"), "unresolved") == []

    # The terminal summary says the same.
    lines = archive.oais("report", "audit", "--from", first, "--to", last).stdout.splitlines()
    assert any(line.startswith("FAILURE ") and key in line for line in lines)
    assert any(line.startswith("REPAIR ") and "from: b" in line for line in lines)
    assert any(line.startswith("POLICY policy: audit; version before: 1; version: 2") for line in lines)


def test_a_period_before_anything_happened_is_empty(archive: Deployment, history: dict[str, Any]) -> None:
    report = _json(archive.oais("report", "audit", "--from", "2001-01-01", "--to", "2001-12-31", "--json"))
    summary = _figures(_section(report, "summary"))
    assert (summary["fixity_checks"], summary["failures"], summary["repairs"], summary["policy_changes"]) == (
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    "dates",
    [
        ("--from", "2025-13-01", "--to", "2025-12-31"),  # no such month
        ("--from", "2025-03-01", "--to", "2025-02-28"),  # ends before it starts
        ("--from", "yesterday", "--to", "2025-02-28"),
        ("--from", "2025-03-01"),  # --to is required
    ],
)
def test_bad_or_inverted_dates_are_a_usage_error(tmp_path: Path, dates: tuple[str, ...]) -> None:
    archive = deployment(tmp_path)
    run = archive.oais("report", "audit", *dates)
    assert run.code == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr


def test_the_ndsa_self_assessment_of_two_sites_on_disk(archive: Deployment, history: dict[str, Any]) -> None:
    report = _json(archive.oais("report", "ndsa", "--json"))
    assert report["kind"] == "ndsa"
    items = {
        row["Key"]: row
        for area in ("storage", "integrity", "control", "metadata", "content")
        for row in _table(_section(report, area), "items")
    }
    assert len(items) == 38
    status = {k: v["Status"] for k, v in items.items()}
    # Two copies at two declared sites under two threats, both on disk.
    assert status["storage-1-copies"] == "met"
    assert items["storage-1-copies"]["Evidence"].startswith("1 of 1 AIP versions")
    assert status["storage-1-media"] == status["storage-1-stable"] == "met"
    assert status["storage-2-copies"] == "not met"
    assert status["storage-3-threat"] == "met"
    assert status["storage-3-media"] == "not met"
    # Fixity: verified at ingest and within the cycle; the damage was repaired.
    assert status["integrity-1-generate"] == status["integrity-2-moving"] == "met"
    assert status["integrity-1-virus"] == "not evidenced"
    assert status["integrity-3-intervals"] == status["integrity-4-repair"] == "met"
    assert "1 detected, 1 repaired, 0 open" in items["integrity-4-repair"]["Evidence"]
    # Control: no API token, local directories cannot lock; the action log is in use.
    assert status["control-1-authorized"] == "partly"
    assert status["control-2-applied"] == "not met"
    assert "Object Lock at 'a', 'b'" in items["control-2-applied"]["Missing"]
    assert status["control-3-logs"] == "met"
    # Metadata: a title only, no descriptive metadata.
    assert status["metadata-1-inventory"] == "met"
    assert status["metadata-2-enough"] == "partly"

    levels = {row["Area"]: row["Level reached"] for row in _table(_section(report, "summary"), "levels")}
    assert levels == {"Storage": 1, "Integrity": 0, "Control": 0, "Metadata": 1, "Content": 1}
    summary = _figures(_section(report, "summary"))
    assert summary["storage_level"] == 1 and summary["items"] == 38
    # The figures, counted apart from the catalog.
    [(versions,)] = archive.query("SELECT COUNT(*) FROM aip_versions")
    [(files, identified)] = archive.query(
        "SELECT COUNT(*), SUM(CASE WHEN format_puid IS NOT NULL THEN 1 ELSE 0 END) FROM files "
        "WHERE stored_version IS NULL"
    )
    assert summary["aip_versions"] == versions == 1
    assert items["content-1-formats"]["Evidence"].startswith(f"{identified} of {files} files identified")
    locations = {row["Location"]: row for row in _table(_section(report, "locations"), "locations")}
    assert {n: (r["Site"], r["Media"], r["Object Lock"], r["Copies"]) for n, r in locations.items()} == {
        "a": ("ESAC Madrid", "disk", "no", 1),
        "b": ("IAS Orsay", "disk", "no", 1),
    }


def test_without_declared_sites_separate_copies_are_not_evidenced(tmp_path: Path, sample_sip: Path) -> None:
    archive = deployment(tmp_path)  # the locations as plain directories: nothing declared
    _json(archive.oais.ingest(sample_sip))
    report = _json(archive.oais("report", "ndsa", "--json"))
    rows = {row["Key"]: row for row in _table(_section(report, "storage"), "items")}
    assert rows["storage-1-copies"]["Status"] == "not evidenced"
    assert "declare `site` for 'a', 'b'" in rows["storage-1-copies"]["Missing"]
    assert rows["storage-1-media"]["Status"] == "not evidenced"
    text = archive.oais("report", "ndsa")
    assert text.code == 0 and "Storage    level 0" in text.stdout


def test_out_writes_the_three_files_and_the_action_log_knows_the_digest(
    archive: Deployment, history: dict[str, Any], tmp_path: Path
) -> None:
    # Last in the module: it adds reports to the action log that the others read.
    first, last = _period()
    for command in (("ndsa",), ("audit", "--from", first, "--to", last)):
        folder = tmp_path / f"report-{command[0]}"
        run = archive.oais("report", *command, "--out", folder)
        assert run.code == 0, run.stderr
        assert sorted(p.name for p in folder.iterdir()) == [
            "report.html",
            "report.json",
            "report.json.sha256",
        ]
        data = (folder / "report.json").read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        assert (folder / "report.json.sha256").read_text().split()[0] == sha
        assert sha in (folder / "report.html").read_text(encoding="utf-8")
        assert json.loads(data)["kind"] == command[0]
        assert f"sha256 {sha}" in run.stdout
        verified = archive.oais("report", "verify", folder)
        assert verified.code == 0, verified.stdout + verified.stderr
        # Nothing is overwritten.
        again = archive.oais("report", *command, "--out", folder)
        assert again.code == 4, again.stdout + again.stderr
        assert hashlib.sha256((folder / "report.json").read_bytes()).hexdigest() == sha
    # Reviewing the logs is recorded: the next self-assessment counts the audit reports made.
    report = _json(archive.oais("report", "ndsa", "--json"))
    [review] = [r for r in _table(_section(report, "control"), "items") if r["Key"] == "control-4-review"]
    [(made,)] = archive.query(
        "SELECT COUNT(*) FROM action_log WHERE action = 'report audit' AND outcome = 'ok'"
    )
    assert made >= 1
    assert review["Status"] == "partly" and f"made {made} times" in review["Evidence"]
