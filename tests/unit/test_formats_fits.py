"""Streaming FITS validation: every problem a curator must hear about, with the card to look at."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from oais.adapters.formats.fits import FitsChecker, is_fits_name
from oais.domain.issues import Issue
from tests.support import fits_files as ff


def check(data: bytes, chunk: int | None = None, name: str = "obs/orbit42.fits") -> list[Issue]:
    checker = FitsChecker(name)
    if chunk is None:
        checker.feed(data)
    else:
        view = memoryview(data)
        for start in range(0, len(data), chunk):
            checker.feed(view[start : start + chunk])
    return checker.finish()


VALID: dict[str, Callable[[], bytes]] = {
    "primary image": ff.primary_image,
    "image + IMAGE + BINTABLE extensions": ff.multi_extension,
    "primary without data (NAXIS = 0)": ff.empty_primary,
    "3-D cube": ff.cube,
    "random groups": ff.random_groups,
    "ASCII table extension": lambda: ff.primary_image(extend=True) + ff.table_extension(),
    "zero-length extension data": lambda: ff.empty_primary() + ff.image_extension(shape=()),
    "binary table with a heap": lambda: ff.empty_primary() + ff.bintable_extension(rows=3, heap=100),
    "long header (several records)": lambda: ff.primary_image(
        extra=[ff.card("HISTORY", None, f"step {i}") for i in range(100)]
    ),
}


@pytest.mark.parametrize("build", VALID.values(), ids=VALID.keys())
def test_valid_files_have_no_issues(build: Callable[[], bytes]) -> None:
    assert check(build()) == []


# fixture -> (code, start of the message the curator sees)
INVALID: dict[Callable[[], bytes], tuple[str, str]] = {
    ff.fmt_e001_not_fits: ("FMT-E001", "HDU 1 card 1: not a FITS file"),
    ff.fmt_e001_simple_not_in_column_30: ("FMT-E001", "HDU 1 card 1: SIMPLE must be T or F in column 30"),
    ff.fmt_e001_bitpix_invalid: ("FMT-E001", "HDU 1 card 2: BITPIX = 12 is not one of"),
    ff.fmt_e001_naxis_out_of_range: ("FMT-E001", "HDU 1 card 3: NAXIS = 1000 is out of range"),
    ff.fmt_e001_naxis2_missing: ("FMT-E001", "HDU 1 card 5: NAXIS2 missing"),
    ff.fmt_e001_keywords_out_of_order: ("FMT-E001", "HDU 1 card 2: BITPIX missing (found 'NAXIS')"),
    ff.fmt_e001_end_missing: ("FMT-E001", "HDU 1: header has no END card"),
    ff.fmt_e001_truncated_data: ("FMT-E001", "HDU 1: file is truncated"),
    ff.fmt_e001_padding_missing: (
        "FMT-E001",
        "HDU 1: the data is complete but its last record is not padded",
    ),
    ff.fmt_e001_trailing_bytes: ("FMT-E001", "HDU 3: 11 bytes after this last HDU"),
    ff.fmt_e001_non_ascii_in_header: ("FMT-E001", "HDU 1 card 7: byte 0xE9 in column 15 is not printable"),
    ff.fmt_e001_control_character_in_header: ("FMT-E001", "HDU 1 card 7: byte 0x09 in column 19"),
    ff.fmt_e001_lowercase_keyword: ("FMT-E001", "HDU 1 card 7: keyword 'observer' is not valid"),
    ff.fmt_e001_keyword_with_space: ("FMT-E001", "HDU 1 card 7: keyword 'OBS VER' is not valid"),
    ff.fmt_e001_value_indicator_missing: ("FMT-E001", "HDU 1 card 2: BITPIX has no value indicator"),
    ff.fmt_e001_invalid_value: ("FMT-E001", "HDU 1 card 7: DATE-OBS value '2024-01-01' is not a valid"),
    ff.fmt_e001_integer_not_fixed_format: ("FMT-E001", "HDU 1 card 4: NAXIS1 value must be right-justified"),
    ff.fmt_e001_duplicate_mandatory_keyword: ("FMT-E001", "HDU 1 card 7: BITPIX appears again"),
    ff.fmt_e001_text_after_end: ("FMT-E001", "HDU 1 card 9: header is not blank after the END card"),
    ff.fmt_e001_pcount_missing: ("FMT-E001", "HDU 2 card 6: PCOUNT missing"),
    ff.fmt_e001_image_pcount_not_zero: ("FMT-E001", "HDU 2 card 6: PCOUNT = 8, but IMAGE extensions need 0"),
    ff.fmt_e001_tfields_missing: ("FMT-E001", "HDU 3 card 8: TFIELDS missing"),
    ff.fmt_e001_bintable_bitpix_not_8: (
        "FMT-E001",
        "HDU 3 card 2: BITPIX = 16, but BINTABLE extensions need 8",
    ),
    ff.fmt_e001_extension_header_truncated: ("FMT-E001", "HDU 4: extension header is truncated"),
    ff.fmt_e001_empty: ("FMT-E001", "HDU 1: the file is empty"),
    ff.fmt_w002_simple_false: ("FMT-W002", "HDU 1 card 1: SIMPLE = F"),
    ff.fmt_w002_special_records: ("FMT-W002", "HDU 3: 2880 bytes"),
    ff.fmt_w002_nonstandard_extension: ("FMT-W002", "HDU 2 card 1: XTENSION 'FOREIGN' is not a standard"),
}


@pytest.mark.parametrize(("build", "expected"), INVALID.items(), ids=[f.__name__ for f in INVALID])
def test_each_problem_is_reported_with_its_code_and_card(
    build: Callable[[], bytes], expected: tuple[str, str]
) -> None:
    code, message = expected
    issues = check(build())
    assert issues, "no issue reported"
    first = issues[0]
    assert (first.code, first.path) == (code, "obs/orbit42.fits")
    assert first.message.startswith(message), first.message
    assert build.__name__.startswith(code.lower().replace("-", "_"))


@pytest.mark.parametrize("chunk", [1, 7, 80, 2880, 2881, 4 << 20])
def test_chunk_size_does_not_change_the_report(chunk: int) -> None:
    for build in [*VALID.values(), *INVALID]:
        data = build()
        assert check(data, chunk) == check(data), getattr(build, "__name__", "valid")


def test_every_problem_is_collected_not_just_the_first() -> None:
    data = ff.replace_card(ff.multi_extension(), 6, ff.raw_card("observer= 'x'"))
    data = ff.replace_card(data, 5, ff.raw_card(b"DATE-OBS= 'caf\xe9'"))
    data = data[:-100]  # and the last HDU is cut short
    messages = [i.message for i in check(data)]
    assert messages[0].startswith("HDU 1 card 6: byte 0xE9")
    assert messages[1].startswith("HDU 1 card 7: keyword 'observer'")
    assert messages[2].startswith("HDU 3: the data is complete but")
    assert len(messages) == 3


def test_every_hdu_is_checked() -> None:
    primary = ff.primary_image(extend=True)
    image = ff.image_extension()
    data = primary + image + image + ff.bintable_extension()
    data = ff.replace_card(data, 7, ff.raw_card("bad_key = 1"), hdu_start=len(primary) + len(image))
    data = ff.replace_card(data, 8, ff.raw_card("TTYPE1  = COUNTS"), hdu_start=len(primary) + 2 * len(image))
    messages = [i.message for i in check(data)]
    assert [m.split(":")[0] for m in messages] == ["HDU 3 card 8", "HDU 4 card 9"]
    assert "keyword 'bad_key' is not valid" in messages[0]
    assert "TTYPE1 value 'COUNTS' is not a valid FITS value" in messages[1]


def test_a_hopeless_header_stops_the_check_with_a_bounded_report() -> None:
    garbage = bytes(range(256)) * 60  # binary bytes where header cards should be
    data = ff.card("SIMPLE", True) + garbage
    issues = check(data)
    assert 2 <= len(issues) <= 21
    assert issues[-1].message.endswith("the rest of the file was not checked")


def test_memory_stays_constant_whatever_the_data_size() -> None:
    # A 1 GiB image (header only: the data is fed as the same 4 MiB view over and over).
    head = ff.header(ff.primary_cards(shape=(16384, 8192), bitpix=-64))
    chunk = memoryview(bytes(4 << 20))
    padded = -(-16384 * 8192 * 8 // 2880) * 2880
    checker = FitsChecker("big.fits")
    tracemalloc.start()
    try:
        checker.feed(head)
        full, rest = divmod(padded, len(chunk))
        for _ in range(full):
            checker.feed(chunk)
        checker.feed(chunk[:rest])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert checker.finish() == []
    assert peak < 256 * 1024


def test_non_fits_files_are_left_alone_when_sniffing() -> None:
    checker = FitsChecker("notes.txt", sniff=True)
    checker.feed(b"Hello")
    checker.feed(b" world")
    assert not checker.active
    assert checker.finish() == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.fits", True),
        ("A.FIT", True),
        ("dir/b.fts", True),
        ("c.fits.gz", False),
        ("fits", False),
        ("d.txt", False),
    ],
)
def test_fits_names(name: str, expected: bool) -> None:
    assert is_fits_name(name) is expected
