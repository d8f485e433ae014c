"""BagIt access to a bag inside a SIP of any form."""

from __future__ import annotations

from collections.abc import Iterator

from oais.domain.packages import EntryKind
from oais.domain.ports import SipSource


class SourceBagFiles:
    """The :class:`~oais.domain.ports.BagFiles` view of a bag that sits at ``root`` in a SIP.

    ``root`` is what :func:`oais.ingest.qa.find_bag_root` returned: ``""`` or ``"name/"``.
    """

    def __init__(self, source: SipSource, root: str) -> None:
        """View the bag at ``root`` (``""`` or ending in ``/``) inside ``source``."""
        if root and not root.endswith("/"):
            root += "/"
        self._source = source
        self._root = root

    def list_files(self) -> Iterator[tuple[str, int]]:
        """Every regular file of the bag, as (path relative to the bag root, size in bytes).

        A tar hard link is a file with its target's content and size; symbolic links are not
        regular files and are left to quality assurance.

        Raises:
            SipRejected: SIP-E008 if the SIP cannot be listed.
        """
        sizes: dict[str, int] = {}
        for entry in self._source.entries():
            if entry.kind is EntryKind.FILE:
                sizes[entry.path] = entry.size
            elif entry.kind is EntryKind.HARDLINK and entry.link_target in sizes:
                # tar writes a hard link after its target, so the target's size is already known
                sizes[entry.path] = sizes[entry.link_target]
            else:
                continue
            if entry.path.startswith(self._root):
                yield entry.path[len(self._root) :], sizes[entry.path]

    def read_bytes(self, path: str) -> bytes:
        """A small file of the bag (tag files), by its path relative to the bag root.

        Raises:
            NotFound: if there is no such file.
            SipRejected: SIP-E008 if it is too large to read whole.
        """
        return self._source.read_bytes(self._root + path)


__all__ = ["SourceBagFiles"]
