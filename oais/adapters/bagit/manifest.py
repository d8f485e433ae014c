"""Manifest lines and the paths they carry (RFC 8493 §2.1.3).

Paths in manifests and in fetch.txt are percent-encoded for exactly three characters: ``%``, CR and
LF. Every other ``%xx`` sequence is literal text (the conformance suite has payload files named
``%7Edir2`` and ``%test2.txt``), so a general URL decoder must not be used here.

Lines that checksum tools write in forms RFC 8493 does not use (md5sum's ``*`` binary marker, a
``./`` prefix, upper-case hexadecimal) are accepted; :attr:`ManifestLine.forms` names them so that
the reader can say so (BAG-W005).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oais.domain.bag import MANIFEST_LINE, decode_path, strip_dot_slash
from oais.domain.fixity import DigestAlgorithm

_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
_HEX = re.compile(r"[0-9A-Fa-f]+")

PAYLOAD_DIR = "data"

#: Forms of a manifest line that RFC 8493 does not use but that are accepted (BAG-W005).
BINARY_MARKER = "md5sum's '*' binary marker"
DOT_SLASH = "a './' prefix on the path"
UPPER_CASE_HEX = "upper-case hexadecimal digits"

# Names that operating systems and their file managers leave in folders, compared after casefold
# (Windows and the default macOS file systems do not distinguish case), with what writes them.
_SYSTEM_NAMES = {
    ".ds_store": "macOS Finder folder settings",
    "thumbs.db": "Windows thumbnail cache",
    "desktop.ini": "Windows folder settings",
    "icon\r": "macOS custom folder icon",
    ".spotlight-v100": "macOS Spotlight index",
    ".trashes": "macOS trash folder",
    ".fseventsd": "macOS file-system event log",
}
_APPLE_DOUBLE = "._"


@dataclass(frozen=True)
class ManifestLine:
    """One parsed manifest line."""

    number: int
    digest: str  # lower-case hexadecimal
    path: str  # decoded, with any leading './' removed
    raw_path: str  # as written, for messages
    forms: tuple[str, ...] = ()  # the non-standard forms the line uses (BINARY_MARKER, ...)


def parse_manifest_line(
    line: str, number: int, algorithm: DigestAlgorithm
) -> tuple[ManifestLine | None, str | None]:
    """Parse ``<digest> <whitespace> <path>``.

    Args:
        line: the line without its ending.
        number: its 1-based line number, for messages.
        algorithm: the manifest's algorithm (fixes the digest length).

    Returns:
        ``(entry, None)`` or ``(None, reason)`` when the line is malformed.
    """
    match = MANIFEST_LINE.fullmatch(line)
    if match is None or not match.group("path"):
        return None, f"expected '<digest> <path>', found {line!r}"
    digest, raw_path = match.group("digest"), match.group("path")
    if len(digest) != algorithm.hex_length or _HEX.fullmatch(digest) is None:
        return None, (
            f"digest {digest!r} is not {algorithm.hex_length} hexadecimal digits, "
            f"as {algorithm.value} digests are"
        )
    path = raw_path
    forms: list[str] = []
    # md5sum and its siblings write '*' before the name in binary mode; bags made with those tools
    # are common and the conformance suite counts them as valid (with a warning).
    if path.startswith("*"):
        path = path[1:]
        forms.append(BINARY_MARKER)
    if path.startswith("./"):
        forms.append(DOT_SLASH)
    if digest != digest.lower():
        forms.append(UPPER_CASE_HEX)
    entry = ManifestLine(number, digest.lower(), strip_dot_slash(decode_path(path)), raw_path, tuple(forms))
    return entry, None


def path_problem(path: str, *, payload: bool) -> tuple[str, str] | None:
    """Check a decoded manifest or fetch path.

    Args:
        path: decoded, without leading ``./``.
        payload: True for payload manifests and fetch.txt, whose paths must lie under data/.

    Returns:
        None if the path is acceptable, else ``(issue code, reason)``.
    """
    if not path:
        return "BAG-E004", "the path is empty"
    if "\x00" in path:
        return "BAG-E004", "the path contains a NUL character"
    if path.startswith("/"):
        return "BAG-E010", "the path is absolute"
    if path.startswith("\\") or _WINDOWS_DRIVE.match(path):
        return "BAG-E010", "the path is an absolute Windows path"
    # Backslash counts as a separator here: such a bag copied to Windows would escape through it.
    if ".." in re.split(r"[/\\]", path):
        return "BAG-E010", "the path climbs out of its directory with '..'"
    parts = path.split("/")
    if parts[0].startswith("~"):
        return "BAG-E010", "the path starts with '~', a home-directory shortcut"
    if any(part in ("", ".") for part in parts):
        return "BAG-E004", "the path has an empty or '.' component (or names a directory)"
    if payload and (parts[0] != PAYLOAD_DIR or len(parts) < 2):
        return "BAG-E010", "the path is outside the data/ payload directory"
    if not payload and parts[0] == PAYLOAD_DIR:
        return "BAG-E004", "a tag manifest must not list payload files (under data/)"
    return None


def system_file(path: str) -> str | None:
    """Tell whether a path is, or lies inside, a file an operating system leaves behind.

    ``.DS_Store``, ``Thumbs.db``, ``desktop.ini``, ``Icon\\r``, AppleDouble ``._*`` files and the
    ``.Spotlight-V100``, ``.Trashes`` and ``.fseventsd`` folders, in any component of the path.

    Args:
        path: a decoded, '/'-separated bag-relative path.

    Returns:
        What writes such a file (for messages), or None if no component of the path is one.
    """
    for part in path.split("/"):
        what = _SYSTEM_NAMES.get(part.casefold())
        if what is not None:
            return what
        if part.startswith(_APPLE_DOUBLE) and len(part) > len(_APPLE_DOUBLE):
            return "macOS AppleDouble metadata"
    return None
