"""`oais daemon` as operations run it: a subprocess killed, restarted, stopped, its workers lost, its
catalog database restarted under it; every copy ends up verified and every audit recorded once."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from oais.adapters.catalog.rows import UtcDateTime
from tests.e2e.audit_deployment import (
    DEADLINE,
    LOCATIONS,
    Deployment,
    Process,
    deployment,
    event_location,
    fixity_events,
    payload_sip,
    wait_until,
)

pytestmark = [pytest.mark.slow]

NAME = "e2e"
JOBS = "oais_daemon_jobs_e2e"
#: Four files of 1 MiB per copy read at 512 KiB/s: a tick is busy reading a copy for about 8 s.
FILES, SIZE, BUDGET = 4, 1 << 20, 512 << 10


def _busy_archive(base: Path, database_url: str | None = None) -> tuple[Deployment, str]:
    """A deployment holding one AIP of a few MiB, under a policy that makes the daemon tick every
    second, give up dead claims after 3 s, and read slowly."""
    archive = deployment(base, database_url)
    run = archive.oais.ingest(payload_sip(base, FILES, SIZE))
    assert run.code == 0, run.stderr
    archive.audit_policy(tick_seconds=1, claim_minutes=0.05, budget=BUDGET)
    return archive, str(run.json["aip_id"])


def _claimed(archive: Deployment) -> list[Any]:
    return archive.query(
        "SELECT id, location, claimed_by FROM audit_slices WHERE claimed_by IS NOT NULL ORDER BY id"
    )


class _MidRead:
    """True once a claim has been extended: its holder is past claiming and preparing, waiting for
    its workers to read (claims are pushed back every third of their life while they do)."""

    def __init__(self, archive: Deployment) -> None:
        self.archive = archive
        self.first: dict[str, Any] = {}

    def __call__(self) -> bool:
        rows = self.archive.query(
            "SELECT claimed_by, claim_expires FROM audit_slices WHERE claimed_by IS NOT NULL"
        )
        return any(self.first.setdefault(holder, expires) != expires for holder, expires in rows)


def _live_claims(archive: Deployment) -> list[Any]:
    """Claims not yet expired."""
    now = bindparam("now", datetime.now(UTC), type_=UtcDateTime)
    return archive.query(
        text("SELECT id FROM audit_slices WHERE claimed_by IS NOT NULL AND claim_expires > :now").bindparams(
            now
        )
    )


def _slices(archive: Deployment) -> list[Any]:
    """Every slice with its AIP, version, last verification and last fixity check event."""
    return archive.query(
        "SELECT v.aip_id, v.version, s.location, s.number, s.event_id, s.claimed_by "
        "FROM audit_slices s JOIN aip_versions v ON v.id = s.version_id ORDER BY s.location, s.number"
    )


def _status(archive: Deployment) -> dict[str, Any]:
    run = archive.oais("audit", "status", "--json", timeout=120)
    assert run.code in (0, 1), f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return dict(run.json)


def _all_verified(archive: Deployment) -> bool:
    status = _status(archive)
    return [c["share"] for c in status["locations"]] == [1.0] * len(LOCATIONS)


def _logged_fixity_events(archive: Deployment, location: str) -> list[str]:
    """Identifiers of the fixity check events in a location's event log on storage."""
    found = []
    for segment in sorted((archive.roots[location] / "events").glob("*.jsonl")):
        for line in segment.read_text(encoding="utf-8").splitlines()[1:]:
            value = json.loads(line)
            if "event" in value and value["event"]["type"] == "fixity check":
                found.append(value["event"]["identifier"])
    return found


def _recorded_once(archive: Deployment, aip_id: str) -> None:
    """Every copy's audit is recorded once: in the catalog one fixity check event per completed audit
    of a slice (each slice was audited once: nothing is due again for a week), the one the ledger
    names; in every location's event log, each of those events once and no other."""
    events = fixity_events(archive.oais, aip_id)
    slices = _slices(archive)
    assert [s.claimed_by for s in slices] == [None] * len(slices)  # no claim left behind
    completed = {(s.aip_id, s.version, s.location): s.event_id for s in slices if s.event_id}
    assert sorted(completed) == sorted((aip_id, 1, name) for name in LOCATIONS)
    per_copy: dict[str, list[str]] = {}
    for e in events:
        per_copy.setdefault(event_location(e), []).append(e["identifier"])
    assert per_copy == {name: [completed[(aip_id, 1, name)]] for name in LOCATIONS}, events
    assert all(e["outcome"] == "success" for e in events)
    for name in LOCATIONS:
        assert sorted(_logged_fixity_events(archive, name)) == sorted(completed.values()), name


def _ends_cleanly(daemon: Process) -> None:
    """SIGTERM stops the daemon with exit code 0 and nothing of it is left."""
    assert daemon.running(), daemon.output()[-6000:]
    code = daemon.stop(signal.SIGTERM)
    output = daemon.output()
    assert code == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    assert "stopping after the current tick" in output


def test_a_daemon_killed_mid_tick_resumes_its_schedule_and_records_each_audit_once(tmp_path: Path) -> None:
    archive, aip = _busy_archive(tmp_path)
    first = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon-1.log")
    second: Process | None = None
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=first)
        [job] = archive.query(f"SELECT id, next_run_time FROM {JOBS}")
        first.kill()
        # The dead daemon's claim is still there, and nothing was recorded for its slice.
        [(_, _, holder)] = _claimed(archive)
        [dead] = [s for s in _slices(archive) if s.claimed_by == holder]
        assert dead.event_id is None
        assert fixity_events(archive.oais, aip) == []

        second = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon-2.log")
        wait_until(lambda: _all_verified(archive), "copy verified at every location", watch=second)

        # The schedule came back from the job table: the same one job, run on, not added again.
        assert job.id == "audit-tick"
        [(job_id, next_run)] = archive.query(f"SELECT id, next_run_time FROM {JOBS}")
        assert job_id == job.id and next_run > job.next_run_time
        assert 'Added job "fixity audit tick"' in first.output()
        assert 'Added job "fixity audit tick"' not in second.output(), second.output()[-6000:]
        _recorded_once(archive, aip)
        _ends_cleanly(second)
        # Each daemon and each of its ticks is in the action log, under the daemon's name; the
        # killed daemon's tick never ended (no outcome), which is how a crash shows.
        runs = archive.query("SELECT action, actor, channel, outcome, detail FROM action_log ORDER BY id")
        assert [r[:3] for r in runs if r[0] == "daemon"] == [("daemon", getpass.getuser(), "cli")] * 2
        ticks = [r for r in runs if r[0] == "audit tick"]
        assert {(r[1], r[2]) for r in ticks} == {(f"oais daemon {NAME}", "daemon")}
        assert ticks[0][3] is None
        assert any(r[3] == "ok" and "found wrong" in r[4] for r in ticks[1:]), ticks
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()


def _pool_workers(daemon: Process) -> list[int]:
    """The process pool's workers: the children of the fork server the daemon started."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # The command name in field 2 may hold spaces: the parent's pid follows its closing ")".
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        commands[int(entry.name)] = command
    descendants = {daemon.pid}
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in descendants} - descendants
        descendants |= more
        grew = bool(more)
    servers = {pid for pid in descendants if "forkserver" in commands.get(pid, "")}
    return sorted(pid for pid, ppid in parents.items() if ppid in servers)


def test_a_pool_worker_killed_mid_tick_does_not_stop_the_audits(tmp_path: Path) -> None:
    archive, aip = _busy_archive(tmp_path)
    daemon = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon.log")
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=daemon)
        workers = _pool_workers(daemon)
        assert workers, daemon.output()[-6000:]
        for pid in workers:
            os.kill(pid, signal.SIGKILL)  # the OOM killer, say

        wait_until(lambda: _all_verified(archive), "copy verified at every location", watch=daemon)
        assert "its worker processes died" in daemon.output()
        _recorded_once(archive, aip)
        _ends_cleanly(daemon)
    finally:
        daemon.cleanup()


def test_ctrl_c_reaches_the_whole_group_and_the_tick_still_finishes(tmp_path: Path) -> None:
    # A terminal sends SIGINT to every process of its foreground group: the pool workers too.
    archive, aip = _busy_archive(tmp_path)
    daemon = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon.log")
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=daemon)
        [(_, location, _)] = _claimed(archive)
        os.killpg(daemon.pid, signal.SIGINT)
        code = daemon.popen.wait(DEADLINE)
        output = daemon.output()
        assert code == 0, output[-6000:]
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-6000:]
        # The tick under way was finished, not abandoned: the copy it was reading is verified.
        coverage = {c["location"]: c for c in _status(archive)["locations"]}
        assert coverage[location]["share"] == 1.0, output[-6000:]
        assert _claimed(archive) == []
        assert len([e for e in fixity_events(archive.oais, aip) if event_location(e) == location]) == 1
    finally:
        daemon.cleanup()


def test_sigterm_to_the_whole_service_stops_at_once_and_a_restart_carries_on(tmp_path: Path) -> None:
    # systemd stops a service so (KillMode=control-group): the pool workers die at once, and the
    # tick ends without recording the copy it was reading.
    archive, aip = _busy_archive(tmp_path)
    first = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon-1.log")
    second: Process | None = None
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=first)
        os.killpg(first.pid, signal.SIGTERM)
        code = first.popen.wait(DEADLINE)
        output = first.output()
        assert code == 0, output[-6000:]
        assert "Traceback" not in output, output[-6000:]
        assert "the tick was cut short" in output
        assert _live_claims(archive) == []  # given back, not left to expire
        assert fixity_events(archive.oais, aip) == []  # nothing half recorded

        second = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon-2.log")
        wait_until(lambda: _all_verified(archive), "copy verified at every location", watch=second)
        _recorded_once(archive, aip)
        _ends_cleanly(second)
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()


# --- the catalog's PostgreSQL restarted under the daemon ----------------------------------------


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test's own, started from the distribution's binaries."""

    bin: Path
    data: Path
    port: int
    socket_dir: Path

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.ctl("-l", str(self.socket_dir / "server.log"), "-o", options, "start")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "120", *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=300,
        )


INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")


def _as_postgres(command: list[str]) -> list[str]:
    # The server refuses to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _postgres_bin() -> Path:
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (bash ops/postgres.sh)"
        if os.environ.get("OAIS_TEST_POSTGRES") == "skip":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """Started on a free port with trust authentication, stopped and removed afterwards however the
    test ends. Its directory is not under pytest's temporary directory, which only root may enter."""
    binaries = _postgres_bin()
    base = Path(tempfile.mkdtemp(prefix="oais-e2e-pg-"))
    data = base / "data"
    server: PrivatePostgres | None = None
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        subprocess.run(
            _as_postgres([str(binaries / "initdb"), "-D", str(data), *INITDB_OPTIONS]),
            check=True,
            capture_output=True,
            timeout=300,
        )
        server = PrivatePostgres(binaries, data, _free_port(), base)
        server.start()
        yield server
    finally:
        if server is not None:
            with contextlib.suppress(subprocess.SubprocessError):
                server.ctl("-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _noticed(process: Process) -> bool:
    """Whether the process has run into the database being down (a line naming the failure)."""
    return "OperationalError" in process.output() or not process.running()


def _interrupt(server: PrivatePostgres, how: str, process: Process) -> None:
    """Restart the server at once, or stop it until ``process`` has run into its absence."""
    if how == "restart":
        server.ctl("-m", "fast", "restart")
        return
    server.ctl("-m", "fast", "stop")
    try:
        wait_until(lambda: _noticed(process), "failure for the database being down")
    finally:
        server.start()


@pytest.mark.parametrize("how", ["restart", "down-a-while"])
def test_the_catalog_database_restarted_mid_tick(
    private_postgres: PrivatePostgres, tmp_path: Path, how: str
) -> None:
    archive, aip = _busy_archive(tmp_path, private_postgres.url)
    daemon = archive.daemon("--workers", "1", "--name", NAME, log=tmp_path / "daemon.log")
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=daemon)
        _interrupt(private_postgres, how, daemon)

        # The daemon carries on by itself: the claims of the tick that failed expire, and later
        # ticks audit every copy.
        wait_until(lambda: _all_verified(archive), "copy verified at every location", watch=daemon)
        _recorded_once(archive, aip)
        _ends_cleanly(daemon)
    finally:
        daemon.cleanup()


@pytest.mark.parametrize("how", ["restart", "down-a-while"])
def test_an_audit_run_whose_database_restarts_fails_cleanly_and_a_rerun_completes(
    private_postgres: PrivatePostgres, tmp_path: Path, how: str
) -> None:
    archive, aip = _busy_archive(tmp_path, private_postgres.url)
    run = Process.start(
        ["audit", "run", "--all", "--workers", "1", "--json"], archive.oais.env, tmp_path / "run.log"
    )
    try:
        wait_until(_MidRead(archive), "a claim extended while its slice is read", watch=run)
        _interrupt(private_postgres, how, run)
        code = run.popen.wait(DEADLINE)
        output = run.output()
        assert "Traceback" not in output, output[-6000:]
        if code != 0:
            # It could not claim, extend or record: it says so in its one JSON line, naming the
            # database's failure (exit 6 when the catalog failed outside a location's audit; 5 when
            # the failure stopped a location's audit, which the run reports as that location's).
            summary = json.loads(output.splitlines()[-1])
            said = summary.get("error") or "; ".join(summary.get("problems", []))
            assert code in (5, 6), output[-6000:]
            assert "OperationalError" in said, output[-6000:]
    finally:
        run.cleanup()
    # Claims of a run that failed are given back or expire; a rerun completes the audit.
    wait_until(lambda: not _live_claims(archive), "claims released or expired", deadline=60)
    rerun = archive.oais("audit", "run", "--json", timeout=600)
    assert rerun.code == 0, rerun.stdout + rerun.stderr
    assert _all_verified(archive)
    _recorded_once(archive, aip)
