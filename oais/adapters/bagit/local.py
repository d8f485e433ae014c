"""A bag in a directory of the local file system."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from oais.domain.errors import NotFound, StorageError


class DirectoryBagFiles:
    """:class:`~oais.domain.ports.BagFiles` for a bag that is a local directory.

    Listing follows symbolic links to files (their target's size is reported) but never descends
    into a linked directory, so a link cannot make the walk loop or leave the bag's tree. Names that
    are not valid UTF-8 are listed with surrogate escapes (``os.fsdecode``) and so never match a
    manifest path. Nothing is written.

    Args:
        root: the bag's root directory.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        """The bag's root directory."""
        return self._root

    def list_files(self) -> Iterator[tuple[str, int]]:
        """Every regular file as ('/'-separated path relative to the bag root, size), sorted by path.

        Raises:
            NotFound: if the root is not a directory.
            StorageError: if a directory cannot be read.
        """
        if not self._root.is_dir():
            raise NotFound(f"no bag directory at {self._root}")
        found: list[tuple[str, int]] = []
        stack: list[tuple[str, str]] = [(os.fspath(self._root), "")]
        try:
            while stack:
                directory, prefix = stack.pop()
                with os.scandir(directory) as scan:
                    for entry in scan:
                        relative = prefix + os.fsdecode(entry.name)
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((entry.path, relative + "/"))
                        elif entry.is_file():
                            found.append((relative, entry.stat().st_size))
        except OSError as exc:
            raise StorageError(f"cannot list the bag {self._root}: {exc}") from exc
        found.sort()
        yield from found

    def _resolve(self, path: str) -> Path:
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or ".." in parts:
            raise NotFound(f"{path!r} is not a path inside the bag {self._root}")
        return self._root.joinpath(*parts)

    def read_bytes(self, path: str) -> bytes:
        """A small file's bytes (tag files).

        Args:
            path: '/'-separated, relative to the bag root.

        Raises:
            NotFound: if there is no such file, or the path leaves the bag.
            StorageError: if the file exists but cannot be read.
        """
        target = self._resolve(path)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no file {path!r} in the bag {self._root}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {path!r} in the bag {self._root}: {exc}") from exc

    def is_dir(self, path: str) -> bool:
        """True if ``path`` (relative to the bag root) is a directory (links to directories count)."""
        try:
            return self._resolve(path).is_dir()
        except NotFound:
            return False
