"""Archival storage above the object stores: versions that share payload, export, verification and
the event log, on a local directory and on the real Ceph RGW.

A version after the first stores only its new payload; the unchanged files are listed in its
fetch.txt and stay under the earlier version's prefix. Every version still exports as one complete,
valid bag.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bagit
import pytest
import xxhash

from oais.adapters.bagit.codec import BagItCodec
from oais.adapters.catalog.memory import InMemoryCatalog
from oais.adapters.local_store import LocalScratch
from oais.adapters.sip import FileSystemSipReader, SourceBagFiles
from oais.adapters.storage.local import LocalObjectStore
from oais.adapters.storage.memory import InMemoryObjectStore
from oais.archival_storage import event_log
from oais.archival_storage.layout import Fetched, fetch_entry, parse_fetch_url
from oais.archival_storage.service import ArchivalStorage
from oais.domain.errors import ConflictError, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, payload_fingerprint
from oais.domain.ports import ObjectStore
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome
from oais.domain.storage import Retention, RetentionMode, StoragePolicy, WriteItem

SHA = DigestAlgorithm.SHA256
AGENT = Agent(identifier="software:oais/9.9", name="oais", type=AgentType.SOFTWARE, version="9.9")
FMT = FormatFacts(puid=None, name="Unknown", mime_type="application/octet-stream", basis="none", tool="none")
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.value = T0

    def now(self) -> datetime:
        self.value += timedelta(seconds=1)
        return self.value


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore("site", tmp_path / "site")
    from oais.adapters.storage.s3 import S3ObjectStore

    s3 = request.getfixturevalue("s3")
    return S3ObjectStore(
        "site",
        endpoint=s3.endpoint,
        bucket=s3.new_bucket(object_lock=True),
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        prefix="archive/",
        part_size=5 << 20,
    )


def _storage(tmp_path: Path, catalog: InMemoryCatalog, *stores: ObjectStore) -> ArchivalStorage:
    return ArchivalStorage(
        locations={s.name: s for s in stores},
        policy=StoragePolicy(
            id="storage",
            version="t",
            locations=tuple(s.name for s in stores),
            retention=Retention(mode=RetentionMode.GOVERNANCE, days=1),
        ),
        catalog=catalog.unit_of_work,
        bag_codec=BagItCodec(),
        clock=Clock(),
        software=AGENT,
        scratch=LocalScratch(tmp_path / "scratch"),
    )


def _entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(
        path=path,
        size=len(data),
        digests={
            SHA: hashlib.sha256(data).hexdigest(),
            DigestAlgorithm.XXH3_128: xxhash.xxh3_128(data).hexdigest(),
        },
        format=FMT,
    )


def _stage(
    root: Path, aip_id: str, version: int, payload: dict[str, bytes], reused: dict[str, tuple[int, int]]
) -> tuple[list[FileEntry], list[Fetched], Path]:
    """A staged bag: ``payload`` stored in it, ``reused`` (path -> (version, size)) only in fetch.txt."""
    root.mkdir(parents=True)
    files = []
    for path, data in payload.items():
        target = root / "data" / "objects" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files.append(_entry(path, data))
    premis = root / "data" / "metadata" / "premis.xml"
    premis.parent.mkdir(parents=True)
    premis.write_bytes(f"<premis version='{version}'/>".encode())
    fetched = [
        Fetched(f"data/objects/{p}", size, aip_id, v, f"data/objects/{p}") for p, (v, size) in reused.items()
    ]
    return files, fetched, premis


def _record(aip_id: str, version: int, files: list[FileEntry]) -> AipRecord:
    event = Event(
        identifier=f"urn:uuid:00000000-0000-0000-0000-00000000000{version}",
        type=EventType.ACCESSION,
        date_time=T0,
        detail="stored",
        outcome=Outcome.SUCCESS,
        outcome_detail="ok",
        agents=(AgentLink(agent=AGENT.identifier, role=AgentRole.EXECUTING_PROGRAM),),
        objects=(aip_id,),
    )
    return AipRecord(
        aip=Aip(aip_id=aip_id, title="T", producer="P", created=T0),
        version=AipVersion(
            aip_id=aip_id,
            version=version,
            created=T0,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=payload_fingerprint(files, SHA),
            location=f"aips/{aip_id}/v{version}",
        ),
        files=files,
        events=[event],
        agents=[AGENT],
    )


def _store(
    storage: ArchivalStorage,
    catalog: InMemoryCatalog,
    bag: Path,
    aip_id: str,
    version: int,
    payload: dict[str, bytes],
    reused: dict[str, tuple[int, int]],
    reused_entries: list[FileEntry],
) -> list[FileEntry]:
    files, fetched, premis = _stage(bag, aip_id, version, payload, reused)
    everything = [*files, *reused_entries]
    premis_data = premis.read_bytes()
    BagItCodec().write_tags(
        bag,
        [
            *((f.bag_path, f.size, {SHA: f.digests[SHA]}) for f in everything),
            ("data/metadata/premis.xml", len(premis_data), {SHA: hashlib.sha256(premis_data).hexdigest()}),
        ],
        [("External-Identifier", aip_id), ("Bagging-Date", "2026-11-21")],
        fetch=[fetch_entry(f) for f in fetched],
    )
    copies = storage.store_version(bag, aip_id, version, everything, reused=fetched)
    with catalog.unit_of_work() as uow:
        uow.aips.add(_record(aip_id, version, everything).model_copy(update={"copies": copies}))
        uow.commit()
    return everything


def test_a_later_version_stores_only_new_payload_and_exports_whole(
    location: ObjectStore, tmp_path: Path
) -> None:
    catalog = InMemoryCatalog()
    storage = _storage(tmp_path, catalog, location)
    big = bytes(range(256)) * (24 << 10)  # 6 MiB: more than one part on S3
    v1 = _store(
        storage,
        catalog,
        tmp_path / "v1",
        "aip-1",
        1,
        {"cubé one.fits": big, "notes.txt": b"first notes\n"},
        {},
        [],
    )
    unchanged = next(f for f in v1 if f.path == "cubé one.fits")
    _store(
        storage,
        catalog,
        tmp_path / "v2",
        "aip-1",
        2,
        {"notes.txt": b"corrected notes\n", "calibration/dark.fits": b"dark frame"},
        {"cubé one.fits": (1, unchanged.size)},
        [unchanged],
    )
    keys = {i.key for i in location.list("aips/aip-1/v2/")}
    assert "aips/aip-1/v2/data/objects/cubé one.fits" not in keys  # not stored twice
    assert {"aips/aip-1/v2/fetch.txt", "aips/aip-1/v2/data/objects/notes.txt"} <= keys
    [line] = location.get_bytes("aips/aip-1/v2/fetch.txt").decode().splitlines()
    url, size, path = line.split(" ", 2)
    assert parse_fetch_url(url, int(size), path).key == "aips/aip-1/v1/data/objects/cubé one.fits"

    for version, notes in ((1, b"first notes\n"), (2, b"corrected notes\n")):
        dest = tmp_path / f"export-v{version}"
        result = storage.export("aip-1", dest, version=version)
        bagit.Bag(str(dest)).validate()  # complete and valid for another BagIt tool
        assert not (dest / "fetch.txt").exists()
        assert (dest / "data" / "objects" / "cubé one.fits").read_bytes() == big
        assert (dest / "data" / "objects" / "notes.txt").read_bytes() == notes
        assert result.version == version
    assert all(check.ok for check in storage.verify("aip-1"))
    # Without --version, the latest version is exported.
    assert storage.export("aip-1", tmp_path / "export-latest").version == 2


def test_an_export_that_meets_an_altered_file_leaves_nothing(tmp_path: Path) -> None:
    catalog = InMemoryCatalog()
    site = InMemoryObjectStore("site")
    storage = _storage(tmp_path, catalog, site)
    _store(storage, catalog, tmp_path / "v1", "aip-1", 1, {"a.txt": b"original"}, {}, [])
    site.tamper("aips/aip-1/v1/data/objects/a.txt", b"tampered")
    with pytest.raises(StorageError, match=r"aips/aip-1/v1/data/objects/a\.txt.*sha256"):
        storage.export("aip-1", tmp_path / "out")
    assert list(tmp_path.glob("*out*")) == []
    with pytest.raises(ConflictError, match="already exists"):
        storage.export("aip-1", tmp_path / "v1")


def test_replication_copies_a_version_and_logs_the_event_at_every_location(tmp_path: Path) -> None:
    catalog = InMemoryCatalog()
    first, second = InMemoryObjectStore("first"), InMemoryObjectStore("second")
    _store(_storage(tmp_path, catalog, first), catalog, tmp_path / "v1", "aip-1", 1, {"a.txt": b"a"}, {}, [])
    storage = _storage(tmp_path, catalog, first, second)
    [result] = storage.replicate()
    assert (result.source, result.target, result.problem) == ("first", "second", None)
    assert [i.key for i in second.list("aips/")] == [i.key for i in first.list("aips/")]
    for site in (first, second):
        problems, segments, events = event_log.verify(site, [])
        assert (problems, segments, events) == ([], 1, 1)
    with catalog.unit_of_work() as uow:
        record = uow.aips.get("aip-1")
    assert record is not None and [c.location for c in record.copies] == ["first", "second"]
    assert record.events[-1].type is EventType.REPLICATION
    assert storage.replicate() == []
    assert list((tmp_path / "scratch").iterdir()) == []  # the copy's scratch space is gone


def test_replication_refuses_a_source_whose_file_and_manifests_were_edited_to_agree(tmp_path: Path) -> None:
    catalog = InMemoryCatalog()
    first, second = InMemoryObjectStore("first"), InMemoryObjectStore("second")
    _store(_storage(tmp_path, catalog, first), catalog, tmp_path / "v1", "aip-1", 1, {"a.txt": b"a"}, {}, [])
    prefix = "aips/aip-1/v1/"
    evil = b"EVIL"
    first.tamper(prefix + "data/objects/a.txt", evil)
    manifest = first.get_bytes(prefix + "manifest-sha256.txt").replace(
        hashlib.sha256(b"a").hexdigest().encode(), hashlib.sha256(evil).hexdigest().encode()
    )
    first.tamper(prefix + "manifest-sha256.txt", manifest)
    tags = first.get_bytes(prefix + "tagmanifest-sha256.txt").decode().splitlines()
    fixed = [
        f"{hashlib.sha256(manifest).hexdigest()}  manifest-sha256.txt"
        if line.endswith(" manifest-sha256.txt")
        else line
        for line in tags
    ]
    first.tamper(prefix + "tagmanifest-sha256.txt", ("\n".join(fixed) + "\n").encode())
    [result] = _storage(tmp_path, catalog, first, second).replicate()
    assert result.problem is not None and "a.txt" in result.problem and "sha256" in result.problem
    assert second.head(prefix + "data/objects/a.txt") is None and second.head(prefix + "bagit.txt") is None


def test_verify_names_each_bad_file_and_records_a_failed_fixity_check(tmp_path: Path) -> None:
    catalog = InMemoryCatalog()
    site = InMemoryObjectStore("site")
    storage = _storage(tmp_path, catalog, site)
    _store(
        storage, catalog, tmp_path / "v1", "aip-1", 1, {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"}, {}, []
    )
    site.tamper("aips/aip-1/v1/data/objects/a.txt", b"A")
    site.remove("aips/aip-1/v1/data/objects/b.txt")
    extra = "aips/aip-1/v1/data/objects/extra.txt"
    list(site.write([WriteItem(key=extra, size=1, sha256=hashlib.sha256(b"x").hexdigest(), data=b"x")]))
    [check] = storage.verify("aip-1")
    assert {f.path: f.status for f in check.bad} == {
        "data/objects/a.txt": "altered",
        "data/objects/b.txt": "missing",
        "data/objects/extra.txt": "unexpected",
    }
    with catalog.unit_of_work() as uow:
        record = uow.aips.get("aip-1")
    assert record is not None
    event = record.events[-1]
    assert event.type is EventType.FIXITY_CHECK and event.outcome is Outcome.FAILURE
    assert "a.txt: altered" in event.outcome_detail and "b.txt: missing" in event.outcome_detail


def test_the_event_log_detects_an_edit_of_the_newest_segment_through_the_catalog(tmp_path: Path) -> None:
    catalog = InMemoryCatalog()
    site = InMemoryObjectStore("site")
    storage = _storage(tmp_path, catalog, site)
    _store(storage, catalog, tmp_path / "v1", "aip-1", 1, {"a.txt": b"a"}, {}, [])
    storage.verify("aip-1")
    storage.verify("aip-1")
    assert storage.verify_events() == {"site": ([], 2, 2)}
    newest = "events/000000000002.jsonl"
    site.tamper(newest, site.get_bytes(newest).replace(b"success", b"failure"))
    [problem] = storage.verify_events()["site"][0]
    assert newest in problem and "the catalog recorded" in problem


def test_segments_round_trip_and_refuse_garbage() -> None:
    event = Event(
        identifier="urn:uuid:1",
        type=EventType.FIXITY_CHECK,
        date_time=T0,
        detail="d",
        outcome=Outcome.SUCCESS,
        outcome_detail="o",
        agents=(AgentLink(agent=AGENT.identifier, role=AgentRole.EXECUTING_PROGRAM),),
        objects=("aip-1", "aip-1/v1"),
        policy="storage@1",
    )
    data = event_log.encode_segment(
        "site", 3, "ab" * 32, T0, [event_log.LoggedEvent("aip-1", 1, event)], [AGENT]
    )
    content = event_log.decode_segment("events/000000000003.jsonl", data)
    assert (content.sequence, content.previous, content.agents) == (3, "ab" * 32, [AGENT])
    assert content.events == [event_log.LoggedEvent("aip-1", 1, event)]
    with pytest.raises(ValueError, match="line 2"):
        event_log.decode_segment("k", data.split(b"\n")[0] + b"\n{not json\n")


def test_fetch_lines_round_trip_awkward_names_through_the_bag_codec(tmp_path: Path) -> None:
    name = "data/objects/a b%25/c\u00e9 100%.fits"
    fetched = Fetched(name, 12, "aip:1", 3, name)
    bag = tmp_path / "bag"
    (bag / "data").mkdir(parents=True)
    BagItCodec().write_tags(
        bag, [(name, 12, {SHA: "0" * 64})], [("Bagging-Date", "2026-11-21")], fetch=[fetch_entry(fetched)]
    )
    source = FileSystemSipReader().open_sip(bag)
    try:
        structure = BagItCodec().read_structure(SourceBagFiles(source, ""))
    finally:
        source.close()
    [entry] = structure.fetch
    assert " " not in entry.url  # the URL has no space: the fields stay separable
    assert parse_fetch_url(entry.url, entry.size, entry.path) == fetched
    with pytest.raises(ValueError, match="oais://"):
        parse_fetch_url("http://example.org/x", 3, "data/x")
