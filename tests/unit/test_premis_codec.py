"""PREMIS codec: what is written comes back equal, in the order PREMIS requires, or fails loudly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from oais.adapters.premis import PremisXmlCodec, default_schema_dir, file_object_id
from oais.domain.errors import NotFound, StorageError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import Aip, FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome

P = "{http://www.loc.gov/premis/v3}"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

AIP = Aip(
    aip_id="urn:uuid:6f1c2b1e-8d44-4c55-9b0e-3f5c1a2b3c4d",
    title="Observations & <calibration> été 2024",
    producer="IAS / OMEGA team",
    created=datetime(2024, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
)
REPRESENTATION = "urn:uuid:0a7d6b1c-1111-4d2e-8f00-aaaaaaaaaaaa"

FITS = FormatFacts(
    puid="fmt/14",
    name="Flexible Image Transport System",
    version="3.0",
    mime_type="application/fits",
    basis="signature",
    tool="fido 1.6.1 (PRONOM v109)",
)
UNKNOWN = FormatFacts(
    puid=None,
    name="unknown",
    mime_type="application/octet-stream",
    basis="none",
    tool="fido 1.6.1 (PRONOM v109)",
    issues=(Issue(code="FMT-W001", path="raw/blob: 1%.bin", message="format not identified: no match"),),
)

SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _file(path: str, size: int = 2880, fmt: FormatFacts = FITS) -> FileEntry:
    return FileEntry(
        path=path,
        size=size,
        digests={DigestAlgorithm.SHA256: "ab" * 32, DigestAlgorithm.XXH3_128: "cd" * 16},
        format=fmt,
    )


FILES = [
    _file("images/m31 été/naïve & <odd> 100%.fits"),
    _file("line\r\nbreak/tab\there.fits", fmt=FITS.model_copy(update={"version": None})),
    FileEntry(
        path="empty/zero byte",
        size=0,
        digests={
            DigestAlgorithm.SHA256: SHA256_EMPTY,
            DigestAlgorithm.MD5: "d41d8cd98f00b204e9800998ecf8427e",
        },
        format=UNKNOWN,
    ),
    _file("raw/blob: 1%.bin", size=17, fmt=UNKNOWN),
]

SOFTWARE = Agent(
    identifier="software:oais/0.1.0", name="oais", type=AgentType.SOFTWARE, version="0.1.0", note="ingest"
)
FIDO = Agent(identifier="software:fido/1.6.1", name="fido", type=AgentType.SOFTWARE, version="1.6.1")
ARCHIVIST = Agent(identifier="person:jdoe", name="Jane Doe", type=AgentType.PERSON)
PRODUCER = Agent(
    identifier="organization:IAS / OMEGA team", name="IAS / OMEGA team", type=AgentType.ORGANIZATION
)
AGENTS = [SOFTWARE, FIDO, ARCHIVIST, PRODUCER]

EVENTS = [
    Event(
        identifier="urn:uuid:11111111-0000-4000-8000-000000000001",
        type=EventType.INGESTION,
        date_time=datetime(2024, 6, 1, 14, 30, 15, tzinfo=timezone(timedelta(hours=2))),
        detail="SIP /incoming/obs.zip ingested as version 1",
        outcome=Outcome.SUCCESS,
        outcome_detail="4 files, 5777 bytes",
        agents=(
            AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),
            AgentLink(agent=ARCHIVIST.identifier, role=AgentRole.IMPLEMENTER),
            AgentLink(agent=PRODUCER.identifier, role=AgentRole.PRODUCER),
        ),
        objects=(AIP.aip_id, REPRESENTATION),
        policy="ingest@3",
    ),
    Event(
        identifier="urn:uuid:11111111-0000-4000-8000-000000000002",
        type=EventType.FORMAT_IDENTIFICATION,
        date_time=datetime(2024, 6, 1, 12, 30, 16, 5, tzinfo=UTC),
        detail="policy: this detail happens to look like a policy line",
        outcome=Outcome.WARNING,
        outcome_detail="FMT-W001 empty/zero byte: format not identified\nFMT-W001 raw/blob: 1%.bin: same",
        agents=(AgentLink(agent=FIDO.identifier, role=AgentRole.EXECUTING_PROGRAM),),
        objects=tuple(file_object_id(f.path) for f in FILES),
    ),
    Event(
        identifier="urn:uuid:11111111-0000-4000-8000-000000000003",
        type=EventType.MESSAGE_DIGEST_CALCULATION,
        date_time=datetime(2024, 6, 1, 12, 30, 17, tzinfo=UTC),
        detail="sha256 and xxh3_128 of every file, one read each",
        outcome=Outcome.SUCCESS,
        outcome_detail="4 files",
        agents=(AgentLink(agent=SOFTWARE.identifier, role=AgentRole.EXECUTING_PROGRAM),),
    ),
]


@pytest.fixture
def codec() -> PremisXmlCodec:
    return PremisXmlCodec(default_schema_dir())


def _write(
    codec: PremisXmlCodec,
    path: Path,
    files: list[FileEntry] = FILES,
    events: list[Event] = EVENTS,
    agents: list[Agent] = AGENTS,
    version: int = 1,
) -> Path:
    with codec.writer(path, AIP, version, REPRESENTATION) as doc:
        for entry in files:
            doc.add_file(entry)
        doc.add_events(events)
        doc.add_agents(agents)
    return path


def test_round_trip_returns_what_was_written(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")

    files, events, agents = codec.read(path)

    assert files == FILES
    assert events == EVENTS
    assert agents == AGENTS
    # The offset a producer's clock used survives, not only the instant.
    assert events[0].date_time.utcoffset() == timedelta(hours=2)


def test_awkward_names_are_preserved_exactly(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")

    files, _, _ = codec.read(path)

    assert [f.path for f in files] == [f.path for f in FILES]
    assert "\r\n" in files[1].path
    assert files[3].format.issues[0].path == "raw/blob: 1%.bin"


def test_unknown_format_and_zero_byte_file_round_trip(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")

    zero = codec.read(path)[0][2]

    assert zero.size == 0
    assert zero.format.puid is None
    assert zero.format.issues == UNKNOWN.issues
    assert zero.digests[DigestAlgorithm.SHA256] == SHA256_EMPTY


def test_header_holds_the_aip_facts_for_a_catalog_rebuild(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml", version=3)

    header = codec.read_header(path)

    assert header.aip == AIP
    assert header.version == 3
    assert header.representation_id == REPRESENTATION


def test_title_and_producer_are_visible_in_the_document(codec: PremisXmlCodec, tmp_path: Path) -> None:
    text = _write(codec, tmp_path / "premis.xml").read_text(encoding="utf-8")

    assert "Observations &amp; &lt;calibration&gt; été 2024" in text
    assert "IAS / OMEGA team" in text


def test_empty_version_has_only_entity_and_representation(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml", files=[], events=[], agents=[])

    assert codec.read(path) == ([], [], [])
    assert codec.read_header(path).aip == AIP


def test_objects_events_agents_come_in_premis_order(codec: PremisXmlCodec, tmp_path: Path) -> None:
    root = etree.parse(str(_write(codec, tmp_path / "premis.xml"))).getroot()

    kinds = [(child.tag.removeprefix(P), child.get(XSI_TYPE)) for child in root]

    assert kinds == [
        ("object", "premis:intellectualEntity"),
        ("object", "premis:representation"),
        *[("object", "premis:file")] * len(FILES),
        *[("event", None)] * len(EVENTS),
        *[("agent", None)] * len(AGENTS),
    ]
    assert root.get("version") == "3.0"


def test_file_object_elements_follow_the_schema_sequence(codec: PremisXmlCodec, tmp_path: Path) -> None:
    root = etree.parse(str(_write(codec, tmp_path / "premis.xml"))).getroot()
    file_object = root[2]

    assert [c.tag.removeprefix(P) for c in file_object] == [
        "objectIdentifier",
        "objectCharacteristics",
        "originalName",
        "relationship",
    ]
    characteristics = file_object.find(f"{P}objectCharacteristics")
    assert characteristics is not None
    assert [c.tag.removeprefix(P) for c in characteristics] == [
        "compositionLevel",
        "fixity",
        "fixity",
        "size",
        "format",
        "format",
    ]
    assert file_object.findtext(f"{P}objectIdentifier/{P}objectIdentifierValue") == FILES[0].bag_path
    assert file_object.findtext(
        f"{P}relationship/{P}relatedObjectIdentifier/{P}relatedObjectIdentifierValue"
    ) == (REPRESENTATION)


TIFF = FormatFacts(
    puid="fmt/353",
    name="Tagged Image File Format",
    mime_type="image/tiff",
    basis="signature",
    tool="fido 1.6.1 (PRONOM v109)",
)
#: Made from FILES[0] by a format migration: its awkward name must come back through the relationship.
DERIVED = _file("images/m31 été/naïve & <odd> 100%.tif", fmt=TIFF).model_copy(
    update={"derived_from": FILES[0].path}
)


def test_a_derived_file_names_its_source_and_reads_back(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml", files=[*FILES, DERIVED])

    files, _, _ = codec.read(path)

    assert files == [*FILES, DERIVED]
    assert files[-1].derived_from == FILES[0].path
    assert [f.derived_from for f in files[:-1]] == [None] * len(FILES)
    root = etree.parse(str(path)).getroot()
    derived = root[2 + len(FILES)]
    assert [c.tag.removeprefix(P) for c in derived] == [
        "objectIdentifier",
        "objectCharacteristics",
        "originalName",
        "relationship",
        "relationship",
    ]
    derivation = derived.findall(f"{P}relationship")[1]
    rel_type = derivation.find(f"{P}relationshipType")
    subtype = derivation.find(f"{P}relationshipSubType")
    assert rel_type is not None and subtype is not None
    assert (rel_type.text, rel_type.get("authority"), rel_type.get("authorityURI")) == (
        "derivation",
        "relationshipType",
        "http://id.loc.gov/vocabulary/preservation/relationshipType",
    )
    assert (subtype.text, subtype.get("authority"), subtype.get("authorityURI")) == (
        "has source",
        "relationshipSubType",
        "http://id.loc.gov/vocabulary/preservation/relationshipSubType",
    )
    # The source's object identifier, as its own file object carries it.
    assert derivation.findtext(f"{P}relatedObjectIdentifier/{P}relatedObjectIdentifierType") == "local"
    assert (
        derivation.findtext(f"{P}relatedObjectIdentifier/{P}relatedObjectIdentifierValue")
        == FILES[0].bag_path
        == root[2].findtext(f"{P}objectIdentifier/{P}objectIdentifierValue")
    )


def test_a_derivation_source_outside_the_payload_is_an_error_with_its_line(
    codec: PremisXmlCodec, tmp_path: Path
) -> None:
    path = _write(codec, tmp_path / "premis.xml", files=[*FILES, DERIVED])
    text = path.read_text(encoding="utf-8")
    derivation = text.index(">derivation</premis:relationshipType>")
    line = text[: text.rindex("<premis:relationship>", 0, derivation)].count("\n") + 1
    start = text.index("<premis:relatedObjectIdentifierValue>", derivation)
    end = text.index("</premis:relatedObjectIdentifierValue>", start)
    value = "<premis:relatedObjectIdentifierValue>data/metadata/premis.xml"
    path.write_text(text[:start] + value + text[end:], encoding="utf-8")

    with pytest.raises(
        StorageError,
        match=rf"^{re.escape(str(path))}, line {line}: derivation source 'data/metadata/premis\.xml' "
        r"is not a payload file under data/objects/$",
    ):
        codec.read(path)


def test_vocabulary_terms_carry_their_id_loc_gov_uris(codec: PremisXmlCodec, tmp_path: Path) -> None:
    root = etree.parse(str(_write(codec, tmp_path / "premis.xml"))).getroot()

    event_type = root.find(f"{P}event/{P}eventType")
    sha256 = root.find(f"{P}object/{P}objectCharacteristics/{P}fixity/{P}messageDigestAlgorithm")
    xxh3 = root.findall(f"{P}object/{P}objectCharacteristics/{P}fixity/{P}messageDigestAlgorithm")[1]
    agent_type = root.find(f"{P}agent/{P}agentType")

    assert event_type is not None and sha256 is not None and agent_type is not None
    assert event_type.get("valueURI") == "http://id.loc.gov/vocabulary/preservation/eventType/ing"
    assert (sha256.text, sha256.get("valueURI")) == (
        "SHA-256",
        "http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions/sha256",
    )
    # xxh3_128 is not in the LoC vocabulary: it must not pretend to be.
    assert (xxh3.text, xxh3.get("authorityURI")) == ("XXH3-128", None)
    assert agent_type.get("valueURI") == "http://id.loc.gov/vocabulary/preservation/agentType/sof"


def test_pronom_and_mime_are_both_recorded(codec: PremisXmlCodec, tmp_path: Path) -> None:
    root = etree.parse(str(_write(codec, tmp_path / "premis.xml"))).getroot()

    registries = {
        r.findtext(f"{P}formatRegistryName"): r.findtext(f"{P}formatRegistryKey")
        for r in root[2].iter(f"{P}formatRegistry")
    }

    assert registries == {"PRONOM": "fmt/14", "IANA media types": "application/fits"}


def test_files_cannot_follow_events(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = tmp_path / "premis.xml"

    with (
        pytest.raises(RuntimeError, match="objects, then events, then agents"),
        codec.writer(path, AIP, 1, REPRESENTATION) as doc,
    ):
        doc.add_events(EVENTS)
        doc.add_file(FILES[0])

    assert list(tmp_path.iterdir()) == []


def test_nothing_can_follow_agents(codec: PremisXmlCodec, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), codec.writer(tmp_path / "premis.xml", AIP, 1, REPRESENTATION) as doc:
        doc.add_agents(AGENTS)
        doc.add_events(EVENTS)


def test_failed_write_leaves_no_file_and_keeps_the_old_one(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = tmp_path / "premis.xml"
    path.write_text("previous", encoding="utf-8")

    with (
        pytest.raises(ValueError, match=r"premis:objectIdentifierValue: 'data/objects/bell\\x07char'"),
        codec.writer(path, AIP, 1, REPRESENTATION) as doc,
    ):
        doc.add_file(_file("bell\x07char"))

    assert path.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["premis.xml"]


def test_names_xml_cannot_hold_are_refused_with_the_field_named(
    codec: PremisXmlCodec, tmp_path: Path
) -> None:
    # A name decoded with surrogateescape (invalid UTF-8) cannot be written as XML text.
    with (
        pytest.raises(ValueError, match=r"premis:\w+: .*cannot be written"),
        codec.writer(tmp_path / "premis.xml", AIP, 1, REPRESENTATION) as doc,
    ):
        doc.add_file(_file("bad\udcffname"))


def test_missing_document_is_not_found(codec: PremisXmlCodec, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        codec.read(tmp_path / "absent.xml")
    with pytest.raises(NotFound):
        codec.read_header(tmp_path / "absent.xml")


def test_unknown_digest_algorithm_is_an_error_with_its_line(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")
    text = path.read_text(encoding="utf-8")
    line = text[: text.index(">XXH3-128<")].count("\n") + 1
    path.write_text(text.replace(">XXH3-128<", ">CRC32<", 1), encoding="utf-8")

    with pytest.raises(
        StorageError, match=rf"^{re.escape(str(path))}, line {line}: unknown digest algorithm 'CRC32'$"
    ):
        codec.read(path)


def test_truncated_document_is_a_storage_error(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(StorageError, match="not well-formed"):
        codec.read(path)


def test_external_entities_are_not_expanded(codec: PremisXmlCodec, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    path = _write(codec, tmp_path / "premis.xml")
    text = path.read_text(encoding="utf-8")
    doctype = f'<!DOCTYPE premis:premis [<!ENTITY s SYSTEM "{secret.as_uri()}">]>\n'
    text = text.replace("\n", "\n" + doctype, 1).replace("IAS / OMEGA team", "&s;", 1)
    path.write_text(text, encoding="utf-8")

    header = codec.read_header(path)

    assert "TOP-SECRET" not in header.aip.producer
    assert "TOP-SECRET" not in repr(codec.read(path))


def test_file_object_id_is_the_bag_path() -> None:
    entry = FILES[0]

    assert file_object_id(entry.path) == entry.bag_path == f"data/objects/{entry.path}"
