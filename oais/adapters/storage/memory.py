"""The in-memory storage location: the fake for unit tests, with the real locations' semantics.

It passes the same contract tests as the local and S3 locations: write-once keys, PRESENT for the same
bytes, ConflictError for others unless ``replace``, FixityMismatch (and nothing kept) when the bytes do
not have the item's sha256, "missing" in read results, keys in key order. Like an S3 bucket, it keeps
the sha256 an object was written with as metadata, and, if made with ``object_lock``, records the
retention asked for. Made so, it also keeps versions as a versioned bucket does: a replaced object's
old version stays (with its retention), and a deaccession (:meth:`InMemoryObjectStore.delete_prefix`)
must delete every version, refusing versions under a legal hold or retained (COMPLIANCE, or GOVERNANCE
without the bypass). :meth:`InMemoryObjectStore.tamper`, :meth:`InMemoryObjectStore.remove`,
:meth:`InMemoryObjectStore.plain_delete` and :meth:`InMemoryObjectStore.hold` act behind the port's
back, to test how services notice damage and what protects objects.
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from oais.adapters.hashing import digest_bytes, new_hasher
from oais.adapters.storage._common import (
    require_deletion_prefix,
    require_key,
    require_prefix,
    require_unique_keys,
)
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.storage import (
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


@dataclass(frozen=True)
class _Object:
    data: bytes
    sha256: str  # as written: tampering changes the data, not this
    modified: datetime
    retain_until: datetime | None = None
    retention_mode: RetentionMode | None = None
    version_id: str | None = None  # on a store that keeps versions
    legal_hold: bool = False
    delete_marker: bool = False

    def stored(self, key: str) -> StoredVersion:
        return StoredVersion(
            key=key,
            version_id=self.version_id,
            size=len(self.data),
            delete_marker=self.delete_marker,
            retention_mode=self.retention_mode,
            retain_until=self.retain_until,
            legal_hold=self.legal_hold,
        )

    def info(self, key: str) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=len(self.data),
            modified=self.modified,
            sha256=self.sha256,
            retain_until=self.retain_until,
            retention_mode=self.retention_mode,
        )


class InMemoryObjectStore:
    """Implements the ``ObjectStore`` port in memory (thread-safe)."""

    def __init__(self, name: str, object_lock: bool = False) -> None:
        """Args:
        name: the location's name.
        object_lock: imitate a bucket with S3 Object Lock: retention asked for is recorded.
        """
        self._name = name
        self._object_lock = object_lock
        self._objects: dict[str, _Object] = {}
        #: Older versions and delete markers, oldest first (only on a store that keeps versions).
        self._history: dict[str, builtins.list[_Object]] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The location's name."""
        return self._name

    def locate(self, key: str) -> str:
        """A ``memory://`` URI naming the object, for messages.

        Raises:
            StorageError: if the key is invalid.
        """
        require_key(self._name, key)
        return f"memory://{self._name}/{key}"

    def _where(self, key: str) -> str:
        return f"location '{self._name}': {key}"

    # --- the port ---------------------------------------------------------------------------------

    def describe(self) -> LocationInfo:
        """What this fake imitates: an S3 bucket with Object Lock if made so, else a local directory."""
        return LocationInfo(
            name=self._name,
            kind=LocationKind.S3 if self._object_lock else LocationKind.LOCAL,
            uri=f"memory://{self._name}",
            object_lock=self._object_lock,
            versioned=self._object_lock,  # S3 Object Lock turns versioning on
        )

    def write(
        self,
        items: Sequence[WriteItem],
        retention: Retention | None = None,
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[WriteResult]:
        """Write objects once each, one after the other (see the port for the rules).

        Args:
            items: what to write (each key at most once).
            retention: recorded on every written object if the store imitates Object Lock.
            now: when the objects are written (default: the current time).
            progress: called with the bytes of each item written (a present object counts nothing).

        Returns:
            One result per item, as each completes.

        Raises:
            ConflictError: a key holds other content and the item may not replace it.
            FixityMismatch: an item's bytes do not have its sha256 (that object is not kept).
            StorageError: a key is invalid or given twice, or a source file cannot be read.
        """
        for item in items:
            require_key(self._name, item.key)
        require_unique_keys(self._name, items)
        for item in items:
            yield self._write_one(item, retention, now or datetime.now(UTC), progress)

    def _write_one(
        self,
        item: WriteItem,
        retention: Retention | None,
        now: datetime,
        progress: Callable[[int], None] | None,
    ) -> WriteResult:
        with self._lock:
            existing = self._objects.get(item.key)
        if existing is not None:
            # The bytes decide, not the recorded sha256: tampered bytes are other content.
            if len(existing.data) == item.size and _sha256(existing.data) == item.sha256:
                return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
            if not item.replace:
                raise ConflictError(f"{self._where(item.key)}: the location holds other content")
        data = self._source_bytes(item, progress)
        actual = _sha256(data)
        if actual != item.sha256:
            raise FixityMismatch(self._where(item.key), DigestAlgorithm.SHA256, item.sha256, actual)
        if len(data) != item.size:
            raise StorageError(
                f"{self._where(item.key)}: the source has {len(data)} bytes, the item says {item.size}"
            )
        lock = retention if self._object_lock else None
        stored = _Object(
            data=data,
            sha256=actual,
            modified=now,
            retain_until=lock.until(now) if lock is not None else None,
            retention_mode=lock.mode if lock is not None else None,
            version_id=uuid.uuid4().hex if self._object_lock else None,
        )
        with self._lock:
            current = self._objects.get(item.key)
            if current is not None and current is not existing:
                # Another writer got there first: same bytes, or a conflict.
                if current.data == data:
                    return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
                if not item.replace:
                    raise ConflictError(f"{self._where(item.key)}: the location holds other content")
            if current is not None and self._object_lock:
                self._history.setdefault(item.key, []).append(current)  # a new version, the old one kept
            self._objects[item.key] = stored
        # Like S3: the bytes were hashed on their way in, so a read-back is what proves the copy.
        return WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN)

    def _source_bytes(self, item: WriteItem, progress: Callable[[int], None] | None) -> bytes:
        if item.data is not None:
            if progress is not None and item.data:
                progress(len(item.data))
            return item.data
        assert item.path is not None
        try:
            data = Path(item.path).read_bytes()
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot read {item.path}: {exc.strerror}") from exc
        if progress is not None and data:
            progress(len(data))
        return data

    def read(
        self, items: Sequence[ReadItem], progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadResult]:
        """Read objects whole, hashing them and writing them to ``dest`` if given.

        Returns:
            One result per item, in the order given.

        Raises:
            StorageError: a key is invalid or a destination file cannot be written.
        """
        for item in items:
            require_key(self._name, item.key)
        for item in items:
            with self._lock:
                stored = self._objects.get(item.key)
            if stored is None:
                yield ReadResult(key=item.key, problem="missing")
                continue
            if item.dest is not None:
                try:
                    Path(item.dest).parent.mkdir(parents=True, exist_ok=True)
                    Path(item.dest).write_bytes(stored.data)
                except OSError as exc:
                    raise StorageError(
                        f"{self._where(item.key)}: cannot write {item.dest}: {exc.strerror}"
                    ) from exc
            if progress is not None and stored.data:
                progress(len(stored.data))
            yield ReadResult(key=item.key, size=len(stored.data), sha256=_sha256(stored.data))

    def hash_objects(
        self,
        keys: Sequence[str],
        algorithm: DigestAlgorithm,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Hashed]:
        """Hash objects whole, one after another, in the calling thread.

        Args:
            keys: the objects to hash.
            algorithm: the digest to compute.
            progress: called in the calling thread with the size of each object hashed (if not empty).

        Returns:
            One result per key, in the order of ``keys``.

        Raises:
            StorageError: a key is invalid (before anything is hashed).
            ConfigError: the algorithm has no implementation.
        """
        for key in keys:
            require_key(self._name, key)
        new_hasher(algorithm)
        for key in keys:
            with self._lock:
                stored = self._objects.get(key)
            if stored is None:
                yield Hashed(key, 0, None, "missing")
                continue
            digest = new_hasher(algorithm)
            digest.update(stored.data)
            if progress is not None and stored.data:
                progress(len(stored.data))
            yield Hashed(key, len(stored.data), digest.hexdigest(), None)

    def get_bytes(self, key: str, limit: int = 256 << 20) -> bytes:
        """A small object's bytes.

        Raises:
            NotFound: if there is no such object.
            StorageError: if it is larger than ``limit``.
        """
        require_key(self._name, key)
        with self._lock:
            stored = self._objects.get(key)
        if stored is None:
            raise NotFound(f"{self._where(key)}: no such object")
        if len(stored.data) > limit:
            raise StorageError(f"{self._where(key)}: larger than {limit} bytes, too large to read whole")
        return stored.data

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size, time, recorded sha256 and retention, or None."""
        require_key(self._name, key)
        with self._lock:
            stored = self._objects.get(key)
        return None if stored is None else stored.info(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""
        require_prefix(self._name, prefix, whole_segments=False)
        with self._lock:
            found = [(k, o) for k, o in self._objects.items() if k.startswith(prefix)]
        return iter([o.info(k) for k, o in sorted(found, key=lambda ko: ko[0])])

    def list_keys(self, prefix: str) -> Iterator[str]:
        """The keys of :meth:`list`."""
        require_prefix(self._name, prefix, whole_segments=False)
        with self._lock:
            return iter(sorted(k for k in self._objects if k.startswith(prefix)))

    def children(self, prefix: str) -> Iterator[str]:
        """The distinct next segments of the keys below ``prefix`` ("" or ending with '/'), sorted.

        Raises:
            StorageError: if the prefix is invalid (one that does not end with '/' included).
        """
        require_prefix(self._name, prefix, whole_segments=True)
        with self._lock:
            keys = [k for k in self._objects if k.startswith(prefix)]
        return iter(sorted({k[len(prefix) :].split("/", 1)[0] for k in keys}))

    # --- behind the port's back (tests only) ------------------------------------------------------

    def tamper(self, key: str, data: bytes) -> None:
        """Change an object's bytes as decay would: its recorded sha256 and time stay as they were.

        Raises:
            NotFound: if there is no such object.
        """
        with self._lock:
            stored = self._objects.get(key)
            if stored is None:
                raise NotFound(f"{self._where(key)}: no such object")
            self._objects[key] = replace(stored, data=data)

    def remove(self, key: str) -> None:
        """Remove an object as a loss would.

        Raises:
            NotFound: if there is no such object.
        """
        with self._lock:
            if self._objects.pop(key, None) is None:
                raise NotFound(f"{self._where(key)}: no such object")

    def keys(self) -> builtins.list[str]:
        """Every key held, in key order."""
        with self._lock:
            return sorted(self._objects)

    def plain_delete(self, key: str) -> None:
        """What a plain S3 DELETE does: on a store that keeps versions, the object's version stays and
        a delete marker hides it (nothing is deleted); otherwise the object goes.

        Raises:
            NotFound: if there is no such object.
        """
        with self._lock:
            current = self._objects.pop(key, None)
            if current is None:
                raise NotFound(f"{self._where(key)}: no such object")
            if self._object_lock:
                marker = _Object(
                    data=b"",
                    sha256="",
                    modified=current.modified,
                    version_id=uuid.uuid4().hex,
                    delete_marker=True,
                )
                self._history.setdefault(key, []).extend([current, marker])

    def hold(self, key: str, on: bool = True) -> None:
        """Put the object's current version under a legal hold (or lift it), as S3 Object Lock does.

        Raises:
            NotFound: if there is no such object.
            StorageError: the store does not imitate Object Lock.
        """
        if not self._object_lock:
            raise StorageError(f"{self._where(key)}: legal holds need Object Lock")
        with self._lock:
            stored = self._objects.get(key)
            if stored is None:
                raise NotFound(f"{self._where(key)}: no such object")
            self._objects[key] = replace(stored, legal_hold=on)

    def versions(self) -> builtins.list[StoredVersion]:
        """Every version held (current ones and older ones), in key order."""
        with self._lock:
            return sorted(self._all_versions(""), key=lambda v: v.key)

    # --- deletion (the approved deaccession workflow only) ------------------------------------------

    def _all_versions(self, prefix: str, keep: Collection[str] = ()) -> builtins.list[StoredVersion]:
        out = []
        for key, older in self._history.items():
            if key.startswith(prefix) and key not in keep:
                out += [o.stored(key) for o in older]
        out += [o.stored(k) for k, o in self._objects.items() if k.startswith(prefix) and k not in keep]
        return out

    def plan_deletion(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionPlan:
        """Every version under ``prefix`` but those of ``keep`` (older ones and delete markers too)
        with its retention and legal hold; nothing is deleted.

        Raises:
            StorageError: if the prefix is empty or does not end with '/', or a key to keep is invalid.
        """
        require_deletion_prefix(self._name, prefix)
        for key in keep:
            require_key(self._name, key)
        with self._lock:
            versions = sorted(self._all_versions(prefix, keep), key=lambda v: (v.key, v.delete_marker))
        return DeletionPlan(
            location=self._name,
            prefix=prefix,
            now=now,
            bypass_governance=bypass_governance,
            versions=tuple(versions),
        )

    def delete_prefix(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionReport:
        """Delete every version under ``prefix`` but those of ``keep`` if none is blocked; otherwise
        delete nothing.

        Raises:
            StorageError: if the prefix is empty or does not end with '/', or a key to keep is invalid.
        """
        require_deletion_prefix(self._name, prefix)
        for key in keep:
            require_key(self._name, key)
        with self._lock:
            versions = self._all_versions(prefix, keep)
            blocked = [v for v in versions if v.blocked(now, bypass_governance)]
            if blocked:
                return DeletionReport(location=self._name, prefix=prefix, blocked=tuple(blocked))
            for key in [k for k in self._objects if k.startswith(prefix) and k not in keep]:
                del self._objects[key]
            for key in [k for k in self._history if k.startswith(prefix) and k not in keep]:
                del self._history[key]
        return DeletionReport(
            location=self._name, prefix=prefix, deleted=tuple(sorted(versions, key=lambda v: v.key))
        )


def _sha256(data: bytes) -> str:
    return digest_bytes(data, (DigestAlgorithm.SHA256,))[DigestAlgorithm.SHA256]
