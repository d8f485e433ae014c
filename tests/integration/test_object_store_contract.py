"""The object store contract: one set of tests, run against the in-memory fake, a local directory and
a bucket on the real Ceph RGW.

Whatever a service may rely on is asserted here, so that a unit test passing on the fake means the
same thing on a disk or on S3. The S3 store writes under the key prefix "p/" and sends large objects in
5 MiB parts, so that a 7 MiB object goes up in several.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oais.adapters.hashing import CHUNK
from oais.adapters.storage.local import LocalObjectStore
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.ports import ObjectStore
from oais.domain.storage import (
    Hashed,
    LocationKind,
    ReadItem,
    ReadResult,
    Retention,
    RetentionMode,
    WriteItem,
    WriteOutcome,
)
from tests.support.bagit_hashing import hash_bytes

NAME = "site-a"
PART_SIZE = 5 << 20
BIG = 7 << 20  # more than one part
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    """What a location of one kind should say about itself."""

    kind: LocationKind
    uri: str  # what describe() gives
    located: str  # what locate() gives for a key, before the key
    #: Which threads read the bytes when hashing: None for the calling thread, else the prefix of
    #: the names of the store's own reading threads.
    reader: str | None = None


def _s3_store(request: pytest.FixtureRequest, *, object_lock: bool = False) -> tuple[ObjectStore, Expected]:
    from oais.adapters.storage.s3 import S3ObjectStore

    s3 = request.getfixturevalue("s3")
    bucket = s3.new_bucket(object_lock=object_lock)
    store = S3ObjectStore(
        NAME,
        endpoint=s3.endpoint,
        bucket=bucket,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        prefix="p/",
        region=s3.region,
        part_size=PART_SIZE,
        concurrency=4,
    )
    return store, Expected(
        LocationKind.S3, f"s3://{bucket}/p/ at {s3.endpoint}", f"s3://{bucket}/p/", reader=f"s3-{NAME}-get"
    )


@pytest.fixture(params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def made(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ObjectStore, Expected]:
    """A fresh, empty location of each kind, and what it should say about itself."""
    if request.param == "memory":
        return InMemoryObjectStore(NAME), Expected(
            LocationKind.LOCAL, f"memory://{NAME}", f"memory://{NAME}/"
        )
    if request.param == "local":
        root = tmp_path / "store"
        return LocalObjectStore(NAME, root), Expected(LocationKind.LOCAL, root.as_uri(), f"{root}/")
    return _s3_store(request)


@pytest.fixture
def store(made: tuple[ObjectStore, Expected]) -> ObjectStore:
    return made[0]


@pytest.fixture
def expected(made: tuple[ObjectStore, Expected]) -> Expected:
    return made[1]


@pytest.fixture(params=["memory", pytest.param("s3", marks=pytest.mark.s3)])
def locked(request: pytest.FixtureRequest) -> ObjectStore:
    """A fresh location with Object Lock: the fake made so, and a lock bucket on the real Ceph RGW."""
    if request.param == "memory":
        return InMemoryObjectStore(NAME, object_lock=True)
    return _s3_store(request, object_lock=True)[0]


def blob(size: int, seed: int = 0) -> bytes:
    """Reproducible bytes that do not compress."""
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Sources:
    """Makes write items, from bytes or from files written under a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = 0

    def data(self, key: str, data: bytes, *, sha: str | None = None, replace: bool = False) -> WriteItem:
        return WriteItem(key=key, size=len(data), sha256=sha or sha256(data), data=data, replace=replace)

    def file(self, key: str, data: bytes, *, sha: str | None = None, replace: bool = False) -> WriteItem:
        self._count += 1
        path = self._directory / f"source-{self._count}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return WriteItem(key=key, size=len(data), sha256=sha or sha256(data), path=str(path), replace=replace)


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    return Sources(tmp_path / "sources")


class Counter:
    """A progress callback that adds up what it is told."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, nbytes: int) -> None:
        self.total += nbytes


def write(store: ObjectStore, *items: WriteItem, **kwargs: object) -> dict[str, WriteOutcome]:
    results = list(store.write(items, **kwargs))  # type: ignore[arg-type]
    assert sorted(r.key for r in results) == sorted(i.key for i in items)
    return {r.key: r.outcome for r in results}


def read(
    store: ObjectStore, *items: ReadItem, progress: Callable[[int], None] | None = None
) -> dict[str, ReadResult]:
    results = list(store.read(items, progress))
    assert sorted(r.key for r in results) == sorted(i.key for i in items)
    return {r.key: r for r in results}


def hashed(
    store: ObjectStore,
    keys: list[str],
    algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Hashed]:
    results = list(store.hash_objects(keys, algorithm, progress))
    assert sorted(r.key for r in results) == sorted(keys)
    return {r.key: r for r in results}


# --- writing and reading back --------------------------------------------------------------------


def test_files_and_bytes_come_back_whole_with_their_sha256(
    store: ObjectStore, sources: Sources, tmp_path: Path
) -> None:
    contents = {
        f"aip/{source}/{size}.bin": blob(size, seed)
        for seed, (source, size) in enumerate(
            (source, size) for source in ("file", "data") for size in (0, 1000, BIG)
        )
    }
    items = [
        (sources.file if key.startswith("aip/file/") else sources.data)(key, data)
        for key, data in contents.items()
    ]
    sent = Counter()
    assert write(store, *items, progress=sent) == dict.fromkeys(contents, WriteOutcome.WRITTEN)
    assert sent.total == sum(len(d) for d in contents.values())

    out = tmp_path / "out"
    received = Counter()
    results = read(store, *(ReadItem(key=k, dest=str(out / k)) for k in contents), progress=received)
    assert received.total == sum(len(d) for d in contents.values())
    for key, data in contents.items():
        assert results[key] == ReadResult(key=key, size=len(data), sha256=sha256(data))
        assert (out / key).read_bytes() == data
        info = store.head(key)
        assert info is not None and info.size == len(data)
    assert store.get_bytes("aip/data/1000.bin") == contents["aip/data/1000.bin"]
    assert store.get_bytes("aip/file/0.bin") == b""


def test_reading_without_a_destination_only_hashes(store: ObjectStore, sources: Sources) -> None:
    data = blob(3000, 7)
    write(store, sources.data("a/b.txt", data))
    assert read(store, ReadItem(key="a/b.txt"))["a/b.txt"].sha256 == sha256(data)


def test_many_objects_in_one_write_each_get_one_result(store: ObjectStore, sources: Sources) -> None:
    contents = {f"bag/data/{i:03d}.txt": blob(i * 37, i) for i in range(40)}
    items = [
        (sources.file if i % 2 else sources.data)(key, data) for i, (key, data) in enumerate(contents.items())
    ]
    assert write(store, *items) == dict.fromkeys(contents, WriteOutcome.WRITTEN)
    assert [(o.key, o.size) for o in store.list("bag/")] == [(k, len(d)) for k, d in contents.items()]
    results = read(store, *(ReadItem(key=k) for k in contents))
    assert {k: r.sha256 for k, r in results.items()} == {k: sha256(d) for k, d in contents.items()}


def test_keys_with_spaces_percent_signs_and_non_ascii_letters_round_trip(
    store: ObjectStore, sources: Sources, tmp_path: Path
) -> None:
    keys = [
        "aip/data/with space/100% sûr.txt",
        "aip/data/%41%2F%20.txt",
        "aip/data/Mars Express – ΩMEGA/観測 データ.fits",
        "aip/data/a+b=c&d;e,f@g$h!(i)'j~.txt",
    ]
    contents = {key: blob(100 + i, i) for i, key in enumerate(keys)}
    write(store, *(sources.file(k, d) for k, d in contents.items()))
    assert [o.key for o in store.list("aip/")] == sorted(keys)
    assert list(store.children("aip/data/")) == sorted({k.split("/")[2] for k in keys})
    results = read(store, *(ReadItem(key=k, dest=str(tmp_path / "out" / f"{i}")) for i, k in enumerate(keys)))
    for i, (key, data) in enumerate(contents.items()):
        assert results[key].sha256 == sha256(data)
        assert (tmp_path / "out" / f"{i}").read_bytes() == data
        assert store.get_bytes(key) == data
        info = store.head(key)
        assert info is not None and info.size == len(data)


# --- write once ---------------------------------------------------------------------------------


def test_writing_the_same_content_again_is_present(store: ObjectStore, sources: Sources) -> None:
    small, big = blob(500, 1), blob(BIG, 2)
    write(store, sources.data("v1/small", small), sources.file("v1/big", big))
    # A rerun after a crash: same bytes, from the other kind of source; nothing is sent again.
    sent = Counter()
    again = write(store, sources.file("v1/small", small), sources.data("v1/big", big), progress=sent)
    assert sent.total == 0
    assert again == {"v1/small": WriteOutcome.PRESENT, "v1/big": WriteOutcome.PRESENT}
    assert store.get_bytes("v1/small") == small
    assert [(o.key, o.size) for o in store.list("v1/")] == [("v1/big", BIG), ("v1/small", 500)]


def test_other_content_at_a_key_is_a_conflict_and_the_object_stays(
    store: ObjectStore, sources: Sources
) -> None:
    original = blob(1000, 1)
    write(store, sources.data("v1/manifest-sha256.txt", original))
    for other in (blob(1000, 2), blob(999, 2)):  # same size, then another size
        for make in (sources.data, sources.file):
            with pytest.raises(ConflictError, match=rf"'{NAME}'.*v1/manifest-sha256\.txt"):
                write(store, make("v1/manifest-sha256.txt", other))
    assert store.get_bytes("v1/manifest-sha256.txt") == original


def test_replace_puts_the_new_content_in_place(store: ObjectStore, sources: Sources) -> None:
    write(store, sources.data("v2/bag-info.txt", b"Bagging-Date: 2024-05-01\n"))
    new = b"Bagging-Date: 2024-05-02\nPayload-Oxum: 10.1\n"
    assert write(store, sources.file("v2/bag-info.txt", new, replace=True)) == {
        "v2/bag-info.txt": WriteOutcome.WRITTEN
    }
    assert store.get_bytes("v2/bag-info.txt") == new
    info = store.head("v2/bag-info.txt")
    assert info is not None and info.size == len(new)
    assert read(store, ReadItem(key="v2/bag-info.txt"))["v2/bag-info.txt"].sha256 == sha256(new)
    # Replacing with the same bytes writes nothing.
    assert write(store, sources.data("v2/bag-info.txt", new, replace=True)) == {
        "v2/bag-info.txt": WriteOutcome.PRESENT
    }
    # A replace of a key that does not exist simply writes it.
    assert write(store, sources.data("v2/new.txt", b"x", replace=True)) == {
        "v2/new.txt": WriteOutcome.WRITTEN
    }


@pytest.mark.parametrize(("source", "size"), [("data", 10), ("file", 1000), ("file", BIG)])
def test_bytes_without_the_sha256_of_record_are_not_kept(
    store: ObjectStore, sources: Sources, source: str, size: int
) -> None:
    data = blob(size, 3)
    wrong = sha256(b"something else")
    make = sources.data if source == "data" else sources.file
    with pytest.raises(FixityMismatch) as caught:
        write(store, make("v1/data/cube.fits", data, sha=wrong))
    error = caught.value
    assert (error.algorithm, error.expected, error.actual) == (DigestAlgorithm.SHA256, wrong, sha256(data))
    assert f"'{NAME}'" in str(error) and "v1/data/cube.fits" in str(error)
    assert store.head("v1/data/cube.fits") is None
    assert list(store.list("")) == []
    assert list(store.children("")) == []
    # Nothing in the way of the right bytes.
    assert write(store, make("v1/data/cube.fits", data)) == {"v1/data/cube.fits": WriteOutcome.WRITTEN}
    assert read(store, ReadItem(key="v1/data/cube.fits"))["v1/data/cube.fits"].sha256 == sha256(data)


@pytest.mark.parametrize("source", ["data", "file"])
def test_an_item_whose_size_is_wrong_is_refused(store: ObjectStore, sources: Sources, source: str) -> None:
    data = blob(1000, 4)
    item = (sources.data if source == "data" else sources.file)("v1/data/f", data)
    with pytest.raises(StorageError, match=rf"'{NAME}'.*v1/data/f"):
        write(store, item.model_copy(update={"size": 1001}))
    assert store.head("v1/data/f") is None


def test_a_replacement_without_the_sha256_of_record_leaves_the_old_object(
    store: ObjectStore, sources: Sources
) -> None:
    write(store, sources.data("v1/tagmanifest-sha256.txt", b"old"))
    with pytest.raises(FixityMismatch):
        write(store, sources.file("v1/tagmanifest-sha256.txt", b"new", sha=sha256(b"newer"), replace=True))
    assert store.get_bytes("v1/tagmanifest-sha256.txt") == b"old"


def test_retention_is_ignored_where_the_location_cannot_lock(store: ObjectStore, sources: Sources) -> None:
    assert not store.describe().object_lock
    retention = Retention(mode=RetentionMode.COMPLIANCE, days=30)
    assert write(
        store, sources.data("v1/bagit.txt", b"BagIt-Version: 1.0\n"), retention=retention, now=T0
    ) == {"v1/bagit.txt": WriteOutcome.WRITTEN}
    info = store.head("v1/bagit.txt")
    assert info is not None and info.retain_until is None and info.retention_mode is None


# --- missing objects ------------------------------------------------------------------------------


def test_a_missing_object_is_reported_in_its_read_result(
    store: ObjectStore, sources: Sources, tmp_path: Path
) -> None:
    write(store, sources.data("v1/present.txt", b"here"))
    results = read(
        store,
        ReadItem(key="v1/present.txt"),
        ReadItem(key="v1/absent.txt", dest=str(tmp_path / "absent.txt")),
        ReadItem(key="v1"),  # a prefix of a key is not an object
    )
    assert results["v1/present.txt"].sha256 == sha256(b"here")
    for key in ("v1/absent.txt", "v1"):
        assert results[key] == ReadResult(key=key, problem="missing")
    assert not (tmp_path / "absent.txt").exists()


def test_get_bytes_of_a_missing_object_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound, match=rf"'{NAME}'.*v9/bagit\.txt"):
        store.get_bytes("v9/bagit.txt")


def test_get_bytes_refuses_an_object_larger_than_the_limit(store: ObjectStore, sources: Sources) -> None:
    write(store, sources.data("v1/premis.xml", blob(2000)))
    assert len(store.get_bytes("v1/premis.xml", limit=2000)) == 2000
    with pytest.raises(StorageError, match=r"v1/premis\.xml"):
        store.get_bytes("v1/premis.xml", limit=1999)


def test_head_gives_the_size_or_none(store: ObjectStore, sources: Sources) -> None:
    write(store, sources.data("aip-1/v1/data/a.txt", blob(123)))
    info = store.head("aip-1/v1/data/a.txt")
    assert info is not None and (info.key, info.size) == ("aip-1/v1/data/a.txt", 123)
    assert store.head("aip-1/v1/data/b.txt") is None
    assert store.head("aip-1/v1") is None  # a "directory" is not an object


# --- listing --------------------------------------------------------------------------------------

#: Keys whose order trips up a directory walk: '-' < '/' < 'b' in key order.
LISTED = {"a/b/1": 1, "a/b/2": 22, "a/c": 333, "a-b": 4, "ab": 5, "b/x/y/z": 6, "a/b-c": 7}


def test_list_gives_every_object_under_a_prefix_in_key_order_with_its_size(
    store: ObjectStore, sources: Sources
) -> None:
    write(store, *(sources.data(k, blob(n, n)) for k, n in reversed(LISTED.items())))

    def listed(prefix: str) -> list[tuple[str, int]]:
        found = [(o.key, o.size) for o in store.list(prefix)]
        # The keys alone, in the same order.
        assert list(store.list_keys(prefix)) == [key for key, _ in found]
        return found

    assert listed("") == sorted(LISTED.items())
    assert listed("a/") == [("a/b-c", 7), ("a/b/1", 1), ("a/b/2", 22), ("a/c", 333)]
    assert listed("a") == [("a-b", 4), ("a/b-c", 7), ("a/b/1", 1), ("a/b/2", 22), ("a/c", 333), ("ab", 5)]
    assert listed("a/b") == [("a/b-c", 7), ("a/b/1", 1), ("a/b/2", 22)]
    assert listed("a/b/") == [("a/b/1", 1), ("a/b/2", 22)]
    assert listed("b/x/y/z") == [("b/x/y/z", 6)]
    assert listed("c") == []
    assert listed("zz/top/") == []


def test_children_gives_the_distinct_next_segments_in_order(store: ObjectStore, sources: Sources) -> None:
    write(store, *(sources.data(k, blob(n, n)) for k, n in LISTED.items()))
    assert list(store.children("")) == ["a", "a-b", "ab", "b"]
    assert list(store.children("a/")) == ["b", "b-c", "c"]
    assert list(store.children("a/b/")) == ["1", "2"]
    assert list(store.children("b/x/")) == ["y"]
    assert list(store.children("none/")) == []


def test_children_of_a_prefix_without_its_final_slash_is_an_error(
    store: ObjectStore, sources: Sources
) -> None:
    write(store, sources.data("aip-1/v1/bagit.txt", b"BagIt"), sources.data("aip-10/v1/bagit.txt", b"BagIt"))
    with pytest.raises(StorageError) as caught:
        list(store.children("aip-1"))
    assert str(caught.value) == f"location '{NAME}': 'aip-1': the prefix does not end with '/'"
    assert list(store.children("aip-1/")) == ["v1"]


def test_describe_names_the_location_and_its_kind(store: ObjectStore, expected: Expected) -> None:
    info = store.describe()
    assert (info.name, info.kind, info.uri, info.object_lock) == (NAME, expected.kind, expected.uri, False)
    assert store.name == NAME
    assert store.locate("aip-1/v1/bagit.txt") == f"{expected.located}aip-1/v1/bagit.txt"


# --- bad keys and prefixes ------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/etc/passwd",
    "a//b",
    "a/",
    "../outside",
    "a/../../outside",
    "a/./b",
    ".",
    "a\0b",
    ".incoming/x",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused_naming_the_location_and_the_key(
    store: ObjectStore, tmp_path: Path, key: str
) -> None:
    message = re.compile(re.escape(f"location '{NAME}': {key!r}: ") + r"(the key|keys under) [^\n]+")
    calls: list[Callable[[], object]] = [
        lambda: list(store.write([WriteItem(key=key, size=1, sha256=sha256(b"x"), data=b"x")])),
        lambda: list(store.read([ReadItem(key=key)])),
        lambda: list(store.hash_objects([key], DigestAlgorithm.SHA256)),
        lambda: store.get_bytes(key),
        lambda: store.head(key),
        lambda: store.locate(key),
    ]
    for call in calls:
        with pytest.raises(StorageError) as caught:
            call()
        assert message.fullmatch(str(caught.value)), str(caught.value)
    assert not (tmp_path / "outside").exists()
    assert list(store.list("")) == []


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "a/../", "a/./b"])
def test_bad_prefixes_are_refused(store: ObjectStore, prefix: str) -> None:
    message = re.compile(re.escape(f"location '{NAME}': {prefix!r}: ") + r"the prefix [^\n]+")
    calls: list[Callable[[], object]] = [lambda: list(store.list(prefix))]
    if prefix.endswith("/"):
        calls.append(lambda: list(store.children(prefix)))
    for call in calls:
        with pytest.raises(StorageError) as caught:
            call()
        assert message.fullmatch(str(caught.value)), str(caught.value)


def test_a_key_given_twice_in_one_write_is_refused(store: ObjectStore, sources: Sources) -> None:
    with pytest.raises(StorageError) as caught:
        write(store, sources.data("v1/k", b"a"), sources.data("v1/other", b"b"), sources.file("v1/k", b"a"))
    assert str(caught.value) == f"location '{NAME}': 'v1/k': the key is given twice in one write"
    assert list(store.list("")) == []


# --- hashing for audits ---------------------------------------------------------------------------

#: Sizes around the read chunks of every store (the local one reads at most CHUNK bytes at a time, the
#: S3 one receives 4 MiB at a time and hashes objects over 8 MiB on a second thread), in an order that
#: makes a store that reuses one buffer go from small to large and back.
HASHED_SIZES = {
    "v1/data/a-small.txt": 1000,
    "v1/data/b-empty.txt": 0,
    "v1/data/c-large.bin": (9 << 20) + 7,
    "v1/data/d-one-byte.txt": 1,
    "v1/data/e-one-chunk.bin": CHUNK,
    "v1/data/f-chunk-and-one.bin": CHUNK + 1,
    "v1/data/g-small-again.txt": 4097,
}


@pytest.mark.parametrize("algorithm", [DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128])
def test_hashing_gives_each_objects_digest_and_size_in_the_algorithm_asked_for(
    store: ObjectStore, sources: Sources, algorithm: DigestAlgorithm
) -> None:
    contents = {key: blob(size, seed) for seed, (key, size) in enumerate(HASHED_SIZES.items())}
    write(store, *((sources.file if len(d) > BIG else sources.data)(k, d) for k, d in contents.items()))
    received = Counter()
    results = hashed(store, list(contents), algorithm, progress=received)
    assert results == {k: Hashed(k, len(d), hash_bytes(d, algorithm), None) for k, d in contents.items()}
    assert received.total == sum(len(d) for d in contents.values())
    # The same object asked for again in a later call: nothing is kept between calls.
    again = hashed(store, ["v1/data/g-small-again.txt", "v1/data/c-large.bin"], algorithm)
    assert again == {k: results[k] for k in again}


def test_a_missing_object_is_reported_in_its_hash_result_and_the_others_are_hashed(
    store: ObjectStore, sources: Sources
) -> None:
    present = {"v1/data/present.txt": b"here", "v1/data/other.bin": blob(70_000, 5)}
    write(store, *(sources.data(k, d) for k, d in present.items()))
    absent = [
        "v1/data/absent.txt",
        "v1/data",  # a prefix of keys is not an object
        "v1/data/present.txt/below",  # below an object
        "v9/data/absent.txt",
    ]
    received = Counter()
    results = hashed(store, [absent[0], *present, *absent[1:]], progress=received)
    for key in absent:
        assert results[key] == Hashed(key, 0, None, "missing")
    for key, data in present.items():
        assert results[key] == Hashed(key, len(data), sha256(data), None)
    assert received.total == sum(len(d) for d in present.values())


def test_hashing_no_keys_gives_no_results(store: ObjectStore) -> None:
    assert list(store.hash_objects([], DigestAlgorithm.SHA256)) == []


def test_a_bad_key_among_good_ones_is_refused_before_anything_is_read(
    store: ObjectStore, sources: Sources
) -> None:
    write(store, sources.data("v1/data/good.txt", b"good"))
    received = Counter()
    results = store.hash_objects(
        ["v1/data/good.txt", "v1/../../etc/passwd"], DigestAlgorithm.SHA256, received
    )
    with pytest.raises(StorageError, match=re.escape(f"location '{NAME}': 'v1/../../etc/passwd': ")):
        next(iter(results))
    assert received.total == 0


def test_a_blocking_progress_callback_holds_up_the_thread_that_reads(
    store: ObjectStore, sources: Sources, expected: Expected
) -> None:
    contents = {f"v1/data/{i}.bin": blob(1000 + i, i) for i in range(6)}
    write(store, *(sources.data(k, d) for k, d in contents.items()))
    entered, release = threading.Event(), threading.Event()
    callers: list[threading.Thread] = []

    def progress(nbytes: int) -> None:
        callers.append(threading.current_thread())
        entered.set()
        release.wait(120)  # a read budget that is spent: reading waits until it is refilled

    results: list[Hashed] = []
    errors: list[BaseException] = []

    def audit() -> None:
        try:
            for result in store.hash_objects(list(contents), DigestAlgorithm.SHA256, progress):
                results.append(result)
        except BaseException as exc:
            errors.append(exc)

    auditor = threading.Thread(target=audit, name="auditor")
    auditor.start()
    try:
        assert entered.wait(120), "the progress callback was never called"
        # Every object needs its progress reported before it is done, so while the callback blocks
        # no object is finished: the reading itself is held up, not only the delivery of results.
        assert results == []
        blocked = callers[0]
    finally:
        release.set()
        auditor.join(120)
    assert not auditor.is_alive() and errors == []
    assert {r.key: r for r in results} == {k: Hashed(k, len(d), sha256(d), None) for k, d in contents.items()}
    if expected.reader is None:
        assert blocked is auditor
        assert all(thread is auditor for thread in callers)
    else:
        assert blocked is not auditor and blocked.name.startswith(expected.reader)
        assert all(thread is not auditor and thread.name.startswith(expected.reader) for thread in callers)


# --- Object Lock ----------------------------------------------------------------------------------


def test_a_locked_location_records_the_retention_asked_for(locked: ObjectStore, sources: Sources) -> None:
    info = locked.describe()
    assert info.object_lock and info.versioned
    retention = Retention(mode=RetentionMode.GOVERNANCE, days=1)
    now = datetime.now(UTC)
    items = [sources.data("v1/bagit.txt", b"BagIt-Version: 1.0\n"), sources.file("v1/data/big", blob(BIG))]
    assert write(locked, *items, retention=retention, now=now) == dict.fromkeys(
        ("v1/bagit.txt", "v1/data/big"), WriteOutcome.WRITTEN
    )
    for item in items:
        head = locked.head(item.key)
        assert head is not None and head.retention_mode is RetentionMode.GOVERNANCE
        assert head.retain_until is not None
        # Never less than asked; S3 keeps whole seconds, so it may be up to one second more.
        assert timedelta(0) <= head.retain_until - retention.until(now) < timedelta(seconds=1)


# --- the local location's own --------------------------------------------------------------------


def _local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(NAME, tmp_path / "store")


def _rewrite(path: Path, data: bytes) -> None:
    """Change a published (read-only) file's bytes in place, as decay or an intruder would."""
    path.chmod(0o644)
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
    path.chmod(0o444)


@pytest.mark.parametrize("size", [1000, 9 << 20])
@pytest.mark.parametrize("damage", ["truncated", "emptied", "bit flipped", "extended"])
def test_a_local_file_changed_after_writing_is_hashed_as_it_now_is(
    tmp_path: Path, sources: Sources, size: int, damage: str
) -> None:
    store = _local_store(tmp_path)
    data = blob(size, 11)
    write(store, sources.data("v1/data/f.bin", data))
    if damage == "truncated":
        changed = data[: size // 3]
    elif damage == "emptied":
        changed = b""
    elif damage == "bit flipped":
        middle = size // 2
        changed = data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]
    else:
        changed = data + b"appended"
    _rewrite(store.root / "v1/data/f.bin", changed)
    for algorithm in (DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128):
        assert hashed(store, ["v1/data/f.bin"], algorithm) == {
            "v1/data/f.bin": Hashed("v1/data/f.bin", len(changed), hash_bytes(changed, algorithm), None)
        }
    assert hash_bytes(changed, DigestAlgorithm.SHA256) != sha256(data)


@pytest.mark.parametrize("error", [-5, 5, 1 << 30])
def test_a_local_file_is_read_to_its_end_whatever_size_it_had_when_opened(
    tmp_path: Path, sources: Sources, monkeypatch: pytest.MonkeyPatch, error: int
) -> None:
    """A file that grows or shrinks between the look at its size and the reads is read to its end."""
    store = _local_store(tmp_path)
    contents = {"v1/data/small.txt": blob(1000, 1), "v1/data/large.bin": blob(CHUNK * 2 + 3, 2)}
    write(store, *(sources.data(k, d) for k, d in contents.items()))
    real_fstat = os.fstat

    def fstat(fd: int) -> os.stat_result:
        fields = list(real_fstat(fd))
        fields[stat.ST_SIZE] = max(0, fields[stat.ST_SIZE] + error)
        return os.stat_result(fields)

    monkeypatch.setattr(os, "fstat", fstat)
    assert hashed(store, list(contents)) == {
        k: Hashed(k, len(d), sha256(d), None) for k, d in contents.items()
    }


def test_a_special_file_at_a_key_is_reported_without_waiting(tmp_path: Path, sources: Sources) -> None:
    store = _local_store(tmp_path)
    write(store, sources.data("v1/data/a.txt", b"a"))
    os.mkfifo(store.root / "v1/data/fifo")  # reading it would wait for a writer that never comes
    results = hashed(store, ["v1/data/fifo", "v1/data/a.txt"])
    assert results["v1/data/a.txt"] == Hashed("v1/data/a.txt", 1, sha256(b"a"), None)
    fifo = results["v1/data/fifo"]
    assert (fifo.size, fifo.digest) == (0, None)
    assert fifo.problem == "not a regular file"


# --- the fake's own extras -----------------------------------------------------------------------


def test_the_fake_can_be_damaged_behind_the_ports_back() -> None:
    store = InMemoryObjectStore("mem")
    data = b"payload"
    item = WriteItem(key="v1/data/f", size=len(data), sha256=sha256(data), data=data)
    list(store.write([item]))
    store.tamper("v1/data/f", b"pay1oad")
    assert next(iter(store.read([ReadItem(key="v1/data/f")]))).sha256 == sha256(b"pay1oad")
    with pytest.raises(ConflictError):  # damaged bytes are other content, whatever was recorded
        list(store.write([item]))
    store.remove("v1/data/f")
    assert store.head("v1/data/f") is None
    with pytest.raises(NotFound):
        store.remove("v1/data/f")
