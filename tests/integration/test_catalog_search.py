"""Catalog search and API tokens on real databases (SQLite and PostgreSQL): every criterion, paging,
a producer's restriction; tokens stored as digests, revoked at once, names never reused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.search import SqlAipSearch
from oais.adapters.catalog.tokens import SqlTokenStore
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.data_management.search import CatalogSearch
from oais.domain.access_control import AccessLogEntry, ApiToken, Role, token_digest
from oais.domain.descriptive import Access, AccessStatus, DescriptiveMetadata, Identifier
from oais.domain.errors import ConfigError, ConflictError, NotFound
from oais.domain.packages import Aip, AipRecord
from oais.domain.search import SearchQuery
from tests.integration.test_catalog_contract import FITS, TEXT, commit, file_entry, make_record

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DOI = "10.5072/omega-0042"
IAS = "IAS / OMEGA team"
LESIA = "LESIA radio"


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty catalog at head on each kind of database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    upgrade(url)
    yield url


def record(
    aip_id: str,
    *,
    title: str,
    producer: str,
    created: datetime,
    version: int = 1,
    formats: tuple[str, ...] = ("text",),
    metadata: DescriptiveMetadata | None = None,
) -> AipRecord:
    files = [
        file_entry(
            f"{aip_id}/file-{i}.{'fits' if f == 'fits' else 'txt'}", 100, FITS if f == "fits" else TEXT
        )
        for i, f in enumerate(formats)
    ]
    base = make_record(
        aip_id,
        version,
        created=created,
        title=title,
        files=files,
        fingerprint=hashlib.sha256(f"{aip_id}/{version}/{formats}".encode()).hexdigest(),
    )
    aip = Aip(aip_id=aip_id, title=title, producer=producer, created=created, metadata=metadata)
    return base.model_copy(update={"aip": aip})


@pytest.fixture
def searchable(catalog_url: str) -> Iterator[SqlAipSearch]:
    """Four AIPs of two producers; one has two versions whose formats differ."""
    catalog = sql_unit_of_work_factory(catalog_url)
    try:
        commit(
            catalog,
            record("aip-omega", title="OMEGA cubes, orbit 0042", producer=IAS, created=T0, formats=("fits",)),
            record(
                "aip-emission",
                title="Émission radio de Jupiter",
                producer=LESIA,
                created=T0 + timedelta(days=10),
                metadata=DescriptiveMetadata(
                    title="Émission radio de Jupiter",
                    identifiers=(Identifier(type="DOI", value=DOI),),
                    access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2030, 1, 1)),
                ),
            ),
            record(
                "aip-50pct",
                title="100% of_the OMEGA darks",
                producer=IAS,
                created=T0 + timedelta(days=20),
                formats=("fits", "text"),
                # A longer identifier that holds the DOI: never matched by it.
                metadata=DescriptiveMetadata(
                    title="100% of_the OMEGA darks",
                    identifiers=(Identifier(type="URL", value=f"https://doi.org/{DOI}"),),
                ),
            ),
            record(
                "aip-migrated",
                title="Migrated",
                producer=IAS,
                created=T0 + timedelta(days=30),
                formats=("fits",),
            ),
        )
        # Its newest version holds text only: a FITS search no longer finds it.
        commit(
            catalog,
            record(
                "aip-migrated", title="Migrated", producer=IAS, created=T0 + timedelta(days=30), version=2
            ),
        )
    finally:
        catalog.dispose()
    search = SqlAipSearch(make_engine(catalog_url))
    yield search
    search.dispose()


def ids(search: SqlAipSearch, **criteria: object) -> list[str]:
    return [r.aip_id for r in search.search(SearchQuery.model_validate(criteria)).results]


def test_every_criterion_finds_exactly_the_aips_that_match(searchable: SqlAipSearch) -> None:
    everything = ["aip-omega", "aip-emission", "aip-50pct", "aip-migrated"]
    assert ids(searchable) == everything  # oldest first
    # Title: a case-insensitive part, accents folded by case too (É/é), wildcards taken literally.
    assert ids(searchable, title="omega") == ["aip-omega", "aip-50pct"]
    assert ids(searchable, title="ÉMISSION") == ["aip-emission"]
    assert ids(searchable, title="émission") == ["aip-emission"]
    assert ids(searchable, title="100%") == ["aip-50pct"]
    assert ids(searchable, title="of_the") == ["aip-50pct"]
    assert ids(searchable, title="0%") == ["aip-50pct"]
    assert ids(searchable, title="omega_cubes") == []  # "_" is not "any character"
    # Producer: a part, or exactly.
    assert ids(searchable, producer="omega") == ["aip-omega", "aip-50pct", "aip-migrated"]
    assert ids(searchable, producer_exact=LESIA) == ["aip-emission"]
    assert ids(searchable, producer_exact="LESIA") == []
    # Ingest date range, both ends inclusive.
    assert ids(searchable, created_from=T0 + timedelta(days=10), created_to=T0 + timedelta(days=20)) == [
        "aip-emission",
        "aip-50pct",
    ]
    assert ids(searchable, created_to=T0) == ["aip-omega"]
    # Format: held by a file of the newest version only.
    assert ids(searchable, format="fmt/144") == ["aip-omega", "aip-50pct"]
    assert ids(searchable, format="x-fmt/111") == ["aip-emission", "aip-50pct", "aip-migrated"]
    # Identifier: the AIP id, or an identifier of the metadata, whole.
    assert ids(searchable, identifier="aip-omega") == ["aip-omega"]
    assert ids(searchable, identifier=DOI) == ["aip-emission"]
    assert ids(searchable, identifier="10.5072") == []
    assert ids(searchable, identifier=f"https://doi.org/{DOI}") == ["aip-50pct"]
    # Criteria combine.
    assert ids(searchable, title="omega", format="x-fmt/111") == ["aip-50pct"]


def test_results_page_and_summarise_the_newest_version(searchable: SqlAipSearch) -> None:
    page = searchable.search(SearchQuery(limit=2, offset=1))
    assert page.total == 4
    assert (page.limit, page.offset) == (2, 1)
    assert [r.aip_id for r in page.results] == ["aip-emission", "aip-50pct"]
    emission = page.results[0]
    assert (emission.title, emission.producer, emission.created) == (
        "Émission radio de Jupiter",
        LESIA,
        T0 + timedelta(days=10),
    )
    assert (emission.version, emission.files, emission.bytes) == (1, 1, 100)
    assert (emission.access, emission.embargo_until) == (AccessStatus.EMBARGOED, date(2030, 1, 1))
    assert searchable.search(SearchQuery(offset=10)).results == []
    migrated = searchable.summary("aip-migrated")
    assert migrated is not None
    assert (migrated.version, migrated.access, migrated.embargo_until) == (2, AccessStatus.OPEN, None)
    assert searchable.summary("no-such-aip") is None


def test_a_producer_token_searches_its_own_aips_only(searchable: SqlAipSearch) -> None:
    service = CatalogSearch(searchable)
    producer = ApiToken(name="ias portal", role=Role.PRODUCER, producer=IAS, created=T0)
    auditor = ApiToken(name="auditor", role=Role.AUDITOR, created=T0)

    mine = service.search(SearchQuery(), producer)
    assert [r.aip_id for r in mine.results] == ["aip-omega", "aip-50pct", "aip-migrated"]
    assert mine.total == 3
    # Asking for another producer finds nothing, whichever way it is asked.
    assert service.search(SearchQuery(producer_exact=LESIA), producer).total == 0
    assert service.search(SearchQuery(producer="LESIA"), producer).total == 0
    assert service.search(SearchQuery(identifier=DOI), producer).total == 0
    assert service.search(SearchQuery(identifier=DOI), auditor).total == 1
    assert service.search(SearchQuery(), auditor).total == 4
    # A time without a zone is UTC.
    naive = SearchQuery(created_from=datetime(2024, 5, 11, 12, 0), created_to=datetime(2024, 5, 11, 12, 0))
    assert [r.aip_id for r in service.search(naive, auditor).results] == ["aip-emission"]


def test_criteria_no_catalog_can_hold_match_nothing(searchable: SqlAipSearch) -> None:
    service = CatalogSearch(searchable)
    auditor = ApiToken(name="auditor", role=Role.AUDITOR, created=T0)
    # PostgreSQL text holds no NUL, and refuses a query naming one: nothing is found, on both.
    for criterion in ("title", "producer", "producer_exact", "format", "identifier"):
        assert ids(searchable, **{criterion: "omega\x00"}) == []
    assert searchable.summary("aip-omega\x00") is None
    # Times whose UTC is before year 1 or after 9999 are as early or late as can be.
    utc_minus_12 = timezone(timedelta(hours=-12))
    utc_plus_12 = timezone(timedelta(hours=12))
    late = datetime(9999, 12, 31, 23, 0, tzinfo=utc_minus_12)
    early = datetime(1, 1, 1, 1, 0, tzinfo=utc_plus_12)
    assert service.search(SearchQuery(created_from=late), auditor).total == 0
    assert service.search(SearchQuery(created_to=late), auditor).total == 4
    assert service.search(SearchQuery(created_to=early), auditor).total == 0
    assert service.search(SearchQuery(created_from=early), auditor).total == 4


def test_tokens_are_kept_as_digests_revoked_at_once_and_their_names_never_reused(catalog_url: str) -> None:
    clock = FixedClock(T0)
    store = SqlTokenStore(make_engine(catalog_url), clock)
    try:
        issued = store.add("ias portal", Role.PRODUCER, f"  {IAS} ")
        admin = store.add("alice", Role.ADMIN)
        assert issued.token == ApiToken(name="ias portal", role=Role.PRODUCER, producer=IAS, created=T0)
        assert issued.secret.startswith("oais_") and len(issued.secret) >= 45
        assert issued.secret != admin.secret

        # Only the digest is stored.
        with store.engine.connect() as connection:
            stored = connection.execute(text("SELECT name, sha256 FROM api_tokens ORDER BY id")).all()
        assert [tuple(r) for r in stored] == [
            ("ias portal", token_digest(issued.secret)),
            ("alice", token_digest(admin.secret)),
        ]
        dump = "\n".join(connection_dump(catalog_url))
        assert issued.secret not in dump and admin.secret not in dump

        assert store.authenticate(issued.secret) == issued.token
        for wrong in (
            "",
            issued.secret[:-1],
            issued.secret + "x",
            "oais_" + "A" * 43,
            token_digest(issued.secret),
        ):
            assert store.authenticate(wrong) is None

        clock.moment = T0 + timedelta(hours=1)
        revoked = store.revoke("ias portal")
        assert revoked.revoked == T0 + timedelta(hours=1)
        assert store.authenticate(issued.secret) is None
        assert store.authenticate(admin.secret) == admin.token
        clock.moment = T0 + timedelta(hours=2)
        assert store.revoke("ias portal").revoked == T0 + timedelta(hours=1)  # the first revocation stays
        with pytest.raises(NotFound, match="no token named 'nobody'"):
            store.revoke("nobody")
        with pytest.raises(ConflictError, match="a token named 'ias portal' already exists"):
            store.add("ias portal", Role.AUDITOR)
        assert [t.name for t in store.list()] == ["ias portal", "alice"]
        assert [t.revoked for t in store.list()] == [T0 + timedelta(hours=1), None]

        with pytest.raises(ConfigError, match="a producer token needs the producer name"):
            store.add("bob", Role.PRODUCER)
        with pytest.raises(ConfigError, match="only a producer token is bound to a producer"):
            store.add("bob", Role.AUDITOR, IAS)
        with pytest.raises(ConfigError, match="is not allowed"):
            store.add("", Role.AUDITOR)
        assert len(store.list()) == 2

        entry = AccessLogEntry(time=T0, token=None, method="GET", path="/aips", status=401)
        store.record(entry)
        assert store.access_log() == [entry]
        assert store.access_log(since=T0 + timedelta(seconds=1)) == []
    finally:
        store.dispose()


def connection_dump(url: str) -> list[str]:
    """Every value of every row of the token table, as text."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [
                str(value) for row in connection.execute(text("SELECT * FROM api_tokens")) for value in row
            ]
    finally:
        engine.dispose()
