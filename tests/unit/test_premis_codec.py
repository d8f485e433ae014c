"""PREMIS codec: what is written comes back equal, in the order PREMIS requires, or fails loudly."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from oais.adapters.premis import PremisXmlCodec, default_schema_dir, file_object_id
from oais.domain.descriptive import Access, AccessStatus, Creator, DescriptiveMetadata, Licence
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


# --- rights statements (an AIP with descriptive metadata) ----------------------------------------

LICENCE = Licence(
    identifier="CC-BY-4.0",
    name="Creative Commons Attribution 4.0 International",
    uri="https://creativecommons.org/licenses/by/4.0/",
)
DESCRIBED = DescriptiveMetadata(
    title=AIP.title,
    creators=(Creator(name="IAS / OMEGA team"),),
    licence=LICENCE,
    access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 1, 1), note="PI period & <more>"),
    rights_statements=("© IAS / CNES", "Cite the OMEGA team.\r\nSecond line."),
)
RIGHTS = "http://id.loc.gov/vocabulary/preservation/rightsBasis"


def _described(metadata: DescriptiveMetadata) -> Aip:
    return AIP.model_copy(update={"metadata": metadata})


def _write_described(codec: PremisXmlCodec, path: Path, metadata: DescriptiveMetadata) -> Path:
    with codec.writer(path, _described(metadata), 1, REPRESENTATION) as doc:
        for entry in FILES:
            doc.add_file(entry)
        doc.add_events(EVENTS)
        doc.add_agents(AGENTS)
    return path


@pytest.mark.parametrize(
    "access",
    [
        Access(),
        Access(note="anyone"),
        Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 1, 1), note="PI period & <more>"),
        Access(status=AccessStatus.RESTRICTED, note="export control"),
    ],
    ids=["open", "open-with-note", "embargoed", "restricted"],
)
def test_licence_access_and_rights_statements_round_trip(
    codec: PremisXmlCodec, tmp_path: Path, access: Access
) -> None:
    metadata = DESCRIBED.model_copy(update={"access": access})
    path = _write_described(codec, tmp_path / "premis.xml", metadata)

    aip, files, events, agents = codec.read_record(path)
    rights = codec.read_rights(path)

    # PREMIS holds the title, licence, access status and rights statements; descriptive.json the rest.
    assert aip.metadata == DescriptiveMetadata(
        title=AIP.title, licence=LICENCE, access=access, rights_statements=DESCRIBED.rights_statements
    )
    assert rights is not None and rights.access == access
    assert (files, events, agents) == (FILES, EVENTS, AGENTS)
    assert codec.read(path) == (FILES, EVENTS, AGENTS)
    assert codec.read_header(path).aip == AIP


@pytest.mark.parametrize(
    "licence",
    [None, Licence(identifier="CC0-1.0"), Licence(identifier="LicenseRef-IAS", uri="https://example.org/l")],
)
def test_a_licence_without_name_or_address_or_none_at_all_round_trips(
    codec: PremisXmlCodec, tmp_path: Path, licence: Licence | None
) -> None:
    metadata = DescriptiveMetadata(title=AIP.title, licence=licence)
    path = _write_described(codec, tmp_path / "premis.xml", metadata)

    assert codec.read_record(path)[0].metadata == metadata


def test_one_rights_statement_per_fact_each_linked_to_the_aip(codec: PremisXmlCodec, tmp_path: Path) -> None:
    root = etree.parse(str(_write_described(codec, tmp_path / "premis.xml", DESCRIBED))).getroot()

    # Rights come last, after the agents, in one premis:rights element.
    assert [child.tag.removeprefix(P) for child in root][-2:] == ["agent", "rights"]
    statements = root.findall(f"{P}rights/{P}rightsStatement")
    assert [
        s.findtext(f"{P}rightsStatementIdentifier/{P}rightsStatementIdentifierValue") for s in statements
    ] == [
        f"{AIP.aip_id}/rights/license",
        f"{AIP.aip_id}/rights/access",
        f"{AIP.aip_id}/rights/statement-1",
        f"{AIP.aip_id}/rights/statement-2",
    ]
    for statement in statements:
        assert statement.findtext(f"{P}linkingObjectIdentifier/{P}linkingObjectIdentifierValue") == AIP.aip_id
        assert statement.findtext(f"{P}linkingObjectIdentifier/{P}linkingObjectIdentifierType") == "URN"
    licence, access, first, _ = statements
    basis = licence.find(f"{P}rightsBasis")
    assert basis is not None and basis.text == "license" and basis.get("valueURI") == f"{RIGHTS}/lic"
    assert licence.findtext(f"{P}licenseInformation/{P}licenseTerms") == LICENCE.name
    assert licence.findtext(f"{P}licenseInformation/{P}licenseNote") == "license identifier: CC-BY-4.0"
    assert licence.findtext(f".//{P}licenseDocumentationIdentifierValue") == LICENCE.uri
    assert access.findtext(f"{P}rightsBasis") == "other"
    assert access.findtext(f"{P}otherRightsInformation/{P}otherRightsNote") == (
        "access status: embargoed until 2027-01-01"
    )
    refused, allowed = access.findall(f"{P}rightsGranted")
    act = refused.find(f"{P}act")
    assert act is not None and act.text == "dissemination"
    assert act.get("valueURI") == "http://id.loc.gov/vocabulary/preservation/eventType/dis"
    assert refused.findtext(f"{P}restriction") == "Disallow"
    # From the AIP's creation to the first day it is open.
    assert refused.findtext(f"{P}termOfRestriction/{P}startDate") == "2024-06-01"
    assert refused.findtext(f"{P}termOfRestriction/{P}endDate") == "2027-01-01"
    assert refused.findtext(f"{P}rightsGrantedNote") == "PI period & <more>"
    assert allowed.findtext(f"{P}restriction") == "Allow"
    assert allowed.findtext(f"{P}termOfGrant/{P}startDate") == "2027-01-01"
    assert first.findtext(f"{P}otherRightsInformation/{P}otherRightsBasis") == "rights statement"
    assert first.findtext(f"{P}otherRightsInformation/{P}otherRightsNote") == "© IAS / CNES"


def test_a_restriction_has_no_end_date(codec: PremisXmlCodec, tmp_path: Path) -> None:
    metadata = DescriptiveMetadata(title=AIP.title, access=Access(status=AccessStatus.RESTRICTED))
    root = etree.parse(str(_write_described(codec, tmp_path / "premis.xml", metadata))).getroot()

    [granted] = root.findall(f"{P}rights/{P}rightsStatement/{P}rightsGranted")

    assert granted.findtext(f"{P}restriction") == "Disallow"
    assert granted.find(f"{P}termOfRestriction/{P}startDate") is not None
    assert granted.find(f"{P}termOfRestriction/{P}endDate") is None


def test_an_aip_without_metadata_has_no_rights_statements(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = _write(codec, tmp_path / "premis.xml")

    assert "rights" not in path.read_text(encoding="utf-8")
    assert codec.read_record(path)[0] == AIP and codec.read_rights(path) is None


def test_a_rights_statement_oais_does_not_write_is_an_error_with_its_line(
    codec: PremisXmlCodec, tmp_path: Path
) -> None:
    path = _write_described(codec, tmp_path / "premis.xml", DESCRIBED)
    text = path.read_text(encoding="utf-8").replace(">license<", ">statute<", 1)
    path.write_text(text, encoding="utf-8")
    # The statement that holds it is named by its first line.
    line = text[: text.rindex("<premis:rightsStatement>", 0, text.index(">statute<"))].count("\n") + 1

    with pytest.raises(StorageError, match=rf"line {line}: rights basis 'statute' is not one oais writes"):
        codec.read_record(path)
