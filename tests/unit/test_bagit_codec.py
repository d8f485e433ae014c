"""BagItCodec.read_structure and check_payload: every BAG-* code, named after the code it triggers."""

from __future__ import annotations

import unicodedata

import pytest

from oais.adapters.bagit import BagItCodec
from oais.domain.bag import BagStructure
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue, errors, warnings
from tests.support.bagit_memory import MemoryBagFiles, digest, make_bag, manifest, seal

HELLO_SHA256 = digest("sha256", b"hello\n")
PAYLOAD = {"data/a.txt": b"hello\n", "data/dir/b.bin": b"\x00\x01\x02", "data/empty": b""}


def read(files: dict[str, bytes]) -> BagStructure:
    return BagItCodec().read_structure(MemoryBagFiles(files))


def codes(issues: list[Issue]) -> list[str]:
    return sorted(i.code for i in issues)


def only(issues: list[Issue], code: str) -> Issue:
    found = [i for i in issues if i.code == code]
    assert len(found) == 1, f"expected one {code}, got {[str(i) for i in issues]}"
    return found[0]


def actual_digests(files: dict[str, bytes], structure: BagStructure) -> dict[str, dict[DigestAlgorithm, str]]:
    return {
        path: {alg: digest(alg.value, files[path]) for alg in structure.algorithms}
        for path in structure.payload
    }


def test_valid_bag_reads_cleanly() -> None:
    files = make_bag(PAYLOAD, algorithms=("sha256", "sha512"))
    structure = read(files)
    assert structure.issues == []
    assert structure.version == "1.0"
    assert structure.encoding == "UTF-8"
    assert structure.payload == {"data/a.txt": 6, "data/dir/b.bin": 3, "data/empty": 0}
    assert structure.algorithms == {DigestAlgorithm.SHA256, DigestAlgorithm.SHA512}
    assert structure.manifests[DigestAlgorithm.SHA256]["data/a.txt"] == HELLO_SHA256
    assert set(structure.tag_manifests[DigestAlgorithm.SHA256]) == {
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
    }
    assert ("Payload-Oxum", "9.3") in structure.info
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


def test_bag_e001_missing_bagit_txt() -> None:
    files = make_bag(PAYLOAD)
    del files["bagit.txt"]
    seal(files)
    issue = only(read(files).issues, "BAG-E001")
    assert issue.path == "bagit.txt"
    assert "missing" in issue.message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n", "must read exactly 'BagIt-Version: "),
        (b"BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n", "not of the form M.N"),
        (b"BagIt-Version: 1.0\n", "Tag-File-Character-Encoding is missing"),
        (b"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n", "must be on line 1"),
        (b"BagIt-Version: 1.0\nTag-File-Character-Encoding: KLINGON-8\n", "not a known character encoding"),
        (b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nExtra: yes\n", "neither"),
        (b"\xef\xbb\xbfBagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", "byte-order mark"),
        (b"BagIt-Version: 2.0\nTag-File-Character-Encoding: UTF-8\n", "newer than 1.0"),
    ],
    ids=[
        "space-before-colon",
        "bad-version",
        "no-encoding",
        "wrong-order",
        "unknown-encoding",
        "extra",
        "bom",
        "v2",
    ],
)
def test_bag_e002_malformed_bagit_txt(content: bytes, words: str) -> None:
    files = make_bag(PAYLOAD)
    files["bagit.txt"] = content
    seal(files)
    found = [i for i in read(files).issues if i.code == "BAG-E002"]
    assert found, "no BAG-E002"
    assert all(i.path == "bagit.txt" for i in found)
    assert any(words in i.message for i in found), [i.message for i in found]


def test_bag_e002_accepts_crlf_cr_and_missing_final_newline() -> None:
    for content in (
        b"BagIt-Version: 1.0\r\nTag-File-Character-Encoding: UTF-8\r\n",
        b"BagIt-Version: 1.0\rTag-File-Character-Encoding: UTF-8\r",
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8",
    ):
        files = make_bag(PAYLOAD)
        files["bagit.txt"] = content
        seal(files)
        assert read(files).issues == [], content


def test_bag_e003_no_payload_manifest() -> None:
    files = make_bag(PAYLOAD)
    del files["manifest-sha256.txt"]
    seal(files)
    issue = only(read(files).issues, "BAG-E003")
    assert "no payload manifest" in issue.message


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("abc123  data/a.txt", "is not 64 hexadecimal digits"),
        ("z" * 64 + "  data/a.txt", "is not 64 hexadecimal digits"),
        ("just-one-field", "expected '<digest> <path>'"),
    ],
    ids=["too-short", "not-hex", "no-path"],
)
def test_bag_e004_malformed_manifest_line(line: str, words: str) -> None:
    files = make_bag(PAYLOAD)
    files["manifest-sha256.txt"] += f"{line}\n".encode()
    seal(files)
    issue = only(read(files).issues, "BAG-E004")
    assert issue.path == "manifest-sha256.txt"
    assert issue.message.startswith("line 4: ")
    assert words in issue.message
    assert str(issue).startswith("BAG-E004 manifest-sha256.txt: line 4: ")


def test_bag_e004_tag_manifest_must_not_list_payload() -> None:
    files = make_bag(PAYLOAD)
    files["tagmanifest-sha256.txt"] += f"{HELLO_SHA256}  data/a.txt\n".encode()
    issue = only(read(files).issues, "BAG-E004")
    assert issue.path == "tagmanifest-sha256.txt"
    assert "must not list payload files" in issue.message


def test_bag_e005_unknown_algorithm_is_an_error_not_skipped() -> None:
    files = make_bag(PAYLOAD)
    files["manifest-blake3.txt"] = b"0" * 64 + b"  data/a.txt\n"
    seal(files)
    structure = read(files)
    issue = only(structure.issues, "BAG-E005")
    assert issue.path == "manifest-blake3.txt"
    assert "'blake3' is not supported" in issue.message
    assert "sha256" in issue.message  # says what is supported
    assert errors(structure.issues) == [issue]


def test_bag_e006_listed_file_missing() -> None:
    files = make_bag(PAYLOAD)
    del files["data/a.txt"]
    structure = read(files)
    issue = only(structure.issues, "BAG-E006")
    assert issue.path == "data/a.txt"
    assert "manifest-sha256.txt line 1" in issue.message
    assert "not in the bag" in issue.message
    # check_payload skips what read_structure already reported
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


def test_bag_e006_tag_file_listed_in_tag_manifest_missing() -> None:
    files = make_bag(PAYLOAD)
    del files["bag-info.txt"]
    issue = only(read(files).issues, "BAG-E006")
    assert issue.path == "bag-info.txt"
    assert "tagmanifest-sha256.txt line 1" in issue.message


def test_bag_e007_payload_file_not_in_every_manifest() -> None:
    files = make_bag(PAYLOAD, algorithms=("sha256", "sha512"))
    files["manifest-sha512.txt"] = manifest({k: v for k, v in PAYLOAD.items() if k != "data/empty"}, "sha512")
    seal(files)
    issue = only(read(files).issues, "BAG-E007")
    assert issue.path == "data/empty"
    assert "not listed in manifest-sha512.txt" in issue.message


def test_bag_e008_tag_file_digest_mismatch() -> None:
    files = make_bag(PAYLOAD)
    files["bag-info.txt"] += b"Contact-Name: changed after sealing\n"
    issue = only(read(files).issues, "BAG-E008")
    assert issue.path == "bag-info.txt"
    assert "tagmanifest-sha256.txt line 1 says" in issue.message
    assert digest("sha256", files["bag-info.txt"]) in issue.message


def test_bag_e008_payload_digest_mismatch_names_file_algorithm_and_both_digests() -> None:
    files = make_bag(PAYLOAD, algorithms=("sha256", "md5"))
    structure = read(files)
    actual = actual_digests(files, structure)
    actual["data/a.txt"][DigestAlgorithm.SHA256] = "f" * 64
    found = BagItCodec().check_payload(structure, actual)
    assert codes(found) == ["BAG-E008"]
    assert found[0].path == "data/a.txt"
    assert found[0].message == (f"sha256 is {'f' * 64}, manifest-sha256.txt says {HELLO_SHA256}")


def test_check_payload_refuses_incomplete_digests() -> None:
    files = make_bag(PAYLOAD)
    structure = read(files)
    with pytest.raises(ValueError, match=r"no computed digest for data/a\.txt"):
        BagItCodec().check_payload(structure, {})


def test_bag_e009_payload_oxum_mismatch() -> None:
    files = make_bag(PAYLOAD, info="Payload-Oxum: 10.2\n")
    issue = only(read(files).issues, "BAG-E009")
    assert issue.path == "bag-info.txt"
    assert issue.message == "Payload-Oxum says 10 bytes in 2 files; the payload holds 9 bytes in 3 files"


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../outside.txt", "climbs out"),
        ("data/../../outside.txt", "climbs out"),
        ("/etc/passwd", "absolute"),
        ("C:\\Windows\\win.ini", "absolute Windows path"),
        ("~/notes.txt", "home-directory"),
        ("bag-info.txt", "outside the data/ payload directory"),
    ],
)
def test_bag_e010_path_escapes_bag_or_payload(path: str, words: str) -> None:
    files = make_bag(PAYLOAD)
    files["manifest-sha256.txt"] += f"{'0' * 64}  {path}\n".encode()
    seal(files)
    issue = only(read(files).issues, "BAG-E010")
    assert issue.path == "manifest-sha256.txt"
    assert f"line 4: {path!r}" in issue.message
    assert words in issue.message


def test_bag_e010_fetch_path_outside_payload() -> None:
    files = make_bag(PAYLOAD)
    files["fetch.txt"] = b"https://example.org/x - ../../../README.md\n"
    seal(files)
    issue = only(read(files).issues, "BAG-E010")
    assert issue.path == "fetch.txt"
    assert "line 1" in issue.message


@pytest.mark.parametrize("second_digest_differs", [False, True])
def test_bag_e011_same_path_twice(second_digest_differs: bool) -> None:
    files = make_bag(PAYLOAD)
    line = f"{'0' * 64 if second_digest_differs else HELLO_SHA256}  data/a.txt\n"
    files["manifest-sha256.txt"] += line.encode()
    seal(files)
    issue = only(read(files).issues, "BAG-E011")
    assert issue.path == "data/a.txt"
    assert "listed twice in manifest-sha256.txt (lines 1 and 4)" in issue.message
    assert ("different digests" in issue.message) is second_digest_differs


def test_bag_e011_same_name_in_two_normalisations() -> None:
    nfc = "data/Núñez"
    nfd = unicodedata.normalize("NFD", nfc)
    files = make_bag({nfc: b"x"})
    files["manifest-sha256.txt"] += f"{digest('sha256', b'x')}  {nfd}\n".encode()
    seal(files)
    issue = only(read(files).issues, "BAG-E011")
    assert issue.path == nfc


def test_manifest_in_nfd_matches_file_stored_in_nfc() -> None:
    nfc = "data/Café/Núñez.txt"
    nfd = unicodedata.normalize("NFD", nfc)
    files = make_bag({nfd: b"x"})  # manifest written where names are decomposed
    files[nfc] = files.pop(nfd)  # ... and the files land on a system that stores NFC
    structure = read(files)
    assert structure.issues == []
    assert list(structure.manifests[DigestAlgorithm.SHA256]) == [nfc]  # keyed as the file system spells it
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


@pytest.mark.parametrize(
    ("info", "words"),
    [
        ("  continued with nothing before\n", "continuation line with no field before it"),
        ("No colon on this line\n", "is not 'Label: value'"),
        ("Payload-Oxum: lots\n", "Payload-Oxum 'lots' is not '<octets>.<file count>'"),
        ("Payload-Oxum: 9.3\nPayload-Oxum: 9.3\n", "Payload-Oxum is given 2 times"),
        ("Contact-Name :Ada\n", "the label ends with whitespace and there is no space after the colon"),
    ],
)
def test_bag_e012_malformed_bag_info(info: str, words: str) -> None:
    files = make_bag(PAYLOAD, info=info)
    issue = only(read(files).issues, "BAG-E012")
    assert issue.path == "bag-info.txt"
    assert words in issue.message


def test_bag_info_continuation_lines_are_unfolded() -> None:
    info = "External-Description: Uncompressed greyscale TIFF images from the\r\n   papers collection.\r\n"
    structure = read(make_bag(PAYLOAD, info=info))
    assert structure.issues == []
    assert structure.info == [
        ("External-Description", "Uncompressed greyscale TIFF images from the papers collection.")
    ]


def test_bag_e013_no_data_directory() -> None:
    files = make_bag({})
    issue = only(read(files).issues, "BAG-E013")
    assert issue.path == "data"


def test_bag_e013_data_is_a_file() -> None:
    files = make_bag(PAYLOAD)
    files["data"] = b"not a directory"
    seal(files)
    assert "'data' is a file" in only(read(files).issues, "BAG-E013").message


def test_bag_e014_fetch_lists_absent_file() -> None:
    files = make_bag(PAYLOAD)
    del files["data/a.txt"]
    files["fetch.txt"] = b"https://example.org/a.txt 6 data/a.txt\n"
    files["bag-info.txt"] = b"Payload-Oxum: 9.3\n"
    seal(files)
    issues = read(files).issues
    issue = only(issues, "BAG-E014")
    assert issue.path == "data/a.txt"
    assert "fetch.txt line 1 says to fetch it from https://example.org/a.txt" in issue.message
    assert codes(errors(issues)) == [
        "BAG-E014"
    ]  # not reported again as missing (E006) or as an Oxum mismatch


def test_fetch_listing_files_that_are_present_is_valid() -> None:
    files = make_bag(PAYLOAD)
    files["fetch.txt"] = b"https://example.org/a.txt - data/a.txt\n"
    seal(files)
    assert read(files).issues == []


def test_bag_e015_tag_file_not_valid_in_declared_encoding() -> None:
    files = make_bag(PAYLOAD, info="Contact-Name: Ad\xe9 Lovelace\n")
    files["bag-info.txt"] = "Contact-Name: Adé Lovelace\n".encode("latin-1")
    seal(files)
    issue = only(read(files).issues, "BAG-E015")
    assert issue.path == "bag-info.txt"
    assert "the byte at offset 16 is not valid UTF-8" in issue.message


def test_tag_files_in_declared_encoding_are_decoded() -> None:
    files = make_bag(PAYLOAD)
    files["bagit.txt"] = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-16\n"
    files["bag-info.txt"] = "Contact-Name: Adé\n".encode("utf-16")
    files["manifest-sha256.txt"] = manifest(PAYLOAD).decode().encode("utf-16")
    seal(files)
    files["tagmanifest-sha256.txt"] = files["tagmanifest-sha256.txt"].decode().encode("utf-16")
    structure = read(files)
    assert structure.issues == []
    assert structure.info == [("Contact-Name", "Adé")]


def test_bag_w001_weak_algorithms_only() -> None:
    structure = read(make_bag(PAYLOAD, algorithms=("md5", "sha1")))
    issue = only(structure.issues, "BAG-W001")
    assert "only md5 and sha1" in issue.message
    assert errors(structure.issues) == []


def test_bag_w002_old_version() -> None:
    structure = read(make_bag(PAYLOAD, version="0.97"))
    issue = only(structure.issues, "BAG-W002")
    assert issue.message == "BagIt version 0.97 is older than 1.0 (RFC 8493)"
    assert errors(structure.issues) == []


def test_bag_w003_tag_file_not_in_tag_manifest() -> None:
    files = make_bag(PAYLOAD)
    files["metadata/premis.xml"] = b"<premis/>"
    structure = read(files)
    issue = only(structure.issues, "BAG-W003")
    assert issue.path == "metadata/premis.xml"
    assert "not listed in tagmanifest-sha256.txt" in issue.message


def test_bag_w004_other_field_malformed_is_a_warning() -> None:
    structure = read(make_bag(PAYLOAD, info="Payload-Oxum: 9.3\nTest-Tag : 3\n"))
    issue = only(structure.issues, "BAG-W004")
    assert issue.message == "line 2: 'Test-Tag : 3': the label ends with whitespace"
    assert errors(structure.issues) == []


@pytest.mark.parametrize(
    ("line", "form"),
    [
        (f"{HELLO_SHA256} *data/a.txt", "md5sum's '*' binary marker"),
        (f"{HELLO_SHA256}  ./data/a.txt", "a './' prefix on the path"),
        (f"{HELLO_SHA256.upper()}  data/a.txt", "upper-case hexadecimal digits"),
    ],
    ids=["binary-marker", "dot-slash", "upper-case-hex"],
)
def test_bag_w005_non_standard_manifest_line(line: str, form: str) -> None:
    files = make_bag(PAYLOAD)
    standard = f"{HELLO_SHA256}  data/a.txt\n".encode()
    assert files["manifest-sha256.txt"].startswith(standard)
    files["manifest-sha256.txt"] = files["manifest-sha256.txt"].replace(standard, f"{line}\n".encode())
    seal(files)
    structure = read(files)
    issue = only(structure.issues, "BAG-W005")
    assert issue.path == "manifest-sha256.txt"
    assert issue.message.startswith("line 1: manifest line uses a non-standard form: ")
    assert form in issue.message
    assert "(on 1 line of this manifest)" in issue.message
    assert errors(structure.issues) == []
    assert structure.manifests[DigestAlgorithm.SHA256]["data/a.txt"] == HELLO_SHA256
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


def test_bag_w005_once_per_manifest_naming_the_first_line() -> None:
    payload = {"data/a.txt": b"a", "data/b.txt": b"b", "data/c.txt": b"c"}
    files = make_bag(payload, algorithms=("md5",), tag_algorithm="md5")
    files["manifest-md5.txt"] = (
        f"{digest('md5', b'a')}  data/a.txt\n"
        f"{digest('md5', b'b')} *data/b.txt\n"
        f"{digest('md5', b'c').upper()}  ./data/c.txt\n"
    ).encode()
    tags = {path: data for path, data in files.items() if not path.startswith(("data/", "tagmanifest-"))}
    files["tagmanifest-md5.txt"] = "".join(
        f"{digest('md5', data)} *{path}\n" for path, data in sorted(tags.items())
    ).encode()
    issues = read(files).issues
    found = [i for i in issues if i.code == "BAG-W005"]
    assert [i.path for i in found] == ["manifest-md5.txt", "tagmanifest-md5.txt"]
    payload_warning, tag_warning = found
    assert payload_warning.message.startswith("line 2: ")
    assert "md5sum's '*' binary marker, a './' prefix on the path and upper-case hexadecimal digits" in (
        payload_warning.message
    )
    assert "(on 2 lines of this manifest)" in payload_warning.message
    assert tag_warning.message.startswith("line 1: ")
    assert "(on 3 lines of this manifest)" in tag_warning.message
    assert errors(issues) == []


def _listed_twice(version: str, spelling: str, *, same_digest: bool = True) -> dict[str, bytes]:
    """A bag whose manifest lists data/Núñez.txt on line 1 and again, spelled ``spelling``, on line 2."""
    name = "data/Núñez.txt"
    files = make_bag({name: b"x"}, version=version)
    second = digest("sha256", b"x") if same_digest else "0" * 64
    files["manifest-sha256.txt"] += f"{second}  {spelling}\n".encode()
    seal(files)
    return files


_SPELLINGS = {
    "identical": "data/Núñez.txt",
    "nfd": unicodedata.normalize("NFD", "data/Núñez.txt"),
    "case": "data/NÚÑEZ.TXT",
}


@pytest.mark.parametrize("spelling", list(_SPELLINGS), ids=list(_SPELLINGS))
@pytest.mark.parametrize("version", ["0.97", "0.96"])
def test_bag_w006_same_path_twice_with_same_digest_before_1_0(version: str, spelling: str) -> None:
    structure = read(_listed_twice(version, _SPELLINGS[spelling]))
    issue = only(structure.issues, "BAG-W006")
    assert issue.path == "data/Núñez.txt"  # the spelling of the file in the bag
    assert issue.message.startswith("listed twice in manifest-sha256.txt (lines 1 and 2")
    assert issue.message.endswith("with the same digest; tolerated before BagIt 1.0")
    if spelling == "case":
        assert "spelled 'data/Núñez.txt' and 'data/NÚÑEZ.TXT'" in issue.message
    if spelling == "nfd":
        assert "spelled in different Unicode normalisations" in issue.message
    assert errors(structure.issues) == []  # in particular no BAG-E006 for the second spelling
    assert structure.manifests[DigestAlgorithm.SHA256] == {"data/Núñez.txt": digest("sha256", b"x")}


def test_bag_w006_absent_spelling_listed_first() -> None:
    """Like the suite's duplicate-file-with-different-case, with the lines the other way round."""
    files = make_bag({"data/hello.txt": b"hello\n"}, version="0.97")
    files["manifest-sha256.txt"] = (
        f"{HELLO_SHA256}  data/HELLO.txt\n{HELLO_SHA256}  data/hello.txt\n".encode()
    )
    seal(files)
    structure = read(files)
    issue = only(structure.issues, "BAG-W006")
    assert issue.path == "data/hello.txt"
    assert "(lines 1 and 2, spelled 'data/HELLO.txt' and 'data/hello.txt')" in issue.message
    assert errors(structure.issues) == []
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


@pytest.mark.parametrize("spelling", list(_SPELLINGS), ids=list(_SPELLINGS))
def test_bag_e011_same_duplicate_in_a_1_0_bag_stays_an_error(spelling: str) -> None:
    issues = read(_listed_twice("1.0", _SPELLINGS[spelling])).issues
    issue = only(issues, "BAG-E011")
    assert issue.path == "data/Núñez.txt"
    assert issue.message.startswith("listed twice in manifest-sha256.txt (lines 1 and 2")
    assert issue.message.endswith("with the same digest; BagIt 1.0 forbids this")
    assert codes(issues) == ["BAG-E011"]  # neither BAG-W006 nor BAG-E006


@pytest.mark.parametrize("spelling", list(_SPELLINGS), ids=list(_SPELLINGS))
def test_bag_e011_different_digests_before_1_0_stay_an_error(spelling: str) -> None:
    issues = read(_listed_twice("0.97", _SPELLINGS[spelling], same_digest=False)).issues
    issue = only(issues, "BAG-E011")
    assert issue.path == "data/Núñez.txt"
    assert issue.message.endswith("with different digests")
    assert codes(errors(issues)) == ["BAG-E011"]


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_files_whose_names_differ_only_in_case_are_distinct(version: str) -> None:
    payload = {"data/readme": b"same", "data/README": b"same", "data/Readme": b"other"}
    structure = read(make_bag(payload, version=version))
    assert errors(structure.issues) == []
    assert "BAG-W006" not in codes(structure.issues)
    assert set(structure.manifests[DigestAlgorithm.SHA256]) == set(payload)


def test_case_is_not_folded_for_a_path_listed_once() -> None:
    files = make_bag({"data/hello.txt": b"hello\n"}, version="0.97")
    files["manifest-sha256.txt"] = f"{HELLO_SHA256}  data/HELLO.txt\n".encode()
    seal(files)
    issues = read(files).issues
    assert only(issues, "BAG-E006").path == "data/HELLO.txt"
    assert only(issues, "BAG-E007").path == "data/hello.txt"


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("data/.DS_Store", "macOS Finder folder settings"),
        ("data/photos/Thumbs.db", "Windows thumbnail cache"),
        ("data/thumbs.db", "Windows thumbnail cache"),
        ("data/Desktop.ini", "Windows folder settings"),
        ("data/Icon\r", "macOS custom folder icon"),
        ("data/._photo.jpg", "macOS AppleDouble metadata"),
        ("data/.Spotlight-V100/Store-V2/index", "macOS Spotlight index"),
        ("data/.Trashes/501/old.txt", "macOS trash folder"),
        ("data/.fseventsd/0000000000000001", "macOS file-system event log"),
    ],
)
def test_bag_w007_operating_system_file_in_the_payload(path: str, what: str) -> None:
    files = make_bag({**PAYLOAD, path: b"\x00junk"})
    structure = read(files)
    issue = only(structure.issues, "BAG-W007")
    assert issue.path == path
    assert issue.message.startswith(f"operating-system file in the payload ({what})")
    assert errors(structure.issues) == []
    assert path in structure.manifests[DigestAlgorithm.SHA256]  # still checked like any other file
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


@pytest.mark.parametrize("version", ["0.97", "1.0"])
def test_bag_w007_listed_operating_system_file_absent_is_not_an_error(version: str) -> None:
    files = make_bag({**PAYLOAD, "data/.DS_Store": b"\x00\x00\x00\x01Bud1"}, version=version)
    del files["data/.DS_Store"]  # stripped by a copying tool; the manifests and Payload-Oxum still count it
    structure = read(files)
    issue = only(structure.issues, "BAG-W007")
    assert issue.path == "data/.DS_Store"
    assert issue.message.startswith(
        "listed operating-system file is absent; copying tools often strip such files"
    )
    assert "(macOS Finder folder settings; listed in manifest-sha256.txt line 1)" in issue.message
    assert errors(structure.issues) == []  # neither BAG-E006 nor BAG-E009
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


def test_bag_e009_not_explained_by_absent_operating_system_files() -> None:
    payload = {**PAYLOAD, "data/Thumbs.db": b"thumbnails"}
    files = make_bag(payload, info="Payload-Oxum: 19.5\n")  # one file more than was ever listed
    del files["data/Thumbs.db"]
    issues = read(files).issues
    assert only(issues, "BAG-W007").path == "data/Thumbs.db"
    issue = only(issues, "BAG-E009")
    assert issue.message == (
        "Payload-Oxum says 19 bytes in 5 files; the payload holds 9 bytes in 3 files "
        "(1 listed operating-system file absent)"
    )


def test_bag_e006_absent_file_that_only_resembles_an_operating_system_file() -> None:
    files = make_bag({**PAYLOAD, "data/DS_Store.txt": b"notes"})
    del files["data/DS_Store.txt"]
    issues = read(files).issues
    assert only(issues, "BAG-E006").path == "data/DS_Store.txt"
    assert "BAG-W007" not in codes(issues)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_manifest_line_endings(newline: str) -> None:
    files = make_bag(PAYLOAD)
    files["manifest-sha256.txt"] = manifest(PAYLOAD, newline=newline)
    seal(files)
    assert read(files).issues == []


def test_manifest_path_decoding_and_md5sum_marker_and_dot_slash() -> None:
    payload = {"data/100%.txt": b"a", "data/line\nbreak": b"b", "data/%7Eliteral": b"c", "data/x": b"d"}
    files = make_bag(payload)
    lines = [
        f"{digest('sha256', b'a')}  data/100%25.txt",
        f"{digest('sha256', b'b')}\tdata/line%0Abreak",
        f"{digest('sha256', b'c')}   data/%7Eliteral",  # only %25, %0A and %0D are escapes
        f"{digest('sha256', b'd').upper()} *./data/x",  # upper-case hex, md5sum's binary marker, './'
    ]
    files["manifest-sha256.txt"] = ("\n".join(lines) + "\n").encode()
    seal(files)
    structure = read(files)
    assert codes(structure.issues) == ["BAG-W005"]  # the last line's forms are accepted, not silently
    assert set(structure.manifests[DigestAlgorithm.SHA256]) == set(payload)
    assert BagItCodec().check_payload(structure, actual_digests(files, structure)) == []


def test_every_problem_is_collected() -> None:
    files = make_bag(PAYLOAD, info="Payload-Oxum: 1.1\n")
    del files["bagit.txt"]
    files["data/extra"] = b"unlisted"
    files["manifest-sha256.txt"] += b"nothex  data/a.txt\n" + f"{'0' * 64}  data/gone\n".encode()
    files["manifest-whirlpool.txt"] = b""
    structure = read(files)
    assert codes(errors(structure.issues)) == [
        "BAG-E001",
        "BAG-E004",
        "BAG-E005",
        "BAG-E006",  # bagit.txt, listed in the tag manifest
        "BAG-E006",  # data/gone
        "BAG-E007",  # data/extra
        "BAG-E008",  # manifest-sha256.txt changed after sealing
        "BAG-E009",
    ]
    assert codes(warnings(structure.issues)) == ["BAG-W003"]  # manifest-whirlpool.txt is not sealed
