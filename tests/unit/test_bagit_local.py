"""DirectoryBagFiles: the BagFiles port over a local directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oais.adapters.bagit import DirectoryBagFiles
from oais.domain.errors import NotFound


def test_lists_every_file_with_its_size_sorted(tmp_path: Path) -> None:
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "b").write_bytes(b"12345")
    (tmp_path / "data" / "a b").write_bytes(b"")
    (tmp_path / "bagit.txt").write_bytes(b"x")
    (tmp_path / "empty-dir").mkdir()
    assert list(DirectoryBagFiles(tmp_path).list_files()) == [
        ("bagit.txt", 1),
        ("data/a b", 0),
        ("data/sub/b", 5),
    ]


def test_follows_file_links_but_not_directory_links(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "target.bin").write_bytes(b"abc")
    os.symlink(tmp_path / "target.bin", tmp_path / "data" / "link.bin")
    os.symlink(tmp_path, tmp_path / "data" / "loop")
    os.symlink(tmp_path / "missing", tmp_path / "data" / "broken")
    assert list(DirectoryBagFiles(tmp_path).list_files()) == [("data/link.bin", 3), ("target.bin", 3)]


def test_read_bytes(tmp_path: Path) -> None:
    (tmp_path / "bagit.txt").write_bytes(b"BagIt")
    files = DirectoryBagFiles(tmp_path)
    assert files.read_bytes("bagit.txt") == b"BagIt"
    for bad in ("missing.txt", "../etc/passwd", "/etc/passwd", ""):
        with pytest.raises(NotFound):
            files.read_bytes(bad)


def test_is_dir(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    files = DirectoryBagFiles(tmp_path)
    assert files.is_dir("data")
    assert not files.is_dir("nothing")
    assert not files.is_dir("../")


def test_missing_root_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no bag directory"):
        list(DirectoryBagFiles(tmp_path / "nope").list_files())


def test_empty_data_directory_is_not_reported_missing(tmp_path: Path) -> None:
    from oais.adapters.bagit import BagItCodec

    (tmp_path / "data").mkdir()
    (tmp_path / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (tmp_path / "manifest-sha256.txt").write_bytes(b"")
    assert BagItCodec().read_structure(DirectoryBagFiles(tmp_path)).issues == []
    (tmp_path / "data").rmdir()
    codes = [i.code for i in BagItCodec().read_structure(DirectoryBagFiles(tmp_path)).issues]
    assert codes == ["BAG-E013"]
