"""The catalog rebuilt from storage alone: what each version's premis.xml holds comes back."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

import pytest

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.memory import in_memory_unit_of_work_factory
from oais.adapters.local_store import LocalScratch
from oais.adapters.premis import PremisXmlCodec, default_schema_dir
from oais.archival_storage.bag_writing import write_version_bag
from oais.archival_storage.layout import DESCRIPTIVE, Fetched, fetch_entry, version_prefix
from oais.archival_storage.rebuild import rebuild_catalog
from oais.bootstrap import software_agent
from oais.config import LocalLocation
from oais.domain.descriptive import Access, AccessStatus, Creator, DescriptiveMetadata, Licence
from oais.domain.errors import StorageError
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, payload_fingerprint
from oais.domain.ports import UnitOfWorkFactory
from oais.domain.premis import AgentLink, AgentRole, Event, EventType, Outcome
from tests.support.audit_archive import SHA, T0, Archive, entry

CUBE = b"SIMPLE  =                    T" + bytes(2850)
TIFF = b"II*\x00" + bytes(60)
TIFF_FORMAT = FormatFacts(
    puid="fmt/353", name="Tagged Image File Format", mime_type="image/tiff", basis="signature", tool="fido"
)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    """An archive on one local location, with a SQLite catalog."""
    archive = Archive(
        url=f"sqlite:///{tmp_path / 'catalog.db'}",
        locations={"disk": LocalLocation(root=tmp_path / "disk")},
        work=tmp_path,
    )
    yield archive
    archive.close()


def store(
    archive: Archive,
    version: int,
    payload: Mapping[str, FileEntry],
    data: Mapping[str, bytes],
    reused: Sequence[FileEntry] = (),
) -> AipRecord:
    """Stage a bag with a real premis.xml, store it, record it in the catalog."""
    aip = Aip(aip_id="aip-1", title="Cubes", producer="IAS", created=T0)
    bag = archive.work / "staged" / f"v{version}"
    for path in payload:
        target = bag / "data" / "objects" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[path])
    files = [*reused, *payload.values()]
    events = [
        Event(
            identifier=f"urn:uuid:00000000-0000-4000-8000-00000000000{version}",
            type=EventType.ACCESSION if version == 1 else EventType.MIGRATION,
            date_time=archive.clock.now(),
            detail=f"version {version}",
            outcome=Outcome.SUCCESS,
            outcome_detail="every copy verified",
            agents=(AgentLink(agent=software_agent().identifier, role=AgentRole.EXECUTING_PROGRAM),),
            objects=(aip.aip_id,),
        )
    ]
    premis = bag / "data" / "metadata" / "premis.xml"
    premis.parent.mkdir(parents=True)
    with PremisXmlCodec(default_schema_dir()).writer(premis, aip, version, f"aip-1/v{version}") as doc:
        for f in files:
            doc.add_file(f)
        doc.add_events(events)
        doc.add_agents([software_agent()])
    fetched = []
    for f in reused:
        assert f.stored_version is not None, "a reused file names the version that stores it"
        fetched.append(Fetched(f.bag_path, f.size, aip.aip_id, f.stored_version, f.bag_path))
    premis_data = premis.read_bytes()
    BagItCodec().write_tags(
        bag,
        [
            *((f.bag_path, f.size, {SHA: f.digests[SHA]}) for f in files),
            ("data/metadata/premis.xml", len(premis_data), {SHA: hashlib.sha256(premis_data).hexdigest()}),
        ],
        [("External-Identifier", aip.aip_id), ("Bagging-Date", "2027-03-01")],
        fetch=[fetch_entry(f) for f in fetched],
    )
    copies = archive.storage.store_version(bag, aip.aip_id, version, files, reused=fetched)
    record = AipRecord(
        aip=aip,
        version=AipVersion(
            aip_id=aip.aip_id,
            version=version,
            created=events[0].date_time,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=payload_fingerprint(files, SHA),
            location=version_prefix(aip.aip_id, version).rstrip("/"),
        ),
        files=files,
        events=events,
        agents=[software_agent()],
        copies=copies,
    )
    with archive.catalog() as uow:
        uow.aips.add(record)
        uow.commit()
    return record


def test_a_migrated_file_keeps_the_file_it_was_derived_from_through_a_rebuild(
    archive: Archive, tmp_path: Path
) -> None:
    first = store(archive, 1, {"raw/cube.fits": entry("raw/cube.fits", CUBE)}, {"raw/cube.fits": CUBE})
    # Version 2 keeps the cube (stored with version 1) and adds a TIFF made from it.
    migrated = entry("raw/cube.tif", TIFF).model_copy(
        update={"format": TIFF_FORMAT, "derived_from": "raw/cube.fits"}
    )
    reused = [f.model_copy(update={"stored_version": 1}) for f in first.files]
    second = store(archive, 2, {"raw/cube.tif": migrated}, {"raw/cube.tif": TIFF}, reused=reused)
    rebuilt = in_memory_unit_of_work_factory()

    result = rebuild_catalog(
        archive.storage,
        PremisXmlCodec(default_schema_dir()),
        rebuilt,
        "disk",
        LocalScratch(tmp_path / "rebuild-scratch"),
    )

    assert (result.aips, result.versions, result.files) == (1, 2, 3)
    with rebuilt() as uow:
        again = uow.aips.get("aip-1", 2)
        earlier = uow.aips.get("aip-1", 1)
    assert again is not None and earlier is not None
    assert [(f.path, f.derived_from) for f in again.files] == [
        ("raw/cube.fits", None),
        ("raw/cube.tif", "raw/cube.fits"),
    ]
    # premis.xml does not say which earlier version stores a reused file; the version's fetch.txt does.
    assert again.files == second.files
    assert [f.stored_version for f in again.files] == [1, None]
    assert earlier.files == first.files


# --- descriptive metadata --------------------------------------------------------------------------

EMBARGOED = DescriptiveMetadata(
    title="Cubes",
    creators=(Creator(name="IAS / OMEGA team", affiliation="IAS"),),
    subjects=("Mars",),
    licence=Licence(
        identifier="CC-BY-4.0", name="CC BY 4.0", uri="https://creativecommons.org/licenses/by/4.0/"
    ),
    access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2028, 1, 1), note="PI period"),
    rights_statements=("© IAS", "Cite the OMEGA team."),
)
#: What version 2 says: the embargo lifted early, the rest unchanged.
OPENED = EMBARGOED.model_copy(update={"access": Access(note="lifted by the PI")})


def store_described(
    archive: Archive,
    aip_id: str,
    version: int,
    metadata: DescriptiveMetadata | None,
    payload: Mapping[str, bytes],
    reused: Sequence[FileEntry] = (),
) -> AipRecord:
    """Stage a bag as ingest and migration write it (write_version_bag), store it, record it."""
    aip = Aip(aip_id=aip_id, title="Cubes", producer="IAS", created=T0, metadata=metadata)
    bag = archive.work / "staged" / aip_id / f"v{version}"
    new = []
    for path, data in payload.items():
        target = bag / "data" / "objects" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        new.append(entry(path, data))
    files = [*reused, *new]
    event = Event(
        identifier=f"urn:uuid:{uuid.uuid4()}",
        type=EventType.ACCESSION,
        date_time=archive.clock.now(),
        detail=f"version {version}",
        outcome=Outcome.SUCCESS,
        outcome_detail="every copy verified",
        agents=(AgentLink(agent=software_agent().identifier, role=AgentRole.EXECUTING_PROGRAM),),
        objects=(aip_id,),
    )
    fetched = [Fetched(f.bag_path, f.size, aip_id, f.stored_version or 1, f.bag_path) for f in reused]
    write_version_bag(
        bag,
        aip=aip,
        version=version,
        files=files,
        events=[event],
        agents=[software_agent()],
        premis=PremisXmlCodec(default_schema_dir()),
        codec=BagItCodec(),
        record=SHA,
        software=software_agent(),
        now=event.date_time,
        fetched=fetched,
    )
    copies = archive.storage.store_version(bag, aip_id, version, files, reused=fetched)
    record = AipRecord(
        aip=aip,
        version=AipVersion(
            aip_id=aip_id,
            version=version,
            created=event.date_time,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=payload_fingerprint(files, SHA),
            location=version_prefix(aip_id, version).rstrip("/"),
        ),
        files=files,
        events=[event],
        agents=[software_agent()],
        copies=copies,
    )
    with archive.catalog() as uow:
        uow.aips.add(record)
        uow.commit()
    return record


def rebuilt_from(archive: Archive, tmp_path: Path) -> UnitOfWorkFactory:
    rebuilt = in_memory_unit_of_work_factory()
    rebuild_catalog(
        archive.storage,
        PremisXmlCodec(default_schema_dir()),
        rebuilt,
        "disk",
        LocalScratch(tmp_path / "rebuild-scratch"),
    )
    return rebuilt


def test_descriptive_metadata_comes_back_from_the_newest_version(archive: Archive, tmp_path: Path) -> None:
    first = store_described(archive, "aip-1", 1, EMBARGOED, {"raw/cube.fits": CUBE})
    reused = [f.model_copy(update={"stored_version": 1}) for f in first.files]
    store_described(archive, "aip-1", 2, OPENED, {"raw/cube.tif": TIFF}, reused=reused)
    store_described(archive, "aip-plain", 1, None, {"notes.txt": b"notes\n"})
    with archive.catalog() as uow:
        before = {a.aip_id: a for a, _ in uow.aips.list()}

    rebuilt = rebuilt_from(archive, tmp_path)

    with rebuilt() as uow:
        after = {a.aip_id: a for a, _ in uow.aips.list()}
        earlier = uow.aips.get("aip-1", 1)
    assert after == before
    # The AIP is described as its newest version describes it, every field of it.
    assert after["aip-1"].metadata == OPENED and after["aip-plain"].metadata is None
    assert earlier is not None and earlier.aip.metadata == OPENED


def test_without_descriptive_json_the_rights_come_back_from_premis(archive: Archive, tmp_path: Path) -> None:
    store_described(archive, "aip-1", 1, EMBARGOED, {"raw/cube.fits": CUBE})
    # A bag whose descriptive.json is gone (a copy damaged before an audit repaired it).
    (tmp_path / "disk" / version_prefix("aip-1", 1) / DESCRIPTIVE).unlink()

    rebuilt = rebuilt_from(archive, tmp_path)

    with rebuilt() as uow:
        record = uow.aips.get("aip-1")
    assert record is not None
    # The title, licence, access status and rights statements that premis.xml holds; no more.
    assert record.aip.metadata == DescriptiveMetadata(
        title="Cubes",
        licence=EMBARGOED.licence,
        access=EMBARGOED.access,
        rights_statements=EMBARGOED.rights_statements,
    )


def test_a_descriptive_json_that_is_not_metadata_stops_the_rebuild_naming_it(
    archive: Archive, tmp_path: Path
) -> None:
    store_described(archive, "aip-1", 1, EMBARGOED, {"raw/cube.fits": CUBE})
    stored = tmp_path / "disk" / version_prefix("aip-1", 1) / DESCRIPTIVE
    stored.chmod(0o644)
    stored.write_text('{"title": "Cubes", "colour": "blue"}', encoding="utf-8")

    with pytest.raises(StorageError) as stopped:
        rebuilt_from(archive, tmp_path)

    assert str(stopped.value) == (
        f"META-E002 location 'disk': aips/aip-1/v1/{DESCRIPTIVE}: colour: unknown field (the fields are "
        "listed in schemas/descriptive-metadata.schema.json)"
    )
