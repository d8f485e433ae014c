"""The one pass over every payload byte: copy, digest and identify, spread over the cores.

Each file is read exactly once, in fixed-size chunks, by one worker process; every chunk goes to
every digest, to the format probe and to the copy. Memory per worker is one chunk buffer plus
what the format probe keeps (a head and a tail), whatever the file size.

Workers are forked (they start in milliseconds and inherit the code already imported) and kept
for the next copy of the same run; the parent forks them before it holds large lists or opens
threads of its own that matter to them: workers only read, hash, write and identify.

Large copies start their write-back early (``fdatasync`` on a helper thread while the worker goes
on reading and hashing), so that writing to disk overlaps with hashing; the store still makes the
whole staging tree durable before it publishes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import BinaryIO

from oais.adapters.hashing import MultiHasher
from oais.adapters.local_store import write_all
from oais.domain.errors import OaisError, SipRejected, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import issue
from oais.domain.ports import CopiedFile, CopyItem, FormatIdentifier, SipSource

CHUNK = 4 << 20
#: Copies at least this large get early write-back.
EARLY_FLUSH_SIZE = 16 << 20
#: How much is written between two early write-back requests.
FLUSH_EVERY = 64 << 20
#: A batch sent to a worker holds at most this many files or bytes (small files travel together).
BATCH_FILES = 128
BATCH_BYTES = 32 << 20


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass
class _Job:
    source: SipSource
    destination: Path | None
    algorithms: tuple[DigestAlgorithm, ...]
    identifier: FormatIdentifier | None


class _Worker:
    """Per-process state: the job, one reusable buffer, one write-back thread."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.buffer = bytearray(CHUNK)
        self._flusher: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def _flush_async(self, fd: int, close: bool) -> None:
        if self._flusher is None:
            self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oais-flush")

        def flush() -> None:
            try:
                os.fdatasync(fd)
            finally:
                if close:
                    os.close(fd)

        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._flusher.submit(flush))

    def drain(self) -> None:
        """Wait for every write-back request, surfacing its error."""
        pending, self._pending = self._pending, []
        for f in pending:
            f.result()

    def process(self, item: CopyItem) -> CopiedFile:
        job = self.job
        hasher = MultiHasher(job.algorithms)
        source = job.source
        probe = None
        if job.identifier is not None:
            probe = job.identifier.start(item.source, item.size, lambda: source.open(item.source))
        fd = -1
        target_path: Path | None = None
        if job.destination is not None:
            target_path = job.destination.joinpath(*item.target.split("/"))
            try:
                target_path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise StorageError(f"{target_path}: cannot create the copy: {exc.strerror}") from exc
        view = memoryview(self.buffer)
        total = 0
        since_flush = 0
        try:
            with source.open(item.source) as stream:
                while True:
                    n = _readinto(stream, self.buffer)
                    if not n:
                        break
                    chunk = view[:n]
                    hasher.update(chunk)
                    if probe is not None:
                        probe.feed(chunk)
                    if fd >= 0:
                        _write_copy(fd, chunk, target_path)
                        since_flush += n
                        if item.size >= EARLY_FLUSH_SIZE and since_flush >= FLUSH_EVERY:
                            self._flush_async(fd, close=False)
                            since_flush = 0
                    total += n
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            raise StorageError(f"{item.source}: read or copy failed: {exc.strerror or exc}") from exc
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        if fd >= 0:
            if item.size >= EARLY_FLUSH_SIZE:
                self._flush_async(fd, close=True)
            else:
                os.close(fd)
        if total != item.size:
            raise SipRejected(
                f"{item.source} changed while it was being ingested",
                [
                    issue(
                        "SIP-E011",
                        item.source,
                        f"listed as {item.size} bytes but {total} bytes were read; "
                        "the file changed during ingest: submit it again once it is complete",
                    )
                ],
            )
        facts = probe.finish() if probe is not None else None
        return CopiedFile(
            source=item.source, target=item.target, size=total, digests=hasher.hexdigests(), format=facts
        )


def _readinto(stream: BinaryIO, buffer: bytearray) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        n = readinto(buffer)
        return int(n or 0)
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


def _write_copy(fd: int, chunk: memoryview, path: Path | None) -> None:
    try:
        write_all(fd, chunk)
    except OSError as exc:
        raise StorageError(f"{path}: write failed: {exc.strerror}") from exc


# Worker-process state: the job of the copy in progress, unpickled once per process and per copy
# (the source re-opens lazily; the identifier's signatures are loaded once per process).
_WORKER: _Worker | None = None
_WORKER_JOB = ""


def _init_worker(identifier: FormatIdentifier | None) -> None:
    if identifier is not None:
        # Load the signatures now, while the parent is still listing the SIP.
        identifier.start("warm-up", 0).finish()


def _run_batch(task: tuple[str, _Job, list[CopyItem]]) -> list[CopiedFile] | OaisError:
    global _WORKER, _WORKER_JOB
    job_id, job, batch = task
    if _WORKER is None or job_id != _WORKER_JOB:
        if _WORKER is not None:
            _WORKER.drain()
        _WORKER, _WORKER_JOB = _Worker(job), job_id
    try:
        results = [_WORKER.process(item) for item in batch]
        _WORKER.drain()
        return results
    except OaisError as exc:
        # Returned, not raised: the parent re-raises it whole (issues included).
        return exc


def _batches(items: Sequence[CopyItem]) -> Iterator[list[CopyItem]]:
    batch: list[CopyItem] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= BATCH_FILES or size + item.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


class ParallelCopier:
    """Implements the ``PayloadCopier`` port with a pool of worker processes.

    The pool is started on first use and kept for the next copy (an ingest makes two passes: the
    copy and the verification), so that workers and their loaded signatures are reused. Work that
    is abandoned (an error, a consumer that stops early) terminates the pool: nothing goes on
    writing behind the caller's back.
    """

    def __init__(self, identifier: FormatIdentifier | None, workers: int | None = None) -> None:
        """Args:
        identifier: format identification run on every file's bytes as they pass (None: skip).
        workers: worker processes (default: one per available core).
        """
        self._identifier = identifier
        self._workers = workers or available_cores()
        self._pool: Pool | None = None

    def _get_pool(self) -> Pool:
        if self._pool is None:
            # fork: workers start in milliseconds and import nothing; they only read, hash, write and
            # identify, never touching the parent's database connections or threads.
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self._workers, initializer=_init_worker, initargs=(self._identifier,))
        return self._pool

    def prepare(self) -> None:
        """Start the worker processes now (they load the format signatures while the caller goes on)."""
        if self._workers > 1:
            self._get_pool()

    def close(self) -> None:
        """Stop the worker processes (a later copy starts new ones)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __del__(self) -> None:
        # A copier dropped without close() must not leave worker processes behind.
        # At interpreter shutdown this may fail; the pool's own finaliser then takes over.
        with contextlib.suppress(Exception):
            self._abandon()

    def _abandon(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def copy(
        self,
        source: SipSource,
        items: Sequence[CopyItem],
        destination: Path | None,
        algorithms: Iterable[DigestAlgorithm],
        identify: bool,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[CopiedFile]:
        """Read every item once; copy, digest and identify it. See ``PayloadCopier.copy``."""
        job = _Job(
            source=source,
            destination=destination,
            algorithms=tuple(sorted(set(algorithms), key=lambda a: a.value)),
            identifier=self._identifier if identify else None,
        )
        parallel = self._workers > 1 and source.parallel_reads and len(items) > 1
        if not parallel:
            yield from self._inline(job, items, progress)
            return
        job_id = uuid.uuid4().hex
        pool = self._get_pool()
        finished = False
        try:
            tasks = ((job_id, job, batch) for batch in _batches(items))
            for result in pool.imap(_run_batch, tasks, chunksize=1):
                if isinstance(result, OaisError):
                    raise result
                for copied in result:
                    if progress is not None:
                        progress(copied.size)
                    yield copied
            finished = True
        finally:
            if not finished:
                self._abandon()

    @staticmethod
    def _inline(
        job: _Job, items: Sequence[CopyItem], progress: Callable[[int], None] | None
    ) -> Iterator[CopiedFile]:
        worker = _Worker(job)
        for item in items:
            copied = worker.process(item)
            if progress is not None:
                progress(copied.size)
            yield copied
        worker.drain()
