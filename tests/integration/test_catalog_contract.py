"""The catalog contract: one set of tests, run against the in-memory fake, SQLite and PostgreSQL.

Whatever a service may rely on is asserted here, so that a unit test passing on the fake means the same
thing on a real database.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
from sqlalchemy.engine import make_url

from oais.adapters.catalog.memory import in_memory_unit_of_work_factory
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import issue
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, Rejection
from oais.domain.ports import UnitOfWorkFactory
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome

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
        aip=Aip(aip_id=aip_id, title=title, producer="IAS / OMEGA team", created=created),
        version=AipVersion(
            aip_id=aip_id,
            version=version,
            created=when,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=fingerprint or hashlib.sha256(f"{aip_id}/{version}".encode()).hexdigest(),
            location=f"/archive/aips/{aip_id}/v{version}",
        ),
        files=files,
        events=events,
        agents=list(agents),
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


def _catalog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield in_memory_unit_of_work_factory()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}"
    else:
        url = reset_postgres(request.getfixturevalue("postgres_url"))
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
    ],
    ids=["unknown-agent", "no-digest", "duplicate-path"],
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
