"""Build small FITS files byte by byte (FITS Standard 4.0), valid or broken on purpose.

Headers are written by hand, card by card, so that tests control every column. Mandatory values
are written in fixed format (right-justified to column 30, strings from column 11), as the
Standard requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import prod

BLOCK = 2880
CARD = 80

Value = bool | int | float | str | None


def card(keyword: str, value: Value = None, comment: str | None = None) -> bytes:
    """One 80-byte header card.

    Args:
        keyword: up to 8 characters, padded to columns 1-8.
        value: None for a commentary card (``COMMENT``, ``HISTORY``: the comment is the text);
            a bool, int or float right-justified to column 30; a str quoted from column 11.
        comment: text after `` / `` (or the text of a commentary card).

    Returns:
        The card, padded with blanks to 80 bytes.

    Raises:
        ValueError: if the card does not fit in 80 columns.
    """
    if value is None:
        text = f"{keyword:<8}{comment or ''}"
    else:
        if isinstance(value, bool):
            field = f"{'T' if value else 'F':>20}"
        elif isinstance(value, int | float):
            field = f"{value:>20}"
        else:
            quoted = "'" + f"{value.replace(chr(39), chr(39) * 2):<8}" + "'"
            field = f"{quoted:<20}"
        text = f"{keyword:<8}= {field}"
        if comment:
            text += f" / {comment}"
    if len(text) > CARD:
        raise ValueError(f"card longer than {CARD} columns: {text!r}")
    return text.ljust(CARD).encode("ascii")


def raw_card(text: str | bytes) -> bytes:
    """A card given column by column (for broken cards), padded with blanks to 80 bytes."""
    data = text.encode("latin-1") if isinstance(text, str) else text
    return data.ljust(CARD, b" ")[:CARD]


END = card("END")


def header(cards: Iterable[bytes], end: bool = True) -> bytes:
    """A header: the cards, an END card and blank padding to a multiple of 2880 bytes."""
    data = b"".join(cards) + (END if end else b"")
    return pad(data, b" ")


def pad(data: bytes, fill: bytes = b"\0") -> bytes:
    """``data`` padded with ``fill`` to a multiple of 2880 bytes."""
    return data + fill * (-len(data) % BLOCK)


def data_bytes(size: int) -> bytes:
    """Deterministic data of ``size`` bytes (its values do not matter to structure checks)."""
    return bytes(i % 251 for i in range(size))


def primary_cards(shape: Sequence[int] = (10, 10), bitpix: int = 16, extend: bool = False) -> list[bytes]:
    """The mandatory cards of a primary header for an image of ``shape`` (NAXIS1 first)."""
    cards = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", bitpix),
        card("NAXIS", len(shape)),
    ]
    cards += [card(f"NAXIS{i}", n) for i, n in enumerate(shape, start=1)]
    if extend:
        cards.append(card("EXTEND", True))
    return cards


def primary_image(
    shape: Sequence[int] = (10, 10),
    bitpix: int = 16,
    extra: Sequence[bytes] = (),
    extend: bool = False,
) -> bytes:
    """A complete primary HDU: header and padded data of ``shape`` (``()`` for no data)."""
    cards = primary_cards(shape, bitpix, extend) + list(extra)
    cards.append(card("OBSERVER", "Ada", "who took it"))
    size = abs(bitpix) // 8 * prod(shape) if shape else 0
    return header(cards) + pad(data_bytes(size))


def image_extension(shape: Sequence[int] = (4, 3), bitpix: int = -32, extra: Sequence[bytes] = ()) -> bytes:
    """An IMAGE extension HDU."""
    cards = [card("XTENSION", "IMAGE", "image extension"), card("BITPIX", bitpix), card("NAXIS", len(shape))]
    cards += [card(f"NAXIS{i}", n) for i, n in enumerate(shape, start=1)]
    cards += [card("PCOUNT", 0), card("GCOUNT", 1), card("EXTNAME", "SCI"), *extra]
    size = abs(bitpix) // 8 * prod(shape) if shape else 0
    return header(cards) + pad(data_bytes(size))


def bintable_extension(rows: int = 5, heap: int = 0, extra: Sequence[bytes] = ()) -> bytes:
    """A BINTABLE extension with two columns (a 32-bit integer and an 8-byte real) per row."""
    width = 4 + 8
    cards = [
        card("XTENSION", "BINTABLE", "binary table extension"),
        card("BITPIX", 8),
        card("NAXIS", 2),
        card("NAXIS1", width),
        card("NAXIS2", rows),
        card("PCOUNT", heap),
        card("GCOUNT", 1),
        card("TFIELDS", 2),
        card("TTYPE1", "COUNTS"),
        card("TFORM1", "J"),
        card("TTYPE2", "FLUX"),
        card("TFORM2", "D"),
        *extra,
    ]
    return header(cards) + pad(data_bytes(width * rows + heap))


def table_extension(rows: int = 3) -> bytes:
    """An ASCII TABLE extension with one 8-character column (data padded with blanks)."""
    cards = [
        card("XTENSION", "TABLE"),
        card("BITPIX", 8),
        card("NAXIS", 2),
        card("NAXIS1", 8),
        card("NAXIS2", rows),
        card("PCOUNT", 0),
        card("GCOUNT", 1),
        card("TFIELDS", 1),
        card("TBCOL1", 1),
        card("TFORM1", "A8"),
    ]
    return header(cards) + pad(b"".join(f"row{i:<5}".encode() for i in range(rows)), b" ")


def multi_extension() -> bytes:
    """A primary image with an IMAGE and a BINTABLE extension: valid."""
    return primary_image((6, 4), 16, extend=True) + image_extension() + bintable_extension()


def empty_primary() -> bytes:
    """A primary header with NAXIS = 0 and no data: valid (one 2880-byte record)."""
    return primary_image(shape=())


def cube() -> bytes:
    """A 3-D cube of 64-bit reals, 7 x 5 x 3: valid."""
    return primary_image(shape=(7, 5, 3), bitpix=-64)


def random_groups(groups: int = 3, parameters: int = 2, shape: Sequence[int] = (2, 2)) -> bytes:
    """A random-groups primary HDU (NAXIS1 = 0, GROUPS = T): valid."""
    cards = [card("SIMPLE", True), card("BITPIX", -32), card("NAXIS", 1 + len(shape)), card("NAXIS1", 0)]
    cards += [card(f"NAXIS{i}", n) for i, n in enumerate(shape, start=2)]
    cards += [card("GROUPS", True), card("PCOUNT", parameters), card("GCOUNT", groups)]
    size = 4 * groups * (parameters + prod(shape))
    return header(cards) + pad(data_bytes(size))


def replace_card(fits: bytes, index: int, new: bytes, hdu_start: int = 0) -> bytes:
    """``fits`` with card ``index`` (0-based) of the header starting at ``hdu_start`` replaced."""
    start = hdu_start + index * CARD
    return fits[:start] + raw_card(new) + fits[start + CARD :]


def delete_card(fits: bytes, index: int, hdu_start: int = 0) -> bytes:
    """``fits`` with card ``index`` of a one-record header removed (a blank card added before the padding)."""
    start = hdu_start + index * CARD
    record_end = hdu_start + BLOCK
    return fits[:start] + fits[start + CARD : record_end] + b" " * CARD + fits[record_end:]


# --- invalid files, one per problem, named after the code they must trigger --------------------
# Each returns the bytes; the card a user must be pointed to is given in the docstring.


def _primary_with(index: int, new: str | bytes) -> bytes:
    return replace_card(multi_extension(), index, raw_card(new))


def fmt_e001_not_fits() -> bytes:
    """HDU 1 card 1: a file whose first card is not SIMPLE."""
    return header([card("BITPIX", 8), card("NAXIS", 0)])


def fmt_e001_simple_not_in_column_30() -> bytes:
    """HDU 1 card 1: SIMPLE = T in free format (T in column 11)."""
    return _primary_with(0, "SIMPLE  = T")


def fmt_e001_bitpix_invalid() -> bytes:
    """HDU 1 card 2: BITPIX = 12."""
    return _primary_with(1, card("BITPIX", 12))


def fmt_e001_naxis_out_of_range() -> bytes:
    """HDU 1 card 3: NAXIS = 1000."""
    return replace_card(primary_image(shape=()), 2, card("NAXIS", 1000))


def fmt_e001_naxis2_missing() -> bytes:
    """HDU 1 card 5: NAXIS = 2 but no NAXIS2 card."""
    return delete_card(multi_extension(), 4)


def fmt_e001_keywords_out_of_order() -> bytes:
    """HDU 1 cards 2 and 3: NAXIS before BITPIX."""
    data = replace_card(multi_extension(), 1, card("NAXIS", 2))
    return replace_card(data, 2, card("BITPIX", 16))


def fmt_e001_end_missing() -> bytes:
    """HDU 1: the header never ends (END card absent, file ends after the header record)."""
    return header(primary_cards(shape=()), end=False)


def fmt_e001_truncated_data() -> bytes:
    """HDU 1: the data declared by the header is cut short."""
    return primary_image(shape=(100, 100))[: 2880 + 5000]


def fmt_e001_padding_missing() -> bytes:
    """HDU 1: the data is complete but its last record is not padded to 2880 bytes."""
    return primary_image(shape=(10, 10))[: 2880 + 200]


def fmt_e001_trailing_bytes() -> bytes:
    """After the last HDU: bytes that are neither an extension nor whole records."""
    return multi_extension() + b"extra bytes"


def fmt_e001_non_ascii_in_header() -> bytes:
    """HDU 1 card 7: a Latin-1 character (0xE9) in a string value."""
    return _primary_with(6, b"OBSERVER= 'Ren\xe9'")


def fmt_e001_control_character_in_header() -> bytes:
    """HDU 1 card 7: a TAB (0x09) in a comment."""
    return _primary_with(6, b"OBSERVER= 'Ada'  /\tobserver")


def fmt_e001_lowercase_keyword() -> bytes:
    """HDU 1 card 7: keyword in lower case."""
    return _primary_with(6, "observer= 'Ada'")


def fmt_e001_keyword_with_space() -> bytes:
    """HDU 1 card 7: a space inside the keyword."""
    return _primary_with(6, "OBS VER = 'Ada'")


def fmt_e001_value_indicator_missing() -> bytes:
    """HDU 1 card 2: BITPIX without '= ' in columns 9-10."""
    return _primary_with(1, "BITPIX                       16")


def fmt_e001_invalid_value() -> bytes:
    """HDU 1 card 7: an unquoted date as a value."""
    return _primary_with(6, "DATE-OBS= 2024-01-01")


def fmt_e001_integer_not_fixed_format() -> bytes:
    """HDU 1 card 4: NAXIS1 = 6 written in free format (value in column 11)."""
    return _primary_with(3, "NAXIS1  = 6")


def fmt_e001_duplicate_mandatory_keyword() -> bytes:
    """HDU 1 card 7: BITPIX given a second time."""
    return _primary_with(6, card("BITPIX", 16))


def fmt_e001_text_after_end() -> bytes:
    """HDU 1 card 9: text in the header record after the END card."""
    return replace_card(multi_extension(), 8, card("COMMENT", None, "after the end"))


def _extension_with(index: int, new: bytes, which: int = 1) -> bytes:
    primary = primary_image((6, 4), 16, extend=True)
    image = image_extension()
    table = bintable_extension()
    if which == 1:
        image = replace_card(image, index, new)
    else:
        table = replace_card(table, index, new)
    return primary + image + table


def fmt_e001_pcount_missing() -> bytes:
    """HDU 2 card 6: an IMAGE extension without PCOUNT (EXTNAME in its place)."""
    return _extension_with(5, card("EXTNAME", "SCI2"))


def fmt_e001_image_pcount_not_zero() -> bytes:
    """HDU 2 card 6: an IMAGE extension with PCOUNT = 8."""
    primary = primary_image((6, 4), 16, extend=True)
    image = replace_card(image_extension(shape=(4, 3)), 5, card("PCOUNT", 8))
    return primary + image[:2880] + pad(data_bytes(4 * 12 + 8))


def fmt_e001_tfields_missing() -> bytes:
    """HDU 3 card 8: a BINTABLE without TFIELDS."""
    return _extension_with(7, card("EXTNAME", "EVENTS"), which=2)


def fmt_e001_bintable_bitpix_not_8() -> bytes:
    """HDU 3 card 2: a BINTABLE with BITPIX = 16 (it must be 8); its data size is then off."""
    return _extension_with(1, card("BITPIX", 16), which=2)


def fmt_e001_extension_header_truncated() -> bytes:
    """HDU 4: a third extension cut inside its header."""
    return multi_extension() + image_extension()[:1000]


def fmt_e001_empty() -> bytes:
    """HDU 1: an empty file named as FITS."""
    return b""


def fmt_w002_simple_false() -> bytes:
    """HDU 1 card 1: SIMPLE = F (declared non-conforming)."""
    return _primary_with(0, card("SIMPLE", False))


def fmt_w002_special_records() -> bytes:
    """After the last HDU: one whole 2880-byte record that is not an extension."""
    return multi_extension() + b"\0" * BLOCK


def fmt_w002_nonstandard_extension() -> bytes:
    """HDU 2 card 1: XTENSION = 'FOREIGN' (not IMAGE, TABLE or BINTABLE)."""
    return _extension_with(0, card("XTENSION", "FOREIGN"))
