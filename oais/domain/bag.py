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
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: ``<digest> <whitespace> <path>``: one manifest line.
MANIFEST_LINE = re.compile(r"(?P<digest>[^ \t]+)[ \t]+(?P<path>.*)", re.DOTALL)


def encode_path(path: str) -> str:
    """Percent-encode a bag-relative path for a manifest or fetch line (RFC 8493 §2.1.3).

    Args:
        path: the '/'-separated path as stored on disk.

    Returns:
        The path with ``%``, CR and LF written as ``%25``, ``%0D`` and ``%0A``.
    """
    # '%' first, or the '%' of the CR and LF escapes would be escaped again.
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(text: str) -> str:
    """Undo :func:`encode_path`.

    Exactly three characters are encoded: ``%``, CR and LF. Every other ``%`` sequence is literal
    text (the conformance suite has payload files named ``%7Edir2``), so a general URL decoder must
    not be used.

    Args:
        text: the path as written in a manifest or fetch line.

    Returns:
        The decoded path.
    """
    if "%" not in text:
        return text
    # One left-to-right pass, so '%250A' becomes '%0A' and is not decoded a second time.
    return _ESCAPE.sub(lambda m: _DECODE[m.group(0).upper()], text)


def split_lines(text: str) -> list[str]:
    """Split tag file text on LF, CRLF or CR only.

    ``str.splitlines`` is not used: it also splits on form feed, U+2028 and other characters that may
    legally appear in a file name.

    Args:
        text: decoded tag file text.

    Returns:
        The lines without their endings; a final line ending does not produce an empty last line.
    """
    lines = text.split("\n") if "\r" not in text else _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def strip_dot_slash(path: str) -> str:
    """Remove leading ``./`` components, which some tools write and which name the bag root."""
    while path.startswith("./"):
        path = path[2:]
    return path


def manifest_digests(data: bytes) -> dict[str, str]:
    """The entries of a sha256 (tag) manifest this archive wrote itself, read leniently for audits.

    Lines that are not ``<digest> <whitespace> <path>`` with a digest of sha256's length are skipped:
    an audit does not validate the manifest, it checks the manifest's own digest against the tag
    manifest, which reports any damage to it.

    Args:
        data: the manifest's bytes (UTF-8).

    Returns:
        Bag-relative path (decoded, without leading ``./``) -> lower-case hexadecimal digest.
    """
    length = DigestAlgorithm.SHA256.hex_length
    out: dict[str, str] = {}
    for line in split_lines(data.decode("utf-8", "replace")):
        match = MANIFEST_LINE.fullmatch(line)
        if match is None or len(match["digest"]) != length:
            continue
        out[strip_dot_slash(decode_path(match["path"]))] = match["digest"].lower()
    return out
