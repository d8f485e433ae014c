"""S3 storage benchmark: oais's object store against plain boto3, on the same RGW, in the same run.

Run: ``bash ops/bench-s3.sh`` (starts a private Ceph RGW, runs this, purges it), or with a running
RGW: ``OAIS_TEST_S3_ENDPOINT=… OAIS_TEST_S3_ACCESS_KEY=… OAIS_TEST_S3_SECRET_KEY=…
.venv/bin/python bench/s3_bench.py [--rounds 3] [--only big|small]``.

Data (issue 3): one 1 GiB file (``big``) and a folder of 2,000 files of 64 KiB (``small``).

* **store**: oais writes the objects (every part with Content-MD5, the bytes sent hashed on the way
  and checked against the xxh3_128 that ingest computed, as the ingest does) / boto3 ``upload_file``
  through one TransferManager with the same part size and concurrency. Goal: throughput ratio at
  least 0.8.
* **read back**: oais reads every object whole and checks its sha256 against the digest of record,
  writing the copy to a file (as an export does) / boto3 ``download_file`` through a TransferManager
  (nothing checked). Goal: at least 0.8. ``verify only`` is the same read without writing a file (what
  ``oais storage verify`` and the ingest's read-back do).

Each round writes new keys (oais objects are write-once) and runs oais and boto3 in alternating
order; the ratios are medians over the rounds. Ratios, not seconds, are what to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import xxhash
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from oais.adapters.storage.s3 import S3ObjectStore  # noqa: E402
from oais.domain.storage import ReadItem, WriteItem  # noqa: E402

MiB = 1 << 20
PART = 64 * MiB
CONCURRENCY = 4


def _client(endpoint: str, key: str, secret: str) -> Any:
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
            max_pool_connections=CONCURRENCY + 4,
        ),
    )


def _digests(data: bytes) -> tuple[str, str]:
    """(sha256, xxh3_128): what ingest knows of every staged file before it is stored."""
    return hashlib.sha256(data).hexdigest(), xxhash.xxh3_128(data).hexdigest()


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


File = tuple[Path, int, tuple[str, str]]


def _make_data(work: Path, only: str | None) -> dict[str, list[File]]:
    sets: dict[str, list[File]] = {}
    if only in (None, "big"):
        big = work / "big.bin"
        data = os.urandom(1 << 30)
        big.write_bytes(data)
        sets["big"] = [(big, len(data), _digests(data))]
        del data
    if only in (None, "small"):
        folder = work / "small"
        folder.mkdir()
        files = []
        for i in range(2000):
            p = folder / f"f{i:05d}.dat"
            data = os.urandom(64 << 10)
            p.write_bytes(data)
            files.append((p, len(data), _digests(data)))
        sets["small"] = files
    return sets


def _round(
    name: str,
    files: list[File],
    store: S3ObjectStore,
    client: Any,
    bucket: str,
    work: Path,
    oais_first: bool,
) -> dict[str, float]:
    tag = secrets.token_hex(4)
    transfer = TransferConfig(
        multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=CONCURRENCY, use_threads=True
    )
    ours_prefix, ref_prefix = f"oais-{tag}/", f"ref-{tag}/"
    total = sum(size for _, size, _ in files)

    def oais_store() -> None:
        items = [
            WriteItem(key=f"{ours_prefix}{p.name}", size=s, sha256=sha, xxh3_128=fast, path=str(p))
            for p, s, (sha, fast) in files
        ]
        for _ in store.write(items):
            pass

    def ref_store() -> None:
        with create_transfer_manager(client, transfer) as manager:
            futures = [manager.upload(str(p), bucket, f"{ref_prefix}{p.name}") for p, _, _ in files]
            for f in futures:
                f.result()

    down_ours, down_ref = work / f"down-oais-{tag}", work / f"down-ref-{tag}"
    down_ours.mkdir()
    down_ref.mkdir()
    expected = {f"{ours_prefix}{p.name}": sha for p, _, (sha, _fast) in files}

    def oais_read(dest: bool) -> Callable[[], None]:
        def run() -> None:
            items = [
                ReadItem(key=k, dest=str(down_ours / k.rsplit("/", 1)[1]) if dest else None) for k in expected
            ]
            for r in store.read(items):
                if r.problem is not None or r.sha256 != expected[r.key]:
                    raise SystemExit(f"bench: {r.key} read back wrong: {r.problem or r.sha256}")

        return run

    def ref_read() -> None:
        with create_transfer_manager(client, transfer) as manager:
            futures = [
                manager.download(bucket, f"{ref_prefix}{p.name}", str(down_ref / p.name)) for p, _, _ in files
            ]
            for f in futures:
                f.result()

    times: dict[str, float] = {}
    order = [("oais", oais_store), ("ref", ref_store)]
    for who, fn in order if oais_first else reversed(order):
        times[f"store_{who}"] = _timed(fn)
    reads = [("oais", oais_read(True)), ("ref", ref_read)]
    for who, fn in reads if oais_first else reversed(reads):
        times[f"read_{who}"] = _timed(fn)
    times["verify_oais"] = _timed(oais_read(False))
    shutil.rmtree(down_ours)
    shutil.rmtree(down_ref)
    mib = total / MiB
    print(
        f"  {name}: store oais {mib / times['store_oais']:.0f} MiB/s, "
        f"boto3 {mib / times['store_ref']:.0f} MiB/s; "
        f"read back oais {mib / times['read_oais']:.0f} MiB/s "
        f"(verify only {mib / times['verify_oais']:.0f}), "
        f"boto3 {mib / times['read_ref']:.0f} MiB/s",
        flush=True,
    )
    return {
        "store": times["store_ref"] / times["store_oais"],
        "read": times["read_ref"] / times["read_oais"],
        "verify": times["read_ref"] / times["verify_oais"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["big", "small"])
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch directory (default: a temporary one)"
    )
    args = parser.parse_args()
    env = os.environ
    try:
        endpoint, key, secret = (
            env["OAIS_TEST_S3_ENDPOINT"],
            env["OAIS_TEST_S3_ACCESS_KEY"],
            env["OAIS_TEST_S3_SECRET_KEY"],
        )
    except KeyError:
        raise SystemExit(
            "bench: set OAIS_TEST_S3_* (or run bash ops/bench-s3.sh, which starts an RGW)"
        ) from None
    client = _client(endpoint, key, secret)
    bucket = f"oais-bench-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=bucket)
    store = S3ObjectStore(
        "bench",
        endpoint=endpoint,
        bucket=bucket,
        access_key=key,
        secret_key=secret,
        part_size=PART,
        concurrency=CONCURRENCY,
    )
    with tempfile.TemporaryDirectory(dir=args.work, prefix="oais-s3-bench-") as tmp:
        work = Path(tmp)
        sets = _make_data(work, args.only)
        print(
            f"part size {PART // MiB} MiB, {CONCURRENCY} in flight, {args.rounds} rounds; "
            "ratio = oais / boto3"
        )
        for name, files in sets.items():
            ratios: dict[str, list[float]] = {"store": [], "read": [], "verify": []}
            for n in range(args.rounds):
                for k, v in _round(name, files, store, client, bucket, work, oais_first=n % 2 == 0).items():
                    ratios[k].append(v)
            med = {k: statistics.median(v) for k, v in ratios.items()}
            print(
                f"{name}: store {med['store']:.2f}x  read back + verify {med['read']:.2f}x  "
                f"(verify without writing a file {med['verify']:.2f}x)  [rounds: "
                + ", ".join(f"{k} " + "/".join(f"{x:.2f}" for x in v) for k, v in ratios.items())
                + "]",
                flush=True,
            )


if __name__ == "__main__":
    main()
