"""Shared fixtures.

PostgreSQL: tests marked ``postgres`` use the server on 127.0.0.1:5432, which CI always provides,
through the role in ``OAIS_TEST_POSTGRES_ADMIN_URL`` (set by ops/test.sh; by default user postgres with
trust authentication). If it cannot be reached they fail, so that a missing server is never mistaken
for a pass; set ``OAIS_TEST_POSTGRES=skip`` to skip them instead on a machine without one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from tests.support.processes import exited

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> URL:
    return make_url(os.environ.get("OAIS_TEST_POSTGRES_ADMIN_URL") or DEFAULT_ADMIN_URL)


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    url = _admin_url()
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable as {url.render_as_string(hide_password=True)} ({exc}). "
            "Start it (bash ops/postgres.sh), or set OAIS_TEST_POSTGRES=skip to skip the tests that need it."
        )
        if os.environ.get("OAIS_TEST_POSTGRES") == "skip":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)


def _fresh_database() -> Iterator[str]:
    name = f"oais_test_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _admin_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards.

    Yields:
        Its SQLAlchemy URL (``postgresql+psycopg://...``).
    """
    yield from _fresh_database()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    yield from _fresh_database()


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[], str]]:
    """Call it for each fresh, empty PostgreSQL database a test needs; all are dropped afterwards."""
    made: list[Iterator[str]] = []

    def make() -> str:
        database = _fresh_database()
        made.append(database)
        return next(database)

    yield make
    for database in made:
        next(database, None)


# --- Ceph RGW (S3) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Service:
    """The real Ceph RGW the tests run against (started by ``ops/ceph-rgw.sh``)."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def client(self) -> Any:
        """A plain boto3 client (for tests that act behind the project's back)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    def new_bucket(self, *, object_lock: bool = False) -> str:
        """Create a fresh bucket with a unique name (Object Lock turns versioning on too)."""
        name = f"oais-test-{secrets.token_hex(6)}"
        if object_lock:
            self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            self.client().create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3() -> S3Service:
    """The Ceph RGW named by the ``OAIS_TEST_S3_*`` variables (ops/test.sh sets them).

    Tests that need it fail when it is not configured, so that a missing server is never mistaken
    for a pass; ``OAIS_TEST_S3=skip`` skips them instead.
    """
    env = os.environ
    endpoint = env.get("OAIS_TEST_S3_ENDPOINT")
    if not endpoint:
        message = (
            "Ceph RGW is not configured for the tests: start it with `bash ops/ceph-rgw.sh start` and "
            "export the OAIS_TEST_S3_* variables it prints, or set OAIS_TEST_S3=skip"
        )
        if env.get("OAIS_TEST_S3") == "skip":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return S3Service(
        endpoint=endpoint,
        access_key=env["OAIS_TEST_S3_ACCESS_KEY"],
        secret_key=env["OAIS_TEST_S3_SECRET_KEY"],
        region=env.get("OAIS_TEST_S3_REGION", "us-east-1"),
    )


# --- Dask distributed --------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]
#: How long a scheduler and its workers may take to come up on a loaded machine.
DASK_START_DEADLINE = 120.0
DASK_WORKERS = 2


def _dask_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), *args]


def _stop_process_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL to its group: a nanny's worker child goes too."""
    if not exited(process.pid):
        os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not exited(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask cluster on 127.0.0.1: a scheduler and two workers, each its own process.

    Every worker runs one task at a time (one thread), so two tasks that run at once ran in two
    different processes. The workers can import ``oais`` and ``tests``. Everything is stopped at the
    end of the session, however it ends.

    Yields:
        The executor spec of the scheduler, ``"dask://127.0.0.1:PORT"``.
    """
    from distributed import Client

    base = tmp_path_factory.mktemp("dask")
    scheduler_file = base / "scheduler.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    processes: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(name: str, *args: str) -> None:
        log = base / f"{name}.log"
        with log.open("wb") as out:
            processes[name] = (
                subprocess.Popen(
                    _dask_command(*args),
                    cwd=base,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, so that teardown reaches its children
                ),
                log,
            )

    def check_running(waiting_for: str) -> None:
        for name, (process, log) in processes.items():
            if exited(process.pid):
                pytest.fail(
                    f"dask {name} exited while waiting for {waiting_for}:\n"
                    f"{log.read_text(errors='replace')[-4000:]}",
                    pytrace=False,
                )
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {n}\n{log.read_text(errors='replace')[-2000:]}" for n, (_, log) in processes.items()
            )
            pytest.fail(f"no {waiting_for} after {DASK_START_DEADLINE:g} s:\n{logs}", pytrace=False)

    deadline = time.monotonic() + DASK_START_DEADLINE
    try:
        # Port 0: the scheduler takes a free port itself and writes its address to the file, so that
        # no other process can take the port between choosing and binding it.
        start(
            "scheduler",
            *("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
            *("--scheduler-file", str(scheduler_file)),
        )
        for i in range(DASK_WORKERS):
            start(
                f"worker-{i}",
                *("worker", "--scheduler-file", str(scheduler_file), "--name", f"worker-{i}"),
                *("--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"),
                *("--local-directory", str(base / f"worker-{i}")),
            )
        address = None
        while address is None:
            check_running("scheduler file")
            with contextlib.suppress(FileNotFoundError, ValueError):  # not yet written, or half written
                address = json.loads(scheduler_file.read_text())["address"]
            time.sleep(0.05)
        with Client(address, timeout=30, set_as_default=False) as client:
            while len(client.scheduler_info()["workers"]) < DASK_WORKERS:
                check_running(f"{DASK_WORKERS} workers registered")
                time.sleep(0.1)
        yield f"dask://{address.removeprefix('tcp://')}"
    finally:
        # Workers first, so that none of them reconnects or complains about a missing scheduler.
        for process, _ in reversed(processes.values()):
            _stop_process_group(process)
