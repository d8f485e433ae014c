"""premis.xml against the official PREMIS 3.0 XSD, offline: valid documents pass, broken ones are named."""

from __future__ import annotations

import hashlib
import re
import socket
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from lxml import etree

from oais.adapters.premis import PremisXmlCodec, default_schema_dir, validate
from oais.domain.descriptive import Access, AccessStatus, DescriptiveMetadata, Licence
from oais.domain.errors import ConfigError, NotFound
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import Aip, FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome

SCHEMAS = default_schema_dir()
AIP = Aip(
    aip_id="obs-2024-001",
    title="Obs & <cal> %20 été",
    producer="IAS",
    created=datetime(2024, 6, 1, tzinfo=UTC),
)
FMT = FormatFacts(
    puid="fmt/14", name="FITS", version="3.0", mime_type="application/fits", basis="signature", tool="fido"
)
UNKNOWN = FormatFacts(
    puid=None,
    name="",
    mime_type="application/octet-stream",
    basis="none",
    tool="fido",
    issues=(Issue(code="FMT-W001", path="a&b", message="not identified"),),
)
AWKWARD = ["ü/ñ 日本.fits", "a&b", "<lt>", "cr\rlf\n", "100%", "  spaces  ", "zero"]
AGENTS = [
    Agent(identifier="software:oais/0.1.0", name="oais", type=AgentType.SOFTWARE, version="0.1.0"),
    Agent(identifier="organization:IAS", name="IAS & co", type=AgentType.ORGANIZATION, note="<producer>"),
]
EVENTS = [
    Event(
        identifier=f"urn:uuid:00000000-0000-4000-8000-00000000000{i}",
        type=event_type,
        date_time=datetime(2024, 6, 1, 12, i, tzinfo=UTC),
        detail=f"detail {i} & <more>",
        outcome=Outcome.SUCCESS,
        outcome_detail="ok\r\nSIP-W001 x",
        agents=(
            AgentLink(agent="software:oais/0.1.0", role=AgentRole.EXECUTING_PROGRAM),
            AgentLink(agent="organization:IAS", role=AgentRole.PRODUCER),
        ),
        objects=("obs-2024-001", "data/objects/a&b"),
        policy="ingest@1" if i else None,
    )
    for i, event_type in enumerate([EventType.INGESTION, EventType.VALIDATION, EventType.FIXITY_CHECK])
]


def _entry(path: str) -> FileEntry:
    size = 0 if path == "zero" else 10
    return FileEntry(
        path=path,
        size=size,
        digests={algorithm: "0" * algorithm.hex_length for algorithm in DigestAlgorithm},
        format=UNKNOWN if path in ("zero", "a&b") else FMT,
    )


@pytest.fixture
def codec() -> PremisXmlCodec:
    return PremisXmlCodec(SCHEMAS)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a connection from Python (the XSD must be read locally)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def document(codec: PremisXmlCodec, tmp_path: Path) -> Path:
    path = tmp_path / "premis.xml"
    with codec.writer(path, AIP, 2, "obs-2024-001/v2") as doc:
        for name in AWKWARD:
            doc.add_file(_entry(name))
        doc.add_events(EVENTS)
        doc.add_agents(AGENTS)
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.usefixtures("no_network")
def test_written_document_is_valid_premis_3(codec: PremisXmlCodec, document: Path) -> None:
    assert codec.validate(document) == []
    assert validate(document, SCHEMAS) == []


def test_whole_document_validates_with_lxml_directly(document: Path) -> None:
    # A second opinion that does not go through the streaming validator.
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "premis-3.0.xsd")))

    assert schema.validate(etree.parse(str(document))), schema.error_log


def test_a_derived_file_keeps_the_document_valid_premis_3(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = tmp_path / "premis.xml"
    # Made from an awkward name: the derivation relationship follows the structural one.
    derived = _entry("ü/ñ 日本.tif").model_copy(update={"derived_from": "ü/ñ 日本.fits"})
    with codec.writer(path, AIP, 2, "obs-2024-001/v2") as doc:
        for name in AWKWARD:
            doc.add_file(_entry(name))
        doc.add_file(derived)
        doc.add_events(EVENTS)
        doc.add_agents(AGENTS)
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "premis-3.0.xsd")))

    assert codec.validate(path) == []
    assert schema.validate(etree.parse(str(path))), schema.error_log
    assert codec.read(path)[0][-1] == derived


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "access",
    [
        Access(note="anyone & <everyone>"),
        Access(status=AccessStatus.EMBARGOED, embargo_until=date(2030, 1, 1), note="PI period"),
        Access(status=AccessStatus.RESTRICTED),
    ],
    ids=["open", "embargoed", "restricted"],
)
@pytest.mark.parametrize(
    "licence",
    [
        Licence(identifier="CC-BY-4.0", name="CC BY 4.0", uri="https://creativecommons.org/licenses/by/4.0/"),
        Licence(identifier="CC0-1.0", uri="https://creativecommons.org/publicdomain/zero/1.0/"),
        Licence(identifier="LicenseRef-IAS"),
        None,
    ],
    ids=["full", "no-name", "identifier-only", "none"],
)
def test_rights_statements_keep_the_document_valid_premis_3(
    codec: PremisXmlCodec, tmp_path: Path, access: Access, licence: Licence | None
) -> None:
    metadata = DescriptiveMetadata(
        title=AIP.title,
        licence=licence,
        access=access,
        rights_statements=("© IAS & <CNES>", "line one\r\nline two"),
    )
    path = tmp_path / "premis.xml"
    with codec.writer(path, AIP.model_copy(update={"metadata": metadata}), 2, "obs-2024-001/v2") as doc:
        for name in AWKWARD:
            doc.add_file(_entry(name))
        doc.add_events(EVENTS)
        doc.add_agents(AGENTS)
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "premis-3.0.xsd")))

    assert codec.validate(path) == []
    assert schema.validate(etree.parse(str(path))), schema.error_log
    assert codec.read_record(path)[0].metadata == metadata


def test_rights_before_the_agents_are_out_of_order(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    rights = (
        "<premis:rights><premis:rightsStatement><premis:rightsStatementIdentifier>"
        "<premis:rightsStatementIdentifierType>local</premis:rightsStatementIdentifierType>"
        "<premis:rightsStatementIdentifierValue>r</premis:rightsStatementIdentifierValue>"
        "</premis:rightsStatementIdentifier><premis:rightsBasis>other</premis:rightsBasis>"
        "</premis:rightsStatement></premis:rights>\n  "
    )
    at = text.index("<premis:agent>")
    document.write_text(text[:at] + rights + text[at:], encoding="utf-8")

    problems = codec.validate(document)

    # Each agent after the rights is out of place (the first one moved down a line).
    assert len(problems) == len(AGENTS)
    assert all("Element 'premis:agent': This element is not expected here" in p for p in problems)
    assert problems[0].startswith(f"line {_line_of(text, '<premis:agent>') + 1}:")


def test_broken_element_is_named_with_its_line(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    text = text.replace("<premis:size>10</premis:size>", "<premis:size>ten</premis:size>", 1)
    document.write_text(text, encoding="utf-8")

    errors = codec.validate(document)

    assert errors == [
        f"line {_line_of(text, '>ten<')}: Element 'premis:size': 'ten' is not a valid value of the atomic "
        "type 'xs:long'."
    ]


def test_every_problem_is_reported_not_only_the_first(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    # An element out of sequence in the first file, an unknown element in the last agent.
    text = text.replace("<premis:compositionLevel>0</premis:compositionLevel>", "", 1)
    text = text.replace("<premis:compositionLevel>0</premis:compositionLevel>", "", 1)
    first_size = text.index("<premis:size>")
    text = text[:first_size] + "<premis:bogus/>" + text[first_size:]
    text = text.replace("<premis:agentNote>", "<premis:agentNotes>").replace(
        "</premis:agentNote>", "</premis:agentNotes>"
    )
    document.write_text(text, encoding="utf-8")

    errors = codec.validate(document)

    assert len(errors) == 2, errors
    assert errors[0].startswith(f"line {_line_of(text, '<premis:bogus/>')}: Element 'premis:bogus'")
    assert "This element is not expected" in errors[0]
    assert errors[1].startswith(f"line {_line_of(text, '<premis:agentNotes>')}: Element 'premis:agentNotes'")


def test_objects_after_events_are_out_of_order(codec: PremisXmlCodec, document: Path) -> None:
    root = etree.parse(str(document)).getroot()
    root.append(root[2])  # move a file object after the agents
    document.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))

    errors = codec.validate(document)

    assert len(errors) == 1
    assert re.match(r"line \d+: Element 'premis:object': This element is not expected here", errors[0])


def test_wrong_premis_version_is_reported(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8").replace('version="3.0"', 'version="2.2"', 1)
    document.write_text(text, encoding="utf-8")

    errors = codec.validate(document)

    assert len(errors) == 1
    assert errors[0].startswith("line 2: Element 'premis:premis', attribute 'version'")
    assert "'2.2'" in errors[0]


def test_document_without_objects_is_invalid(codec: PremisXmlCodec, tmp_path: Path) -> None:
    path = tmp_path / "premis.xml"
    path.write_text('<premis xmlns="http://www.loc.gov/premis/v3" version="3.0"></premis>', encoding="utf-8")

    assert codec.validate(path) == [
        "line 1: Element 'premis:premis': Missing child element(s). Expected is ( premis:object )."
    ]


def test_object_without_category_is_invalid(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8").replace(' xsi:type="premis:file"', "", 1)
    document.write_text(text, encoding="utf-8")

    errors = codec.validate(document)

    assert len(errors) == 1
    assert "premis:object" in errors[0] and "abstract" in errors[0]


def test_not_well_formed_document_stops_with_its_line(codec: PremisXmlCodec, document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    text = text.replace("</premis:originalName>", "</premis:originalNam>", 1)
    document.write_text(text, encoding="utf-8")

    errors = codec.validate(document)

    assert len(errors) == 1
    assert errors[0].startswith(f"line {_line_of(text, '</premis:originalNam>')}: not well-formed XML")


def test_missing_document_is_not_found(codec: PremisXmlCodec, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        codec.validate(tmp_path / "absent.xml")


def test_missing_schema_is_a_configuration_error(tmp_path: Path, document: Path) -> None:
    with pytest.raises(ConfigError, match=r"premis-3\.0\.xsd"):
        PremisXmlCodec(tmp_path).validate(document)


def test_shipped_schemas_import_nothing_remote() -> None:
    for xsd in SCHEMAS.glob("*.xsd"):
        tree = etree.parse(str(xsd))
        locations = tree.xpath(
            "//xs:import/@schemaLocation | //xs:include/@schemaLocation | //xs:redefine/@schemaLocation",
            namespaces={"xs": "http://www.w3.org/2001/XMLSchema"},
        )
        assert isinstance(locations, list)
        for location in locations:
            assert "://" not in str(location), f"{xsd.name} fetches {location!s}"
            assert (SCHEMAS / str(location)).is_file()


def test_shipped_schemas_are_the_documented_ones() -> None:
    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    premis = (SCHEMAS / "premis-3.0.xsd").read_bytes()

    assert b"VERSION 3.0" in premis
    for name in ("premis-3.0.xsd", "xlink.xsd"):
        digest = hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest()
        assert digest in readme, f"{name} differs from the copy schemas/README.md describes"
