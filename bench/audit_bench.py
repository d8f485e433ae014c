"""Fixity audit benchmark: oais's audit against a plain reference, on the same stored objects, in the
same run.

Run: ``bash ops/bench-audit.sh`` (installs what is needed, starts a private Ceph RGW, runs this, purges
it), or ``.venv/bin/python bench/audit_bench.py [--only N ...] [--quick] [--rounds R] [--work DIR]``
with ``OAIS_TEST_S3_ENDPOINT``, ``OAIS_TEST_S3_ACCESS_KEY`` and ``OAIS_TEST_S3_SECRET_KEY`` naming an
RGW for scenario 3 (without them it is skipped) and ``OAIS_BENCH_POSTGRES_URL`` a PostgreSQL role that
may create databases for scenario 4 (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).

Every audit runs with 2 worker processes (``--workers 2``), a read budget that never binds
(``--budget 100000000000``) and ``--all``, so that each repetition re-reads everything. The stored files
are read once before each timing (warm page cache). Each round times oais and its reference in an order
that alternates from round to round; the ratios are medians over the rounds (5, or 3 with ``--quick``).
Ratio = oais throughput / reference throughput (reference time / oais time): above 1, oais is faster.

1. **Local, 2 GiB in 8 files** (ingested with ``oais ingest``). Deep audit (sha256) against
   ``openssl dgst -sha256`` over the 8 stored files in 2 processes (``xargs -P2 -n4``); goal at least 0.9.
   Quick audit (xxh3_128) against the deep audit; goal at least 5 (times faster). Each audit is timed
   three ways: the service call with a new pool (what ``oais audit run`` does once Python is up: the
   pool's worker processes start inside the timing; the fork server they are forked from is shared by
   every pool of a process and already runs, where the command starts its own), the service call on a
   pool already running (a daemon's tick), and the whole ``oais audit run`` command.
2. **Local, 100,000 files of 1 KiB** (one AIP). Deep audit, outcomes recorded in the SQLite catalog,
   against a plain script: walk the version's directory, then ``hashlib.file_digest`` of every file
   (sha256), spread over a ``multiprocessing.Pool(2)`` in chunks of 2,000. Both read the same objects
   (the payload and the version's tag and metadata files). Goal at least 0.8. The service calls are
   compared with the script's own timing, the command with the script's whole run.
3. **S3 on Ceph RGW**: 1 GiB in 16 objects and 2,000 objects of 64 KiB, each in its own location (two
   key prefixes of one bucket), ingested with ``oais ingest``. Deep audit of the location against plain
   boto3 ``get_object`` of the same objects, streamed and discarded, with the audit's concurrency (2
   workers x the location's 4 GETs in flight = 8 threads). Goal at least 0.8. In the same rounds,
   the same reads hashed with sha256 (no goal): RGW shares the cores with the reader and the
   reference does not hash, so that ratio is about the most a hashing audit can reach here.
4. **Choosing the next slices** in a PostgreSQL catalog of 10 million file copies (1,000,000 versions
   of 10 files at one location, filled with ``generate_series`` in a throw-away database):
   ``SqlAuditLedger.claim`` (16 slices) then ``release``, many times, in several states of the
   schedule; median and 95th percentile in ms, goal under 50 ms; the ``EXPLAIN (ANALYZE, BUFFERS)`` of
   the claim's SELECT. Then the worst case: 10 million slices of one file each. ``--quick``: 1 million
   file copies and no worst case.

The work directory (default: a temporary one under /var/tmp), the bucket and the database are deleted
at the end, also when the run fails. Results go to ``bench/out/audit-<time>.json``.

When Python runs without writing bytecode (``PYTHONDONTWRITEBYTECODE`` or ``-B``), every process would
compile oais anew, which an installed deployment never does: the benchmark then restarts itself with a
private bytecode cache (removed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_PG,
    REPO,
    VENV_BIN,
    MiB,
    host,
    indexes_dropped,
    own_bytecode_cache,
    throwaway_postgres,
)

OUT = REPO / "bench" / "out"
WORKERS = 2
BUDGET = 100_000_000_000  # bytes per second: never the limit here


# -- small helpers ----------------------------------------------------------------------------------


def warm(folder: Path) -> None:
    """Read every file under ``folder`` once, so that timings start from a warm page cache."""
    for root, _, names in os.walk(folder):
        for n in names:
            with open(os.path.join(root, n), "rb", buffering=0) as f:
                while f.read(8 * MiB):
                    pass


def files_under(folder: Path) -> list[Path]:
    return sorted(Path(root, n) for root, _, names in os.walk(folder) for n in names)


def oais_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``oais`` command on a private home (no OAIS_* of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
    env.update(OAIS_HOME=str(home), OAIS_WORKERS=str(WORKERS), **extra)
    # The command runs the code of this checkout, as the service calls in this process do.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def oais(env: dict[str, str], *args: str) -> tuple[float, dict[str, Any]]:
    """Run ``oais ARGS --json``: (wall seconds, its JSON)."""
    start = time.perf_counter()
    proc = subprocess.run([str(VENV_BIN / "oais"), *args, "--json"], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"bench: oais {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    result: dict[str, Any] = json.loads(proc.stdout)
    return elapsed, result


def ingest(env: dict[str, str], sip: Path, title: str) -> dict[str, Any]:
    start = time.perf_counter()
    _, result = oais(env, "ingest", str(sip), "--producer", "bench", "--title", title)
    print(
        f"  ingested {title}: {result['files']} files, {result['bytes'] / MiB:.0f} MiB "
        f"in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Row:
    """One line of the summary: oais against a reference (or deep against quick)."""

    scenario: str
    measure: str
    oais_s: list[float]
    reference_s: list[float]
    reference: str
    #: None: not a goal of oais, a figure that shows what the machine allows (a ceiling).
    goal: float | None

    @property
    def ratios(self) -> list[float]:
        return [r / o for o, r in zip(self.oais_s, self.reference_s, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    def met(self) -> bool | None:
        return None if self.goal is None else self.ratio >= self.goal

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "measure": self.measure,
            "reference": self.reference,
            "oais_s": self.oais_s,
            "reference_s": self.reference_s,
            "ratios": self.ratios,
            "median_ratio": self.ratio,
            "goal": self.goal,
            "met": self.met(),
        }


@dataclass
class Bench:
    work: Path
    rounds: int
    quick: bool
    rows: list[Row] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def rounds_of(self, steps: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
        """Time every step once per round, in an order that alternates from round to round."""
        times: dict[str, list[float]] = {name: [] for name in steps}
        names = list(steps)
        for n in range(self.rounds):
            order = names if n % 2 == 0 else list(reversed(names))
            for name in order:
                times[name].append(steps[name]())
            print(f"  round {n + 1}: " + ", ".join(f"{k} {times[k][-1]:.2f} s" for k in names), flush=True)
        return times


# -- the service, in this process ------------------------------------------------------------------


def service_for(env: dict[str, str]) -> Any:
    from oais.bootstrap import audit_service
    from oais.config import load_settings

    return audit_service(load_settings(env))


def run_audit(
    service: Any,
    *,
    deep: bool,
    location: str,
    files: int,
    pool: Executor | None = None,
) -> float:
    """One ``--all`` audit of ``location`` through the service: seconds. With no pool, a new one is
    opened (and its processes started) inside the timing, as ``oais audit run`` does."""
    from oais.adapters.executors import open_executor

    start = time.perf_counter()
    if pool is None:
        with open_executor("process", WORKERS) as fresh:
            report = service.run(fresh, WORKERS, location=location, deep=deep, everything=True, budget=BUDGET)
    else:
        report = service.run(pool, WORKERS, location=location, deep=deep, everything=True, budget=BUDGET)
    elapsed = time.perf_counter() - start
    modes = {s.mode.value for s in report.slices}
    want = "deep" if deep else "quick"
    trouble = report.unaudited + report.problems
    if report.failed or trouble or report.unexpected or report.files != files or modes != {want}:
        raise SystemExit(
            f"bench: audit of '{location}' not as expected: {report.files} of {files} objects, modes "
            f"{sorted(modes)}, failed {len(report.failed)}, problems {trouble}, "
            f"unexpected {len(report.unexpected)}"
        )
    return elapsed


def cli_audit(env: dict[str, str], *, deep: bool, location: str, files: int) -> float:
    args = [
        "audit",
        "run",
        "--all",
        "--location",
        location,
        "--budget",
        str(BUDGET),
        "--workers",
        str(WORKERS),
    ]
    elapsed, result = oais(env, *args, *(["--deep"] if deep else []))
    if not result["ok"] or result["files"] != files:
        raise SystemExit(f"bench: oais audit run: {result}")
    return elapsed


@contextlib.contextmanager
def running_pool(warm_up: Callable[[Executor], object]) -> Iterator[Executor]:
    """A pool kept across rounds, its processes started and its modules loaded by ``warm_up``."""
    from oais.adapters.executors import open_executor

    with open_executor("process", WORKERS) as pool:
        warm_up(pool)
        yield pool


# -- 1. local, 2 GiB in 8 files --------------------------------------------------------------------


def make_big(folder: Path, count: int = 8, size: int = 256 * MiB) -> None:
    folder.mkdir(parents=True)
    block = os.urandom(16 * MiB)
    for i in range(count):
        with open(folder / f"cube_{i:02d}.raw", "wb") as f:
            for j in range(size // len(block)):
                f.write(bytes([i, j]) + block[2:])  # no two blocks alike


def bench_local_big(b: Bench) -> None:
    name = "1 local, 8 x 256 MiB"
    print(f"\n{name}", flush=True)
    work = b.work / "big"
    sip, home = work / "sip", work / "home"
    make_big(sip)
    env = oais_env(home)
    result = ingest(env, sip, "big")
    shutil.rmtree(sip)
    version = Path(result["bag_path"])
    payload = sorted((version / "data" / "objects").iterdir())
    objects = len(files_under(version))
    stored = sum(p.stat().st_size for p in payload)
    listing = "\n".join(str(p) for p in payload)

    service = service_for(env)
    run_audit(service, deep=True, location="local", files=objects)  # slices, bytecode, catalog warm

    def openssl() -> float:
        warm(version)
        start = time.perf_counter()
        subprocess.run(
            "xargs -P2 -n4 openssl dgst -sha256 >/dev/null", shell=True, check=True, input=listing, text=True
        )
        return time.perf_counter() - start

    def audit(deep: bool, how: str, pool: Executor | None = None) -> Callable[[], float]:
        def run() -> float:
            warm(version)
            if how == "cli":
                return cli_audit(env, deep=deep, location="local", files=objects)
            return run_audit(service, deep=deep, location="local", files=objects, pool=pool)

        return run

    with running_pool(
        lambda p: run_audit(service, deep=True, location="local", files=objects, pool=p)
    ) as pool:
        times = b.rounds_of(
            {
                "openssl": openssl,
                "deep new pool": audit(True, "service"),
                "deep running pool": audit(True, "service", pool),
                "deep cli": audit(True, "cli"),
                "quick new pool": audit(False, "service"),
                "quick running pool": audit(False, "service", pool),
                "quick cli": audit(False, "cli"),
            }
        )
    ref = "openssl dgst -sha256, 2 processes"
    for how, label in (
        ("new pool", "service call, new pool"),
        ("running pool", "service call, pool running"),
        ("cli", "oais audit run (whole command)"),
    ):
        b.rows.append(Row(name, f"deep: {label}", times[f"deep {how}"], times["openssl"], ref, 0.9))
        b.rows.append(
            Row(
                name,
                f"quick: {label}",
                times[f"quick {how}"],
                times[f"deep {how}"],
                "the same deep audit",
                5.0,
            )
        )
    b.results["local_big"] = {"bytes": stored, "objects": objects, "times_s": times}
    shutil.rmtree(work)


# -- 2. local, 100,000 files of 1 KiB --------------------------------------------------------------

#: The reference: a plain script that a user would write (run as its own process).
REFERENCE_LOOP = r"""
import hashlib, json, os, sys, time
from multiprocessing import Pool

def hash_chunk(paths):
    done = 0
    for path in paths:
        with open(path, "rb") as f:
            hashlib.file_digest(f, "sha256").hexdigest()
        done += 1
    return done

if __name__ == "__main__":
    start = time.perf_counter()
    paths = [os.path.join(r, n) for r, _, names in os.walk(sys.argv[1]) for n in names]
    chunks = [paths[i : i + 2000] for i in range(0, len(paths), 2000)]
    with Pool(2) as pool:
        done = sum(pool.imap_unordered(hash_chunk, chunks))
    print(json.dumps({"files": done, "seconds": time.perf_counter() - start}))
"""


def make_small(folder: Path, count: int, size: int) -> None:
    for i in range(count):
        sub = folder / f"orbit_{i // 1000:04d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        (sub / f"f{i:06d}.dat").write_bytes(os.urandom(size))


def bench_local_small(b: Bench) -> None:
    name = "2 local, 100,000 x 1 KiB"
    print(f"\n{name}", flush=True)
    work = b.work / "small"
    sip, home = work / "sip", work / "home"
    make_small(sip, 100_000, 1024)
    env = oais_env(home)
    result = ingest(env, sip, "small")
    shutil.rmtree(sip)
    version = Path(result["bag_path"])
    objects = len(files_under(version))
    script = work / "reference.py"
    script.write_text(REFERENCE_LOOP)

    service = service_for(env)
    run_audit(service, deep=True, location="local", files=objects)
    reference_wall: list[float] = []

    def reference() -> float:
        warm(version)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(script), str(version)], check=True, capture_output=True, text=True
        )
        reference_wall.append(time.perf_counter() - start)
        got = json.loads(proc.stdout)
        if got["files"] != objects:
            raise SystemExit(f"bench: the reference read {got['files']} files, the audit {objects}")
        return float(got["seconds"])

    def audit(how: str, pool: Executor | None = None) -> Callable[[], float]:
        def run() -> float:
            warm(version)
            if how == "cli":
                return cli_audit(env, deep=True, location="local", files=objects)
            return run_audit(service, deep=True, location="local", files=objects, pool=pool)

        return run

    with running_pool(
        lambda p: run_audit(service, deep=True, location="local", files=objects, pool=p)
    ) as pool:
        times = b.rounds_of(
            {
                "reference": reference,
                "deep new pool": audit("service"),
                "deep running pool": audit("service", pool),
                "deep cli": audit("cli"),
            }
        )
    ref = "Pool(2) + hashlib, timed inside the script"
    b.rows.append(
        Row(name, "deep: service call, new pool", times["deep new pool"], times["reference"], ref, 0.8)
    )
    b.rows.append(
        Row(
            name, "deep: service call, pool running", times["deep running pool"], times["reference"], ref, 0.8
        )
    )
    b.rows.append(
        Row(
            name,
            "deep: oais audit run (whole command)",
            times["deep cli"],
            reference_wall,
            "the same script, whole process",
            0.8,
        )
    )
    b.results["local_small"] = {
        "objects": objects,
        "bytes": sum(p.stat().st_size for p in files_under(version)),
        "times_s": times,
        "reference_wall_s": reference_wall,
    }
    shutil.rmtree(work)


# -- 3. S3 on Ceph RGW -----------------------------------------------------------------------------

S3_CONCURRENCY = 4  # the location's default GETs in flight per worker (config.S3Location.concurrency)
S3_LOCATIONS = ("ceph-big", "ceph-small")


def s3_credentials() -> dict[str, str]:
    """The benchmark's S3 locations' credentials, as ``oais`` reads them from the environment."""
    out: dict[str, str] = {}
    if "OAIS_TEST_S3_ACCESS_KEY" in os.environ:
        for loc in S3_LOCATIONS:
            var = f"OAIS_LOCATION_{loc.upper().replace('-', '_')}"
            out[f"{var}_ACCESS_KEY_ID"] = os.environ["OAIS_TEST_S3_ACCESS_KEY"]
            out[f"{var}_SECRET_ACCESS_KEY"] = os.environ.get("OAIS_TEST_S3_SECRET_KEY", "")
    return out


def _s3_client(endpoint: str, key: str, secret: str, pool: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=pool,
        ),
    )


def _empty_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            client.delete_objects(
                Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True}
            )
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def bench_s3(b: Bench) -> None:
    name = "3 S3 (Ceph RGW)"
    print(f"\n{name}", flush=True)
    try:
        endpoint, key, secret = (
            os.environ["OAIS_TEST_S3_ENDPOINT"],
            os.environ["OAIS_TEST_S3_ACCESS_KEY"],
            os.environ["OAIS_TEST_S3_SECRET_KEY"],
        )
    except KeyError:
        print("  skipped: set OAIS_TEST_S3_* (or run bash ops/bench-audit.sh, which starts an RGW)")
        b.results["s3"] = {"skipped": "no OAIS_TEST_S3_*"}
        return
    threads = WORKERS * S3_CONCURRENCY
    client = _s3_client(endpoint, key, secret, threads + 4)
    bucket = f"oais-audit-bench-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    work = b.work / "s3"
    try:
        sets = dict(zip(S3_LOCATIONS, (("big", 16, 64 * MiB), ("small", 2000, 64 << 10)), strict=True))
        policies = work / "policies"
        shutil.copytree(REPO / "policies", policies)
        config = work / "oais.toml"
        config.write_text(
            "".join(
                f'[locations.{loc}]\nkind = "s3"\nendpoint = "{endpoint}"\nbucket = "{bucket}"\n'
                f'prefix = "{prefix}/"\nconcurrency = {S3_CONCURRENCY}\n\n'
                for loc, (prefix, _, _) in sets.items()
            )
        )
        env = oais_env(
            work / "home", OAIS_CONFIG=str(config), OAIS_POLICIES=str(policies), **s3_credentials()
        )
        b.results["s3"] = {"bucket_objects": {}, "times_s": {}}
        for loc, (prefix, count, size) in sets.items():
            sip = work / f"sip-{prefix}"
            sip.mkdir(parents=True)
            for i in range(count):
                (sip / f"o{i:05d}.raw").write_bytes(os.urandom(size))
            # Each data set is ingested into its own location only.
            text = (REPO / "policies" / "storage.toml").read_text()
            lines = [
                f'locations = ["{loc}"]' if ln.startswith("locations =") else ln for ln in text.splitlines()
            ]
            (policies / "storage.toml").write_text("\n".join(lines) + "\n")
            ingest(env, sip, prefix)
            shutil.rmtree(sip)
        service = service_for(env)
        for loc, (prefix, count, size) in sets.items():
            keys = [
                (o["Key"], o["Size"])
                for page in client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=f"{prefix}/aips/"
                )
                for o in page.get("Contents", [])
            ]
            total = sum(s for _, s in keys)
            label = f"{count} x {size // 1024} KiB" if size < MiB else f"{count} x {size // MiB} MiB"
            print(f"  {loc}: {label}, {len(keys)} objects, {total / MiB:.0f} MiB", flush=True)
            run_audit(service, deep=True, location=loc, files=len(keys))

            def get(k: str, n: int, hashed: bool) -> None:
                body = client.get_object(Bucket=bucket, Key=k)["Body"]
                digest = hashlib.sha256() if hashed else None
                got = 0
                try:
                    while chunk := body.read(4 * MiB):
                        got += len(chunk)
                        if digest is not None:
                            digest.update(chunk)
                finally:
                    body.close()
                if got != n:
                    raise SystemExit(f"bench: {k}: {got} of {n} bytes")

            def reference(keys: list[tuple[str, int]] = keys, hashed: bool = False) -> float:
                start = time.perf_counter()
                with ThreadPoolExecutor(threads) as pool:
                    for f in [pool.submit(get, k, n, hashed) for k, n in keys]:
                        f.result()
                return time.perf_counter() - start

            def audit(
                pool: Executor | None = None, loc: str = loc, n: int = len(keys)
            ) -> Callable[[], float]:
                return lambda: run_audit(service, deep=True, location=loc, files=n, pool=pool)

            def warm_up(pool: Executor, loc: str = loc, n: int = len(keys)) -> None:
                run_audit(service, deep=True, location=loc, files=n, pool=pool)

            with running_pool(warm_up) as pool:
                times = b.rounds_of(
                    {
                        "boto3": reference,
                        "boto3 + sha256": lambda keys=keys: reference(keys, hashed=True),
                        "deep new pool": audit(),
                        "deep running pool": audit(pool),
                    }
                )
            ref = f"boto3 get_object, {threads} threads"
            b.rows.append(
                Row(
                    f"{name}, {label}",
                    "deep: service call, new pool",
                    times["deep new pool"],
                    times["boto3"],
                    ref,
                    0.8,
                )
            )
            b.rows.append(
                Row(
                    f"{name}, {label}",
                    "deep: service call, pool running",
                    times["deep running pool"],
                    times["boto3"],
                    ref,
                    0.8,
                )
            )
            # What hashing alone costs here: RGW shares the machine's cores with the reader, and the
            # reference does not hash. Its ratio is about the most a hashing audit can reach.
            b.rows.append(
                Row(
                    f"{name}, {label}",
                    "ceiling: the same boto3 reads + sha256",
                    times["boto3 + sha256"],
                    times["boto3"],
                    ref,
                    None,
                )
            )
            b.results["s3"]["bucket_objects"][loc] = {"objects": len(keys), "bytes": total}
            b.results["s3"]["times_s"][loc] = times
    finally:
        _empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)
        shutil.rmtree(work, ignore_errors=True)


# -- 4. choosing the next slices in PostgreSQL -----------------------------------------------------

FILE_SIZE = 1024
#: Time given to the claims of one state (at least 10 claims are timed).
CLAIM_SECONDS = 60.0


def _fill(engine: Any, versions: int, per: int) -> None:
    """aips, aip_versions, files and copies of ``versions`` versions of ``per`` files at 'local'."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(
            text(
                "INSERT INTO aips (id, title, producer, created) "
                "SELECT 'aip-' || g, 'bench', 'bench', now() FROM generate_series(1, :n) g"
            ),
            {"n": versions},
        )
        conn.execute(
            text(
                "INSERT INTO aip_versions (id, aip_id, version, created, files, bytes, "
                "payload_fingerprint, location) "
                "SELECT g, 'aip-' || g, 1, now(), :per, :per * :size, md5(g::text) || md5((-g)::text), "
                "'aips/aip-' || g || '/v1' FROM generate_series(1, :n) g"
            ),
            {"n": versions, "per": per, "size": FILE_SIZE},
        )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('aip_versions', 'id'), :n)"), {"n": versions})
        with indexes_dropped(conn, "files"):
            conn.execute(
                text(
                    "INSERT INTO files (id, version_id, path, size, sha256, xxh3_128, format_name, "
                    "format_mime, format_basis, format_tool, format_issues) "
                    "SELECT g, (g - 1) / :per + 1, 'f' || ((g - 1) % :per) || '.dat', :size, "
                    "md5(g::text) || md5((-g)::text), md5(g::text), 'data', 'application/octet-stream', "
                    "'bench', 'bench', '[]' FROM generate_series(1, :n * :per) g"
                ),
                {"n": versions, "per": per, "size": FILE_SIZE},
            )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('files', 'id'), :n)"), {"n": versions * per})
        conn.execute(
            text(
                "INSERT INTO copies (version_id, location, stored, verified, objects, bytes) "
                "SELECT g, 'local', now(), now(), :per + 5, :per * :size FROM generate_series(1, :n) g"
            ),
            {"n": versions, "per": per, "size": FILE_SIZE},
        )


def _fill_slices(engine: Any, versions: int, per: int, files_per_slice: int, never: bool) -> None:
    """Replace every slice: ``files_per_slice`` files each; verification times spread as in a schedule
    that runs (deep within the last 95 days, quick within the last 8: about 5% of slices due for a
    deep audit and 12% for a quick one), or, with ``never``, none verified yet."""
    from sqlalchemy import text

    from oais.adapters.catalog.rows import NEVER

    per_version = per // files_per_slice
    if never:
        times = "CAST(:never AS timestamptz) AS d, CAST(:never AS timestamptz) AS q"
    else:
        times = (
            "CAST(:now AS timestamptz) - random() * interval '95 days' AS d, "
            "CAST(:now AS timestamptz) - random() * interval '8 days' AS q"
        )
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(text("TRUNCATE audit_slices"))
        with indexes_dropped(conn, "audit_slices"):
            conn.execute(
                text(
                    "INSERT INTO audit_slices (id, version_id, location, number, first_file, last_file, "
                    "files, bytes, checked, deep_checked) "
                    "SELECT g, (g - 1) / :pv + 1, 'local', (g - 1) % :pv, (g - 1) * :fps + 1, g * :fps, "
                    f":fps, :fps * :size, greatest(d, q), d FROM (SELECT g, {times} "
                    "FROM generate_series(1, :slices) g) s"
                ),
                {
                    "pv": per_version,
                    "fps": files_per_slice,
                    "size": FILE_SIZE,
                    "slices": versions * per_version,
                    "now": datetime.now(UTC),
                    "never": NEVER,
                },
            )
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('audit_slices', 'id'), :n)"),
            {"n": versions * per_version},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE audit_slices"))


PLAN_SEPARATOR = "\n-- EXPLAIN (ANALYZE, BUFFERS):\n"


class _Captured:
    """The statements containing ``marker`` (with their parameters), as sent to the database."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.on = False
        self.statements: list[tuple[str, Any]] = []

    def __call__(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.on and self.marker in statement:
            self.statements.append((statement, parameters))


def _explained(engine: Any, captured: _Captured) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement captured, each in a transaction rolled back (its
    locks and writes go), with its parameters written in for reading."""
    plans = []
    for statement, parameters in captured.statements:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            conn.rollback()
        sql = statement
        for k, v in (parameters or {}).items():
            sql = sql.replace(f"%({k})s", repr(v.isoformat() if isinstance(v, datetime) else v))
        plans.append(sql.rstrip() + PLAN_SEPARATOR + "\n".join(r[0] for r in rows))
    return plans


def _claims(
    ledger: Any, count: int, cut_offs: Callable[[datetime], dict[str, Any]], seconds: float = CLAIM_SECONDS
) -> dict[str, Any]:
    """Claim (16 slices) and release ``count`` times, or for ``seconds`` once 10 were timed (a state
    whose claims take seconds would otherwise take hours): times in ms and what was claimed."""
    holder = f"bench-{secrets.token_hex(4)}"
    claim_ms: list[float] = []
    release_ms: list[float] = []
    sizes: list[int] = []
    modes: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    for n in range(count):
        if n >= 10 and time.perf_counter() > deadline:
            break
        now = datetime.now(UTC)
        start = time.perf_counter()
        got = ledger.claim(
            location="local", holder=holder, now=now, ttl=timedelta(minutes=30), limit=16, **cut_offs(now)
        )
        middle = time.perf_counter()
        ledger.release([s.id for s, _ in got], holder)
        end = time.perf_counter()
        claim_ms.append((middle - start) * 1000)
        release_ms.append((end - middle) * 1000)
        sizes.append(len(got))
        for _, mode in got:
            modes[mode.value] = modes.get(mode.value, 0) + 1
    return {
        "claim_ms": claim_ms,
        "release_ms": release_ms,
        "claim_median_ms": statistics.median(claim_ms),
        "claim_p95_ms": pct(claim_ms, 0.95),
        "release_median_ms": statistics.median(release_ms),
        "release_p95_ms": pct(release_ms, 0.95),
        "claims": len(claim_ms),
        "slices_per_claim": statistics.median(sizes),
        "modes": modes,
    }


def _explain(engine: Any, ledger: Any, captured: _Captured, cut_offs: dict[str, Any]) -> list[str]:
    """The plans of the SELECTs one claim sends. Each is explained on its own: when a claim sends two
    (deep, then quick for the rest), the second is explained without the first's slices held."""
    holder = f"bench-{secrets.token_hex(4)}"
    captured.statements.clear()
    captured.on = True
    try:
        got = ledger.claim(
            location="local",
            holder=holder,
            now=datetime.now(UTC),
            ttl=timedelta(minutes=30),
            limit=16,
            **cut_offs,
        )
    finally:
        captured.on = False
    ledger.release([s.id for s, _ in got], holder)
    return _explained(engine, captured)


def bench_postgres(b: Bench) -> None:
    from sqlalchemy import event, text

    from oais.adapters.catalog.audit import SqlAuditLedger
    from oais.adapters.catalog.engine import make_engine
    from oais.adapters.catalog.migrations import upgrade
    from oais.adapters.catalog.rows import NEVER

    versions, per = (100_000, 10) if b.quick else (1_000_000, 10)
    name = f"4 PostgreSQL, {versions * per:,} file copies"
    print(f"\n{name}", flush=True)
    admin_url = os.environ.get("OAIS_BENCH_POSTGRES_URL", DEFAULT_PG)
    count = 50 if b.quick else 200
    out: dict[str, Any] = {"versions": versions, "files_per_version": per, "claims_per_state": count}
    b.results["postgres"] = out
    with throwaway_postgres(admin_url, "oais_audit_bench") as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            ledger = SqlAuditLedger(engine)
            captured = _Captured("SKIP LOCKED")
            event.listen(engine, "before_cursor_execute", captured)
            making = _Captured("INSERT INTO audit_slices")
            event.listen(engine, "before_cursor_execute", making)
            with engine.connect() as conn:
                out["server"] = conn.execute(text("SELECT version()")).scalar()
                out["settings"] = {
                    s: conn.execute(text(f"SHOW {s}")).scalar()
                    for s in ("shared_buffers", "work_mem", "effective_cache_size", "random_page_cost")
                }

            start = time.perf_counter()
            _fill(engine, versions, per)
            out["fill_s"] = time.perf_counter() - start
            print(f"  filled {versions:,} versions x {per} files in {out['fill_s']:.0f} s", flush=True)
            start = time.perf_counter()
            made = ledger.make_slices()
            out["make_slices_first_s"] = time.perf_counter() - start
            print(f"  make_slices: {made:,} slices in {out['make_slices_first_s']:.1f} s", flush=True)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            noop = []
            for _ in range(5):
                start = time.perf_counter()
                ledger.make_slices()
                noop.append((time.perf_counter() - start) * 1000)
            out["make_slices_nothing_new_ms"] = noop
            making.on = True
            ledger.make_slices()
            making.on = False
            out["make_slices_nothing_new_explain"] = _explained(engine, making)
            print(
                f"  make_slices with nothing new (every audit run and tick): "
                f"median {statistics.median(noop):.0f} ms",
                flush=True,
            )

            one_aip = f"aip-{versions // 2}"
            states: dict[str, Callable[[datetime], dict[str, Any]]] = {
                "scheduled (deep > 90 d, quick > 7 d)": lambda now: {
                    "deep_before": now - timedelta(days=90),
                    "quick_before": now - timedelta(days=7),
                },
                "nothing due": lambda now: {
                    "deep_before": now - timedelta(days=100),
                    "quick_before": now - timedelta(days=10),
                },
                "--all --deep": lambda now: {"deep_before": now, "quick_before": now},
                "--aip X --deep": lambda now: {"deep_before": now, "quick_before": now, "aip_id": one_aip},
            }
            layouts = [("10 files per slice", per, False), ("10 files per slice", per, True)]
            if not b.quick:
                layouts += [("1 file per slice", 1, False), ("1 file per slice", 1, True)]
            out["states"] = {}
            for layout, fps, never in layouts:
                start = time.perf_counter()
                _fill_slices(engine, versions, per, fps, never)
                slices = versions * per // fps
                print(
                    f"  {slices:,} slices ({layout}){', none verified yet' if never else ''}: "
                    f"filled in {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
                chosen = (
                    states
                    if not never
                    else {
                        "never verified (scheduled)": states["scheduled (deep > 90 d, quick > 7 d)"],
                        "never verified, --all --deep": states["--all --deep"],
                    }
                )
                for state, cut_offs in chosen.items():
                    label = f"{slices:,} slices, {state}"
                    got = _claims(ledger, count, cut_offs)
                    got["explain"] = _explain(engine, ledger, captured, cut_offs(datetime.now(UTC)))
                    out["states"][label] = got
                    print(
                        f"    {state:<38} claim median {got['claim_median_ms']:7.1f} ms, p95 "
                        f"{got['claim_p95_ms']:7.1f} ms; release median {got['release_median_ms']:5.1f} ms; "
                        f"{got['claims']} claims of {got['slices_per_claim']:.0f} slices {got['modes']}",
                        flush=True,
                    )
            out["never"] = NEVER.isoformat()
        finally:
            engine.dispose()


# -- main -------------------------------------------------------------------------------------------


def summary(b: Bench) -> None:
    print(
        "\nsummary: ratio = reference time / oais time (for quick: deep time / quick time); "
        f"median over {b.rounds} rounds [each round]"
    )
    print(f"  {'scenario':<34} {'measure':<42} {'oais':>8} {'ref':>8} {'ratio':>6}  {'goal':<7} rounds")
    for r in b.rows:
        print(
            f"  {r.scenario:<34} {r.measure:<42} {statistics.median(r.oais_s):7.2f}s "
            f"{statistics.median(r.reference_s):7.2f}s {r.ratio:5.2f}x  "
            + ("(no goal)   " if r.goal is None else f">= {r.goal:<4g} {'met   ' if r.met() else 'MISSED'}")
            + " ["
            + " ".join(f"{x:.2f}" for x in r.ratios)
            + "]"
        )
    pg = b.results.get("postgres")
    if pg and "states" in pg:
        print("\n  claim of 16 slices (then release), ms, goal < 50:")
        for label, got in pg["states"].items():
            verdict = "met" if got["claim_p95_ms"] < 50 else "MISSED"
            print(
                f"    {label:<58} median {got['claim_median_ms']:7.1f}  p95 {got['claim_p95_ms']:7.1f}  "
                f"{verdict}"
            )
        print(
            "  make_slices with nothing new: "
            f"median {statistics.median(pg['make_slices_nothing_new_ms']):.0f} ms"
        )
        states = pg["states"]
        fastest = next(iter(states))
        slowest = max(states, key=lambda k: states[k]["claim_median_ms"])
        for label in dict.fromkeys((fastest, slowest)):
            print(f"\n  EXPLAIN (ANALYZE, BUFFERS) of the claim's first SELECT, {label}:")
            print("    " + states[label]["explain"][0].replace("\n", "\n    "))
        for plan in pg.get("make_slices_nothing_new_explain", [])[:1]:
            print("\n  EXPLAIN (ANALYZE, BUFFERS) of make_slices with nothing new (plan only):")
            print("    " + plan.split(PLAN_SEPARATOR, 1)[1].replace("\n", "\n    "))


def main() -> None:
    own_bytecode_cache("audit")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", type=int, choices=[1, 2, 3, 4], action="append", help="run only this scenario (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds; scenario 4 at 1 million file copies")
    parser.add_argument("--rounds", type=int, default=None, help="repetitions (default 5, 3 with --quick)")
    parser.add_argument(
        "--work", type=Path, default=Path("/var/tmp"), help="where the scratch directory goes"
    )
    args = parser.parse_args()
    chosen = args.only or [1, 2, 3, 4]
    # The service in this process reads the S3 credentials from here, and so do its workers: they are
    # forked from one fork server per process, which keeps the environment it was started with.
    os.environ.update(s3_credentials())
    rounds = args.rounds or (3 if args.quick else 5)
    if 1 in chosen and shutil.which("openssl") is None:
        raise SystemExit("bench: scenario 1 needs the openssl command")
    started = datetime.now(UTC)
    if args.work is not None:
        Path(args.work).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="oais-audit-bench-", dir=args.work))
    b = Bench(work=work, rounds=rounds, quick=args.quick)
    print(
        f"audit benchmark: {WORKERS} workers, {os.cpu_count()} cores, {rounds} rounds, work in {work}",
        flush=True,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"audit-{started.strftime('%Y%m%dT%H%M%SZ')}.json"

    def save(finished: bool) -> None:
        # Written after every scenario, so that a run cut short keeps what it measured.
        document = {
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat() if finished else None,
            "host": host(),
            "args": {"only": chosen, "quick": args.quick, "rounds": rounds},
            "rows": [r.as_json() for r in b.rows],
            "results": b.results,
        }
        path.write_text(json.dumps(document, indent=2, default=str))

    try:
        for n, fn in ((1, bench_local_big), (2, bench_local_small), (3, bench_s3), (4, bench_postgres)):
            if n in chosen:
                fn(b)
                save(finished=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary(b)
    save(finished=True)
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
