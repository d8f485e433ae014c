"""The one-pass copier: every digest and the format from one read, in order, on every core."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import xxhash

from oais.adapters.copier import EARLY_FLUSH_SIZE, ParallelCopier
from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.sip import FileSystemSipReader
from oais.domain.errors import SipRejected, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.ports import CopyItem
from tests.support.fits_files import primary_image

ALGS = [DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128, DigestAlgorithm.MD5]


@pytest.fixture
def sip(tmp_path: Path) -> Path:
    root = tmp_path / "sip"
    (root / "deep" / "er").mkdir(parents=True)
    (root / "empty.dat").write_bytes(b"")
    (root / "image.fits").write_bytes(primary_image())
    (root / "deep" / "er" / "big.bin").write_bytes(os.urandom(EARLY_FLUSH_SIZE + 12345))
    for i in range(300):
        (root / "deep" / f"small_{i:03d}.txt").write_bytes(f"line {i}\n".encode() * i)
    return root


def _items(root: Path) -> list[CopyItem]:
    return [
        CopyItem(
            source=p.relative_to(root).as_posix(),
            target=f"objects/{p.relative_to(root).as_posix()}",
            size=p.stat().st_size,
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_copies_digests_and_formats_in_item_order(sip: Path, tmp_path: Path, workers: int) -> None:
    items = _items(sip)
    dest = tmp_path / "dest"
    source = FileSystemSipReader().open_sip(sip)
    done: list[int] = []
    results = list(
        ParallelCopier(FidoIdentifier(), workers).copy(source, items, dest, ALGS, True, done.append)
    )
    assert [r.source for r in results] == [i.source for i in items]
    assert sum(done) == sum(i.size for i in items)
    for item, result in zip(items, results, strict=True):
        data = (sip / item.source).read_bytes()
        assert (dest / item.target).read_bytes() == data
        assert result.size == len(data)
        assert result.digests[DigestAlgorithm.SHA256] == hashlib.sha256(data).hexdigest()
        assert result.digests[DigestAlgorithm.MD5] == hashlib.md5(data).hexdigest()
        assert result.digests[DigestAlgorithm.XXH3_128] == xxhash.xxh3_128(data).hexdigest()
        assert result.format is not None
    by_name = {r.source: r for r in results}
    fits = by_name["image.fits"].format
    assert fits is not None and fits.puid == "x-fmt/383" and fits.issues == ()


def test_read_only_pass_writes_nothing(sip: Path, tmp_path: Path) -> None:
    source = FileSystemSipReader().open_sip(sip)
    copier = ParallelCopier(None, 2)
    results = list(copier.copy(source, _items(sip), None, [DigestAlgorithm.SHA256], False))
    copier.close()
    assert all(r.format is None for r in results) and len(results) == 303
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sip"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_changed_size_is_sip_e011(sip: Path, tmp_path: Path, workers: int) -> None:
    items = _items(sip)
    items[5] = items[5].model_copy(update={"size": items[5].size + 1})
    source = FileSystemSipReader().open_sip(sip)
    with pytest.raises(SipRejected) as caught:
        list(ParallelCopier(None, workers).copy(source, items, tmp_path / "dest", ALGS, False))
    [problem] = caught.value.issues
    assert problem.code == "SIP-E011" and problem.path == items[5].source
    assert "changed" in problem.message


def test_an_existing_copy_is_never_overwritten(sip: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "objects").mkdir(parents=True)
    (dest / "objects" / "empty.dat").write_bytes(b"keep me")
    source = FileSystemSipReader().open_sip(sip)
    with pytest.raises(StorageError, match=r"empty\.dat: cannot create the copy"):
        list(ParallelCopier(None, 1).copy(source, _items(sip), dest, ALGS, False))
    assert (dest / "objects" / "empty.dat").read_bytes() == b"keep me"


def test_abandoned_work_stops_and_the_next_copy_starts_afresh(sip: Path, tmp_path: Path) -> None:
    source = FileSystemSipReader().open_sip(sip)
    copier = ParallelCopier(None, 2)
    items = _items(sip)
    first = copier.copy(source, items, tmp_path / "a", ALGS, False)
    next(first)
    first.close()  # the consumer gives up after one file: the workers are stopped at once
    written = sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file())
    time.sleep(0.5)
    assert sorted(p for p in (tmp_path / "a").rglob("*") if p.is_file()) == written  # nothing went on writing
    again = list(copier.copy(source, items, tmp_path / "b", ALGS, False))
    assert len(again) == len(items)
    copier.close()
