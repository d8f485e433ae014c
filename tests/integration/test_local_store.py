"""The local store: a version is visible whole or not at all, and a dead writer's leftovers go."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oais.adapters.local_store import LocalAipStore
from oais.domain.errors import AipExists, NotFound

HOLD_LOCK = "import fcntl, time; fcntl.flock({fd}, fcntl.LOCK_EX); print(1, flush=True); time.sleep(60)"


def _stage_bag(path: Path, content: bytes = b"payload") -> None:
    (path / "data").mkdir(parents=True)
    (path / "data" / "f.txt").write_bytes(content)
    (path / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")


def test_publish_makes_the_whole_bag_visible(tmp_path: Path) -> None:
    store = LocalAipStore(tmp_path / "store")
    assert not store.exists("aip-1", 1)
    with store.staging() as staging:
        _stage_bag(staging.path)
        assert not store.exists("aip-1", 1)  # staged is not visible
        location = store.publish(staging, "aip-1", 1)
    assert store.exists("aip-1", 1)
    assert Path(location) == store.bag_path("aip-1", 1)
    assert (Path(location) / "data" / "f.txt").read_bytes() == b"payload"
    assert list((tmp_path / "store" / "staging").iterdir()) == []


def test_a_published_version_is_never_replaced(tmp_path: Path) -> None:
    store = LocalAipStore(tmp_path / "store")
    with store.staging() as staging:
        _stage_bag(staging.path, b"first")
        store.publish(staging, "aip-1", 1)
    with store.staging() as staging, pytest.raises(AipExists, match="aip-1 version 1"):
        _stage_bag(staging.path, b"second")
        store.publish(staging, "aip-1", 1)
    assert (store.bag_path("aip-1", 1) / "data" / "f.txt").read_bytes() == b"first"


def test_a_failure_while_staging_leaves_nothing(tmp_path: Path) -> None:
    store = LocalAipStore(tmp_path / "store")
    with pytest.raises(RuntimeError), store.staging() as staging:
        _stage_bag(staging.path)
        raise RuntimeError("disk on fire")
    assert not store.exists("aip-1", 1)
    assert list((tmp_path / "store" / "staging").iterdir()) == []


def test_staging_of_a_killed_process_is_removed_but_a_live_one_is_kept(tmp_path: Path) -> None:
    store = LocalAipStore(tmp_path / "store")
    staging_root = tmp_path / "store" / "staging"
    dead = staging_root / "dead"
    _stage_bag(dead / "bag")
    (dead / ".lock").touch()  # its owner is gone: nobody holds the lock
    alive = staging_root / "alive"
    _stage_bag(alive / "bag")
    lock = os.open(alive / ".lock", os.O_RDWR | os.O_CREAT)
    # Hold the lock from another process, as a running ingest would.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK.format(fd=lock)],
        pass_fds=(lock,),
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
        assert store.clean_stale_staging() == 1
        assert not dead.exists()
        assert alive.exists()
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
        os.close(lock)


def test_unknown_versions_and_bad_ids_are_not_found(tmp_path: Path) -> None:
    store = LocalAipStore(tmp_path / "store")
    with pytest.raises(NotFound, match="aip-9 version 1"):
        store.bag_path("aip-9", 1)
    with pytest.raises(NotFound, match="not allowed"):
        store.bag_path("../etc", 1)
    assert not store.exists("../etc", 1)
