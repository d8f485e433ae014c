"""The composition root: the one place where adapters are built and wired to the services.

Nothing connects at import time: :func:`build` opens the catalog (migrating it to the current
schema), and the store creates its directories on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from oais.access.dip import DipService
from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.actions import SqlActionLog
from oais.adapters.catalog.audit import SqlAuditLedger
from oais.adapters.catalog.deaccession import SqlDeaccessionCatalog
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.evidence import SqlEvidence
from oais.adapters.catalog.formats import SqlFormatCatalog
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.search import SqlAipSearch
from oais.adapters.catalog.tokens import SqlTokenStore
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.adapters.clock import SystemClock
from oais.adapters.copier import ParallelCopier
from oais.adapters.dip_sinks import Deleter, sink_for
from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.local_store import LocalScratch
from oais.adapters.policy_files import (
    load_access_policy,
    load_audit_policy,
    load_format_policy,
    load_ingest_policy,
    load_storage_policy,
    policies_in_force,
)
from oais.adapters.premis.codec import PremisXmlCodec
from oais.adapters.sip import FileSystemSipReader, SourceBagFiles
from oais.adapters.storage.local import LocalObjectStore
from oais.adapters.storage.s3 import S3ObjectStore
from oais.administration.audit_report import AuditReportService
from oais.administration.deaccession import DeaccessionService
from oais.administration.ndsa import NdsaService
from oais.administration.reports import ReportService
from oais.archival_storage.audit import AuditService
from oais.archival_storage.service import ArchivalStorage
from oais.config import LocalLocation, S3Location, Settings, credentials
from oais.data_management.actions import ActionRecorder
from oais.domain.errors import ConfigError
from oais.domain.formats import FormatPolicy
from oais.domain.ports import DeaccessionCatalog, DipSink, FormatConverter, ObjectStore, UnitOfWorkFactory
from oais.domain.premis import Agent, AgentType
from oais.ingest.bag_validation import BagValidator
from oais.ingest.service import IngestService
from oais.preservation_planning.migration import MigrationService


def software_version() -> str:
    """This software's version, as installed."""
    try:
        return package_version("oais")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True)
class Services:
    """Everything the entry points need."""

    settings: Settings
    ingest: IngestService
    bag_validator: BagValidator
    catalog: UnitOfWorkFactory
    storage: ArchivalStorage
    premis: PremisXmlCodec
    scratch: LocalScratch
    copiers: tuple[ParallelCopier, ...] = ()
    #: Deaccession requests and tombstones (None only where nothing can be deaccessioned).
    deaccessions: DeaccessionCatalog | None = None

    def close(self) -> None:
        """Stop worker processes."""
        for copier in self.copiers:
            copier.close()


def _bag_validator(copier: ParallelCopier) -> BagValidator:
    return BagValidator(
        sip_reader=FileSystemSipReader(), bag_files=SourceBagFiles, copier=copier, bag_codec=BagItCodec()
    )


@contextmanager
def bag_validator(workers: int | None = None) -> Iterator[BagValidator]:
    """A bag validator alone (it needs neither catalog nor store); its workers stop on exit."""
    copier = ParallelCopier(identifier=None, workers=workers)
    try:
        yield _bag_validator(copier)
    finally:
        copier.close()


def software_agent() -> Agent:
    """This software as a PREMIS agent."""
    version = software_version()
    return Agent(
        identifier=f"software:oais/{version}",
        name="oais",
        type=AgentType.SOFTWARE,
        version=version,
        note="preservation repository software",
    )


def object_store(name: str, location: LocalLocation | S3Location, workers: int | None = None) -> ObjectStore:
    """The object store of one configured location (no connection is made here).

    Raises:
        ConfigError: an S3 location has no credentials.
    """
    if isinstance(location, LocalLocation):
        return LocalObjectStore(name, location.root, concurrency=max(2, workers or os.cpu_count() or 2))
    keys = credentials(name, location)
    return S3ObjectStore(
        name,
        endpoint=location.endpoint,
        bucket=location.bucket,
        access_key=keys.access_key,
        secret_key=keys.secret_key,
        prefix=location.prefix,
        region=location.region,
        ca_bundle=location.ca_bundle,
        part_size=location.part_size_mib << 20,
        concurrency=location.concurrency,
    )


def archival_storage(
    settings: Settings,
    catalog: UnitOfWorkFactory,
    scratch: LocalScratch | None = None,
    deaccessions: DeaccessionCatalog | None = None,
) -> ArchivalStorage:
    """The archival storage service over every configured location (the catalog migrated already).

    Raises:
        ConfigError: the storage policy is invalid or names a location that is not configured.
    """
    policy = load_storage_policy(settings.policies)
    if deaccessions is None:
        deaccessions = SqlDeaccessionCatalog(make_engine(settings.database_url))
    return ArchivalStorage(
        locations={n: object_store(n, loc, settings.workers) for n, loc in settings.locations.items()},
        policy=policy,
        catalog=catalog,
        bag_codec=BagItCodec(),
        clock=SystemClock(),
        software=software_agent(),
        scratch=scratch or LocalScratch(settings.staging),
        deaccessions=deaccessions,
    )


def open_location(name: str, location: LocalLocation | S3Location) -> ObjectStore:
    """Open one location in an audit worker (a module-level function, so that it pickles)."""
    return object_store(name, location, 1)


def audit_service(
    settings: Settings, storage: ArchivalStorage | None = None, holder: str | None = None
) -> AuditService:
    """The fixity audit service over every configured location.

    Raises:
        ConfigError: the audit or storage policy is invalid.
        CatalogError: the catalog cannot be opened.
    """
    policy = load_audit_policy(settings.policies)
    if storage is None:
        settings.home.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        storage = archival_storage(settings, sql_unit_of_work_factory(settings.database_url))
    return AuditService(
        storage=storage,
        ledger=SqlAuditLedger(make_engine(settings.database_url)),
        policy=policy,
        openers={n: partial(open_location, n, loc) for n, loc in settings.locations.items()},
        clock=SystemClock(),
        software=software_agent(),
        holder=holder,
    )


def format_catalog(settings: Settings) -> SqlFormatCatalog:
    """The catalog's holdings by format.

    Raises:
        CatalogError: the catalog cannot be opened.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return SqlFormatCatalog(make_engine(settings.database_url))


def format_converter() -> FormatConverter:
    """The converter that runs the format policy's rules with the tools installed here (imported
    when first needed: it brings Pillow and astropy)."""
    from oais.adapters.conversion import ToolConverter

    return ToolConverter(FidoIdentifier())


def _format_policy(settings: Settings) -> FormatPolicy | None:
    """The format policy, if the policies folder has one (ingest runs without it)."""
    path = settings.policies / "formats.toml"
    return load_format_policy(path) if path.exists() else None


def migration_service(services: Services) -> MigrationService:
    """The service that applies migration plans, on the catalog and storage of ``services``.

    Raises:
        ConfigError: the ingest policy (archive name, digest of record) is invalid.
    """
    policy = load_ingest_policy(services.settings.policies)
    return MigrationService(
        catalog=services.catalog,
        storage=services.storage,
        converter=format_converter(),
        premis=services.premis,
        bag_codec=BagItCodec(),
        scratch=services.scratch,
        clock=SystemClock(),
        software=software_agent(),
        archive_name=policy.archive_name,
        record_algorithm=policy.record_algorithm,
    )


def _dip_store(settings: Settings, bucket: str, prefix: str) -> tuple[ObjectStore, Deleter]:
    """The object store of an S3 DIP destination, rooted at its prefix, and a deleter for it.

    Raises:
        ConfigError: no DIP target names the bucket, or it has no credentials.
    """
    found = [(n, t) for n, t in settings.dip_targets.items() if t.bucket == bucket]
    if not found:
        raise ConfigError(
            f"s3://{bucket}/{prefix}: no DIP target is configured for bucket '{bucket}' "
            f'(add [dip_targets.NAME] with kind = "s3", endpoint and bucket = "{bucket}" '
            "to the configuration)"
        )
    name, target = found[0]
    store = object_store(name, target.model_copy(update={"prefix": prefix}))
    assert isinstance(store, S3ObjectStore)
    return store, store.delete_objects


def dip_sink(destination: str, settings: Settings) -> DipSink:
    """Where a DIP goes: a folder, a ``.zip`` or ``.tar`` file, or ``s3://BUCKET/PREFIX``.

    Raises:
        ConfigError: an S3 destination whose bucket is not a configured DIP target.
        StorageError: an S3 destination without a prefix.
    """
    return sink_for(destination, partial(_dip_store, settings))


def dip_service(services: Services) -> DipService:
    """The DIP service over the catalog and storage of ``services``.

    Raises:
        ConfigError: the access or ingest policy is invalid.
    """
    settings = services.settings
    ingest = load_ingest_policy(settings.policies)
    from oais.adapters.epntap import EpnTapTableWriter

    return DipService(
        catalog=services.catalog,
        storage=services.storage,
        scratch=services.scratch,
        clock=SystemClock(),
        software=software_agent(),
        policy=load_access_policy(settings.policies),
        formats=_format_policy(settings),
        converter=format_converter,
        table=EpnTapTableWriter(),
        premis=services.premis,
        bag_codec=BagItCodec(),
        archive_name=ingest.archive_name,
    )


def build(settings: Settings) -> Services:
    """Build the services for ``settings``.

    Raises:
        ConfigError: if a policy file is invalid.
        CatalogError: if the catalog cannot be opened or migrated.
    """
    policy = load_ingest_policy(settings.policies)
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    catalog = sql_unit_of_work_factory(settings.database_url)
    scratch = LocalScratch(settings.staging)
    deaccessions = SqlDeaccessionCatalog(make_engine(settings.database_url))
    storage = archival_storage(settings, catalog, scratch, deaccessions)
    premis = PremisXmlCodec(settings.schemas)
    reader = FileSystemSipReader()
    codec = BagItCodec()
    copier = ParallelCopier(identifier=FidoIdentifier(), workers=settings.workers)
    ingest = IngestService(
        sip_reader=reader,
        bag_files=SourceBagFiles,
        copier=copier,
        bag_codec=codec,
        premis=premis,
        scratch=scratch,
        storage=storage,
        catalog=catalog,
        clock=SystemClock(),
        policy=policy,
        software=software_agent(),
        formats=_format_policy(settings),
        converter=format_converter,
    )
    validator_copier = ParallelCopier(identifier=None, workers=settings.workers)
    return Services(
        settings=settings,
        ingest=ingest,
        bag_validator=_bag_validator(validator_copier),
        catalog=catalog,
        storage=storage,
        premis=premis,
        scratch=scratch,
        copiers=(copier, validator_copier),
        deaccessions=deaccessions,
    )


def deaccession_runner(settings: Settings) -> DeaccessionService:
    """The deaccession service alone (for the daemon, which carries out due deletions each tick).

    Raises:
        ConfigError: the storage policy is invalid.
        CatalogError: the catalog cannot be opened or migrated.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    catalog = sql_unit_of_work_factory(settings.database_url)
    deaccessions = SqlDeaccessionCatalog(make_engine(settings.database_url))
    return DeaccessionService(
        catalog=catalog,
        deaccessions=deaccessions,
        storage=archival_storage(settings, catalog, None, deaccessions),
        clock=SystemClock(),
        software=software_agent(),
    )


def deaccession_service(services: Services) -> DeaccessionService:
    """The deaccession service over the catalog and storage of ``services``.

    Raises:
        ConfigError: ``services`` were built without a deaccession catalog.
    """
    if services.deaccessions is None:
        raise ConfigError("these services were built without the catalog's deaccession tables")
    return DeaccessionService(
        catalog=services.catalog,
        deaccessions=services.deaccessions,
        storage=services.storage,
        clock=SystemClock(),
        software=software_agent(),
    )


# --- HTTP API ----------------------------------------------------------------------------------


def token_store(settings: Settings) -> SqlTokenStore:
    """The API tokens and the HTTP access log in the catalog (migrated to the current schema).

    Raises:
        CatalogError: the catalog cannot be opened or migrated.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return SqlTokenStore(make_engine(settings.database_url), SystemClock())


def catalog_search(settings: Settings) -> SqlAipSearch:
    """Catalog search (by title, producer, ingest date, format, identifier) on the catalog.

    Raises:
        CatalogError: the catalog cannot be opened or migrated.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return SqlAipSearch(make_engine(settings.database_url))


# --- Administration ----------------------------------------------------------------------------


def action_recorder(settings: Settings) -> ActionRecorder:
    """The action log (and policy register) in the catalog, with the policy files of ``settings``.

    Raises:
        CatalogError: the catalog cannot be opened or migrated.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    log = SqlActionLog(make_engine(settings.database_url), SystemClock())
    return ActionRecorder(log, partial(policies_in_force, settings.policies))


def evidence_catalog(settings: Settings) -> SqlEvidence:
    """The catalog's evidence queries (for reports and their verification).

    Raises:
        CatalogError: the catalog cannot be opened or migrated.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return SqlEvidence(make_engine(settings.database_url))


def report_service(settings: Settings) -> ReportService:
    """The service that makes CoreTrustSeal evidence reports: the catalog's evidence, the storage
    locations and every policy in force (no worker process is started).

    Raises:
        ConfigError: a policy is invalid.
        CatalogError: the catalog cannot be opened or migrated.
    """
    evidence = evidence_catalog(settings)
    engine = evidence.engine
    return ReportService(
        evidence=evidence,
        formats=SqlFormatCatalog(engine),
        ledger=SqlAuditLedger(engine),
        audit_policy=load_audit_policy(settings.policies),
        storage=archival_storage(settings, sql_unit_of_work_factory(settings.database_url)),
        actions=SqlActionLog(engine, SystemClock()),
        format_policy=_format_policy(settings),
        policies=policies_in_force(settings.policies),
        clock=SystemClock(),
        software=f"oais {software_version()}",
        archive=load_ingest_policy(settings.policies).archive_name,
    )


def _catalog_place(settings: Settings) -> tuple[str, bool]:
    """Where the catalog database is, for people (no password), and whether it is apart from every
    location: a SQLite file under a local location's root is not."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database}", True
    path = Path(url.database or "").absolute()
    roots = [loc.root.absolute() for loc in settings.locations.values() if isinstance(loc, LocalLocation)]
    return f"SQLite file {path}", not any(path.is_relative_to(root) for root in roots)


def ndsa_service(settings: Settings) -> NdsaService:
    """The NDSA self-assessment over the catalog, the configured locations and the policies.

    Raises:
        ConfigError: a policy is invalid.
        CatalogError: the catalog cannot be opened or migrated.
    """
    from oais.adapters.catalog.audit_evidence import SqlAuditEvidence
    from oais.domain.ndsa import LocationFacts
    from oais.domain.storage import LocationInfo

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    storage = load_storage_policy(settings.policies)
    audit = load_audit_policy(settings.policies) if (settings.policies / "audit.toml").exists() else None

    def facts(name: str, loc: LocalLocation | S3Location) -> LocationFacts:
        address = (
            str(loc.root)
            if isinstance(loc, LocalLocation)
            else f"{loc.endpoint} bucket {loc.bucket}/{loc.prefix}"
        )
        return LocationFacts(
            name=name,
            kind=loc.kind,
            address=address,
            required=name in storage.locations,
            site=loc.site,
            threat=loc.threat,
            media=loc.media,
        )

    def describe(name: str) -> LocationInfo:
        return object_store(name, settings.locations[name], 1).describe()

    place, apart = _catalog_place(settings)
    return NdsaService(
        evidence=SqlAuditEvidence(engine),
        ledger=SqlAuditLedger(engine),
        formats=SqlFormatCatalog(engine),
        describe=describe,
        locations=[facts(n, loc) for n, loc in settings.locations.items()],
        storage_policy=storage,
        audit_policy=audit,
        format_policy=_format_policy(settings),
        record_algorithm=load_ingest_policy(settings.policies).record_algorithm.value,
        catalog_place=place,
        catalog_apart=apart,
        clock=SystemClock(),
        archive=load_ingest_policy(settings.policies).archive_name,
        software=f"oais {software_version()}",
        policies=policies_in_force(settings.policies),
    )


def audit_report_service(settings: Settings) -> AuditReportService:
    """The audit report of a period over the catalog and the action log.

    Raises:
        ConfigError: a policy is invalid.
        CatalogError: the catalog cannot be opened or migrated.
    """
    from oais.adapters.catalog.audit_evidence import SqlAuditEvidence

    settings.home.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    return AuditReportService(
        evidence=SqlAuditEvidence(engine),
        actions=SqlActionLog(engine, SystemClock()),
        clock=SystemClock(),
        archive=load_ingest_policy(settings.policies).archive_name,
        software=f"oais {software_version()}",
        policies=policies_in_force(settings.policies),
    )
