"""The structure of a BagIt bag (RFC 8493) as read from its tag files, before payload is hashed."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue


class FetchEntry(BaseModel):
    """One line of fetch.txt: a payload file listed in the manifests but kept elsewhere."""

    url: str
    size: int | None  # None when the line gives '-'
    path: str  # bag-relative, decoded


class BagStructure(BaseModel):
    """What a bag's tag files declare, and every structural problem found reading them."""

    version: str | None = None  # BagIt-Version from bagit.txt
    encoding: str | None = None  # Tag-File-Character-Encoding
    info: list[tuple[str, str]] = Field(default_factory=list)  # bag-info.txt, in order
    #: algorithm -> bag-relative path (decoded, under data/) -> expected hex digest
    manifests: dict[DigestAlgorithm, dict[str, str]] = Field(default_factory=dict)
    #: algorithm -> bag-relative tag file path -> expected hex digest
    tag_manifests: dict[DigestAlgorithm, dict[str, str]] = Field(default_factory=dict)
    #: every regular file under data/ (bag-relative) with its size
    payload: dict[str, int] = Field(default_factory=dict)
    #: every well-formed fetch.txt line, in order
    fetch: list[FetchEntry] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)

    @property
    def algorithms(self) -> set[DigestAlgorithm]:
        """Every algorithm a payload manifest declares."""
        return set(self.manifests)


_DECODE = {"%25": "%", "%0A": "\n", "%0D": "\r"}
_ESCAPE = re.compile(r"%(?:25|0[AaDd])")
_LINE_END = re.compile(r"\r\n|\r|\n")


def decode_path(text: str) -> str:
    """Undo the percent-encoding of a manifest or fetch.txt path (RFC 8493 §2.1.3).

    Exactly three characters are encoded there: ``%``, CR and LF, as ``%25``, ``%0D`` and ``%0A``.
    Every other ``%`` sequence is literal text, so a general URL decoder must not be used.

    Args:
        text: the path as written in a manifest or fetch line.

    Returns:
        The decoded path.
    """
    if "%" not in text:
        return text
    # One left-to-right pass, so '%250A' becomes '%0A' and is not decoded a second time.
    return _ESCAPE.sub(lambda m: _DECODE[m.group(0).upper()], text)


def manifest_digests(data: bytes, length: int = 64) -> dict[str, str]:
    """The entries of a (tag) manifest this archive wrote itself, read leniently for audits.

    Each line is ``<digest> <whitespace> <path>``; the path is decoded and a leading ``./`` removed.
    Lines that do not have that form, or whose digest does not have ``length`` characters, are
    skipped: an audit does not validate the manifest, it checks the manifest's own digest against the
    tag manifest, which reports any damage to it.

    Args:
        data: the manifest's bytes (UTF-8).
        length: the length of the manifest's hexadecimal digests (64: sha256).

    Returns:
        Bag-relative path -> lower-case hexadecimal digest.
    """
    out: dict[str, str] = {}
    text = data.decode("utf-8", "replace")
    lines = text.split("\n") if "\r" not in text else _LINE_END.split(text)
    for line in lines:
        digest, space, path = line.partition(" ")
        if "\t" in digest:  # a tab before the first space: split on the first blank of either kind
            digest, space, path = line.replace("\t", " ", 1).partition(" ")
        path = path.lstrip(" \t")
        if len(digest) != length or not space or not path:
            continue
        if "%" in path:
            path = decode_path(path)
        out[path[2:] if path.startswith("./") else path] = digest.lower()
    return out
