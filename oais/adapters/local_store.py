"""Local scratch space where AIP versions are built, and durability helpers for local files.

Layout under the scratch root (``OAIS_STAGING``)::

    <random>/bag/         a bag being built; each staging directory holds a locked ``.lock``

A staging directory whose lock is free belongs to a process that died (``kill -9``); it is removed
the next time staging is used. Storage locations are elsewhere (``oais.adapters.storage``).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from oais.domain.errors import StorageError

#: The file a live process holds locked in each of its staging directories.
LOCK = ".lock"


@dataclass
class LocalStaging:
    """A staging directory of the local store."""

    root: Path

    @property
    def path(self) -> Path:
        """Where the bag is built."""
        return self.root / "bag"


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn: Callable[[int], int] = libc.syncfs
        return fn
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        return None


def make_durable(directory: Path) -> None:
    """Flush everything written on ``directory``'s file system to stable storage.

    One ``syncfs`` covers every file and directory of a staged bag at once (their data, their
    inodes and the directory entries naming them), which for 100,000 small files is far cheaper
    than one ``fsync`` each.

    Raises:
        StorageError: ``cannot flush <directory>: <reason>`` if the flush fails.
    """
    syncfs = _libc_syncfs()
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(f"cannot flush {directory}: {exc.strerror}") from exc
    try:
        if syncfs is None:  # pragma: no cover - not Linux/glibc
            os.sync()
            return
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise StorageError(f"cannot flush {directory}: syncfs failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of ``data`` (a regular file may accept fewer than asked). Raises OSError."""
    while data:
        data = data[os.write(fd, data) :]


class LocalScratch:
    """Implements the ``ScratchSpace`` port on a local directory."""

    def __init__(self, root: Path) -> None:
        """Args:
        root: the scratch directory (created on first use).
        """
        self.root = root

    def clean_stale_staging(self) -> int:
        """Remove staging directories left by processes that died. Returns how many were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in self.root.iterdir():
            lock_path = entry / LOCK
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                # A directory without a lock is either being created right now or a leftover
                # from a crash between mkdir and lock creation; only the latter is old.
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # its owner is alive
            try:
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                os.close(fd)
            if not os.path.lexists(entry):
                removed += 1
        return removed

    @contextmanager
    def staging(self) -> Iterator[LocalStaging]:
        """A fresh, locked staging directory; removed on exit.

        Raises:
            StorageError: if the directory cannot be created or locked (nothing is left behind).
        """
        self.clean_stale_staging()
        root = self.root / uuid.uuid4().hex
        created = False
        lock_fd = -1
        try:
            try:
                root.mkdir(parents=True)
                created = True
                # Locked under another name, then renamed: a cleaner never finds the lock free.
                unlocked = root / f"{LOCK}.new"
                lock_fd = os.open(unlocked, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                os.rename(unlocked, root / LOCK)
                staging = LocalStaging(root)
                staging.path.mkdir()
            except OSError as exc:
                raise StorageError(f"{root}: cannot create a staging directory: {exc.strerror}") from exc
            yield staging
        finally:
            if created:
                shutil.rmtree(root, ignore_errors=True)
            if lock_fd >= 0:
                os.close(lock_fd)
