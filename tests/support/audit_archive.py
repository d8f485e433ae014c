"""A real archive for fixity audit tests: AIP versions stored at every location a storage policy
requires (local directories, or a local directory and a bucket on the real Ceph RGW), recorded in a
real SQL catalog, and audit services wired as ``oais.bootstrap.audit_service`` wires them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import xxhash
from sqlalchemy import Engine

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.audit import SqlAuditLedger
from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.migrations import upgrade
from oais.adapters.catalog.uow import SqlUnitOfWorkFactory, sql_unit_of_work_factory
from oais.adapters.local_store import LocalScratch
from oais.archival_storage.audit import AuditReport, AuditService
from oais.archival_storage.layout import Fetched, fetch_entry, version_prefix
from oais.archival_storage.service import ArchivalStorage
from oais.bootstrap import object_store, open_location, software_agent
from oais.config import LocalLocation, S3Location
from oais.domain.audit import AuditPolicy, ReadBudget, Schedule
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, payload_fingerprint
from oais.domain.premis import AgentLink, AgentRole, Event, EventType, Outcome
from oais.domain.storage import Retention, RetentionMode, StoragePolicy
from tests.support.damage import flip_bit as flip_bit
from tests.support.damage import truncate as truncate

SHA = DigestAlgorithm.SHA256
XXH3 = DigestAlgorithm.XXH3_128
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
FMT = FormatFacts(puid=None, name="Unknown", mime_type="application/octet-stream", basis="none", tool="none")

#: Quick weekly, deep monthly, a 90-day cycle; a read budget so large that nothing ever waits for it.
POLICY = AuditPolicy(
    id="audit",
    version="test-1",
    cycle_days=90,
    quick=Schedule(every_days=7),
    deep=Schedule(every_days=30),
    budget=ReadBudget(default=10**13),
    claim_minutes=30,
    sweep_hours=24,
)

Location = LocalLocation | S3Location


class SteppingClock:
    """The archive's clock: a millisecond passes each time it is read; tests move it on by days."""

    def __init__(self, start: datetime = T0) -> None:
        self.value = start

    def now(self) -> datetime:
        self.value += timedelta(milliseconds=1)
        return self.value

    def advance(self, **delta: float) -> None:
        self.value += timedelta(**delta)


def entry(path: str, data: bytes, stored_version: int | None = None) -> FileEntry:
    """The catalog's record of a payload file, with the sha256 and xxh3_128 ingest computes."""
    return FileEntry(
        path=path,
        size=len(data),
        digests={SHA: hashlib.sha256(data).hexdigest(), XXH3: xxhash.xxh3_128(data).hexdigest()},
        format=FMT,
        stored_version=stored_version,
    )


@dataclass
class Archive:
    """An archive over real locations and a real catalog database."""

    url: str
    locations: dict[str, Location]
    work: Path
    clock: SteppingClock = field(default_factory=SteppingClock)
    catalog: SqlUnitOfWorkFactory = field(init=False)
    storage: ArchivalStorage = field(init=False)
    engines: list[Engine] = field(default_factory=list)

    def __post_init__(self) -> None:
        upgrade(self.url)
        self.catalog = sql_unit_of_work_factory(self.url)
        self.storage = self.storage_over(self.locations)

    def storage_over(self, locations: Mapping[str, Location]) -> ArchivalStorage:
        """Archival storage over ``locations`` (each opened as a deployment opens it), all required."""
        return ArchivalStorage(
            locations={name: object_store(name, config, 2) for name, config in locations.items()},
            policy=StoragePolicy(
                id="storage",
                version="test-1",
                locations=tuple(locations),
                retention=Retention(mode=RetentionMode.GOVERNANCE, days=1),
            ),
            catalog=self.catalog,
            bag_codec=BagItCodec(),
            clock=self.clock,
            software=software_agent(),
            scratch=LocalScratch(self.work / "scratch"),
        )

    # -- storing ------------------------------------------------------------------------------------

    def store(
        self, aip_id: str, version: int, payload: Mapping[str, bytes], reused: Sequence[FileEntry] = ()
    ) -> list[FileEntry]:
        """Stage a bag, store it at every location, record it in the catalog with its copies.

        Args:
            aip_id: the AIP.
            version: the version number.
            payload: new payload files (path -> bytes), stored under this version.
            reused: files of an earlier version this one keeps (their ``stored_version`` set); they
                are listed in fetch.txt and not stored again.

        Returns:
            Every payload file of the version, as the catalog has it.
        """
        bag = self.work / "staged" / f"{aip_id}-v{version}-{uuid.uuid4().hex[:6]}"
        files = []
        for path, data in payload.items():
            target = bag / "data" / "objects" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files.append(entry(path, data))
        premis = bag / "data" / "metadata" / "premis.xml"
        premis.parent.mkdir(parents=True)
        premis.write_bytes(f"<premis aip='{aip_id}' version='{version}'/>".encode())
        fetched = []
        for f in reused:
            assert f.stored_version is not None, "a reused file names the version that stores it"
            fetched.append(Fetched(f.bag_path, f.size, aip_id, f.stored_version, f.bag_path))
        everything = [*files, *reused]
        premis_data = premis.read_bytes()
        BagItCodec().write_tags(
            bag,
            [
                *((f.bag_path, f.size, {SHA: f.digests[SHA]}) for f in everything),
                (
                    "data/metadata/premis.xml",
                    len(premis_data),
                    {SHA: hashlib.sha256(premis_data).hexdigest()},
                ),
            ],
            [("External-Identifier", aip_id), ("Bagging-Date", "2027-03-01")],
            fetch=[fetch_entry(f) for f in fetched],
        )
        copies = self.storage.store_version(bag, aip_id, version, everything, reused=fetched)
        accession = Event(
            identifier=f"urn:uuid:{uuid.uuid4()}",
            type=EventType.ACCESSION,
            date_time=self.clock.now(),
            detail="stored",
            outcome=Outcome.SUCCESS,
            outcome_detail="every copy verified",
            agents=(AgentLink(agent=software_agent().identifier, role=AgentRole.EXECUTING_PROGRAM),),
            objects=(aip_id,),
        )
        record = AipRecord(
            aip=Aip(aip_id=aip_id, title="Test AIP", producer="Test producer", created=T0),
            version=AipVersion(
                aip_id=aip_id,
                version=version,
                created=self.clock.now(),
                files=len(everything),
                bytes=sum(f.size for f in everything),
                payload_fingerprint=payload_fingerprint(everything, SHA),
                location=version_prefix(aip_id, version).rstrip("/"),
            ),
            files=everything,
            events=[accession],
            agents=[software_agent()],
            copies=copies,
        )
        with self.catalog() as uow:
            uow.aips.add(record)
            uow.commit()
        return everything

    # -- auditing -----------------------------------------------------------------------------------

    def ledger(self) -> SqlAuditLedger:
        """A ledger on its own engine (as a second daemon would have)."""
        engine = make_engine(self.url)
        self.engines.append(engine)
        return SqlAuditLedger(engine)

    def auditor(
        self,
        policy: AuditPolicy = POLICY,
        *,
        holder: str | None = None,
        storage: ArchivalStorage | None = None,
        locations: Mapping[str, Location] | None = None,
    ) -> AuditService:
        """An audit service wired as ``oais.bootstrap.audit_service`` wires it."""
        configs = self.locations if locations is None else locations
        return AuditService(
            storage=storage or self.storage,
            ledger=self.ledger(),
            policy=policy,
            openers={name: partial(open_location, name, config) for name, config in configs.items()},
            clock=self.clock,
            software=software_agent(),
            holder=holder,
        )

    def run(
        self,
        executor: Executor,
        service: AuditService | None = None,
        *,
        everything: bool = False,
        deep: bool = False,
    ) -> AuditReport:
        """One audit run with two batches at a time."""
        return (service or self.auditor()).run(executor, 2, everything=everything, deep=deep)

    def events(self, aip_id: str, version: int, type_: EventType = EventType.FIXITY_CHECK) -> list[Event]:
        """The version's events of one type, as the catalog gives them back."""
        with self.catalog() as uow:
            record = uow.aips.get(aip_id, version)
        assert record is not None
        return [e for e in record.events if e.type is type_]

    def path(self, location: str, key: str) -> Path:
        """The file of ``key`` at a local location."""
        config = self.locations[location]
        assert isinstance(config, LocalLocation)
        return config.root / key

    def close(self) -> None:
        """Let go of every connection."""
        for engine in self.engines:
            engine.dispose()
        self.catalog.dispose()
