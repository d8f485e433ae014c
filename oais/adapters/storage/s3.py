"""An archival storage location on an S3 service (Ceph RGW): one bucket, and optionally a key prefix.

What this adapter relies on, and why (measured on Ceph RGW 16.2 "Pacific"):

* **Content-MD5 on every request that carries bytes.** RGW checks it on PutObject and on every
  UploadPart and refuses a mismatch (``BadDigest``), so each part is checked by the server as it
  arrives. Flexible checksums (``x-amz-checksum-*``) are accepted but ignored by RGW 16, so none are
  asked for; with boto3 >= 1.36 asking for one even breaks uploads over HTTPS.
* **Our own sha256.** The digest of record is computed over the bytes as they are read for sending
  and must equal the item's before an object is made visible (before PutObject, or before
  CompleteMultipartUpload). It is kept in the object's user metadata (``x-amz-meta-sha256``) as a
  hint for listings; fixity audits always read the bytes. ETags are not used for fixity (RGW even
  returns an empty one from CompleteMultipartUpload).
* **Nothing partial.** A multipart upload that fails in any way is aborted, so no parts linger and
  the key never shows a partial object.
* **Write once.** Which keys already exist is found with one listing of the batch's common prefix
  (not one HEAD per key); only keys that exist are looked at in detail. An existing object with the
  same size and sha256 is left alone (a rerun after a crash); one with other content is a conflict
  unless the item may replace it, found before anything of the call is written. Nothing is deleted
  but by :meth:`S3ObjectStore.delete_prefix` (an approved deaccession; see below) and by
  :meth:`S3ObjectStore.delete_objects` (an aborted DIP, never on an AIP location).
* **Object Lock.** Retention is sent with PutObject. RGW 16 ignores the retention given to
  CreateMultipartUpload, so a multipart object gets it with PutObjectRetention right after it is
  completed. An object found present with no retention or a shorter one (a run that stopped
  before locking it) gets the retention asked for.
* **Deletion is of versions.** In a versioned bucket (every Object Lock bucket is) a plain DELETE
  only hides the object behind a delete marker. A deaccession lists every version of every key under
  the AIP's prefix (``ListObjectVersions``), every delete marker and every unfinished multipart
  upload, reads each version's retention and legal hold (HEAD of the version), and deletes nothing
  unless every version may go now; then every version and marker is deleted by version id
  (``DeleteObjects``, with ``BypassGovernanceRetention`` only if the policy allows it), the uploads are
  aborted, and the prefix is listed again: anything left is an error that says what was deleted.
* **Bounded work.** At most ``concurrency`` uploads (PutObject, UploadPart, and the calls that start
  and complete multipart uploads) are in flight, and at most ``concurrency`` buffers (whole small
  objects or parts) are in memory, across all the objects of a call. A read of 100,000 objects keeps
  only a few of them queued at a time.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Generic, TypeVar

from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from oais.adapters.hashing import new_hasher
from oais.adapters.storage._common import (
    SerialisedProgress,
    bounded,
    require_deletion_prefix,
    require_key,
    require_prefix,
    require_unique_keys,
)
from oais.domain.errors import ConfigError, ConflictError, NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.storage import (
    LOCATION_NAME,
    DeletionPlan,
    DeletionReport,
    Hashed,
    LocationInfo,
    LocationKind,
    ObjectInfo,
    ReadItem,
    ReadResult,
    Retention,
    RetentionMode,
    StoredVersion,
    WriteItem,
    WriteOutcome,
    WriteResult,
)

_log = logging.getLogger(__name__)

_SHA256 = DigestAlgorithm.SHA256

#: The smallest part S3 (and RGW: ``rgw_multipart_min_part_size``) accepts, except for the last one.
MIN_PART_SIZE = 5 << 20
#: The largest part S3 accepts.
MAX_PART_SIZE = 5 << 30
#: The most parts one multipart upload may have.
MAX_PARTS = 10_000
#: How much of an object is read from the network at a time.
READ_CHUNK = 4 << 20

#: Error codes meaning the service did not accept who we say we are.
_REFUSED_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidSecurity"}
)

_T = TypeVar("_T")
_I = TypeVar("_I")


class _Kind(Enum):
    """What a failed request means for the caller."""

    UNREACHABLE = "unreachable"
    REFUSED = "refused"
    NO_BUCKET = "no bucket"
    MISSING = "missing"
    OTHER = "other"


#: Failures that concern the whole location, not one object.
_LOCATION_WIDE = frozenset({_Kind.UNREACHABLE, _Kind.REFUSED, _Kind.NO_BUCKET})


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error_code(exc: Any) -> tuple[str, int | None, str]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or ""), status, _one_line(error.get("Message") or "")


def _classify(exc: BaseException) -> _Kind:
    if isinstance(exc, BotoConnectionError | ConnectionClosedError):
        return _Kind.UNREACHABLE
    if not isinstance(exc, ClientError):
        return _Kind.OTHER
    code, status, _ = _error_code(exc)
    operation = getattr(exc, "operation_name", "")
    if code in _REFUSED_CODES:
        return _Kind.REFUSED
    if code == "NoSuchBucket":
        return _Kind.NO_BUCKET
    # A HEAD response has no body, hence no error code: only the status tells.
    if operation == "HeadBucket" and status == 404:
        return _Kind.NO_BUCKET
    if operation == "HeadBucket" and status == 403:
        return _Kind.REFUSED
    if code in {"NoSuchKey", "NotFound", "404"} or (status == 404 and operation == "HeadObject"):
        return _Kind.MISSING
    return _Kind.OTHER


def _detail(exc: BaseException) -> str:
    """A short, one-line account of a failed request."""
    if isinstance(exc, ClientError):
        code, status, message = _error_code(exc)
        text = f"{code or 'error'} (HTTP {status})" if status else code or "error"
        return f"{text}: {message}" if message and message != code else text
    return _one_line(exc) or type(exc).__name__


def _utc(value: Any) -> datetime | None:
    """A timestamp from a response, in UTC (botocore may hand back local-time zones)."""
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _lock_short(mode: str | None, until: datetime | None, lock: dict[str, Any]) -> bool:
    """True if a retention is asked for (``lock``) and the object's ends sooner or is absent."""
    if not lock:
        return False
    wanted: datetime = lock["ObjectLockRetainUntilDate"]
    return not mode or until is None or until < wanted


def _transfer_check(item: WriteItem) -> tuple[DigestAlgorithm, str]:
    """The digest the bytes sent are checked against: the fast one when the item carries it (every
    object is read back afterwards and checked against its sha256 of record), else the sha256."""
    if item.xxh3_128:
        return DigestAlgorithm.XXH3_128, item.xxh3_128.lower()
    return DigestAlgorithm.SHA256, item.sha256.lower()


def _md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


@dataclass(frozen=True)
class _Found:
    """An object found under a key about to be written."""

    size: int
    sha256: str | None = None  # from its metadata, if it was looked at
    version: str | None = None  # its version id, in a versioned bucket
    lock_mode: str | None = None  # its Object Lock retention, if any
    retain_until: datetime | None = None


class _Stopped(Exception):
    """The call is being wound up (another object failed or the caller stopped iterating)."""


@dataclass(frozen=True)
class _Event(Generic[_T]):
    """What a worker tells the thread that yields results: bytes moved, a result, or a failure."""

    moved: int = 0
    result: _T | None = None
    error: BaseException | None = None


class _Flow(Generic[_T]):
    """The state the threads of one write or read call share."""

    def __init__(self, slots: int) -> None:
        self.events: queue.SimpleQueue[_Event[_T]] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.slots = threading.Semaphore(slots)

    def acquire(self) -> bool:
        """Take a slot (a buffer in memory, a request in flight); False if the call is stopping."""
        while not self.slots.acquire(timeout=0.05):
            if self.stop.is_set():
                return False
        if self.stop.is_set():
            self.slots.release()
            return False
        return True

    def release(self, _future: object = None) -> None:
        self.slots.release()

    def fail(self, exc: BaseException) -> None:
        """Report a failure and make every other worker stop."""
        if not isinstance(exc, _Stopped):
            self.events.put(_Event(error=exc))
        self.stop.set()

    def drain(self, count: int, progress: Callable[[int], None] | None) -> Iterator[_T]:
        """Yield ``count`` results as they arrive, calling ``progress`` in the caller's thread."""
        while count:
            event = self.events.get()
            if event.error is not None:
                raise event.error
            if event.moved and progress is not None:
                progress(event.moved)
            if event.result is not None:
                count -= 1
                yield event.result


class _Sink:
    """Hashes an object's bytes (and writes them to a file, if given one) as they arrive.

    For a large object read with few others this runs on a second thread, fed through a short
    queue, so that the socket is drained while the previous chunk is hashed and written (both release
    the GIL): one stream then goes about as fast as the network allows.
    """

    def __init__(self, pipelined: bool, algorithm: DigestAlgorithm) -> None:
        self._digest = new_hasher(algorithm)
        self._out: Any = None
        self._pipelined = pipelined
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def start(self, out: Any) -> None:
        self._out = out
        if self._pipelined:
            self._thread = threading.Thread(target=self._run, name="s3-sink", daemon=True)
            self._thread.start()

    def _consume(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        if self._out is not None:
            self._out.write(chunk)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._consume(chunk)
                except OSError as exc:
                    self._error = exc

    def put(self, chunk: bytes) -> None:
        """Hand over the next chunk. Raises OSError if writing an earlier one failed."""
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._consume(chunk)
        else:
            self._queue.put(chunk)

    def finish(self) -> str:
        """Wait for every chunk to be hashed and written; the digest. Raises OSError."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def abandon(self) -> None:
        """Stop the second thread, if any, without caring for the rest."""
        if self._thread is not None:
            self._error = self._error or OSError("abandoned")
            self._queue.put(None)
            self._thread.join()
            self._thread = None


class S3ObjectStore:
    """An :class:`~oais.domain.ports.ObjectStore` on one bucket (and key prefix) of an S3 service.

    Nothing is sent at construction; the client is created on first use.
    """

    def __init__(
        self,
        name: str,
        *,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        prefix: str = "",
        region: str = "us-east-1",
        ca_bundle: str | None = None,
        part_size: int = 64 << 20,
        concurrency: int = 4,
    ) -> None:
        """Describe the location; nothing is sent until it is used.

        Args:
            name: the location's name (it starts every error message).
            endpoint: the service's URL, e.g. ``http://127.0.0.1:7480``.
            bucket: the bucket holding the location's objects.
            access_key: S3 access key id.
            secret_key: S3 secret key.
            prefix: a key prefix under which the location lives ('/' is added if missing).
            region: the region to sign requests for.
            ca_bundle: a CA certificate bundle to verify an HTTPS endpoint with.
            part_size: objects of at least this size are sent in parts of this size.
            concurrency: the most requests carrying bytes in flight (and buffers in memory) at once.

        Raises:
            ConfigError: if a value cannot work.
        """
        if LOCATION_NAME.fullmatch(name) is None:
            raise ConfigError(f"{name!r} is not a location name (lower-case letters, digits, '-', '_')")
        if not endpoint:
            raise ConfigError(f"location '{name}': no S3 endpoint is configured")
        if not bucket:
            raise ConfigError(f"location '{name}': no S3 bucket is configured")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ConfigError(
                f"location '{name}': part size {part_size} is outside S3's limits "
                f"({MIN_PART_SIZE} to {MAX_PART_SIZE} bytes)"
            )
        if concurrency < 1:
            raise ConfigError(f"location '{name}': concurrency must be at least 1, not {concurrency}")
        prefix = prefix.lstrip("/")
        self._name = name
        self._endpoint = endpoint.rstrip("/")
        self._bucket = bucket
        self._access_key = access_key
        self._secret_key = secret_key
        self._prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self._region = region
        self._ca_bundle = ca_bundle
        self._part_size = part_size
        self._concurrency = concurrency
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._bucket_checked = False
        self._object_lock: bool | None = None  # whether the bucket has Object Lock, once asked

    def __repr__(self) -> str:
        return f"S3ObjectStore({self._name!r}, {self.uri!r})"

    @property
    def name(self) -> str:
        """The location's name (from the configuration)."""
        return self._name

    @property
    def uri(self) -> str:
        """Where the location is, for messages and records."""
        return f"s3://{self._bucket}/{self._prefix} at {self._endpoint}"

    def locate(self, key: str) -> str:
        """The object's ``s3://bucket/key`` URI, for people (nothing is sent)."""
        return f"s3://{self._bucket}/{self._full(key)}"

    def client(self) -> Any:
        """The boto3 S3 client this store sends requests with, created on first use.

        Raises:
            StorageError: if the client cannot be created (e.g. a malformed endpoint).
        """
        client = self._client
        if client is not None:
            return client
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        config = Config(
            signature_version="s3v4",
            # Every request that carries a body carries its Content-MD5, which RGW checks, and the
            # signature covers that header; the bytes are also hashed with sha256 by this store and
            # read back. Signing the payload's sha256 as well would hash every byte once more (botocore
            # does so over plain HTTP unless told not to).
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            # RGW 16 ignores x-amz-checksum-*, and the aws-chunked encoding botocore would use for
            # them over HTTPS is refused (411 MissingContentLength): send Content-MD5 instead.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=self._concurrency + 4,
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
        )
        try:
            session = boto3.session.Session()
            return session.client(
                "s3",
                endpoint_url=self._endpoint,
                region_name=self._region,
                aws_access_key_id=self._access_key,
                aws_secret_access_key=self._secret_key,
                verify=self._ca_bundle,
                config=config,
            )
        except (BotoCoreError, ValueError) as exc:
            raise StorageError(
                f"location '{self._name}': cannot use endpoint {self._endpoint}: {_one_line(exc)}"
            ) from exc

    # --- keys and errors ---------------------------------------------------------------------

    def _full(self, key: str) -> str:
        # The same keys as every other store, so that an AIP restored to a disk means the same files.
        require_key(self._name, key)
        return self._prefix + key

    def delete_objects(self, keys: Sequence[str]) -> None:
        """Delete objects an aborted DIP wrote. Not part of the ObjectStore port: on AIP locations
        nothing is deleted outside the deaccession workflow; only DIP destinations use this.

        Raises:
            StorageError: the deletion failed (naming the location and the first key).
        """
        client = self.client()
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            try:
                response = client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": self._full(k)} for k in batch], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, "deleting", batch[0]) from exc
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"location '{self._name}': cannot delete {first.get('Key')}: {first.get('Message')}"
                )

    def _where(self, key: str | None) -> str:
        return f"s3://{self._bucket}/{self._prefix}{key or ''}"

    def _fail(self, exc: BaseException, doing: str, key: str | None = None) -> StorageError | NotFound:
        """Translate an SDK exception into one line that names the location, endpoint and object."""
        where = self._where(key)
        head = f"location '{self._name}'"
        kind = _classify(exc)
        if kind is _Kind.UNREACHABLE:
            return StorageError(f"{head}: cannot reach {self._endpoint} ({doing} {where}): {_detail(exc)}")
        if kind is _Kind.REFUSED:
            return StorageError(
                f"{head}: the credentials were refused by {self._endpoint} ({doing} {where}): {_detail(exc)}"
            )
        if kind is _Kind.NO_BUCKET:
            return StorageError(f"{head}: bucket '{self._bucket}' does not exist at {self._endpoint}")
        if kind is _Kind.MISSING:
            return NotFound(f"{head}: there is no object {where} at {self._endpoint}")
        return StorageError(f"{head}: {doing} {where} at {self._endpoint} failed: {_detail(exc)}")

    def _ready(self, doing: str, key: str | None = None) -> Any:
        """The client, once the bucket is known to exist and to accept our credentials.

        Checked once per store, so that a missing bucket or refused credentials are reported as
        such by every method (a HEAD of a missing object and of a missing bucket look alike).
        """
        client = self.client()
        if not self._bucket_checked:
            try:
                client.head_bucket(Bucket=self._bucket)
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, doing, key) from exc
            self._bucket_checked = True
        return client

    # --- describe ------------------------------------------------------------------------------

    def describe(self) -> LocationInfo:
        """Ask the bucket whether it exists, has Object Lock and keeps versions.

        Raises:
            StorageError: one line naming the location if it cannot be reached, the credentials are
                refused or the bucket does not exist.
        """
        client = self.client()
        try:
            client.head_bucket(Bucket=self._bucket)
            self._bucket_checked = True
            object_lock = self._object_lock = self._ask_object_lock(client)
            versioning = client.get_bucket_versioning(Bucket=self._bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "describing", None) from exc
        return LocationInfo(
            name=self._name,
            kind=LocationKind.S3,
            uri=self.uri,
            object_lock=object_lock,
            versioned=versioning.get("Status") == "Enabled",
        )

    def _ask_object_lock(self, client: Any) -> bool:
        """Whether the bucket has Object Lock (one request).

        Raises:
            BotoCoreError, ClientError: if the request fails.
        """
        try:
            lock = client.get_object_lock_configuration(Bucket=self._bucket)
        except ClientError as exc:
            if _error_code(exc)[0] != "ObjectLockConfigurationNotFoundError":
                raise
            return False
        config = lock.get("ObjectLockConfiguration") or {}
        return bool(config.get("ObjectLockEnabled") == "Enabled")

    # --- write ---------------------------------------------------------------------------------

    def write(
        self,
        items: Sequence[WriteItem],
        retention: Retention | None = None,
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[WriteResult]:
        """Write objects, several at once, large ones in parts, each request checked by Content-MD5.

        Every object carries its sha256 as user metadata ``sha256``; the bytes sent must have the
        item's sha256, or nothing is kept under the key.

        Args:
            items: what to write (each key once).
            retention: lock every written object until ``now`` + the retention period, if the bucket
                has Object Lock (ignored if it has not).
            now: the time the retention counts from (default: the current time).
            progress: called in the caller's thread with the number of bytes of each request sent.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            ConflictError: a key holds other content and the item may not replace it (nothing of the
                call is written then).
            FixityMismatch: the bytes read for sending do not have the item's sha256.
            StorageError: the location failed, or a local file could not be read or changed size.
        """
        batch = list(items)
        if not batch:
            return
        for item in batch:
            require_key(self._name, item.key)
        require_unique_keys(self._name, batch)
        self._ready("writing", batch[0].key)
        lock = self._lock_arguments(retention, now)
        existing = self._existing(batch)
        todo: list[WriteItem] = []
        present: list[tuple[str, _Found]] = []
        for item in batch:
            found = existing.get(item.key)
            if found is None:
                todo.append(item)
            elif found.size == item.size and found.sha256 == item.sha256.lower():
                present.append((item.key, found))
            elif item.replace:
                todo.append(item)
            else:
                if found.size != item.size:
                    held = f"{found.size} bytes, not {item.size}"
                elif found.sha256 is None:
                    held = "no sha256 recorded"
                else:
                    held = f"sha256 {found.sha256}, not {item.sha256}"
                raise ConflictError(
                    f"location '{self._name}': {self._where(item.key)} already holds other content "
                    f"({held}) and may not be replaced"
                )
        # Present but locked for less than asked (or not at all): written by a run that stopped
        # before it could lock it, or earlier with a retention that ends sooner.
        relock = [(key, f) for key, f in present if _lock_short(f.lock_mode, f.retain_until, lock)]
        if relock:
            with ThreadPoolExecutor(min(self._concurrency, len(relock))) as pool:
                list(pool.map(lambda kf: self._lock(kf[0], kf[1].version, kf[1].lock_mode, lock), relock))
        for key, _ in present:
            yield WriteResult(key=key, outcome=WriteOutcome.PRESENT)
        if todo:
            yield from self._send(todo, lock, progress)

    def _lock_arguments(self, retention: Retention | None, now: datetime | None) -> dict[str, Any]:
        if retention is None:
            return {}
        if self._object_lock is None:
            # Asked once per store (or by describe): Object Lock, once on, cannot be turned off.
            try:
                self._object_lock = self._ask_object_lock(self.client())
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, "looking at the Object Lock configuration of") from exc
        if not self._object_lock:
            return {}
        start = now if now is not None else datetime.now(UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        until = retention.until(start)
        if until.microsecond:  # RGW keeps whole seconds: round up, never lock for less than asked
            until = until.replace(microsecond=0) + timedelta(seconds=1)
        return {"ObjectLockMode": retention.mode.value, "ObjectLockRetainUntilDate": until}

    def _existing(self, batch: Sequence[WriteItem]) -> dict[str, _Found]:
        """Which of the batch's keys exist, and what they hold.

        One listing of the keys' common prefix, from just before the first key to the last one,
        finds them; only those whose size matches are looked at (HEAD) for their sha256. If the
        listing runs through far more objects than the batch has, the rest are looked up one by one.
        """
        client = self.client()
        by_key = {self._full(item.key): item for item in batch}
        ordered = sorted(by_key, key=lambda k: k.encode())
        first, last = ordered[0], ordered[-1].encode()
        common = os.path.commonprefix(ordered)  # noqa: RUF071 - a key prefix, not a path
        sizes: dict[str, int] = {}
        budget = 1000 + 2 * len(ordered)
        listed_to: str | None = None
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Prefix": common}
        if len(first) > len(common):
            arguments["StartAfter"] = first[:-1]  # sorts just before ``first``
        try:
            for number, entry in enumerate(self._objects(client, arguments)):
                key = entry["Key"]
                if key in by_key:
                    sizes[key] = int(entry["Size"])
                if key.encode() >= last:
                    listed_to = None
                    break
                listed_to = key
                if number >= budget:
                    break
            else:
                listed_to = None
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "listing", common[len(self._prefix) :]) from exc
        unknown = [k for k in ordered if listed_to is not None and k.encode() > listed_to.encode()]
        to_head = [k for k, size in sizes.items() if size == by_key[k].size] + unknown
        found = {by_key[k].key: _Found(size) for k, size in sizes.items() if size != by_key[k].size}
        if to_head:
            with ThreadPoolExecutor(min(self._concurrency, len(to_head))) as pool:
                for full, head in zip(to_head, pool.map(self._head_full, to_head), strict=True):
                    if head is not None:
                        sha256 = (head.get("Metadata") or {}).get("sha256")
                        found[by_key[full].key] = _Found(
                            size=int(head["ContentLength"]),
                            sha256=sha256.lower() if sha256 else None,
                            version=head.get("VersionId"),
                            lock_mode=head.get("ObjectLockMode"),
                            retain_until=_utc(head.get("ObjectLockRetainUntilDate")),
                        )
        return found

    def _lock(self, key: str, version: str | None, mode: str | None, lock: dict[str, Any]) -> None:
        """Give a stored object (whose retention mode is ``mode``) the retention of ``lock``."""
        arguments: dict[str, Any] = {"Bucket": self._bucket, "Key": self._full(key)}
        if version:
            arguments["VersionId"] = version
        # A COMPLIANCE retention may be extended but never turned into GOVERNANCE.
        keep = mode == RetentionMode.COMPLIANCE.value
        try:
            self.client().put_object_retention(
                **arguments,
                Retention={
                    "Mode": mode if keep else lock["ObjectLockMode"],
                    "RetainUntilDate": lock["ObjectLockRetainUntilDate"],
                },
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "locking", key) from exc

    @staticmethod
    def _objects(client: Any, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for page in client.get_paginator("list_objects_v2").paginate(**arguments):
            yield from page.get("Contents") or ()

    def _head_full(self, full: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client().head_object(Bucket=self._bucket, Key=full)
        except (BotoCoreError, ClientError) as exc:
            if _classify(exc) is _Kind.MISSING:
                return None
            raise self._fail(exc, "looking at", full[len(self._prefix) :]) from exc
        return head

    def _send(
        self, todo: Sequence[WriteItem], lock: dict[str, Any], progress: Callable[[int], None] | None
    ) -> Iterator[WriteResult]:
        flow: _Flow[WriteResult] = _Flow(self._concurrency)
        large = sum(1 for item in todo if self._is_large(item))
        uploads = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"s3-{self._name}-send")
        leaders = ThreadPoolExecutor(
            max(1, min(self._concurrency, large)), thread_name_prefix=f"s3-{self._name}-parts"
        )
        feeder = threading.Thread(
            target=self._feed,
            args=(todo, lock, flow, uploads, leaders),
            name=f"s3-{self._name}-read",
            daemon=True,
        )
        feeder.start()
        try:
            yield from flow.drain(len(todo), progress)
        finally:
            # Winding up: the feeder stops reading, unfinished multipart uploads are aborted, and
            # requests already sent are let finish (a whole object is never harmful).
            flow.stop.set()
            feeder.join()
            leaders.shutdown(wait=True)
            uploads.shutdown(wait=True, cancel_futures=True)

    def _is_large(self, item: WriteItem) -> bool:
        return item.data is None and item.size >= self._part_size

    def _feed(
        self,
        todo: Sequence[WriteItem],
        lock: dict[str, Any],
        flow: _Flow[WriteResult],
        uploads: ThreadPoolExecutor,
        leaders: ThreadPoolExecutor,
    ) -> None:
        """Read small objects in turn and hand them to the senders; hand large ones to a leader."""
        try:
            for item in todo:
                if flow.stop.is_set():
                    return
                if self._is_large(item):
                    leaders.submit(self._put_large, item, lock, flow, uploads)
                    continue
                if not flow.acquire():
                    return
                try:
                    body = self._load(item)
                except BaseException:
                    flow.release()
                    raise
                future = uploads.submit(self._put_small, item, body, lock, flow)
                future.add_done_callback(flow.release)
        except BaseException as exc:
            flow.fail(exc)

    def _load(self, item: WriteItem) -> bytes:
        """A small object's bytes, checked against the item's size and sha256."""
        if item.data is not None:
            body, source = item.data, "the data given"
        else:
            assert item.path is not None
            source = item.path
            try:
                with open(item.path, "rb") as handle:
                    body = handle.read(item.size + 1)
            except OSError as exc:
                raise self._local_error(item, exc) from exc
        if len(body) != item.size:
            raise self._size_changed(item, source)
        algorithm, expected = _transfer_check(item)
        hasher = new_hasher(algorithm)
        hasher.update(body)
        actual = hasher.hexdigest()
        if actual != expected:
            raise FixityMismatch(f"location '{self._name}': {item.key}", algorithm, expected, actual)
        return body

    def _local_error(self, item: WriteItem, exc: OSError) -> StorageError:
        return StorageError(
            f"location '{self._name}': cannot read {item.path} for {item.key}: "
            f"{exc.strerror or _one_line(exc)}"
        )

    def _size_changed(self, item: WriteItem, source: str) -> StorageError:
        return StorageError(
            f"location '{self._name}': {item.key}: {source} does not have the {item.size} bytes expected "
            "(it changed or is the wrong file); nothing was kept"
        )

    def _put_small(
        self, item: WriteItem, body: bytes, lock: dict[str, Any], flow: _Flow[WriteResult]
    ) -> None:
        try:
            self.client().put_object(
                Bucket=self._bucket,
                Key=self._full(item.key),
                Body=body,
                ContentMD5=_md5_base64(body),
                Metadata={"sha256": item.sha256.lower()},
                **lock,
            )
        except (BotoCoreError, ClientError) as exc:
            flow.fail(self._fail(exc, "writing", item.key))
            return
        except BaseException as exc:
            flow.fail(exc)
            return
        flow.events.put(
            _Event(moved=len(body), result=WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN))
        )

    def _part_size_for(self, size: int) -> int:
        part = self._part_size
        if size > part * MAX_PARTS:
            mib = 1 << 20
            part = -(-size // MAX_PARTS)
            part = -(-part // mib) * mib
        return part

    def _put_large(
        self, item: WriteItem, lock: dict[str, Any], flow: _Flow[WriteResult], uploads: ThreadPoolExecutor
    ) -> None:
        """Send one large file as a multipart upload; abort it on any failure."""
        try:
            self._multipart(item, lock, flow, uploads)
        except BaseException as exc:
            flow.fail(exc)

    def _multipart(
        self, item: WriteItem, lock: dict[str, Any], flow: _Flow[WriteResult], uploads: ThreadPoolExecutor
    ) -> None:
        assert item.path is not None
        client = self.client()
        full = self._full(item.key)
        try:
            if not flow.acquire():
                return
            try:
                created = client.create_multipart_upload(
                    Bucket=self._bucket, Key=full, Metadata={"sha256": item.sha256.lower()}, **lock
                )
            finally:
                flow.release()
            upload_id: str = created["UploadId"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "writing", item.key) from exc
        parts: list[Future[str]] = []
        part_failed = threading.Event()
        completed = False

        def note_failure(future: Future[str]) -> None:
            if not future.cancelled() and future.exception() is not None:
                part_failed.set()

        try:
            part_size = self._part_size_for(item.size)
            algorithm, expected = _transfer_check(item)
            digest = new_hasher(algorithm)
            sent = 0
            with open(item.path, "rb") as handle:
                while sent < item.size and not part_failed.is_set():
                    if not flow.acquire():
                        raise _Stopped
                    try:
                        chunk = handle.read(min(part_size, item.size - sent))
                    except BaseException:
                        flow.release()
                        raise
                    if not chunk:
                        flow.release()
                        break
                    sent += len(chunk)
                    digest.update(chunk)
                    future = uploads.submit(
                        self._put_part, client, item.key, full, upload_id, len(parts) + 1, chunk, flow
                    )
                    future.add_done_callback(flow.release)
                    future.add_done_callback(note_failure)
                    parts.append(future)
                if not part_failed.is_set() and (sent != item.size or handle.read(1)):
                    raise self._size_changed(item, item.path)
            if not part_failed.is_set():
                actual = digest.hexdigest()
                if actual != expected:
                    raise FixityMismatch(f"location '{self._name}': {item.key}", algorithm, expected, actual)
            etags = [future.result() for future in parts]  # the first failed part raises here
            if not flow.acquire():
                raise _Stopped
            try:
                client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=full,
                    UploadId=upload_id,
                    MultipartUpload={
                        "Parts": [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, 1)]
                    },
                )
                completed = True
                # One HEAD of what was stored (RGW answers CompleteMultipartUpload with an empty
                # ETag): its size shows that the parts were put together whole, and its version and
                # retention are what the Object Lock fix-up below needs.
                head = client.head_object(Bucket=self._bucket, Key=full)
                mode = head.get("ObjectLockMode")
                if _lock_short(mode, _utc(head.get("ObjectLockRetainUntilDate")), lock):
                    # RGW 16 ignores the retention given to CreateMultipartUpload: set it now.
                    self._lock(item.key, head.get("VersionId"), mode, lock)
            finally:
                flow.release()
            if int(head["ContentLength"]) != item.size:
                raise StorageError(
                    f"location '{self._name}': {self._where(item.key)} was stored with "
                    f"{head['ContentLength']} bytes, not the {item.size} sent"
                )
        except BaseException as exc:
            if not completed:
                for future in parts:
                    future.cancel()
                wait(parts)
                self._abort(client, item.key, upload_id)
            if isinstance(exc, BotoCoreError | ClientError):
                raise self._fail(exc, "writing", item.key) from exc
            if isinstance(exc, OSError):
                raise self._local_error(item, exc) from exc
            raise
        flow.events.put(_Event(result=WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN)))

    def _put_part(
        self,
        client: Any,
        key: str,
        full: str,
        upload_id: str,
        number: int,
        chunk: bytes,
        flow: _Flow[WriteResult],
    ) -> str:
        try:
            response = client.upload_part(
                Bucket=self._bucket,
                Key=full,
                UploadId=upload_id,
                PartNumber=number,
                Body=chunk,
                ContentMD5=_md5_base64(chunk),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"writing part {number} of", key) from exc
        flow.events.put(_Event(moved=len(chunk)))
        etag: str = response["ETag"]
        return etag

    def _abort(self, client: Any, key: str, upload_id: str) -> None:
        try:
            client.abort_multipart_upload(Bucket=self._bucket, Key=self._full(key), UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            if _error_code(exc)[0] == "NoSuchUpload":
                return
            # Best effort: the parts stay invisible under the key, and a bucket lifecycle rule
            # (AbortIncompleteMultipartUpload) or a later abort removes them.
            _log.warning(
                "location '%s': could not abort the unfinished upload %s of %s: %s",
                self._name,
                upload_id,
                self._where(key),
                _detail(exc),
            )

    # --- read ----------------------------------------------------------------------------------

    def read(
        self, items: Sequence[ReadItem], progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadResult]:
        """Read objects whole, several at once, each as one streaming GET, hashing the bytes.

        A missing object gives ``problem="missing"``, another failure of one object a one-line
        reason; a destination file appears only once its object was read whole.

        Args:
            items: what to read, and where to put each object's bytes (if anywhere).
            progress: called in the caller's thread with the number of bytes received.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            StorageError: the location as a whole failed (unreachable, credentials refused, bucket
                missing), or a destination file cannot be written.
        """
        batch = list(items)
        if not batch:
            return
        for item in batch:
            require_key(self._name, item.key)
        self._ready("reading", batch[0].key)
        flow: _Flow[ReadResult] = _Flow(self._concurrency)

        def moved(nbytes: int) -> None:
            flow.events.put(_Event(moved=nbytes))

        def read_one(item: ReadItem) -> None:
            found = self._fetch(
                item.key, item.dest, flow.stop, _SHA256, moved, len(batch) < self._concurrency
            )
            flow.events.put(
                _Event(
                    result=ReadResult(
                        key=found.key, size=found.size, sha256=found.digest, problem=found.problem
                    )
                )
            )

        yield from self._get_all(batch, read_one, flow, progress)

    def hash_objects(
        self,
        keys: Sequence[str],
        algorithm: DigestAlgorithm,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Hashed]:
        """Hash objects whole, ``concurrency`` streaming GETs at a time, keeping no bytes.

        Args:
            keys: the objects to hash.
            algorithm: the digest to compute.
            progress: called with the number of bytes of each chunk received, in the GET worker
                thread that received it, one call at a time; while it blocks, that GET reads no
                further (how a read budget slows an audit down).

        Returns:
            One result per key, in any order, as each completes: a missing object is ``"missing"``,
            a body shorter than announced names both sizes, another failure of one object gives a
            one-line reason.

        Raises:
            StorageError: a key is invalid (before anything is sent), or the location as a whole
                failed (unreachable, credentials refused, bucket missing).
            ConfigError: the algorithm has no implementation.
        """
        batch = list(keys)
        if not batch:
            return
        for key in batch:
            require_key(self._name, key)
        new_hasher(algorithm)  # an unknown algorithm fails before anything is sent
        self._ready("reading", batch[0])
        flow: _Flow[Hashed] = _Flow(self._concurrency)
        report = SerialisedProgress(progress) if progress is not None else None

        def hash_one(key: str) -> None:
            found = self._fetch(key, None, flow.stop, algorithm, report, len(batch) < self._concurrency)
            flow.events.put(_Event(result=found))

        yield from self._get_all(batch, hash_one, flow, None)

    def _get_all(
        self,
        batch: Sequence[_I],
        get_one: Callable[[_I], None],
        flow: _Flow[_T],
        progress: Callable[[int], None] | None,
    ) -> Iterator[_T]:
        """Run ``get_one`` on every item in a pool of ``concurrency`` threads, yielding the results it
        reports through ``flow`` (and calling ``progress`` with the bytes it reports moved)."""
        pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"s3-{self._name}-get")
        feeder = threading.Thread(
            target=self._feed_gets,
            args=(batch, get_one, flow, pool),
            name=f"s3-{self._name}-gets",
            daemon=True,
        )
        feeder.start()
        try:
            yield from flow.drain(len(batch), progress)
        finally:
            flow.stop.set()
            feeder.join()
            pool.shutdown(wait=True, cancel_futures=True)

    def _feed_gets(
        self,
        batch: Sequence[_I],
        get_one: Callable[[_I], None],
        flow: _Flow[_T],
        pool: ThreadPoolExecutor,
    ) -> None:
        """Hand the GETs to the pool a few at a time, so that 100,000 of them cost a few futures."""

        def run(item: _I) -> None:
            if flow.stop.is_set():
                return
            try:
                get_one(item)  # reports its result through ``flow``
            except BaseException as exc:
                flow.fail(exc)

        try:
            window = self._concurrency * 2
            for _ in bounded(pool, run, batch, window, flow.stop.is_set):
                pass
        except BaseException as exc:
            flow.fail(exc)

    def _fetch(
        self,
        key: str,
        dest: str | None,
        stop: threading.Event,
        algorithm: DigestAlgorithm,
        moved: Callable[[int], None] | None,
        few: bool,
    ) -> Hashed:
        """GET one object, hashing its bytes as they arrive and writing them to ``dest`` if given.

        ``moved`` is called in this thread with the size of each chunk received. ``few``: fewer
        objects than the concurrency are being read, so a large one gets a second thread (see
        :class:`_Sink`); with every slot busy, the streams already overlap one another's hashing and
        a second thread per stream would only add hand-overs (measured on a local RGW, 16 objects of
        64 MiB in 4 batches over 2 processes: 8% slower).
        """
        try:
            response = self.client().get_object(Bucket=self._bucket, Key=self._full(key))
        except (BotoCoreError, ClientError) as exc:
            kind = _classify(exc)
            if kind is _Kind.MISSING:
                return Hashed(key, 0, None, "missing")
            if kind in _LOCATION_WIDE:
                raise self._fail(exc, "reading", key) from exc
            return Hashed(key, 0, None, _detail(exc))
        body = response["Body"]
        expected = int(response["ContentLength"])
        size = 0
        out: Any = None
        partial: Path | None = None
        done = False
        sink = _Sink(pipelined=few and expected > 2 * READ_CHUNK, algorithm=algorithm)
        try:
            if dest is not None:
                target = Path(dest)
                partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    out = open(partial, "wb")  # noqa: SIM115 - closed below, renamed only when whole
                except OSError as exc:
                    raise self._dest_error(key, dest, exc) from exc
            sink.start(out)
            while True:
                if stop.is_set():
                    raise _Stopped
                try:
                    chunk = body.read(READ_CHUNK)
                except (BotoCoreError, OSError) as exc:
                    return Hashed(
                        key, size, None, f"read failed after {size} of {expected} bytes: {_detail(exc)}"
                    )
                if not chunk:
                    break
                size += len(chunk)
                try:
                    sink.put(chunk)
                except OSError as exc:
                    raise self._dest_error(key, dest, exc) from exc
                if moved is not None:
                    moved(len(chunk))
            try:
                digest = sink.finish()
            except OSError as exc:
                raise self._dest_error(key, dest, exc) from exc
            if size != expected:
                return Hashed(key, size, None, f"only {size} of {expected} bytes arrived")
            if out is not None and partial is not None and dest is not None:
                try:
                    out.close()
                    os.replace(partial, dest)
                except OSError as exc:
                    raise self._dest_error(key, dest, exc) from exc
            done = True
            return Hashed(key, size, digest, None)
        finally:
            sink.abandon()
            body.close()
            if out is not None:
                out.close()
            if partial is not None and not done:
                partial.unlink(missing_ok=True)

    def _dest_error(self, key: str, dest: str | None, exc: OSError) -> StorageError:
        return StorageError(
            f"location '{self._name}': cannot write {dest} (reading {self._where(key)}): "
            f"{exc.strerror or _one_line(exc)}"
        )

    # --- small reads and listings --------------------------------------------------------------

    def get_bytes(self, key: str, limit: int = 256 << 20) -> bytes:
        """Read a small object whole.

        Raises:
            NotFound: if there is no such object.
            StorageError: if it is larger than ``limit`` or the location failed.
        """
        full = self._full(key)
        client = self._ready("reading", key)
        try:
            response = client.get_object(Bucket=self._bucket, Key=full)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "reading", key) from exc
        body = response["Body"]
        try:
            size = int(response["ContentLength"])
            if size > limit:
                raise StorageError(
                    f"location '{self._name}': {self._where(key)} has {size} bytes, more than the "
                    f"{limit} allowed here"
                )
            data: bytes = body.read()
        except (BotoCoreError, OSError) as exc:
            raise self._fail(exc, "reading", key) from exc
        finally:
            body.close()
        return data

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, sha256 metadata and retention, or None if there is no such object.

        Raises:
            StorageError: if the location failed.
        """
        full = self._full(key)
        self._ready("looking at", key)
        head = self._head_full(full)
        if head is None:
            return None
        mode = head.get("ObjectLockMode")
        sha256 = (head.get("Metadata") or {}).get("sha256")
        return ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            modified=_utc(head.get("LastModified")),
            sha256=sha256.lower() if sha256 else None,
            retain_until=_utc(head.get("ObjectLockRetainUntilDate")),
            retention_mode=RetentionMode(mode) if mode else None,
        )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order (no sha256: not looked at).

        Raises:
            StorageError: if the prefix is invalid or the location failed.
        """
        require_prefix(self._name, prefix, whole_segments=False)
        return self._list(prefix)

    def list_keys(self, prefix: str) -> Iterator[str]:
        """The keys of :meth:`list` (the same listing requests: S3 gives sizes with keys).

        Raises:
            StorageError: if the prefix is invalid or the location failed.
        """
        return (info.key for info in self.list(prefix))

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        client = self._ready("listing", prefix)
        start = len(self._prefix)
        arguments = {"Bucket": self._bucket, "Prefix": self._prefix + prefix}
        try:
            for entry in self._objects(client, arguments):
                yield ObjectInfo(
                    key=entry["Key"][start:],
                    size=int(entry["Size"]),
                    modified=_utc(entry.get("LastModified")),
                )
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "listing", prefix) from exc

    def children(self, prefix: str) -> Iterator[str]:
        """The distinct next path segments below ``prefix`` ("" or ending with '/'), sorted.

        Raises:
            StorageError: if the prefix is invalid (one that does not end with '/' included) or the
                location failed.
        """
        require_prefix(self._name, prefix, whole_segments=True)
        return self._children(prefix)

    def _children(self, prefix: str) -> Iterator[str]:
        client = self._ready("listing", prefix)
        base = self._prefix + prefix
        names: set[str] = set()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket, Prefix=base, Delimiter="/"
            )
            for page in pages:
                names.update(
                    entry["Prefix"][len(base) :].rstrip("/") for entry in page.get("CommonPrefixes") or ()
                )
                names.update(entry["Key"][len(base) :] for entry in page.get("Contents") or ())
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "listing", prefix) from exc
        names.discard("")
        yield from sorted(names)

    # --- deletion (the approved deaccession workflow only) ---------------------------------------

    def plan_deletion(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionPlan:
        """Every version and delete marker under ``prefix`` but those of ``keep``, each version's
        retention and legal hold (one HEAD per version, on a bucket with Object Lock), and the
        unfinished uploads; nothing is deleted.

        Raises:
            StorageError: the prefix or a key to keep is invalid, or the location failed.
        """
        require_deletion_prefix(self._name, prefix)
        for key in keep:
            require_key(self._name, key)
        client = self._ready("planning the deletion of", prefix)
        versions = [v for v in self._versions_under(client, prefix) if v.key not in keep]
        if self._has_object_lock(client):
            versions = self._protection(versions)
        uploads = self._uploads_under(client, prefix)
        return DeletionPlan(
            location=self._name,
            prefix=prefix,
            now=now,
            bypass_governance=bypass_governance,
            versions=tuple(versions),
            uploads=len(uploads),
        )

    def delete_prefix(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionReport:
        """Delete every version and delete marker under ``prefix`` but those of ``keep`` and abort its
        unfinished uploads, if no version is blocked (otherwise nothing is deleted and the report
        names what blocks).

        Raises:
            StorageError: the prefix is invalid, the location failed, it refused a deletion, or
                something is left under the prefix afterwards (naming what was deleted and what is left).
        """
        plan = self.plan_deletion(prefix, now, bypass_governance, keep)
        if not plan.clear:
            return DeletionReport(location=self._name, prefix=prefix, blocked=tuple(plan.blocked))
        client = self.client()
        by_id = {(self._full(v.key), v.version_id): v for v in plan.versions}
        deleted: builtins.list[StoredVersion] = []
        refused: builtins.list[str] = []
        ordered = list(plan.versions)
        for start in range(0, len(ordered), 1000):
            batch = ordered[start : start + 1000]
            arguments: dict[str, Any] = {
                "Bucket": self._bucket,
                "Delete": {
                    "Objects": [
                        {"Key": self._full(v.key), "VersionId": v.version_id or "null"} for v in batch
                    ],
                    "Quiet": False,
                },
            }
            if bypass_governance:
                arguments["BypassGovernanceRetention"] = True
            try:
                response = client.delete_objects(**arguments)
            except (BotoCoreError, ClientError) as exc:
                raise self._partial(self._fail(exc, "deleting", batch[0].key), prefix, deleted, plan) from exc
            for done in response.get("Deleted") or ():
                found = by_id.get((done.get("Key"), done.get("VersionId")))
                if found is not None:
                    deleted.append(found)
            for error in response.get("Errors") or ():
                key = str(error.get("Key", ""))[len(self._prefix) :]
                why = f"{error.get('Code')} {error.get('Message') or ''}".strip()
                refused.append(f"{key} version {error.get('VersionId')}: {why}")
        if refused:
            raise self._partial(
                StorageError(
                    f"location '{self._name}': {len(refused)} versions under {prefix} were refused deletion "
                    f"(first {refused[0]})"
                ),
                prefix,
                deleted,
                plan,
            )
        aborted = 0
        for key, upload_id in self._uploads_under(client, prefix):
            try:
                client.abort_multipart_upload(Bucket=self._bucket, Key=self._full(key), UploadId=upload_id)
            except (BotoCoreError, ClientError) as exc:
                if _error_code(exc)[0] != "NoSuchUpload":
                    raise self._partial(
                        self._fail(exc, "aborting the upload of", key), prefix, deleted, plan
                    ) from exc
            aborted += 1
        left = [v for v in self._versions_under(client, prefix) if v.key not in keep]
        if left:
            raise self._partial(
                StorageError(
                    f"location '{self._name}': {len(left)} versions are still under {prefix} after the "
                    f"deletion (first {left[0].describe()})"
                ),
                prefix,
                deleted,
                plan,
            )
        return DeletionReport(
            location=self._name, prefix=prefix, deleted=tuple(deleted), uploads_aborted=aborted
        )

    def _partial(
        self, exc: StorageError | NotFound, prefix: str, deleted: Sequence[StoredVersion], plan: DeletionPlan
    ) -> StorageError:
        """``exc`` saying how far the deletion under ``prefix`` went."""
        return StorageError(
            f"{exc}; {len(deleted)} of {len(plan.versions)} versions under {prefix} were deleted, "
            "the others are left"
        )

    def _has_object_lock(self, client: Any) -> bool:
        if self._object_lock is None:
            try:
                self._object_lock = self._ask_object_lock(client)
            except (BotoCoreError, ClientError) as exc:
                raise self._fail(exc, "looking at the Object Lock configuration of") from exc
        return self._object_lock

    def _versions_under(self, client: Any, prefix: str) -> builtins.list[StoredVersion]:
        """Every version and delete marker under ``prefix`` (S3 lists them in key order)."""
        start = len(self._prefix)
        found: builtins.list[StoredVersion] = []
        try:
            pages = client.get_paginator("list_object_versions").paginate(
                Bucket=self._bucket, Prefix=self._prefix + prefix
            )
            for page in pages:
                found += [
                    StoredVersion(
                        key=v["Key"][start:], version_id=v.get("VersionId"), size=int(v.get("Size", 0))
                    )
                    for v in page.get("Versions") or ()
                ]
                found += [
                    StoredVersion(key=m["Key"][start:], version_id=m.get("VersionId"), delete_marker=True)
                    for m in page.get("DeleteMarkers") or ()
                ]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "listing the versions under", prefix) from exc
        return sorted(found, key=lambda v: (v.key, v.delete_marker))

    def _uploads_under(self, client: Any, prefix: str) -> builtins.list[tuple[str, str]]:
        """(key, upload id) of every unfinished multipart upload under ``prefix``."""
        start = len(self._prefix)
        try:
            pages = client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self._bucket, Prefix=self._prefix + prefix
            )
            return [(u["Key"][start:], u["UploadId"]) for page in pages for u in page.get("Uploads") or ()]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, "listing the unfinished uploads under", prefix) from exc

    def _protection(self, versions: Sequence[StoredVersion]) -> builtins.list[StoredVersion]:
        """``versions`` with each one's retention and legal hold (a HEAD of each version; delete
        markers have none). A version gone meanwhile is left out."""

        def look(version: StoredVersion) -> StoredVersion | None:
            if version.delete_marker:
                return version
            arguments: dict[str, Any] = {"Bucket": self._bucket, "Key": self._full(version.key)}
            if version.version_id:
                arguments["VersionId"] = version.version_id
            try:
                head = self.client().head_object(**arguments)
            except (BotoCoreError, ClientError) as exc:
                if _classify(exc) is _Kind.MISSING:
                    return None
                raise self._fail(exc, "looking at the retention of", version.key) from exc
            mode = head.get("ObjectLockMode")
            return version.model_copy(
                update={
                    "retention_mode": RetentionMode(mode) if mode else None,
                    "retain_until": _utc(head.get("ObjectLockRetainUntilDate")),
                    "legal_hold": head.get("ObjectLockLegalHoldStatus") == "ON",
                }
            )

        if not versions:
            return []
        with ThreadPoolExecutor(min(self._concurrency, len(versions))) as pool:
            return [v for v in pool.map(look, versions) if v is not None]
