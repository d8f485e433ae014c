"""A fast, exact replacement for fido's ``Fido.match_formats`` and ``Fido.match_extensions``.

fido walks every one of its ~2,250 formats for every file, looks up each signature's patterns in the
XML tree and runs their regular expressions: about 3.4 ms per file, the cost of ingesting many small
files. :class:`SignatureIndex` compiles the same regular expressions once and, for each pattern,
derives *necessary* conditions from the parsed regular expression:

* the bytes a ``BOF`` pattern must have at fixed offsets (``(?s)\\A\\x89PNG`` needs ``0x89`` at
  offset 0, ``(?s)\\A.{4}ftyp`` needs ``ftyp`` at offset 4);
* the longest run of literal bytes that any match must contain (checked with ``in``);
* the minimum length of a match.

Signatures are indexed by their first fixed byte, so a file only meets the few signatures whose
first byte it has (plus those without any fixed byte, screened by the cheap conditions). Only the
signatures that pass every condition run their real regular expressions, and the survivors are
replayed through fido's own priority rules in fido's format order, so the result is the list
``match_formats`` returns, element for element (``tests/unit/test_formats_matching.py`` compares
both on a corpus).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# The regular-expression parser of the standard library: private, but it is the parser ``re``
# itself uses, so the conditions derived from it describe exactly what ``re`` will match. It is
# loaded by name because the public alias (sre_parse) warns on import.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")

_LITERAL = _constants.LITERAL
_AT = _constants.AT
_FIXED_UNITS = frozenset(
    {
        _constants.LITERAL,
        _constants.NOT_LITERAL,
        _constants.ANY,
        _constants.IN,
        _constants.MAX_REPEAT,
        _constants.MIN_REPEAT,
        _constants.SUBPATTERN,
        _constants.BRANCH,
    }
)
_CASE_FLAGS = _constants.SRE_FLAG_IGNORECASE | _constants.SRE_FLAG_LOCALE


@dataclass(frozen=True)
class Format:
    """One format of fido's signature files, with the facts identification reports."""

    index: int  # position in fido's format list: the order of fido's results
    puid: str
    name: str
    version: str | None
    mimes: tuple[str, ...]
    extensions: tuple[str, ...]
    container: str | None  # "zip", "ole" or "tar" for formats fido looks inside
    has_priority_over: frozenset[str]


@dataclass(frozen=True)
class Match:
    """One (format, signature name) pair, as in fido's match lists."""

    format: Format
    signature: str


@dataclass
class _Pattern:
    position: str | None
    regex: re.Pattern[bytes] | None  # None: fido raises on this pattern (bad or missing regex)
    min_length: int = 0
    fixed: tuple[tuple[int, bytes], ...] = ()  # BOF only: literal bytes at fixed offsets
    substring: bytes = b""  # a literal run every match contains

    def possible(self, bof: bytes, eof: bytes) -> bool:
        """False only if the pattern certainly does not match (a necessary condition)."""
        if self.regex is None or self.position not in _SEARCHED:
            return True
        buffer = eof if self.position == "EOF" else bof
        if len(buffer) < self.min_length:
            return False
        for offset, literal in self.fixed:
            if not buffer.startswith(literal, offset):
                return False
        return not self.substring or self.substring in buffer

    def matches(self, bof: bytes, eof: bytes) -> bool:
        """fido's test of one pattern (a pattern at an unknown position always passes)."""
        assert self.regex is not None
        if self.position == "BOF":
            return self.regex.match(bof) is not None
        if self.position == "EOF":
            return self.regex.search(eof) is not None
        if self.position in ("VAR", "IFB"):
            return self.regex.search(bof) is not None
        return True


_SEARCHED = frozenset({"BOF", "EOF", "VAR", "IFB"})


@dataclass
class _Signature:
    format: int
    name: str
    patterns: list[_Pattern]
    key: tuple[int, int] | None = None  # (offset, byte) this signature is indexed under

    def possible(self, bof: bytes, eof: bytes) -> bool:
        return all(p.possible(bof, eof) for p in self.patterns)


@dataclass
class _FormatEntry:
    format: Format
    signatures: list[_Signature] = field(default_factory=list)
    raises: bool = False  # a pattern fido cannot evaluate: replay this format exactly, never skip


def analyse_regex(position: str | None, regex: re.Pattern[bytes]) -> _Pattern:
    """Derive the necessary conditions of one pattern from its parsed regular expression.

    Args:
        position: the pattern's position (BOF, EOF, VAR, IFB).
        regex: the compiled regular expression.

    Returns:
        The pattern with whatever conditions could be proven; none if the expression is unusual.
    """
    pattern = _Pattern(position=position, regex=regex)
    try:
        parsed = _parser.parse(regex.pattern, regex.flags)
        pattern.min_length = int(parsed.getwidth()[0])
    except Exception:  # an expression the parser cannot analyse is never pre-filtered: always run
        return pattern
    if parsed.state.flags & _CASE_FLAGS:
        return pattern  # literals would match in either case: no literal conditions
    items = list(parsed.data)
    pattern.substring = max(_literal_runs(items), key=len, default=b"")
    if position == "BOF":
        pattern.fixed = tuple(_fixed_literals(parsed, items))
    return pattern


def _literal_runs(items: Sequence[tuple[Any, Any]]) -> Iterable[bytes]:
    """Runs of consecutive top-level literal bytes: every match contains each of them."""
    run = bytearray()
    for op, av in items:
        if op is _LITERAL:
            run.append(av)
            continue
        if run:
            yield bytes(run)
            run.clear()
    if run:
        yield bytes(run)


def _fixed_literals(parsed: Any, items: Sequence[tuple[Any, Any]]) -> Iterable[tuple[int, bytes]]:
    """Literal runs at offsets fixed from the start of a match (anchored at offset 0 by re.match)."""
    offset = 0
    run = bytearray()
    run_start = 0
    for op, av in items:
        if op is _LITERAL:
            if not run:
                run_start = offset
            run.append(av)
            offset += 1
            continue
        if run:
            yield run_start, bytes(run)
            run.clear()
        if op is _AT:
            continue  # zero width (\A at offset 0 always holds under re.match)
        if op not in _FIXED_UNITS:
            return
        low, high = _parser.SubPattern(parsed.state, [(op, av)]).getwidth()
        if low != high:
            return
        offset += low
    if run:
        yield run_start, bytes(run)


class SignatureIndex:
    """fido's formats, compiled and indexed for fast matching with identical results.

    Args:
        fido_formats: ``Fido.formats`` (XML elements, in fido's order).
    """

    def __init__(self, fido_formats: Sequence[Any]) -> None:
        self.formats: list[Format] = []
        self._entries: list[_FormatEntry] = []
        self._by_key: dict[int, dict[int, list[_Signature]]] = {}
        self._unindexed: list[_Signature] = []  # no fixed byte and no literal: always screened
        self._gates: dict[tuple[bool, bytes], list[_Signature]] = {}  # (in eof?, literal) -> sigs
        self._always: list[int] = []  # formats that must always be replayed
        self._priority: dict[str, frozenset[str]] = {}
        for index, element in enumerate(fido_formats):
            entry = self._load_format(index, element)
            self.formats.append(entry.format)
            self._entries.append(entry)
            # fido keeps the last definition of a PUID for its priority map.
            self._priority[entry.format.puid] = entry.format.has_priority_over
        self._offsets = sorted(self._by_key)
        self._by_extension: dict[str, list[Format]] = {}
        self._by_puid: dict[str, Format] = {}
        for fmt in self.formats:
            self._by_puid[fmt.puid] = fmt
            for extension in dict.fromkeys(fmt.extensions):
                self._by_extension.setdefault(extension, []).append(fmt)

    def _load_format(self, index: int, element: Any) -> _FormatEntry:
        puid = element.findtext("puid")
        version = element.findtext("version") or None
        container = element.findtext("container")
        if container is None and puid == "fmt/111":
            container = "ole"  # fido treats OLE2 as a container without a <container> element
        fmt = Format(
            index=index,
            puid=puid,
            name=element.findtext("name") or "",
            version=version.strip() if version and version.strip() else None,
            mimes=tuple(m.text for m in element.findall("mime") if m.text),
            extensions=tuple(e.text for e in element.findall("extension") if e.text),
            container=container,
            has_priority_over=frozenset(e.text for e in element.findall("has_priority_over")),
        )
        entry = _FormatEntry(format=fmt)
        for sig_element in element.findall("signature"):
            signature = _Signature(format=index, name=sig_element.findtext("name"), patterns=[])
            for pat_element in sig_element.findall("pattern"):
                pattern = self._load_pattern(pat_element)
                if pattern.regex is None:
                    entry.raises = True
                signature.patterns.append(pattern)
            entry.signatures.append(signature)
            if entry.raises:
                continue
            keys = [
                (offset, literal[0])
                for p in signature.patterns
                if p.position == "BOF"
                for offset, literal in p.fixed
            ]
            if keys:
                signature.key = min(keys)
                offset, byte = signature.key
                self._by_key.setdefault(offset, {}).setdefault(byte, []).append(signature)
            else:
                gates = [
                    (len(p.substring), p.position == "EOF", p.substring)
                    for p in signature.patterns
                    if p.substring and p.position in _SEARCHED
                ]
                if gates:
                    _, in_eof, literal = max(gates)
                    self._gates.setdefault((in_eof, literal), []).append(signature)
                else:
                    self._unindexed.append(signature)
        if entry.raises:
            self._always.append(index)
        return entry

    @staticmethod
    def _load_pattern(element: Any) -> _Pattern:
        position_element = element.find("position")
        regex_element = element.find("regex")
        if position_element is None or regex_element is None or regex_element.text is None:
            return _Pattern(position=None, regex=None)
        try:
            regex = re.compile(regex_element.text.encode("utf8"))
        except re.error:
            return _Pattern(position=position_element.text, regex=None)
        return analyse_regex(position_element.text, regex)

    def _candidates(self, bof: bytes, eof: bytes) -> list[int]:
        """Formats with a signature that passes every necessary condition, in fido's order."""
        found: set[int] = set(self._always)
        length = len(bof)
        for offset in self._offsets:
            if offset >= length:
                break
            for signature in self._by_key[offset].get(bof[offset], ()):
                if signature.format not in found and signature.possible(bof, eof):
                    found.add(signature.format)
        # Signatures without a fixed byte wait behind a literal they need; many share one (all
        # AutoCAD DXF versions need "$ACADVER"), so each literal is looked for once per file.
        for (in_eof, literal), signatures in self._gates.items():
            if literal in (eof if in_eof else bof):
                for signature in signatures:
                    if signature.format not in found and signature.possible(bof, eof):
                        found.add(signature.format)
        for signature in self._unindexed:
            if signature.format not in found and signature.possible(bof, eof):
                found.add(signature.format)
        return sorted(found)

    def _as_good_as_any(self, fmt: Format, matches: Sequence[Match]) -> bool:
        # fido's rule: a format is dropped if another matched format has priority over it.
        for other in matches:
            if other.format is fmt:
                continue
            if fmt.puid in self._priority[other.format.puid]:
                return False
        return True

    def match(self, bof: bytes, eof: bytes) -> list[Match]:
        """The result of fido's ``match_formats(bof, eof)``.

        Args:
            bof: the first ``bufsize`` bytes of the file (the whole file if it is smaller).
            eof: the last ``bufsize`` bytes of the file (the whole file if it is smaller).

        Returns:
            (format, signature name) pairs in fido's order, inferior matches removed.
        """
        result: list[Match] = []
        for index in self._candidates(bof, eof):
            entry = self._entries[index]
            if not self._as_good_as_any(entry.format, result):
                continue
            result.extend(self._replay(entry, bof, eof))
        return [m for m in result if self._as_good_as_any(m.format, result)]

    @staticmethod
    def _replay(entry: _FormatEntry, bof: bytes, eof: bytes) -> list[Match]:
        """fido's loop over one format's signatures (an unusable pattern ends the format)."""
        found: list[Match] = []
        for signature in entry.signatures:
            if not entry.raises and not signature.possible(bof, eof):
                continue
            success = True
            for pattern in signature.patterns:
                if pattern.regex is None:
                    return found  # fido catches the exception and moves to the next format
                if not pattern.matches(bof, eof):
                    success = False
                    break
            if success:
                found.append(Match(entry.format, signature.name))
        return found

    def match_extension(self, filename: str) -> list[Match]:
        """The result of fido's ``match_extensions(filename)``: formats listing the name's extension.

        Args:
            filename: the file's name or path.

        Returns:
            (format, "External") pairs in fido's order, inferior matches removed.
        """
        extension = os.path.splitext(filename)[1].lower().lstrip(".")
        if not extension:
            return []
        result = [Match(f, "External") for f in self._by_extension.get(extension, ())]
        return [m for m in result if self._as_good_as_any(m.format, result)]

    def by_puid(self, puid: str) -> Format | None:
        """The format fido knows under ``puid`` (its last definition), if any."""
        return self._by_puid.get(puid)
