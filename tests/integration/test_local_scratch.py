"""Local scratch space: staging directories are locked while in use, removed on exit, and a dead
writer's go too."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oais.adapters.local_store import LocalScratch
from oais.domain.errors import StorageError

HOLD_LOCK = "import fcntl, time; fcntl.flock({fd}, fcntl.LOCK_EX); print(1, flush=True); time.sleep(60)"


def _stage_bag(path: Path, content: bytes = b"payload") -> None:
    (path / "data").mkdir(parents=True)
    (path / "data" / "f.txt").write_bytes(content)
    (path / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")


def test_staging_in_use_is_kept_from_cleaners_and_removed_on_exit(tmp_path: Path) -> None:
    scratch = LocalScratch(tmp_path / "staging")
    with scratch.staging() as first, scratch.staging() as second:
        assert first.path != second.path
        _stage_bag(first.path)
        assert first.path.is_dir() and (first.path.parent / ".lock").is_file()
        # Their locks are held: a cleaner (here, in the same process, with its own descriptor)
        # takes neither for a dead writer's.
        assert scratch.clean_stale_staging() == 0
        assert (first.path / "data" / "f.txt").read_bytes() == b"payload" and second.path.is_dir()
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_failure_while_staging_leaves_nothing(tmp_path: Path) -> None:
    scratch = LocalScratch(tmp_path / "staging")
    with pytest.raises(RuntimeError), scratch.staging() as staging:
        _stage_bag(staging.path)
        raise RuntimeError("disk on fire")
    assert list((tmp_path / "staging").iterdir()) == []


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_a_failure_to_create_a_staging_directory_leaks_neither_descriptor_nor_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = LocalScratch(tmp_path / "staging")
    scratch.root.mkdir()
    before = _open_descriptors()

    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(fcntl, "flock", refuse)
    with (
        pytest.raises(StorageError, match=f"cannot create a staging directory: {os.strerror(errno.EIO)}"),
        scratch.staging(),
    ):
        pytest.fail("a staging directory without its lock was handed out")
    assert list(scratch.root.iterdir()) == []
    assert _open_descriptors() == before


def test_a_staging_directory_that_could_not_be_removed_is_not_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = LocalScratch(tmp_path / "staging")
    dead = scratch.root / "dead"
    _stage_bag(dead / "bag")
    (dead / ".lock").touch()
    monkeypatch.setattr(shutil, "rmtree", lambda path, ignore_errors=False: None)  # removes nothing
    assert scratch.clean_stale_staging() == 0
    assert dead.is_dir()


def test_staging_of_a_killed_process_is_removed_but_a_live_one_is_kept(tmp_path: Path) -> None:
    store = LocalScratch(tmp_path / "staging")
    staging_root = tmp_path / "staging"
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
