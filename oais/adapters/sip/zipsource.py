"""A SIP submitted as a zip archive.

The central directory is parsed here rather than by :class:`zipfile.ZipFile` because ``zipfile``
decodes names on the way in (and fails on a name flagged UTF-8 that is not), which would hide the
bytes quality assurance must judge. Member data is still decompressed and CRC-checked by
:class:`zipfile.ZipExtFile`.

Names: a name flagged UTF-8 (general purpose bit 11) is UTF-8. A name without the flag is, by the
specification, in code page 437, but most tools write UTF-8 there without setting the flag; such
a name is read as UTF-8 when it is valid UTF-8 (or when an Info-ZIP Unicode Path field confirms a
UTF-8 spelling), and otherwise surfaces as undecodable (SIP-E006) rather than being guessed into
a code page and stored under a name the producer never wrote.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from oais.adapters.sip._common import (
    Closing,
    buffered,
    decode_name,
    read_whole,
    rejected,
    tidy_member_name,
)
from oais.domain.errors import NotFound
from oais.domain.packages import EntryKind, SipEntry, SipForm

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")

_SIG_EOCD = b"PK\x05\x06"
_SIG_EOCD64_LOCATOR = b"PK\x06\x07"
_SIG_EOCD64 = b"PK\x06\x06"
_SIG_CENTRAL = b"PK\x01\x02"
_SIG_LOCAL = b"PK\x03\x04"

_FLAG_ENCRYPTED = 0x1
_FLAG_UTF8 = 0x800
_SYSTEM_UNIX = 3
_MS_DOS_DIRECTORY = 0x10
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_MAX_LINK = 4096  # PATH_MAX: a symlink target stored as member content is never longer


@dataclass(frozen=True)
class _Member:
    path: str
    raw: bytes
    kind: EntryKind
    method: int
    flags: int
    crc: int
    compressed: int
    size: int
    header_offset: int


def _zip64_extra(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Replace 0xFFFFFFFF fields by the 64-bit values of the zip64 extra field (id 0x0001)."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            values = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        pos += 4 + length
    return size, compressed, offset


def _unicode_path(extra: bytes, raw: bytes) -> bytes | None:
    """The UTF-8 name of an Info-ZIP Unicode Path field (0x7075), if it matches the header name."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x7075 and len(body) >= 5 and body[0] == 1:
            (crc,) = struct.unpack_from("<L", body, 1)
            name = body[5:]
            if crc == zlib.crc32(raw):
                try:
                    name.decode("utf-8")
                except UnicodeDecodeError:
                    return None
                return name
        pos += 4 + length
    return None


class ZipSource:
    """A SIP that is a zip archive (zip64 included). Picklable: handles are re-opened per process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the zip archive at ``path`` (its central directory is parsed on first use)."""
        self._path = os.fspath(path)
        self._members: dict[str, _Member] | None = None
        self._order: list[_Member] = []

    def __getstate__(self) -> dict[str, Any]:
        # Only the path travels: a worker parses the central directory again in its own process.
        return {"_path": self._path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._path = state["_path"]
        self._members = None
        self._order = []

    @property
    def form(self) -> SipForm:
        """Always :attr:`SipForm.ZIP`."""
        return SipForm.ZIP

    @property
    def location(self) -> str:
        """The archive's path as given."""
        return self._path

    @property
    def parallel_reads(self) -> bool:
        """Members of a zip can be read independently."""
        return True

    # -- central directory -------------------------------------------------------------------

    def check(self) -> None:
        """Parse the central directory now.

        Raises:
            SipRejected: SIP-E008 if the archive is corrupt or uses an unsupported feature.
        """
        self._index()

    def _index(self) -> dict[str, _Member]:
        if self._members is None:
            try:
                order = self._read_central_directory()
            except (OSError, struct.error, ValueError) as exc:
                raise rejected(self._path, f"corrupt zip archive ({exc})") from exc
            members: dict[str, _Member] = {}
            for m in order:
                # a later duplicate is reported by QA; reading keeps the first, as listed first
                members.setdefault(m.path, m)
            self._order = order
            self._members = members
        return self._members

    def _read_central_directory(self) -> list[_Member]:
        with open(self._path, "rb") as f:
            f.seek(0, os.SEEK_END)
            file_size = f.tell()
            tail_len = min(file_size, _EOCD.size + 0xFFFF)
            f.seek(file_size - tail_len)
            tail = f.read(tail_len)
            eocd_at = tail.rfind(_SIG_EOCD)
            while eocd_at >= 0 and eocd_at + _EOCD.size > len(tail):
                eocd_at = tail.rfind(_SIG_EOCD, 0, eocd_at)
            if eocd_at < 0:
                raise ValueError("end of central directory not found; the file is truncated or not a zip")
            fields = _EOCD.unpack_from(tail, eocd_at)
            count, cd_size, cd_offset = fields[4], fields[5], fields[6]
            eocd_pos = file_size - tail_len + eocd_at
            overhead = 0
            if eocd_at >= _EOCD64_LOCATOR.size:
                loc = _EOCD64_LOCATOR.unpack_from(tail, eocd_at - _EOCD64_LOCATOR.size)
                if loc[0] == _SIG_EOCD64_LOCATOR:
                    f.seek(loc[2])
                    rec = _EOCD64.unpack(f.read(_EOCD64.size))
                    if rec[0] != _SIG_EOCD64:
                        raise ValueError("zip64 end of central directory record not found")
                    count, cd_size, cd_offset = rec[7], rec[8], rec[9]
                    overhead = _EOCD64.size + _EOCD64_LOCATOR.size
            # bytes prepended to the archive (self-extracting stubs) shift every recorded offset
            shift = eocd_pos - overhead - cd_size - cd_offset
            if shift < 0:
                raise ValueError("central directory lies outside the file")
            f.seek(cd_offset + shift)
            members: list[_Member] = []
            for _ in range(count):
                head = f.read(_CENTRAL.size)
                if len(head) < _CENTRAL.size or head[:4] != _SIG_CENTRAL:
                    raise ValueError("central directory entry is damaged")
                c = _CENTRAL.unpack(head)
                (create_system, flags, method, crc, compressed, size) = (c[2], c[5], c[6], c[9], c[10], c[11])
                name_len, extra_len, comment_len, external, offset = c[12], c[13], c[14], c[17], c[18]
                raw = f.read(name_len)
                extra = f.read(extra_len)
                f.seek(comment_len, os.SEEK_CUR)
                if len(raw) != name_len or len(extra) != extra_len:
                    raise ValueError("central directory is truncated")
                size, compressed, offset = _zip64_extra(extra, size, compressed, offset)
                if not flags & _FLAG_UTF8:
                    raw = _unicode_path(extra, raw) or raw
                members.append(
                    self._member(
                        raw, create_system, external, flags, method, crc, compressed, size, offset + shift
                    )
                )
            return members

    @staticmethod
    def _member(
        raw: bytes,
        create_system: int,
        external: int,
        flags: int,
        method: int,
        crc: int,
        compressed: int,
        size: int,
        offset: int,
    ) -> _Member:
        # many writers (zipfile.writestr among them) record permissions without a file type:
        # only an explicit type makes a member anything but a regular file
        mode = (external >> 16) if create_system == _SYSTEM_UNIX else 0
        is_dir_name = raw.endswith(b"/")
        if stat.S_ISLNK(mode):
            kind = EntryKind.SYMLINK
        elif is_dir_name or stat.S_ISDIR(mode) or (mode == 0 and external & _MS_DOS_DIRECTORY):
            kind = EntryKind.DIRECTORY
        elif stat.S_IFMT(mode) in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
            kind = EntryKind.SPECIAL
        else:
            kind = EntryKind.FILE
        tidy = tidy_member_name(raw)
        return _Member(
            path=decode_name(tidy),
            raw=raw,
            kind=kind,
            method=method,
            flags=flags,
            crc=crc,
            compressed=compressed,
            size=size,
            header_offset=offset,
        )

    # -- the SipSource protocol --------------------------------------------------------------

    def entries(self) -> Iterator[SipEntry]:
        """Every member, in central directory order, without reading content (except link targets).

        Raises:
            SipRejected: SIP-E008 if the archive is corrupt, encrypted or uses an unsupported method.
        """
        self._index()
        for m in self._order:
            if not m.path and m.kind is EntryKind.DIRECTORY:
                continue  # "./", the archive's root, is not a name in the SIP
            if m.kind is EntryKind.DIRECTORY:
                yield SipEntry(path=m.path, raw_path=m.raw, kind=m.kind)
            elif m.kind is EntryKind.SYMLINK:
                target = self._read_member(m, _MAX_LINK)
                yield SipEntry(path=m.path, raw_path=m.raw, kind=m.kind, link_target=decode_name(target))
            elif m.kind is EntryKind.SPECIAL:
                yield SipEntry(path=m.path, raw_path=m.raw, kind=m.kind)
            else:
                self._readable(m)
                yield SipEntry(path=m.path, raw_path=m.raw, kind=m.kind, size=m.size)

    def _readable(self, m: _Member) -> None:
        if m.flags & _FLAG_ENCRYPTED:
            raise rejected(self._path, f"member {m.path!r} is encrypted")
        if m.method not in _SUPPORTED_METHODS:
            raise rejected(self._path, f"member {m.path!r} uses unsupported compression method {m.method}")

    def _stream(self, m: _Member) -> zipfile.ZipExtFile:
        self._readable(m)
        f = open(self._path, "rb")  # noqa: SIM115 - handed to ZipExtFile, which closes it
        try:
            f.seek(m.header_offset)
            local = f.read(_LOCAL.size)
            if len(local) < _LOCAL.size or local[:4] != _SIG_LOCAL:
                raise rejected(self._path, f"local header of member {m.path!r} is damaged")
            fields = _LOCAL.unpack(local)
            f.seek(fields[10] + fields[11], os.SEEK_CUR)
            info = zipfile.ZipInfo()
            info.compress_type = m.method
            info.compress_size = m.compressed
            info.file_size = m.size
            info.CRC = m.crc
            info.flag_bits = m.flags
            info.filename = m.path
            return zipfile.ZipExtFile(f, "r", info, None, True)
        except BaseException:
            f.close()
            raise

    def _read_member(self, m: _Member, limit: int) -> bytes:
        if m.size > limit:
            raise rejected(self._path, f"symbolic link {m.path!r} has a {m.size}-byte target")
        try:
            with self._stream(m) as s:
                return s.read(limit)
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise rejected(self._path, f"member {m.path!r} cannot be read ({exc})") from exc

    def _file(self, path: str) -> _Member:
        m = self._index().get(path)
        if m is None or m.kind is not EntryKind.FILE:
            raise NotFound(f"no file {path!r} in SIP {self._path}")
        return m

    def open(self, path: str) -> BinaryIO:
        """Stream the member ``path``, decompressing and checking its CRC as it is read.

        Raises:
            NotFound: if there is no such regular file.
        """
        stream = self._stream(self._file(path))
        return cast(BinaryIO, buffered(Closing(stream.read, stream.close, self._path, path)))

    def read_bytes(self, path: str, limit: int = 64 << 20) -> bytes:
        """Read the member ``path`` whole.

        Raises:
            NotFound: if there is no such regular file.
            SipRejected: SIP-E008 if it is larger than ``limit`` bytes.
        """
        return read_whole(self.open, path, self._file(path).size, limit)

    def close(self) -> None:
        """Forget the parsed central directory (no file stays open between calls)."""
        self._members = None
        self._order = []

    def __repr__(self) -> str:
        return f"ZipSource({self._path!r})"
