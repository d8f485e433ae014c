"""Digest algorithms and fixity.

sha256 is the digest of record (it goes into the BagIt manifests and PREMIS fixity). xxh3_128 is
kept beside it for fast audits. The other algorithms are accepted in submitted bags. The registry
is closed: an algorithm that is not listed here is an error, never silently skipped.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from oais.domain.errors import StorageError


class DigestAlgorithm(StrEnum):
    """Algorithms oais can compute, named as BagIt manifest file names name them."""

    MD5 = "md5"
    SHA1 = "sha1"
    SHA224 = "sha224"
    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"
    XXH3_128 = "xxh3_128"

    @property
    def premis_name(self) -> str:
        """The name for PREMIS ``messageDigestAlgorithm`` (id.loc.gov cryptographicHashFunctions)."""
        return _PREMIS_NAMES[self]

    @property
    def hex_length(self) -> int:
        """Number of hexadecimal digits of a digest."""
        return _HEX_LENGTHS[self]

    @classmethod
    def from_bagit_name(cls, name: str) -> DigestAlgorithm | None:
        """The algorithm named in a manifest file name (``manifest-<name>.txt``), or None if unknown."""
        try:
            return cls(name.lower())
        except ValueError:
            return None


_PREMIS_NAMES = {
    DigestAlgorithm.MD5: "MD5",
    DigestAlgorithm.SHA1: "SHA-1",
    DigestAlgorithm.SHA224: "SHA-224",
    DigestAlgorithm.SHA256: "SHA-256",
    DigestAlgorithm.SHA384: "SHA-384",
    DigestAlgorithm.SHA512: "SHA-512",
    DigestAlgorithm.XXH3_128: "XXH3-128",
}

_HEX_LENGTHS = {
    DigestAlgorithm.MD5: 32,
    DigestAlgorithm.SHA1: 40,
    DigestAlgorithm.SHA224: 56,
    DigestAlgorithm.SHA256: 64,
    DigestAlgorithm.SHA384: 96,
    DigestAlgorithm.SHA512: 128,
    DigestAlgorithm.XXH3_128: 32,
}

#: The digest of record and the fast-check digest, computed for every file at ingest.
RECORD_ALGORITHM = DigestAlgorithm.SHA256
FAST_ALGORITHM = DigestAlgorithm.XXH3_128


class Digest(BaseModel):
    """One digest of one file."""

    model_config = ConfigDict(frozen=True)

    algorithm: DigestAlgorithm
    value: str  # lower-case hexadecimal


class FixityMismatch(StorageError):
    """Bytes read back differ from the digests of record."""

    def __init__(self, path: str, algorithm: DigestAlgorithm, expected: str, actual: str) -> None:
        super().__init__(f"{path}: {algorithm.value} is {actual}, expected {expected}")
        self.path = path
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[type[FixityMismatch], tuple[str, DigestAlgorithm, str, str]]:
        return (type(self), (self.path, self.algorithm, self.expected, self.actual))
