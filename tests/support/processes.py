"""Helpers for tests that run processes of their own."""

from __future__ import annotations

import os
import time
from pathlib import Path


def exited(pid: int) -> bool:
    """Whether the process has ended, without reaping it: until it is reaped, its id (and its
    group's) cannot be given to another process, so that signalling the group stays safe."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def gone(pid: int) -> bool:
    """Whether the process with this id has ended, whoever its parent is: there is no such
    process, or it is a zombie that nobody has reaped yet."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # The state follows the command name, which is in parentheses and may hold any character.
    return stat.rpartition(")")[2].split()[0] == "Z"


def wait_gone(pid: int, within: float = 10.0) -> bool:
    """Whether the process ends (see :func:`gone`) within ``within`` seconds, looking every 10 ms."""
    deadline = time.monotonic() + within
    while not gone(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True
