"""Large DIPs are streamed: the memory a DIP takes does not grow with the size of its files.

A 96 MiB file goes into a folder, a zip and a tar DIP, and Python's allocations are measured with
tracemalloc while the DIP is made (reading from storage, hashing, writing): the peak must stay a small
fraction of the file's size. Reading the file whole anywhere on the way would show as a peak of at
least 96 MiB.
"""

from __future__ import annotations

import os
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import bagit
import pytest

from oais.bootstrap import Services, build, dip_service, dip_sink
from oais.config import load_settings
from oais.domain.dip import DipPurpose, DipRequest

pytestmark = [pytest.mark.slow]

SIZE = 96 << 20


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build(load_settings({"OAIS_HOME": str(tmp_path / "home"), "OAIS_WORKERS": "2"}))
    try:
        yield built
    finally:
        built.close()


@pytest.mark.parametrize("dest", ["dip", "dip.zip", "dip.tar"])
def test_a_dip_of_a_large_file_takes_little_memory(services: Services, tmp_path: Path, dest: str) -> None:
    sip = tmp_path / "sip"
    sip.mkdir()
    with open(sip / "big.dat", "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(os.urandom(1 << 20))
    (sip / "small.txt").write_text("small\n")
    result = services.ingest.ingest(sip, producer="IAS / OMEGA team", title="large file")
    service = dip_service(services)
    request = DipRequest(aip_id=result.aip_id, purpose=DipPurpose.ORIGINAL, requester="test")
    out = tmp_path / dest

    tracemalloc.start()
    try:
        made = service.generate(request, dip_sink(str(out), services.settings))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert made.bytes == SIZE + len("small\n")
    assert peak < 16 << 20, f"peak {peak >> 20} MiB for a {SIZE >> 20} MiB file"
    if dest == "dip.zip":
        with zipfile.ZipFile(out) as z:
            z.extractall(tmp_path / "unzipped")
        out = tmp_path / "unzipped" / "dip"
    elif dest == "dip.tar":
        import tarfile

        with tarfile.open(out) as t:
            t.extractall(tmp_path / "untarred", filter="data")
        out = tmp_path / "untarred" / "dip"
    bagit.Bag(str(out)).validate()
    assert (out / "data" / "big.dat").stat().st_size == SIZE
