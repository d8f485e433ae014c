"""What an audit worker runs: hash a batch of objects at one location, within a read budget.

This module is small and imports little, so that worker processes (a local pool or a Dask cluster)
start quickly; each worker opens a location once and keeps it for every later batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial

from oais.domain.fixity import DigestAlgorithm
from oais.domain.ports import ObjectStore
from oais.domain.storage import Hashed

#: Opens a location's object store in the worker (picklable: a module-level function and its
#: configuration, never a live client).
StoreOpener = Callable[[], ObjectStore]


@dataclass(frozen=True)
class Batch:
    """Objects of one location to hash, each in its own algorithm."""

    location: str
    opener: StoreOpener
    keys: tuple[tuple[str, DigestAlgorithm], ...]
    #: Bytes per second this batch may read (its share of the location's budget); None: no limit.
    rate: float | None


class Pace:
    """Blocks readers so that no more than ``rate`` bytes per second pass, on average (token bucket
    with a one-second burst); thread-safe."""

    def __init__(self, rate: float) -> None:
        """Allow ``rate`` bytes per second."""
        self.rate = rate
        self._lock = threading.Lock()
        self._free_at = time.monotonic() - 1.0

    def __call__(self, nbytes: int) -> None:
        """Account for ``nbytes`` just read; sleep until they are within the budget."""
        with self._lock:
            now = time.monotonic()
            # Time not used is not saved up beyond one second: an idle worker gets no burst.
            self._free_at = max(self._free_at, now - 1.0) + nbytes / self.rate
            delay = self._free_at - now
        if delay > 0:
            time.sleep(delay)


_stores: dict[str, tuple[Hashable, ObjectStore]] = {}
# One bucket per location and worker thread for the life of the worker, so that the many batches a
# worker runs one after another share one budget. Each batch's rate is its share of the location's
# budget: batches that run side by side (in other processes, or other threads of this one) each
# keep their own share.
_paces: dict[tuple[str, int], Pace] = {}


def _pace(batch: Batch) -> Pace | None:
    if not batch.rate:
        return None
    where = (batch.location, threading.get_ident())
    pace = _paces.get(where)
    if pace is None or pace.rate != batch.rate:
        pace = _paces[where] = Pace(batch.rate)
    return pace


def _identity(opener: StoreOpener) -> Hashable:
    """What an opener opens: every batch arrives with its own unpickled copy of the opener, so a
    ``functools.partial`` is compared by its function and arguments, not by identity."""
    if isinstance(opener, partial):
        try:
            key = (opener.func, opener.args, tuple(sorted(opener.keywords.items())))
            hash(key)
        except TypeError:
            return opener
        return key
    return opener


def _store(batch: Batch) -> ObjectStore:
    identity = _identity(batch.opener)
    cached = _stores.get(batch.location)
    if cached is not None and cached[0] == identity:
        return cached[1]
    store = batch.opener()
    _stores[batch.location] = (identity, store)
    return store


def hash_batch(batch: Batch) -> list[Hashed]:
    """Hash every object of ``batch``.

    Returns:
        One result per key, in any order.

    Raises:
        StorageError: the location as a whole failed.
    """
    store = _store(batch)
    pace = _pace(batch)
    groups: dict[DigestAlgorithm, list[str]] = {}
    for key, algorithm in batch.keys:
        groups.setdefault(algorithm, []).append(key)
    out: list[Hashed] = []
    for algorithm, keys in groups.items():
        out.extend(store.hash_objects(keys, algorithm, pace))
    return out
