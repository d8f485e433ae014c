"""What an audit worker runs: hash a batch of objects at one location, within a read budget.

This module is small and imports little, so that worker processes (a local pool or a Dask cluster)
start quickly; each worker opens a location once and keeps it for every later batch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from oais.archival_storage.layout import PAYLOAD_MANIFEST, PREMIS, TAG_MANIFEST
from oais.domain.audit import Expected, FindingKind
from oais.domain.bag import manifest_digests
from oais.domain.errors import NotFound
from oais.domain.fixity import DigestAlgorithm
from oais.domain.ports import ObjectStore
from oais.domain.storage import Hashed

#: Opens a location's object store in the worker (picklable: a module-level function and its
#: configuration, never a live client).
StoreOpener = Callable[[], ObjectStore]


@dataclass(frozen=True)
class Batch:
    """Objects of one location to hash, each in its own algorithm, and compare."""

    location: str
    opener: StoreOpener
    objects: tuple[Expected, ...]
    #: Bytes per second this batch may read (its share of the location's budget); None: no limit.
    rate: float | None


class Checked(NamedTuple):
    """What a batch found: the bytes it read, and the objects not as expected (every other one
    was read in full and has its expected size and digest)."""

    bytes: int
    differing: list[Hashed]


def verdict(expected: Expected, found: Hashed) -> tuple[FindingKind | None, str | None]:
    """What is wrong with an object (None if nothing), and what was found."""
    if found.problem == "missing":
        return FindingKind.MISSING, None
    if found.problem is not None:
        return FindingKind.UNREADABLE, found.problem
    _, _, size, digest = expected
    if size is not None and found.size != size:
        return FindingKind.TRUNCATED, f"{found.digest}, {found.size} bytes, not {size}"
    if digest is not None and found.digest != digest:
        return FindingKind.ALTERED, found.digest
    return None, None


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


def _store(location: str, opener: StoreOpener) -> ObjectStore:
    identity = _identity(opener)
    cached = _stores.get(location)
    if cached is not None and cached[0] == identity:
        return cached[1]
    store = opener()
    _stores[location] = (identity, store)
    return store


def hash_batch(batch: Batch) -> Checked:
    """Hash every object of ``batch`` and compare it with what is expected.

    Returns:
        The bytes read and the objects not as expected (in any order).

    Raises:
        StorageError: the location as a whole failed.
    """
    store = _store(batch.location, batch.opener)
    pace = _pace(batch)
    groups: dict[str, list[str]] = {}
    wanted: dict[str, Expected] = {}
    for e in batch.objects:
        groups.setdefault(e[1], []).append(e[0])
        wanted[e[0]] = e
    nbytes = 0
    differing: list[Hashed] = []
    for algorithm, keys in groups.items():
        for found in store.hash_objects(keys, DigestAlgorithm(algorithm), pace):
            nbytes += found.size
            if verdict(wanted[found.key], found)[0] is not None:
                differing.append(found)
    return Checked(nbytes, differing)


@dataclass(frozen=True)
class Survey:
    """A stored version's own listing and manifests, read where the objects are."""

    location: str
    opener: StoreOpener
    prefix: str  # the version's prefix, ending in '/'
    #: Bag paths the catalog lists for the version, as a JSON array: never unexpected, and not
    #: returned as payload.
    catalogued: str


class Surveyed(NamedTuple):
    """What a survey found."""

    #: The tag manifest's entries (path -> sha256); None when there is no tag manifest.
    tags: dict[str, str] | None
    #: Payload manifest entries the catalog does not list (path -> sha256), e.g. the PREMIS file;
    #: the PREMIS file with None (nothing to compare with) if the payload manifest does not list it.
    payload: dict[str, str | None]
    #: Objects under the prefix that no manifest and no catalog entry lists: (key, size); without a
    #: tag manifest, only those under data/.
    unexpected: list[tuple[str, int]]


def survey_version(survey: Survey) -> Surveyed:
    """List a version's prefix and read its two manifests (not validated: their own digests are
    checked against the tag manifest by the audit's hashing).

    Raises:
        StorageError: the location as a whole failed.
    """
    store = _store(survey.location, survey.opener)
    prefix = survey.prefix
    catalogued = frozenset(json.loads(survey.catalogued))

    def entries(name: str) -> dict[str, str] | None:
        try:
            return manifest_digests(store.get_bytes(prefix + name))
        except NotFound:
            return None

    tags = entries(TAG_MANIFEST)
    listed = entries(PAYLOAD_MANIFEST) or {}
    payload: dict[str, str | None] = {
        path: digest for path, digest in listed.items() if path not in catalogued
    }
    # Every version holds its PREMIS file: with its manifest missing or damaged it is still read
    # (and reported if missing), not reported as an object nobody lists.
    if PREMIS not in catalogued:
        payload.setdefault(PREMIS, None)
    start = len(prefix)
    unexpected = [
        (key, info.size if (info := store.head(key)) is not None else 0)
        for key in store.list_keys(prefix)
        if (path := key[start:]) != TAG_MANIFEST
        and path not in catalogued
        and path not in payload
        # Without a tag manifest, which files beside data/ belong to the version is unknown: only
        # the missing tag manifest is reported (and repaired), not every tag file as unexpected.
        and (path not in tags if tags is not None else "/" in path)
    ]
    return Surveyed(tags, payload, unexpected)
