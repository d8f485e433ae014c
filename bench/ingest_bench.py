"""Ingest benchmark: oais against the references, on the same data, in the same run.

Run: ``.venv/bin/python bench/ingest_bench.py [--only big|small20k|small100k] [--work DIR]``

Scenarios (issue 2):

1. ``big``: 8 files of 256 MiB. The physical limit is the slower of two references timed in the same
   run on the same files: ``openssl dgst -sha256`` in 2 parallel processes (reading and hashing) and
   ``cp -r`` into the store's file system followed by ``sync`` (writing durably). Reported:
   oais throughput / limit throughput (goal: at least 0.8).
2. ``small20k`` (20,000 files of 1-64 KiB) and ``small100k`` (100,000 files of 1 KiB): the reference is
   what a user would otherwise run: bagit-python ``make_bag(processes=2)`` on a copy of the folder,
   then the ``fido`` command over the bag. Reported: reference time / oais time (goal: at least 1.5).
3. Peak memory of the 100,000-file ingest: the largest resident set of any one process and the
   largest sum of proportional set sizes over the process tree (workers are forked and share pages
   with the parent; PSS counts a shared page once), sampled every 50 ms; goal under 500 MiB.

The page cache is warmed before each timing (the files are read once); copies are removed and
``sync`` is run between timings so that one run's write-back does not land in another's time.
Ratios, not seconds, are what to compare: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
MiB = 1 << 20


def sh(cmd: list[str] | str, **kw: object) -> None:
    subprocess.run(cmd, check=True, shell=isinstance(cmd, str), **kw)  # type: ignore[call-overload]


def timed(fn: Callable[[], object]) -> float:
    sh("sync")
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def warm(folder: Path) -> None:
    for root, _, names in os.walk(folder):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                while f.read(8 * MiB):
                    pass


def make_big(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(16 * MiB)
    for i in range(8):
        path = folder / f"cube_{i:02d}.fits.raw"
        if path.exists() and path.stat().st_size == 256 * MiB:
            continue
        with open(path, "wb") as f:
            for j in range(16):
                # Differ per file and block so that no two blocks are equal.
                f.write(bytes([i, j]) + block[2:])


def make_small(folder: Path, count: int, sizes: tuple[int, int]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(count)
    kinds = ["txt", "csv", "dat", "fits"]
    for i in range(count):
        sub = folder / f"orbit_{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        size = rng.randint(*sizes)
        kind = kinds[i % 4]
        if kind == "txt":
            data = (f"observation {i} notes\n" * (size // 20 + 1)).encode()[:size]
        elif kind == "csv":
            data = ("t,value\n" + "".join(f"{t},{t * 0.5}\n" for t in range(size // 8 + 1))).encode()[:size]
        elif kind == "fits" and size >= 2 * 2880:
            data = small_fits(rng, size)
        elif kind == "fits":  # too small to be a FITS file (2880-byte blocks): an XML label instead
            kind = "xml"
            data = (f"<obs id='{i}'/>\n" * (size // 14 + 1)).encode()[:size]
        else:
            data = rng.randbytes(size)
        (sub / f"f{i:06d}.{kind}").write_bytes(data)
    # The completion marker sits beside the SIP, not in it.
    (folder.parent / f"{folder.name}.complete").write_text("ok")


def small_fits(rng: random.Random, size: int) -> bytes:
    """A valid FITS file (a 1-D byte image) of about ``size`` bytes (FITS files are 2880-byte blocks)."""
    n = size - 2880
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                    8",
        "NAXIS   =                    1",
        f"NAXIS1  = {n:>20}",
        "END",
    ]
    header = "".join(c.ljust(80) for c in cards).ljust(2880).encode("ascii")
    data = rng.randbytes(n)
    return header + data + b"\0" * (-n % 2880)


def small_ready(folder: Path) -> bool:
    return (folder.parent / f"{folder.name}.complete").exists()


def _proc_kib(pid: int, name: str, key: str) -> int:
    """A ``key: N kB`` figure from ``/proc/<pid>/<name>`` (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/{name}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakMemory:
    """Samples the memory of a process tree: the largest resident set of one process, and the
    largest sum of proportional set sizes over the tree (shared pages counted once)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_single = 0
        self.max_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            pids.append(p)
            try:
                for t in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{t}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return pids

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for p in self._tree():
                rss = _proc_kib(p, "status", "VmRSS:")
                self.max_single = max(self.max_single, rss)
                # Proportional set size: pages shared between the forked workers count once overall.
                total += _proc_kib(p, "smaps_rollup", "Pss:")
            self.max_total = max(self.max_total, total)
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def oais_ingest(sip: Path, home: Path, measure_memory: bool = False) -> tuple[float, dict[str, object]]:
    shutil.rmtree(home, ignore_errors=True)
    env = dict(os.environ, OAIS_HOME=str(home))
    sh("sync")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(VENV_BIN / "oais"), "ingest", str(sip), "--producer", "bench", "--title", sip.name, "--json"],
        env=env,
        stdout=subprocess.PIPE,
    )
    mem = PeakMemory(proc.pid) if measure_memory else None
    stdout, _ = proc.communicate()
    elapsed = time.perf_counter() - start
    if mem:
        mem.stop()
    if proc.returncode != 0:
        raise SystemExit(f"oais ingest failed ({proc.returncode}): {stdout.decode()[:2000]}")
    result = json.loads(stdout)
    if mem:
        result["peak_rss_single_mib"] = mem.max_single / 1024
        result["peak_pss_tree_mib"] = mem.max_total / 1024
    return elapsed, result


def bench_big(work: Path) -> dict[str, float]:
    src = work / "big"
    make_big(src)
    warm(src)
    files = sorted(str(p) for p in src.iterdir())
    total = sum(os.path.getsize(f) for f in files)

    t_openssl = timed(
        lambda: sh(f"printf '%s\\n' {' '.join(files)} | xargs -P2 -n4 openssl dgst -sha256 >/dev/null")
    )
    dest = work / "cp-copy"
    shutil.rmtree(dest, ignore_errors=True)
    t_cp = timed(lambda: sh(["bash", "-c", f"cp -r '{src}' '{dest}' && sync"]))
    shutil.rmtree(dest, ignore_errors=True)
    sh("sync")
    warm(src)
    t_oais, result = oais_ingest(src, work / "home-big")
    assert result["bytes"] == total, result
    shutil.rmtree(work / "home-big", ignore_errors=True)
    limit = max(t_openssl, t_cp)
    out = {
        "bytes": total,
        "openssl_2proc_s": t_openssl,
        "cp_sync_s": t_cp,
        "oais_s": t_oais,
        "limit_mb_s": total / limit / 1e6,
        "oais_mb_s": total / t_oais / 1e6,
        "ratio_oais_to_limit": limit / t_oais,
    }
    return out


def bench_small(work: Path, name: str, count: int, sizes: tuple[int, int], memory: bool) -> dict[str, float]:
    src = work / name
    if not small_ready(src):
        make_small(src, count, sizes)
    warm(src)
    bag = work / f"{name}-bagit"

    # Not timed: the copy a user makes so that make_bag does not rewrite the original in place.
    shutil.rmtree(bag, ignore_errors=True)
    sh(["cp", "-r", str(src), str(bag)])
    sh("sync")
    warm(bag)
    code = "import bagit, sys; bagit.make_bag(sys.argv[1], processes=2, checksums=['sha256'])"
    t_make_bag = timed(lambda: sh([str(VENV_BIN / "python"), "-c", code, str(bag)]))
    t_fido = timed(lambda: sh(f"'{VENV_BIN / 'fido'}' -q -recurse '{bag}' >/dev/null 2>&1"))
    shutil.rmtree(bag, ignore_errors=True)
    sh("sync")
    warm(src)
    t_oais, result = oais_ingest(src, work / f"home-{name}", measure_memory=memory)
    assert result["files"] == count, result
    shutil.rmtree(work / f"home-{name}", ignore_errors=True)
    ref = t_make_bag + t_fido
    out: dict[str, float] = {
        "files": count,
        "bagit_make_bag_s": t_make_bag,
        "fido_s": t_fido,
        "reference_s": ref,
        "oais_s": t_oais,
        "speedup_oais_vs_reference": ref / t_oais,
    }
    for key in ("peak_rss_single_mib", "peak_pss_tree_mib"):
        if key in result:
            out[key] = float(result[key])  # type: ignore[arg-type]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--only", choices=["big", "small20k", "small100k"], action="append")
    args = parser.parse_args()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    chosen = args.only or ["big", "small20k", "small100k"]
    results: dict[str, dict[str, float]] = {}
    if "big" in chosen:
        results["big"] = bench_big(work)
        print(json.dumps({"big": results["big"]}, indent=2), flush=True)
    if "small20k" in chosen:
        results["small20k"] = bench_small(work, "small20k", 20_000, (1024, 64 * 1024), memory=False)
        print(json.dumps({"small20k": results["small20k"]}, indent=2), flush=True)
    if "small100k" in chosen:
        results["small100k"] = bench_small(work, "small100k", 100_000, (1024, 1024), memory=True)
        print(json.dumps({"small100k": results["small100k"]}, indent=2), flush=True)
    print("\nsummary (ratios; goals in parentheses)")
    if "big" in results:
        ratio = results["big"]["ratio_oais_to_limit"]
        print(f"  big       oais / physical limit throughput: {ratio:.2f} (>= 0.8)")
    for key in ("small20k", "small100k"):
        if key in results:
            speedup = results[key]["speedup_oais_vs_reference"]
            print(f"  {key:<9} reference time / oais time:       {speedup:.2f} (>= 1.5)")
    if "small100k" in results:
        r = results["small100k"]
        print(
            f"  small100k peak memory: {r['peak_rss_single_mib']:.0f} MiB in one process, "
            f"{r['peak_pss_tree_mib']:.0f} MiB over the process tree (PSS) (< 500 MiB)"
        )


if __name__ == "__main__":
    main()
