"""A 100,000-file SIP must not need 100,000 files' worth of memory to describe, read or validate.

Python allocations are measured with tracemalloc for 1,000 and then 10,000 files: if anything kept
a per-file trace (a list of models, element proxies) the peak would grow tenfold. tracemalloc does
not see libxml2's own (C) memory, so the parsed tree is watched through the resident set size too:
a tree whose read elements are not freed grows by over 100 bytes per file.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oais.adapters.premis import PremisXmlCodec, default_schema_dir
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome

pytestmark = pytest.mark.slow

SMALL, LARGE = 500, 5_000
#: Peak allowance, whatever the number of files (the measured peaks are about 30 kB and 90 kB).
BOUND = 512 * 1024

AIP = Aip(aip_id="big", title="many files", producer="IAS", created=datetime(2024, 1, 1, tzinfo=UTC))
FMT = FormatFacts(
    puid="fmt/14", name="FITS", version="3.0", mime_type="application/fits", basis="signature", tool="fido"
)
AGENT = Agent(identifier="software:oais/0.1.0", name="oais", type=AgentType.SOFTWARE, version="0.1.0")
EVENT = Event(
    identifier="urn:uuid:00000000-0000-4000-8000-000000000000",
    type=EventType.INGESTION,
    date_time=datetime(2024, 1, 1, tzinfo=UTC),
    detail="ingest",
    outcome=Outcome.SUCCESS,
    outcome_detail="ok",
    agents=(AgentLink(agent=AGENT.identifier, role=AgentRole.EXECUTING_PROGRAM),),
)


def _entries(count: int) -> Iterator[FileEntry]:
    for i in range(count):
        yield FileEntry(
            path=f"dir{i % 97}/observation-{i:06d}.fits",
            size=2880 * i,
            digests={DigestAlgorithm.SHA256: f"{i:064x}", DigestAlgorithm.XXH3_128: f"{i:032x}"},
            format=FMT,
        )


def _peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


def _write(codec: PremisXmlCodec, path: Path, count: int) -> None:
    with codec.writer(path, AIP, 1, "big/v1") as doc:
        for entry in _entries(count):
            doc.add_file(entry)
        doc.add_events([EVENT])
        doc.add_agents([AGENT])


@pytest.fixture(scope="module")
def codec() -> PremisXmlCodec:
    return PremisXmlCodec(default_schema_dir())


@pytest.fixture(scope="module")
def documents(codec: PremisXmlCodec, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("premis-memory")
    paths = {count: folder / f"premis-{count}.xml" for count in (SMALL, LARGE)}
    for count, path in paths.items():
        _write(codec, path, count)
    return paths


def _assert_bounded(small: int, large: int) -> None:
    assert large < BOUND, f"peak {large} bytes for {LARGE} files"
    # Ten times the files may not cost anywhere near ten times the memory.
    assert large < 2 * small + 64 * 1024, f"peak grew from {small} to {large} bytes"


def test_writing_memory_does_not_grow_with_files(codec: PremisXmlCodec, tmp_path: Path) -> None:
    small = _peak(lambda: _write(codec, tmp_path / "small.xml", SMALL))
    large = _peak(lambda: _write(codec, tmp_path / "large.xml", LARGE))

    _assert_bounded(small, large)


def test_reading_memory_does_not_grow_with_files(codec: PremisXmlCodec, documents: dict[int, Path]) -> None:
    counts: dict[int, int] = {}

    def count(n: int) -> None:
        counts[n] = sum(1 for entity in codec.iter_entities(documents[n]) if isinstance(entity, FileEntry))

    small = _peak(lambda: count(SMALL))
    large = _peak(lambda: count(LARGE))

    assert counts == {SMALL: SMALL, LARGE: LARGE}
    _assert_bounded(small, large)


def test_validation_memory_does_not_grow_with_files(
    codec: PremisXmlCodec, documents: dict[int, Path]
) -> None:
    codec.validate(documents[SMALL])  # load the schema outside the measurement
    results: dict[int, list[str]] = {}

    small = _peak(lambda: results.setdefault(SMALL, codec.validate(documents[SMALL])))
    large = _peak(lambda: results.setdefault(LARGE, codec.validate(documents[LARGE])))

    assert results == {SMALL: [], LARGE: []}
    _assert_bounded(small, large)


def test_last_file_of_a_large_document_reads_back(codec: PremisXmlCodec, documents: dict[int, Path]) -> None:
    files, events, agents = codec.read(documents[LARGE])

    assert files[-1] == list(_entries(LARGE))[-1]
    assert (events, agents) == ([EVENT], [AGENT])


def _resident() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_parsed_tree_does_not_grow_while_streaming(codec: PremisXmlCodec, documents: dict[int, Path]) -> None:
    # The reader and the validator share one parse loop (oais.adapters.premis.stream).
    samples: list[int] = []
    for index, _ in enumerate(codec.iter_entities(documents[LARGE])):
        if index % 1000 == 500:
            samples.append(_resident())

    assert len(samples) == LARGE // 1000
    assert samples[-1] - samples[0] < 256 * 1024, [s - samples[0] for s in samples]


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_writer_keeps_nothing_per_file(codec: PremisXmlCodec, tmp_path: Path) -> None:
    samples: list[int] = []
    with codec.writer(tmp_path / "premis.xml", AIP, 1, "big/v1") as doc:
        for index, entry in enumerate(_entries(LARGE)):
            doc.add_file(entry)
            if index % 1000 == 500:
                samples.append(_resident())
        doc.add_agents([])

    assert samples[-1] - samples[0] < 256 * 1024, [s - samples[0] for s in samples]
