"""Archival storage on the real Ceph RGW: two buckets play two locations, one with Object Lock.

Everything goes through the ``oais`` command; the tests act behind its back only with a plain boto3
client, as an intruder or a failing disk would.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
import pytest
from botocore.exceptions import ClientError

from tests.conftest import S3Service
from tests.e2e.conftest import REPO, Oais

pytestmark = [pytest.mark.s3]

RETENTION_DAYS = 1


@dataclass
class Archive:
    """An ``oais`` deployment whose locations are buckets of the test RGW."""

    oais: Oais
    s3: S3Service
    buckets: dict[str, str]  # location -> bucket
    policies: Path
    config: Path

    def keys(self, location: str, prefix: str = "") -> list[str]:
        client = self.s3.client()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.buckets[location], Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def set_policy(self, *locations: str) -> None:
        _write_policy(self.policies, locations)


def _write_policy(policies: Path, locations: tuple[str, ...] | list[str]) -> None:
    names = ", ".join(f'"{n}"' for n in locations)
    (policies / "storage.toml").write_text(
        f'id = "storage"\nversion = "test"\nlocations = [{names}]\n'
        f'[retention]\nmode = "COMPLIANCE"\ndays = {RETENTION_DAYS}\n'
    )


def _archive(
    s3: S3Service, tmp_path: Path, database_url: str | None = None, *, extra: tuple[str, ...] = ()
) -> Archive:
    buckets = {"ceph-a": s3.new_bucket(object_lock=True), "ceph-b": s3.new_bucket()}
    for name in extra:
        buckets[name] = s3.new_bucket()
    home = tmp_path / "oais-home"
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    _write_policy(policies, ["ceph-a", "ceph-b"])
    config = tmp_path / "oais.toml"
    config.write_text(
        "".join(
            f'[locations.{name}]\nkind = "s3"\nendpoint = "{s3.endpoint}"\nbucket = "{bucket}"\n'
            f'prefix = "archive/"\npart_size_mib = 5\n\n'
            for name, bucket in buckets.items()
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
    env.update(OAIS_HOME=str(home), OAIS_WORKERS="2", OAIS_CONFIG=str(config), OAIS_POLICIES=str(policies))
    if database_url:
        env["OAIS_DATABASE_URL"] = database_url
    for name in buckets:
        var = f"OAIS_LOCATION_{name.upper().replace('-', '_')}"
        env[f"{var}_ACCESS_KEY_ID"] = s3.access_key
        env[f"{var}_SECRET_ACCESS_KEY"] = s3.secret_key
    return Archive(Oais(home=home, env=env), s3, buckets, policies, config)


@pytest.fixture
def archive(s3: S3Service, tmp_path: Path) -> Archive:
    return _archive(s3, tmp_path)


def _ok(run: Any) -> Any:
    assert run.code == 0, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return run.json if run.stdout.startswith("{") else run


def test_ingest_stores_a_verified_locked_copy_at_each_location(archive: Archive, sample_sip: Path) -> None:
    result = _ok(archive.oais.ingest(sample_sip))
    aip = result["aip_id"]
    assert result["copies"] == ["ceph-a", "ceph-b"]
    assert result["bag_path"].startswith(f"s3://{archive.buckets['ceph-a']}/archive/aips/{aip}/v1")
    prefix = f"archive/aips/{aip}/v1/"
    for location in ("ceph-a", "ceph-b"):
        keys = archive.keys(location, prefix)
        assert f"{prefix}bagit.txt" in keys and f"{prefix}data/metadata/premis.xml" in keys
        assert len([k for k in keys if "/data/objects/" in k]) == 8
    client = archive.s3.client()
    locked = client.head_object(Bucket=archive.buckets["ceph-a"], Key=f"{prefix}bagit.txt")
    assert locked["ObjectLockMode"] == "COMPLIANCE"
    body = client.get_object(Bucket=archive.buckets["ceph-a"], Key=f"{prefix}bagit.txt")["Body"].read()
    assert locked["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    # A locked object refuses deletion, even by its owner with the governance bypass.
    with pytest.raises(ClientError, match="AccessDenied"):
        client.delete_object(
            Bucket=archive.buckets["ceph-a"],
            Key=f"{prefix}bagit.txt",
            VersionId=locked["VersionId"],
            BypassGovernanceRetention=True,
        )
    status = _ok(archive.oais("storage", "status", "--json"))
    by_name = {s["name"]: s for s in status["locations"]}
    assert by_name["ceph-a"]["info"]["object_lock"] is True
    assert by_name["ceph-b"]["info"]["object_lock"] is False
    assert by_name["ceph-a"]["aips"] == by_name["ceph-b"]["aips"] == 1
    assert by_name["ceph-a"]["objects"] == len(archive.keys("ceph-a", prefix))
    assert by_name["ceph-a"]["lacking"] == [] and by_name["ceph-b"]["lacking"] == []
    text = archive.oais("storage", "status").stdout
    assert "Object Lock: NO" in text and "location ceph-b" in text
    shown = _ok(archive.oais("show", aip, "--json"))
    assert [c["location"] for c in shown["copies"]] == ["ceph-a", "ceph-b"]


def test_an_export_is_one_complete_valid_bag(archive: Archive, sample_sip: Path, tmp_path: Path) -> None:
    aip = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    dest = tmp_path / "export"
    _ok(archive.oais("export", aip, dest, "--location", "ceph-b", "--json"))
    bagit.Bag(str(dest)).validate()
    assert archive.oais("bag", "validate", dest).code == 0
    originals = sorted(p.relative_to(sample_sip) for p in sample_sip.rglob("*") if p.is_file())
    exported = sorted(
        p.relative_to(dest / "data" / "objects") for p in (dest / "data" / "objects").rglob("*")
    )
    assert [p for p in exported if (dest / "data" / "objects" / p).is_file()] == originals
    again = archive.oais("export", aip, dest)
    assert again.code == 4 and "already exists" in again.stderr


def test_verify_reports_every_file_altered_or_removed_behind_our_back(
    archive: Archive, sample_sip: Path
) -> None:
    aip = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    prefix = f"archive/aips/{aip}/v1/data/objects/"
    payload = sorted(k for k in archive.keys("ceph-b", prefix))
    altered, removed = payload[0], payload[1]
    client = archive.s3.client()
    client.put_object(Bucket=archive.buckets["ceph-b"], Key=altered, Body=b"not the original bytes")
    client.delete_object(Bucket=archive.buckets["ceph-b"], Key=removed)
    # On the locked bucket a new version can still be put on top: reading it must show the change.
    client.put_object(Bucket=archive.buckets["ceph-a"], Key=altered, Body=b"tampered")

    run = archive.oais("storage", "verify", aip)
    assert run.code == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert f"BAD: AIP {aip} v1 at ceph-b: 2 of" in run.stdout
    assert f"BAD: AIP {aip} v1 at ceph-a: 1 of" in run.stdout
    assert any(line.strip().startswith(f"ALTERED data/objects/{altered[len(prefix) :]}") for line in lines)
    assert any(line.strip() == f"MISSING data/objects/{removed[len(prefix) :]}" for line in lines)

    report = archive.oais("storage", "verify", aip, "--location", "ceph-b", "--json").json
    [copy] = report["copies"]
    statuses = {f["path"]: f["status"] for f in copy["files"]}
    assert statuses[f"data/objects/{altered[len(prefix) :]}"] == "altered"
    assert statuses[f"data/objects/{removed[len(prefix) :]}"] == "missing"
    assert sum(s == "ok" for s in statuses.values()) == len(statuses) - 2
    # Each check is a PREMIS fixity check event with the outcome it found.
    events = _ok(archive.oais("show", aip, "--json"))["events"]
    checks = [e for e in events if e["type"] == "fixity check"]
    assert checks and all(e["outcome"] == "failure" for e in checks)


def test_replicate_brings_a_new_location_up_to_the_policy(
    s3: S3Service, tmp_path: Path, sample_sip: Path
) -> None:
    archive = _archive(s3, tmp_path)
    archive.set_policy("ceph-a")
    aip = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    assert archive.keys("ceph-b") == []
    archive.set_policy("ceph-a", "ceph-b")
    status = _ok(archive.oais("storage", "status", "--json"))
    lacking = {s["name"]: s["lacking"] for s in status["locations"]}
    assert lacking["ceph-b"] == [[aip, 1]]

    replicated = _ok(archive.oais("storage", "replicate", "--json"))["replicated"]
    assert [(r["aip_id"], r["source"], r["target"], r["problem"]) for r in replicated] == [
        (aip, "ceph-a", "ceph-b", None)
    ]
    assert sorted(k.replace("archive/", "") for k in archive.keys("ceph-b", "archive/aips/")) == sorted(
        k.replace("archive/", "") for k in archive.keys("ceph-a", "archive/aips/")
    )
    status = _ok(archive.oais("storage", "status", "--json"))
    assert all(s["lacking"] == [] for s in status["locations"])
    events = _ok(archive.oais("show", aip, "--json"))["events"]
    [replication] = [e for e in events if e["type"] == "replication"]
    assert "ceph-a" in replication["detail"] and "ceph-b" in replication["detail"]
    # Nothing more to do the second time.
    assert _ok(archive.oais("storage", "replicate", "--json"))["replicated"] == []
    assert _ok(archive.oais("storage", "verify", aip, "--json"))["ok"] is True


def test_the_event_logs_are_chained_and_an_edit_or_a_gap_is_detected(
    archive: Archive, sample_sip: Path
) -> None:
    aip = _ok(archive.oais.ingest(sample_sip))["aip_id"]
    for _ in range(3):
        _ok(archive.oais("storage", "verify", aip, "--json"))
    report = _ok(archive.oais("events", "verify", "--json"))
    assert report["ok"] is True
    assert {n: (v["segments"], v["events"]) for n, v in report["locations"].items()} == {
        "ceph-a": (3, 6),
        "ceph-b": (3, 6),
    }
    client = archive.s3.client()
    bucket = archive.buckets["ceph-b"]
    first = "archive/events/000000000001.jsonl"
    body = client.get_object(Bucket=bucket, Key=first)["Body"].read()
    client.put_object(Bucket=bucket, Key=first, Body=body.replace(b"success", b"failure", 1))
    client.delete_object(Bucket=bucket, Key="archive/events/000000000002.jsonl")
    run = archive.oais("events", "verify")
    assert run.code == 1
    assert "OK: location ceph-a" in run.stdout and "BROKEN: location ceph-b" in run.stdout
    assert "000000000001.jsonl: its sha256 is" in run.stdout  # the edit
    assert "segment 2 missing" in run.stdout  # the gap


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_catalog_rebuilt_from_storage_equals_the_original(
    s3: S3Service, tmp_path: Path, sample_sip: Path, database: str, request: pytest.FixtureRequest
) -> None:
    new_database: Callable[[], str] | None = (
        request.getfixturevalue("new_postgres_database") if database == "postgres" else None
    )
    url = new_database() if new_database else None
    archive = _archive(s3, tmp_path, url)
    second_sip = tmp_path / "second"
    second_sip.mkdir()
    (second_sip / "readme.txt").write_text("a second AIP\n")
    (second_sip / "cube 100%.dat").write_bytes(os.urandom(7 << 20))  # multipart, awkward name
    aips = [_ok(archive.oais.ingest(sip))["aip_id"] for sip in (sample_sip, second_sip)]
    _ok(archive.oais("storage", "verify", aips[0], "--json"))
    original = {a: _ok(archive.oais("show", a, "--json")) for a in aips}

    rebuilt_db = new_database() if new_database else f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    rebuilt = Oais(home=archive.oais.home, env={**archive.oais.env, "OAIS_DATABASE_URL": rebuilt_db})
    result = _ok(rebuilt("catalog", "rebuild", "--from", "ceph-b", "--json"))
    assert (result["aips"], result["versions"], result["incomplete"]) == (2, 2, [])
    for a in aips:
        again = _ok(rebuilt("show", a, "--json"))
        assert _comparable(again) == _comparable(original[a])
        assert [c["location"] for c in again["copies"]] == ["ceph-a", "ceph-b"]
    assert _ok(rebuilt("events", "verify", "--json"))["ok"] is True
    # A rebuild never merges into a catalog that holds anything.
    refused = rebuilt("catalog", "rebuild", "--from", "ceph-a")
    assert refused.code == 4 and "not empty" in refused.stderr


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A shown record without what only the running catalog can know (when copies were verified)."""
    copies = [{k: v for k, v in c.items() if k not in ("stored", "verified")} for c in record["copies"]]
    return {**record, "copies": copies}


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("credentials", "credentials were refused"),
        ("bucket", "does not exist"),
        ("endpoint", "cannot reach"),
    ],
)
def test_a_bad_location_gets_one_clear_line_naming_it(
    archive: Archive, sample_sip: Path, breakage: str, message: str
) -> None:
    env = archive.oais.env
    if breakage == "credentials":
        env["OAIS_LOCATION_CEPH_B_SECRET_ACCESS_KEY"] = "wrong-secret"
    elif breakage == "bucket":
        archive.config.write_text(
            archive.config.read_text().replace(archive.buckets["ceph-b"], "no-such-bucket")
        )
    else:
        # The first location in the configuration is ceph-a.
        archive.config.write_text(
            archive.config.read_text().replace(archive.s3.endpoint, "http://127.0.0.1:9", 1)
        )
    run = archive.oais.ingest(sample_sip, timeout=180)
    assert run.code == 5, run.stderr
    location = "ceph-a" if breakage == "endpoint" else "ceph-b"
    error = json.loads(run.stdout)["error"]
    assert f"location '{location}'" in error and message in error and "\n" not in error
    human = archive.oais("storage", "status")
    assert f"location '{location}'" in human.stdout and message in human.stdout
    assert archive.oais("show", "x").code == 3
    with_pg = archive.oais("rejections", "--json").json
    assert with_pg["rejections"] == []  # a storage failure is not a rejection of the SIP


def _big_sip(root: Path, files: int = 6, size: int = 24 << 20) -> Path:
    sip = root / "big-sip"
    sip.mkdir()
    for i in range(files):
        (sip / f"cube_{i:02d}.dat").write_bytes(os.urandom(size))
    return sip


def _start_ingest(archive: Archive, sip: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "oais", "ingest", str(sip), "--producer", "P", "--title", "T", "--json"],
        env=archive.oais.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"the ingest ended before {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _uploading(archive: Archive) -> Callable[[], bool]:
    client = archive.s3.client()

    def started() -> bool:
        uploads = client.list_multipart_uploads(Bucket=archive.buckets["ceph-a"]).get("Uploads", [])
        return bool(uploads) or bool(archive.keys("ceph-a", "archive/aips/"))

    return started


def _assert_nothing_visible(archive: Archive) -> None:
    assert archive.oais("show", "anything").code == 3
    status = _ok(archive.oais("storage", "status", "--json"))
    assert all(s["aips"] == 0 for s in status["locations"])
    assert not [k for k in archive.keys("ceph-a") + archive.keys("ceph-b") if k.endswith("/bagit.txt")]


def _assert_rerun_completes(archive: Archive, sip: Path) -> None:
    rerun = archive.oais.ingest(sip, timeout=600)
    result = _ok(rerun)
    # Nothing was complete anywhere (checked before), so the rerun stores the AIP anew.
    assert result["status"] == "stored" and result["files"] == 6
    assert result["copies"] == ["ceph-a", "ceph-b"]
    assert _ok(archive.oais("storage", "verify", result["aip_id"], "--json"))["ok"] is True


@pytest.mark.slow
def test_sigkill_in_the_middle_of_an_upload_leaves_no_partial_aip(archive: Archive, tmp_path: Path) -> None:
    sip = _big_sip(tmp_path)
    proc = _start_ingest(archive, sip)
    _wait_for(_uploading(archive), proc, "the upload started")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    _assert_nothing_visible(archive)
    _assert_rerun_completes(archive, sip)


@pytest.mark.slow
def test_rgw_stopped_in_the_middle_of_an_ingest(archive: Archive, tmp_path: Path) -> None:
    ceph_dir = os.environ.get("OAIS_TEST_CEPH_DIR")
    if not ceph_dir:
        pytest.fail("OAIS_TEST_CEPH_DIR is not set: ops/test.sh sets it to the cluster it started")
    sip = _big_sip(tmp_path)
    proc = _start_ingest(archive, sip)
    _wait_for(_uploading(archive), proc, "the upload started")
    subprocess.run(["bash", str(REPO / "ops" / "ceph-rgw.sh"), "stop-rgw", ceph_dir], check=True)
    try:
        out, errs = proc.communicate(timeout=600)
        assert proc.returncode == 5, errs.decode()
        error = json.loads(out)["error"]
        assert "location 'ceph-a'" in error and "cannot reach" in error
    finally:
        subprocess.run(
            ["bash", str(REPO / "ops" / "ceph-rgw.sh"), "start", ceph_dir],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    _assert_nothing_visible(archive)
    _assert_rerun_completes(archive, sip)
