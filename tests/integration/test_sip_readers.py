"""The SIP readers on real folders and archives made in tmp_path, with quality assurance on top."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import pickle
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from oais.adapters.sip import DirectorySource, FileSystemSipReader, SourceBagFiles, TarSource, ZipSource
from oais.domain.errors import NotFound, SipRejected, ValidationFailed
from oais.domain.packages import EntryKind, SipForm
from oais.domain.ports import SipSource
from oais.ingest.qa import QaResult, check_sip, find_bag_root
from tests.support import sip_fixtures as fx

READER = FileSystemSipReader()


def open_sip(path: Path) -> SipSource:
    return READER.open_sip(path)


def qa(path: Path) -> QaResult:
    return check_sip(open_sip(path).entries())


def pack(root: Path, dest: Path, form: str) -> Path:
    """Pack the folder ``root`` as 'zip', 'tar' or 'tgz' (names stored relative to ``root``)."""
    names = sorted(
        os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files
    )
    if form == "zip":
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in names:
                zf.write(root / name, name)
    else:
        with tarfile.open(dest, "w:gz" if form == "tgz" else "w", encoding="utf-8") as tf:
            for name in names:
                tf.add(root / name, name, recursive=False)
    return dest


def snapshot(path: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every name under ``path`` (or the file itself) with mode, size, mtime and content digest."""
    paths = [path] if path.is_file() else sorted(path.rglob("*"))
    out: dict[str, tuple[int, int, int, str]] = {}
    for p in paths:
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[os.fsdecode(p)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


# --- legal but awkward names round trip through every reader -----------------------------------


@pytest.fixture
def awkward_dir(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    files = fx.awkward_sip(tmp_path)
    return fx.write_tree(tmp_path / "awkward", files), files


@pytest.mark.parametrize("form", ["dir", "zip", "tar", "tgz"])
def test_awkward_names_round_trip_byte_for_byte(
    awkward_dir: tuple[Path, dict[str, bytes]], tmp_path: Path, form: str
) -> None:
    root, files = awkward_dir
    sip = root if form == "dir" else pack(root, tmp_path / f"awkward.{form}", form)
    source = open_sip(sip)
    entries = list(source.entries())
    raw = {e.path: e.raw_path for e in entries if e.kind is EntryKind.FILE}
    assert raw == {name: name.encode() for name in files}
    result = check_sip(entries)
    assert result.ok, result.issues
    assert {c.target: c.source for c in result.files} == {name: name for name in files}
    for name, data in files.items():
        with source.open(name) as f:
            assert f.read() == data
    assert result.total_bytes == sum(len(v) for v in files.values())
    source.close()


def test_forms_and_parallel_reads(awkward_dir: tuple[Path, dict[str, bytes]], tmp_path: Path) -> None:
    root, _ = awkward_dir
    cases = {
        root: (DirectorySource, SipForm.DIRECTORY, True),
        pack(root, tmp_path / "a.zip", "zip"): (ZipSource, SipForm.ZIP, True),
        pack(root, tmp_path / "a.tar", "tar"): (TarSource, SipForm.TAR, True),
        pack(root, tmp_path / "a.tgz", "tgz"): (TarSource, SipForm.TAR, False),
    }
    for path, (cls, form, parallel) in cases.items():
        source = open_sip(path)
        assert isinstance(source, cls)
        assert (source.form, source.parallel_reads, source.location) == (form, parallel, str(path))


def test_archive_kind_comes_from_content_not_extension(tmp_path: Path) -> None:
    root = fx.write_tree(tmp_path / "s", {"a.txt": b"a"})
    gz_named_tar = pack(root, tmp_path / "really-gz.tar", "tgz")
    tar_named_tgz = pack(root, tmp_path / "really-plain.tgz", "tar")
    zip_named_tar = pack(root, tmp_path / "really-zip.tar", "zip")
    assert not open_sip(gz_named_tar).parallel_reads
    assert open_sip(tar_named_tgz).parallel_reads
    assert isinstance(open_sip(zip_named_tar), ZipSource)
    for path in (gz_named_tar, tar_named_tgz, zip_named_tar):
        assert open_sip(path).read_bytes("a.txt") == b"a"


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz"])
def test_other_compressions_are_read(tmp_path: Path, mode: str) -> None:
    path = fx.tar_of(tmp_path / "sip.tar.x", [("a.txt", b"abc")], mode=mode)
    source = open_sip(path)
    assert not source.parallel_reads
    assert source.read_bytes("a.txt") == b"abc"


# --- reading never modifies the SIP --------------------------------------------------------------


@pytest.mark.parametrize("form", ["dir", "zip", "tar", "tgz"])
def test_reading_never_modifies_the_sip(
    awkward_dir: tuple[Path, dict[str, bytes]], tmp_path: Path, form: str
) -> None:
    root, _ = awkward_dir
    os.symlink("with space.txt", root / "link")
    sip = root if form == "dir" else pack(root, tmp_path / f"s.{form}", form)
    before, listing = snapshot(sip), sorted(os.listdir(sip.parent))
    source = open_sip(sip)
    result = check_sip(source.entries())
    for item in result.files:
        with source.open(item.source) as f:
            while f.read(1 << 16):
                pass
    source.close()
    assert snapshot(sip) == before
    assert sorted(os.listdir(sip.parent)) == listing


# --- pickling and worker processes ---------------------------------------------------------------


def read_in_worker(blob: bytes, path: str) -> bytes:
    source: SipSource = pickle.loads(blob)
    with source.open(path) as f:
        return f.read()


@pytest.mark.parametrize("form", ["dir", "zip", "tar", "tgz"])
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_source_survives_pickle_and_reads_in_a_worker(tmp_path: Path, form: str, start_method: str) -> None:
    files = {"a.txt": b"alpha" * 1000, "sub/b.bin": os.urandom(70_000), "sub/c d.txt": b""}
    root = fx.write_tree(tmp_path / "s", files)
    sip = root if form == "dir" else pack(root, tmp_path / f"s.{form}", form)
    source = open_sip(sip)
    list(source.entries())
    with source.open("a.txt") as f:  # an open handle in the parent must not stop pickling
        f.read(10)
        blob = pickle.dumps(source)
    clone = pickle.loads(blob)
    assert (clone.form, clone.location, clone.parallel_reads) == (
        source.form,
        source.location,
        source.parallel_reads,
    )
    ctx = multiprocessing.get_context(start_method)
    with ctx.Pool(2) as pool:
        results = pool.starmap(read_in_worker, [(blob, name) for name in files])
    assert dict(zip(files, results, strict=True)) == files


# --- one fixture per code ------------------------------------------------------------------------

Builder = Callable[[Path], Path]

QA_CASES: list[tuple[Builder, str, list[str]]] = [
    (
        fx.sip_e001_zip_slip,
        "SIP-E001",
        ["../../evil", "/etc/passwd", "..\\..\\evil.bat", "C:/Windows/evil.dll"],
    ),
    (fx.sip_e001_tar_slip, "SIP-E001", ["../../evil", "/etc/passwd", "'hard'"]),
    (fx.sip_e002_symlink_outside, "SIP-E002", ["'passwd'", "/etc/passwd", "'sub/up'", "../../outside"]),
    (fx.sip_e002_symlink_loop, "SIP-E002", ["'a'", "'b'", "'broken'"]),
    (fx.sip_e002_hardlink_missing, "SIP-E002", ["'hard'", "nowhere"]),
    (fx.sip_e003_special_files, "SIP-E003", ["null-device", "fifo", "socket"]),
    (fx.sip_e003_tar_devices, "SIP-E003", ["dev/null", "pipe"]),
    (fx.sip_e004_nfc_collision, "SIP-E004", [f"{fx.NFC_E}.txt", f"{fx.NFD_E}.txt"]),
    (fx.sip_e005_case_collision, "SIP-E005", ["README", "readme"]),
    (fx.sip_e006_invalid_utf8, "SIP-E006", ["bad\\xff.txt"]),
    (fx.sip_e006_zip_invalid_utf8, "SIP-E006", ["bad\\xff.txt"]),
    (fx.sip_e006_zip_flagged_invalid_utf8, "SIP-E006", ["bad\\xff\\xfe.txt"]),
    (fx.sip_e007_empty_directories, "SIP-E007", []),
    (fx.sip_e009_symlink_to_directory, "SIP-E009", ["docs-link", "docs"]),
    (
        fx.sip_e010_control_characters,
        "SIP-E010",
        ["line\\nfeed.txt", "carriage\\rreturn.txt", "tab\\there.txt"],
    ),
]


@pytest.mark.parametrize(("build", "code", "names"), QA_CASES, ids=[c[0].__name__ for c in QA_CASES])
def test_bad_sip_fixture_triggers_its_code(
    tmp_path: Path, build: Builder, code: str, names: list[str]
) -> None:
    sip = build(tmp_path)
    before = snapshot(sip)
    result = qa(sip)
    found = [i for i in result.issues if i.code == code]
    assert found, result.issues
    assert not result.ok
    for name in names:
        assert any(name in i.message for i in found), (name, found)
    assert all(i.path.isprintable() or i.path == "" for i in result.issues)
    # every other file is still listed: a bad name does not hide the good ones
    if code != "SIP-E007":
        assert "ok.txt" in {c.target for c in result.files} or code in ("SIP-E004", "SIP-E005", "SIP-E009")
    assert snapshot(sip) == before


def test_sip_e006_zip_flagged_and_unflagged_keep_raw_bytes(tmp_path: Path) -> None:
    for build, raw in (
        (fx.sip_e006_zip_invalid_utf8, b"bad\xff.txt"),
        (fx.sip_e006_zip_flagged_invalid_utf8, b"bad\xff\xfe.txt"),
    ):
        entries = list(open_sip(build(tmp_path)).entries())
        assert raw in {e.raw_path for e in entries}


def test_sip_w001_symlink_inside_is_read_through_its_target(tmp_path: Path) -> None:
    sip = fx.sip_w001_symlink_inside(tmp_path)
    for path in (sip, pack(sip, tmp_path / "w.zip", "zip"), pack(sip, tmp_path / "w.tar", "tar")):
        if path.suffix == ".zip":
            # zipfile.write follows links; store the link itself as Info-ZIP does
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr("data/real.txt", b"real")
                fx.zip_symlink(zf, "alias.txt", "data/real.txt")
        source = open_sip(path)
        result = check_sip(source.entries())
        assert result.ok
        assert [i.code for i in result.issues] == ["SIP-W001"]
        assert "alias.txt" in result.issues[0].message
        item = next(c for c in result.files if c.target == "alias.txt")
        assert item.source == "data/real.txt"
        with source.open(item.source) as f:
            assert f.read() == b"real"


# --- SIP-E008: the reader refuses what it cannot read -------------------------------------------


def _gzip_not_tar(base: Path) -> Path:
    import gzip

    path = base / "notes.tar.gz"
    path.write_bytes(gzip.compress(b"just text, no tar inside\n" * 100))
    return path


def _missing(base: Path) -> Path:
    return base / "no-such-sip"


def _empty_file(base: Path) -> Path:
    path = base / "empty.tar"
    path.write_bytes(b"")
    return path


def _truncated_plain_tar(base: Path) -> Path:
    whole = fx.tar_of(base / "w.tar", [(f"f{i}.bin", os.urandom(5000)) for i in range(4)])
    path = base / "truncated.tar"
    path.write_bytes(whole.read_bytes()[:12000])
    return path


def _garbage_inside_tar(base: Path) -> Path:
    whole = fx.tar_of(base / "g.tar", [("a.bin", b"a" * 512), ("b.bin", b"b" * 512)])
    data = bytearray(whole.read_bytes())
    data[1024:1536] = b"\x01" * 512  # the second header
    path = base / "garbage.tar"
    path.write_bytes(bytes(data))
    return path


E008_CASES: list[tuple[Builder, str]] = [
    (fx.sip_e008_corrupt_zip, "end of central directory"),
    (fx.sip_e008_truncated_targz, "truncated"),
    (fx.sip_e008_not_an_archive, "unsupported"),
    (_gzip_not_tar, "gzip-compressed, but not a readable tar"),
    (_missing, "no such file"),
    (_empty_file, "empty file"),
    (_truncated_plain_tar, "truncated"),
    (_garbage_inside_tar, "damaged"),
]


@pytest.mark.parametrize(("build", "words"), E008_CASES, ids=[c[0].__name__ for c in E008_CASES])
def test_sip_e008_unreadable_sips_are_rejected(tmp_path: Path, build: Builder, words: str) -> None:
    sip = build(tmp_path)
    with pytest.raises(SipRejected) as info:
        source = open_sip(sip)
        list(source.entries())
    (issue,) = info.value.issues
    assert issue.code == "SIP-E008"
    assert issue.path == str(sip)
    assert str(sip) in issue.message
    assert words in issue.message


def test_sip_e008_encrypted_zip_member(tmp_path: Path) -> None:
    path = fx.zip_of(tmp_path / "enc.zip", {"secret.txt": b"x"})
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag in the local and central headers
    for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + at] |= 1
    path.write_bytes(bytes(data))
    with pytest.raises(SipRejected) as info:
        list(open_sip(path).entries())
    assert "secret.txt" in info.value.issues[0].message


# --- zip specifics -------------------------------------------------------------------------------


def test_zip_directories_symlinks_and_specials(tmp_path: Path) -> None:
    path = tmp_path / "kinds.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dir/", b"")
        zf.writestr("dir/a.txt", b"a")
        fx.zip_symlink(zf, "link", "dir/a.txt")
        fifo = zipfile.ZipInfo("fifo")
        fifo.create_system = 3
        fifo.external_attr = (stat.S_IFIFO | 0o644) << 16
        zf.writestr(fifo, b"")
    kinds = {e.path: (e.kind, e.link_target) for e in open_sip(path).entries()}
    assert kinds == {
        "dir": (EntryKind.DIRECTORY, None),
        "dir/a.txt": (EntryKind.FILE, None),
        "link": (EntryKind.SYMLINK, "dir/a.txt"),
        "fifo": (EntryKind.SPECIAL, None),
    }
    with pytest.raises(NotFound):
        open_sip(path).open("link")  # a link is never copied as a file holding its target


def test_zip64_records_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Lowering zipfile's limits makes it write zip64 extra fields and the zip64 end record for small
    # members, which exercises the same parsing as a file larger than 4 GiB.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    big = os.urandom(5000)
    path = tmp_path / "z64.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr("big.bin", big)
        with zf.open("forced.bin", "w", force_zip64=True) as w:
            w.write(b"forced")
    monkeypatch.undo()
    assert b"PK\x06\x06" in path.read_bytes()
    source = open_sip(path)
    assert {e.path: e.size for e in source.entries()} == {"big.bin": 5000, "forced.bin": 6}
    assert source.read_bytes("big.bin") == big
    with source.open("forced.bin") as f:
        assert f.read() == b"forced"


def test_zip_with_a_prefix_is_read(tmp_path: Path) -> None:
    inner = fx.zip_of(tmp_path / "inner.zip", {"a.txt": b"a"})
    path = tmp_path / "sfx.zip"
    path.write_bytes(b"#!/bin/sh\nexit 0\n" + inner.read_bytes())
    assert open_sip(path).read_bytes("a.txt") == b"a"


def test_zip_crc_mismatch_is_detected_when_read(tmp_path: Path) -> None:
    path = tmp_path / "crc.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.txt", b"original")
    fx.replace_bytes(path, b"original", b"0riginal")
    with open_sip(path).open("a.txt") as f, pytest.raises(SipRejected) as info:
        f.read()
    assert info.value.issues[0].code == "SIP-E008"
    assert "a.txt" in info.value.issues[0].message


# --- tar specifics -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_tar_hardlink_inside_reads_its_target(tmp_path: Path, mode: str) -> None:
    path = fx.tar_of(
        tmp_path / "h.tar",
        [("orig.txt", b"content"), fx.tar_link("./copy.txt", "./orig.txt", hard=True)],
        mode,
    )
    source = open_sip(path)
    result = check_sip(source.entries())
    assert result.ok and result.issues == []
    item = next(c for c in result.files if c.target == "copy.txt")
    for name in (item.source, "copy.txt"):
        with source.open(name) as f:
            assert f.read() == b"content"
    source.close()


def test_compressed_tar_reads_members_in_any_order(tmp_path: Path) -> None:
    files = {f"f{i}": os.urandom(3000) for i in range(6)}
    path = fx.tar_of(tmp_path / "o.tgz", list(files.items()), mode="w:gz")
    source = open_sip(path)
    for name in reversed(files):
        assert source.read_bytes(name) == files[name]
    with source.open("f1") as first, source.open("f4") as second:  # two members open at once
        assert (first.read(), second.read()) == (files["f1"], files["f4"])
    source.close()


def test_read_bytes_limit_and_missing(tmp_path: Path) -> None:
    root = fx.write_tree(tmp_path / "s", {"big": b"x" * 100, "dir/a": b"a"})
    for path in (root, pack(root, tmp_path / "s.zip", "zip"), pack(root, tmp_path / "s.tar", "tar")):
        source = open_sip(path)
        assert source.read_bytes("big", limit=100) == b"x" * 100
        with pytest.raises(ValidationFailed):
            source.read_bytes("big", limit=99)
        for missing in ("nope", "dir"):
            with pytest.raises(NotFound):
                source.open(missing)


# --- directories ---------------------------------------------------------------------------------


def test_directory_walk_never_follows_directory_links(tmp_path: Path) -> None:
    outside = fx.write_tree(tmp_path / "outside", {"secret": b"s"})
    root = fx.write_tree(tmp_path / "s", {"a.txt": b"a"})
    os.symlink(outside, root / "escape")
    os.symlink("..", root / "up")
    entries = {e.path: e for e in DirectorySource(root).entries()}
    assert set(entries) == {"a.txt", "escape", "up"}
    assert entries["escape"].kind is EntryKind.SYMLINK
    with pytest.raises(NotFound):
        DirectorySource(root).open("escape/secret")


def test_directory_lists_empty_folders(tmp_path: Path) -> None:
    root = fx.write_tree(tmp_path / "s", {"a.txt": b"a"})
    (root / "empty" / "inner").mkdir(parents=True)
    result = qa(root)
    assert result.ok
    assert result.empty_directories == ["empty/inner"]


# --- bags inside SIPs ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dir", "zip", "tgz"])
def test_bag_in_a_single_folder(tmp_path: Path, form: str) -> None:
    bag = {"bagit.txt": b"BagIt-Version: 1.0\n", "data/x.txt": b"xx", "manifest-sha256.txt": b"..."}
    outer = fx.write_tree(tmp_path / "outer", {f"mybag/{k}": v for k, v in bag.items()})
    sip = outer if form == "dir" else pack(outer, tmp_path / f"b.{form}", form)
    source = open_sip(sip)
    root = find_bag_root(source.entries())
    assert root == "mybag/"
    files = SourceBagFiles(source, root)
    assert dict(files.list_files()) == {k: len(v) for k, v in bag.items()}
    assert files.read_bytes("bagit.txt") == bag["bagit.txt"]
    with pytest.raises(NotFound):
        files.read_bytes("missing.txt")


def test_bag_at_root_with_tar_hardlink(tmp_path: Path) -> None:
    path = fx.tar_of(
        tmp_path / "bag.tar",
        [
            ("bagit.txt", b"BagIt-Version: 1.0\n"),
            ("data/a", b"aaa"),
            fx.tar_link("data/b", "data/a", hard=True),
        ],
    )
    source = open_sip(path)
    assert find_bag_root(source.entries()) == ""
    files = SourceBagFiles(source, "")
    assert dict(files.list_files()) == {"bagit.txt": 19, "data/a": 3, "data/b": 3}
    assert files.read_bytes("data/b") == b"aaa"


def test_in_memory_check_that_stream_is_binary(tmp_path: Path) -> None:
    root = fx.write_tree(tmp_path / "s", {"a": b"abc"})
    with open_sip(root).open("a") as f:
        assert isinstance(f, io.BufferedIOBase | io.RawIOBase)
        assert f.read(2) == b"ab"


def test_a_member_too_large_to_read_whole_is_a_coded_rejection(tmp_path: Path) -> None:
    from oais.adapters.sip import FileSystemSipReader
    from oais.domain.errors import SipRejected

    sip = tmp_path / "sip"
    sip.mkdir()
    (sip / "bag-info.txt").write_bytes(b"x" * 100)
    source = FileSystemSipReader().open_sip(sip)
    with pytest.raises(SipRejected) as caught:
        source.read_bytes("bag-info.txt", limit=10)
    [problem] = caught.value.issues
    assert problem.code == "SIP-E008" and problem.path == "bag-info.txt"
    assert "100 bytes" in problem.message
