"""DIP destinations: a folder, a zip file, a tar file, an object store prefix. The same contract for
each: nothing visible before commit, nothing left after abort, the bytes and digests as written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from oais.access.metadata import glob_pattern, matches
from oais.adapters.dip_sinks import DirectorySink, ObjectStoreSink, TarSink, ZipSink, sink_for
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.domain.errors import ConflictError, StorageError
from oais.domain.fixity import DigestAlgorithm

ALGS = (DigestAlgorithm.SHA256, DigestAlgorithm.SHA512)
BIG = os.urandom(3 << 20) + b"end"


class MemoryDestination:
    """An object store prefix in memory, with the deletions an abort makes."""

    def __init__(self) -> None:
        self.store = InMemoryObjectStore("portal")
        self.deleted: list[str] = []

    def delete(self, keys: Sequence[str]) -> None:
        self.deleted.extend(keys)

    def contents(self) -> dict[str, bytes]:
        return {k: self.store.get_bytes(k) for k in self.store.list_keys("") if k not in set(self.deleted)}


def _read_back(kind: str, dest: Path, memory: MemoryDestination) -> dict[str, bytes]:
    if kind == "dir":
        return {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    if kind == "zip":
        with zipfile.ZipFile(dest) as z:
            assert z.testzip() is None
            return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
    if kind == "tar":
        with tarfile.open(dest) as t:
            out = {}
            for m in t.getmembers():
                f = t.extractfile(m)
                assert f is not None
                out[m.name.split("/", 1)[1]] = f.read()
            return out
    return memory.contents()


@pytest.fixture(params=["dir", "zip", "tar", "s3"])
def made(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path, Callable[[], object]]]:
    kind: str = request.param
    memory = MemoryDestination()
    dest = tmp_path / {"dir": "dip", "zip": "dip.zip", "tar": "dip.tar", "s3": "unused"}[kind]

    def new() -> object:
        if kind == "dir":
            return DirectorySink(dest)
        if kind == "zip":
            return ZipSink(dest)
        if kind == "tar":
            return TarSink(dest)
        return ObjectStoreSink(memory.store, "s3://portal/dip", memory.delete)

    request.node.memory = memory
    yield kind, dest, new


def test_a_committed_dip_holds_every_file_with_the_digests_returned(
    made: tuple[str, Path, Callable[[], object]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kind, dest, new = made
    memory: MemoryDestination = request.node.memory
    big = tmp_path / "big.fits"
    big.write_bytes(BIG)
    sink = new()
    assert isinstance(sink, DirectorySink | ZipSink | TarSink | ObjectStoreSink)
    sink.check()
    digests = sink.add("data/cubes/big.fits", big, ALGS)
    sink.add_bytes("data/étalonnage spectral – notes.txt", b"notes\n", ALGS)
    declaration = tmp_path / "bagit.txt"
    declaration.write_bytes(b"BagIt-Version: 1.0\n")
    sink.add("bagit.txt", declaration, ALGS)
    declaration.unlink()
    assert digests == {
        DigestAlgorithm.SHA256: hashlib.sha256(BIG).hexdigest(),
        DigestAlgorithm.SHA512: hashlib.sha512(BIG).hexdigest(),
    }
    if kind != "s3":
        assert not dest.exists(), "nothing is visible before commit"
    else:
        assert "bagit.txt" not in memory.contents(), "on S3, bagit.txt comes last"
    sink.commit()
    got = _read_back(kind, dest, memory)
    assert got == {
        "data/cubes/big.fits": BIG,
        "data/étalonnage spectral – notes.txt": b"notes\n",
        "bagit.txt": b"BagIt-Version: 1.0\n",
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_aborted_dip_leaves_nothing(
    made: tuple[str, Path, Callable[[], object]], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    kind, dest, new = made
    memory: MemoryDestination = request.node.memory
    sink = new()
    assert isinstance(sink, DirectorySink | ZipSink | TarSink | ObjectStoreSink)
    sink.check()
    sink.add_bytes("data/a.txt", b"a", ALGS)
    sink.add_bytes("data/b.txt", b"b", ALGS)
    sink.abort()
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    if kind == "s3":
        assert memory.contents() == {}
        assert sorted(memory.deleted) == ["data/a.txt", "data/b.txt"]


def test_an_existing_destination_is_refused_before_anything_is_written(
    made: tuple[str, Path, Callable[[], object]], request: pytest.FixtureRequest
) -> None:
    kind, dest, new = made
    memory: MemoryDestination = request.node.memory
    if kind == "s3":
        sink0 = ObjectStoreSink(memory.store, "s3://portal/dip", memory.delete)
        sink0.check()
        sink0.add_bytes("data/x", b"x", ALGS)
    elif kind == "dir":
        dest.mkdir()
    else:
        dest.write_bytes(b"someone else's")
    sink = new()
    assert isinstance(sink, DirectorySink | ZipSink | TarSink | ObjectStoreSink)
    with pytest.raises(ConflictError, match="already"):
        sink.check()
    if kind not in ("s3", "dir"):
        assert dest.read_bytes() == b"someone else's"


def test_an_unwritable_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    # Permission bits do not stop root: an immutable folder does.
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        for sink in (DirectorySink(locked / "dip"), ZipSink(locked / "dip.zip"), TarSink(locked / "dip.tar")):
            with pytest.raises(StorageError, match=r"locked/dip.*cannot write: Operation not permitted"):
                sink.check()
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)


def test_a_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError, match="is not a directory"):
        DirectorySink(tmp_path / "file" / "dip").check()


def test_paths_that_could_escape_the_bag_are_refused(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "dip")
    sink.check()
    for bad in ("../x", "/etc/passwd", "data/../../x", "data//x"):
        with pytest.raises(StorageError, match="not a path inside a bag"):
            sink.add_bytes(bad, b"x", ALGS)
    sink.abort()


def test_the_destination_picks_the_sink(tmp_path: Path) -> None:
    assert isinstance(sink_for(str(tmp_path / "a.zip")), ZipSink)
    assert isinstance(sink_for(str(tmp_path / "a.tar")), TarSink)
    assert isinstance(sink_for(str(tmp_path / "a.tar.gz")), TarSink)
    assert isinstance(sink_for(str(tmp_path / "a")), DirectorySink)
    with pytest.raises(StorageError, match="s3://BUCKET/PREFIX"):
        sink_for("s3://bucket-only")


def test_a_gzipped_tar_holds_the_bag_in_one_folder_named_after_the_file(tmp_path: Path) -> None:
    sink = TarSink(tmp_path / "omega.tar.gz")
    sink.check()
    sink.add_bytes("bagit.txt", b"BagIt-Version: 1.0\n", ALGS)
    sink.commit()
    with tarfile.open(tmp_path / "omega.tar.gz", "r:gz") as t:
        assert t.getnames() == ["omega/bagit.txt"]


@pytest.mark.parametrize(
    ("glob", "yes", "no"),
    [
        ("cubes/*.fits", ["cubes/a.fits"], ["cubes/calibration/d.fits", "a.fits", "cubes/a.fits.png"]),
        ("**/*.fits", ["a.fits", "cubes/a.fits", "cubes/calibration/d.fits"], ["a.fit"]),
        ("cubes/**", ["cubes/a.fits", "cubes/calibration/d.fits"], ["documents/x.pdf"]),
        ("*.tx?", ["a.txt"], ["d/a.txt", "a.tx"]),
        ("[!a]*.txt", ["b.txt"], ["a.txt"]),
        ("ORB0042_[12].fits", ["ORB0042_1.fits", "ORB0042_2.fits"], ["ORB0042_3.fits"]),
        ("notes (v2).txt", ["notes (v2).txt"], ["notes v2.txt"]),
    ],
)
def test_globs_select_files_by_their_paths(glob: str, yes: list[str], no: list[str]) -> None:
    for p in yes:
        assert glob_pattern(glob).match(p), (glob, p)
    for p in no:
        assert not glob_pattern(glob).match(p), (glob, p)
    assert matches(None, "anything")


def test_a_folder_lets_the_caller_write_in_place_and_the_others_take_copies(
    made: tuple[str, Path, Callable[[], object]], request: pytest.FixtureRequest
) -> None:
    kind, dest, new = made
    sink = new()
    assert isinstance(sink, DirectorySink | ZipSink | TarSink | ObjectStoreSink)
    sink.check()
    place = sink.place("data/cubes/big.fits")
    if kind != "dir":
        assert place is None
        with pytest.raises(StorageError, match="takes copies only"):
            sink.adopt("data/cubes/big.fits", ALGS)
        sink.abort()
        return
    assert place is not None and place.parent.is_dir()
    place.write_bytes(BIG)
    assert not dest.exists(), "nothing is visible before commit"
    assert sink.adopt("data/cubes/big.fits", ALGS)[DigestAlgorithm.SHA512] == hashlib.sha512(BIG).hexdigest()
    with pytest.raises(StorageError, match="not a path inside a bag"):
        sink.place("../escape")
    sink.commit()
    assert (dest / "data" / "cubes" / "big.fits").read_bytes() == BIG
