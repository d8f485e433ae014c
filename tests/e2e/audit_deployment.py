"""An ``oais`` deployment for end-to-end audit tests: two local locations that the storage policy both
requires, private copies of the policies, the catalog read behind the command's back, and the daemon
(or any long ``oais`` command) as a subprocess in its own process group.

Nothing here asserts: the tests do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, TextClause, create_engine, text

from tests.e2e.conftest import REPO, Oais
from tests.support.processes import exited

LOCATIONS = ("a", "b")
#: How long anything a test waits for may take on a loaded machine.
DEADLINE = 240.0


@dataclass
class Deployment:
    """One ``oais`` deployment under a test's temporary directory."""

    oais: Oais
    base: Path
    policies: Path
    config: Path
    roots: dict[str, Path]

    @property
    def database_url(self) -> str:
        return self.oais.env.get("OAIS_DATABASE_URL") or f"sqlite:///{self.oais.home / 'catalog.sqlite'}"

    def configure(self, **tables: str) -> None:
        """Write the configuration: every location local at its root, unless ``tables`` gives the body
        of its ``[locations.NAME]`` table."""
        self.config.write_text(
            "".join(
                f"[locations.{name}]\n"
                + tables.get(name, f'kind = "local"\nroot = "{self.roots[name]}"\n')
                + "\n"
                for name in self.roots
            )
        )

    def audit_policy(self, **values: Any) -> None:
        """Write ``audit.toml`` (values override those of a policy with nothing due by itself soon)."""
        write_audit_policy(self.policies, **values)

    def version_dir(self, location: str, aip_id: str, version: int = 1) -> Path:
        return self.roots[location] / "aips" / aip_id / f"v{version}"

    def objects(self, location: str) -> list[Path]:
        """Every file of every stored version at a location (payload and tag files)."""
        aips = self.roots[location] / "aips"
        return sorted(p for p in aips.rglob("*") if p.is_file()) if aips.exists() else []

    @contextlib.contextmanager
    def catalog(self) -> Iterator[Connection]:
        """A connection to the catalog database, read behind the command's back."""
        url = self.database_url
        engine = create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def query(self, sql: str | TextClause, **params: Any) -> list[Any]:
        with self.catalog() as connection:
            return list(connection.execute(text(sql) if isinstance(sql, str) else sql, params))

    def daemon(self, *args: str, log: Path) -> Process:
        """Start ``oais daemon`` with ``args``; its output goes to ``log``."""
        return Process.start(["daemon", *args], self.oais.env, log)


def write_audit_policy(
    policies: Path,
    *,
    tick_seconds: int = 300,
    claim_minutes: float = 30,
    budget: int = 200_000_000,
    sweep_hours: float = 168,
    quick_days: float = 7,
    deep_days: float = 90,
    cycle_days: float = 90,
    repair: bool = True,
) -> None:
    (policies / "audit.toml").write_text(
        f'id = "audit"\nversion = "e2e"\ncycle_days = {cycle_days}\ntick_seconds = {tick_seconds}\n'
        f"claim_minutes = {claim_minutes}\nsweep_hours = {sweep_hours}\nrepair = {str(repair).lower()}\n"
        f"[quick]\nevery_days = {quick_days}\n[deep]\nevery_days = {deep_days}\n"
        f"[budget]\ndefault = {budget}\n"
    )


def deployment(base: Path, database_url: str | None = None) -> Deployment:
    """A deployment with locations ``a`` and ``b`` (local directories), both required by the storage
    policy, and the shipped audit policy."""
    home = base / "oais-home"
    policies = base / "policies"
    shutil.copytree(REPO / "policies", policies)
    storage = policies / "storage.toml"
    storage.write_text(
        re.sub(r"(?m)^locations = .*$", 'locations = ["a", "b"]', storage.read_text(encoding="utf-8"))
    )
    config = base / "oais.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
    env.update(OAIS_HOME=str(home), OAIS_WORKERS="2", OAIS_CONFIG=str(config), OAIS_POLICIES=str(policies))
    if database_url:
        env["OAIS_DATABASE_URL"] = database_url
    found = Deployment(
        Oais(home=home, env=env), base, policies, config, {n: base / f"location-{n}" for n in LOCATIONS}
    )
    found.configure()
    return found


def payload_sip(base: Path, files: int, size: int) -> Path:
    """A SIP of ``files`` random files of ``size`` bytes each."""
    sip = base / "big-sip"
    sip.mkdir()
    for i in range(files):
        (sip / f"cube_{i:02d}.dat").write_bytes(os.urandom(size))
    return sip


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fixity_events(oais: Oais, aip_id: str) -> list[dict[str, Any]]:
    """The AIP's fixity check events, as ``oais show`` lists them."""
    shown = oais("show", aip_id, "--json")
    assert shown.code == 0, shown.stderr
    return [e for e in shown.json["events"] if e["type"] == "fixity check"]


def event_location(event: dict[str, Any]) -> str:
    """The location a fixity check event names in its detail."""
    found = re.search(r" at location '([^']+)'", event["detail"])
    assert found is not None, event["detail"]
    return found.group(1)


# --- subprocesses ------------------------------------------------------------------------------


@dataclass
class Process:
    """An ``oais`` command running in its own process group (its pool workers are in the group too)."""

    popen: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, args: Sequence[str], env: dict[str, str], log: Path) -> Process:
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "oais", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(popen, log)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.returncode is None and not exited(self.pid)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group, as a power cut or the OOM killer would."""
        if self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = DEADLINE) -> int | None:
        """Send ``signum`` to the process alone and wait for it to end; None if it did not in time
        (then it is killed)."""
        if self.running():
            os.kill(self.pid, signum)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def cleanup(self) -> None:
        """Make sure nothing of it is left (for ``finally``)."""
        if self.popen.returncode is None:
            self.kill()
        else:
            # The leader is reaped; a worker left behind would still be in the group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)


def wait_until(
    condition: Callable[[], bool], what: str, *, watch: Process | None = None, deadline: float = DEADLINE
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (with the watched process's output) if
    it does not within ``deadline`` seconds, or if the watched process ends first."""
    end = time.monotonic() + deadline
    while not condition():
        if watch is not None and not watch.running():
            raise AssertionError(f"the process ended before {what}:\n{watch.output()[-6000:]}")
        if time.monotonic() > end:
            tail = f":\n{watch.output()[-6000:]}" if watch is not None else ""
            raise AssertionError(f"no {what} after {deadline:g} s{tail}")
        time.sleep(0.1)
