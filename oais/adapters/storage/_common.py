"""What every storage location shares: the checks of keys and prefixes, a bounded window of tasks, and
progress reports passed on one at a time.

The checks give the same one-line message in every location: ``location 'NAME': <key>: <problem>``,
the key or prefix quoted (it may be empty or hold characters that would break the line).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import TypeVar

from oais.domain.errors import StorageError
from oais.domain.storage import WriteItem, key_problem, prefix_problem

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def require_key(location: str, key: str) -> None:
    """Refuse a key that cannot name an object.

    Raises:
        StorageError: ``location 'NAME': 'key': <problem>``.
    """
    problem = key_problem(key)
    if problem is not None:
        raise StorageError(f"location '{location}': {key!r}: {problem}")


def require_prefix(location: str, prefix: str, *, whole_segments: bool) -> None:
    """Refuse a prefix that cannot select keys (``whole_segments``: it must be "" or end with '/').

    Raises:
        StorageError: ``location 'NAME': 'prefix': <problem>``.
    """
    problem = prefix_problem(prefix, whole_segments=whole_segments)
    if problem is not None:
        raise StorageError(f"location '{location}': {prefix!r}: {problem}")


def require_deletion_prefix(location: str, prefix: str) -> None:
    """Refuse a prefix that cannot name what a deletion removes: it must be whole path segments and
    not empty (nothing deletes a whole location).

    Raises:
        StorageError: ``location 'NAME': 'prefix': <problem>``.
    """
    require_prefix(location, prefix, whole_segments=True)
    if not prefix:
        raise StorageError(
            f"location '{location}': {prefix!r}: a deletion needs a prefix, not the whole location"
        )


def require_unique_keys(location: str, items: Iterable[WriteItem]) -> None:
    """Refuse a write that names a key more than once.

    Raises:
        StorageError: ``location 'NAME': 'key': the key is given twice in one write``, for the first
            key found again.
    """
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            raise StorageError(f"location '{location}': {item.key!r}: the key is given twice in one write")
        seen.add(item.key)


def bounded(
    executor: Executor,
    fn: Callable[[_Item], _Result],
    items: Iterable[_Item],
    window: int,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Future[_Result]]:
    """Run ``fn`` on every item with at most ``window`` tasks submitted at a time, yielding each
    future as it finishes.

    Only a small window of futures exists at a time, so that 100,000 items cost neither 100,000
    futures in memory nor a wait over all of them for each one that finishes. Once ``stop()`` is
    true no new task is submitted, but those already submitted are still yielded.
    """
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
            pending.add(executor.submit(fn, item))
        if not pending:
            return
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        yield from done


class SerialisedProgress:
    """Passes progress reports from several worker threads on, one call at a time.

    The callback runs in the worker that moved the bytes, so that one that blocks (a read budget)
    holds that worker up; and one at a time, so that it needs no lock of its own and a budget that
    sleeps in proportion to the bytes counts them all against one rate. With no callback, or for no
    bytes, nothing is called.
    """

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, nbytes: int) -> None:
        if self._callback is not None and nbytes:
            with self._lock:
                self._callback(nbytes)
