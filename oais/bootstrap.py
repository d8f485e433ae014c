"""The composition root: the one place where adapters are built and wired to the services.

Nothing connects at import time: :func:`build` opens the catalog (migrating it to the current
schema), and the store creates its directories on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.uow import sql_unit_of_work_factory
from oais.adapters.clock import SystemClock
from oais.adapters.copier import ParallelCopier
from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.local_store import LocalAipStore
from oais.adapters.policy_files import load_ingest_policy
from oais.adapters.premis.codec import PremisXmlCodec
from oais.adapters.sip import FileSystemSipReader, SourceBagFiles
from oais.config import Settings
from oais.domain.ports import UnitOfWorkFactory
from oais.ingest.bag_validation import BagValidator
from oais.ingest.service import IngestService, SoftwareInfo


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
    store: LocalAipStore
    copiers: tuple[ParallelCopier, ...] = ()

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
    store = LocalAipStore(settings.store_root)
    reader = FileSystemSipReader()
    codec = BagItCodec()
    copier = ParallelCopier(identifier=FidoIdentifier(), workers=settings.workers)
    ingest = IngestService(
        sip_reader=reader,
        bag_files=SourceBagFiles,
        copier=copier,
        bag_codec=codec,
        premis=PremisXmlCodec(settings.schemas),
        store=store,
        catalog=catalog,
        clock=SystemClock(),
        policy=policy,
        software=SoftwareInfo(name="oais", version=software_version()),
    )
    validator_copier = ParallelCopier(identifier=None, workers=settings.workers)
    return Services(
        settings=settings,
        ingest=ingest,
        bag_validator=_bag_validator(validator_copier),
        catalog=catalog,
        store=store,
        copiers=(copier, validator_copier),
    )
