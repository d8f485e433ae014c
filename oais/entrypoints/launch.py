"""The ``oais`` command's entry point: what must happen before the command line module is imported.

``oais audit run`` and ``oais daemon`` hash in a local process pool whose workers are forked from a
fork server that preloads the worker's modules (about a second of imports). Started here, before
the command imports its own modules, the fork server loads them at the same time on another core,
rather than after the command has loaded and opened everything.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence


def pools_locally(args: Sequence[str]) -> bool:
    """Whether the command line ``args`` runs a local process pool (``--executor`` names none, or a
    local one, and no help is asked for)."""
    if not (args[:2] == ["audit", "run"] or args[:1] == ["daemon"]):
        return False
    if "--help" in args:
        return False
    executor = "process"
    for i, arg in enumerate(args):
        if arg == "--executor" and i + 1 < len(args):
            executor = args[i + 1]
        elif arg.startswith("--executor="):
            executor = arg.split("=", 1)[1]
    return executor == "process" or executor.startswith("process:")


def main() -> None:
    """Entry point of the ``oais`` command."""
    if pools_locally(sys.argv[1:]):
        from oais.adapters.fork_server import start_early

        # If it cannot start now, the pool starts it later or says why it cannot.
        with contextlib.suppress(OSError):
            start_early()
    from oais.entrypoints.cli import main as cli_main

    cli_main()
