"""The local location beyond the contract: read-only files, hard links, durability, leftovers."""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import oais.adapters.local_store as local_store
import oais.adapters.storage.local as local
from oais.adapters.storage.local import INCOMING, LocalObjectStore
from oais.domain.errors import StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.storage import ReadItem, WriteItem, WriteOutcome, WriteResult


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_item(path: Path, key: str, data: bytes, sha: str | None = None) -> WriteItem:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return WriteItem(key=key, size=len(data), sha256=sha or sha256(data), path=str(path))


def data_item(key: str, data: bytes, sha: str | None = None) -> WriteItem:
    return WriteItem(key=key, size=len(data), sha256=sha or sha256(data), data=data)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore("disk", tmp_path / "store", concurrency=3)


def incoming(store: LocalObjectStore) -> list[str]:
    return sorted(os.listdir(store.root / INCOMING))


def count_reads(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[None]:
    """One entry each time the store hashes the file at ``path`` on its own (not while copying it)."""
    reads: list[None] = []
    real_hash_file = local.hash_file

    def hash_file(source: str | os.PathLike[str], *args: object, **kwargs: object) -> tuple[str, int]:
        if Path(source) == path:
            reads.append(None)
        return real_hash_file(source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(local, "hash_file", hash_file)
    return reads


def test_two_locations_on_one_file_system_never_share_an_inode(tmp_path: Path) -> None:
    first = LocalObjectStore("first", tmp_path / "first")
    second = LocalObjectStore("second", tmp_path / "second")
    source = tmp_path / "staging" / "bag" / "data" / "cube.fits"
    item = file_item(source, "aip-1/v1/data/cube.fits", os.urandom(50_000))
    list(first.write([item]))
    list(second.write([item]))
    a = os.stat(first.root / item.key)
    b = os.stat(second.root / item.key)
    # One inode in two locations would be one copy: a single bad block would damage both.
    assert a.st_ino == os.stat(source).st_ino
    assert b.st_ino != a.st_ino
    assert second.get_bytes(item.key) == first.get_bytes(item.key)


def test_published_objects_are_read_only(store: LocalObjectStore, tmp_path: Path) -> None:
    list(
        store.write(
            [
                data_item("v1/bagit.txt", b"BagIt-Version: 1.0\n"),
                file_item(tmp_path / "f", "v1/data/f", b"x" * 10),
            ]
        )
    )
    for key in ("v1/bagit.txt", "v1/data/f"):
        assert stat.S_IMODE(os.stat(store.root / key).st_mode) == 0o444


def test_a_source_on_the_same_file_system_is_hard_linked_not_copied(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "staging" / "bag" / "data" / "cube.fits"
    data = os.urandom(100_000)
    item = file_item(source, "aip-1/v1/data/cube.fits", data)
    reads = count_reads(monkeypatch, source)
    assert list(store.write([item])) == [
        WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=True)
    ]
    assert len(reads) == 1
    published = os.stat(store.root / "aip-1/v1/data/cube.fits")
    assert published.st_ino == os.stat(source).st_ino
    assert published.st_nlink == 2  # the source and the object; no temporary file left
    assert incoming(store) == []
    # Removing the staged bag leaves the object whole.
    source.unlink()
    assert store.get_bytes("aip-1/v1/data/cube.fits") == data


def test_a_source_on_another_file_system_is_copied_reading_it_once(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system (/dev/shm) to copy from")
    data = os.urandom(9 << 20)
    source = shm / f"oais-test-{os.getpid()}-{threading.get_ident()}"
    reads = count_reads(monkeypatch, source)
    sent: list[int] = []
    try:
        item = file_item(source, "v1/data/big", data)
        source.chmod(0o640)
        assert [r.outcome for r in store.write([item], progress=sent.append)] == [WriteOutcome.WRITTEN]
        assert reads == []  # hashed as it was copied, not before
        assert sum(sent) == len(data)
        published = os.stat(store.root / "v1/data/big")
        assert published.st_ino != os.stat(source).st_ino
        assert stat.S_IMODE(published.st_mode) == 0o444
        assert stat.S_IMODE(os.stat(source).st_mode) == 0o640  # the source is not touched
        assert (store.root / "v1/data/big").read_bytes() == data
    finally:
        source.unlink(missing_ok=True)
    assert incoming(store) == []


def refuse_links_from(source: Path) -> Callable[..., None]:
    """os.link refused for ``source`` (EPERM, as fs.protected_hardlinks may), as usual otherwise."""
    real_link = os.link

    def link(src: str | Path, dst: str | Path, **kwargs: object) -> None:
        if Path(src) == source:
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(src))
        real_link(src, dst, **kwargs)  # type: ignore[arg-type]

    return link


def test_a_source_that_cannot_be_linked_is_copied_and_left_as_it_was(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "elsewhere" / "f.bin"
    data = os.urandom(5 << 20)
    item = file_item(source, "v1/data/f.bin", data)
    source.chmod(0o640)
    monkeypatch.setattr(os, "link", refuse_links_from(source))
    sent: list[int] = []
    assert [r.outcome for r in store.write([item], progress=sent.append)] == [WriteOutcome.WRITTEN]
    assert sum(sent) == len(data)
    assert os.stat(store.root / "v1/data/f.bin").st_ino != os.stat(source).st_ino
    assert (store.root / "v1/data/f.bin").read_bytes() == data
    assert stat.S_IMODE(os.stat(source).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(store.root / "v1/data/f.bin").st_mode) == 0o444


def test_a_replacement_links_the_source_without_reading_it_again(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    list(store.write([data_item("v1/bag-info.txt", b"Bagging-Date: 2024-05-01\n")]))
    source = tmp_path / "staging" / "bag-info.txt"
    item = file_item(source, "v1/bag-info.txt", b"Bagging-Date: 2024-05-02\n").model_copy(
        update={"replace": True}
    )
    reads = count_reads(monkeypatch, source)
    sent: list[int] = []
    assert list(store.write([item], progress=sent.append)) == [
        WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=True)
    ]
    assert len(reads) == 1 and sum(sent) == item.size
    published = os.stat(store.root / "v1/bag-info.txt")
    assert published.st_ino == os.stat(source).st_ino and published.st_nlink == 2
    assert stat.S_IMODE(published.st_mode) == 0o444
    assert store.get_bytes("v1/bag-info.txt") == b"Bagging-Date: 2024-05-02\n"
    assert incoming(store) == []


@pytest.mark.parametrize("linked", [True, False])
def test_a_fixity_mismatch_leaves_nothing_behind(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linked: bool
) -> None:
    source = tmp_path / "staging" / "f.bin"
    item = file_item(source, "aip-1/v1/data/f.bin", b"decayed bytes", sha=sha256(b"original bytes"))
    if not linked:
        monkeypatch.setattr(os, "link", refuse_links_from(source))
    with pytest.raises(FixityMismatch, match=r"aip-1/v1/data/f\.bin"):
        list(store.write([item]))
    assert incoming(store) == []
    assert os.listdir(store.root) == [INCOMING]  # not even the key's directories
    assert os.stat(source).st_nlink == 1
    assert source.read_bytes() == b"decayed bytes"


def test_a_fixity_mismatch_of_bytes_leaves_nothing_behind(store: LocalObjectStore) -> None:
    with pytest.raises(FixityMismatch):
        list(store.write([data_item("v1/bagit.txt", b"BagIt", sha=sha256(b"Bagit"))]))
    assert incoming(store) == []
    assert store.head("v1/bagit.txt") is None


def test_a_file_in_the_way_of_a_key_is_an_error(store: LocalObjectStore, tmp_path: Path) -> None:
    list(store.write([data_item("aip-1/v1", b"a file")]))
    blocked = "location 'disk': aip-1/v1/{}: aip-1/v1 is an object, not a directory"
    for item in (
        data_item("aip-1/v1/bagit.txt", b"BagIt"),
        file_item(tmp_path / "src" / "bagit.txt", "aip-1/v1/bagit.txt", b"BagIt"),  # hard-linked
        data_item("aip-1/v1/data/f.txt", b"deeper"),
    ):
        with pytest.raises(StorageError) as caught:
            list(store.write([item]))
        assert str(caught.value) == blocked.format(item.key.removeprefix("aip-1/v1/"))
    with pytest.raises(StorageError, match=r"location 'disk': aip-1: a directory"):
        list(store.write([data_item("aip-1", b"x")]))
    assert incoming(store) == []


def test_results_come_once_the_batch_is_durable(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[Path] = []
    monkeypatch.setattr(local, "make_durable", flushes.append)
    items = [file_item(tmp_path / "src" / str(i), f"v1/data/{i}", bytes([i]) * 100) for i in range(20)]
    results = store.write(items)
    assert flushes == []  # nothing done before the results are asked for
    first = next(results)
    assert flushes == [store.root]  # one flush for the whole batch, before the first result
    assert len([first, *results]) == 20
    assert flushes == [store.root]


def test_a_failed_flush_is_one_line_naming_the_location_and_the_root_once(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_syncfs(fd: int) -> int:
        ctypes.set_errno(errno.EIO)
        return -1

    monkeypatch.setattr(local_store, "_libc_syncfs", lambda: failing_syncfs)
    with pytest.raises(StorageError) as caught:
        list(store.write([data_item("k", b"x")]))
    assert str(caught.value) == (
        f"location 'disk': cannot flush {store.root}: syncfs failed: {os.strerror(errno.EIO)}"
    )


def test_two_writers_of_the_same_objects_never_overwrite_or_fail(tmp_path: Path) -> None:
    items = [data_item(f"v1/data/{i}", os.urandom(50_000)) for i in range(30)]
    outcomes: list[WriteOutcome] = []
    errors: list[BaseException] = []

    def run() -> None:
        writer = LocalObjectStore("disk", tmp_path / "store", concurrency=4)
        try:
            outcomes.extend(r.outcome for r in writer.write(items))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outcomes.count(WriteOutcome.WRITTEN) == 30 and outcomes.count(WriteOutcome.PRESENT) == 30
    reader = LocalObjectStore("disk", tmp_path / "store")
    results = {r.key: r.sha256 for r in reader.read([ReadItem(key=i.key) for i in items])}
    assert results == {i.key: i.sha256 for i in items}


def test_listing_skips_temporary_files_and_empty_directories(store: LocalObjectStore) -> None:
    list(store.write([data_item("aip-1/v1/bagit.txt", b"BagIt")]))
    (store.root / INCOMING / "123-unfinished").write_bytes(b"half")
    (store.root / "aip-2" / "v1").mkdir(parents=True)
    assert [o.key for o in store.list("")] == ["aip-1/v1/bagit.txt"]
    assert list(store.children("")) == ["aip-1"]


def test_temporary_files_of_a_dead_writer_are_removed(
    store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.describe()
    (store.root / INCOMING / "999-dead").write_bytes(b"half")
    list(store.write([data_item("k", b"x")]))
    assert incoming(store) == ["999-dead"]  # recent: perhaps a live writer's
    monkeypatch.setattr(local, "STALE_AFTER", -1.0)
    list(store.write([data_item("k2", b"y")]))
    assert incoming(store) == []


def test_describe_reports_a_root_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    store = LocalObjectStore("disk", tmp_path / "a-file" / "store")
    with pytest.raises(StorageError, match=r"^location 'disk': cannot use .*a-file/store: [^\n]+$"):
        store.describe()


def test_describe_says_files_cannot_be_locked(store: LocalObjectStore) -> None:
    info = store.describe()
    assert info.uri == store.root.as_uri()
    assert (info.object_lock, info.versioned) == (False, False)
    assert (store.root / INCOMING).is_dir()
    assert store.locate("aip-1/v1/bagit.txt") == str(store.root / "aip-1" / "v1" / "bagit.txt")


def test_a_read_whose_destination_cannot_be_written_is_an_error(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    list(store.write([data_item("k", b"x")]))
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(StorageError, match=r"location 'disk': k: cannot write"):
        list(store.read([ReadItem(key="k", dest=str(tmp_path / "a-file" / "out"))]))


def test_head_and_list_give_the_modification_time(store: LocalObjectStore) -> None:
    list(store.write([data_item("k", b"x")]))
    info = store.head("k")
    assert info is not None and info.modified is not None and info.sha256 is None
    assert [o.modified for o in store.list("")] == [info.modified]


def test_a_read_that_fails_midway_leaves_no_destination(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    list(store.write([data_item("k", os.urandom(6 << 20))]))
    real_write = local.write_all
    calls = 0

    def failing_write(fd: int, data: memoryview) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:  # the first chunk lands, the second does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fd, data)

    monkeypatch.setattr(local, "write_all", failing_write)
    dest = tmp_path / "out" / "k"
    with pytest.raises(StorageError, match="No space left"):
        list(store.read([ReadItem(key="k", dest=str(dest))]))
    assert not dest.exists()


@pytest.mark.parametrize("target", ["/dev/zero", "k"])
def test_a_symlink_at_a_key_is_not_followed(store: LocalObjectStore, target: str) -> None:
    """Neither hashing nor reading follows a symlink: one to /dev/zero would never end."""
    list(store.write([data_item("k", b"x")]))
    os.symlink(target, store.root / "link")
    assert [
        (h.key, h.size, h.digest, h.problem)
        for h in store.hash_objects(["link", "k"], DigestAlgorithm.SHA256)
    ] == [
        ("link", 0, None, "not a regular file"),
        ("k", 1, sha256(b"x"), None),
    ]
    [result] = store.read([ReadItem(key="link")])
    assert (result.size, result.sha256, result.problem) == (0, None, "not a regular file")


def test_a_special_file_at_a_key_is_not_read(store: LocalObjectStore, tmp_path: Path) -> None:
    """A FIFO would make a read wait for a writer that never comes."""
    list(store.write([data_item("k", b"x")]))
    os.mkfifo(store.root / "fifo")
    [result] = store.read([ReadItem(key="fifo", dest=str(tmp_path / "out"))])
    assert (result.size, result.sha256, result.problem) == (0, None, "not a regular file")
    assert not (tmp_path / "out").exists()
