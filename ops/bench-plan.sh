#!/usr/bin/env bash
# Run the migration planning benchmark (bench/plan_bench.py): `oais plan migrations` over a catalog of
# a million files, in SQLite and in a throw-away PostgreSQL database (ops/postgres.sh makes sure the
# server answers on 127.0.0.1:5432), against the goal of an answer in under 10 seconds.
# Usage: bash ops/bench-plan.sh [bench options, e.g. --quick, --database sqlite, --risk 10, --rounds 5,
#        --json-out bench/out/plan.json]
# With OAIS_BENCH_POSTGRES_URL set, that role is used instead (it must be allowed to create databases).
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL is needed unless only SQLite was asked for.
wanted=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --database) wanted+=("${args[i + 1]:-}") ;;
    --database=*) wanted+=("${args[i]#--database=}") ;;
  esac
done
wants() { [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" $1 "* ]]; }

bash ops/install.sh

if wants postgresql && [ -z "${OAIS_BENCH_POSTGRES_URL:-}" ]; then
  OAIS_BENCH_POSTGRES_URL=$(bash ops/postgres.sh | tail -n 1)
  export OAIS_BENCH_POSTGRES_URL
fi

.venv/bin/python bench/plan_bench.py "$@"
