"""Openers for audit worker tests: module-level, so that batches holding them pickle as a
deployment's do (a function and its configuration, never a live store)."""

from __future__ import annotations

import hashlib

from oais.adapters.storage.memory import InMemoryObjectStore
from oais.domain.ports import ObjectStore
from oais.domain.storage import WriteItem

#: Every store opened, by location name, in the order they were opened.
OPENED: list[str] = []


def open_memory(name: str, contents: tuple[tuple[str, bytes], ...]) -> ObjectStore:
    """A fresh in-memory location holding ``contents`` (key, bytes)."""
    OPENED.append(name)
    store = InMemoryObjectStore(name)
    items = [WriteItem(key=k, size=len(d), sha256=hashlib.sha256(d).hexdigest(), data=d) for k, d in contents]
    for _ in store.write(items):
        pass
    return store
