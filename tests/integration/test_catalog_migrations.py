"""The catalog schema: migrations reach head on SQLite and PostgreSQL, idempotently, and match the rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import current_revision, head_revision, upgrade
from oais.adapters.catalog.rows import Base
from oais.domain.errors import CatalogError
from tests.integration.test_catalog_contract import reset_postgres

TABLES = {
    "aips",
    "aip_versions",
    "aip_version_agents",
    "files",
    "file_digests",
    "agents",
    "events",
    "event_agents",
    "event_objects",
    "rejections",
    "alembic_version",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        yield reset_postgres(request.getfixturevalue("postgres_url"))


def test_upgrade_brings_an_empty_database_to_head_and_is_idempotent(empty_database: str) -> None:
    assert current_revision(empty_database) is None

    upgrade(empty_database)
    upgrade(empty_database)  # every start of the application calls it

    assert current_revision(empty_database) == head_revision()
    engine = make_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_rows(empty_database: str) -> None:
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            # A file row pointing at no version would be an orphan the index could never explain.
            with pytest.raises(IntegrityError):
                connection.execute(
                    text(
                        "INSERT INTO files (version_id, path, size, format_name, format_mime, format_basis,"
                        " format_tool, format_issues) VALUES (42, 'a', 1, 'n', 'm', 'b', 't', '[]')"
                    )
                )
    finally:
        engine.dispose()


def test_an_unusable_database_is_reported_as_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog schema"):
        upgrade(f"sqlite:///{tmp_path / 'no-such-directory' / 'catalog.db'}")
    with pytest.raises(CatalogError, match="not supported"):
        make_engine("mysql://localhost/oais")
