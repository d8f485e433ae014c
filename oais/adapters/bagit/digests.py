"""Digest objects for every algorithm of :class:`~oais.domain.fixity.DigestAlgorithm`."""

from __future__ import annotations

import hashlib
from typing import Protocol

import xxhash

from oais.domain.fixity import DigestAlgorithm


class Hasher(Protocol):
    """The part of hashlib's interface that tag manifests need."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: DigestAlgorithm) -> Hasher:
    """A fresh digest object for ``algorithm``.

    Args:
        algorithm: any member of the closed registry.

    Returns:
        An object with ``update`` and ``hexdigest``.
    """
    if algorithm is DigestAlgorithm.XXH3_128:
        hasher: Hasher = xxhash.xxh3_128()
        return hasher
    return hashlib.new(algorithm.value)


def digest_bytes(data: bytes, algorithm: DigestAlgorithm) -> str:
    """The lower-case hexadecimal digest of ``data``."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
