"""Validation of any BagIt bag, as ``oais bag validate`` runs it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue, issue
from oais.domain.packages import EntryKind
from oais.domain.ports import BagCodec, BagFiles, CopyItem, PayloadCopier, SipReader, SipSource
from oais.ingest.qa import find_bag_root


class BagValidator:
    """Checks a bag completely: its tag files, every manifest of every declared algorithm, its payload."""

    def __init__(
        self,
        *,
        sip_reader: SipReader,
        bag_files: Callable[[SipSource, str], BagFiles],
        copier: PayloadCopier,
        bag_codec: BagCodec,
    ) -> None:
        """Wire the validator to its ports (see ``oais.bootstrap``)."""
        self._reader = sip_reader
        self._bag_files = bag_files
        self._copier = copier
        self._codec = bag_codec

    def validate(self, path: Path, progress: Callable[[int], None] | None = None) -> list[Issue]:
        """Every problem of the bag at ``path`` (a directory, or a zip or tar of one).

        Returns:
            Every issue found (errors and warnings); no error means the bag is valid.

        Raises:
            SipRejected: SIP-E008 if ``path`` cannot be read at all.
        """
        self._copier.prepare()
        source = self._reader.open_sip(path)
        try:
            entries = list(source.entries())
            root = find_bag_root(entries)
            if root is None:
                return [issue("BAG-E001", str(path), "bagit.txt is missing: this is not a BagIt bag")]
            special = [
                issue("SIP-E003", e.path, "special file (device, socket or FIFO) inside the bag")
                for e in entries
                if e.kind is EntryKind.SPECIAL
            ]
            del entries
            structure = self._codec.read_structure(self._bag_files(source, root))
            found = list(structure.issues) + special
            algorithms: set[DigestAlgorithm] = structure.algorithms
            items = [
                CopyItem(source=f"{root}{p}", target=p, size=size)
                for p, size in sorted(structure.payload.items())
            ]
            if algorithms and items:
                actual = {
                    copied.target: dict(copied.digests)
                    for copied in self._copier.copy(
                        source, items, None, algorithms, identify=False, progress=progress
                    )
                }
                found.extend(self._codec.check_payload(structure, actual))
            return found
        finally:
            source.close()
