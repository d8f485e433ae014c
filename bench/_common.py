"""What the benchmarks share: paths, the PostgreSQL server they use, fast bulk loads, throw-away
databases, a private bytecode cache and the host described in their JSON results.

Imported as ``_common`` by the benchmarks, which run as scripts (``bench/`` is on ``sys.path``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
# The benchmarks run the code of this checkout.
sys.path.insert(0, str(REPO))

#: The PostgreSQL role used when ``OAIS_BENCH_POSTGRES_URL`` is not set.
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MiB = 1 << 20


def host() -> dict[str, Any]:
    """The machine, as the JSON results describe it."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


@contextlib.contextmanager
def indexes_dropped(conn: Any, table: str) -> Iterator[None]:
    """Drop a table's secondary indexes (PostgreSQL: also its unique and foreign key constraints) and
    build them again after the bulk load (one build per index is much faster than maintaining them
    row by row)."""
    from sqlalchemy import text

    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
            ),
            {"t": table},
        ).all()
        for name, _ in rows:
            conn.execute(text(f'DROP INDEX "{name}"'))
        yield
        for _, sql in rows:
            conn.execute(text(sql))
        return
    constraints = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('u', 'f') ORDER BY contype DESC"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = CAST(:t AS regclass) AND NOT x.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        ),
        {"t": table},
    ).all()
    for conname, _ in constraints:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{conname}"'))
    for relname, _ in indexes:
        conn.execute(text(f'DROP INDEX "{relname}"'))
    yield
    for _, definition in indexes:
        conn.execute(text(definition))
    for conname, definition in reversed(constraints):
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{conname}" {definition}'))


@contextlib.contextmanager
def throwaway_postgres(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``PREFIX_<random>``, made with the role of
    ``admin_url``: its URL. Dropped at the end, however the block ends (connections still open to it
    are closed)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{secrets.token_hex(4)}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def own_bytecode_cache(name: str) -> None:
    """Restart with a private bytecode cache if Python was told not to write bytecode (every process
    would compile oais anew, which an installed deployment never does); the restarted process removes
    it when it exits, however it exits. ``name`` tells the benchmarks' caches apart."""
    var = f"OAIS_{name.upper()}_BENCH_PYCACHE"
    cache = os.environ.get(var)
    if cache:
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        return
    if not sys.flags.dont_write_bytecode:
        return
    cache = tempfile.mkdtemp(prefix=f"oais-{name}-bench-pyc-", dir="/var/tmp")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=cache, **{var: cache})
    os.execve(sys.executable, [sys.executable, *sys.argv], env)
