"""Streaming structural validation of FITS files (FITS Standard 4.0).

:class:`FitsChecker` is fed a file's bytes in order, in chunks of any size, and checks every HDU as
the bytes pass: the header cards of each HDU are parsed one 2880-byte record at a time, the data
that follows is skipped by counting, so memory stays constant whatever the size of the data.

What is checked, per HDU (numbered from 1 for the primary HDU, as fitsverify and CFITSIO do; cards
are numbered from 1 within each header):

* every header byte is printable ASCII (0x20-0x7E);
* keywords are uppercase letters, digits, ``-`` and ``_``, left-justified in columns 1-8;
* a card with ``= `` in columns 9-10 has a valid value (string, logical, integer, real, complex or
  none) followed only by an optional ``/`` comment;
* the primary header starts with ``SIMPLE  =                    T`` (column-exact), then BITPIX,
  NAXIS and NAXIS1..NAXISn at cards 2, 3, 4..; an extension starts with XTENSION, then the same,
  then PCOUNT and GCOUNT (and TFIELDS for TABLE and BINTABLE); these mandatory values are in
  fixed format (right-justified to column 30) and within the Standard's ranges;
* the header has an END card, and the rest of its last record is blank;
* the data the header declares (|BITPIX|/8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn), random
  groups included) is present, padded to a multiple of 2880 bytes;
* after the last HDU the file ends; a following record that starts with XTENSION is checked as an
  extension.

Decisions: ``SIMPLE = F`` is a warning (FMT-W002) and ends the check, since the file declares that
it does not follow the Standard. Whole 2880-byte records after the last HDU that are not an
extension are "special records" the Standard (section 3.5) tolerates: a warning (FMT-W002). Bytes
after the last HDU that do not fill whole records, a truncated header or data, or a header whose
data size cannot be computed are errors (FMT-E001). An extension type other than IMAGE, TABLE and
BINTABLE is a warning: it is skipped with the generic size rule. Data bytes and padding contents
are not inspected. A header that yields more than :data:`MAX_ISSUES_PER_HDU` problems is taken as
hopeless and the check stops there.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from oais.domain.issues import Issue, issue

BLOCK = 2880
CARD = 80
CARDS_PER_BLOCK = BLOCK // CARD
FITS_SUFFIXES = (".fits", ".fit", ".fts")
STANDARD_XTENSIONS = ("IMAGE", "TABLE", "BINTABLE")
BITPIX_VALUES = (8, 16, 32, 64, -32, -64)
MAX_ISSUES_PER_HDU = 20
MAX_ISSUES = 100

_SIMPLE_T = b"SIMPLE  =                    T"
_SIMPLE_F = b"SIMPLE  =                    F"
# Cards needed for the positional checks: 3 + NAXIS1..NAXIS999 + PCOUNT, GCOUNT, TFIELDS.
_SLOT_CARDS = 3 + 999 + 3
_PRINTABLE = bytes(range(0x20, 0x7F))
_BLANK_CARD = b" " * CARD

_KEYWORD = re.compile(r"[A-Z0-9_-]*")
_NAXISN = re.compile(r"NAXIS([1-9][0-9]{0,2})")
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[EDed][+-]?[0-9]+)?"
_VALUE = re.compile(
    rf" *(?:'(?:[^']|'')*'|[TF]|{_NUMBER}|\( *{_NUMBER} *, *{_NUMBER} *\))? *(?:/.*)?", re.DOTALL
)
_FIXED_INT = re.compile(r" *[+-]?[0-9]+")
_FREE_INT = re.compile(r" *([+-]?[0-9]+) *(?:/.*)?", re.DOTALL)
_FIXED_STRING = re.compile(r"'((?:[^']|'')*)' *(?:/.*)?", re.DOTALL)
_INTEGER_KEYWORDS = frozenset({"BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "TFIELDS"})
_LOGICAL_KEYWORDS = frozenset({"SIMPLE", "GROUPS"})


def is_fits_name(name: str) -> bool:
    """True if ``name`` has a FITS file extension (.fits, .fit, .fts, any case; not .fits.gz).

    Args:
        name: a file name or path.

    Returns:
        Whether the name claims to be an uncompressed FITS file.
    """
    return name.lower().endswith(FITS_SUFFIXES)


@dataclass
class _Header:
    """What has been learnt so far about the header being read."""

    hdu: int
    primary: bool
    cards: int = 0
    end_card: int | None = None
    blank_reported: bool = False
    issues: int = 0
    xtension: str | None = None

    def __post_init__(self) -> None:
        self.keywords: list[str] = []
        self.values: dict[str, int | bool | str] = {}
        self.where: dict[str, int] = {}  # keyword -> card of its first occurrence


class _Stop(Exception):
    """The rest of the file cannot be checked."""


class FitsChecker:
    """A state machine checking a FITS file's structure from its bytes, streaming.

    Args:
        name: the file's path, named in every issue.
        sniff: only check files that start with ``SIMPLE`` (for files not named as FITS); a file
            that does not is left alone (:attr:`active` becomes False).
    """

    def __init__(self, name: str, sniff: bool = False) -> None:
        self.name = name
        self.active = True
        self._sniff = sniff
        self._total = 0
        self._state = "header"
        self._pending = bytearray()  # the header record being filled (at most 2880 bytes)
        self._header = _Header(hdu=1, primary=True)
        self._remaining = 0  # data bytes still to skip, padding included
        self._data_size = 0
        self._data_padded = 0
        self._trailing = 0  # bytes after the last HDU that are not an extension
        self._issues: list[tuple[int, int, int, Issue]] = []

    # --- feeding ---------------------------------------------------------------------------------

    def feed(self, chunk: bytes | memoryview) -> None:
        """The next bytes of the file.

        Args:
            chunk: bytes in file order; kept only as far as a header record needs them.
        """
        if not self.active or self._state == "stopped":
            return
        view = memoryview(chunk).cast("B")
        if self._sniff and self._total < 6:
            head = bytes(self._pending[: self._total]) + bytes(view[: 6 - self._total])
            if not b"SIMPLE".startswith(head[:6]):
                self.active = False
                return
        self._total += len(view)
        try:
            while len(view):
                view = self._step(view)
        except _Stop:
            self._state = "stopped"

    def _step(self, view: memoryview) -> memoryview:
        """Consume what the current state can from ``view``; return the rest."""
        if self._state == "data":
            taken = min(self._remaining, len(view))
            self._remaining -= taken
            if self._remaining == 0:
                self._state = "next"
            return view[taken:]
        if self._state == "trailing":
            self._trailing += len(view)
            return view[len(view) :]
        if self._state == "stopped":
            return view[len(view) :]
        need = BLOCK - len(self._pending)
        self._pending += view[:need]
        if len(self._pending) == BLOCK:
            record = bytes(self._pending)
            self._pending.clear()
            if self._state == "next":
                if record.startswith(b"XTENSION"):
                    self._header = _Header(hdu=self._header.hdu + 1, primary=False)
                    self._state = "header"
                else:
                    self._state = "trailing"
                    self._trailing = BLOCK
                    return view[need:]
            self._header_record(record)
        return view[need:]

    # --- headers -----------------------------------------------------------------------------------

    def _header_record(self, record: bytes) -> None:
        """Check one complete 2880-byte header record."""
        h = self._header
        first = h.cards + 1  # number of this record's first card
        for i in range(CARDS_PER_BLOCK):
            card = record[i * CARD : (i + 1) * CARD]
            if h.end_card is None:
                h.cards += 1
                self._card(card, h.cards)
            elif card != _BLANK_CARD and not h.blank_reported:
                h.blank_reported = True
                self._add("FMT-E001", first + i, "header is not blank after the END card")
        if h.end_card is not None:
            self._end_of_header()

    def _card(self, card: bytes, number: int) -> None:
        h = self._header
        if number == 1 and h.primary:
            self._first_primary_card(card)
        text = card.decode("ascii", errors="replace")  # one character per byte: columns hold
        keyword = text[:8].rstrip(" ")
        if len(h.keywords) < _SLOT_CARDS:
            h.keywords.append(keyword)
        if card.translate(None, _PRINTABLE):
            column = next(i for i, b in enumerate(card) if b < 0x20 or b > 0x7E) + 1
            self._add(
                "FMT-E001",
                number,
                f"byte 0x{card[column - 1]:02X} in column {column} is not printable ASCII",
            )
            if column <= 10:
                return  # keyword or value indicator unreadable: nothing more to say about this card
        if not _KEYWORD.fullmatch(keyword):
            self._add(
                "FMT-E001",
                number,
                f"keyword {text[:8].rstrip(' ')!r} is not valid (uppercase letters, digits, '-' and '_', "
                "left-justified in columns 1-8)",
            )
            return
        if keyword == "END":
            h.end_card = number
            if text[3:].strip(" "):
                self._add("FMT-E001", number, "END card is followed by text (columns 4-80 must be blank)")
            return
        has_value = text[8:10] == "= "
        mandatory = self._is_mandatory(keyword)
        if mandatory and not has_value:
            self._add("FMT-E001", number, f"{keyword} has no value indicator '= ' in columns 9-10")
            return
        if not has_value or keyword in ("COMMENT", "HISTORY", ""):
            return  # commentary card: columns 9-80 are free text
        if not _VALUE.fullmatch(text[10:]):
            self._add("FMT-E001", number, f"{keyword} value {text[10:].strip()!r} is not a valid FITS value")
            return
        if mandatory:
            self._mandatory_value(keyword, text, number)

    def _first_primary_card(self, card: bytes) -> None:
        if card.startswith(_SIMPLE_T):
            return
        if card.startswith(_SIMPLE_F):
            self._add(
                "FMT-W002",
                1,
                "SIMPLE = F: the file declares that it does not conform to the FITS Standard; "
                "not checked further",
            )
            raise _Stop
        if card.startswith(b"SIMPLE  "):
            return  # a misplaced value: reported by the fixed-format check of the value
        found = card[:8].decode("ascii", errors="replace")
        self._add("FMT-E001", 1, f"not a FITS file: the first card must be SIMPLE = T, found {found!r}")
        raise _Stop

    def _is_mandatory(self, keyword: str) -> bool:
        return (
            keyword in _INTEGER_KEYWORDS
            or keyword in ("SIMPLE", "XTENSION")
            or (keyword == "GROUPS" and self._header.primary)
            or _NAXISN.fullmatch(keyword) is not None
        )

    def _mandatory_value(self, keyword: str, text: str, number: int) -> None:
        """Read a mandatory keyword's value, which the Standard wants in fixed format."""
        h = self._header
        if keyword in h.where:
            self._add("FMT-E001", number, f"{keyword} appears again (first at card {h.where[keyword]})")
            return
        h.where[keyword] = number
        field = text[10:30]
        value: int | bool | str
        if keyword == "XTENSION":
            found = _FIXED_STRING.fullmatch(text[10:])
            if found is None:
                self._add("FMT-E001", number, "XTENSION value must be a string starting in column 11")
                return
            value = found.group(1).replace("''", "'").rstrip(" ")
        elif keyword in _LOGICAL_KEYWORDS:
            if field[:19].strip(" ") or field[19:20] not in ("T", "F"):
                self._add("FMT-E001", number, f"{keyword} must be T or F in column 30 (fixed format)")
                return
            value = field[19] == "T"
        elif _FIXED_INT.fullmatch(field) and text[30:31] in (" ", "/", ""):
            value = int(field)
        else:
            free = _FREE_INT.fullmatch(text[10:])
            if free is None:
                self._add("FMT-E001", number, f"{keyword} value {text[10:].strip()!r} is not an integer")
                return
            self._add(
                "FMT-E001", number, f"{keyword} value must be right-justified to column 30 (fixed format)"
            )
            value = int(free.group(1))
        h.values[keyword] = value

    # --- end of a header: positions, values and the size of the data ------------------------------

    def _end_of_header(self) -> None:
        h = self._header
        self._check_positions()
        size = self._data_size_of(h)
        if size is None:
            self._add(
                "FMT-E001",
                None,
                "the data size cannot be computed from this header; the rest of the file was not checked",
            )
            raise _Stop
        self._data_size = size
        self._data_padded = -(-size // BLOCK) * BLOCK
        self._remaining = self._data_padded
        self._state = "data" if self._remaining else "next"

    def _expected(self) -> list[str]:
        """The mandatory keywords in the order the Standard fixes, as far as they are known."""
        h = self._header
        expected = ["SIMPLE" if h.primary else "XTENSION", "BITPIX", "NAXIS"]
        naxis = h.values.get("NAXIS")
        if isinstance(naxis, int) and not isinstance(naxis, bool) and 0 <= naxis <= 999:
            expected += [f"NAXIS{i}" for i in range(1, naxis + 1)]
        if not h.primary:
            expected += ["PCOUNT", "GCOUNT"]
            if h.xtension in ("TABLE", "BINTABLE"):
                expected.append("TFIELDS")
        return expected

    def _check_positions(self) -> None:
        h = self._header
        xtension = h.values.get("XTENSION")
        h.xtension = xtension if isinstance(xtension, str) else None
        assert h.end_card is not None
        for slot, keyword in enumerate(self._expected()):
            card = slot + 1
            if slot >= len(h.keywords) or card >= h.end_card:
                self._add("FMT-E001", card, f"{keyword} missing (END at card {h.end_card})")
            elif h.keywords[slot] != keyword:
                self._add("FMT-E001", card, f"{keyword} missing (found {h.keywords[slot]!r})")
        if not h.primary and h.xtension is not None and h.xtension not in STANDARD_XTENSIONS:
            self._add(
                "FMT-W002",
                1,
                f"XTENSION {h.xtension!r} is not a standard extension type (IMAGE, TABLE, BINTABLE)",
            )

    def _int(self, keyword: str, low: int, high: int | None = None) -> int | None:
        """A mandatory integer value if present and in range (a problem is reported otherwise)."""
        h = self._header
        value = h.values.get(keyword)
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if value < low or (high is not None and value > high):
            limits = f"{low}..{high}" if high is not None else f">= {low}"
            self._add("FMT-E001", h.where[keyword], f"{keyword} = {value} is out of range ({limits})")
            return None
        return value

    def _require(self, keyword: str, wanted: int, kind: str) -> None:
        h = self._header
        value = h.values.get(keyword)
        if isinstance(value, int) and not isinstance(value, bool) and value != wanted:
            self._add(
                "FMT-E001", h.where[keyword], f"{keyword} = {value}, but {kind} extensions need {wanted}"
            )

    def _data_size_of(self, h: _Header) -> int | None:
        bitpix = h.values.get("BITPIX")
        if isinstance(bitpix, int) and bitpix not in BITPIX_VALUES:
            self._add(
                "FMT-E001",
                h.where["BITPIX"],
                f"BITPIX = {bitpix} is not one of 8, 16, 32, 64, -32, -64",
            )
            bitpix = None
        naxis = self._int("NAXIS", 0, 999)
        axes: list[int | None] = []
        if naxis is not None:
            axes = [self._int(f"NAXIS{i}", 0) for i in range(1, naxis + 1)]
        pcount: int | None = 0
        gcount: int | None = 1
        if h.primary:
            if h.values.get("GROUPS") is True and axes and axes[0] == 0:
                # Random groups: the first axis is a placeholder; groups carry PCOUNT parameters.
                pcount = self._int("PCOUNT", 0) if "PCOUNT" in h.values else None
                gcount = self._int("GCOUNT", 0) if "GCOUNT" in h.values else None
                if pcount is None or gcount is None:
                    self._add("FMT-E001", h.where["GROUPS"], "random groups need PCOUNT and GCOUNT")
                axes = axes[1:]
        else:
            pcount = self._int("PCOUNT", 0)
            gcount = self._int("GCOUNT", 0)
            kind = h.xtension
            if kind in ("IMAGE", "TABLE"):
                self._require("PCOUNT", 0, kind)
            if kind in STANDARD_XTENSIONS:
                self._require("GCOUNT", 1, kind)
            if kind in ("TABLE", "BINTABLE"):
                self._require("BITPIX", 8, kind)
                self._require("NAXIS", 2, kind)
                self._int("TFIELDS", 0, 999)
        if not isinstance(bitpix, int) or naxis is None or pcount is None or gcount is None:
            return None
        if any(a is None for a in axes):
            return None
        product = 0
        if naxis:
            product = 1
            for axis in axes:
                assert axis is not None
                product *= axis
        return abs(bitpix) // 8 * gcount * (pcount + product)

    # --- results -----------------------------------------------------------------------------------

    def _add(self, code: str, card: int | None, message: str) -> None:
        h = self._header
        where = f"HDU {h.hdu} card {card}" if card is not None else f"HDU {h.hdu}"
        self._issues.append(
            (h.hdu, card or 10**9, len(self._issues), issue(code, self.name, f"{where}: {message}"))
        )
        h.issues += 1
        if h.issues == MAX_ISSUES_PER_HDU or len(self._issues) >= MAX_ISSUES:
            self._issues.append(
                (
                    h.hdu,
                    10**9 + 1,
                    len(self._issues),
                    issue(
                        "FMT-E001",
                        self.name,
                        f"HDU {h.hdu}: too many problems; the rest of the file was not checked",
                    ),
                )
            )
            raise _Stop

    def finish(self) -> list[Issue]:
        """Every problem found, once all the bytes were fed.

        Returns:
            FMT-E001 and FMT-W002 issues, in file order (empty for a valid file, or if
            :attr:`active` is False).
        """
        if not self.active:
            return []
        with contextlib.suppress(_Stop):  # stopping early still leaves a complete report
            self._finish_state()
        self._state = "stopped"
        return [i for *_, i in sorted(self._issues, key=lambda t: t[:3])]

    def _finish_state(self) -> None:
        h = self._header
        if self._state == "header":
            if self._total == 0:
                self._add("FMT-E001", None, "the file is empty; a FITS file starts with a 2880-byte header")
                return
            partial = bytes(self._pending)
            if h.primary and h.cards == 0 and len(partial) < CARD:
                self._first_primary_card(partial.ljust(CARD))  # a short file may not be FITS at all
            if partial:
                for i in range(len(partial) // CARD):
                    if h.end_card is not None:
                        break
                    h.cards += 1
                    self._card(partial[i * CARD : (i + 1) * CARD], h.cards)
            if h.end_card is None:
                self._add(
                    "FMT-E001",
                    None,
                    f"header has no END card (the file ends after {h.cards} cards): file truncated?",
                )
            else:
                self._add(
                    "FMT-E001",
                    None,
                    f"header is truncated: its last record has {len(partial)} of {BLOCK} bytes",
                )
        elif self._state == "data":
            present = self._data_padded - self._remaining
            if present >= self._data_size:
                self._add(
                    "FMT-E001",
                    None,
                    f"the data is complete but its last record is not padded to {BLOCK} bytes "
                    f"({self._remaining} bytes missing)",
                )
            else:
                self._add(
                    "FMT-E001",
                    None,
                    f"file is truncated: the header declares {self._data_size} bytes of data "
                    f"but only {present} follow",
                )
        elif self._state == "next" and self._pending:
            if self._pending.startswith(b"XTENSION"):
                self._header = _Header(hdu=h.hdu + 1, primary=False)
                self._add(
                    "FMT-E001",
                    None,
                    f"extension header is truncated: {len(self._pending)} of {BLOCK} bytes",
                )
            else:
                self._trailing_problem(len(self._pending))
        elif self._state == "trailing":
            self._trailing_problem(self._trailing)

    def _trailing_problem(self, count: int) -> None:
        if count % BLOCK == 0:
            self._add(
                "FMT-W002",
                None,
                f"{count} bytes ({count // BLOCK} x {BLOCK}-byte records) after this last HDU are "
                "not a FITS extension (special records)",
            )
        else:
            self._add(
                "FMT-E001",
                None,
                f"{count} bytes after this last HDU are neither an extension nor whole "
                f"{BLOCK}-byte records: the file does not end at an HDU boundary",
            )
