#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 and that the role the tests use exists.
# Installs PostgreSQL from Debian's packages when there is none (fresh Debian 12, as root).
# Prints the admin URL the tests use (a role that may create and drop databases).
set -euo pipefail

host=127.0.0.1
port=5432
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h "$host" -p "$port"; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && break; sleep 1; done
  pg_isready -q -h "$host" -p "$port" || { echo "ops/postgres.sh: PostgreSQL does not answer on $host:$port" >&2; exit 1; }
fi

# A password-authenticated role works whatever pg_hba.conf says for TCP (trust or scram-sha-256).
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'oais_test') THEN
    CREATE ROLE oais_test LOGIN CREATEDB PASSWORD 'oais_test';
  END IF;
END
$$;
SQL
echo "postgresql+psycopg://oais_test:oais_test@$host:$port/postgres"
