"""Helpers shared by the SIP readers: name tidying, rejections, bounded streams."""

from __future__ import annotations

import io
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable
from typing import BinaryIO

from oais.domain.errors import SipRejected
from oais.domain.issues import issue


def tidy_member_name(raw: bytes) -> bytes:
    """Drop empty and ``.`` components of an archive member name, keeping ``/`` and ``..``.

    ``./a//b/`` becomes ``a/b``; ``/etc/passwd`` and ``../x`` keep what makes them dangerous so that
    quality assurance reports them.
    """
    parts = [p for p in raw.split(b"/") if p not in (b"", b".")]
    joined = b"/".join(parts)
    return b"/" + joined if raw.startswith(b"/") else joined


def decode_name(raw: bytes) -> str:
    """Decode a name as UTF-8, keeping undecodable bytes as lone surrogates (reported as SIP-E006)."""
    return raw.decode("utf-8", "surrogateescape")


def encode_name(path: str) -> bytes:
    """The bytes a decoded SIP path stands for (inverse of :func:`decode_name`)."""
    return path.encode("utf-8", "surrogateescape")


def rejected(location: str, problem: str) -> SipRejected:
    """A SIP-E008 rejection naming the SIP and what is wrong with it."""
    return SipRejected(
        f"cannot read SIP {location}: {problem}",
        [issue("SIP-E008", location, f"{location}: {problem}")],
    )


def too_large(path: str, size: int, limit: int) -> SipRejected:
    """The error :meth:`read_bytes` raises for a file above its limit (a coded, recordable rejection)."""
    message = f"is {size} bytes, more than the {limit} bytes a tag or metadata file may have"
    return SipRejected(f"{path} {message}", [issue("SIP-E008", path, message)])


def read_whole(open_member: Callable[[str], BinaryIO], path: str, size: int, limit: int) -> bytes:
    """Read a member of ``size`` bytes whole, refusing one above ``limit`` (``read_bytes`` of a source).

    Raises:
        SipRejected: SIP-E008 if ``size`` is above ``limit``.
    """
    if size > limit:
        raise too_large(path, size, limit)
    with open_member(path) as stream:
        return stream.read()


class FileSlice(io.RawIOBase):
    """``length`` bytes of a file from ``offset``, read with ``pread`` on a private descriptor.

    Each slice owns its descriptor and never moves a shared file position, so slices of one archive
    can be read at once, in threads or processes.
    """

    def __init__(self, path: str, offset: int, length: int) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._start = offset
        self._end = offset + length
        self._pos = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._end - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        if not data:
            raise OSError(f"archive ended {self._end - self._pos} bytes early")
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class Closing(io.RawIOBase):
    """A raw stream over ``read`` that also runs ``on_close`` (to release an archive handle).

    Damage found while reading (a CRC mismatch, a truncated compressed stream) is raised as
    :class:`SipRejected` with SIP-E008 naming ``location`` and ``member``, not as a library error.
    """

    def __init__(
        self, read: Callable[[int], bytes], on_close: Callable[[], None], location: str, member: str
    ) -> None:
        super().__init__()
        self._read = read
        self._on_close = on_close
        self._location = location
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        try:
            data = self._read(len(view))
        except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
            raise rejected(self._location, f"member {self._member!r} is damaged ({exc})") from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._on_close()
        super().close()


def buffered(raw: io.RawIOBase) -> io.BufferedReader:
    """Wrap a raw stream for efficient reads of any size."""
    return io.BufferedReader(raw, buffer_size=1 << 20)
