#!/usr/bin/env bash
# Run the migration planning benchmark (bench/plan_bench.py): `oais plan migrations` over a catalog of
# a million files, in SQLite and in a throw-away PostgreSQL database (ops/postgres.sh makes sure the
# server answers on 127.0.0.1:5432), against the goal of an answer in under 10 seconds.
# Usage: bash ops/bench-plan.sh [bench options, e.g. --quick, --database sqlite, --risk 10, --rounds 5,
#        --json-out bench/out/plan.json]
# With OAIS_BENCH_POSTGRES_URL set, that role is used instead (it must be allowed to create databases).
set -euo pipefail
cd "$(dirname "$0")/.."
. ops/_bench-lib.sh

# PostgreSQL is needed unless only SQLite was asked for.
bench_wanted --database "$@"

bash ops/install.sh

if wants postgresql; then
  ensure_bench_postgres
fi

.venv/bin/python bench/plan_bench.py "$@"
