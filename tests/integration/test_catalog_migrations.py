"""The catalog schema: migrations reach head on SQLite and PostgreSQL, idempotently, and match the rows;
catalogs made by earlier releases are upgraded with their data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oais.adapters.catalog import repository as repository_module
from oais.adapters.catalog.admin_rows import ActionRow
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import HEAD, alembic_config, current_revision, head_revision, upgrade
from oais.adapters.catalog.repository import SqlAipRepository
from oais.adapters.catalog.rows import Base
from oais.adapters.catalog.tokens import ApiTokenRow
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.domain.errors import CatalogError
from oais.domain.packages import AipRecord
from oais.domain.storage import Copy
from tests.integration.test_catalog_contract import DESCRIBED, T0, make_record, reset_postgres

TABLES = {
    "aips",
    "audit_slices",
    "audit_findings",
    "audit_sweeps",
    "aip_versions",
    "aip_version_agents",
    "files",
    "file_digests",
    "agents",
    "events",
    "event_agents",
    "event_objects",
    "rejections",
    "copies",
    "event_log_segments",
    "api_tokens",
    "api_access_log",
    "action_log",
    "policy_log",
    "deaccession_requests",
    "tombstones",
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
    # The API tables' rows live in their own module, on the same declarative base.
    assert ApiTokenRow.__table__.metadata is Base.metadata
    assert ActionRow.__table__.metadata is Base.metadata
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


def test_head_is_the_last_migration_and_a_database_at_head_is_left_alone(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert head_revision() == HEAD
    upgrade(empty_database)

    # At head, Alembic is not even asked.
    def no_alembic(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Alembic was asked to upgrade a catalog at head")

    with monkeypatch.context() as patched:
        patched.setattr(command, "upgrade", no_alembic)
        upgrade(empty_database)

    engine = make_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    finally:
        engine.dispose()
    # At a revision no migration knows, Alembic is asked, and the refusal is a clear error.
    with pytest.raises(CatalogError) as refused:
        upgrade(empty_database)
    # The database is named, its password hidden.
    named = make_url(empty_database).render_as_string(hide_password=True)
    assert str(refused.value) == (
        f"catalog {named}: cannot bring the schema to {HEAD}: Can't locate revision identified by "
        "'ffff' (was the catalog written by a newer release of oais?)"
    )


def test_an_unusable_database_is_reported_as_a_catalog_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "catalog.db"
    with pytest.raises(CatalogError) as refused:
        upgrade(f"sqlite:///{missing}")
    assert str(refused.value).startswith(f"catalog sqlite:///{missing}: cannot read the schema revision: ")
    # A server that is not there (nothing listens on port 1): named with its password hidden.
    with pytest.raises(CatalogError) as refused:
        upgrade("postgresql+psycopg://oais:s3cret@127.0.0.1:1/catalog")
    assert str(refused.value).startswith(
        "catalog postgresql+psycopg://oais:***@127.0.0.1:1/catalog: cannot read the schema revision: "
    )
    assert "s3cret" not in str(refused.value)
    with pytest.raises(CatalogError, match="not supported"):
        make_engine("mysql://localhost/oais")


# --- upgrading catalogs of earlier releases ------------------------------------------------------


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Bring the database at ``url`` up (or down) to ``revision`` exactly."""
    engine = make_engine(url)
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
    finally:
        engine.dispose()


#: The columns of ``aips`` that revision 0005 adds.
AIP_COLUMNS_0005 = {"metadata", "access_status", "embargo_until", "licence"}


def add_at_revision_0001(url: str, *records: AipRecord) -> None:
    """Write versions as the previous release did: the same rows, with the store's path as location."""
    # Revision 0001 has no files.stored_version (added by 0003) nor files.derived_from (0004), nor
    # the descriptive metadata of the AIPs (0005).
    add_without(url, {"stored_version", "derived_from", *AIP_COLUMNS_0005}, *records)


def add_without(url: str, later: set[str], *records: AipRecord) -> None:
    """Write versions with the file and AIP columns ``later`` left out (a revision before they were
    added)."""
    engine = make_engine(url)
    file_row, aip_row = repository_module._file_row, repository_module._aip_row
    repository_module._file_row = lambda v, f: {k: x for k, x in file_row(v, f).items() if k not in later}
    repository_module._aip_row = lambda a: {k: x for k, x in aip_row(a).items() if k not in later}
    try:
        with Session(engine) as session:
            repository = SqlAipRepository(session)
            for record in records:
                repository.add(record)  # no copies: nothing touches the tables 0002 adds
            session.commit()
    finally:
        repository_module._file_row, repository_module._aip_row = file_row, aip_row
        engine.dispose()


def at_store(record: AipRecord, location: str) -> AipRecord:
    """``record`` with the location the previous release recorded."""
    return record.model_copy(update={"version": record.version.model_copy(update={"location": location})})


def test_a_catalog_of_revision_0001_gets_key_prefixes_and_one_local_copy_per_version(
    empty_database: str,
) -> None:
    migrate(empty_database, "0001")
    absolute = make_record("aip-1")
    relative = make_record("aip-2", created=T0.replace(year=2025))  # a store root configured as "store"
    add_at_revision_0001(
        empty_database,
        at_store(absolute, "/srv/oais/store/aips/aip-1/v1"),
        at_store(relative, "store/aips/aip-2/v1"),
    )

    upgrade(empty_database)

    assert current_revision(empty_database) == head_revision()
    catalog = sql_unit_of_work_factory(empty_database)
    try:
        with catalog() as uow:
            first = uow.aips.get("aip-1")
            second = uow.aips.get("aip-2")
            at_local = uow.aips.copies("local")
    finally:
        catalog.dispose()
    assert first is not None and second is not None
    assert first.version.location == "aips/aip-1/v1"
    assert second.version.location == "aips/aip-2/v1"
    created = absolute.version.created
    # Its files plus bagit.txt, bag-info.txt, the two manifests and premis.xml.
    expected = Copy(
        location="local", stored=created, verified=created, objects=4 + 5, bytes=absolute.version.bytes
    )
    assert first.copies == [expected]
    assert first == absolute.model_copy(update={"copies": [expected]})
    assert [(aip_id, version, copy.location) for aip_id, version, copy in at_local] == [
        ("aip-1", 1, "local"),
        ("aip-2", 1, "local"),
    ]


def test_a_location_the_previous_release_cannot_have_written_stops_the_upgrade(empty_database: str) -> None:
    migrate(empty_database, "0001")
    add_at_revision_0001(
        empty_database,
        at_store(make_record("aip-1"), "/srv/oais/store/aips/aip-1/v1"),
        at_store(make_record("aip-2"), "s3://bucket/aips/aip-1/v1"),
    )

    with pytest.raises(
        CatalogError, match=r"1 AIP version\(s\).*AIP aip-2 version 1 at 's3://bucket/aips/aip-1/v1'"
    ):
        upgrade(empty_database)

    assert current_revision(empty_database) == "0001"
    engine = make_engine(empty_database)
    try:
        assert "copies" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            locations = connection.execute(
                text("SELECT location FROM aip_versions ORDER BY aip_id")
            ).scalars()
            assert list(locations) == ["/srv/oais/store/aips/aip-1/v1", "s3://bucket/aips/aip-1/v1"]
    finally:
        engine.dispose()


def test_downgrade_to_0001_drops_the_new_tables_and_keeps_the_prefixes(empty_database: str) -> None:
    migrate(empty_database, "0001")
    add_at_revision_0001(empty_database, at_store(make_record("aip-1"), "/srv/oais/store/aips/aip-1/v1"))
    upgrade(empty_database)

    migrate(empty_database, "0001", down=True)

    assert current_revision(empty_database) == "0001"
    engine = make_engine(empty_database)
    try:
        assert set(inspect(engine).get_table_names()) == TABLES - {
            "copies",
            "event_log_segments",
            "audit_slices",
            "audit_findings",
            "audit_sweeps",
            "api_tokens",
            "api_access_log",
            "action_log",
            "policy_log",
            "deaccession_requests",
            "tombstones",
        }
        columns = {c["name"] for c in inspect(engine).get_columns("files")}
        assert "stored_version" not in columns and "derived_from" not in columns
        with engine.connect() as connection:
            assert connection.execute(text("SELECT location FROM aip_versions")).scalar() == "aips/aip-1/v1"
    finally:
        engine.dispose()
    upgrade(empty_database)  # and back up: the prefixes are kept, the copy is made again
    assert current_revision(empty_database) == head_revision()
    catalog = sql_unit_of_work_factory(empty_database)
    try:
        with catalog() as uow:
            at_local = uow.aips.copies()
    finally:
        catalog.dispose()
    version = make_record("aip-1").version
    again = Copy(
        location="local", stored=version.created, verified=version.created, objects=4 + 5, bytes=version.bytes
    )
    assert at_local == [("aip-1", 1, again)]


def test_a_catalog_of_revision_0003_gets_derived_from_empty_and_its_partial_index(
    empty_database: str,
) -> None:
    migrate(empty_database, "0003")
    record = make_record("aip-1")
    add_without(empty_database, {"derived_from", *AIP_COLUMNS_0005}, record)

    upgrade(empty_database)

    catalog = sql_unit_of_work_factory(empty_database)
    try:
        with catalog() as uow:
            got = uow.aips.get("aip-1")
    finally:
        catalog.dispose()
    # Every file stored before 0004 was received from its producer.
    assert got == record
    assert got is not None and all(f.derived_from is None for f in got.files)
    engine = make_engine(empty_database)
    try:
        indexes = {i["name"]: i for i in inspect(engine).get_indexes("files")}
        index = indexes["ix_files_version_id_derived_from"]
        assert index["column_names"] == ["version_id", "derived_from"]
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                definition = connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'ix_files_version_id_derived_from'")
                ).scalar()
            else:
                definition = connection.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_files_version_id_derived_from'"
                    )
                ).scalar()
        # Partial: the files received from a producer take no room in it.
        assert definition is not None and "derived_from IS NOT NULL" in definition
    finally:
        engine.dispose()

    migrate(empty_database, "0003", down=True)

    engine = make_engine(empty_database)
    try:
        assert "derived_from" not in {c["name"] for c in inspect(engine).get_columns("files")}
        assert "ix_files_version_id_derived_from" not in {
            i["name"] for i in inspect(engine).get_indexes("files")
        }
    finally:
        engine.dispose()
    assert current_revision(empty_database) == "0003"


def test_a_catalog_of_revision_0004_gets_open_aips_without_metadata_and_back(empty_database: str) -> None:
    migrate(empty_database, "0004")
    before = make_record("aip-1")
    add_without(empty_database, AIP_COLUMNS_0005, before)

    migrate(empty_database, "0005")

    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT access_status, embargo_until, licence, metadata FROM aips")
            ).one()
        # Every AIP stored before 0005 was ingested without metadata: open, nothing else known.
        assert tuple(row) == ("open", None, None, None)
        index = {i["name"]: i for i in inspect(engine).get_indexes("aips")}["ix_aips_access_status"]
        assert index["column_names"] == ["access_status"]
    finally:
        engine.dispose()
    upgrade(empty_database)
    described = make_record("aip-2", created=T0.replace(year=2025), metadata=DESCRIBED)
    catalog = sql_unit_of_work_factory(empty_database)
    try:
        with catalog() as uow:
            uow.aips.add(described)
            uow.commit()
        with catalog() as uow:
            assert uow.aips.get("aip-1") == before
            assert uow.aips.get("aip-2") == described
    finally:
        catalog.dispose()

    migrate(empty_database, "0004", down=True)

    assert current_revision(empty_database) == "0004"
    engine = make_engine(empty_database)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("aips")}
        assert columns == {"id", "title", "producer", "created"}
        assert "ix_aips_access_status" not in {i["name"] for i in inspect(engine).get_indexes("aips")}
        with engine.connect() as connection:
            # The AIPs themselves are kept; their metadata stays in their bags (a rebuild reads it).
            ids = connection.execute(text("SELECT id FROM aips ORDER BY id")).scalars()
            assert list(ids) == ["aip-1", "aip-2"]
    finally:
        engine.dispose()
