"""DIP benchmark: memory and speed of ``oais dip`` (the service, in process) for one large file.

For each size and destination (folder, zip, tar), in the same run:
- the peak of Python's allocations while the DIP is made (tracemalloc): it must not grow with the
  file's size (streaming);
- the time, as a ratio to the tool that moves the same bytes the same way: ``cp`` of the stored file
  for a folder, ``gzip -6`` of it for a zip (both deflate), ``tar -cf`` of it for a tar. The DIP also
  checks the sha256 of record and computes sha256 and sha512 for its manifests, which the
  references do not.

Run: ``.venv/bin/python bench/dip_bench.py [SIZE_MIB ...]`` (default 256 1024). Prints JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import _common  # noqa: F401  (puts this checkout on sys.path)

from oais.bootstrap import build, dip_service, dip_sink
from oais.config import load_settings
from oais.domain.dip import DipPurpose, DipRequest


def main(sizes: list[int]) -> None:
    results = []
    for size in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="oais-dip-bench-"))
        try:
            sip = tmp / "sip"
            sip.mkdir()
            with open(sip / "big.dat", "wb") as f:
                for _ in range(size):
                    f.write(os.urandom(1 << 20))
            services = build(load_settings({"OAIS_HOME": str(tmp / "home")}))
            try:
                aip = services.ingest.ingest(sip, producer="bench", title="bench").aip_id
                stored = next((tmp / "home" / "store" / "aips").glob("*/v1/data/objects/big.dat"))
                service = dip_service(services)
                ref = tmp / "reference"
                references = {
                    "dip": f"cp {stored} {ref}",
                    "dip.zip": f"gzip -6 -c {stored} > {ref}",  # zip deflates, as gzip does
                    "dip.tar": f"tar -cf {ref} -C {stored.parent} {stored.name}",
                }
                for dest, reference in references.items():
                    started = time.perf_counter()
                    subprocess.run(reference, shell=True, check=True)
                    ref_seconds = time.perf_counter() - started
                    ref.unlink()
                    tracemalloc.start()
                    started = time.perf_counter()
                    service.generate(
                        DipRequest(aip_id=aip, purpose=DipPurpose.ORIGINAL, requester="bench"),
                        dip_sink(str(tmp / dest), services.settings),
                    )
                    seconds = time.perf_counter() - started
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                    results.append(
                        {
                            "size_mib": size,
                            "destination": dest,
                            "reference": reference.split()[0],
                            "peak_mib": round(peak / (1 << 20), 2),
                            "ratio_to_reference": round(seconds / ref_seconds, 2),
                        }
                    )
                    shutil.rmtree(tmp / dest, ignore_errors=True)
                    (tmp / dest).unlink(missing_ok=True)
            finally:
                services.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"results": results}, indent=2))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [256, 1024])
