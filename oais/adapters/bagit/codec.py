"""The :class:`~oais.domain.ports.BagCodec` adapter: reads and writes BagIt 1.0 bags (RFC 8493)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from oais.adapters.bagit import reader, writer
from oais.domain.bag import BagStructure
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue, issue
from oais.domain.ports import BagFiles, Clock


class BagItCodec:
    """Reads and writes BagIt 1.0 bags without changing the working directory or the bag on disk.

    Args:
        clock: supplies the Bagging-Date of written bags whose info fields do not give one. The
            codec never reads the system clock itself.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock

    def read_structure(self, files: BagFiles) -> BagStructure:
        """Parse a bag's tag files and list its payload, collecting every structural problem.

        Tag manifest digests are checked here (tag files are small); payload digests are not.

        Args:
            files: the bag's files.

        Returns:
            The structure; ``issues`` lists every BAG-* problem found without reading payload.

        Raises:
            NotFound: if ``files`` cannot list the bag at all.
        """
        return reader.read_structure(files)

    def check_payload(
        self, structure: BagStructure, actual: Mapping[str, Mapping[DigestAlgorithm, str]]
    ) -> list[Issue]:
        """Compare the digests computed over the payload with every payload manifest.

        Manifest entries whose file is absent are skipped: :meth:`read_structure` reported them.

        Args:
            structure: as returned by :meth:`read_structure`.
            actual: bag-relative payload path -> computed digests (every algorithm the bag declares).

        Returns:
            One BAG-E008 issue per file and algorithm whose digest differs.

        Raises:
            ValueError: if ``actual`` lacks a digest the manifests need for a payload file.
        """
        issues: list[Issue] = []
        lacking: list[str] = []
        for algorithm in sorted(structure.manifests, key=lambda a: a.value):
            name = f"manifest-{algorithm.value}.txt"
            for path, expected in sorted(structure.manifests[algorithm].items()):
                if path not in structure.payload:
                    continue
                computed = actual.get(path, {}).get(algorithm)
                if computed is None:
                    lacking.append(f"{path} ({algorithm.value})")
                    continue
                if computed.lower() != expected:
                    issues.append(
                        issue(
                            "BAG-E008",
                            path,
                            f"{algorithm.value} is {computed.lower()}, {name} says {expected}",
                        )
                    )
        if lacking:
            shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
            raise ValueError(f"no computed digest for {shown}")
        return issues

    def write_tags(
        self,
        bag_dir: Path,
        payload: Iterable[tuple[str, int, Mapping[DigestAlgorithm, str]]],
        info: Sequence[tuple[str, str]],
        fetch: Sequence[tuple[str, int, str]] = (),
    ) -> None:
        """Write bagit.txt, payload manifests, bag-info.txt (with Payload-Oxum), fetch.txt and the tag
        manifest.

        One payload manifest is written per algorithm the entries carry, except xxh3_128 (kept in
        PREMIS and the catalog, so that any BagIt tool reads the bag cleanly). Lines are sorted by
        path, use LF endings and UTF-8, and paths are percent-encoded for ``%``, CR and LF.

        Args:
            bag_dir: the bag's root; payload files are already under ``data/``.
            payload: (bag-relative path, size, digests) for every payload file, sha256 among the digests.
            info: bag-info.txt fields in order. Payload-Oxum is added; Bagging-Date is added from the
                clock unless given here (as YYYY-MM-DD).
            fetch: (URL, size, bag path) of payload files kept elsewhere (fetch.txt); none by default.

        Raises:
            ValueError: if the entries or fields cannot make a valid bag (see
                :func:`oais.adapters.bagit.writer.write_tags`).
            StorageError: if a tag file cannot be written.
        """
        writer.write_tags(bag_dir, payload, info, self._clock, fetch)
