"""Percent-encoding of manifest paths, line splitting and path checks (RFC 8493 §2.1.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oais.adapters.bagit.manifest import path_problem, system_file
from oais.domain.bag import decode_path, encode_path, manifest_digests, split_lines


@given(st.text())
def test_encode_then_decode_is_identity(name: str) -> None:
    encoded = encode_path(name)
    assert "\n" not in encoded and "\r" not in encoded
    assert decode_path(encoded) == name


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("100%25.txt", "100%.txt"),
        ("a%0Ab", "a\nb"),
        ("a%0db", "a\rb"),  # hexadecimal digits in either case
        ("%250A", "%0A"),  # decoded once, left to right
        ("%7Etilde", "%7Etilde"),  # not one of the three escapes: literal
        ("%test2.txt", "%test2.txt"),
        ("%", "%"),
    ],
)
def test_decode_only_the_three_escapes(written: str, meant: str) -> None:
    assert decode_path(written) == meant


def test_encode_escapes_percent_first() -> None:
    assert encode_path("50%\r\n") == "50%25%0D%0A"


def test_split_lines_on_lf_crlf_cr_only() -> None:
    assert split_lines("a\r\nb\rc\nd\x0ce\u2028f\n") == ["a", "b", "c", "d\x0ce\u2028f"]
    assert split_lines("") == []


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("data/a", True, None),
        ("data/a/b c", True, None),
        ("data", True, "BAG-E010"),
        ("bagit.txt", False, None),
        ("data/a", False, "BAG-E004"),
        ("data//a", True, "BAG-E004"),
        ("data/./a", True, "BAG-E004"),
        ("data/a/", True, "BAG-E004"),
        ("data/..", True, "BAG-E010"),
        ("data\\..\\..\\x", True, "BAG-E010"),
        ("/abs", False, "BAG-E010"),
        ("D:x", False, "BAG-E010"),
        ("~user/x", False, "BAG-E010"),
        ("", True, "BAG-E004"),
    ],
)
def test_path_problem(path: str, payload: bool, code: str | None) -> None:
    problem = path_problem(path, payload=payload)
    assert (problem[0] if problem else None) == code


@pytest.mark.parametrize(
    ("path", "system"),
    [
        ("data/.DS_Store", True),
        ("data/a/.ds_store", True),  # compared without case, as the systems that write them do
        ("data/THUMBS.DB", True),
        ("data/Icon\r", True),
        ("data/._", False),  # AppleDouble files carry the name they describe after '._'
        ("data/._notes.txt", True),
        ("data/.Trashes", True),
        ("data/.fseventsd/x", True),
        ("data/Icon", False),
        ("data/DS_Store", False),
        ("data/my.DS_Store", False),
        ("data/Thumbs.db.bak", False),
        ("data/_.notes", False),
    ],
)
def test_system_file(path: str, system: bool) -> None:
    assert (system_file(path) is not None) is system


def test_an_audit_reads_a_manifest_leniently_skipping_what_is_no_entry() -> None:
    a, b, c = "AB" * 32, "cd" * 32, "ef" * 32
    data = (
        f"{a}  data/x%0Ay\r\n"  # CRLF, encoded LF, upper-case hexadecimal
        "\n"
        "garbage\n"  # no path
        "\x00\xff data/binary\n"  # not a digest of sha256's length
        f"{a}0 data/too-long\n"
        f"{b}\t././data/with  two spaces\r"  # tab, './' twice, CR
        f"{c} data/a%2541"  # '%25' decoded once; no final line ending
    ).encode()
    assert manifest_digests(data) == {
        "data/x\ny": a.lower(),
        "data/with  two spaces": b,
        "data/a%41": c,
    }
