"""Helpers for tests that run processes of their own."""

from __future__ import annotations

import os


def exited(pid: int) -> bool:
    """Whether the process has ended, without reaping it: until it is reaped, its id (and its
    group's) cannot be given to another process, so that signalling the group stays safe."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
