"""Identification agrees with the ``fido`` command on real files, in worker processes too."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.formats.signatures import SignatureIndex
from oais.domain.packages import FormatFacts
from tests.support import fits_files
from tests.unit.test_formats_identifier import sample_files
from tests.unit.test_formats_matching import buffers, corpus, fido_result, our_result, synthesised

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def fido_command() -> str:
    beside = Path(sys.executable).with_name("fido")
    found = str(beside) if beside.exists() else shutil.which("fido")
    if found is None:
        pytest.fail("the fido command is not installed (it comes with opf-fido)")
    return found


def identify_path(identifier: FidoIdentifier, path: Path, chunk: int = 4 << 20) -> FormatFacts:
    def reopen() -> BinaryIO:
        return open(path, "rb")  # the probe closes what it reopens

    probe = identifier.start(path.name, path.stat().st_size, reopen)
    with open(path, "rb") as stream:
        for piece in iter(lambda: stream.read(chunk), b""):
            probe.feed(piece)
    return probe.finish()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("formats")
    rnd = random.Random(11)
    items = [
        *sample_files(),
        ("broken.fits", fits_files.fmt_e001_naxis2_missing()),
        ("not-really.fits", b"just text\n"),
        ("random.bin", rnd.randbytes(1024)),
        ("random", rnd.randbytes(1024)),
        ("large.pdf", b"%PDF-1.4\n" + rnd.randbytes(300_000) + b"\ntrailer\n<<>>\n%%EOF\n"),
    ]
    paths = []
    for name, data in items:
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    paths += sorted(p for p in EXAMPLES.rglob("*") if p.is_file())
    return paths


def run_fido(paths: list[Path]) -> dict[str, tuple[set[str], str]]:
    """fido's answer per file: (PUIDs it prints, match type)."""
    printf = "OK\t%(info.filename)s\t%(info.puid)s\t%(info.matchtype)s\n"
    result = subprocess.run(
        [fido_command(), "-q", "-matchprintf", printf, "-nomatchprintf", "KO\t%(info.filename)s\n"]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        check=True,
    )
    answers: dict[str, tuple[set[str], str]] = {}
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "OK":
            puids, _ = answers.get(fields[1], (set(), ""))
            answers[fields[1]] = (puids | {fields[2]}, fields[3])
        elif fields[0] == "KO":
            answers[fields[1]] = (set(), "fail")
    return answers


def test_puids_agree_with_the_fido_command(files: list[Path]) -> None:
    identifier = FidoIdentifier()
    answers = run_fido(files)
    assert len(answers) == len(files)
    for path in files:
        puids, how = answers[str(path)]
        facts = identify_path(identifier, path)
        if not puids:
            assert facts.puid is None, path
            assert [i.code for i in facts.issues if i.code == "FMT-W001"] == ["FMT-W001"]
            continue
        assert facts.puid in puids, path
        assert (
            facts.basis == {"signature": "signature", "container": "container", "extension": "extension"}[how]
        )
        if len(puids) == 1:
            assert facts.puid == next(iter(puids))


def test_the_example_sip_is_identified_and_its_fits_files_are_valid(files: list[Path]) -> None:
    identifier = FidoIdentifier()
    examples = [p for p in files if EXAMPLES in p.parents]
    assert examples
    for path in examples:
        facts = identify_path(identifier, path, chunk=7919)
        if path.suffix == ".fits":
            assert (facts.puid, facts.mime_type, facts.issues) == ("x-fmt/383", "application/fits", ())


def _identify_in_worker(args: tuple[bytes, list[tuple[str, bytes]]]) -> tuple[int, list[FormatFacts]]:
    pickled, items = args
    identifier = pickle.loads(pickled)
    results = []
    for name, data in items:
        probe = identifier.start(name, len(data), partial(io.BytesIO, data))
        probe.feed(data)
        results.append(probe.finish())
    return os.getpid(), results


def test_a_pickled_identifier_works_in_spawned_worker_processes() -> None:
    identifier = FidoIdentifier()
    items = sample_files()
    expected = []
    for name, data in items:
        probe = identifier.start(name, len(data), partial(io.BytesIO, data))
        probe.feed(data)
        expected.append(probe.finish())
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_identify_in_worker, [(pickle.dumps(identifier), items)] * 2))
    for _, facts in results:
        assert facts == expected


@pytest.fixture(scope="module")
def fido_engine() -> Iterator[Any]:
    from fido.fido import Fido

    files = FidoIdentifier().files
    saved = re._MAXCACHE  # type: ignore[attr-defined]
    try:
        yield Fido(quiet=True, conf_dir=files.conf_dir, format_files=[files.pronom, files.extensions])
    finally:
        re._MAXCACHE = saved  # type: ignore[attr-defined]


@pytest.mark.slow
def test_matcher_equals_fido_on_buffers_built_from_every_signature(fido_engine: Any) -> None:
    index = SignatureIndex(fido_engine.formats)
    items = corpus(fido_engine) + synthesised(fido_engine, sample=1, seed=99)
    for data in items:
        bof, eof = buffers(data)
        assert our_result(index, bof, eof) == fido_result(fido_engine, bof, eof), data[:64]
