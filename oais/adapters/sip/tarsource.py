"""A SIP submitted as a tar archive, plain or compressed (gzip, bzip2, xz).

Compression is recognised by the file's first bytes, never by its extension. A plain tar is read
with bounded ``pread`` slices at each member's data offset, so members can be read by several
processes at once. A compressed tar can only be read front to back: reading members in archive
order (the order of :meth:`TarSource.entries`) costs one pass; going back restarts decompression.

``tarfile`` stops silently at the first damaged header; this reader insists on an end-of-archive
block where the listing stopped and on every member's data being present, so that a truncated or
damaged archive is refused (SIP-E008) instead of losing its last files.
"""

from __future__ import annotations

import lzma
import os
import tarfile
import zlib
from collections.abc import Iterator
from typing import IO, Any, BinaryIO, cast

from oais.adapters.sip._common import (
    Closing,
    FileSlice,
    buffered,
    decode_name,
    read_whole,
    rejected,
    tidy_member_name,
)
from oais.domain.errors import NotFound
from oais.domain.packages import EntryKind, SipEntry, SipForm

_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_BLOCK = tarfile.BLOCKSIZE
_MAX_HOPS = 40
#: errors the decompressors and tarfile raise on damaged input
_DAMAGED = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def compression_of(head: bytes) -> str | None:
    """The compression a file's first bytes announce: "gz", "bz2", "xz", or None."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def _member_path(info: tarfile.TarInfo) -> tuple[str, bytes]:
    raw = info.name.encode("utf-8", "surrogateescape")
    return decode_name(tidy_member_name(raw)), raw


class TarSource:
    """A SIP that is a tar archive. Picklable: handles are re-opened lazily in each process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the tar archive at ``path`` (nothing is opened until first use)."""
        self._path = os.fspath(path)
        self._compression: str | None = None
        self._detected = False
        self._members: dict[str, tarfile.TarInfo] | None = None
        self._reader: tarfile.TarFile | None = None

    def __getstate__(self) -> dict[str, Any]:
        # An open TarFile (and its decompressor) cannot cross a process boundary; the member index
        # is rebuilt by the worker from the archive's headers.
        return {"_path": self._path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_path"])  # type: ignore[misc]

    # -- properties --------------------------------------------------------------------------

    @property
    def form(self) -> SipForm:
        """Always :attr:`SipForm.TAR`."""
        return SipForm.TAR

    @property
    def location(self) -> str:
        """The archive's path as given."""
        return self._path

    @property
    def compression(self) -> str | None:
        """ "gz", "bz2" or "xz" when the archive is compressed, else None.

        Raises:
            SipRejected: SIP-E008 if the file cannot be read.
        """
        if not self._detected:
            try:
                with open(self._path, "rb") as f:
                    head = f.read(8)
            except OSError as exc:
                raise rejected(self._path, f"cannot read ({exc.strerror})") from exc
            self._compression = compression_of(head)
            self._detected = True
        return self._compression

    @property
    def parallel_reads(self) -> bool:
        """True for a plain tar; a compressed stream can only be read in order."""
        return self.compression is None

    # -- listing -----------------------------------------------------------------------------

    def _open_tar(self) -> tarfile.TarFile:
        mode = f"r:{self.compression}" if self.compression else "r:"
        try:
            # surrogateescape keeps names that are not valid UTF-8 for quality assurance to report
            return tarfile.open(self._path, mode, encoding="utf-8", errors="surrogateescape")  # type: ignore[call-overload,no-any-return]
        except _DAMAGED as exc:
            raise rejected(self._path, f"not a readable tar archive ({exc})") from exc

    def check(self) -> None:
        """Read the first header now.

        Raises:
            SipRejected: SIP-E008 if the file is not a readable tar archive.
        """
        self._open_tar().close()

    def entries(self) -> Iterator[SipEntry]:
        """Every member, in archive order; content is not read (compressed data is decompressed).

        Raises:
            SipRejected: SIP-E008 if the archive is truncated or damaged.
        """
        members: dict[str, tarfile.TarInfo] = {}
        tf = self._open_tar()
        try:
            file_size = os.path.getsize(self._path)
            iterator = iter(tf)
            while True:
                try:
                    info = next(iterator)
                except StopIteration:
                    break
                except _DAMAGED as exc:
                    raise rejected(self._path, f"damaged tar archive ({exc})") from exc
                if (
                    self.compression is None
                    and info.offset_data + (info.size if info.isreg() else 0) > file_size
                ):
                    raise rejected(self._path, f"archive is truncated inside member {info.name!r}")
                path, raw = _member_path(info)
                if not path and info.isdir():
                    continue  # "./", the archive's root, is not a name in the SIP
                members.setdefault(path, info)
                yield self._entry(info, path, raw)
            self._check_end(tf)
        finally:
            tf.close()
        self._members = members

    def _check_end(self, tf: tarfile.TarFile) -> None:
        """Refuse an archive whose listing stopped somewhere other than an end-of-archive block."""
        fileobj = cast(IO[bytes], tf.fileobj)
        try:
            fileobj.seek(tf.offset)
            block = fileobj.read(_BLOCK)
            if len(block) < _BLOCK or block.count(0) != _BLOCK:
                raise rejected(
                    self._path,
                    f"archive is truncated or damaged after byte {tf.offset} (no end-of-archive block)",
                )
            if self.compression is not None:
                # reading to the end makes the decompressor check its trailer (length and CRC)
                while fileobj.read(1 << 20):
                    pass
        except _DAMAGED as exc:
            raise rejected(self._path, f"compressed stream is damaged or truncated ({exc})") from exc

    @staticmethod
    def _entry(info: tarfile.TarInfo, path: str, raw: bytes) -> SipEntry:
        if info.isreg():
            return SipEntry(path=path, raw_path=raw, kind=EntryKind.FILE, size=info.size)
        if info.isdir():
            return SipEntry(path=path, raw_path=raw, kind=EntryKind.DIRECTORY)
        if info.issym():
            return SipEntry(path=path, raw_path=raw, kind=EntryKind.SYMLINK, link_target=info.linkname)
        if info.islnk():
            # a hard link names another member; tidy it the same way as member names
            target = decode_name(tidy_member_name(info.linkname.encode("utf-8", "surrogateescape")))
            return SipEntry(path=path, raw_path=raw, kind=EntryKind.HARDLINK, link_target=target)
        # devices, FIFOs and member types tarfile does not know (it would read those as files)
        return SipEntry(path=path, raw_path=raw, kind=EntryKind.SPECIAL)

    # -- reading -----------------------------------------------------------------------------

    def _index(self) -> dict[str, tarfile.TarInfo]:
        if self._members is None:
            for _ in self.entries():
                pass
        assert self._members is not None
        return self._members

    def _file(self, path: str) -> tarfile.TarInfo:
        members = self._index()
        info = members.get(path)
        for _ in range(_MAX_HOPS):
            if info is None or not info.islnk():
                break
            # a hard link's content is its target's: read that member instead
            target = decode_name(tidy_member_name(info.linkname.encode("utf-8", "surrogateescape")))
            info = members.get(target)
        if info is None or not info.isreg():
            raise NotFound(f"no file {path!r} in SIP {self._path}")
        return info

    def open(self, path: str) -> BinaryIO:
        """Stream the member ``path`` (a hard link reads its target).

        Raises:
            NotFound: if there is no such regular file.
        """
        info = self._file(path)
        if self.compression is None and not info.issparse():
            return cast(BinaryIO, buffered(FileSlice(self._path, info.offset_data, info.size)))
        if self._reader is None:
            self._reader = self._open_tar()
        stream = self._reader.extractfile(info)
        assert stream is not None  # info is a regular file
        # the shared TarFile stays open for the next member; only this member's stream closes
        return cast(BinaryIO, buffered(Closing(stream.read, stream.close, self._path, path)))

    def read_bytes(self, path: str, limit: int = 64 << 20) -> bytes:
        """Read the member ``path`` whole.

        Raises:
            NotFound: if there is no such regular file.
            SipRejected: SIP-E008 if it is larger than ``limit`` bytes.
        """
        return read_whole(self.open, path, self._file(path).size, limit)

    def close(self) -> None:
        """Close the decompressing reader, if one is open."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __repr__(self) -> str:
        return f"TarSource({self._path!r})"


__all__ = ["TarSource", "compression_of"]
