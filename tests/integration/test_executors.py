"""Where batch work runs: real process pools and a real Dask cluster (scheduler and two workers)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from oais.adapters.copier import available_cores
from oais.adapters.executors import CONNECT_TIMEOUT, open_executor, parallelism
from oais.domain.errors import ConfigError, StorageError
from tests.support.executor_tasks import meet, parent_pid, refuse, sha256_and_pid

REPO_ROOT = Path(__file__).resolve().parents[2]
INPUTS = [b"", b"a", b"fixity" * 1000, bytes(range(256)) * 64, *(f"batch {i}".encode() for i in range(20))]
EXPECTED = [hashlib.sha256(data).hexdigest() for data in INPUTS]


@pytest.fixture
def free_port() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port


def _run_python(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# --- local process pools ------------------------------------------------------------------------


def test_a_process_pool_runs_a_function_over_inputs_in_other_processes() -> None:
    with open_executor("process:2") as pool:
        results = list(pool.map(sha256_and_pid, INPUTS))

    assert [digest for digest, _ in results] == EXPECTED
    assert os.getpid() not in {pid for _, pid in results}


def test_pool_workers_come_from_a_fork_server_not_from_this_process() -> None:
    # A forked copy of this process would inherit boto3's threads and locks in whatever state they were.
    with open_executor("process:1") as pool:
        assert pool.submit(parent_pid).result() != os.getpid()


@pytest.mark.parametrize(
    ("spec", "workers", "expected"),
    [("process:3", None, 3), ("process", 2, 2), (None, 1, 1), ("process:2", 2, 2)],
)
def test_parallelism_of_a_process_pool_is_its_size(
    spec: str | None, workers: int | None, expected: int
) -> None:
    with open_executor(spec, workers) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
        assert parallelism(pool) == expected


def test_by_default_the_pool_has_one_process_per_available_core() -> None:
    with open_executor() as pool:
        assert parallelism(pool) == available_cores()


@pytest.mark.parametrize("workers", [0, -1])
def test_a_pool_needs_at_least_one_process(workers: int) -> None:
    with pytest.raises(ConfigError, match=f"at least 1, not {workers}"):
        open_executor("process", workers)


def test_a_spec_and_a_worker_count_that_disagree_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"'process:2' and workers=3 disagree"):
        open_executor("process:2", 3)


def test_preloading_skips_a_worker_module_that_fails_to_import(tmp_path: Path) -> None:
    # In a fresh interpreter: the fork server is started once per process, with the preloads of then.
    # It imports them with the interpreter's default sys.path, hence PYTHONPATH.
    (tmp_path / "preload_fine.py").write_text("VALUE = 1\n")
    (tmp_path / "preload_broken.py").write_text("raise RuntimeError('broken at import')\n")
    out = _run_python(
        """
        import json
        from oais.adapters import executors
        from tests.support.executor_tasks import loaded
        executors.PRELOAD = ("preload_broken", "preload_fine", "oais.no_such_module")
        with executors.open_executor("process:1") as pool:
            print(json.dumps(pool.submit(loaded, ["preload_fine", "preload_broken"]).result()))
        """,
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])},
    )
    assert json.loads(out) == {"preload_fine": True, "preload_broken": False}


def test_importing_oais_never_imports_dask() -> None:
    out = _run_python(
        """
        import sys
        import oais, oais.bootstrap, oais.entrypoints.cli, oais.adapters.executors
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed")))
        """
    )
    assert out.strip() == "[]"


# --- a Dask cluster -----------------------------------------------------------------------------


def test_a_cluster_gives_the_same_results_as_a_process_pool(dask_cluster: str) -> None:
    with open_executor("process:2") as pool:
        local = list(pool.map(sha256_and_pid, INPUTS))
    with open_executor(dask_cluster) as cluster:
        remote = list(cluster.map(sha256_and_pid, INPUTS))

    assert [digest for digest, _ in remote] == [digest for digest, _ in local] == EXPECTED
    assert not {pid for _, pid in remote} & {os.getpid(), *(pid for _, pid in local)}


def test_cluster_work_runs_in_two_worker_processes_at_once(dask_cluster: str, tmp_path: Path) -> None:
    # Each worker runs one task at a time: two tasks that wait for each other can only finish if
    # they run at the same time, in two workers. Their arguments are equal on purpose: every submit
    # must run, where Dask would otherwise hand back one result for calls it takes to be the same.
    with open_executor(dask_cluster) as cluster:
        futures = [cluster.submit(meet, str(tmp_path), 2, 60.0) for _ in range(2)]
        pids = {future.result(timeout=120) for future in futures}

    assert len(pids) == 2
    assert os.getpid() not in pids


def test_parallelism_of_the_cluster_is_its_worker_threads(dask_cluster: str) -> None:
    with open_executor(dask_cluster) as cluster:
        assert parallelism(cluster) == 2


def test_an_error_raised_on_the_cluster_arrives_as_itself(dask_cluster: str) -> None:
    with open_executor(dask_cluster) as cluster:
        future = cluster.submit(refuse, "copy 2 unreadable")
        with pytest.raises(StorageError, match="copy 2 unreadable"):
            future.result(timeout=60)


def test_a_worker_address_is_not_taken_for_a_scheduler(dask_cluster: str) -> None:
    from distributed import Client

    with Client(dask_cluster.replace("dask://", "tcp://"), timeout=30, set_as_default=False) as client:
        worker = next(iter(client.scheduler_info()["workers"]))

    with (
        pytest.raises(ConfigError, match=re.escape(f"{worker} is a Worker, not a scheduler")),
        open_executor(worker),
    ):
        pytest.fail("took a worker for a scheduler")


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["dask", "tcp"])
def test_an_unreachable_scheduler_is_a_config_error_naming_it(scheme: str, free_port: int) -> None:
    spec = f"{scheme}://127.0.0.1:{free_port}"
    with pytest.raises(ConfigError) as caught, open_executor(spec):
        pytest.fail("connected to a scheduler that does not exist")

    message = str(caught.value)
    assert f"tcp://127.0.0.1:{free_port}" in message
    assert f"connection refused (tried a TCP connection for up to {CONNECT_TIMEOUT:g} s)" in message
    assert "\n" not in message


def test_a_server_that_is_not_a_scheduler_is_a_config_error_naming_the_time_limit() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts TCP connections (the kernel does) but never says a word
        address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(ConfigError) as caught, open_executor(address, connect_timeout=1.0):
            pytest.fail("took a silent server for a scheduler")

    message = str(caught.value)
    assert f"{address} did not answer as a Dask scheduler (tried a Dask handshake for up to 1 s)" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "dask://",
        "dask://127.0.0.1",
        "dask://127.0.0.1:",
        "dask://:8786",
        "dask://127.0.0.1:0",
        "dask://127.0.0.1:99999",
        "dask://127.0.0.1:port",
        "tcp://127.0.0.1:8786/path",
        "dask://user@127.0.0.1:8786",
        "foo://x",
        "127.0.0.1:8786",
        "process:0",
        "process:",
        "process:-1",
        "process:two",
        "Process",
        "threads",
    ],
)
def test_a_malformed_spec_is_a_config_error_listing_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_executor(spec)

    message = str(caught.value)
    assert repr(spec) in message
    for form in ("process", "process:N", "dask://HOST:PORT", "tcp://HOST:PORT"):
        assert f'"{form}"' in message
