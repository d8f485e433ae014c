#!/usr/bin/env bash
# Run the fixity audit benchmark (bench/audit_bench.py): local files, 100,000 small files, S3 on a
# private single-node Ceph RGW that this script starts and purges, and claims in a throw-away
# PostgreSQL database (ops/postgres.sh makes sure the server answers on 127.0.0.1:5432).
# Usage: bash ops/bench-audit.sh [bench options, e.g. --quick, --only 1 --only 4, --rounds 7]
# With OAIS_TEST_S3_ENDPOINT (and its keys) set, scenario 3 runs against that server instead; with
# OAIS_BENCH_POSTGRES_URL set, scenario 4 uses that role (it must be allowed to create databases).
# OAIS_CEPH_RGW_PORT and OAIS_CEPH_MON_PORT move the private RGW off 7480/3300 when those are taken.
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/_bench-lib.sh

# Which scenarios will run: the servers are started only for those that need them.
bench_wanted --only "$@"

bash ops/install.sh
if wants 1 && ! command -v openssl >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

if wants 4; then
  ensure_bench_postgres
fi

if wants 3 && [ -z "${OAIS_TEST_S3_ENDPOINT:-}" ]; then
  dir=$(mktemp -d /var/tmp/oais-ceph-bench.XXXXXX)
  trap 'bash ops/ceph-rgw.sh stop "$dir" --purge >/dev/null 2>&1 || true' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # A failed start ends this script (set -e): the benchmark never runs without its server.
  s3_env=$(bash ops/ceph-rgw.sh start "$dir")
  while IFS= read -r line; do
    case $line in OAIS_TEST_S3_*=*) export "${line?}" ;; esac
  done <<<"$s3_env"
fi

.venv/bin/python bench/audit_bench.py "$@"
