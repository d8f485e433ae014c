"""The fork server that local worker processes start from (see :mod:`oais.adapters.executors`).

This module imports nothing of oais, so that a command can start the fork server before it imports
anything heavy itself: the server then loads the worker's modules while the command loads its own,
on another core, instead of after it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import multiprocessing
import multiprocessing.forkserver
import signal
from collections.abc import Sequence
from multiprocessing.context import ForkServerContext

_log = logging.getLogger(__name__)

#: Modules the fork server imports once, so that every pool worker forked from it has them.
PRELOAD = (
    "oais.archival_storage.audit_worker",
    # Workers open locations through oais.bootstrap.open_location: loaded once in the fork server
    # rather than in every worker when its first batch arrives (about a second each).
    "oais.bootstrap",
    # An S3 location's client: a quarter of a second of imports in every new worker otherwise.
    "boto3",
    "botocore.client",
)


def preloadable(names: Sequence[str], *, imported: bool) -> list[str]:
    """The modules of ``names`` the fork server can preload: those that exist and, with
    ``imported``, import here without error. (The fork server of Python 3.11 stops on any error
    but ImportError in a preloaded module; preloading only saves start-up time, and a worker module
    that cannot be imported fails loudly when a task needs it, with its own traceback.)"""
    found = [name for name in names if importlib.util.find_spec(name) is not None]
    if not imported:
        return found
    out = []
    for name in found:
        try:
            importlib.import_module(name)
        except Exception as exc:
            _log.debug("not preloading %s: %s", name, exc)
            continue
        out.append(name)
    return out


def start_early() -> None:
    """Start the fork server now, preloading :data:`PRELOAD`.

    For commands that will run a local pool. The modules are not imported here to check them: the
    command imports them itself a moment later, and fails loudly if they are broken.
    """
    context = fork_server_context()
    context.set_forkserver_preload(preloadable(PRELOAD, imported=False))
    multiprocessing.forkserver.ensure_running()


def ignore_interrupts() -> None:
    """Run in each pool worker as it starts: Ctrl-C in a terminal reaches the whole process group,
    and is meant for the command, which then stops its workers itself (a worker interrupted in the
    middle of a batch would only print a traceback and break the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def fork_server_context() -> ForkServerContext:
    """The multiprocessing context of the fork server."""
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    return context
