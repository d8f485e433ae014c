"""The catalog contract: one set of tests, run against the in-memory fake, SQLite and PostgreSQL.

Whatever a service may rely on is asserted here, so that a unit test passing on the fake means the same
thing on a real database.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url

from oais.adapters.catalog.memory import in_memory_unit_of_work_factory
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.rows import AipRow
from oais.adapters.catalog.uow import SqlUnitOfWorkFactory, sql_unit_of_work_factory
from oais.domain.descriptive import (
    Access,
    AccessStatus,
    Creator,
    DescriptiveMetadata,
    Identifier,
    Licence,
    Observation,
    canonical_json,
)
from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import issue
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, Rejection
from oais.domain.ports import AipRepository, UnitOfWorkFactory
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome
from oais.domain.storage import Copy, Segment

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))

SOFTWARE = Agent(identifier="software:oais/0.1.0", name="oais", type=AgentType.SOFTWARE, version="0.1.0")
ORGANISATION = Agent(
    identifier="organization:IAS / OMEGA team",
    name="IAS / OMEGA team",
    type=AgentType.ORGANIZATION,
    note="Institut d'Astrophysique Spatiale",
)

FITS = FormatFacts(
    puid="fmt/144",
    name="Flexible Image Transport System",
    version="4.0",
    mime_type="application/fits",
    basis="signature",
    tool="fido 1.6.1 (PRONOM v109)",
    issues=(issue("FMT-W002", "raw/cube.fits", "keyword DATE-OBS is not ISO 8601"),),
)
UNKNOWN = FormatFacts(
    puid=None,
    name="Unknown",
    mime_type="application/octet-stream",
    basis="none",
    tool="fido 1.6.1 (PRONOM v109)",
    issues=(issue("FMT-W001", "notes.xyz", "format not identified"),),
)
TEXT = FormatFacts(
    puid="x-fmt/111", name="Plain Text File", mime_type="text/plain", basis="extension", tool="fido 1.6.1"
)


def hexdigest(algorithm: DigestAlgorithm, text: str) -> str:
    """A well-formed digest of ``text`` (xxh3_128 imitated with md5: only its length matters here)."""
    name = "md5" if algorithm is DigestAlgorithm.XXH3_128 else algorithm.value
    return hashlib.new(name, text.encode()).hexdigest()


def file_entry(path: str, size: int = 10, fmt: FormatFacts = TEXT, extra: bool = False) -> FileEntry:
    """A payload file with sha256 and xxh3_128, plus md5 and sha512 if ``extra``."""
    algorithms = [DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128]
    if extra:
        algorithms += [DigestAlgorithm.MD5, DigestAlgorithm.SHA512]
    return FileEntry(path=path, size=size, digests={a: hexdigest(a, path) for a in algorithms}, format=fmt)


def make_record(
    aip_id: str = "aip-1",
    version: int = 1,
    *,
    created: datetime = T0,
    title: str = "OMEGA Mars Express cubes",
    files: list[FileEntry] | None = None,
    fingerprint: str | None = None,
    agents: tuple[Agent, ...] = (SOFTWARE, ORGANISATION),
    copies: Sequence[Copy] = (),
    metadata: DescriptiveMetadata | None = None,
) -> AipRecord:
    """A complete AIP version record: files in three formats, two events, two agents."""
    if files is None:
        files = [
            file_entry("raw/cube.fits", 2880, FITS, extra=True),
            file_entry("notes.xyz", 7, UNKNOWN),
            # A submitted bag's tag file, kept outside data/objects.
            file_entry("bag-info.txt", 120).model_copy(
                update={"stored_path": "data/metadata/submission/bag-info.txt"}
            ),
            # Ingested under a policy whose digest of record is sha512: no sha256 at all.
            FileEntry(
                path="calibration/dark.fits",
                size=5760,
                digests={a: hexdigest(a, "dark") for a in (DigestAlgorithm.SHA512, DigestAlgorithm.XXH3_128)},
                format=FITS,
            ),
        ]
    when = created + timedelta(minutes=version)
    events = [
        Event(
            identifier=f"urn:uuid:{aip_id}-{version}-ingest",
            type=EventType.INGESTION,
            # A local time with an offset: the catalog must keep the instant.
            date_time=when.astimezone(CEST),
            detail="SIP received and stored as an AIP version",
            outcome=Outcome.SUCCESS,
            outcome_detail="3 files, 0 issues",
            agents=(
                AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),
                AgentLink(agent=ORGANISATION.identifier, role=AgentRole.IMPLEMENTER),
            ),
            objects=(aip_id, *(f.path for f in files[:2])),
            policy="ingest@1",
        ),
        Event(
            identifier=f"urn:uuid:{aip_id}-{version}-format",
            type=EventType.FORMAT_IDENTIFICATION,
            date_time=when,
            detail="PRONOM identification",
            outcome=Outcome.WARNING,
            outcome_detail="FMT-W001 notes.xyz: format not identified",
            agents=(AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),),
        ),
    ]
    return AipRecord(
        aip=Aip(aip_id=aip_id, title=title, producer="IAS / OMEGA team", created=created, metadata=metadata),
        version=AipVersion(
            aip_id=aip_id,
            version=version,
            created=when,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=fingerprint or hashlib.sha256(f"{aip_id}/{version}".encode()).hexdigest(),
            location=f"aips/{aip_id}/v{version}",
        ),
        files=files,
        events=events,
        agents=list(agents),
        copies=list(copies),
    )


def commit(catalog: UnitOfWorkFactory, *records: AipRecord) -> None:
    """Add ``records`` in one unit of work and commit it."""
    with catalog() as uow:
        for record in records:
            uow.aips.add(record)
        uow.commit()


def read(catalog: UnitOfWorkFactory, aip_id: str, version: int | None = None) -> AipRecord | None:
    """Read one version in a fresh unit of work."""
    with catalog() as uow:
        return uow.aips.get(aip_id, version)


def reset_postgres(url: str) -> str:
    """Empty the session's PostgreSQL database (every test starts from nothing) and return ``url``."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return url


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_en_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database whose default collation is ICU's ``en-US``, dropped afterwards.

    Databases made from template1 usually sort by code point ("C" or "C.UTF-8"), where any order by
    text looks right. Under ``en-US``, "Z" sorts after "a" and "é" before "f": the catalog must
    still give the order it gives on SQLite and in memory.
    """
    admin = make_url(postgres_url).set(drivername="postgresql")
    name = f"{admin.database}_en"
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            ).format(sql.Identifier(name))
        )
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(admin.set(database=name).render_as_string(hide_password=False)) as connection:
            row = connection.execute("SELECT 'Z' < 'a', 'f' < 'é'").fetchone()
        assert row == (False, False), f"{name} sorts by code point: it cannot tell a missing COLLATE"
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield in_memory_unit_of_work_factory()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
    else:
        url = reset_postgres(request.getfixturevalue("postgres_en_url"))
    upgrade(url)
    factory = sql_unit_of_work_factory(url)
    try:
        yield factory
    finally:
        factory.dispose()


@pytest.fixture(params=BACKENDS)
def catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnitOfWorkFactory]:
    """An empty catalog, migrated to head, of each kind."""
    yield from _catalog(request, tmp_path_factory)


@pytest.fixture(params=SQL_BACKENDS)
def sql_catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnitOfWorkFactory]:
    """An empty SQL catalog (SQLite, PostgreSQL), migrated to head."""
    yield from _catalog(request, tmp_path_factory)


# --- round trips -------------------------------------------------------------------------------


def test_a_committed_version_reads_back_exactly(catalog: UnitOfWorkFactory) -> None:
    record = make_record()
    commit(catalog, record)

    got = read(catalog, "aip-1", 1)

    assert got == record
    assert got is not None
    assert got.files[0].digests.keys() == {
        DigestAlgorithm.SHA256,
        DigestAlgorithm.XXH3_128,
        DigestAlgorithm.MD5,
        DigestAlgorithm.SHA512,
    }
    assert got.files[0].format.issues[0].code == "FMT-W002"
    assert got.files[2].bag_path == "data/metadata/submission/bag-info.txt"
    assert DigestAlgorithm.SHA256 not in got.files[3].digests
    assert got.events[0].objects == ("aip-1", "raw/cube.fits", "notes.xyz")
    assert [link.role for link in got.events[0].agents] == [
        AgentRole.EXECUTING_PROGRAM,
        AgentRole.IMPLEMENTER,
    ]
    assert got.agents == [SOFTWARE, ORGANISATION]


def test_a_migrated_file_reads_back_with_the_file_it_was_derived_from(catalog: UnitOfWorkFactory) -> None:
    tiff = FormatFacts(
        puid="fmt/353",
        name="Tagged Image File Format",
        mime_type="image/tiff",
        basis="signature",
        tool="fido",
    )
    first = make_record(
        version=1, files=[file_entry("raw/cube.fits", 2880, FITS), file_entry("notes.xyz", 7)]
    )
    # Version 2 keeps every file of version 1 (stored with it) and adds one made from the cube.
    reused = [f.model_copy(update={"stored_version": 1}) for f in first.files]
    migrated = file_entry("raw/cube.tif", 4096, tiff).model_copy(update={"derived_from": "raw/cube.fits"})
    second = make_record(version=2, files=[*reused, migrated])
    commit(catalog, first, second)

    got = read(catalog, "aip-1", 2)

    assert got == second
    assert got is not None
    assert [(f.path, f.derived_from) for f in got.files] == [
        ("raw/cube.fits", None),
        ("notes.xyz", None),
        ("raw/cube.tif", "raw/cube.fits"),
    ]
    assert read(catalog, "aip-1", 1) == first


#: Descriptive metadata using every field, with text a database could mangle.
DESCRIBED = DescriptiveMetadata(
    title="OMEGA cubes, orbit 0042 — étalonnées",
    creators=(
        Creator(name="IAS / OMEGA team", affiliation="Institut d'Astrophysique Spatiale"),
        Creator(name="Carberry, Josiah", orcid="0000-0002-1825-0097"),
    ),
    publisher="IAS",
    publication_year=2005,
    description="Calibrated cubes.\nSecond line, with 'quotes', \"double quotes\" and 100% & <tags>.",
    subjects=("Mars", "spectroscopy", "Ωmega 🌌"),
    identifiers=(Identifier(type="DOI", value="10.5072/omega-0042"),),
    language="en",
    licence=Licence(
        identifier="CC-BY-4.0",
        name="Creative Commons Attribution 4.0 International",
        uri="https://creativecommons.org/licenses/by/4.0/",
    ),
    access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 1, 1), note="PI first"),
    rights_statements=("© IAS / CNES", "Cite the OMEGA team's calibration paper."),
    observation=Observation(
        target_name="Mars",
        target_class="planet",
        processing_level=3,
        time_min=datetime(2004, 1, 18, 12, 0, tzinfo=UTC),
        spectral_range_min=5.9e13,
        spectral_range_max=8.6e14,
    ),
)


def test_descriptive_metadata_reads_back_exactly(catalog: UnitOfWorkFactory) -> None:
    record = make_record(metadata=DESCRIBED)
    commit(catalog, record, make_record("aip-2", created=T0 + timedelta(days=1)))

    got = read(catalog, "aip-1")
    with catalog() as uow:
        listed = uow.aips.list()

    assert got == record
    assert got is not None and got.aip.metadata == DESCRIBED
    assert (
        got.aip.descriptive.access.refusal(date(2026, 12, 31)) == "under embargo until 2027-01-01 (PI first)"
    )
    assert [(aip.aip_id, aip.metadata) for aip, _ in listed] == [("aip-1", DESCRIBED), ("aip-2", None)]


def test_the_descriptive_metadata_follows_the_newest_version(catalog: UnitOfWorkFactory) -> None:
    opened = DESCRIBED.model_copy(update={"access": Access(), "licence": None})
    commit(catalog, make_record(version=1, metadata=DESCRIBED))
    commit(catalog, make_record(version=2, metadata=opened))

    first, newest = read(catalog, "aip-1", 1), read(catalog, "aip-1")

    # As the title does: the AIP is described as its newest version describes it.
    assert first is not None and newest is not None
    assert first.aip.metadata == newest.aip.metadata == opened
    assert newest.aip.descriptive.access.refusal(date(2026, 1, 1)) is None


def test_an_aip_without_metadata_is_open(catalog: UnitOfWorkFactory) -> None:
    commit(catalog, make_record())

    got = read(catalog, "aip-1")

    assert got is not None and got.aip.metadata is None
    assert got.aip.descriptive == DescriptiveMetadata(title=got.aip.title)
    assert got.aip.descriptive.access.status is AccessStatus.OPEN


@pytest.mark.parametrize(
    ("metadata", "columns"),
    [
        (None, ("open", None, None)),
        (DESCRIBED, ("embargoed", date(2027, 1, 1), "CC-BY-4.0")),
        (
            DescriptiveMetadata(title="t", access=Access(status=AccessStatus.RESTRICTED)),
            ("restricted", None, None),
        ),
    ],
)
def test_access_status_embargo_and_licence_are_columns_for_searches(
    sql_catalog: UnitOfWorkFactory,
    metadata: DescriptiveMetadata | None,
    columns: tuple[str, date | None, str | None],
) -> None:
    commit(sql_catalog, make_record(metadata=metadata))
    assert isinstance(sql_catalog, SqlUnitOfWorkFactory)

    with sql_catalog.engine.connect() as connection:
        row = connection.execute(
            select(AipRow.access_status, AipRow.embargo_until, AipRow.licence, AipRow.metadata_json).where(
                AipRow.id == "aip-1"
            )
        ).one()

    assert tuple(row[:3]) == columns
    # The JSON is the canonical text every AIP version's descriptive.json holds.
    assert row[3] == (None if metadata is None else canonical_json(metadata).decode("utf-8"))


def test_times_come_back_time_zone_aware_in_utc(catalog: UnitOfWorkFactory) -> None:
    record = make_record(created=datetime(2024, 1, 31, 23, 30, tzinfo=CEST))
    commit(catalog, record)

    got = read(catalog, "aip-1")

    assert got is not None
    times = [got.aip.created, got.version.created, *(e.date_time for e in got.events)]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert got.aip.created == datetime(2024, 1, 31, 21, 30, tzinfo=UTC)
    assert got.events[0].date_time == record.events[0].date_time  # same instant, given in +02:00


def test_a_naive_time_is_refused(catalog: UnitOfWorkFactory) -> None:
    record = make_record()
    naive = datetime(2024, 1, 1, 12, 0)  # no time zone: which instant?
    record = record.model_copy(update={"aip": record.aip.model_copy(update={"created": naive})})

    with pytest.raises(CatalogError, match="no time zone"), catalog() as uow:
        uow.aips.add(record)


def test_non_ascii_paths_and_titles_are_kept_as_given(catalog: UnitOfWorkFactory) -> None:
    composed = unicodedata.normalize("NFC", "données/été.fits")
    decomposed = unicodedata.normalize("NFD", "données/été.fits")
    files = [
        file_entry(composed, 1),
        file_entry(decomposed, 2),  # a different name to the file system; the index must not merge them
        file_entry("観測/火星 マップ.png", 3),
        file_entry("Ωmega/данные 🚀.txt", 4),
    ]
    record = make_record("aip-unicode", title="Archives de l'Observatoire — Ωmega 🌌", files=files)
    commit(catalog, record)

    got = read(catalog, "aip-unicode")

    assert got == record
    assert got is not None
    assert [f.path for f in got.files] == [
        composed,
        decomposed,
        "観測/火星 マップ.png",
        "Ωmega/данные 🚀.txt",
    ]


def test_agents_are_shared_and_keep_their_first_description(catalog: UnitOfWorkFactory) -> None:
    commit(catalog, make_record("aip-1"))
    renamed = SOFTWARE.model_copy(update={"name": "oais (renamed)"})
    commit(catalog, make_record("aip-2", agents=(renamed, ORGANISATION)))

    got = read(catalog, "aip-2")

    assert got is not None
    assert got.agents == [SOFTWARE, ORGANISATION]


# --- versions ----------------------------------------------------------------------------------


def test_get_returns_the_latest_version_unless_one_is_named(catalog: UnitOfWorkFactory) -> None:
    commit(catalog, make_record(version=1))
    commit(catalog, make_record(version=3), make_record(version=2))

    latest = read(catalog, "aip-1")
    second = read(catalog, "aip-1", 2)

    assert latest is not None and latest.version.version == 3
    assert second is not None and second.version.version == 2
    assert read(catalog, "aip-1", 4) is None
    assert read(catalog, "no-such-aip") is None


def test_the_aip_title_follows_its_newest_version(catalog: UnitOfWorkFactory) -> None:
    commit(catalog, make_record(version=1, title="First title"))
    commit(catalog, make_record(version=2, title="Corrected title"))

    got = read(catalog, "aip-1", 1)

    assert got is not None
    assert got.aip.title == "Corrected title"
    assert got.aip.created == T0


def test_a_duplicate_version_is_refused_and_the_first_is_kept(catalog: UnitOfWorkFactory) -> None:
    original = make_record()
    commit(catalog, original)
    impostor = make_record(files=[file_entry("other.txt")])
    impostor = impostor.model_copy(update={"events": []})

    with pytest.raises(CatalogError, match=r"aip-1 version 1: this AIP version is already in the catalog"):
        commit(catalog, impostor)

    assert read(catalog, "aip-1") == original


def test_the_same_version_added_twice_in_one_unit_of_work_is_refused(catalog: UnitOfWorkFactory) -> None:
    record = make_record()
    again = record.model_copy(update={"events": []})

    with pytest.raises(CatalogError, match="already in the catalog"):
        commit(catalog, record, again)

    assert read(catalog, "aip-1") is None


def test_a_reused_event_identifier_is_refused(catalog: UnitOfWorkFactory) -> None:
    first = make_record("aip-1")
    second = make_record("aip-2").model_copy(update={"events": first.events})
    commit(catalog, first)

    with pytest.raises(CatalogError, match="event"):
        commit(catalog, second)

    assert read(catalog, "aip-2") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agents": [SOFTWARE]}, "names agent 'organization:IAS / OMEGA team', not in the record"),
        ({"files": [FileEntry(path="a", size=1, digests={}, format=TEXT)]}, "no digest"),
        ({"files": [file_entry("same"), file_entry("same")]}, "'same' is listed 2 times"),
        (
            {
                "files": [
                    file_entry("a.fits"),
                    file_entry("a.tif").model_copy(update={"derived_from": "b.fits"}),
                ]
            },
            r"1 file\(s\) are derived from a path no other file of the version has, "
            "first 'a.tif' from 'b.fits'",
        ),
        (
            {"files": [file_entry("a.fits").model_copy(update={"derived_from": "a.fits"})]},
            "derived from a path no other file of the version has, first 'a.fits' from 'a.fits'",
        ),
    ],
    ids=["unknown-agent", "no-digest", "duplicate-path", "unknown-source", "own-source"],
)
def test_an_inconsistent_record_is_refused(
    catalog: UnitOfWorkFactory, change: dict[str, object], message: str
) -> None:
    record = make_record().model_copy(update=change)
    record = record.model_copy(
        update={
            "version": record.version.model_copy(
                update={"files": len(record.files), "bytes": sum(f.size for f in record.files)}
            )
        }
    )

    with pytest.raises(CatalogError, match=message):
        commit(catalog, record)

    assert read(catalog, "aip-1") is None


# --- transactions ------------------------------------------------------------------------------


def test_uncommitted_work_is_invisible_and_rolled_back_on_exit(catalog: UnitOfWorkFactory) -> None:
    with catalog() as writer:
        writer.aips.add(make_record())
        assert writer.aips.get("aip-1") is not None  # a unit of work reads its own writes
        with catalog() as reader:
            assert reader.aips.get("aip-1") is None
            assert reader.aips.list() == []
        # leaving without commit()

    assert read(catalog, "aip-1") is None


def test_rollback_discards_and_later_work_can_still_commit(catalog: UnitOfWorkFactory) -> None:
    with catalog() as uow:
        uow.aips.add(make_record("aip-1"))
        uow.rollback()
        uow.aips.add(make_record("aip-2"))
        uow.commit()

    assert read(catalog, "aip-1") is None
    assert read(catalog, "aip-2") is not None


@pytest.mark.parametrize("refused", ["duplicate", "inconsistent"])
def test_a_refused_add_voids_the_whole_unit_of_work(catalog: UnitOfWorkFactory, refused: str) -> None:
    commit(catalog, make_record("aip-1"))
    bad = make_record("aip-1").model_copy(update={"events": []})
    if refused == "inconsistent":
        bad = make_record("aip-3").model_copy(update={"agents": []})

    with catalog() as uow:
        uow.aips.add(make_record("aip-2"))
        with pytest.raises(CatalogError):
            uow.aips.add(bad)
        uow.commit()  # nothing half-done may be committed after a failure

    assert read(catalog, "aip-2") is None


def test_the_catalog_keeps_what_was_added_when_the_caller_changes_its_record(
    catalog: UnitOfWorkFactory,
) -> None:
    record = make_record()
    expected = record.model_copy(deep=True)
    with catalog() as uow:
        uow.aips.add(record)
        uow.commit()
    record.files.clear()
    record.events.pop()

    assert read(catalog, "aip-1") == expected


def test_a_version_committed_meanwhile_is_refused_at_the_latest_on_commit(catalog: UnitOfWorkFactory) -> None:
    # The second unit of work starts before the first commits; it must not overwrite it.
    late = catalog()
    with late:
        commit(catalog, make_record("aip-1"))
        with pytest.raises(CatalogError, match="already in the catalog"):
            late.aips.add(make_record("aip-1").model_copy(update={"events": []}))
            late.commit()

    got = read(catalog, "aip-1")
    assert got is not None and len(got.events) == 2


# --- queries -----------------------------------------------------------------------------------


def test_find_by_fingerprint_returns_the_oldest_holder(catalog: UnitOfWorkFactory) -> None:
    shared = "ab" * 32
    commit(catalog, make_record("aip-b", created=T0 + timedelta(days=1), fingerprint=shared))
    commit(catalog, make_record("aip-a", created=T0, fingerprint=shared))
    commit(catalog, make_record("aip-a", 2, created=T0, fingerprint=shared))  # metadata-only update

    found = None
    with catalog() as uow:
        found = uow.aips.find_by_fingerprint(shared)
        missing = uow.aips.find_by_fingerprint("cd" * 32)

    assert found is not None
    assert (found.aip_id, found.version) == ("aip-a", 1)
    assert found == make_record("aip-a", created=T0, fingerprint=shared).version
    assert missing is None


def test_list_gives_every_aip_oldest_first_with_its_latest_version(catalog: UnitOfWorkFactory) -> None:
    commit(catalog, make_record("aip-new", created=T0 + timedelta(days=2)))
    commit(catalog, make_record("aip-old", created=(T0 - timedelta(days=1)).astimezone(CEST)))
    commit(catalog, make_record("aip-mid-b", created=T0), make_record("aip-mid-a", created=T0))
    commit(catalog, make_record("aip-old", 2, created=T0 - timedelta(days=1)))

    with catalog() as uow:
        listed = uow.aips.list()

    assert [(aip.aip_id, version) for aip, version in listed] == [
        ("aip-old", 2),
        ("aip-mid-a", 1),
        ("aip-mid-b", 1),
        ("aip-new", 1),
    ]
    assert listed[0][0].created == T0 - timedelta(days=1)


# --- rejections --------------------------------------------------------------------------------


def rejection(identifier: str, when: datetime) -> Rejection:
    """A rejected SIP with two issues, one about a name that is not valid UTF-8."""
    undecodable = b"raw/\xff\xfe.fits".decode("utf-8", "surrogateescape")
    return Rejection(
        identifier=identifier,
        sip_path=f"/incoming/élève-{identifier}.zip",
        producer="IAS / OMEGA team",
        title="Relevés d'été",
        date_time=when,
        issues=(
            issue("SIP-E006", undecodable, "name is not valid UTF-8"),
            issue("SIP-E004", "données/é.txt", "names collide after Unicode normalisation (NFC)"),
        ),
    )


def test_rejections_read_back_with_every_issue_oldest_first(catalog: UnitOfWorkFactory) -> None:
    late = rejection("urn:uuid:r2", T0 + timedelta(hours=1))
    early = rejection("urn:uuid:r1", T0.astimezone(CEST))
    with catalog() as uow:
        uow.aips.add_rejection(late)
        uow.aips.add_rejection(early)
        uow.commit()

    with catalog() as uow:
        got = uow.aips.rejections()

    assert got == [early, late]
    assert got[0].issues[0].path == early.issues[0].path  # the undecodable name survives
    assert got[0].date_time.utcoffset() == timedelta(0)


def test_a_rejection_is_recorded_only_on_commit_and_only_once(catalog: UnitOfWorkFactory) -> None:
    with catalog() as uow:
        uow.aips.add_rejection(rejection("urn:uuid:r1", T0))
    with catalog() as uow:
        assert uow.aips.rejections() == []
        uow.aips.add_rejection(rejection("urn:uuid:r1", T0))
        uow.commit()

    with pytest.raises(CatalogError, match="urn:uuid:r1"), catalog() as uow:
        uow.aips.add_rejection(rejection("urn:uuid:r1", T0 + timedelta(days=1)))
        uow.commit()

    with catalog() as uow:
        assert [r.date_time for r in uow.aips.rejections()] == [T0]


# --- copies ------------------------------------------------------------------------------------


def copy_at(
    location: str, stored: datetime = T0, verified: datetime | None = T0, objects: int = 9, size: int = 8767
) -> Copy:
    """A copy of a version at ``location``."""
    return Copy(location=location, stored=stored, verified=verified, objects=objects, bytes=size)


def copies(catalog: UnitOfWorkFactory, location: str | None = None) -> list[tuple[str, int, Copy]]:
    """Every copy (at ``location``), read in a fresh unit of work."""
    with catalog() as uow:
        return uow.aips.copies(location)


def test_the_copies_of_a_version_read_back_by_location(catalog: UnitOfWorkFactory) -> None:
    s3 = copy_at("s3-b", stored=T0 + timedelta(minutes=2), verified=None)
    local = copy_at("local", stored=(T0 + timedelta(minutes=1)).astimezone(CEST), objects=3, size=12)
    record = make_record(copies=[s3, local])
    commit(catalog, record)

    got = read(catalog, "aip-1")

    assert got is not None
    assert got.copies == [local, s3]
    assert got == record.model_copy(update={"copies": [local, s3]})
    assert got.copies[0].stored.utcoffset() == timedelta(0)
    assert got.copies[1].verified is None  # not checked in full since it was recorded


def test_put_copy_records_a_copy_and_replaces_the_one_known_at_that_location(
    catalog: UnitOfWorkFactory,
) -> None:
    commit(catalog, make_record(copies=[copy_at("local")]))
    checked = copy_at("local", stored=T0, verified=T0 + timedelta(days=90), objects=10, size=9000)
    replica = copy_at("s3-a", stored=T0 + timedelta(hours=1), verified=None)

    with catalog() as uow:
        uow.aips.put_copy("aip-1", 1, checked)
        uow.aips.put_copy("aip-1", 1, replica)
        uow.commit()
    with catalog() as uow:
        uow.aips.put_copy("aip-1", 1, replica.model_copy(update={"verified": T0 + timedelta(days=1)}))
        uow.commit()

    got = read(catalog, "aip-1")
    assert got is not None
    assert got.copies == [checked, replica.model_copy(update={"verified": T0 + timedelta(days=1)})]
    assert len(copies(catalog)) == 2  # replaced, not added


def test_copies_lists_every_copy_or_those_at_one_location_by_aip_and_version(
    catalog: UnitOfWorkFactory,
) -> None:
    commit(catalog, make_record("aip-new", created=T0 + timedelta(days=2), copies=[copy_at("local")]))
    commit(
        catalog,
        make_record("aip-old", created=T0 - timedelta(days=1), copies=[copy_at("s3-a"), copy_at("local")]),
    )
    commit(
        catalog,
        make_record("aip-mid-b", created=T0, copies=[copy_at("local")]),
        make_record("aip-mid-a", created=T0, copies=[copy_at("s3-a")]),
    )
    commit(catalog, make_record("aip-old", 2, created=T0 - timedelta(days=1), copies=[copy_at("local")]))
    commit(catalog, make_record("aip-no-copy"))

    every = [(aip_id, version, copy.location) for aip_id, version, copy in copies(catalog)]
    at_s3 = [(aip_id, version, copy.location) for aip_id, version, copy in copies(catalog, "s3-a")]

    assert every == [
        ("aip-old", 1, "local"),
        ("aip-old", 1, "s3-a"),
        ("aip-old", 2, "local"),
        ("aip-mid-a", 1, "s3-a"),
        ("aip-mid-b", 1, "local"),
        ("aip-new", 1, "local"),
    ]
    assert at_s3 == [("aip-old", 1, "s3-a"), ("aip-mid-a", 1, "s3-a")]
    assert copies(catalog, "nowhere") == []
    assert copies(catalog)[0][2] == copy_at("local")


def test_the_same_location_twice_in_one_record_is_refused(catalog: UnitOfWorkFactory) -> None:
    record = make_record(copies=[copy_at("local"), copy_at("local", objects=1)])

    with pytest.raises(CatalogError, match="copy location 'local' is listed 2 times"):
        commit(catalog, record)

    assert read(catalog, "aip-1") is None


# --- events after ingest -----------------------------------------------------------------------

AUDITOR = Agent(
    identifier="software:oais-audit/0.2.0", name="oais audit", type=AgentType.SOFTWARE, version="0.2.0"
)


def later_event(name: str, when: datetime, *agents: Agent, kind: EventType = EventType.FIXITY_CHECK) -> Event:
    """An event that happened to aip-1 version 1 after its ingest."""
    return Event(
        identifier=f"urn:uuid:aip-1-1-{name}",
        type=kind,
        date_time=when,
        detail=f"{kind.value} at location local",
        outcome=Outcome.SUCCESS,
        outcome_detail="9 objects read, every digest matches",
        agents=tuple(AgentLink(agent=a.identifier, role=AgentRole.EXECUTING_PROGRAM) for a in agents),
        objects=("aip-1",),
        policy="storage@1",
    )


def test_events_added_later_read_back_after_the_ingest_events_in_the_order_added(
    catalog: UnitOfWorkFactory,
) -> None:
    record = make_record()
    commit(catalog, record, make_record(version=2))
    # Recorded earlier than the ingest's second event, yet read back after every ingest event.
    replication = later_event("replication", T0.astimezone(CEST), SOFTWARE, kind=EventType.REPLICATION)
    first_check = later_event("fixity-1", T0 + timedelta(days=30), AUDITOR, SOFTWARE)
    second_check = later_event("fixity-2", T0 + timedelta(days=60), AUDITOR)
    renamed = SOFTWARE.model_copy(update={"name": "oais (renamed)"})

    with catalog() as uow:
        uow.aips.add_events("aip-1", 1, [replication], [renamed])
        uow.commit()
    with catalog() as uow:
        uow.aips.add_events("aip-1", 1, [first_check, second_check], [AUDITOR, SOFTWARE])
        uow.commit()

    got = read(catalog, "aip-1", 1)
    assert got is not None
    assert got.events == [*record.events, replication, first_check, second_check]
    assert got.events[2].date_time.utcoffset() == timedelta(0)
    # The agents of later events follow the ingest's; one already known keeps its description.
    assert got.agents == [SOFTWARE, ORGANISATION, AUDITOR]
    assert got.files == record.files
    other = read(catalog, "aip-1", 2)
    assert other is not None and len(other.events) == 2


def test_events_added_in_the_unit_of_work_that_adds_the_version_follow_its_ingest_events(
    catalog: UnitOfWorkFactory,
) -> None:
    record = make_record()
    check = later_event("fixity-1", T0, AUDITOR)

    with catalog() as uow:
        uow.aips.add(record)
        uow.aips.add_events("aip-1", 1, [check], [AUDITOR])
        uow.aips.put_copy("aip-1", 1, copy_at("local"))
        own = uow.aips.get("aip-1")
        uow.commit()

    assert own is not None and own.events[-1] == check
    assert read(catalog, "aip-1") == record.model_copy(
        update={
            "events": [*record.events, check],
            "agents": [*record.agents, AUDITOR],
            "copies": [copy_at("local")],
        }
    )


@pytest.mark.parametrize(
    ("events", "agents", "message"),
    [
        (
            [make_record().events[0]],
            [SOFTWARE, ORGANISATION],
            "an event with one of these identifiers is already",
        ),
        (
            [later_event("fixity-1", T0, AUDITOR)],
            [],
            "names agent 'software:oais-audit/0.2.0', not in the agents",
        ),
        (
            [later_event("fixity-1", T0, AUDITOR), later_event("fixity-1", T0, AUDITOR)],
            [AUDITOR],
            "event 'urn:uuid:aip-1-1-fixity-1' is listed 2 times",
        ),
    ],
    ids=["taken-identifier", "agent-not-given", "duplicate-identifier"],
)
def test_events_that_cannot_be_recorded_are_refused(
    catalog: UnitOfWorkFactory, events: list[Event], agents: list[Agent], message: str
) -> None:
    record = make_record()
    commit(catalog, record)

    with pytest.raises(CatalogError, match=message), catalog() as uow:
        uow.aips.add_events("aip-1", 1, events, agents)

    assert read(catalog, "aip-1") == record


WRITES_ABOUT_A_VERSION: dict[str, Callable[[AipRepository, str, int], None]] = {
    "add_events": lambda aips, aip_id, version: aips.add_events(
        aip_id, version, [later_event("fixity-1", T0, AUDITOR)], [AUDITOR]
    ),
    "put_copy": lambda aips, aip_id, version: aips.put_copy(aip_id, version, copy_at("local")),
}


@pytest.mark.parametrize("write", sorted(WRITES_ABOUT_A_VERSION))
@pytest.mark.parametrize(("aip_id", "version"), [("aip-1", 2), ("no-such-aip", 1)])
def test_writes_about_an_unknown_version_are_refused_and_void_the_unit_of_work(
    catalog: UnitOfWorkFactory, write: str, aip_id: str, version: int
) -> None:
    commit(catalog, make_record())

    with catalog() as uow:
        uow.aips.add_rejection(rejection("urn:uuid:r1", T0))
        with pytest.raises(
            CatalogError, match=f"AIP {aip_id} version {version}( at local)?: there is no such AIP version"
        ):
            WRITES_ABOUT_A_VERSION[write](uow.aips, aip_id, version)
        uow.commit()  # nothing written before the refusal may be committed after it

    with catalog() as uow:
        assert uow.aips.rejections() == []
        assert uow.aips.copies() == []
    got = read(catalog, "aip-1")
    assert got is not None and len(got.events) == 2


# --- event log segments ------------------------------------------------------------------------


def segment(sequence: int, location: str = "local", when: datetime = T0) -> Segment:
    """Segment ``sequence`` of ``location``'s event log, chained to the one before it."""
    return Segment(
        location=location,
        sequence=sequence,
        key=f"events/{sequence:08d}.jsonl",
        sha256=hexdigest(DigestAlgorithm.SHA256, f"{location}/{sequence}"),
        previous=None if sequence == 1 else hexdigest(DigestAlgorithm.SHA256, f"{location}/{sequence - 1}"),
        events=sequence * 10,
        created=when + timedelta(hours=sequence),
    )


def test_segments_read_back_by_sequence_number_per_location(catalog: UnitOfWorkFactory) -> None:
    with catalog() as uow:
        uow.aips.add_segment(segment(2))
        uow.aips.add_segment(segment(1, "s3-a"))
        uow.aips.add_segment(segment(1, when=T0.astimezone(CEST)))
        uow.commit()
    with catalog() as uow:
        uow.aips.add_segment(segment(3))
        uow.commit()

    with catalog() as uow:
        local = uow.aips.segments("local")
        replica = uow.aips.segments("s3-a")
        nothing = uow.aips.segments("nowhere")

    assert local == [segment(1), segment(2), segment(3)]
    assert local[0].created.utcoffset() == timedelta(0)
    assert replica == [segment(1, "s3-a")]
    assert nothing == []


def test_a_segment_sequence_number_taken_at_a_location_is_refused(catalog: UnitOfWorkFactory) -> None:
    with catalog() as uow:
        uow.aips.add_segment(segment(1))
        uow.commit()
    impostor = segment(1).model_copy(update={"key": "events/other.jsonl", "sha256": "ab" * 32})

    taken = "already has an event log segment with this sequence number"
    with pytest.raises(CatalogError, match=taken), catalog() as uow:
        uow.aips.add_segment(segment(2))
        uow.aips.add_segment(impostor)
    with pytest.raises(CatalogError, match=taken), catalog() as uow:
        uow.aips.add_segment(segment(2))
        uow.aips.add_segment(segment(2))

    with catalog() as uow:
        assert uow.aips.segments("local") == [segment(1)]


# --- versions and emptiness --------------------------------------------------------------------


def test_versions_gives_every_version_by_aip_oldest_first_then_by_version(catalog: UnitOfWorkFactory) -> None:
    with catalog() as uow:
        assert list(uow.aips.versions()) == []
    commit(catalog, make_record("aip-new", created=T0 + timedelta(days=2)))
    commit(catalog, make_record("aip-old", 3, created=T0 - timedelta(days=1)))
    commit(catalog, make_record("aip-mid-b", created=T0), make_record("aip-mid-a", created=T0))
    commit(catalog, make_record("aip-old", 1, created=(T0 - timedelta(days=1)).astimezone(CEST)))

    with catalog() as uow:
        listed = list(uow.aips.versions())

    assert [(v.aip_id, v.version) for v in listed] == [
        ("aip-old", 1),
        ("aip-old", 3),
        ("aip-mid-a", 1),
        ("aip-mid-b", 1),
        ("aip-new", 1),
    ]
    assert listed[0] == make_record("aip-old", 1, created=T0 - timedelta(days=1)).version


def test_versions_orders_aips_created_at_the_same_time_by_id(catalog: UnitOfWorkFactory) -> None:
    records = [
        make_record(aip_id, version, created=T0 + timedelta(days=day))
        for aip_id, day, count in (("aip-c", 0, 3), ("aip-a", 0, 2), ("aip-b", 1, 1), ("aip-d", -1, 2))
        for version in range(1, count + 1)
    ]
    commit(catalog, *records)

    with catalog() as uow:
        listed = list(uow.aips.versions())

    assert [(v.aip_id, v.version) for v in listed] == [
        ("aip-d", 1),
        ("aip-d", 2),
        ("aip-a", 1),
        ("aip-a", 2),
        ("aip-c", 1),
        ("aip-c", 2),
        ("aip-c", 3),
        ("aip-b", 1),
    ]


def test_ids_and_locations_sort_by_code_point_whatever_the_database_collation(
    catalog: UnitOfWorkFactory,
) -> None:
    # Code point order: "Z" < "a" < "f" < "é". A natural-language collation (en-US) would give
    # a < é < f < Z instead. Every AIP is created at the same time, so its id decides.
    ids = ["aip-f", "aip-Z", "aip-é", "aip-a"]
    by_code_point = ["aip-Z", "aip-a", "aip-f", "aip-é"]
    locations = ["tape", "Z-vault", "é-site", "f-site"]
    fingerprint = "ef" * 32
    held = [copy_at(where) for where in locations]
    with catalog() as uow:
        for aip_id in ids:
            uow.aips.add(make_record(aip_id, created=T0, fingerprint=fingerprint, copies=held))
            uow.aips.add_rejection(rejection(f"urn:{aip_id}", T0))
        uow.commit()

    with catalog() as uow:
        listed = [aip.aip_id for aip, _ in uow.aips.list()]
        versions = [v.aip_id for v in uow.aips.versions()]
        every = [(aip_id, copy.location) for aip_id, _, copy in uow.aips.copies()]
        at_z = [aip_id for aip_id, _, _ in uow.aips.copies("Z-vault")]
        found = uow.aips.find_by_fingerprint(fingerprint)
        rejected = [r.identifier for r in uow.aips.rejections()]
        record = uow.aips.get("aip-a")

    assert listed == versions == at_z == by_code_point
    assert every == [(aip_id, where) for aip_id in by_code_point for where in sorted(locations)]
    assert sorted(locations) == ["Z-vault", "f-site", "tape", "é-site"]
    assert found is not None and found.aip_id == "aip-Z"
    assert rejected == [f"urn:{aip_id}" for aip_id in by_code_point]
    assert record is not None and [c.location for c in record.copies] == sorted(locations)


IS_NOT_EMPTY_AFTER: dict[str, Callable[[AipRepository], None]] = {
    "aip": lambda aips: aips.add(make_record()),
    "rejection": lambda aips: aips.add_rejection(rejection("urn:uuid:r1", T0)),
    "segment": lambda aips: aips.add_segment(segment(1)),
}


@pytest.mark.parametrize("write", sorted(IS_NOT_EMPTY_AFTER))
def test_the_catalog_is_empty_until_something_is_committed(catalog: UnitOfWorkFactory, write: str) -> None:
    with catalog() as uow:
        assert uow.aips.is_empty()
        IS_NOT_EMPTY_AFTER[write](uow.aips)
        assert not uow.aips.is_empty()  # a unit of work reads its own writes
        with catalog() as other:
            assert other.aips.is_empty()
        uow.commit()

    with catalog() as uow:
        assert not uow.aips.is_empty()


def test_writes_after_ingest_persist_nothing_without_commit(catalog: UnitOfWorkFactory) -> None:
    record = make_record(copies=[copy_at("local")])
    commit(catalog, record)

    with catalog() as uow:
        uow.aips.add_events("aip-1", 1, [later_event("fixity-1", T0, AUDITOR)], [AUDITOR])
        uow.aips.put_copy("aip-1", 1, copy_at("local", verified=T0 + timedelta(days=1)))
        uow.aips.put_copy("aip-1", 1, copy_at("s3-a"))
        uow.aips.add_segment(segment(1))
        with catalog() as reader:
            assert reader.aips.get("aip-1") == record
            assert reader.aips.segments("local") == []
        # leaving without commit()

    with catalog() as uow:
        assert uow.aips.get("aip-1") == record
        assert uow.aips.copies() == [("aip-1", 1, copy_at("local"))]
        assert uow.aips.segments("local") == []
    with catalog() as uow:
        uow.aips.add_segment(segment(1))
        uow.rollback()
        uow.commit()
    with catalog() as uow:
        assert uow.aips.segments("local") == []


# --- volume ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_version_of_100000_files_is_added_and_read_back(sql_catalog: UnitOfWorkFactory) -> None:
    files = [
        file_entry(
            f"cubes/{i // 1000:03d}/ORB{i:06d}.fits", i, FITS if i % 2 else TEXT, extra=i % 10_000 == 0
        )
        for i in range(100_000)
    ]
    record = make_record("aip-big", files=files)

    commit(sql_catalog, record)
    got = read(sql_catalog, "aip-big")

    assert got is not None
    assert got.version.files == len(got.files) == 100_000
    assert got.files[99_999] == files[99_999]
    assert got.files[10_000].digests == files[10_000].digests  # one with md5 and sha512 too
    assert got == record
