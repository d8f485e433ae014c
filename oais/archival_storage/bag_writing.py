"""Writing one AIP version's bag in a staging directory: premis.xml (and descriptive.json when the
AIP has descriptive metadata), then the BagIt tag files.

Shared by ingest (version 1) and migration (later versions, whose unchanged payload is listed in
fetch.txt instead of being stored again). The payload files are already in place under ``data/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from oais.archival_storage.layout import DESCRIPTIVE, PREMIS, Fetched, fetch_entry
from oais.domain.descriptive import AccessStatus, canonical_json
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, FileEntry
from oais.domain.ports import BagCodec, PremisCodec
from oais.domain.premis import Agent, Event


def write_version_bag(
    bag_dir: Path,
    *,
    aip: Aip,
    version: int,
    files: Sequence[FileEntry],
    events: Sequence[Event],
    agents: Sequence[Agent],
    premis: PremisCodec,
    codec: BagCodec,
    record: DigestAlgorithm,
    software: Agent,
    now: datetime,
    fetched: Sequence[Fetched] = (),
) -> None:
    """Write ``data/metadata/premis.xml``, ``data/metadata/descriptive.json`` (only when the AIP has
    descriptive metadata) and the tag files of one version's bag.

    Both metadata files are payload files of the bag (listed in its payload manifest), as every
    version's own record; neither is a ``FileEntry`` of the version.

    Args:
        bag_dir: the staged bag; the payload stored with this version is already under ``data/``.
        aip: the AIP (its id, title and producer go into premis.xml and bag-info.txt; its
            descriptive metadata, if any, into descriptive.json, premis.xml's rights statements
            and bag-info.txt's ``Access-Status`` and ``Licence``).
        version: the version number.
        files: every payload file of the version, the reused ones included.
        events: the events of this version's record.
        agents: every agent the events name.
        premis: the PREMIS codec.
        codec: the BagIt codec.
        record: the digest of record (the payload manifest's algorithm).
        software: oais itself, named in bag-info.txt.
        now: the bagging time.
        fetched: the payload files stored under an earlier version (listed in fetch.txt).

    Raises:
        ValueError: a value cannot be written in XML 1.0.
        OSError: the staging directory cannot be written.
    """
    premis_path = bag_dir / PREMIS
    premis_path.parent.mkdir(parents=True, exist_ok=True)
    with premis.writer(premis_path, aip, version, f"{aip.aip_id}/v{version}") as doc:
        for f in files:
            doc.add_file(f)
        doc.add_events(events)
        doc.add_agents(agents)
    metadata_files = [(PREMIS, premis_path)]
    if aip.metadata is not None:
        descriptive_path = bag_dir / DESCRIPTIVE
        descriptive_path.write_bytes(canonical_json(aip.metadata))
        metadata_files.append((DESCRIPTIVE, descriptive_path))
    codec.write_tags(
        bag_dir,
        _payload_for_manifest(files, metadata_files, record),
        bag_info(aip, software, now),
        [fetch_entry(f) for f in fetched],
    )


def digest_file(path: Path, algorithm: DigestAlgorithm) -> str:
    """The digest of a local file in a hashlib algorithm (the digest of record is one)."""
    h = hashlib.new(algorithm.value)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _payload_for_manifest(
    files: Sequence[FileEntry], metadata_files: Sequence[tuple[str, Path]], record: DigestAlgorithm
) -> Iterable[tuple[str, int, dict[DigestAlgorithm, str]]]:
    for f in files:
        yield f.bag_path, f.size, {record: f.digests[record]}
    for bag_path, local in metadata_files:
        yield bag_path, local.stat().st_size, {record: digest_file(local, record)}


def bag_info(aip: Aip, software: Agent, now: datetime) -> list[tuple[str, str]]:
    """The bag-info.txt fields of an AIP version (Payload-Oxum is added by the codec).

    An AIP with descriptive metadata also gets ``Access-Status`` (``open``, ``embargoed until
    YYYY-MM-DD`` or ``restricted``) and, when it has a licence, ``Licence`` (its identifier, then its
    address if known): a person opening the bag sees at once whether the content may be handed out.
    """
    fields = [
        ("Source-Organization", aip.producer),
        ("External-Identifier", aip.aip_id),
        ("External-Description", aip.title),
        ("Bagging-Date", now.date().isoformat()),
        ("Bag-Software-Agent", f"{software.name} {software.version}"),
    ]
    metadata = aip.metadata
    if metadata is not None:
        access = metadata.access
        status = access.status.value
        if access.status is AccessStatus.EMBARGOED and access.embargo_until is not None:
            status += f" until {access.embargo_until.isoformat()}"
        fields.append(("Access-Status", status))
        if metadata.licence is not None:
            licence = metadata.licence
            fields.append(("Licence", licence.identifier + (f" {licence.uri}" if licence.uri else "")))
    return fields
