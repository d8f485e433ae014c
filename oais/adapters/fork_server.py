"""The fork server that local worker processes start from (see :mod:`oais.adapters.executors`).

This module imports nothing of oais, so that a command can start the fork server before it imports
anything heavy itself: the server then loads the worker's modules while the command loads its own,
on another core, instead of after it.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import ForkServerContext

#: Modules the fork server imports once, so that every pool worker forked from it has them.
PRELOAD = (
    "oais.archival_storage.audit_worker",
    # Workers open locations through oais.bootstrap.open_location: loaded once in the fork server
    # rather than in every worker when its first batch arrives (about a second each).
    "oais.bootstrap",
)


def start_early() -> None:
    """Start the fork server now, preloading :data:`PRELOAD`.

    For commands that will run a local pool: nothing is imported here to check the modules (the
    command imports them itself a moment later, and fails loudly if they are broken).
    """
    context = fork_server_context()
    context.set_forkserver_preload([name for name in PRELOAD if importlib.util.find_spec(name) is not None])
    multiprocessing.forkserver.ensure_running()


def fork_server_context() -> ForkServerContext:
    """The multiprocessing context of the fork server."""
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    return context
