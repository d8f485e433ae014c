"""S3 storage benchmark: oais's object store against boto3, on the same RGW, in the same run.

Run: ``bash ops/bench-s3.sh`` (starts a private Ceph RGW, runs this, purges it), or with a running
RGW: ``OAIS_TEST_S3_ENDPOINT=… OAIS_TEST_S3_ACCESS_KEY=… OAIS_TEST_S3_SECRET_KEY=…
.venv/bin/python bench/s3_bench.py [--rounds 3] [--only big|small]``.

Data (issue 3): one 1 GiB file (``big``) and a folder of 2,000 files of 64 KiB (``small``).

Two boto3 references, each with its own client:

* **plain boto3**: boto3 as a script would usually set it up for RGW (path-style addressing, checksums
  only when an operation requires one), payload signing left at botocore's default: over http,
  botocore hashes every request body with sha256 to sign it.
* **boto3, same settings**: a client made with the configuration of the client oais's store uses
  (payload signing off, among others): boto3 then hashes nothing at all.

What is measured, oais / each reference:

* **store**: oais writes the objects (every part with Content-MD5, the bytes sent hashed on the way
  and checked against the xxh3_128 that ingest computed, as the ingest does) / boto3 ``upload_file``
  through one TransferManager with the same part size and concurrency. Goal: throughput ratio at
  least 0.8.
* **read back + verify to a file**: oais reads every object whole and checks its sha256 against the
  digest of record, writing the copy to a file (as an export does) / boto3 ``download_file`` through
  a TransferManager (nothing checked). Goal: at least 0.8.
* **verify only**: oais reads and hashes every object without writing a file (what ``oais storage
  verify`` and the ingest's read-back of an S3 copy do) / boto3 ``get_object`` of every object,
  streamed and discarded, through a thread pool of the same concurrency (nothing written, nothing
  checked but the byte count).

Each round writes every object once under new keys (oais objects are write-once), times oais and the
references in an order that alternates from round to round (oais first, then last), and deletes
every object it wrote; the bucket the run made is deleted at the end, also when the run fails. The ratios
are medians over the rounds. Ratios, not seconds, are what to compare.
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
from concurrent.futures import ThreadPoolExecutor
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
#: Bytes asked of a streamed GET body at a time by the verify-only reference (as the store reads).
GET_CHUNK = 4 * MiB

OAIS = "oais"
PLAIN = "plain boto3"
SAME = "boto3, same settings"
REFERENCES = (PLAIN, SAME)
MEASURES = {
    "store": "store",
    "read": "read back + verify to a file",
    "verify": "verify only",
}


def _client(endpoint: str, key: str, secret: str, config: Config) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=config,
    )


def _plain_config() -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=CONCURRENCY + 4,
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


def _delete_prefix(client: Any, bucket: str, prefix: str = "") -> None:
    """Delete every object (and abort every unfinished multipart upload) under ``prefix``."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def _round(
    name: str,
    files: list[File],
    store: S3ObjectStore,
    clients: dict[str, Any],
    bucket: str,
    work: Path,
    oais_first: bool,
) -> dict[str, dict[str, float]]:
    """One round on one data set: the ratios oais / reference, by measure, then by reference."""
    tag = secrets.token_hex(4)
    transfer = TransferConfig(
        multipart_threshold=PART,
        multipart_chunksize=PART,
        max_concurrency=CONCURRENCY,
        use_threads=True,
        preferred_transfer_client="classic",  # the client given, with its settings (never CRT)
    )
    who_all = (OAIS, *REFERENCES)
    prefixes = {who: f"{name}-{tag}-{i}/" for i, who in enumerate(who_all)}
    downloads = {who: work / f"down-{tag}-{i}" for i, who in enumerate(who_all)}
    total = sum(size for _, size, _ in files)
    expected = {f"{prefixes[OAIS]}{p.name}": sha for p, _, (sha, _fast) in files}

    def oais_store() -> None:
        items = [
            WriteItem(key=f"{prefixes[OAIS]}{p.name}", size=s, sha256=sha, xxh3_128=fast, path=str(p))
            for p, s, (sha, fast) in files
        ]
        for _ in store.write(items):
            pass

    def oais_read(to_file: bool) -> Callable[[], None]:
        def run() -> None:
            items = [
                ReadItem(key=k, dest=str(downloads[OAIS] / k.rsplit("/", 1)[1]) if to_file else None)
                for k in expected
            ]
            for r in store.read(items):
                if r.problem is not None or r.sha256 != expected[r.key]:
                    raise SystemExit(f"bench: {r.key} read back wrong: {r.problem or r.sha256}")

        return run

    def ref_store(who: str) -> Callable[[], None]:
        def run() -> None:
            with create_transfer_manager(clients[who], transfer) as manager:
                futures = [manager.upload(str(p), bucket, f"{prefixes[who]}{p.name}") for p, _, _ in files]
                for f in futures:
                    f.result()

        return run

    def ref_download(who: str) -> Callable[[], None]:
        def run() -> None:
            with create_transfer_manager(clients[who], transfer) as manager:
                futures = [
                    manager.download(bucket, f"{prefixes[who]}{p.name}", str(downloads[who] / p.name))
                    for p, _, _ in files
                ]
                for f in futures:
                    f.result()

        return run

    def ref_get(who: str) -> Callable[[], None]:
        client = clients[who]

        def get(key: str, size: int) -> None:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            got = 0
            try:
                while chunk := body.read(GET_CHUNK):
                    got += len(chunk)
            finally:
                body.close()
            if got != size:
                raise SystemExit(f"bench: {key}: {got} of {size} bytes arrived")

        def run() -> None:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                futures = [pool.submit(get, f"{prefixes[who]}{p.name}", s) for p, s, _ in files]
                for f in futures:
                    f.result()

        return run

    steps: dict[str, dict[str, Callable[[], None]]] = {
        "store": {OAIS: oais_store, **{who: ref_store(who) for who in REFERENCES}},
        "read": {OAIS: oais_read(True), **{who: ref_download(who) for who in REFERENCES}},
        "verify": {OAIS: oais_read(False), **{who: ref_get(who) for who in REFERENCES}},
    }
    order = list(who_all) if oais_first else list(reversed(who_all))
    times: dict[str, dict[str, float]] = {measure: {} for measure in steps}
    try:
        for folder in downloads.values():
            folder.mkdir()
        for measure, runs in steps.items():
            for who in order:
                times[measure][who] = _timed(runs[who])
    finally:
        for folder in downloads.values():
            shutil.rmtree(folder, ignore_errors=True)
        for prefix in prefixes.values():
            _delete_prefix(clients[PLAIN], bucket, prefix)
    mib = total / MiB
    print(
        f"  {name} ({'oais first' if oais_first else 'oais last'}), MiB/s: "
        + "; ".join(
            f"{label} " + ", ".join(f"{who} {mib / times[measure][who]:.0f}" for who in who_all)
            for measure, label in MEASURES.items()
        ),
        flush=True,
    )
    return {
        measure: {who: times[measure][who] / times[measure][OAIS] for who in REFERENCES}
        for measure in MEASURES
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
    bucket = f"oais-bench-{secrets.token_hex(4)}"
    store = S3ObjectStore(
        "bench",
        endpoint=endpoint,
        bucket=bucket,
        access_key=key,
        secret_key=secret,
        part_size=PART,
        concurrency=CONCURRENCY,
    )
    clients = {
        PLAIN: _client(endpoint, key, secret, _plain_config()),
        # The very configuration of the store's own client, whatever it is.
        SAME: _client(endpoint, key, secret, store.client().meta.config),
    }
    clients[PLAIN].create_bucket(Bucket=bucket)
    try:
        with tempfile.TemporaryDirectory(dir=args.work, prefix="oais-s3-bench-") as tmp:
            work = Path(tmp)
            sets = _make_data(work, args.only)
            print(
                f"part size {PART // MiB} MiB, {CONCURRENCY} in flight, {args.rounds} rounds; "
                "ratio = oais throughput / reference throughput"
            )
            for name, files in sets.items():
                ratios: dict[str, dict[str, list[float]]] = {
                    measure: {who: [] for who in REFERENCES} for measure in MEASURES
                }
                for n in range(args.rounds):
                    got = _round(name, files, store, clients, bucket, work, oais_first=n % 2 == 0)
                    for measure, by_ref in got.items():
                        for who, ratio in by_ref.items():
                            ratios[measure][who].append(ratio)
                rounds = f"{args.rounds} round{'s' if args.rounds != 1 else ''}"
                print(f"{name}: oais / reference, median over {rounds} [each round]:")
                for measure, label in MEASURES.items():
                    print(
                        f"  {label:<29}"
                        + "   ".join(
                            f"vs {who} {statistics.median(ratios[measure][who]):.2f}x ["
                            + " ".join(f"{x:.2f}" for x in ratios[measure][who])
                            + "]"
                            for who in REFERENCES
                        ),
                        flush=True,
                    )
    finally:
        _delete_prefix(clients[PLAIN], bucket)
        clients[PLAIN].delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()
