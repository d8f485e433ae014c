"""Engines for the catalog database: SQLite for one machine, PostgreSQL for a shared catalog."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from oais.domain.errors import CatalogError

#: How long (seconds) a SQLite writer waits for another writer's transaction to end before failing.
SQLITE_BUSY_TIMEOUT = 30.0


def make_engine(url: str) -> Engine:
    """Create an engine for the catalog at ``url`` without connecting.

    SQLite connections get foreign keys enforced (SQLite ignores them unless asked, per connection),
    write-ahead logging (readers do not block the writer) and a busy timeout (a second writer waits
    instead of failing at once). PostgreSQL URLs should name the psycopg 3 driver
    (``postgresql+psycopg://``); a bare ``postgresql://`` is taken to mean it too.

    Args:
        url: a SQLAlchemy database URL, e.g. ``sqlite:////var/lib/oais/catalog.db`` or
            ``postgresql+psycopg://oais@db.example.org/oais``.

    Returns:
        The engine (it connects lazily, on first use).

    Raises:
        CatalogError: if the URL cannot be parsed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise CatalogError(f"catalog database URL {url!r} is not valid: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            # SQLAlchemy would otherwise look for psycopg2, which is not a dependency.
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    raise CatalogError(f"catalog database {parsed.drivername!r} is not supported (use sqlite or postgresql)")


def _configure_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
    finally:
        cursor.close()
