"""The S3 object store against the real Ceph RGW: what only an S3 location does.

Parts checked by the server, bounded work in flight, Object Lock retention, and errors that say in one
line which location failed and why. Tests act behind the store's back with a plain boto3 client. Every
test that needs the RGW is marked ``s3``; the one about an unreachable endpoint needs none.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

import oais.adapters.storage.s3 as s3_module
from oais.adapters.storage.s3 import S3ObjectStore
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.fixity import FixityMismatch
from oais.domain.storage import (
    ReadItem,
    Retention,
    RetentionMode,
    WriteItem,
    WriteOutcome,
    WriteResult,
)
from tests.conftest import S3Service

MIB = 1 << 20
PART = 5 * MIB  # the smallest part RGW accepts


def _store(s3: S3Service, bucket: str, name: str = "ceph-a", **options: Any) -> S3ObjectStore:
    options.setdefault("part_size", PART)
    return S3ObjectStore(
        name,
        endpoint=s3.endpoint,
        bucket=bucket,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        region=s3.region,
        **options,
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file(directory: Path, name: str, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, data


def _from_file(key: str, path: Path, data: bytes, **fields: Any) -> WriteItem:
    return WriteItem(key=key, size=len(data), sha256=_sha256(data), path=str(path), **fields)


def _from_data(key: str, data: bytes, **fields: Any) -> WriteItem:
    return WriteItem(key=key, size=len(data), sha256=_sha256(data), data=data, **fields)


def _outcomes(store: S3ObjectStore, items: list[WriteItem], **options: Any) -> dict[str, WriteOutcome]:
    return {result.key: result.outcome for result in store.write(items, **options)}


def _pending_uploads(raw: Any, bucket: str) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = raw.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return uploads


def _keys(raw: Any, bucket: str) -> list[str]:
    return [entry["Key"] for entry in raw.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _count_calls(
    store: S3ObjectStore, operations: list[str], pause: float = 0.0, overlap: int = 1
) -> dict[str, Any]:
    """Count requests per operation and the most of them in flight at once.

    The first ``overlap`` requests wait for each other before going out: they are then surely in
    flight together (a store that never overlaps them fails the test with BrokenBarrierError).
    """
    lock = threading.Lock()
    state: dict[str, Any] = {"now": 0, "most": 0, "calls": dict.fromkeys(operations, 0)}
    together = threading.Barrier(overlap, timeout=30)

    def started(model: Any, **_: Any) -> None:
        with lock:
            state["calls"][model.name] += 1
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            first = sum(state["calls"].values()) <= overlap
        if first:
            together.wait()
        if pause:
            time.sleep(pause)  # keeps requests overlapping, so that an unbounded pool would show

    def ended(model: Any, **_: Any) -> None:
        with lock:
            state["now"] -= 1

    events = store.client().meta.events
    for operation in operations:
        events.register(f"before-call.s3.{operation}", started)
        events.register(f"after-call.s3.{operation}", ended)
        events.register(f"after-call-error.s3.{operation}", ended)
    return state


# --- multipart -----------------------------------------------------------------------------------


@pytest.mark.s3
def test_a_large_file_is_sent_in_parts_and_reads_back_whole(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, prefix="aips")
    path, data = _file(tmp_path, "big.bin", 12 * MIB + 123)
    sent: list[int] = []

    outcomes = _outcomes(store, [_from_file("a1/v1/data/big.bin", path, data)], progress=sent.append)

    assert outcomes == {"a1/v1/data/big.bin": WriteOutcome.WRITTEN}
    assert sum(sent) == len(data)
    head = s3.client().head_object(Bucket=bucket, Key="aips/a1/v1/data/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts of at most 5 MiB
    assert head["Metadata"]["sha256"] == _sha256(data)
    assert head["ContentLength"] == len(data)

    dest = tmp_path / "back" / "deep" / "big.bin"
    [result] = store.read([ReadItem(key="a1/v1/data/big.bin", dest=str(dest))])
    assert (result.problem, result.size, result.sha256) == (None, len(data), _sha256(data))
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest.parent.iterdir()) == ["big.bin"]  # no partial file left


@pytest.mark.s3
def test_every_part_is_checked_by_the_server(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    path, data = _file(tmp_path, "big.bin", 12 * MIB)
    corrupted: list[str] = []

    def corrupt_part_2(request: Any, **_: Any) -> None:
        # After Content-MD5 was set, before signing: only the MD5 check can notice.
        if "partNumber=2" in request.url:
            body = bytearray(request.data.read())  # botocore hands the part over as a file object
            body[1000] ^= 0xFF
            request.data = io.BytesIO(bytes(body))
            corrupted.append(request.url)

    store.client().meta.events.register("before-sign.s3.UploadPart", corrupt_part_2)

    with pytest.raises(StorageError) as caught:
        list(store.write([_from_file("v1/big.bin", path, data)]))

    assert corrupted
    assert not isinstance(caught.value, FixityMismatch)  # the file itself was right
    assert "BadDigest" in str(caught.value)
    assert "location 'ceph-a'" in str(caught.value)
    raw = s3.client()
    assert _keys(raw, bucket) == []
    assert _pending_uploads(raw, bucket) == []


@pytest.mark.s3
def test_requests_in_flight_never_exceed_the_concurrency(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, concurrency=2)
    items = [_from_file(f"v1/big{i}.bin", *_file(tmp_path, f"big{i}.bin", 11 * MIB)) for i in range(3)]
    items += [_from_file(f"v1/small{i}.txt", *_file(tmp_path, f"small{i}.txt", 1000)) for i in range(6)]
    counts = _count_calls(store, ["UploadPart", "PutObject"], pause=0.05, overlap=2)

    outcomes = _outcomes(store, items)

    assert set(outcomes.values()) == {WriteOutcome.WRITTEN} and len(outcomes) == 9
    assert counts["calls"] == {"UploadPart": 9, "PutObject": 6}
    assert counts["most"] == 2  # two requests went out together, but never more


@pytest.mark.s3
def test_a_failure_elsewhere_in_the_call_leaves_no_unfinished_upload(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, concurrency=2)
    big = _from_file("v1/big.bin", *_file(tmp_path, "big.bin", 16 * MIB))
    vanished = WriteItem(key="v1/gone.txt", size=3, sha256="0" * 64, path=str(tmp_path / "gone.txt"))

    with pytest.raises(StorageError, match="cannot read") as caught:
        list(store.write([big, vanished]))

    assert "gone.txt" in str(caught.value)
    assert _pending_uploads(s3.client(), bucket) == []


class _StopSignal(threading.Event):
    """The ``stop`` event of a store's call, which also tells the test when it is set."""

    def __init__(self, observer: threading.Event) -> None:
        super().__init__()
        self._observer = observer

    def set(self) -> None:
        super().set()
        self._observer.set()


@pytest.mark.s3
def test_a_caller_that_stops_early_leaves_no_unfinished_upload(
    s3: S3Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, concurrency=1)
    items = [_from_file(f"v1/big{i}.bin", *_file(tmp_path, f"big{i}.bin", 11 * MIB)) for i in range(3)]
    counts = _count_calls(store, ["CreateMultipartUpload", "CompleteMultipartUpload"])
    # The second upload's first part waits until the caller has stopped: an upload is surely under
    # way then, and cannot complete before the store is told to stop.
    stopped, second_under_way = threading.Event(), threading.Event()

    class ObservedFlow(s3_module._Flow[WriteResult]):
        def __init__(self, slots: int) -> None:
            super().__init__(slots)
            self.stop = _StopSignal(stopped)

    def hold_the_second_upload(**_: Any) -> None:
        if counts["calls"]["CreateMultipartUpload"] == 2:
            second_under_way.set()
            assert stopped.wait(30)

    monkeypatch.setattr(s3_module, "_Flow", ObservedFlow)
    store.client().meta.events.register("before-call.s3.UploadPart", hold_the_second_upload)

    results = cast(Generator[WriteResult, None, None], store.write(items))
    first = next(results)
    assert second_under_way.wait(30)
    results.close()

    assert first.outcome is WriteOutcome.WRITTEN
    assert counts["calls"] == {"CreateMultipartUpload": 2, "CompleteMultipartUpload": 1}
    raw = s3.client()
    assert _pending_uploads(raw, bucket) == []
    sizes = {item.key: item.size for item in items}
    for key in _keys(raw, bucket):  # whatever is there is whole
        assert raw.head_object(Bucket=bucket, Key=key)["ContentLength"] == sizes[key]
    assert _keys(raw, bucket) == [first.key]


@pytest.mark.s3
def test_a_large_read_keeps_only_a_few_reads_queued(
    s3: S3Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, concurrency=2)
    contents = {f"v1/data/{i:03d}.txt": f"file {i}\n".encode() for i in range(60)}
    list(store.write([_from_data(key, data) for key, data in contents.items()]))
    lock = threading.Lock()
    queued = {"now": 0, "most": 0}

    def finished(_: object) -> None:
        with lock:
            queued["now"] -= 1

    class CountingPool(ThreadPoolExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            with lock:
                queued["now"] += 1
                queued["most"] = max(queued["most"], queued["now"])
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(finished)
            return future

    monkeypatch.setattr(s3_module, "ThreadPoolExecutor", CountingPool)

    results = {r.key: r.sha256 for r in store.read([ReadItem(key=key) for key in contents])}

    assert results == {key: _sha256(data) for key, data in contents.items()}
    assert 1 <= queued["most"] <= 2 * 2  # a window of twice the concurrency, not one task per object


@pytest.mark.s3
def test_many_small_files_need_one_listing_and_no_lookups(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    items = [_from_data(f"a1/v1/data/{i:04d}.txt", f"file {i}\n".encode()) for i in range(300)]
    counts = _count_calls(store, ["ListObjectsV2", "HeadObject", "PutObject"])

    outcomes = _outcomes(store, items)

    assert set(outcomes.values()) == {WriteOutcome.WRITTEN} and len(outcomes) == 300
    assert counts["calls"] == {"ListObjectsV2": 1, "HeadObject": 0, "PutObject": 300}
    assert store.get_bytes("a1/v1/data/0042.txt") == b"file 42\n"


# --- fixity ----------------------------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("size", [1000, 11 * MIB], ids=["small", "multipart"])
def test_bytes_without_the_expected_sha256_are_not_kept(s3: S3Service, tmp_path: Path, size: int) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    path, data = _file(tmp_path, "f.bin", size)
    item = WriteItem(key="v1/f.bin", size=size, sha256="0" * 64, path=str(path))

    with pytest.raises(FixityMismatch) as caught:
        list(store.write([item]))

    assert caught.value.actual == _sha256(data)
    assert str(caught.value).startswith("location 'ceph-a': v1/f.bin")
    raw = s3.client()
    assert store.head("v1/f.bin") is None
    assert _keys(raw, bucket) == []
    assert _pending_uploads(raw, bucket) == []


@pytest.mark.s3
def test_a_file_that_changed_size_is_not_kept(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    path, data = _file(tmp_path, "f.bin", 11 * MIB)
    item = _from_file("v1/f.bin", path, data)
    with path.open("ab") as grown:
        grown.write(b"appended after hashing")

    with pytest.raises(StorageError, match=r"v1/f\.bin"):
        list(store.write([item]))

    raw = s3.client()
    assert _keys(raw, bucket) == []
    assert _pending_uploads(raw, bucket) == []


@pytest.mark.s3
def test_an_object_altered_behind_our_back_reads_with_another_sha256(s3: S3Service) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    original = b"the original bytes"
    list(store.write([_from_data("v1/f.txt", original)]))
    s3.client().put_object(Bucket=bucket, Key="v1/f.txt", Body=b"the altered bytes!")

    [result] = store.read([ReadItem(key="v1/f.txt")])

    assert result.problem is None
    assert result.sha256 == _sha256(b"the altered bytes!") != _sha256(original)


@pytest.mark.s3
def test_a_missing_object_is_reported_not_raised(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    list(store.write([_from_data("v1/here.txt", b"here")]))
    dest = tmp_path / "out" / "gone.txt"

    results = {
        r.key: r
        for r in store.read([ReadItem(key="v1/here.txt"), ReadItem(key="v1/gone.txt", dest=str(dest))])
    }

    assert results["v1/gone.txt"].problem == "missing"
    assert results["v1/here.txt"].sha256 == _sha256(b"here")
    assert not dest.exists()
    with pytest.raises(NotFound, match="location 'ceph-a'"):
        store.get_bytes("v1/gone.txt")
    assert store.head("v1/gone.txt") is None


# --- write once ------------------------------------------------------------------------------------


@pytest.mark.s3
def test_a_rerun_finds_its_objects_present_and_other_content_is_a_conflict(
    s3: S3Service, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, prefix="root")
    big = _from_file("a1/v1/big.bin", *_file(tmp_path, "big.bin", 6 * MIB))
    items = [_from_data("a1/v1/bagit.txt", b"BagIt-Version: 1.0\n"), big]
    assert set(_outcomes(store, items).values()) == {WriteOutcome.WRITTEN}

    assert _outcomes(store, items) == {
        key: WriteOutcome.PRESENT for key in ("a1/v1/bagit.txt", "a1/v1/big.bin")
    }

    other = _from_data("a1/v1/bagit.txt", b"BagIt-Version: 0.97\n")
    new = _from_data("a1/v1/new.txt", b"new")
    with pytest.raises(ConflictError) as caught:
        list(store.write([new, other]))
    message = str(caught.value)
    assert message.startswith("location 'ceph-a'") and "a1/v1/bagit.txt" in message
    assert store.get_bytes("a1/v1/bagit.txt") == b"BagIt-Version: 1.0\n"
    assert store.head("a1/v1/new.txt") is None  # nothing of a conflicting call is written

    replacing = _from_data("a1/v1/bagit.txt", b"BagIt-Version: 0.97\n", replace=True)
    assert _outcomes(store, [replacing]) == {"a1/v1/bagit.txt": WriteOutcome.WRITTEN}
    assert store.get_bytes("a1/v1/bagit.txt") == b"BagIt-Version: 0.97\n"


@pytest.mark.s3
def test_an_object_without_recorded_sha256_is_not_taken_as_present(s3: S3Service) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    s3.client().put_object(Bucket=bucket, Key="v1/f.txt", Body=b"same")

    with pytest.raises(ConflictError, match=r"v1/f\.txt"):
        list(store.write([_from_data("v1/f.txt", b"same")]))


@pytest.mark.s3
def test_keys_live_under_the_prefix_and_listings_strip_it(s3: S3Service) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket, prefix="site-a")
    data = {
        "a1/v1/bagit.txt": b"b",
        "a1/v1/data/x.txt": b"xx",
        "a1/v2/bagit.txt": b"b",
        "a2/v1/bagit.txt": b"b",
    }
    list(store.write([_from_data(key, value) for key, value in data.items()]))
    s3.client().put_object(Bucket=bucket, Key="elsewhere/a9.txt", Body=b"not ours")

    assert sorted(_keys(s3.client(), bucket)) == sorted(["elsewhere/a9.txt", *(f"site-a/{k}" for k in data)])
    assert [(o.key, o.size) for o in store.list("a1/")] == [
        ("a1/v1/bagit.txt", 1),
        ("a1/v1/data/x.txt", 2),
        ("a1/v2/bagit.txt", 1),
    ]
    assert list(store.children("")) == ["a1", "a2"]
    assert list(store.children("a1/v1/")) == ["bagit.txt", "data"]
    info = store.head("a1/v1/data/x.txt")
    assert info is not None and info.sha256 == _sha256(b"xx") and info.size == 2
    # The server's own clock: written no later than it answers a later request.
    served = s3.client().head_object(Bucket=bucket, Key="site-a/a1/v1/data/x.txt")
    answered = parsedate_to_datetime(served["ResponseMetadata"]["HTTPHeaders"]["date"])
    assert info.modified is not None and info.modified <= answered
    assert store.locate("a1/v1/bagit.txt") == f"s3://{bucket}/site-a/a1/v1/bagit.txt"
    with pytest.raises(StorageError, match="more than the 1 allowed"):
        store.get_bytes("a1/v1/data/x.txt", limit=1)


# --- Object Lock -----------------------------------------------------------------------------------


@pytest.mark.s3
def test_objects_written_to_a_lock_bucket_cannot_be_deleted(s3: S3Service, tmp_path: Path) -> None:
    bucket = s3.new_bucket(object_lock=True)
    store = _store(s3, bucket)
    info = store.describe()
    assert info.object_lock and info.versioned
    assert info.uri == f"s3://{bucket}/ at {s3.endpoint}"
    now = datetime.now(UTC)
    big = _from_file("v1/big.bin", *_file(tmp_path, "big.bin", 6 * MIB))

    list(
        store.write(
            [_from_data("v1/small.txt", b"locked")],
            retention=Retention(mode=RetentionMode.COMPLIANCE, days=1),
            now=now,
        )
    )
    list(store.write([big], retention=Retention(mode=RetentionMode.GOVERNANCE, days=2), now=now))

    raw = s3.client()
    for key, mode, days in (
        ("v1/small.txt", RetentionMode.COMPLIANCE, 1),
        ("v1/big.bin", RetentionMode.GOVERNANCE, 2),
    ):
        head = store.head(key)
        assert head is not None and head.retention_mode is mode
        assert head.retain_until is not None
        assert timedelta(0) <= head.retain_until - (now + timedelta(days=days)) < timedelta(seconds=5)
        version = raw.head_object(Bucket=bucket, Key=key)["VersionId"]
        with pytest.raises(ClientError) as refused:
            raw.delete_object(Bucket=bucket, Key=key, VersionId=version)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert store.get_bytes(key) is not None
    small_version = raw.head_object(Bucket=bucket, Key="v1/small.txt")["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        raw.delete_object(
            Bucket=bucket, Key="v1/small.txt", VersionId=small_version, BypassGovernanceRetention=True
        )


@pytest.mark.s3
def test_a_rerun_locks_an_object_an_interrupted_run_left_unlocked(s3: S3Service) -> None:
    bucket = s3.new_bucket(object_lock=True)
    store = _store(s3, bucket)
    data = b"stored, but the run stopped before locking it"
    s3.client().put_object(Bucket=bucket, Key="v1/f.txt", Body=data, Metadata={"sha256": _sha256(data)})
    now = datetime.now(UTC)

    outcomes = _outcomes(
        store,
        [_from_data("v1/f.txt", data)],
        retention=Retention(mode=RetentionMode.GOVERNANCE, days=1),
        now=now,
    )

    assert outcomes == {"v1/f.txt": WriteOutcome.PRESENT}
    head = store.head("v1/f.txt")
    assert head is not None and head.retention_mode is RetentionMode.GOVERNANCE
    assert head.retain_until is not None and head.retain_until >= now + timedelta(days=1)


@pytest.mark.s3
def test_the_bucket_is_asked_once_whether_it_can_lock(s3: S3Service) -> None:
    bucket = s3.new_bucket(object_lock=True)
    store = _store(s3, bucket)
    counts = _count_calls(store, ["HeadBucket", "GetObjectLockConfiguration"])
    retention = Retention(mode=RetentionMode.GOVERNANCE, days=1)

    for i in range(3):
        list(store.write([_from_data(f"v1/{i}.txt", b"locked")], retention=retention))

    assert counts["calls"] == {"HeadBucket": 1, "GetObjectLockConfiguration": 1}
    head = store.head("v1/2.txt")
    assert head is not None and head.retention_mode is RetentionMode.GOVERNANCE


@pytest.mark.s3
def test_a_plain_bucket_has_no_lock_and_retention_is_ignored(s3: S3Service) -> None:
    bucket = s3.new_bucket()
    store = _store(s3, bucket)
    info = store.describe()
    assert not info.object_lock and not info.versioned

    list(
        store.write(
            [_from_data("v1/f.txt", b"f")], retention=Retention(mode=RetentionMode.COMPLIANCE, days=1)
        )
    )

    head = store.head("v1/f.txt")
    assert head is not None and head.retain_until is None and head.retention_mode is None


# --- errors name the location, in one line --------------------------------------------------------


def _one_line_naming(error: BaseException, *parts: str) -> str:
    message = str(error)
    assert "\n" not in message
    assert message.startswith("location 'ceph-x'")
    for part in parts:
        assert part in message
    return message


def _every_method(store: S3ObjectStore) -> list[Callable[[], object]]:
    return [
        store.describe,
        lambda: list(store.write([_from_data("v1/f.txt", b"f")])),
        lambda: list(store.read([ReadItem(key="v1/f.txt")])),
        lambda: store.get_bytes("v1/f.txt"),
        lambda: store.head("v1/f.txt"),
        lambda: list(store.list("v1/")),
        lambda: list(store.children("v1/")),
    ]


@pytest.mark.s3
def test_refused_credentials_are_named(s3: S3Service) -> None:
    bucket = s3.new_bucket()
    for access, secret in ((s3.access_key, "not-the-secret"), ("NOSUCHKEY", s3.secret_key)):
        store = S3ObjectStore(
            "ceph-x", endpoint=s3.endpoint, bucket=bucket, access_key=access, secret_key=secret
        )
        for call in _every_method(store):
            with pytest.raises(StorageError) as caught:
                call()
            _one_line_naming(caught.value, "credentials were refused", s3.endpoint, bucket)


@pytest.mark.s3
def test_a_missing_bucket_is_named(s3: S3Service) -> None:
    bucket = "oais-test-no-such-bucket"
    for call in _every_method(_store(s3, bucket, name="ceph-x")):
        with pytest.raises(StorageError) as caught:
            call()
        _one_line_naming(caught.value, f"bucket '{bucket}' does not exist", s3.endpoint)


def test_an_unreachable_endpoint_is_named() -> None:
    # No Ceph RGW needed: nothing listens on the discard port.
    endpoint = "http://127.0.0.1:9"
    store = S3ObjectStore("ceph-x", endpoint=endpoint, bucket="b1", access_key="k", secret_key="s")
    for call in _every_method(store):
        with pytest.raises(StorageError) as caught:
            call()
        _one_line_naming(caught.value, f"cannot reach {endpoint}", "s3://b1/")
