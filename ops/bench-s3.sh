#!/usr/bin/env bash
# Run the S3 storage benchmark (bench/s3_bench.py) against a private, single-node Ceph RGW that this
# script starts and purges. Usage: bash ops/bench-s3.sh [bench options, e.g. --rounds 5 --only big]
# With OAIS_TEST_S3_ENDPOINT (and its keys) set, the benchmark runs against that server instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install.sh --test
if [ -z "${OAIS_TEST_S3_ENDPOINT:-}" ]; then
  dir=$(mktemp -d /var/tmp/oais-ceph-bench.XXXXXX)
  trap 'bash ops/ceph-rgw.sh stop "$dir" --purge >/dev/null 2>&1 || true' EXIT
  # A failed start ends this script (set -e): the benchmark never runs without its server.
  s3_env=$(bash ops/ceph-rgw.sh start "$dir")
  while IFS= read -r line; do
    case $line in OAIS_TEST_S3_*=*) export "${line?}" ;; esac
  done <<<"$s3_env"
fi
.venv/bin/python bench/s3_bench.py "$@"
