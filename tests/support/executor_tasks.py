"""Tasks for executor tests: module-level, so that pool and cluster workers import them by name."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

from oais.adapters.hashing import digest_bytes
from oais.domain.errors import StorageError
from oais.domain.fixity import DigestAlgorithm


def sha256_and_pid(data: bytes) -> tuple[str, int]:
    """The SHA-256 of ``data`` (by the project's own hasher) and the process that computed it."""
    return digest_bytes(data, [DigestAlgorithm.SHA256])[DigestAlgorithm.SHA256], os.getpid()


def meet(directory: str, parties: int, timeout: float) -> int:
    """Wait until ``parties`` calls are inside this function at once; return this process's id.

    Each call leaves a file in ``directory`` and waits for the others' files. When every worker runs
    one task at a time, calls that meet here ran at the same time, hence in different workers.

    Raises:
        TimeoutError: the others did not arrive within ``timeout`` seconds.
    """
    here = Path(directory)
    (here / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
    deadline = time.monotonic() + timeout
    while sum(1 for _ in here.iterdir()) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {sum(1 for _ in here.iterdir())} of {parties} tasks ran at once")
        time.sleep(0.01)
    return os.getpid()


def loaded(names: list[str]) -> dict[str, bool]:
    """Which of these modules the worker had imported before this task (preloads)."""
    return {name: name in sys.modules for name in names}


def parent_pid() -> int:
    """The id of the process that started this worker."""
    return os.getppid()


def refuse(message: str) -> None:
    """Fail the way a storage read fails."""
    raise StorageError(message)
