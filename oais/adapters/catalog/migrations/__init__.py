"""The catalog's Alembic migrations, and bringing a database to the current schema with them.

The application calls :func:`upgrade` on start; no ``alembic.ini`` is needed for that. ``env.py`` and
``versions/`` in this folder are Alembic's: ``env.py`` is run by Alembic, never imported.

A database already at :data:`HEAD` is recognised by reading its ``alembic_version`` table, without
loading Alembic or the migrations (a tenth of a second on every command); any other goes through
Alembic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from oais.adapters.catalog.engine import make_engine
from oais.domain.errors import CatalogError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent

#: The last revision in ``versions/`` (a test checks it against Alembic's head).
HEAD = "0007"

# Arbitrary but fixed: the PostgreSQL advisory lock key that serialises schema upgrades.
_PG_UPGRADE_LOCK = 0x0A15CA7A


def alembic_config() -> Config:
    """An Alembic configuration for the shipped migrations, built in code (no ini file needed).

    Returns:
        The configuration; ``attributes["connection"]`` may be set to run on an open connection.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The revision the shipped migrations lead to.

    Returns:
        The head revision id.
    """
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package always ships at least the initial revision
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at.

    Args:
        url: the catalog database URL.

    Returns:
        The revision id, or None for a database that was never migrated.

    Raises:
        CatalogError: if the database cannot be reached.
    """
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise CatalogError(f"{_named(url)}: cannot read the schema revision: {exc}") from exc
    finally:
        engine.dispose()


def upgrade(url: str) -> None:
    """Bring the catalog at ``url`` to the current schema; a database already there is left as is.

    The whole upgrade runs in one transaction, so a failed migration leaves the previous schema, and
    under a database-wide lock, so that two processes starting at once do not both migrate.

    Args:
        url: the catalog database URL (an empty database gets every table).

    Raises:
        CatalogError: if the database cannot be reached or a migration fails.
    """
    engine = make_engine(url)
    try:
        at_head = _at_head(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise CatalogError(f"{_named(url)}: cannot read the schema revision: {exc}") from exc
    if at_head:
        engine.dispose()
        return
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    try:
        with engine.begin() as connection:
            _lock(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise CatalogError(f"{_named(url)}: cannot bring the schema to {HEAD}: {exc}") from exc
    except CommandError as exc:
        # A revision no migration here knows: a newer release wrote this catalog.
        raise CatalogError(
            f"{_named(url)}: cannot bring the schema to {HEAD}: {exc} (was the catalog written by a "
            "newer release of oais?)"
        ) from exc
    finally:
        engine.dispose()


def _named(url: str) -> str:
    """The catalog database as an error message names it (its password hidden)."""
    try:
        return f"catalog {make_url(url).render_as_string(hide_password=True)}"
    except ArgumentError:
        return "catalog (malformed URL)"


def _at_head(engine: Engine) -> bool:
    """Whether the database is already at :data:`HEAD` (its ``alembic_version`` table; no Alembic)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        revisions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return list(revisions) == [HEAD]


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_UPGRADE_LOCK})
    elif connection.dialect.name == "sqlite":
        # The sqlite3 module would only open a transaction at the first INSERT, leaving every
        # CREATE TABLE before it committed on its own; an explicit write transaction makes the
        # upgrade all-or-nothing and makes a concurrent upgrader wait (busy timeout) for it.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
