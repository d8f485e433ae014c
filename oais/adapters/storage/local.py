"""A storage location on a local file system: one directory, one file per object.

Key ``a/b/c`` is the file ``<root>/a/b/c``. Writing an object takes three steps:

1. its bytes go into a private temporary file under ``<root>/.incoming/``: a hard link to the source
   file when the source is on the same file system (nothing is copied), a copy otherwise; either way
   the bytes are read and their sha256 computed;
2. only if that sha256 is the one of record does the temporary file get its key, with ``link``, which
   fails if the key exists, so two writers can never overwrite each other (a replacement, allowed only
   for objects of an incomplete version, is an atomic ``rename`` over the old file);
3. after the whole batch, one ``syncfs`` flushes the file system and the directories touched are
   ``fsync``-ed; only then are the results given out. One flush per batch rather than one ``fsync`` per
   file is what makes a 100,000-file AIP affordable.

Published files are read-only (mode 0444). A file system has no Object Lock: retention is ignored and
:meth:`LocalObjectStore.describe` says so. Nor does it keep object metadata: ``head`` and ``list`` give no
sha256, and whether an object already holds the right content is decided by reading it.

Because a hard-linked object shares its inode with the source file, a source must be a file nobody
will modify afterwards (a staged bag, removed after publishing); its mode becomes 0444 as well.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from oais.adapters.local_store import fsync_directory, make_durable
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.storage import (
    INCOMING,
    LocationInfo,
    LocationKind,
    ObjectInfo,
    ReadItem,
    ReadResult,
    Retention,
    WriteItem,
    WriteOutcome,
    WriteResult,
    key_problem,
    prefix_problem,
)

#: Bytes read at a time: large enough for fast sequential I/O, small enough for many workers.
CHUNK = 4 << 20
#: A temporary file whose inode has not changed for this long belongs to a writer that died.
STALE_AFTER = 24 * 3600.0


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def _bounded(
    executor: ThreadPoolExecutor,
    fn: Callable[[_Item, _Progress], _Result],
    items: Iterable[_Item],
    progress: _Progress,
    workers: int,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Future[_Result]]:
    """Run ``fn`` on every item with a few tasks queued per worker, yielding futures as they finish.

    Only a small window of futures exists at a time, so that 100,000 items cost neither 100,000
    futures in memory nor a wait over all of them for each one that finishes. Once ``stop()`` is
    true no new task starts, but the ones already started are still yielded.
    """
    window = workers * 4
    pending: set[Future[_Result]] = set()
    iterator = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            if stop():
                exhausted = True
                break
            try:
                item = next(iterator)
            except StopIteration:
                exhausted = True
                break
            pending.add(executor.submit(fn, item, progress))
        if not pending:
            return
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from done


class _Progress:
    """Serialises progress reports coming from worker threads."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        if self._callback is not None and nbytes:
            with self._lock:
                self._callback(nbytes)


def _buffer_size(size: int) -> int:
    return max(4096, min(CHUNK, size + 1))


def _hash_file(path: Path | str, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """The sha256 and size of a file, read in chunks. Raises OSError."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        # A buffer no larger than the file: most objects are small, and 4 MiB per file is costly.
        buffer = bytearray(_buffer_size(os.fstat(f.fileno()).st_size))
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return digest.hexdigest(), size


def _write_all(fd: int, data: memoryview) -> None:
    """Write every byte (a regular file may accept fewer than asked)."""
    while data:
        data = data[os.write(fd, data) :]


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
        problem = key_problem(key)
        if problem is not None:
            raise StorageError(f"location '{self._name}': {key!r} is not a valid key: {problem}")
        return self._root / key

    def _check_prefix(self, prefix: str, *, whole_segments: bool) -> None:
        problem = prefix_problem(prefix, whole_segments=whole_segments)
        if problem is not None:
            raise StorageError(f"location '{self._name}': {prefix!r} is not a valid prefix: {problem}")

    def _prepare(self) -> None:
        """Create the root and its temporary directory; remove temporary files of dead writers."""
        try:
            self._incoming.mkdir(parents=True, exist_ok=True)
            cutoff = time.time() - STALE_AFTER
            with os.scandir(self._incoming) as entries:
                for entry in entries:
                    # ctime, not mtime: a hard-linked source keeps its old mtime, but linking it
                    # here changed its ctime.
                    if entry.stat(follow_symlinks=False).st_ctime < cutoff:
                        os.unlink(entry.path)
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
        durable (one ``syncfs`` plus an ``fsync`` of every directory touched), all together, in no
        particular order. If an item fails, the items not yet started are not written, those already
        published are made durable, and the first error is raised.

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
        seen: set[str] = set()
        for item in items:
            self._path(item.key)
            if item.key in seen:
                raise StorageError(f"{self._where(item.key)}: the key is given twice in one write")
            seen.add(item.key)
        self._prepare()
        report = _Progress(progress)
        results: builtins.list[WriteResult] = []
        error: BaseException | None = None
        executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"store-{self._name}")
        try:
            # After the first error no new item starts; objects published by the items already
            # running must be in the results, to be made durable (later errors are not reported).
            failures: builtins.list[BaseException] = []
            for future in _bounded(
                executor, self._write_one, items, report, self._concurrency, stop=lambda: bool(failures)
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
        """Flush the file system, then every directory a new name was added to."""
        if not keys:
            return
        directories: set[Path] = {self._root}
        for key in keys:
            parent = (self._root / key).parent
            while parent != self._root and parent not in directories:
                directories.add(parent)
                parent = parent.parent
        try:
            make_durable(self._root)
        except (OSError, StorageError) as exc:
            raise StorageError(f"location '{self._name}': cannot flush {self._root}: {exc}") from exc
        try:
            for directory in sorted(directories):
                fsync_directory(directory)
        except OSError as exc:
            raise StorageError(
                f"location '{self._name}': cannot flush {exc.filename or self._root}: {exc.strerror}"
            ) from exc

    def _write_one(self, item: WriteItem, progress: _Progress) -> WriteResult:
        target = self._root / item.key
        if self._holds(item, target):
            return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
        direct = self._link_directly(item, target, progress)
        if direct is not None:
            return direct
        temporary = self._temporary()
        try:
            sha256, size, linked = self._stage(item, temporary, progress)
            if sha256 != item.sha256:
                raise FixityMismatch(self._where(item.key), DigestAlgorithm.SHA256, item.sha256, sha256)
            if size != item.size:
                raise StorageError(
                    f"{self._where(item.key)}: the source has {size} bytes, the item says {item.size}"
                )
            return self._publish(item, temporary, target, verified=linked)
        finally:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
            except OSError as exc:  # pragma: no cover - .incoming vanished or turned read-only
                raise StorageError(
                    f"{self._where(item.key)}: cannot remove {temporary}: {exc.strerror}"
                ) from exc

    def _link_directly(self, item: WriteItem, target: Path, progress: _Progress) -> WriteResult | None:
        """The common case, in few system calls: hash the source file, then hard-link it at its key.

        The bytes hashed are the inode the key then names, so the object needs no read-back. Returns
        None when that cannot be done (no source file, another file system, the key appeared
        meanwhile): the general path then stages a temporary file and reports any problem.

        Raises:
            FixityMismatch: the source's bytes do not have the item's sha256 (nothing is written).
        """
        if item.path is None:
            return None
        try:
            sha256, size = _hash_file(item.path)
        except OSError:
            return None
        if sha256 != item.sha256:
            raise FixityMismatch(self._where(item.key), DigestAlgorithm.SHA256, item.sha256, sha256)
        if size != item.size:
            return None  # the general path says what is wrong
        try:
            try:
                os.link(item.path, target)
            except FileNotFoundError:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(item.path, target)
        except OSError:
            return None  # the source is left as it was
        try:
            os.chmod(target, 0o444)
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot make it read-only: {exc.strerror}") from exc
        progress(size)
        return WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=True)

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
                actual, _ = _hash_file(target)
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

    def _stage(self, item: WriteItem, temporary: Path, progress: _Progress) -> tuple[str, int, bool]:
        """Put the item's bytes in ``temporary`` (read-only) and hash them.

        Returns:
            (sha256, size, linked): ``linked`` when ``temporary`` is a hard link of the source, so
            that the bytes hashed are the very bytes the object will hold.
        """
        if item.data is not None:
            try:
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
                try:
                    _write_all(fd, memoryview(item.data))
                    os.fchmod(fd, 0o444)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
            progress(len(item.data))
            return hashlib.sha256(item.data).hexdigest(), len(item.data), False
        assert item.path is not None
        if self._link_source(item.path, temporary):
            try:
                return (*_hash_file(temporary, progress), True)
            except OSError as exc:
                raise StorageError(
                    f"{self._where(item.key)}: cannot read {item.path}: {exc.strerror}"
                ) from exc
        return (*self._copy(item, temporary, progress), False)

    def _link_source(self, source: str, temporary: Path) -> bool:
        """Hard-link ``source`` as ``temporary`` and make it read-only; False if that cannot be done."""
        try:
            os.link(source, temporary)
        except OSError:
            return False  # another file system, no hard links there, not ours: copy instead
        try:
            if stat.S_ISREG(os.stat(temporary).st_mode):
                os.chmod(temporary, 0o444)
                return True
        except OSError:
            pass  # a source owned by someone else cannot be made read-only: copy it instead
        os.unlink(temporary)
        return False

    def _copy(self, item: WriteItem, temporary: Path, progress: _Progress) -> tuple[str, int]:
        """Copy the item's source file to ``temporary``, hashing it in the same pass."""
        assert item.path is not None
        digest = hashlib.sha256()
        buffer = bytearray(CHUNK)
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
                    _write_all(fd, view[:n])
                except OSError as exc:
                    raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
                size += n
                progress(n)
            os.fchmod(fd, 0o444)
        return digest.hexdigest(), size

    def _publish(self, item: WriteItem, temporary: Path, target: Path, verified: bool) -> WriteResult:
        """Give the verified temporary file its key."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if item.replace:
                os.rename(temporary, target)
            else:
                os.link(temporary, target)
        except FileExistsError as exc:
            # Another writer published this key since we looked: same bytes, or a conflict.
            if target.parent.is_dir() and self._holds(item, target):
                return WriteResult(key=item.key, outcome=WriteOutcome.PRESENT, verified=True)
            raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
        except OSError as exc:
            raise StorageError(f"{self._where(item.key)}: cannot write: {exc.strerror}") from exc
        return WriteResult(key=item.key, outcome=WriteOutcome.WRITTEN, verified=verified)

    def read(
        self, items: Sequence[ReadItem], progress: Callable[[int], None] | None = None
    ) -> Iterator[ReadResult]:
        """Read files whole, several at once, hashing them and copying them to ``dest`` if given.

        A missing or unreadable file is reported in its result; a destination left incomplete by such
        a problem is removed. Nothing happens until the results are iterated.

        Returns:
            One result per item, in any order, as each completes.

        Raises:
            StorageError: a key is invalid, or a destination file cannot be written.
        """
        for item in items:
            self._path(item.key)
        if not items:
            return
        report = _Progress(progress)
        executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix=f"store-{self._name}")
        try:
            for future in _bounded(executor, self._read_one, items, report, self._concurrency):
                yield future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _read_one(self, item: ReadItem, progress: _Progress) -> ReadResult:
        path = self._root / item.key
        digest = hashlib.sha256()
        size = 0
        problem: str | None = None
        with ExitStack() as stack:
            try:
                source = stack.enter_context(open(path, "rb", buffering=0))
                buffer = bytearray(_buffer_size(os.fstat(source.fileno()).st_size))
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return ReadResult(key=item.key, problem="missing")
            except OSError as exc:
                return ReadResult(key=item.key, problem=f"cannot open: {exc.strerror}")
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
                            _write_all(dest, view[:n])
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
        self._check_prefix(prefix, whole_segments=False)
        head, _, partial = prefix.rpartition("/")
        directory = self._root / head if head else self._root
        return self._walk(directory, f"{head}/" if head else "", partial)

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

    def _walk(self, directory: Path, key_prefix: str, partial: str) -> Iterator[ObjectInfo]:
        entries = [e for e in self._scan(directory, key_prefix) if e.name.startswith(partial)]

        # Keys below directory "d" all start with "d/": sorting a directory as "d/" among the
        # names beside it puts its whole subtree where its keys belong in key order.
        def order(entry: os.DirEntry[str]) -> str:
            return entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name

        for entry in sorted(entries, key=order):
            if entry.is_dir(follow_symlinks=False):
                yield from self._walk(Path(entry.path), f"{key_prefix}{entry.name}/", "")
            elif entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # pragma: no cover - removed behind our back
                    continue
                yield ObjectInfo(key=key_prefix + entry.name, size=st.st_size, modified=_mtime(st))

    def children(self, prefix: str) -> Iterator[str]:
        """The names of the files and the non-empty directories directly below ``prefix``, sorted.

        Args:
            prefix: "" for the root, or a directory's key with or without its final '/'.

        Raises:
            StorageError: if the prefix is invalid.
        """
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self._check_prefix(prefix, whole_segments=True)
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
