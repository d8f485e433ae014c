"""Rebuilding the catalog from storage alone (promise 2: storage is the truth).

Every complete version at the chosen location is read back from its ``premis.xml`` (the AIP, its
files with digests and formats, the ingest events and agents) and, when it has one, its
``descriptive.json`` (the descriptive metadata; without it, the licence, access status and rights
statements come from premis.xml's rights statements); the events that happened later come from the
location's event log. Copies are those found complete at every configured location that
answers. A deaccessioned AIP's ``tombstone.json`` brings back the AIP and its versions as history
(no files, no copies), the executed request and the tombstone, before the event log (whose deletion
event names the AIP) is replayed. The catalog must be empty: a rebuild never merges into a catalog
that holds anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from pydantic import BaseModel

from oais.archival_storage import event_log
from oais.archival_storage.layout import AIPS, BAGIT, aip_prefix, parse_version, tombstone_key, version_prefix
from oais.archival_storage.service import ArchivalStorage
from oais.domain.deaccession import tombstone_from_json
from oais.domain.errors import ConflictError, NotFound, OaisError, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import AipRecord, AipVersion, FileEntry, payload_fingerprint
from oais.domain.ports import DeaccessionCatalog, ObjectStore, PremisCodec, ScratchSpace, UnitOfWorkFactory
from oais.domain.premis import Agent, Event, accession_time
from oais.domain.storage import Copy, ObjectInfo, Segment


class RebuildResult(BaseModel):
    """What a rebuild put into the catalog, and what it found but left out."""

    location: str
    aips: int
    versions: int
    files: int
    events: int
    segments: int
    #: version prefixes without bagit.txt (an upload that never completed), left out
    incomplete: list[str]
    #: locations that did not answer (their copies are not in the rebuilt catalog)
    unreachable: list[str]
    #: deaccessioned AIPs whose tombstone was put back
    tombstones: int = 0


def rebuild_catalog(
    storage: ArchivalStorage,
    premis: PremisCodec,
    catalog: UnitOfWorkFactory,
    location: str,
    scratch: ScratchSpace,
    progress: Callable[[str], None] | None = None,
    deaccessions: DeaccessionCatalog | None = None,
) -> RebuildResult:
    """Recreate the catalog from ``location`` into an empty database.

    Args:
        storage: the configured locations.
        premis: reads each version's premis.xml.
        catalog: the (empty) catalog to fill.
        location: the location to read AIPs and the event log from.
        scratch: local scratch space for premis.xml files while they are read.
        progress: told the AIP id of each AIP as it is read.
        deaccessions: where tombstones found at the location are put back (None: not looked for).

    Returns:
        What was rebuilt.

    Raises:
        ConflictError: the catalog is not empty.
        StorageError: the location cannot be read, or a version's premis.xml or descriptive.json,
            a tombstone or an event log segment cannot be parsed, or an AIP has both versions and a
            tombstone (the catalog then holds what was committed before: drop it and rerun).
    """
    with catalog() as uow:
        if not uow.aips.is_empty():
            raise ConflictError("the catalog is not empty: a rebuild needs an empty database")
    source = storage.location(location)
    source.describe()  # one clear line if the location cannot be reached
    others = []
    unreachable = []
    for name in storage.names():
        if name == location:
            continue
        try:
            storage.location(name).describe()
            others.append(name)
        except OaisError:
            unreachable.append(name)
    aips = versions = files = events = tombstones = 0
    incomplete: list[str] = []
    with scratch.staging() as staging:
        premis_path = staging.path / "premis.xml"
        for aip_id in source.children(AIPS):
            numbers = sorted(
                n for n in map(parse_version, source.children(aip_prefix(aip_id))) if n is not None
            )
            counted = False
            for n in numbers:
                prefix = version_prefix(aip_id, n)
                marker = source.head(prefix + BAGIT)
                if marker is None:
                    incomplete.append(prefix)
                    continue
                if progress:
                    progress(f"{aip_id} v{n}")
                storage.fetch_premis(aip_id, n, location, premis_path)
                try:
                    aip, entries, ingest_events, agents = premis.read_record(premis_path)
                except OaisError as exc:
                    raise StorageError(f"location '{location}': {prefix}premis.xml: {exc}") from exc
                # Versions are added oldest first: the AIP's metadata ends as the newest version's.
                metadata = storage.fetch_descriptive(aip_id, n, location)
                if metadata is not None:
                    aip = aip.model_copy(update={"metadata": metadata})
                entries = _where_stored(storage, source, aip_id, n, entries)
                created = accession_time(ingest_events) or aip.created
                copies = [
                    _copy(storage.location(name), prefix, created, marker if name == location else None)
                    for name in [location, *others]
                ]
                version = AipVersion(
                    aip_id=aip_id,
                    version=n,
                    created=created,
                    files=len(entries),
                    bytes=sum(f.size for f in entries),
                    payload_fingerprint=payload_fingerprint(entries, DigestAlgorithm.SHA256),
                    location=prefix.rstrip("/"),
                )
                with catalog() as uow:
                    uow.aips.add(
                        AipRecord(
                            aip=aip,
                            version=version,
                            files=entries,
                            events=ingest_events,
                            agents=agents,
                            copies=[c for c in copies if c is not None],
                        )
                    )
                    uow.commit()
                versions += 1
                files += len(entries)
                events += len(ingest_events)
                if not counted:
                    aips, counted = aips + 1, True
            if deaccessions is not None and _restore_tombstone(source, aip_id, deaccessions, counted):
                tombstones += 1
        logged, remembered = _replay_log(storage, catalog, location)
        events += logged
        segments = len(remembered)
        _remember(catalog, remembered)
        for name in others:
            found = list(_segments(storage.location(name)))
            _remember(catalog, found)
            segments += len(found)
    return RebuildResult(
        location=location,
        aips=aips,
        versions=versions,
        files=files,
        events=events,
        segments=segments,
        incomplete=incomplete,
        unreachable=unreachable,
        tombstones=tombstones,
    )


def _restore_tombstone(
    source: ObjectStore, aip_id: str, deaccessions: DeaccessionCatalog, has_versions: bool
) -> bool:
    """Put the AIP's tombstone back into the catalog, if the location holds one.

    Raises:
        StorageError: it cannot be read or parsed, or the AIP has complete versions too.
    """
    key = tombstone_key(aip_id)
    try:
        data = source.get_bytes(key, limit=64 << 20)
    except NotFound:
        return False
    where = f"location '{source.name}': {key}"
    if has_versions:
        raise StorageError(f"{where}: AIP {aip_id} has complete versions and a tombstone; check it by hand")
    try:
        tombstone = tombstone_from_json(data, where)
    except ValueError as exc:
        raise StorageError(str(exc)) from exc
    if tombstone.aip_id != aip_id:
        raise StorageError(f"{where}: the tombstone is of AIP {tombstone.aip_id}")
    try:
        deaccessions.restore(tombstone)
    except ConflictError as exc:
        raise StorageError(f"{where}: {exc}") from exc
    return True


def _where_stored(
    storage: ArchivalStorage, source: ObjectStore, aip_id: str, version: int, entries: list[FileEntry]
) -> list[FileEntry]:
    """The version's files with ``stored_version`` set for those its fetch.txt takes from an earlier
    version (premis.xml does not say where a file is stored; the bag's fetch.txt does)."""
    if version == 1:
        return entries
    listed, _ = storage.expected_files(source, aip_id, version, entries)
    prefix = aip_prefix(aip_id)
    elsewhere = {
        s.bag_path: parse_version(s.key[len(prefix) :].split("/", 1)[0])
        for s in listed
        if not s.key.startswith(version_prefix(aip_id, version)) and s.key.startswith(prefix)
    }
    return [
        e.model_copy(update={"stored_version": elsewhere[e.bag_path]}) if e.bag_path in elsewhere else e
        for e in entries
    ]


def _copy(store: ObjectStore, prefix: str, created: datetime, marker: ObjectInfo | None) -> Copy | None:
    """The copy of a version at ``store``, if complete (``marker``: its bagit.txt, if already looked up)."""
    marker = marker or store.head(prefix + BAGIT)
    if marker is None:
        return None
    listed = list(store.list(prefix))
    return Copy(
        location=store.name,
        stored=marker.modified or created,
        verified=None,
        objects=len(listed),
        bytes=sum(i.size for i in listed),
    )


def _segments(store: ObjectStore) -> Iterator[Segment]:
    """What the catalog remembers of every sound segment of ``store``'s log.

    A segment that cannot be read or parsed is left out: ``oais events verify`` reports it.
    """
    for key, data in event_log.read_all(store):
        if data is None:
            continue
        try:
            yield event_log.decode_segment(key, data).record(store.name, key)
        except ValueError:
            continue


def _replay_log(
    storage: ArchivalStorage, catalog: UnitOfWorkFactory, location: str
) -> tuple[int, list[Segment]]:
    """Put the events of ``location``'s log into the catalog (one read of each segment).

    Returns:
        How many events, and the segments read.

    Raises:
        StorageError: a segment is listed but cannot be read or parsed (its events would be lost).
    """
    store = storage.location(location)
    count = 0
    segments = []
    for key, data in event_log.read_all(store):
        if data is None:
            raise StorageError(f"location '{location}': event log segment {key} is listed but cannot be read")
        try:
            content = event_log.decode_segment(key, data)
        except ValueError as exc:
            raise StorageError(f"location '{location}': {exc}") from exc
        by_version: dict[tuple[str, int], list[Event]] = {}
        for e in content.events:
            by_version.setdefault((e.aip_id, e.version), []).append(e.event)
        agents: list[Agent] = content.agents
        with catalog() as uow:
            for (aip_id, version), evs in by_version.items():
                uow.aips.add_events(aip_id, version, evs, agents)
            uow.commit()
        count += len(content.events)
        segments.append(content.record(location, key))
    return count, segments


def _remember(catalog: UnitOfWorkFactory, segments: list[Segment]) -> None:
    with catalog() as uow:
        for segment in segments:
            uow.aips.add_segment(segment)
        uow.commit()
