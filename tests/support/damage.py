"""Damage done to a stored file behind the archive's back, as a failing disk would do it.

The file is changed in place: its inode keeps its identity, so that anything sharing it (another
location holding the same inode through a hard link, which the archive must never let happen) is
damaged too, and a test that expects a repair from that other location fails.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _writable(path: Path) -> None:
    """Make ``path`` writable if it is not (stored files are read-only)."""
    if not path.stat().st_mode & stat.S_IWUSR:
        path.chmod(0o644)


def flip_bit(path: Path, offset: int = 0, bit: int = 4) -> None:
    """Flip one bit of the file in place (same size, other bytes)."""
    _writable(path)
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        assert byte, f"{path} has no byte at offset {offset}"
        f.seek(offset)
        f.write(bytes([byte[0] ^ (1 << bit)]))


def truncate(path: Path, size: int) -> None:
    """Cut the file short in place."""
    _writable(path)
    os.truncate(path, size)
