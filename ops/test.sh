#!/usr/bin/env bash
# Install everything the tests need and run the whole test suite: lint, types, architecture,
# unit, integration (real SQLite, PostgreSQL, Ceph S3 and files) and end-to-end tests of the command line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install.sh --test
OAIS_TEST_POSTGRES_ADMIN_URL=$(bash ops/postgres.sh | tail -n 1)
export OAIS_TEST_POSTGRES_ADMIN_URL

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict oais
.venv/bin/lint-imports

# A real S3 server for the object-store tests: a throw-away Ceph cluster (docs/ceph.md), stopped and
# deleted when this script ends, however it ends. OAIS_TEST_S3=skip does without it; an
# OAIS_TEST_S3_ENDPOINT already set (with its keys) names a server to use instead.
if [ "${OAIS_TEST_S3:-}" != skip ] && [ -z "${OAIS_TEST_S3_ENDPOINT:-}" ]; then
  ceph_dir=$(mktemp -d /var/tmp/oais-ceph.XXXXXX)
  export OAIS_TEST_CEPH_DIR=$ceph_dir # for the tests that stop and restart the gateway
  trap 'bash ops/ceph-rgw.sh stop "$ceph_dir" --purge' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  s3_env=$(bash ops/ceph-rgw.sh start "$ceph_dir")
  while IFS= read -r line; do
    case $line in OAIS_TEST_S3_*=*) export "${line?}" ;; esac
  done <<<"$s3_env"
fi

.venv/bin/pytest -q "$@"
