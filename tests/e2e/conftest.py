"""End-to-end fixtures: the real ``oais`` command in a subprocess, on a private OAIS_HOME."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SIP = REPO / "examples" / "omega-orbit-0042"


@dataclass
class Run:
    """What one ``oais`` invocation did."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Oais:
    """The ``oais`` command bound to one OAIS_HOME (and optionally another catalog)."""

    home: Path
    env: dict[str, str]

    def __call__(self, *args: str | Path, timeout: float = 600, cwd: Path | None = None) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "oais", *map(str, args)],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def ingest(self, sip: Path, *extra: str, title: str | None = None, timeout: float = 600) -> Run:
        """``oais ingest SIP --json``, with the title given (default "OMEGA cubes, orbit 0042"), or,
        when ``extra`` has ``--metadata FILE`` and no title is given, taken from the file."""
        if title is None and "--metadata" not in extra:
            title = "OMEGA cubes, orbit 0042"
        return self(
            "ingest",
            sip,
            "--producer",
            "IAS / OMEGA team",
            *(("--title", title) if title is not None else ()),
            "--json",
            *extra,
            timeout=timeout,
        )

    @property
    def store(self) -> Path:
        return self.home / "store"

    def published(self) -> list[Path]:
        """Every complete version directory (one with its bagit.txt) in the local location."""
        aips = self.store / "aips"
        return sorted(p.parent for p in aips.glob("*/v*/bagit.txt")) if aips.exists() else []

    def staging_left(self) -> list[Path]:
        staging = self.home / "staging"
        return sorted(staging.iterdir()) if staging.exists() else []


@pytest.fixture
def oais(tmp_path: Path) -> Oais:
    home = tmp_path / "oais-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
    env["OAIS_HOME"] = str(home)
    env["OAIS_WORKERS"] = "2"
    return Oais(home=home, env=env)


def tree_snapshot(root: Path) -> dict[bytes, tuple[int, int, str]]:
    """Every name under ``root`` (bytes) with its mode, mtime and content digest: to prove nothing changed."""
    snap: dict[bytes, tuple[int, int, str]] = {}
    broot = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(broot):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            digest = ""
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            snap[os.path.relpath(full, broot)] = (st.st_mode, st.st_mtime_ns, digest)
    return snap


@pytest.fixture
def sample_sip(tmp_path: Path) -> Path:
    """A private copy of the shipped sample SIP (tests may not touch the repository's copy)."""
    dest = tmp_path / "omega-orbit-0042"
    shutil.copytree(SAMPLE_SIP, dest)
    return dest


@pytest.fixture
def unchanged() -> Iterator[Callable[[Path], None]]:
    """Call with a SIP path before the test acts on it; the SIP is checked unchanged afterwards."""
    watched: list[tuple[Path, dict[bytes, tuple[int, int, str]]]] = []

    def watch(path: Path) -> None:
        watched.append((path, tree_snapshot(path) if path.is_dir() else {b"": _file_state(path)}))

    yield watch
    for path, before in watched:
        after = tree_snapshot(path) if path.is_dir() else {b"": _file_state(path)}
        assert after == before, f"the SIP {path} was modified"


def _file_state(path: Path) -> tuple[int, int, str]:
    st = path.lstat()
    with open(path, "rb") as f:
        return (st.st_mode, st.st_mtime_ns, hashlib.file_digest(f, "sha256").hexdigest())
