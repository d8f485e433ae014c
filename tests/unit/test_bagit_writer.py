"""BagItCodec.write_tags, and write -> read -> check round trips with awkward names."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oais.adapters.bagit import BagItCodec, DirectoryBagFiles
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from tests.support.bagit_hashing import hash_payload
from tests.support.bagit_memory import MemoryBagFiles

SHA256, XXH3 = DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128
INFO = [("Source-Organization", "Example Archive"), ("Bagging-Date", "2024-05-01")]

AWKWARD = {
    "data/with space.txt": b"spaces",
    "data/100%.txt": b"percent",
    "data/literal%0A.txt": b"an escape-looking name that is not an escape",
    "data/Núñez/café.txt": unicodedata.normalize("NFC", "accents").encode(),
    "data/日本語/ファイル.txt": "非ASCII".encode(),
    "data/line\nbreak.txt": b"LF in the name",
    "data/carriage\rreturn.txt": b"CR in the name",
    "data/tab\tname": b"tab",
    "data/empty": b"",
    "data/" + "/".join(f"level{i}" for i in range(40)) + "/deep.txt": b"deep",
}


class FixedClock:
    def now(self) -> datetime:
        return datetime(2031, 12, 24, 23, 59, tzinfo=UTC)


def put_payload(bag: Path, payload: dict[str, bytes]) -> None:
    for path, data in payload.items():
        target = bag.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def write_bag(
    bag: Path, payload: dict[str, bytes], algorithms: tuple[DigestAlgorithm, ...] = (SHA256, XXH3)
) -> None:
    put_payload(bag, payload)
    digests = hash_payload(bag, payload, algorithms)
    BagItCodec().write_tags(bag, ((p, len(d), digests[p]) for p, d in payload.items()), INFO)


def validate(bag: Path) -> list[Issue]:
    codec = BagItCodec()
    structure = codec.read_structure(DirectoryBagFiles(bag))
    actual = hash_payload(bag, structure.payload, structure.algorithms)
    return structure.issues + codec.check_payload(structure, actual)


def test_round_trip_with_awkward_names(tmp_path: Path) -> None:
    write_bag(tmp_path, AWKWARD)
    assert validate(tmp_path) == []
    structure = BagItCodec().read_structure(DirectoryBagFiles(tmp_path))
    assert set(structure.payload) == set(AWKWARD)
    assert set(structure.manifests[SHA256]) == set(AWKWARD)
    manifest = (tmp_path / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert "  data/100%25.txt\n" in manifest
    assert "  data/literal%250A.txt\n" in manifest
    assert "  data/line%0Abreak.txt\n" in manifest
    assert "  data/carriage%0Dreturn.txt\n" in manifest


def test_round_trip_detects_a_changed_payload_file(tmp_path: Path) -> None:
    write_bag(tmp_path, AWKWARD)
    (tmp_path / "data" / "100%.txt").write_bytes(b"PERCENT")
    found = validate(tmp_path)
    assert [(i.code, i.path) for i in found] == [("BAG-E008", "data/100%.txt")]
    assert found[0].message.startswith("sha256 is ")
    assert "manifest-sha256.txt says" in found[0].message


def test_written_tag_files(tmp_path: Path) -> None:
    payload = {"data/b.txt": b"bb", "data/a.txt": b"a", "data/c/d.txt": b""}
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "premis.xml").write_bytes(b"<premis/>")
    write_bag(tmp_path, payload)

    assert (
        tmp_path / "bagit.txt"
    ).read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bag-info.txt",
        "bagit.txt",
        "data",
        "manifest-sha256.txt",  # and no manifest-xxh3_128.txt: that digest stays out of the bag
        "metadata",
        "tagmanifest-sha256.txt",
    ]
    manifest = (tmp_path / "manifest-sha256.txt").read_bytes()
    assert b"\r" not in manifest
    assert [line.split(b"  ", 1)[1] for line in manifest.splitlines()] == [
        b"data/a.txt",
        b"data/b.txt",
        b"data/c/d.txt",
    ]
    assert (tmp_path / "bag-info.txt").read_text(encoding="utf-8") == (
        "Source-Organization: Example Archive\nBagging-Date: 2024-05-01\nPayload-Oxum: 3.3\n"
    )
    tagged = [
        line.split("  ", 1)[1] for line in (tmp_path / "tagmanifest-sha256.txt").read_text().splitlines()
    ]
    assert tagged == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "metadata/premis.xml"]
    assert validate(tmp_path) == []


def test_bagging_date_comes_from_the_clock_when_not_given(tmp_path: Path) -> None:
    put_payload(tmp_path, {"data/a": b"a"})
    digests = hash_payload(tmp_path, ["data/a"], [SHA256])
    BagItCodec(clock=FixedClock()).write_tags(tmp_path, [("data/a", 1, digests["data/a"])], [])
    assert (tmp_path / "bag-info.txt").read_text() == "Bagging-Date: 2031-12-24\nPayload-Oxum: 1.1\n"


@pytest.mark.parametrize(
    ("payload", "info", "message"),
    [
        ([("data/a", 1, {SHA256: "0" * 64})], [], "no Bagging-Date"),
        ([("data/a", 1, {SHA256: "0" * 64})], [*INFO, ("Payload-Oxum", "1.1")], "Payload-Oxum is computed"),
        ([("data/a", 1, {SHA256: "0" * 64})], [("Bagging-Date", "yesterday")], "is not YYYY-MM-DD"),
        ([("data/a", 1, {SHA256: "0" * 64})], [("Bad:Label", "x"), *INFO], "contains ':'"),
        ([("data/a", 1, {SHA256: "0" * 64})], [("Note", "two\nlines"), *INFO], "contains a line break"),
        ([("data/a", 1, {XXH3: "0" * 32})], INFO, "no sha256 digest of record"),
        ([("data/a", 1, {SHA256: "xyz"})], INFO, "is malformed"),
        ([("outside.txt", 1, {SHA256: "0" * 64})], INFO, "outside the data/ payload directory"),
        ([("data/../x", 1, {SHA256: "0" * 64})], INFO, "climbs out"),
        ([("data/a", 1, {SHA256: "0" * 64}), ("data/a", 1, {SHA256: "0" * 64})], INFO, "given twice"),
        (
            [
                ("data/a", 1, {SHA256: "0" * 64}),
                ("data/b", 1, {SHA256: "0" * 64, DigestAlgorithm.MD5: "0" * 32}),
            ],
            INFO,
            "does not have the same digests",
        ),
    ],
)
def test_write_tags_refuses_what_would_make_a_bad_bag(
    tmp_path: Path,
    payload: list[tuple[str, int, dict[DigestAlgorithm, str]]],
    info: list[tuple[str, str]],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        BagItCodec().write_tags(tmp_path, payload, info)


def test_write_tags_refuses_a_stale_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest-md5.txt").write_text("")
    with pytest.raises(ValueError, match=r"already holds manifest-md5\.txt"):
        BagItCodec().write_tags(tmp_path, [("data/a", 1, {SHA256: "0" * 64})], INFO)


def test_writes_one_manifest_per_bagit_algorithm(tmp_path: Path) -> None:
    write_bag(tmp_path, {"data/a": b"a"}, (SHA256, DigestAlgorithm.SHA512, XXH3))
    assert sorted(p.name for p in tmp_path.glob("*manifest-*")) == [
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
    ]
    assert validate(tmp_path) == []


def test_hundred_thousand_entries(tmp_path: Path) -> None:
    """Large payloads are written in one pass and read back in linear time (no timing assertion)."""
    count = 100_000
    digest = "ab" * 32

    def entries() -> Iterator[tuple[str, int, dict[DigestAlgorithm, str]]]:
        # Reverse order: the writer must sort.
        for i in reversed(range(count)):
            yield f"data/d{i % 100:02d}/file-{i:06d}.bin", 1, {SHA256: digest, XXH3: "cd" * 16}

    BagItCodec().write_tags(tmp_path, entries(), INFO)
    lines = (tmp_path / "manifest-sha256.txt").read_text().splitlines()
    assert len(lines) == count
    assert lines == sorted(lines, key=lambda line: line.split("  ", 1)[1])
    assert "Payload-Oxum: 100000.100000" in (tmp_path / "bag-info.txt").read_text()

    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    listing = MemoryBagFiles(files)
    payload = [(line.split("  ", 1)[1], 1) for line in lines]
    listing.list_files = lambda: [*payload, *((name, len(data)) for name, data in files.items())]  # type: ignore[method-assign]
    structure = BagItCodec().read_structure(listing)
    assert structure.issues == []
    assert len(structure.payload) == count
