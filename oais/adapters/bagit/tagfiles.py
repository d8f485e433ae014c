"""bagit.txt, bag-info.txt and fetch.txt (RFC 8493 §2.1.1, §2.2.2, §2.2.3)."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from oais.domain.bag import decode_path, split_lines, strip_dot_slash
from oais.domain.issues import Issue, issue

BAG_DECLARATION = "bagit.txt"
BAG_INFO = "bag-info.txt"
#: The name of bag-info.txt before BagIt 0.96.
PACKAGE_INFO = "package-info.txt"
FETCH = "fetch.txt"

_UTF8_BOM = b"\xef\xbb\xbf"
_VERSION = re.compile(r"([0-9]+)\.([0-9]+)")
_DECLARATION_LABELS = ("BagIt-Version", "Tag-File-Character-Encoding")
_OXUM = re.compile(r"([0-9]+)\.([0-9]+)")
_DIGITS = re.compile(r"[0-9]+")
_FETCH_LINE = re.compile(r"(?P<url>[^ \t]+)[ \t]+(?P<length>[^ \t]+)[ \t]+(?P<path>.+)", re.DOTALL)

#: Reserved bag-info.txt labels (RFC 8493 §2.2.2), lower-cased: labels compare case-insensitively.
RESERVED_INFO_LABELS = frozenset(
    label.lower()
    for label in (
        "Source-Organization",
        "Organization-Address",
        "Contact-Name",
        "Contact-Phone",
        "Contact-Email",
        "External-Description",
        "Bagging-Date",
        "External-Identifier",
        "Bag-Size",
        "Payload-Oxum",
        "Bag-Group-Identifier",
        "Bag-Count",
        "Internal-Sender-Identifier",
        "Internal-Sender-Description",
    )
)


def python_codec(declared: str) -> str | None:
    """The Python codec for a declared Tag-File-Character-Encoding, or None if unknown.

    UTF-8 maps to ``utf-8-sig``: RFC 8493 forbids a byte-order mark only in bagit.txt, so other tag
    files may carry one and it must not end up in the first label or path.
    """
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        return None
    return "utf-8-sig" if name == "utf-8" else name


def decode_tag_text(data: bytes, codec: str, name: str, declared: str) -> tuple[str, list[Issue]]:
    """Decode a tag file, reporting bytes that are not valid in its encoding.

    Undecodable bytes are replaced so that the rest of the file is still checked.

    Args:
        data: the file's bytes.
        codec: Python codec name (see :func:`python_codec`).
        name: bag-relative file name, for messages.
        declared: the encoding as bagit.txt declares it, for messages.

    Returns:
        The text and any BAG-E015 issue.
    """
    try:
        return data.decode(codec), []
    except UnicodeDecodeError as exc:
        problem = issue(
            "BAG-E015",
            name,
            f"the byte at offset {exc.start} is not valid {declared} ({exc.reason}); "
            "undecodable bytes were replaced to check the rest of the file",
        )
        return data.decode(codec, errors="replace"), [problem]


@dataclass
class Declaration:
    """What bagit.txt declares."""

    version: str | None = None
    encoding: str | None = None
    version_tuple: tuple[int, int] | None = None
    issues: list[Issue] = field(default_factory=list)


def parse_declaration(data: bytes) -> Declaration:
    """Parse bagit.txt strictly: exactly ``BagIt-Version: M.N`` then ``Tag-File-Character-Encoding: X``.

    Args:
        data: the bytes of bagit.txt.

    Returns:
        The declaration, with BAG-E002/BAG-E015 issues for every deviation from RFC 8493 §2.1.1.
    """
    result = Declaration()

    def bad(message: str) -> None:
        result.issues.append(issue("BAG-E002", BAG_DECLARATION, message))

    if data.startswith(_UTF8_BOM):
        bad("starts with a byte-order mark, which RFC 8493 forbids in bagit.txt")
        data = data[len(_UTF8_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.issues.append(
            issue("BAG-E015", BAG_DECLARATION, f"the byte at offset {exc.start} is not valid UTF-8")
        )
        text = data.decode("utf-8", errors="replace")
    lines = split_lines(text)
    while lines and not lines[-1].strip():
        lines.pop()

    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        label, colon, rest = line.partition(":")
        canonical = next((c for c in _DECLARATION_LABELS if c.lower() == label.strip().lower()), None)
        if not colon or canonical is None:
            bad(
                f"line {number}: {line!r} is neither 'BagIt-Version: M.N' nor "
                "'Tag-File-Character-Encoding: ENCODING'"
            )
            continue
        value = rest.strip()
        if canonical in seen:
            bad(f"line {number}: {canonical} is declared twice")
            continue
        seen.add(canonical)
        if label != canonical or rest[:1] not in (" ", "\t") or rest[1:] != value:
            bad(
                f"line {number}: {line!r} must read exactly '{canonical}: <value>' "
                "(no space before the colon, one space after it, none at the end)"
            )
        expected_line = _DECLARATION_LABELS.index(canonical) + 1
        if number != expected_line:
            bad(f"line {number}: {canonical} must be on line {expected_line}")
        if canonical == "BagIt-Version":
            result.version = value
        else:
            result.encoding = value

    if result.version is None:
        bad("BagIt-Version is missing")
    else:
        match = _VERSION.fullmatch(result.version)
        if match is None:
            bad(f"BagIt-Version {result.version!r} is not of the form M.N (two whole numbers)")
        else:
            result.version_tuple = (int(match.group(1)), int(match.group(2)))
            if result.version_tuple[0] > 1:
                bad(f"BagIt-Version {result.version} is newer than 1.0, the version this reader implements")
    if result.encoding is None:
        bad("Tag-File-Character-Encoding is missing")
    elif python_codec(result.encoding) is None:
        bad(f"Tag-File-Character-Encoding {result.encoding!r} is not a known character encoding")
    if len(lines) > len(_DECLARATION_LABELS):
        bad(f"has {len(lines)} lines; RFC 8493 allows exactly 2")
    return result


def parse_info(text: str, name: str) -> tuple[list[tuple[str, str]], list[Issue]]:
    """Parse bag-info.txt: ``Label: value`` lines, continued on lines that start with whitespace.

    A continued value is unfolded by joining its lines with one space. Problems with reserved fields
    (RFC 8493 §2.2.2) are errors (BAG-E012); problems with other fields are warnings (BAG-W004).

    Args:
        text: decoded file text.
        name: bag-relative file name, for messages.

    Returns:
        The fields in order (labels as written, values stripped) and the issues found.
    """
    fields: list[tuple[str, str]] = []
    issues: list[Issue] = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        if line[0] in " \t":
            if not fields:
                issues.append(
                    issue("BAG-E012", name, f"line {number}: continuation line with no field before it")
                )
                continue
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {line.strip()}" if value else line.strip())
            continue
        label, colon, rest = line.partition(":")
        if not colon or not label.strip():
            issues.append(issue("BAG-E012", name, f"line {number}: {line!r} is not 'Label: value'"))
            continue
        problems = []
        if label != label.strip():
            problems.append("the label ends with whitespace")
        if rest and rest[0] not in " \t":
            problems.append("there is no space after the colon")
        if problems:
            code = "BAG-E012" if label.strip().lower() in RESERVED_INFO_LABELS else "BAG-W004"
            issues.append(issue(code, name, f"line {number}: {line!r}: {' and '.join(problems)}"))
        fields.append((label.strip(), rest.strip()))
    return fields, issues


def payload_oxum(fields: list[tuple[str, str]], name: str) -> tuple[tuple[int, int] | None, list[Issue]]:
    """The declared Payload-Oxum as ``(octets, file count)``.

    Returns:
        The value (None if absent or unusable) and BAG-E012 issues for malformed or repeated fields.
    """
    values = [value for label, value in fields if label.lower() == "payload-oxum"]
    if not values:
        return None, []
    if len(values) > 1:
        return None, [issue("BAG-E012", name, f"Payload-Oxum is given {len(values)} times")]
    match = _OXUM.fullmatch(values[0])
    if match is None:
        return None, [issue("BAG-E012", name, f"Payload-Oxum {values[0]!r} is not '<octets>.<file count>'")]
    return (int(match.group(1)), int(match.group(2))), []


@dataclass(frozen=True)
class FetchLine:
    """One fetch.txt entry."""

    number: int
    url: str
    path: str  # decoded, without leading './'
    size: int | None = None  # None for '-'


def parse_fetch_line(line: str, number: int) -> tuple[FetchLine | None, str | None]:
    """Parse ``<url> <length or -> <path>``.

    Returns:
        ``(entry, None)`` or ``(None, reason)`` when the line is malformed.
    """
    match = _FETCH_LINE.fullmatch(line)
    if match is None:
        return None, f"expected '<url> <length> <path>', found {line!r}"
    length = match.group("length")
    if length != "-" and _DIGITS.fullmatch(length) is None:
        return None, f"length {length!r} is neither a number of bytes nor '-'"
    path = strip_dot_slash(decode_path(match.group("path")))
    return FetchLine(number, match.group("url"), path, None if length == "-" else int(length)), None
