"""Where batch work runs: a local process pool, or a Dask distributed cluster.

Work that is split into independent batches (the fixity audit) runs through a plain
:class:`concurrent.futures.Executor`, so that the service neither knows nor cares whether the
batches run in processes on this machine or on the workers of a cluster. A *spec* string says
which::

    process            a process pool on this machine, one process per available core
    process:N          a process pool of N processes
    dask://HOST:PORT   the workers of the Dask scheduler at HOST:PORT
    tcp://HOST:PORT    the same (Dask's own spelling of a scheduler address)

Local workers start from a fork server rather than by forking this process: the parent may hold
boto3 clients, whose threads and locks do not survive ``fork``. The fork server preloads the
audit's worker module, so that each new worker starts with the code already imported.

This is the only module that imports ``distributed``, and only when a Dask spec is opened:
importing ``oais`` never imports Dask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oais.adapters.copier import available_cores
from oais.adapters.fork_server import PRELOAD, fork_server_context, ignore_interrupts, preloadable
from oais.domain.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

#: How long to wait for a Dask scheduler to answer, by default.
CONNECT_TIMEOUT = 10.0
#: The accepted forms of a spec, for error messages.
SPEC_FORMS = '"process", "process:N" (N >= 1), "dask://HOST:PORT" or "tcp://HOST:PORT"'

_log = logging.getLogger(__name__)

# How many tasks each executor opened here can run at once, asked when needed: a Dask cluster can
# gain or lose workers while it is in use.
_PARALLELISM: weakref.WeakKeyDictionary[Executor, Callable[[], int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _ProcessSpec:
    workers: int | None


@dataclass(frozen=True)
class _DaskSpec:
    address: str  # tcp://HOST:PORT
    host: str
    port: int


def _malformed(spec: str, why: str) -> ConfigError:
    return ConfigError(f"executor spec {spec!r} is malformed ({why}); accepted forms: {SPEC_FORMS}")


def _parse(spec: str | None) -> _ProcessSpec | _DaskSpec:
    if spec is None or spec == "process":
        return _ProcessSpec(workers=None)
    if spec.startswith("process:"):
        count = spec.removeprefix("process:")
        if not (count.isascii() and count.isdigit()) or int(count) < 1:
            raise _malformed(spec, "the process count must be a whole number of at least 1")
        return _ProcessSpec(workers=int(count))
    scheme, sep, _ = spec.partition("://")
    if not sep or scheme not in ("dask", "tcp"):
        raise _malformed(spec, "unknown kind")
    parts = urlsplit(spec)
    try:
        port = parts.port
    except ValueError:
        raise _malformed(spec, "the port must be a number from 1 to 65535") from None
    host = parts.hostname
    if not host or port is None or port == 0:
        raise _malformed(spec, "a Dask scheduler is named by HOST:PORT")
    if parts.username is not None or parts.password is not None:
        raise _malformed(spec, "credentials do not belong in the address")
    if parts.path or parts.query or parts.fragment:
        raise _malformed(spec, "nothing may follow HOST:PORT")
    return _DaskSpec(address=f"tcp://{parts.netloc}", host=host, port=port)


def open_executor(
    spec: str | None = None, workers: int | None = None, *, connect_timeout: float = CONNECT_TIMEOUT
) -> contextlib.AbstractContextManager[Executor]:
    """Open the executor a spec names; closing it waits for the work submitted (or cancels it on error).

    Args:
        spec: ``None`` or ``"process"``, ``"process:N"``, ``"dask://HOST:PORT"``, ``"tcp://HOST:PORT"``.
        workers: the number of local processes when the spec does not name one (default: one per
            available core). A Dask cluster's workers decide its size: there it is ignored.
        connect_timeout: seconds to wait for a Dask scheduler to accept a connection and to answer.

    Returns:
        A context manager that yields the executor. For a Dask cluster, nothing connects until it
        is entered.

    Raises:
        ConfigError: (when called) the spec is malformed, or the worker counts are not positive or
            disagree; (when entered) the Dask scheduler cannot be reached.
    """
    parsed = _parse(spec)
    if isinstance(parsed, _DaskSpec):
        return _dask_executor(parsed, connect_timeout)
    if workers is not None and workers < 1:
        raise ConfigError(f"the number of worker processes must be at least 1, not {workers}")
    if parsed.workers is not None and workers is not None and parsed.workers != workers:
        raise ConfigError(f"executor spec {spec!r} and workers={workers} disagree on the number of processes")
    return _process_executor(parsed.workers or workers or available_cores())


def parallelism(executor: Executor) -> int:
    """How many tasks ``executor`` can run at once, to share a budget (of reads) among them.

    Args:
        executor: one opened by :func:`open_executor`, or a standard thread or process pool.

    Returns:
        A process pool's size; for a Dask cluster, the total of its workers' threads now (ask again
        rather than keep it: workers can join or leave). At least 1.

    Raises:
        TypeError: the executor was neither opened by :func:`open_executor` nor a standard pool.
    """
    count = _PARALLELISM.get(executor)
    if count is not None:
        return max(count(), 1)
    # A thread or process pool made elsewhere (tests, callers that need no spec).
    max_workers = getattr(executor, "_max_workers", None)
    if isinstance(max_workers, int):
        return max_workers
    raise TypeError(f"cannot tell the parallelism of {type(executor).__name__}")


@contextlib.contextmanager
def _process_executor(workers: int) -> Iterator[Executor]:
    context = fork_server_context()
    # The fork server imports these with the interpreter's own sys.path (Python 3.11 does not pass
    # the parent's on): oais is installed, so its modules are found.
    # (No effect if the fork server already runs: started early by the command, or by an earlier pool.)
    context.set_forkserver_preload(preloadable(PRELOAD, imported=True))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=ignore_interrupts)
    _PARALLELISM[pool] = lambda: workers
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _probe(spec: _DaskSpec, timeout: float) -> None:
    # A plain TCP connection first: it tells "nothing listens" from "no answer" from "no such host"
    # at once, where Dask would retry until its time is up and only say that it timed out.
    tried = f"tried a TCP connection for up to {timeout:g} s"
    try:
        with socket.create_connection((spec.host, spec.port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {spec.address}: "
            f"host {spec.host!r} not found ({exc.strerror})"
        ) from exc
    except ConnectionRefusedError as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {spec.address}: connection refused ({tried})"
        ) from exc
    except TimeoutError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {spec.address}: no answer ({tried})") from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {spec.address}: {exc.strerror or exc} ({tried})"
        ) from exc


async def _identify(address: str, timeout: float) -> object:
    from distributed.core import rpc

    async with rpc(address, timeout=timeout) as server:
        return await server.identity()


def _check_scheduler(spec: _DaskSpec, timeout: float) -> None:
    # Dask's client waits for the server's first message without a time limit: a server that
    # accepts connections but never answers (or is no Dask server at all) would hang it for ever.
    # Ask who is there with a bounded wait first. A thread of its own gives the probe a fresh event
    # loop whatever the caller runs.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="oais-dask-probe") as probe:
        answer = probe.submit(asyncio.run, asyncio.wait_for(_identify(spec.address, timeout), timeout))
        try:
            identity = answer.result()
        except Exception as exc:  # whatever a stranger's bytes make Dask raise: it is no scheduler
            raise ConfigError(
                f"the server at {spec.address} did not answer as a Dask scheduler "
                f"(tried a Dask handshake for up to {timeout:g} s)"
            ) from exc
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise ConfigError(f"the Dask server at {spec.address} is a {kind or 'stranger'}, not a scheduler")


def _connect(spec: _DaskSpec, timeout: float) -> Client:
    _probe(spec, timeout)
    _check_scheduler(spec, timeout)
    from distributed import Client

    try:
        # Not the default client: the audit's work goes through the executor, and nothing else in
        # this process should be sent to the cluster by surprise.
        return Client(spec.address, timeout=timeout, set_as_default=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot connect to the Dask scheduler at {spec.address} (tried for up to {timeout:g} s): {exc}"
        ) from exc


@contextlib.contextmanager
def _dask_executor(spec: _DaskSpec, timeout: float) -> Iterator[Executor]:
    client = _connect(spec, timeout)
    try:
        # pure=False: every submit runs, as in any Executor; Dask would otherwise reuse the result
        # of an earlier call with equal arguments.
        executor = client.get_executor(pure=False)
        _PARALLELISM[executor] = lambda: sum(client.nthreads().values())
        try:
            yield executor
        except BaseException:
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)
    finally:
        client.close()
