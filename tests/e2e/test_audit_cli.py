"""`oais audit run` and `oais audit status` on a real deployment: two local locations that the
storage policy both requires, the sample SIP ingested, damage done behind the archive's back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.audit_deployment import (
    LOCATIONS,
    Deployment,
    deployment,
    event_location,
    fixity_events,
    sha256,
)
from tests.e2e.conftest import Run
from tests.support.damage import flip_bit

FLIPPED = "cubes/ORB0042_1.fits"  # a payload file of the sample SIP


@pytest.fixture
def archive(tmp_path: Path) -> Deployment:
    return deployment(tmp_path)


def _ingested(archive: Deployment, sip: Path) -> str:
    run = archive.oais.ingest(sip)
    assert run.code == 0, run.stderr
    assert run.json["copies"] == list(LOCATIONS)
    return str(run.json["aip_id"])


def _json(run: Run, code: int) -> Any:
    assert run.code == code, f"exit {run.code}, not {code}\n{run.stdout}\n{run.stderr}"
    return run.json


def _text(run: Run, code: int) -> list[str]:
    assert run.code == code, f"exit {run.code}, not {code}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    return run.stdout.splitlines()


def _payload_key(aip_id: str, path: str) -> str:
    return f"aips/{aip_id}/v1/data/objects/{path}"


def test_a_full_deep_audit_reads_every_object_and_covers_every_copy(
    archive: Deployment, sample_sip: Path
) -> None:
    aip = _ingested(archive, sample_sip)
    before = _json(archive.oais("audit", "status", "--json"), 0)
    assert {c["location"]: c["never"] for c in before["locations"]} == {"a": 8, "b": 8}

    summary = _json(archive.oais("audit", "run", "--all", "--deep", "--json"), 0)

    stored = [p for name in LOCATIONS for p in archive.objects(name)]
    assert summary["ok"] is True
    assert summary["slices"] == len(LOCATIONS)
    # Every object of both copies: payload, premis.xml and the tag files, not only what the catalog lists.
    assert summary["files"] == len(stored) == 2 * 13
    assert summary["bytes"] == sum(p.stat().st_size for p in stored)
    assert summary["failed"] == summary["unexpected"] == summary["not_audited"] == summary["problems"] == []

    status = _json(archive.oais("audit", "status", "--json"), 0)
    sip_files = len([p for p in sample_sip.rglob("*") if p.is_file()])
    by_location = {c["location"]: c for c in status["locations"]}
    assert set(by_location) == set(LOCATIONS)
    for coverage in by_location.values():
        assert coverage["share"] == 1.0
        assert (coverage["files"], coverage["verified_files"], coverage["deep_files"]) == (sip_files,) * 3
        assert (coverage["never"], coverage["backlog_files"], coverage["open_findings"]) == (0, 0, 0)
    assert status["findings"] == []
    # One fixity check event per copy, each a success naming its location.
    events = fixity_events(archive.oais, aip)
    assert sorted(event_location(e) for e in events) == sorted(LOCATIONS)
    assert all(e["outcome"] == "success" and e["detail"].startswith("deep audit") for e in events)
    # Nothing is due any more: a scheduled run reads nothing.
    again = _json(archive.oais("audit", "run", "--json"), 0)
    assert (again["slices"], again["files"]) == (0, 0)


def test_a_bit_flipped_at_one_location_is_repaired_from_the_other(
    archive: Deployment, sample_sip: Path
) -> None:
    aip = _ingested(archive, sample_sip)
    original = sha256(sample_sip / FLIPPED)
    damaged = archive.version_dir("a", aip) / "data" / "objects" / FLIPPED
    flip_bit(damaged)
    assert sha256(damaged) != original

    lines = _text(archive.oais("audit", "run", "--all", "--deep"), 0)

    key = _payload_key(aip, FLIPPED)
    assert any(line.startswith(f"REPAIRED from 'b': location 'a': {key}: altered") for line in lines), lines
    assert not [line for line in lines if line.startswith(("BAD", "NO GOOD COPY", "UNEXPECTED", "NOT"))]
    assert sha256(damaged) == original  # the bytes are good again
    assert sha256(archive.version_dir("b", aip) / "data" / "objects" / FLIPPED) == original
    # The repair is a PREMIS event, and the finding is closed.
    shown = archive.oais("show", aip, "--json").json
    [recovery] = [e for e in shown["events"] if e["type"] == "recovery"]
    assert "location 'a'" in recovery["detail"] and FLIPPED in recovery["detail"]
    status = _json(archive.oais("audit", "status", "--json"), 0)
    assert status["findings"] == []
    # The repaired copy verifies on its own next time.
    again = _json(archive.oais("audit", "run", "--all", "--deep", "--json"), 0)
    assert again["ok"] is True and again["failed"] == [] and again["repaired"] == []


def test_the_same_flip_at_both_locations_leaves_no_good_copy_and_is_listed_first(
    archive: Deployment, sample_sip: Path
) -> None:
    aip = _ingested(archive, sample_sip)
    # An open finding that would sort before the lost file if losses were not put first.
    (archive.roots["a"] / "0-left-behind.txt").write_text("not an AIP\n")
    for name in LOCATIONS:
        flip_bit(archive.version_dir(name, aip) / "data" / "objects" / FLIPPED)

    lines = _text(archive.oais("audit", "run", "--all", "--deep"), 9)

    key = _payload_key(aip, FLIPPED)
    for name in LOCATIONS:
        assert any(line.startswith(f"NO GOOD COPY LEFT: location '{name}': {key}: altered") for line in lines)
    assert not [line for line in lines if line.startswith("REPAIRED")]

    status_lines = _text(archive.oais("audit", "status"), 9)
    assert status_lines[0].startswith("NO GOOD COPY LEFT: location 'a': " + key), status_lines
    assert any(line.startswith("OPEN: location 'a': 0-left-behind.txt") for line in status_lines)
    status = _json(archive.oais("audit", "status", "--json"), 9)
    findings = status["findings"]
    assert [(f["location"], f["key"], f["unrecoverable"]) for f in findings[:2]] == [
        ("a", key, True),
        ("b", key, True),
    ]
    assert [(f["key"], f["unrecoverable"]) for f in findings[2:]] == [("0-left-behind.txt", False)]
    for coverage in status["locations"]:
        # A file found wrong does not count as verified.
        assert coverage["share"] < 1.0 and coverage["unrecoverable"] == 1


def test_a_repair_that_cannot_write_is_not_reported_as_a_lost_file(
    archive: Deployment, sample_sip: Path
) -> None:
    aip = _ingested(archive, sample_sip)
    # At location b a file stands where the folder of the cubes was: the cubes are missing there,
    # and no repair can write them back; location a still holds every one of them, verified.
    cubes = archive.version_dir("b", aip) / "data" / "objects" / "cubes"
    shutil.rmtree(cubes)
    cubes.write_bytes(b"in the way")

    run = archive.oais("audit", "run", "--all", "--deep")

    lines = run.stdout.splitlines()
    assert not [line for line in lines if line.startswith("NO GOOD COPY LEFT")], run.stdout
    assert run.code == 1, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    key = _payload_key(aip, FLIPPED)
    assert any(line.startswith(f"BAD: location 'b': {key}: missing") for line in lines), lines
    cubes_key = f"aips/{aip}/v1/data/objects/cubes"
    repairs = [line for line in lines if line.startswith(f"PROBLEM: repair of location 'b': {key}: missing")]
    assert len(repairs) == 1, lines
    assert repairs[0].endswith(f"failed: location 'b': {key}: {cubes_key} is an object, not a directory")
    status = _json(archive.oais("audit", "status", "--json"), 1)
    assert status["findings"] and not [f for f in status["findings"] if f["unrecoverable"]]


def test_objects_no_aip_lists_are_reported_and_left_alone(archive: Deployment, sample_sip: Path) -> None:
    aip = _ingested(archive, sample_sip)
    beside = archive.roots["b"] / "stray.bin"
    beside.write_bytes(b"x" * 1000)
    inside = archive.version_dir("a", aip) / "data" / "objects" / "extra.dat"
    inside.write_bytes(b"not in any manifest")

    lines = _text(archive.oais("audit", "run", "--all"), 1)

    assert any(line.startswith("UNEXPECTED: location 'b': stray.bin: unexpected") for line in lines), lines
    assert any(
        line.startswith(f"UNEXPECTED: location 'a': {_payload_key(aip, 'extra.dat')}: unexpected")
        for line in lines
    ), lines
    assert not [line for line in lines if line.startswith(("BAD", "REPAIRED", "NO GOOD COPY"))], lines
    assert beside.read_bytes() == b"x" * 1000 and inside.exists()  # an audit never deletes
    status_lines = _text(archive.oais("audit", "status"), 1)
    assert len([line for line in status_lines if line.startswith("OPEN: ")]) == 2

    beside.unlink()
    inside.unlink()
    _text(archive.oais("audit", "run", "--all"), 0)
    assert _json(archive.oais("audit", "status", "--json"), 0)["findings"] == []


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            'id = "audit"\nversion = "2"\ncycle_days = 90\n[quick]\nevery_days = 30\n[deep]\n'
            "every_days = 7\n[budget]\ndefault = 1000\n",
            "quick.every_days (30) is longer than deep.every_days (7)",
        ),
        ('id = "audit"\nversion = "2"\ncycle_days = 90\n[quick\n', "not valid TOML"),
        (
            'id = "audit"\nversion = "2"\ncycle_days = 90\n[quick]\nevery_days = 7\n[deep]\n'
            'every_days = 90\n[budget]\ndefault = 1000\nlocations = { "Bad Name" = 5 }\n',
            "'Bad Name' is not a location name",
        ),
    ],
    ids=["unkeepable", "not-toml", "bad-location-name"],
)
def test_a_bad_audit_policy_is_refused_naming_the_file(
    archive: Deployment, policy: str, message: str
) -> None:
    path = archive.policies / "audit.toml"
    path.write_text(policy)
    for command in (("audit", "run"), ("audit", "status"), ("daemon", "--name", "bad-policy")):
        run = archive.oais(*command, timeout=120)
        assert run.code == 7, f"{command}: exit {run.code}\n{run.stdout}\n{run.stderr}"
        assert str(path) in run.stderr and message in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    # Machines get the same line.
    error = json.loads(archive.oais("audit", "run", "--json").stdout)["error"]
    assert str(path) in error and message in error


def test_a_location_down_for_the_whole_run_is_reported_and_the_next_run_carries_on(
    archive: Deployment, sample_sip: Path
) -> None:
    _ingested(archive, sample_sip)
    # Location b becomes a bucket behind an endpoint where nothing listens (port 9: discard).
    archive.oais.env.update(OAIS_LOCATION_B_ACCESS_KEY_ID="key", OAIS_LOCATION_B_SECRET_ACCESS_KEY="secret")
    archive.configure(b='kind = "s3"\nendpoint = "http://127.0.0.1:9"\nbucket = "aips-b"\n')

    down = _json(archive.oais("audit", "run", "--all", "--json", timeout=300), 5)

    assert down["ok"] is False
    assert down["slices"] == 1 and down["files"] == len(archive.objects("a"))
    assert down["failed"] == []  # an unreachable location is not a location whose objects are all bad
    [not_audited] = down["not_audited"]
    assert not_audited.startswith("location 'b'") and "cannot reach" in not_audited, down
    human = _text(archive.oais("audit", "run", "--all", timeout=300), 5)
    assert any(line.startswith("NOT AUDITED: location 'b'") for line in human), human
    status = _json(archive.oais("audit", "status", "--json"), 0)
    share = {c["location"]: (c["share"], c["never"]) for c in status["locations"]}
    assert share == {"a": (1.0, 0), "b": (0.0, 8)}

    archive.configure()  # location b is back
    back = _json(archive.oais("audit", "run", "--json"), 0)

    # What was due and could not be read is read now; location a is not read again.
    assert back["slices"] == 1 and back["files"] == len(archive.objects("b")), back
    assert back["not_audited"] == back["problems"] == [] and back["failed"] == []
    status = _json(archive.oais("audit", "status", "--json"), 0)
    assert {c["location"]: c["share"] for c in status["locations"]} == {"a": 1.0, "b": 1.0}


# --- a Dask cluster finds what the local process pool finds -------------------------------------


def _damaged_and_audited(base: Path, sip: Path, executor: str | None) -> dict[str, Any]:
    archive = deployment(base)
    aip = _ingested(archive, sip)
    flip_bit(archive.version_dir("a", aip) / "data" / "objects" / FLIPPED)  # repaired from b
    for name in LOCATIONS:  # no good copy left
        flip_bit(archive.version_dir(name, aip) / "data" / "objects" / "README.txt", offset=3)
    (archive.version_dir("b", aip) / "data" / "objects" / "quicklook" / "ORB0042_1.png").unlink()  # missing
    (archive.version_dir("a", aip) / "data" / "objects" / "extra.dat").write_bytes(b"unlisted")
    (archive.roots["b"] / "stray.bin").write_bytes(b"x" * 10)
    args = ["audit", "run", "--all", "--deep", "--json"] + (["--executor", executor] if executor else [])
    summary = _json(archive.oais(*args, timeout=600), 9)
    summary["damaged"] = sha256(archive.version_dir("a", aip) / "data" / "objects" / FLIPPED)
    summary["sip"] = sha256(sip / FLIPPED)
    return summary


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    def findings(key: str) -> list[tuple[str, ...]]:
        return sorted(
            (f["location"], f["key"], f["kind"], str(f["expected"]), str(f["found"]), str(f["repaired_from"]))
            for f in summary[key]
        )

    return {
        "files": summary["files"],
        "bytes": summary["bytes"],
        "slices": summary["slices"],
        **{key: findings(key) for key in ("failed", "repaired", "unrecoverable", "unexpected")},
        "not_audited": summary["not_audited"],
        "problems": summary["problems"],
    }


def _batches_run_on(spec: str) -> int:
    """How many audit batches the cluster's workers have finished, as its scheduler counts them."""
    from distributed import Client

    def finished(dask_scheduler: Any) -> int:
        prefix = dask_scheduler.task_prefixes.get("hash_batch")
        return 0 if prefix is None else int(prefix.state_counts["memory"])

    with Client(spec.replace("dask://", "tcp://"), timeout=30, set_as_default=False) as client:
        return int(client.run_on_scheduler(finished))


@pytest.mark.slow
def test_a_dask_cluster_finds_what_the_process_pool_finds(
    dask_cluster: str, tmp_path: Path, sample_sip: Path
) -> None:
    (tmp_path / "pool").mkdir()
    (tmp_path / "dask").mkdir()
    before = _batches_run_on(dask_cluster)
    pool = _damaged_and_audited(tmp_path / "pool", sample_sip, None)
    assert _batches_run_on(dask_cluster) == before  # the default pool is local
    dask = _damaged_and_audited(tmp_path / "dask", sample_sip, dask_cluster)
    assert _batches_run_on(dask_cluster) >= before + len(LOCATIONS)  # one batch a slice at least

    assert _comparable(dask) == _comparable(pool)
    # And what they found is what was done.
    found = _comparable(dask)
    assert {(loc, kind) for loc, _, kind, *_ in found["failed"]} == {
        ("a", "altered"),
        ("b", "altered"),
        ("b", "missing"),
        ("a", "unexpected"),
    }
    assert [(loc, key.rsplit("/", 1)[-1], src) for loc, key, _, _, _, src in found["repaired"]] == [
        ("a", "ORB0042_1.fits", "b"),
        ("b", "ORB0042_1.png", "a"),
    ]
    assert sorted((loc, key.rsplit("/", 1)[-1]) for loc, key, *_ in found["unrecoverable"]) == [
        ("a", "README.txt"),
        ("b", "README.txt"),
    ]
    assert [key for _, key, *_ in found["unexpected"]] == ["stray.bin"]
    assert dask["damaged"] == dask["sip"] == pool["damaged"]
