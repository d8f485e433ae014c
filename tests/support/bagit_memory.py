"""Bags held in memory, for reader tests that need no file system.

Fixture bags are written here by hand (not by the codec's writer) so that reader tests do not
depend on the code under test to build their input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from oais.domain.errors import NotFound


def encode(path: str) -> str:
    """Percent-encode a manifest path as RFC 8493 §2.1.3 says."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def digest(algorithm: str, data: bytes) -> str:
    """Hexadecimal digest with a hashlib algorithm name."""
    return hashlib.new(algorithm, data).hexdigest()


class MemoryBagFiles:
    """:class:`~oais.domain.ports.BagFiles` over a dict of bag-relative path -> bytes."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = dict(files)

    def list_files(self) -> Iterable[tuple[str, int]]:
        return [(path, len(data)) for path, data in sorted(self.files.items())]

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise NotFound(path) from None


def manifest(entries: Mapping[str, bytes], algorithm: str = "sha256", newline: str = "\n") -> bytes:
    """A manifest of ``entries`` (path -> content), two spaces between digest and path."""
    return "".join(
        f"{digest(algorithm, data)}  {encode(path)}{newline}" for path, data in sorted(entries.items())
    ).encode()


def make_bag(
    payload: Mapping[str, bytes],
    *,
    algorithms: Iterable[str] = ("sha256",),
    version: str = "1.0",
    info: str | None = None,
    tag_algorithm: str | None = "sha256",
) -> dict[str, bytes]:
    """A valid bag: bagit.txt, bag-info.txt with Payload-Oxum, manifests and a tag manifest.

    Args:
        payload: bag-relative path (under data/) -> content.
        algorithms: payload manifest algorithms.
        version: the BagIt-Version to declare.
        info: bag-info.txt text; by default one with a correct Payload-Oxum.
        tag_algorithm: algorithm of the tag manifest, or None for no tag manifest.
    """
    files: dict[str, bytes] = dict(payload)
    files["bagit.txt"] = f"BagIt-Version: {version}\nTag-File-Character-Encoding: UTF-8\n".encode()
    if info is None:
        octets = sum(len(data) for data in payload.values())
        info = f"Bagging-Date: 2024-05-01\nPayload-Oxum: {octets}.{len(payload)}\n"
    files["bag-info.txt"] = info.encode()
    for algorithm in algorithms:
        files[f"manifest-{algorithm}.txt"] = manifest(payload, algorithm)
    if tag_algorithm is not None:
        seal(files, tag_algorithm)
    return files


def seal(files: dict[str, bytes], algorithm: str = "sha256") -> None:
    """(Re)write ``tagmanifest-<algorithm>.txt`` over every tag file except tag manifests."""
    tags = {
        path: data
        for path, data in files.items()
        if not path.startswith("data/") and not path.startswith("tagmanifest-")
    }
    files[f"tagmanifest-{algorithm}.txt"] = manifest(tags, algorithm)
