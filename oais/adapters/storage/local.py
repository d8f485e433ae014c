"""A storage location on a local file system: one directory, one file per object.

Key ``a/b/c`` is the file ``<root>/a/b/c``. Writing an object takes three steps:

1. its bytes are read once and their sha256 computed: a source file on the location's file system is
   hashed where it is; any other source is copied into a private temporary file under
   ``<root>/.incoming/``, hashed as it is copied;
2. only if that sha256 is the one of record does the object get its key: the source file itself is
   hard-linked there (nothing is copied, and the bytes hashed are the object's own), or the temporary
   file is. ``link`` fails if the key exists, so two writers can never overwrite each other; a
   replacement, allowed only for objects of an incomplete version, is an atomic ``rename`` over the
   old file (of a temporary hard link of the source, or of the copy);
3. after the whole batch, one ``syncfs`` flushes the file system (every file written and every
   directory entry added); only then are the results given out. One flush per batch rather than one
   ``fsync`` per file and directory is what makes a 100,000-file AIP affordable.

Published files are read-only (mode 0444). A file system has no Object Lock: retention is ignored and
:meth:`LocalObjectStore.describe` says so; a deaccession (:meth:`LocalObjectStore.delete_prefix`)
removes the files under the AIP's directory, then the emptied directories, and flushes the file
system. Nor does it keep object metadata: ``head`` and ``list`` give no
sha256, and whether an object already holds the right content is decided by reading it.

Because a hard-linked object shares its inode with the source file, a source must be a file nobody
will modify afterwards (a staged bag, removed after publishing); its mode becomes 0444 as well.
"""

from __future__ import annotations

import builtins
import errno
import os
import stat
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from oais.adapters.hashing import buffer_size, digest_bytes, hash_file, new_hasher
from oais.adapters.local_store import make_durable, write_all
from oais.adapters.storage._common import (
    SerialisedProgress,
    bounded,
    require_deletion_prefix,
    require_key,
    require_prefix,
    require_unique_keys,
)
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.storage import (
    INCOMING,
    DeletionPlan,
    DeletionReport,
    Hashed,
    LocationInfo,
    LocationKind,
    ObjectInfo,
    ReadItem,
    ReadResult,
    Retention,
    StoredVersion,
    WriteItem,
    WriteOutcome,
    WriteResult,
)

#: A temporary file whose inode has not changed for this long belongs to a writer that died.
STALE_AFTER = 24 * 3600.0
#: Tasks queued per worker: enough to keep every worker busy, few enough to cost nothing.
_QUEUED_PER_WORKER = 4

_SHA256 = DigestAlgorithm.SHA256
#: What opening an object to read it may not do: follow a symlink (listing skips them: a link to
#: /dev/zero would be read forever), wait for a writer to open a FIFO (a regular file ignores
#: O_NONBLOCK), or leak the descriptor into a child process.
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW
#: What opening a special file with these flags may fail with: ELOOP for a symlink (O_NOFOLLOW), ENXIO
#: for a socket.
_SPECIAL_ERRNOS = frozenset({errno.ELOOP, errno.ENXIO})
_NOT_REGULAR = "not a regular file"


def _open_object(path: str) -> tuple[int, int] | str:
    """Open an object's file for reading: (descriptor, size), or why it cannot be read.

    Only a regular file is an object: a missing file or a directory is ``"missing"``, a symlink,
    FIFO, device or socket is ``"not a regular file"`` (and nothing is read from it).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return "missing"
    except OSError as exc:
        return _NOT_REGULAR if exc.errno in _SPECIAL_ERRNOS else f"cannot open: {exc.strerror}"
    try:
        st = os.fstat(fd)
    except OSError as exc:  # pragma: no cover - fstat of an open descriptor does not fail
        os.close(fd)
        return f"cannot open: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return "missing" if stat.S_ISDIR(st.st_mode) else _NOT_REGULAR
    return fd, st.st_size


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


class LocalObjectStore:
    """Implements the ``ObjectStore`` port on a local directory."""

    def __init__(self, name: str, root: Path, concurrency: int = 4) -> None:
        """Args:
        name: the location's name (from the configuration).
        root: the directory holding the objects (created on first write or describe).
        concurrency: how many files are hashed, copied or read at once.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._name = name
        self._root = Path(os.path.abspath(root))
        self._incoming = self._root / INCOMING
        self._concurrency = concurrency
        self._device: int | None = None  # the root's file system, once known

    @property
    def name(self) -> str:
        """The location's name."""
        return self._name

    @property
    def root(self) -> Path:
        """The directory holding the objects."""
        return self._root

    def locate(self, key: str) -> str:
        """The object's file path, for people (nothing is looked at).

        Raises:
            StorageError: if the key is invalid.
        """
        return str(self._path(key))

    # --- helpers ----------------------------------------------------------------------------------

    def _where(self, key: str) -> str:
        return f"location '{self._name}': {key}"

    def _path(self, key: str) -> Path:
        require_key(self._name, key)
        return self._root / key

    def _prepare(self) -> None:
        """Create the root and its temporary directory; remove temporary files of dead writers.

        Also notes the root's file system, to tell which sources can be hard-linked.
        """
        try:
            self._incoming.mkdir(parents=True, exist_ok=True)
            self._device = os.stat(self._root).st_dev
            cutoff = time.time() - STALE_AFTER
            with os.scandir(self._incoming) as entries:
                for entry in entries:
                    # ctime, not mtime: a hard-linked source keeps its old mtime, but linking it
                    # here changed its ctime. Another writer may publish or remove its own
                    # temporary file meanwhile: one that is gone is no concern.
                    try:
                        if entry.stat(follow_symlinks=False).st_ctime < cutoff:
                            os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
        except OSError as exc:
            raise StorageError(
                f"location '{self._name}': cannot use {self._root}: {exc.strerror or exc}"
            ) from exc

    def _temporary(self) -> Path:
        return self._incoming / f"{os.getpid()}-{uuid.uuid4().hex}"

    # --- the port ---------------------------------------------------------------------------------

    def describe(self) -> LocationInfo:
        """Check that the directory can be created and written, and say what it can do.

        Returns:
            Kind ``local``; no Object Lock (retention is ignored), no versions.

        Raises:
            StorageError: one line naming the location if the directory cannot be created or written.
        """
        self._prepare()
        probe = self._temporary()
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageError(
                f"location '{self._name}': cannot write in {self._root}: {exc.strerror or exc}"
            ) from exc
        return LocationInfo(
            name=self._name,
            kind=LocationKind.LOCAL,
            uri=self._root.as_uri(),
            object_lock=False,
            versioned=False,
        )

    def write(
        self,
        items: Sequence[WriteItem],
        retention: Retention | None = None,
        now: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[WriteResult]:
        """Write objects once each, hard-linking sources on the same file system, several at once.

        Nothing happens until the results are iterated. The results come only once the whole batch is
        durable (one ``syncfs``), all together, in no particular order. If an item fails, the items
        not yet started are not written, those already published are made durable, and the first
        error is raised.

        Args:
            items: what to write (each key at most once).
            retention: ignored: a file system cannot lock objects.
            now: ignored (only retention counts from it).
            progress: called with a number of bytes each time some are hashed or copied on their way
                to a new object (an object found already present counts nothing).

        Returns:
            One result per item.

        Raises:
            ConflictError: a key holds other content and the item may not replace it.
            FixityMismatch: a source's bytes do not have the item's sha256 (that object is not kept).
            StorageError: a key is invalid or given twice, a source cannot be read, or the directory
                cannot be written (naming the location and the key).
        """
        del retention, now
        if not items:
            return
        for item in items:
            require_key(self._name, item.key)
        require_unique_keys(self._name, items)
        self._prepare()
        report = SerialisedProgress(progress)
        results: builtins.list[WriteResult] = []
        error: BaseException | None = None
        executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"store-{self._name}")
        try:
            # After the first error no new item starts; objects published by the items already
            # running must be in the results, to be made durable (later errors are not reported).
            failures: builtins.list[BaseException] = []
            for future in bounded(
                executor,
                partial(self._write_one, progress=report),
                items,
                self._concurrency * _QUEUED_PER_WORKER,
                stop=lambda: bool(failures),
            ):
                try:
                    results.append(future.result())
                except BaseException as exc:
                    failures.append(exc)
            error = failures[0] if failures else None
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        try:
            self._make_durable([r.key for r in results if r.outcome is WriteOutcome.WRITTEN])
        except StorageError:
            if error is None:
                raise
        if error is not None:
            raise error
        yield from results

    def _make_durable(self, keys: Sequence[str]) -> None:
        """Flush the file system, if anything was written.

        ``syncfs`` writes out every file and directory of the file system that has changes not yet
        on disk: the new files, and the entries naming them in every directory touched, the root's
        included. An ``fsync`` of any of those directories would add nothing.
        """
        if not keys:
            return
        try:
            make_durable(self._root)
        except StorageError as exc:
            raise StorageError(f"location '{self._name}': {exc}") from exc

    def _write_one(self, item: WriteItem, progress: SerialisedProgress) -> WriteResult:
        target = self._root / item.key
        if self._holds(item, target):
            return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
        if item.path is not None and self._linkable(item.path):
            linked = self._link(item, item.path, target, progress)
            if linked is not None:
                return linked
        temporary = self._temporary()
        try:
            sha256, size = self._stage(item, temporary, progress)
            self._check(item, sha256, size)
            return self._publish(item, temporary, target, verified=False)
        finally:
            self._discard(item, temporary)

    def _linkable(self, source: str) -> bool:
        """True if ``source`` is a regular file on the location's file system that nothing else
        links to (it can be linked).

        A file already linked elsewhere (into another location on the same file system) is copied:
        two locations sharing one inode would be one copy, lost to a single bad block.
        """
        try:
            st = os.stat(source)
        except OSError:
            return False  # copying it says what is wrong
        return st.st_dev == self._device and stat.S_ISREG(st.st_mode) and st.st_nlink == 1

    def _check(self, item: WriteItem, sha256: str, size: int) -> None:
        """Refuse bytes that are not the item's.

        Raises:
            FixityMismatch: they do not have the item's sha256.
            StorageError: they do not have the item's size.
        """
        if sha256 != item.sha256:
            raise FixityMismatch(self._where(item.key), _SHA256, item.sha256, sha256)
        if size != item.size:
            raise StorageError(
                f"{self._where(item.key)}: the source has {size} bytes, the item says {item.size}"
            )

    def _link(
        self, item: WriteItem, source: str, target: Path, progress: SerialisedProgress
    ) -> WriteResult | None:
        """The common case, in few system calls: hash the source file, then hard-link it at its key.

        The bytes hashed are the inode the key then names, so the object needs no read-back. An
        object to be replaced gets the same inode through a temporary link and a ``rename``, which
        read nothing again. Returns None if the file cannot be hard-linked after all (hard links not
        supported or not allowed): the caller then copies it.

        Raises:
            FixityMismatch: the source's bytes do not have the item's sha256 (nothing is written).
            ConflictError: another writer published other content under the key meanwhile.
            StorageError: the source cannot be read, or the key cannot be written.
        """
        try:
            sha256, size = hash_file(source)
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot read {source}: {exc.strerror}") from exc
        self._check(item, sha256, size)
        if item.replace:
            temporary = self._temporary()
            try:
                try:
                    os.link(source, temporary)
                    os.chmod(temporary, 0o444)
                except OSError:
                    return None  # no hard links here, or a file not ours (it cannot be made read-only)
                result = self._publish(item, temporary, target, verified=True)
            finally:
                self._discard(item, temporary)
        else:
            try:
                self._place(item, source, target)
            except FileExistsError as exc:
                return self._taken(item, target, exc)
            except OSError:
                return None  # the source is left as it was
            try:
                os.chmod(target, 0o444)
            except OSError as exc:
                raise StorageError(
                    f"{self._where(item.key)}: cannot make it read-only: {exc.strerror}"
                ) from exc
            result = WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=True)
        progress(size)
        return result

    def _holds(self, item: WriteItem, target: Path) -> bool:
        """True if ``target`` already holds the item's bytes; False if absent or to be replaced.

        Raises:
            ConflictError: it holds other bytes and the item may not replace them.
        """
        try:
            st = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return False  # a file in the way of a parent directory is reported when publishing
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot look it up: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"{self._where(item.key)}: a directory or special file has this name")
        actual = None
        if st.st_size == item.size:
            try:
                actual, _ = hash_file(target)
            except OSError as exc:
                raise StorageError(
                    f"{self._where(item.key)}: cannot read the object present: {exc.strerror}"
                ) from exc
            if actual == item.sha256:
                return True
        if item.replace:
            return False
        found = f"sha256 {actual}" if actual else f"{st.st_size} bytes, not {item.size}"
        raise ConflictError(f"{self._where(item.key)}: the location holds other content ({found})")

    def _stage(self, item: WriteItem, temporary: Path, progress: SerialisedProgress) -> tuple[str, int]:
        """Put the item's bytes in ``temporary`` (read-only); their sha256 and size."""
        if item.data is not None:
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
                try:
                    write_all(fd, memoryview(item.data))
                    os.fchmod(fd, 0o444)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
            progress(len(item.data))
            return digest_bytes(item.data, (_SHA256,))[_SHA256], len(item.data)
        return self._copy(item, temporary, progress)

    def _copy(self, item: WriteItem, temporary: Path, progress: SerialisedProgress) -> tuple[str, int]:
        """Copy the item's source file to ``temporary``, hashing it in the same pass."""
        assert item.path is not None
        digest = new_hasher(_SHA256)
        buffer = bytearray(buffer_size(item.size))
        view = memoryview(buffer)
        size = 0
        with ExitStack() as stack:
            try:
                source = stack.enter_context(open(item.path, "rb", buffering=0))
            except OSError as exc:
                raise StorageError(
                    f"{self._where(item.key)}: cannot read {item.path}: {exc.strerror}"
                ) from exc
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
            except OSError as exc:
                raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
            stack.callback(os.close, fd)
            while True:
                try:
                    n = source.readinto(buffer)
                except OSError as exc:
                    raise StorageError(
                        f"{self._where(item.key)}: cannot read {item.path}: {exc.strerror}"
                    ) from exc
                if not n:
                    break
                digest.update(view[:n])
                try:
                    write_all(fd, view[:n])
                except OSError as exc:
                    raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
                size += n
                progress(n)
            os.fchmod(fd, 0o444)
        return digest.hexdigest(), size

    def _place(self, item: WriteItem, source: str | Path, target: Path) -> None:
        """Give ``source``'s inode the item's key: ``rename`` over it if the item may replace it,
        else ``link`` (which fails if the key exists). Creates the parent directories if needed.

        Raises:
            FileExistsError: the key exists and the item may not replace it.
            OSError: another failure of the link or rename.
            StorageError: an object is in the way of a parent directory, or one cannot be created.
        """
        place = os.rename if item.replace else os.link
        try:
            place(source, target)
        except (FileNotFoundError, NotADirectoryError):
            self._make_parent(item, target)
            place(source, target)

    def _make_parent(self, item: WriteItem, target: Path) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise StorageError(
                f"{self._where(item.key)}: {self._object_above(item.key)} is an object, not a directory"
            ) from exc
        except OSError as exc:
            parent = item.key.rpartition("/")[0]
            raise StorageError(f"{self._where(item.key)}: cannot create {parent}/: {exc.strerror}") from exc

    def _object_above(self, key: str) -> str:
        """The key of the file that stands where one of ``key``'s parent directories should be."""
        segments = key.split("/")[:-1]
        for end in range(1, len(segments) + 1):
            above = "/".join(segments[:end])
            if not (self._root / above).is_dir():
                return above
        return "/".join(segments)  # pragma: no cover - removed behind our back

    def _publish(self, item: WriteItem, temporary: Path, target: Path, verified: bool) -> WriteResult:
        """Give the verified temporary file its key."""
        try:
            self._place(item, temporary, target)
        except FileExistsError as exc:
            return self._taken(item, target, exc)
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
        return WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=verified)

    def _taken(self, item: WriteItem, target: Path, exc: OSError) -> WriteResult:
        """Another writer published this key since we looked: the same bytes, or a conflict.

        Raises:
            ConflictError: it holds other content (the item may not replace it).
        """
        if self._holds(item, target):
            return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
        raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc

    def _discard(self, item: WriteItem, temporary: Path) -> None:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        except OSError as exc:  # pragma: no cover - .incoming vanished or turned read-only
            raise StorageError(f"{self._where(item.key)}: cannot remove {temporary}: {exc.strerror}") from exc

    def read(
        self, items: Sequence[ReadItem], progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadResult]:
        """Read files whole, several at once, hashing them and copying them to ``dest`` if given.

        A missing or unreadable file, or one that is not a regular file (a symlink or special file,
        never followed nor read), is reported in its result; a destination left incomplete by such a
        problem is removed. Nothing happens until the results are iterated.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            StorageError: a key is invalid, or a destination file cannot be written.
        """
        for item in items:
            require_key(self._name, item.key)
        if not items:
            return
        report = SerialisedProgress(progress)
        executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"store-{self._name}")
        try:
            for future in bounded(
                executor,
                partial(self._read_one, progress=report),
                items,
                self._concurrency * _QUEUED_PER_WORKER,
            ):
                yield future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _read_one(self, item: ReadItem, progress: SerialisedProgress) -> ReadResult:
        path = self._root / item.key
        digest = new_hasher(_SHA256)
        size = 0
        problem: str | None = None
        with ExitStack() as stack:
            opened = _open_object(str(path))
            if isinstance(opened, str):
                return ReadResult(key=item.key, problem=opened)
            fd, expected = opened
            source = stack.enter_context(open(fd, "rb", buffering=0))
            buffer = bytearray(buffer_size(expected))
            view = memoryview(buffer)
            dest: int | None = None
            if item.dest is not None:
                try:
                    Path(item.dest).parent.mkdir(parents=True, exist_ok=True)
                    dest = os.open(item.dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                except OSError as exc:
                    raise StorageError(
                        f"{self._where(item.key)}: cannot write {item.dest}: {exc.strerror}"
                    ) from exc
                # No partial copy that looks like a whole one: removed (once closed) unless read whole.
                stack.callback(self._discard_unless_whole, item.dest, lambda: problem is None)
                stack.callback(os.close, dest)
            try:
                while True:
                    try:
                        n = source.readinto(buffer)
                    except OSError as exc:
                        problem = f"cannot read after {size} bytes: {exc.strerror}"
                        break
                    if not n:
                        break
                    digest.update(view[:n])
                    if dest is not None:
                        try:
                            write_all(dest, view[:n])
                        except OSError as exc:
                            raise StorageError(
                                f"{self._where(item.key)}: cannot write {item.dest}: {exc.strerror}"
                            ) from exc
                    size += n
                    progress(n)
            except BaseException:
                problem = problem or "interrupted"
                raise
        if problem is not None:
            return ReadResult(key=item.key, size=size, problem=problem)
        return ReadResult(key=item.key, size=size, sha256=digest.hexdigest())

    def hash_objects(
        self,
        keys: Sequence[str],
        algorithm: DigestAlgorithm,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[Hashed]:
        """Hash files whole, one after another, in the calling thread.

        This is the inner loop of fixity audits (an audit spreads batches of keys over processes), so
        it costs no more per file than opening it, one fstat (its type and size), reading, hashing and
        closing it: no thread, no model object, no path object, one read buffer for the whole call.
        Nothing happens until the results are iterated.

        Args:
            keys: the objects to hash.
            algorithm: the digest to compute.
            progress: called in the calling thread with the number of bytes of each chunk read; it may
                block, which holds the reading up.

        Returns:
            One result per key, in the order of ``keys``: a missing file (or a directory) is
            ``"missing"``, a symlink or special file is ``"not a regular file"``, one that cannot be
            opened or read gives the reason.

        Raises:
            StorageError: a key is invalid (before anything is read).
            ConfigError: the algorithm has no implementation.
        """
        for key in keys:
            require_key(self._name, key)
        new_hasher(algorithm)  # an unknown algorithm fails before anything is read
        root = f"{self._root}{os.sep}"
        # One buffer for the whole call, grown to the largest file's need (at most CHUNK): allocating
        # one per file would cost more than reading a small file.
        buffer = memoryview(bytearray(0))
        buffers = (buffer,)
        for key in keys:
            # One fstat per file: it refuses what is not a regular file and gives the size.
            opened = _open_object(root + key)
            if isinstance(opened, str):
                yield Hashed(key, 0, None, opened)
                continue
            fd, expected = opened
            digest = new_hasher(algorithm)
            size = 0
            problem: str | None = None
            try:
                wanted = buffer_size(expected)
                if wanted > len(buffer):
                    buffer = memoryview(bytearray(wanted))
                    buffers = (buffer,)
                requested = len(buffer)
                while True:
                    try:
                        n = os.preadv(fd, buffers, size)
                    except OSError as exc:
                        problem = f"cannot read after {size} bytes: {exc.strerror}"
                        break
                    if not n:
                        break
                    digest.update(buffer[:n])
                    size += n
                    if progress is not None:  # outside the try: its errors are not read errors
                        progress(n)
                    # A read that stops short at the size the file had when it was opened has
                    # reached its end: a small file costs one read, not two. Any other read goes
                    # on to the end of the file.
                    if n < requested and size == expected:
                        break
            finally:
                os.close(fd)
            if problem is None:
                yield Hashed(key, size, digest.hexdigest(), None)
            else:
                yield Hashed(key, size, None, problem)

    @staticmethod
    def _discard_unless_whole(dest: str, whole: Callable[[], bool]) -> None:
        if not whole():
            Path(dest).unlink(missing_ok=True)

    def get_bytes(self, key: str, limit: int = 256 << 20) -> bytes:
        """Read a small file whole.

        Raises:
            NotFound: if there is no such object.
            StorageError: if it is larger than ``limit`` or cannot be read.
        """
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"{self._where(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self._where(key)}: cannot read: {exc.strerror}") from exc
        if len(data) > limit:
            raise StorageError(f"{self._where(key)}: larger than {limit} bytes, too large to read whole")
        return data

    def head(self, key: str) -> ObjectInfo | None:
        """The file's size and modification time (no sha256: a file system keeps no metadata).

        Raises:
            StorageError: if the key is invalid or the file cannot be looked up.
        """
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{self._where(key)}: cannot look it up: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        return ObjectInfo(key=key, size=st.st_size, modified=_mtime(st))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every file whose key starts with ``prefix``, in key order (lazily, directory by directory).

        Raises:
            StorageError: if the prefix is invalid or a directory cannot be listed.
        """
        return self._walk(self._files(prefix))

    def _scan(self, directory: Path, key_prefix: str) -> builtins.list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if key_prefix or e.name != INCOMING]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StorageError(
                f"location '{self._name}': cannot list {key_prefix or '/'}: {exc.strerror}"
            ) from exc
        return entries

    def list_keys(self, prefix: str) -> Iterator[str]:
        """The keys of :meth:`list`, from the directory entries alone (no file is looked at).

        Raises:
            StorageError: if the prefix is invalid or a directory cannot be listed.
        """
        return (key for key, _ in self._files(prefix))

    def _walk(self, files: Iterator[tuple[str, os.DirEntry[str]]]) -> Iterator[ObjectInfo]:
        for key, entry in files:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # pragma: no cover - removed behind our back
                continue
            yield ObjectInfo(key=key, size=st.st_size, modified=_mtime(st))

    def _files(self, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """(key, entry) of every regular file whose key starts with ``prefix``, in key order.

        Raises:
            StorageError: if the prefix is invalid (at once, not when iterated).
        """
        require_prefix(self._name, prefix, whole_segments=False)
        head, _, partial = prefix.rpartition("/")
        directory = self._root / head if head else self._root
        return self._files_below(directory, f"{head}/" if head else "", partial)

    def _files_below(
        self, directory: Path, key_prefix: str, partial: str
    ) -> Iterator[tuple[str, os.DirEntry[str]]]:

        # Keys below directory "d" all start with "d/": sorting a directory as "d/" among the
        # names beside it puts its whole subtree where its keys belong in key order.
        def order(entry: os.DirEntry[str]) -> str:
            return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name

        def scan(where: str | Path, keys: str, start: str) -> Iterator[os.DirEntry[str]]:
            entries = [e for e in self._scan(Path(where), keys) if e.name.startswith(start)]
            return iter(sorted(entries, key=order))

        # Depth first with a stack of directories being read (no generator per directory).
        stack = [(key_prefix, scan(directory, key_prefix, partial))]
        while stack:
            keys, entries = stack[-1]
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    below = f"{keys}{entry.name}/"
                    stack.append((below, scan(entry.path, below, "")))
                    break
                if entry.is_file(follow_symlinks=False):
                    yield keys + entry.name, entry
            else:
                stack.pop()

    def children(self, prefix: str) -> Iterator[str]:
        """The names of the files and the non-empty directories directly below ``prefix``, sorted.

        Args:
            prefix: "" for the root, or a directory's key followed by '/'.

        Raises:
            StorageError: if the prefix is invalid (one that does not end with '/' included).
        """
        require_prefix(self._name, prefix, whole_segments=True)
        names = []
        for entry in self._scan(self._root / prefix, prefix):
            if entry.is_file(follow_symlinks=False) or (
                entry.is_dir(follow_symlinks=False) and self._holds_objects(Path(entry.path))
            ):
                names.append(entry.name)
        return iter(sorted(names))

    def _holds_objects(self, directory: Path) -> bool:
        """True if some file lies below ``directory`` (an object store has no empty directories)."""
        return any(files for _, _, files in os.walk(directory))

    # --- deletion (the approved deaccession workflow only) ------------------------------------------

    def plan_deletion(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionPlan:
        """Every entry under ``prefix`` that is not a directory (files, and anything else found
        there: a symlink or a FIFO is deleted too), with its size, but those of ``keep``; a file
        system locks nothing.

        Raises:
            StorageError: the prefix or a key to keep is invalid, or a directory under it cannot be
                listed.
        """
        require_deletion_prefix(self._name, prefix)
        for key in keep:
            require_key(self._name, key)
        return DeletionPlan(
            location=self._name,
            prefix=prefix,
            now=now,
            bypass_governance=bypass_governance,
            versions=tuple(
                StoredVersion(key=key, size=size)
                for key, size in self._entries_below(prefix)
                if key not in keep
            ),
        )

    def delete_prefix(
        self, prefix: str, now: datetime, bypass_governance: bool = False, keep: Collection[str] = ()
    ) -> DeletionReport:
        """Remove every entry under ``prefix`` but those of ``keep``, then its emptied directories,
        then flush the file system (one ``syncfs``), and check that nothing else is left.

        Raises:
            StorageError: the prefix is invalid, or an entry cannot be removed, or something is left
                (naming how many entries were removed and what is left).
        """
        plan = self.plan_deletion(prefix, now, bypass_governance, keep)
        deleted: list[StoredVersion] = []
        for version in plan.versions:
            try:
                os.unlink(self._root / version.key)
            except FileNotFoundError:
                continue  # removed meanwhile: not ours to report
            except OSError as exc:
                raise StorageError(
                    f"location '{self._name}': deleting {prefix}: {version.key}: {exc.strerror}; "
                    f"{len(deleted)} of {len(plan.versions)} objects deleted, the others are left"
                ) from exc
            deleted.append(version)
        self._remove_directories(prefix, keep)
        make_durable(self._root)
        left = [(key, size) for key, size in self._entries_below(prefix) if key not in keep]
        if left:
            raise StorageError(
                f"location '{self._name}': deleting {prefix}: {len(left)} objects are still there after "
                f"{len(deleted)} were deleted, first {left[0][0]}"
            )
        return DeletionReport(location=self._name, prefix=prefix, deleted=tuple(deleted))

    def _entries_below(self, prefix: str) -> builtins.list[tuple[str, int]]:
        """(key, size) of every non-directory entry under ``prefix``, in key order."""
        top = self._root / prefix.rstrip("/")
        found: list[tuple[str, int]] = []
        try:
            st = os.lstat(top)
        except (FileNotFoundError, NotADirectoryError):
            return found
        except OSError as exc:
            raise StorageError(f"location '{self._name}': cannot look at {prefix}: {exc.strerror}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise StorageError(f"location '{self._name}': {prefix} is not a directory")
        stack = [(top, prefix)]
        while stack:
            directory, keys = stack.pop()
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((Path(entry.path), f"{keys}{entry.name}/"))
                        else:
                            found.append((keys + entry.name, entry.stat(follow_symlinks=False).st_size))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(f"location '{self._name}': cannot list {keys}: {exc.strerror}") from exc
        return sorted(found)

    def _remove_directories(self, prefix: str, keep: Collection[str] = ()) -> None:
        """Remove the directories under ``prefix`` and the prefix's own, deepest first, but those
        holding a kept key."""
        top = self._root / prefix.rstrip("/")
        holding = {self._root / key.rpartition("/")[0] for key in keep}
        holding |= {parent for directory in holding for parent in directory.parents}
        directories: list[Path] = []
        for dirpath, _dirnames, _files in os.walk(top):
            if Path(dirpath) not in holding:
                directories.append(Path(dirpath))
        for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):
            try:
                os.rmdir(directory)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StorageError(
                    f"location '{self._name}': deleting {prefix}: cannot remove the directory "
                    f"{directory.relative_to(self._root)}/: {exc.strerror}"
                ) from exc
