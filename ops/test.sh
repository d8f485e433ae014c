#!/usr/bin/env bash
# Install everything the tests need and run the whole test suite: lint, types, architecture,
# unit, integration (real SQLite, PostgreSQL and files) and end-to-end tests of the command line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ops/install.sh --test
OAIS_TEST_POSTGRES_ADMIN_URL=$(bash ops/postgres.sh | tail -n 1)
export OAIS_TEST_POSTGRES_ADMIN_URL

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy --strict oais
.venv/bin/lint-imports
.venv/bin/pytest -q "$@"
