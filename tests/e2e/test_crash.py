"""A crash at any point never leaves a partial or duplicate AIP, and the next run finishes the work."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import Oais


def _big_sip(root: Path) -> Path:
    sip = root / "big-sip"
    for d in range(4):
        sub = sip / f"orbit_{d}"
        sub.mkdir(parents=True)
        for i in range(40):
            (sub / f"cube_{i:03d}.dat").write_bytes(os.urandom(1 << 20))
    return sip


def test_kill_9_in_the_middle_leaves_nothing_visible_and_a_rerun_completes(
    oais: Oais, tmp_path: Path
) -> None:
    sip = _big_sip(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oais", "ingest", str(sip), "--producer", "P", "--title", "T", "--json"],
        env=oais.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    staging = oais.home / "staging"
    deadline = time.monotonic() + 120
    # Wait until the copy is under way: some payload is in a staging bag.
    while time.monotonic() < deadline:
        if any(staging.glob("*/bag/data/objects/orbit_*/cube_*.dat")):
            break
        assert proc.poll() is None, "the ingest ended before it could be interrupted"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    assert oais.published() == []
    assert oais.staging_left() != []  # the dead run's staging is still there...
    assert oais("show", "anything").code == 3

    rerun = oais.ingest(sip)
    assert rerun.code == 0, rerun.stderr
    assert rerun.json["status"] == "stored" and rerun.json["files"] == 160
    assert oais.staging_left() == []  # ...and the next run removed it
    assert len(oais.published()) == 1
    assert oais("bag", "validate", rerun.json["bag_path"]).code == 0


def test_a_bag_stored_but_never_catalogued_is_recovered(oais: Oais, sample_sip: Path, tmp_path: Path) -> None:
    # First archive: ingest normally.
    first = oais.ingest(sample_sip).json
    # Second archive whose run "died" right after storing: the bag is in its location, the catalog
    # knows nothing of it.
    other = Oais(home=tmp_path / "other-home", env={**oais.env, "OAIS_HOME": str(tmp_path / "other-home")})
    published = Path(first["bag_path"])
    target = other.store / "aips" / first["aip_id"] / "v1"
    target.parent.mkdir(parents=True)
    shutil.copytree(published, target)

    run = other.ingest(sample_sip)
    assert run.code == 0, run.stderr
    assert run.json["status"] == "recovered" and run.json["aip_id"] == first["aip_id"]
    assert len(other.published()) == 1
    shown = other("show", first["aip_id"], "--json").json
    assert len(shown["files"]) == 8
    assert {e["type"] for e in shown["events"]} >= {"ingestion", "accession"}
