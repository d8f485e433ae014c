"""Quality assurance of SIP names: pure, on lists of SipEntry."""

from __future__ import annotations

import gc
import time
import unicodedata

import pytest

from oais.domain.issues import CODES, Issue
from oais.domain.packages import EntryKind, SipEntry
from oais.domain.ports import CopyItem
from oais.ingest.qa import EMPTY_DIRECTORY_CODE, QaResult, check_sip, display_path, find_bag_root


def f(path: str, size: int = 1) -> SipEntry:
    return SipEntry(
        path=path, raw_path=path.encode("utf-8", "surrogateescape"), kind=EntryKind.FILE, size=size
    )


def d(path: str) -> SipEntry:
    return SipEntry(path=path, raw_path=path.encode("utf-8", "surrogateescape"), kind=EntryKind.DIRECTORY)


def sym(path: str, target: str) -> SipEntry:
    return SipEntry(path=path, raw_path=path.encode(), kind=EntryKind.SYMLINK, link_target=target)


def hard(path: str, target: str) -> SipEntry:
    return SipEntry(path=path, raw_path=path.encode(), kind=EntryKind.HARDLINK, link_target=target)


def special(path: str) -> SipEntry:
    return SipEntry(path=path, raw_path=path.encode(), kind=EntryKind.SPECIAL)


def only(result: QaResult, code: str) -> list[Issue]:
    return [i for i in result.issues if i.code == code]


def assert_issue(result: QaResult, code: str, *names: str) -> Issue:
    """Exactly one issue with ``code`` whose message names every one of ``names``."""
    found = [i for i in only(result, code) if all(n in i.message for n in names)]
    assert len(found) == 1, (code, names, result.issues)
    return found[0]


def test_clean_sip_passes_with_every_file_and_totals() -> None:
    result = check_sip([d("a"), f("a/x.txt", 10), f("b.txt", 0), f("c d %.txt", 5)])
    assert result.ok
    assert result.issues == []
    assert [c.target for c in result.files] == ["a/x.txt", "b.txt", "c d %.txt"]
    assert (result.total_files, result.total_bytes) == (3, 15)


# --- SIP-E001 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../evil", "'..'"),
        ("a/../../evil", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.dll", "drive letter"),
        ("c:evil", "drive letter"),
        ("..\\..\\evil.bat", "separator"),
        ("\\evil", "separator"),
        ("a\\..\\..\\evil", "separator"),
    ],
)
def test_sip_e001_escaping_names(name: str, why: str) -> None:
    result = check_sip([f("ok.txt"), f(name)])
    issue = assert_issue(result, "SIP-E001", name)
    assert why in issue.message
    assert issue.path == name
    assert [c.target for c in result.files] == ["ok.txt"]


def test_sip_e001_every_escape_reported_not_just_the_first() -> None:
    result = check_sip([f("../a"), f("/b"), f("C:/c"), f("ok")])
    assert sorted(i.path for i in only(result, "SIP-E001")) == ["../a", "/b", "C:/c"]


def test_backslash_and_colon_inside_a_name_are_legal() -> None:
    result = check_sip([f("back\\slash.txt"), f("dir/a:b.txt"), f("ab:c")])
    assert result.ok, result.issues


def test_sip_e001_hardlink_outside() -> None:
    result = check_sip([f("ok"), hard("h", "../outside")])
    assert_issue(result, "SIP-E001", "'h'", "../outside")


# --- SIP-E002 / SIP-E009 / SIP-W001: links -----------------------------------------------------


def test_sip_w001_symlink_inside_becomes_a_copy() -> None:
    result = check_sip([f("data/real.txt", 4), sym("alias.txt", "data/real.txt")])
    assert result.ok
    assert CopyItem(source="data/real.txt", target="alias.txt", size=4) in result.files
    assert_issue(result, "SIP-W001", "alias.txt", "data/real.txt")
    assert result.total_bytes == 8


def test_symlink_resolved_relative_to_its_directory_and_through_chains() -> None:
    result = check_sip(
        [f("a/real", 3), sym("a/b/up", "../real"), sym("chain1", "chain2"), sym("chain2", "a/./b/up")]
    )
    assert result.ok, result.issues
    by_target = {c.target: c.source for c in result.files}
    assert by_target == {"a/real": "a/real", "a/b/up": "a/real", "chain1": "a/real", "chain2": "a/real"}


def test_symlink_through_a_directory_symlink_component() -> None:
    result = check_sip([f("real/x", 1), sym("alias", "real"), sym("y", "alias/x")])
    assert_issue(result, "SIP-E009", "'alias'")
    assert CopyItem(source="real/x", target="y", size=1) in result.files


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("/etc/passwd", "outside"),
        ("../outside", "outside"),
        ("../../x", "outside"),
        ("missing.txt", "not in"),
    ],
)
def test_sip_e002_symlink_outside_or_broken(target: str, words: str) -> None:
    result = check_sip([f("ok"), sym("sub/link", target)])
    issue = assert_issue(result, "SIP-E002", "sub/link", target)
    assert words in issue.message


def test_sip_e002_symlink_loop_is_reported_for_each_link() -> None:
    result = check_sip([f("ok"), sym("a", "b"), sym("b", "a"), sym("self", "self")])
    assert {i.path for i in only(result, "SIP-E002")} == {"a", "b", "self"}
    assert all("loop" in i.message for i in only(result, "SIP-E002"))


def test_sip_e002_hardlink_to_missing_member() -> None:
    assert_issue(check_sip([f("ok"), hard("h", "nowhere")]), "SIP-E002", "'h'", "nowhere")


def test_hardlink_inside_is_a_file_with_the_targets_content_without_warning() -> None:
    result = check_sip([f("orig", 7), hard("copy", "./orig")])
    assert result.issues == []
    assert CopyItem(source="orig", target="copy", size=7) in result.files


def test_sip_e009_symlink_to_directory_explicit_or_implied() -> None:
    result = check_sip([f("docs/a.txt"), d("empty"), sym("l1", "docs"), sym("l2", "empty/")])
    assert_issue(result, "SIP-E009", "'l1'", "docs")
    assert_issue(result, "SIP-E009", "'l2'", "empty")


def test_symlink_used_as_a_directory_in_another_name_is_refused() -> None:
    # tar-slip through a link: "a" -> "/etc", then "a/passwd" would be written through it
    result = check_sip([sym("a", "/etc"), f("a/passwd")])
    assert_issue(result, "SIP-E002", "'a'")
    assert_issue(result, "SIP-E012", "'a'", "symlink")


# --- SIP-E003 -----------------------------------------------------------------------------------


def test_sip_e003_special_files_and_links_to_them() -> None:
    result = check_sip([f("ok"), special("dev/null"), special("fifo"), sym("l", "fifo")])
    assert {i.path for i in only(result, "SIP-E003")} == {"dev/null", "fifo", "l"}
    assert_issue(result, "SIP-E003", "dev/null")


# --- SIP-E004 / SIP-E005: collisions -----------------------------------------------------------

NFC = unicodedata.normalize("NFC", "é")
NFD = unicodedata.normalize("NFD", "é")


def test_sip_e004_nfc_collision_names_both() -> None:
    result = check_sip([f(f"{NFC}.txt"), f(f"{NFD}.txt")])
    issue = assert_issue(result, "SIP-E004", f"{NFC}.txt", f"{NFD}.txt")
    assert not only(result, "SIP-E005")  # one collision, one report
    assert issue.is_error


def test_sip_e004_reported_once_at_the_directory_level() -> None:
    result = check_sip([f(f"{NFC}/a"), f(f"{NFD}/a"), f(f"{NFD}/b")])
    assert len(only(result, "SIP-E004")) == 1
    assert_issue(result, "SIP-E004", NFC, NFD)


def test_sip_e005_case_collision_each_pair_once() -> None:
    result = check_sip([f("README"), f("readme"), f("docs/Straße"), f("docs/STRASSE")])
    assert len(only(result, "SIP-E005")) == 2
    assert_issue(result, "SIP-E005", "'README'", "'readme'")
    assert_issue(result, "SIP-E005", "docs/STRASSE", "docs/Straße")


def test_sip_e005_case_collision_of_directories() -> None:
    result = check_sip([f("Docs/a"), f("docs/b")])
    assert_issue(result, "SIP-E005", "'Docs'", "'docs'")


def test_nfd_only_sip_is_stored_byte_for_byte() -> None:
    name = f"caf{NFD}/r{NFD}sum{NFD}.txt"
    result = check_sip([f(name, 3)])
    assert result.ok
    assert result.files == [CopyItem(source=name, target=name, size=3)]
    assert result.files[0].target.encode() == name.encode()


def test_duplicate_names_are_reported() -> None:
    result = check_sip([f("a.txt"), f("./a.txt"), d("dir"), d("dir/")])
    assert_issue(result, "SIP-E012", "a.txt", "twice")
    # A directory listed twice is harmless (it is only empty, hence the warning).
    assert sorted(i.code for i in result.issues) == ["SIP-E012", "SIP-W002"]


def test_file_that_is_also_a_directory_is_reported() -> None:
    assert_issue(check_sip([f("a"), f("a/b")]), "SIP-E012", "'a'", "holds other names")


# --- SIP-E006 / SIP-E010: spelling ---------------------------------------------------------------


def test_sip_e006_invalid_utf8_is_reported_printably() -> None:
    bad = b"bad\xff.txt".decode("utf-8", "surrogateescape")
    result = check_sip([f("ok"), SipEntry(path=bad, raw_path=b"bad\xff.txt", kind=EntryKind.FILE)])
    issue = assert_issue(result, "SIP-E006", "bad\\xff.txt")
    assert issue.path == "bad\\xff.txt"
    issue.model_dump_json()  # the report must be serialisable (no lone surrogates)


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85"])
def test_sip_e010_control_characters(char: str) -> None:
    name = f"bad{char}name.txt"
    result = check_sip([f("ok"), f(name)])
    issue = assert_issue(result, "SIP-E010", display_path(name))
    assert f"U+{ord(char):04X}" in issue.message
    assert issue.path.isprintable()


def test_legal_awkward_names_pass_untouched() -> None:
    names = ["with space.txt", "100%.txt", "日本語.txt", "emoji-😀.txt", "zero", "a\u200bb"]
    deep = "/".join(f"d{i}" for i in range(60)) + "/x"
    result = check_sip([f(n) for n in names] + [f(deep)])
    assert result.ok, result.issues
    assert {c.target for c in result.files} == {*names, deep}


# --- SIP-E007 and empty directories -------------------------------------------------------------


@pytest.mark.parametrize(
    "entries", [[], [d("a"), d("a/b")], [special("fifo")], [sym("broken", "nothing")]], ids=str
)
def test_sip_e007_no_files(entries: list[SipEntry]) -> None:
    result = check_sip(entries)
    issue = assert_issue(result, "SIP-E007", "no files")
    assert not result.ok
    assert issue.path == ""


def test_empty_directories_are_listed_innermost_only() -> None:
    result = check_sip([f("ok"), d("a"), d("a/b"), d("a/b/c"), d("full"), f("full/x"), d("z")])
    assert result.empty_directories == ["a/b/c", "z"]
    if EMPTY_DIRECTORY_CODE in CODES:
        assert {i.path for i in only(result, EMPTY_DIRECTORY_CODE)} == {"a/b/c", "z"}
    assert result.ok


def test_tar_root_entry_is_ignored() -> None:
    assert check_sip([d(""), d("."), f("./x")]).files == [CopyItem(source="./x", target="x", size=1)]


# --- every problem, deterministic, linear -------------------------------------------------------


def test_every_problem_is_reported_and_sorted() -> None:
    entries = [
        f("/abs"),
        sym("out", "/etc/passwd"),
        special("fifo"),
        f("A"),
        f("a"),
        f("x\ny"),
        sym("dl", "dir"),
        f("dir/file"),
    ]
    result = check_sip(entries)
    codes = {i.code for i in result.issues}
    assert codes == {"SIP-E001", "SIP-E002", "SIP-E003", "SIP-E005", "SIP-E009", "SIP-E010"}
    assert result.issues == sorted(result.issues, key=lambda i: (i.path, i.code, i.message))
    assert check_sip(reversed(entries)) == result


def _sip(n: int) -> list[SipEntry]:
    entries = [d(f"dir{i // 100}") for i in range(0, n, 100)]
    entries += [f(f"dir{i // 100}/file-{i}.txt", i) for i in range(n)]
    entries += [sym(f"dir0/link{i}", f"file-{i}.txt") for i in range(100)]
    return entries


def _best_time(entries: list[SipEntry]) -> float:
    # The collector's full passes grow with everything else on the heap, not with this algorithm.
    gc.collect()
    gc.disable()
    try:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            check_sip(entries)
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        gc.enable()


def test_quality_assurance_is_linear_in_the_number_of_entries() -> None:
    # A ratio, not a deadline: a quadratic pass would take 16 times longer for 4 times the names,
    # whatever the machine's load; the absolute bound only catches a disaster.
    small, large = _sip(20_000), _sip(80_000)
    result = check_sip(large)
    assert result.total_files == 80_100 and result.ok
    ratio = _best_time(large) / _best_time(small)
    assert ratio < 8, ratio


# --- bag detection ------------------------------------------------------------------------------


def test_find_bag_root_at_root() -> None:
    assert find_bag_root([f("bagit.txt"), f("data/x"), f("manifest-sha256.txt")]) == ""


def test_find_bag_root_in_single_top_level_folder() -> None:
    assert find_bag_root([d("bag"), f("bag/bagit.txt"), f("bag/data/x")]) == "bag/"
    assert find_bag_root([f("./bag/bagit.txt"), f("bag/data/x")]) == "bag/"


@pytest.mark.parametrize(
    "entries",
    [
        [f("bag/bagit.txt"), f("other.txt")],
        [f("bag/bagit.txt"), d("second")],
        [f("a/b/bagit.txt")],
        [f("data/x")],
        [d("bagit.txt"), f("bagit.txt/x")],
        [],
    ],
    ids=str,
)
def test_find_bag_root_not_a_bag(entries: list[SipEntry]) -> None:
    assert find_bag_root(entries) is None
