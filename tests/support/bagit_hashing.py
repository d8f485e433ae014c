"""A small sequential payload hasher for BagIt tests (the production copier is parallel)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import xxhash

from oais.domain.fixity import DigestAlgorithm

_CHUNK = 1 << 16


def _hasher(algorithm: DigestAlgorithm) -> hashlib._Hash | xxhash.xxh3_128:
    if algorithm is DigestAlgorithm.XXH3_128:
        return xxhash.xxh3_128()
    return hashlib.new(algorithm.value)


def hash_bytes(data: bytes, algorithm: DigestAlgorithm) -> str:
    """The hexadecimal digest of ``data``."""
    hasher = _hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()


def hash_payload(
    root: Path, paths: Iterable[str], algorithms: Iterable[DigestAlgorithm]
) -> dict[str, dict[DigestAlgorithm, str]]:
    """Digest every file once, reading it in chunks.

    Args:
        root: the bag's root directory.
        paths: bag-relative, '/'-separated file paths.
        algorithms: the digests to compute for each file.

    Returns:
        path -> algorithm -> lower-case hexadecimal digest.
    """
    wanted = list(algorithms)
    result: dict[str, dict[DigestAlgorithm, str]] = {}
    for path in paths:
        hashers = {algorithm: _hasher(algorithm) for algorithm in wanted}
        with open(root.joinpath(*path.split("/")), "rb") as stream:
            while chunk := stream.read(_CHUNK):
                for hasher in hashers.values():
                    hasher.update(chunk)
        result[path] = {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}
    return result
