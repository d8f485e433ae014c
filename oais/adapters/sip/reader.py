"""Opens a SIP of any supported form, recognising archives by their content."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from oais.adapters.sip._common import rejected
from oais.adapters.sip.directory import DirectorySource
from oais.adapters.sip.tarsource import TarSource, compression_of
from oais.adapters.sip.zipsource import ZipSource
from oais.domain.errors import SipRejected
from oais.domain.ports import SipSource

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_NAMES = {"gz": "gzip", "bz2": "bzip2", "xz": "xz"}


def _is_tar_header(block: bytes) -> bool:
    """True if ``block`` is a tar header: ustar magic, or a valid v7 header checksum."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        recorded = int(block[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return recorded == unsigned


class FileSystemSipReader:
    """Opens folders, zip archives and tar archives (plain, gzip, bzip2, xz) on local disk."""

    def open_sip(self, path: Path) -> SipSource:
        """Open ``path`` and check that it can be listed at all.

        The archive kind comes from the file's first bytes; an extension that disagrees does not
        matter, and an archive type that is not supported is refused rather than guessed.

        Args:
            path: a folder or an archive file.

        Returns:
            A source for the SIP; nothing in it has been changed.

        Raises:
            SipRejected: SIP-E008 if the path is missing, unreadable, of an unsupported kind, or a
                corrupt archive.
        """
        location = os.fspath(path)
        try:
            st = os.stat(location)
        except FileNotFoundError as exc:
            raise rejected(location, "no such file or directory") from exc
        except OSError as exc:
            raise rejected(location, f"cannot be read ({exc.strerror})") from exc
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(location):
                    pass
            except OSError as exc:
                raise rejected(location, f"folder cannot be listed ({exc.strerror})") from exc
            return DirectorySource(location)
        if not stat.S_ISREG(st.st_mode):
            raise rejected(location, "neither a folder nor a regular file")
        try:
            with open(location, "rb") as f:
                head = f.read(512)
        except OSError as exc:
            raise rejected(location, f"cannot be read ({exc.strerror})") from exc
        return self._archive(location, head)

    def _archive(self, location: str, head: bytes) -> SipSource:
        if head.startswith(_ZIP_MAGIC) or location.lower().endswith(".zip"):
            # a .zip without the signature at its start may still be a zip with a prefix (a
            # self-extracting stub); parsing its central directory decides
            zip_source = ZipSource(location)
            zip_source.check()
            return zip_source
        compression = compression_of(head)
        if compression is not None or _is_tar_header(head):
            tar_source = TarSource(location)
            try:
                tar_source.check()
            except SipRejected:
                if compression is None:
                    raise
                raise rejected(
                    location, f"{_NAMES[compression]}-compressed, but not a readable tar archive"
                ) from None
            return tar_source
        if not head:
            raise rejected(location, "empty file, not an archive")
        raise rejected(location, "unsupported kind of file (not a folder, zip or tar archive)")


__all__ = ["FileSystemSipReader"]
