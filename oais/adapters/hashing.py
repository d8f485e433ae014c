"""Digest computation: every algorithm over the same bytes, in one pass."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Protocol

import xxhash

from oais.domain.errors import ConfigError
from oais.domain.fixity import DigestAlgorithm

#: The most bytes read at a time: large enough for fast sequential I/O, small enough for many workers.
CHUNK = 4 << 20


class Hasher(Protocol):
    """The part of hashlib's interface every digest object has."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def _xxh3_128() -> Hasher:
    h: Hasher = xxhash.xxh3_128()
    return h


_FACTORIES: dict[DigestAlgorithm, Callable[[], Hasher]] = {
    DigestAlgorithm.MD5: lambda: hashlib.md5(usedforsecurity=False),
    DigestAlgorithm.SHA1: lambda: hashlib.sha1(usedforsecurity=False),
    DigestAlgorithm.SHA224: hashlib.sha224,
    DigestAlgorithm.SHA256: hashlib.sha256,
    DigestAlgorithm.SHA384: hashlib.sha384,
    DigestAlgorithm.SHA512: hashlib.sha512,
    DigestAlgorithm.XXH3_128: _xxh3_128,
}


def new_hasher(algorithm: DigestAlgorithm) -> Hasher:
    """A fresh digest object for ``algorithm``.

    Raises:
        ConfigError: if the algorithm has no implementation (the registry is closed).
    """
    factory = _FACTORIES.get(algorithm)
    if factory is None:
        raise ConfigError(f"no implementation for digest algorithm {algorithm.value!r}")
    return factory()


class MultiHasher:
    """Feeds the same bytes to several digest algorithms."""

    def __init__(self, algorithms: Iterable[DigestAlgorithm]) -> None:
        """Start one digest per algorithm.

        Raises:
            ConfigError: if an algorithm has no implementation (the registry is closed).
        """
        self._hashes = {a: new_hasher(a) for a in sorted(set(algorithms), key=lambda a: a.value)}

    def update(self, data: bytes | memoryview) -> None:
        """Add bytes to every digest."""
        for h in self._hashes.values():
            h.update(data)

    def hexdigests(self) -> dict[DigestAlgorithm, str]:
        """The lower-case hexadecimal digests so far."""
        return {a: h.hexdigest() for a, h in self._hashes.items()}


def digest_bytes(data: bytes, algorithms: Iterable[DigestAlgorithm]) -> dict[DigestAlgorithm, str]:
    """Digests of an in-memory byte string (small files: tag files, test data)."""
    hasher = MultiHasher(algorithms)
    hasher.update(data)
    return hasher.hexdigests()


def buffer_size(size: int) -> int:
    """A read buffer for a file of ``size`` bytes: no larger than the file, at most :data:`CHUNK`.

    Most files are small: a 4 MiB buffer each would cost more to allocate than to read them.
    """
    return max(4096, min(CHUNK, size + 1))


def hash_file(
    path: str | os.PathLike[str],
    algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    progress: Callable[[int], None] | None = None,
) -> tuple[str, int]:
    """The digest and size of a file, read once in chunks.

    Args:
        path: the file.
        algorithm: the digest to compute.
        progress: called with the number of bytes of each chunk read.

    Returns:
        (lower-case hexadecimal digest, number of bytes read).

    Raises:
        OSError: if the file cannot be opened or read.
        ConfigError: if the algorithm has no implementation.
    """
    hasher = new_hasher(algorithm)
    size = 0
    with open(path, "rb", buffering=0) as f:
        buffer = bytearray(buffer_size(os.fstat(f.fileno()).st_size))
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            hasher.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return hasher.hexdigest(), size
