"""A SIP submitted as a folder."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from oais.adapters.sip._common import decode_name, encode_name, rejected, too_large
from oais.domain.errors import NotFound
from oais.domain.packages import EntryKind, SipEntry, SipForm

# O_NOATIME keeps even the access times of the producer's files as they were; the kernel only
# grants it to the files' owner (or root), so opening falls back to a plain read-only open.
_NOATIME = getattr(os, "O_NOATIME", 0)
_BASE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


class DirectorySource:
    """A SIP that is a folder on a local file system.

    The walk uses bytes paths, so names that are not valid UTF-8 are listed (and reported) rather
    than skipped, and never follows symbolic links. Nothing is written, moved or opened for writing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Read the folder ``root`` (not touched until listed or read)."""
        self._root = os.fsencode(os.fspath(root))
        self._location = os.fsdecode(self._root)

    @property
    def form(self) -> SipForm:
        """Always :attr:`SipForm.DIRECTORY`."""
        return SipForm.DIRECTORY

    @property
    def location(self) -> str:
        """The folder as given."""
        return self._location

    @property
    def parallel_reads(self) -> bool:
        """Files in a folder can be read by several processes at once."""
        return True

    def entries(self) -> Iterator[SipEntry]:
        """Every name below the folder, lazily, sorted within each directory.

        Raises:
            SipRejected: SIP-E008 if a directory cannot be listed.
        """
        # An explicit stack instead of recursion: trees may be deeper than Python's recursion limit.
        stack: list[bytes] = [b""]
        while stack:
            rel_dir = stack.pop()
            full_dir = os.path.join(self._root, rel_dir) if rel_dir else self._root
            try:
                with os.scandir(full_dir) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                shown = os.fsdecode(full_dir)
                raise rejected(self._location, f"cannot list {shown}: {exc.strerror or exc}") from exc
            subdirs: list[bytes] = []
            for child in children:
                rel = rel_dir + b"/" + child.name if rel_dir else child.name
                entry = self._entry(child, rel)
                if entry.kind is EntryKind.DIRECTORY:
                    subdirs.append(rel)
                yield entry
            # reversed so that the stack pops them in name order
            stack.extend(reversed(subdirs))

    def _entry(self, child: os.DirEntry[bytes], rel: bytes) -> SipEntry:
        path = decode_name(rel)
        try:
            st = child.stat(follow_symlinks=False)
        except OSError as exc:
            raise rejected(self._location, f"cannot stat {decode_name(rel)!r}: {exc.strerror}") from exc
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(child.path)
            except OSError as exc:
                raise rejected(self._location, f"cannot read link {path!r}: {exc.strerror}") from exc
            return SipEntry(path=path, raw_path=rel, kind=EntryKind.SYMLINK, link_target=decode_name(target))
        if stat.S_ISDIR(mode):
            return SipEntry(path=path, raw_path=rel, kind=EntryKind.DIRECTORY)
        if stat.S_ISREG(mode):
            return SipEntry(path=path, raw_path=rel, kind=EntryKind.FILE, size=st.st_size)
        return SipEntry(path=path, raw_path=rel, kind=EntryKind.SPECIAL)

    def _full(self, path: str) -> bytes:
        return os.path.join(self._root, encode_name(path))

    def _open_fd(self, path: str) -> int:
        # Component by component, relative to the folder and never through a symbolic link: what is
        # read is the file quality assurance saw, even if a link appeared in the tree since.
        parts = [p for p in encode_name(path).split(b"/") if p not in (b"", b".")]
        if not parts or b".." in parts:
            raise NotFound(f"no file {path!r} in SIP {self._location}")
        fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = _BASE_FLAGS if last else _BASE_FLAGS | os.O_DIRECTORY
                try:
                    try:
                        child = os.open(part, flags | _NOATIME, dir_fd=fd)
                    except PermissionError:
                        child = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        raise NotFound(f"no file {path!r} in SIP {self._location}") from exc
                    raise
                os.close(fd)
                fd = child
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NotFound(f"{path!r} in SIP {self._location} is not a regular file")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open(self, path: str) -> BinaryIO:
        """Open the regular file ``path`` for streaming (a symlink is never followed here).

        Raises:
            NotFound: if there is no such regular file.
        """
        fd = self._open_fd(path)
        return os.fdopen(fd, "rb", buffering=1 << 20)

    def read_bytes(self, path: str, limit: int = 64 << 20) -> bytes:
        """Read the regular file ``path`` whole.

        Raises:
            NotFound: if there is no such regular file.
            SipRejected: SIP-E008 if it is larger than ``limit`` bytes.
        """
        with self.open(path) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise too_large(path, os.stat(self._full(path), follow_symlinks=False).st_size, limit)
        return data

    def close(self) -> None:
        """Nothing to release: files are opened per call."""

    def __repr__(self) -> str:
        return f"DirectorySource({self._location!r})"
