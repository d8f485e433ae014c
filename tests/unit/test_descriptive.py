"""Descriptive metadata: the model's rules, the coded report on a metadata file, the canonical JSON the
bags hold, the exported JSON Schema and the shipped sample."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from astropy.io import fits
from pydantic import ValidationError

from oais.adapters.descriptive_schema import DESCRIPTIVE_METADATA_SCHEMA, descriptive_metadata_schema
from oais.domain.descriptive import (
    Access,
    AccessStatus,
    Creator,
    DescriptiveMetadata,
    Identifier,
    Licence,
    canonical_json,
    metadata_from_json,
    minimal,
    orcid_check_digit,
)
from oais.domain.packages import Aip

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "omega-orbit-0042.metadata.json"


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(e["msg"] for e in exc.value.errors())


# --- access status ---------------------------------------------------------------------------------


def test_an_embargo_needs_its_end_date() -> None:
    with pytest.raises(ValidationError) as refused:
        Access(status=AccessStatus.EMBARGOED)
    assert "an embargoed AIP needs embargo_until" in _messages(refused)


@pytest.mark.parametrize("status", [AccessStatus.OPEN, AccessStatus.RESTRICTED])
def test_an_end_date_is_only_for_an_embargo(status: AccessStatus) -> None:
    with pytest.raises(ValidationError) as refused:
        Access(status=status, embargo_until=date(2030, 1, 1))
    assert f"embargo_until is given but the status is '{status.value}', not 'embargoed'" in _messages(refused)


def test_an_embargo_refuses_until_its_end_date_then_opens() -> None:
    access = Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 1, 1), note="PI period")

    assert access.refusal(date(2026, 12, 31)) == "under embargo until 2027-01-01 (PI period)"
    # embargo_until is the first day the content is open.
    assert access.refusal(date(2027, 1, 1)) is None
    assert access.refusal(date(2040, 6, 1)) is None


def test_a_restriction_always_refuses_and_open_never_does() -> None:
    assert Access(status=AccessStatus.RESTRICTED).refusal(date(2099, 1, 1)) == "access is restricted"
    assert Access(status=AccessStatus.RESTRICTED, note="ITAR").refusal(date(2000, 1, 1)) == (
        "access is restricted (ITAR)"
    )
    assert Access().refusal(date(1990, 1, 1)) is None


def test_an_aip_without_metadata_is_described_by_its_title_and_open() -> None:
    aip = Aip(aip_id="a", title="Cubes", producer="IAS", created=datetime(2026, 1, 1, tzinfo=UTC))

    assert aip.metadata is None
    assert aip.descriptive == minimal("Cubes") == DescriptiveMetadata(title="Cubes")
    assert aip.descriptive.access.status is AccessStatus.OPEN


# --- other rules -----------------------------------------------------------------------------------


def test_an_orcid_is_checked_by_its_check_digit() -> None:
    # ORCID's own examples: one ending in a digit, one in X.
    assert Creator(name="Carberry, Josiah", orcid="0000-0002-1825-0097").orcid == "0000-0002-1825-0097"
    assert Creator(name="Someone", orcid="0000-0002-1694-233X").orcid == "0000-0002-1694-233X"
    assert orcid_check_digit("000000021825009") == "7"
    with pytest.raises(ValidationError) as refused:
        Creator(name="Carberry, Josiah", orcid="0000-0002-1825-0098")
    assert (
        "ORCID iD 0000-0002-1825-0098 has a wrong check digit: the last character should be 7"
        in _messages(refused)
    )


@pytest.mark.parametrize(
    "orcid", ["0000-0002-1825-009", "https://orcid.org/0000-0002-1825-0097", "0000000218250097"]
)
def test_an_orcid_in_another_shape_is_refused(orcid: str) -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        Creator(name="Carberry, Josiah", orcid=orcid)


def test_a_doi_is_a_doi_name_without_resolver() -> None:
    assert DescriptiveMetadata(title="t", identifiers=(Identifier(type="doi", value="10.5072/abc"),)).doi == (
        "10.5072/abc"
    )
    with pytest.raises(ValidationError, match="give it without 'doi:' or a resolver address"):
        Identifier(type="DOI", value="https://doi.org/10.5072/abc")
    # Other identifiers are free.
    assert Identifier(type="URL", value="https://example.org/x").value == "https://example.org/x"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "   "}, "must not be blank"),
        ({"title": "two\nlines"}, "must be one line"),
        ({"title": "t", "subjects": ("Mars", "")}, "String should have at least 1 character"),
        ({"title": "t", "rights_statements": ("bell \x07",)}, "U+0007, which XML 1.0 (PREMIS) cannot hold"),
        ({"title": "t", "description": "lone \udc80"}, "U+DC80"),
        ({"title": "t", "language": "English"}, "String should match pattern"),
        (
            {"title": "t", "licence": {"identifier": "CC-BY-4.0", "uri": "ftp://x"}},
            "String should match pattern",
        ),
        ({"title": "t", "publication_year": 20}, "greater than or equal to 1000"),
    ],
)
def test_text_that_bags_and_premis_cannot_hold_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DescriptiveMetadata.model_validate(fields)
    assert message in _messages(refused)


def test_newlines_and_any_unicode_are_kept_where_xml_holds_them() -> None:
    metadata = DescriptiveMetadata(
        title="Ωmega — étalonnage 🌌",
        description="line one\r\nline two\ttabbed",
        rights_statements=("© IAS & CNES <2004>",),
    )
    assert metadata.description == "line one\r\nline two\ttabbed"


# --- a metadata file -------------------------------------------------------------------------------


def test_a_metadata_file_with_every_problem_reports_each_naming_the_file() -> None:
    data = json.dumps(
        {
            "title": "Cubes",
            "access": {"status": "embargoed"},
            "colour": "blue",
            "creators": [{"name": "A", "orcid": "0000-0002-1825-0098"}, {"affiliation": "IAS"}],
        }
    ).encode()

    metadata, issues = metadata_from_json(data, "/sips/m.json")

    assert metadata is None
    assert {i.code for i in issues} == {"META-E002"} and {i.path for i in issues} == {"/sips/m.json"}
    assert sorted(i.message for i in issues) == [
        "access: an embargoed AIP needs embargo_until (the date the embargo ends: the first day it is open)",
        "colour: unknown field (the fields are listed in schemas/descriptive-metadata.schema.json)",
        "creators[0].orcid: ORCID iD 0000-0002-1825-0098 has a wrong check digit: the last character "
        "should be 7",
        "creators[1].name: required, but missing",
    ]


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b'{"title": "x",', "META-E001", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b'{"title": "\xff"}', "META-E001", "not UTF-8: byte 11 cannot be decoded"),
        (b'\xef\xbb\xbf{"title": "x"}', "META-E001", "starts with a byte order mark"),
        (b'["title"]', "META-E002", "the document is a JSON array, not an object"),
        (b'{"title": "x", "title": "y"}', "META-E002", "title: the key is given twice"),
        (b"{}", "META-E002", "title: required, but missing"),
    ],
)
def test_a_file_that_is_not_metadata_is_reported(data: bytes, code: str, message: str) -> None:
    metadata, issues = metadata_from_json(data, "m.json")

    assert metadata is None
    assert [(i.code, i.path) for i in issues] == [(code, "m.json")]
    assert issues[0].message.startswith(message)


def test_the_canonical_json_is_sorted_utf8_without_nulls_and_reads_back() -> None:
    metadata = DescriptiveMetadata(
        title="Cubes — été",
        licence=Licence(identifier="CC-BY-4.0"),
        access=Access(status=AccessStatus.EMBARGOED, embargo_until=date(2027, 1, 1)),
    )

    data = canonical_json(metadata)

    assert data.endswith(b"}\n") and "été".encode() in data
    assert data == canonical_json(metadata)
    document = json.loads(data)
    assert list(document) == sorted(document)
    assert document["access"] == {"embargo_until": "2027-01-01", "status": "embargoed"}
    assert "publisher" not in document and "uri" not in document["licence"]
    assert metadata_from_json(data, "descriptive.json") == (metadata, [])


# --- schema and sample -----------------------------------------------------------------------------


def test_the_exported_json_schema_is_the_current_one() -> None:
    exported = (REPO / "schemas" / DESCRIPTIVE_METADATA_SCHEMA).read_text(encoding="utf-8")
    assert exported == descriptive_metadata_schema(), (
        "schemas/descriptive-metadata.schema.json is out of date: "
        "run .venv/bin/python -m oais.adapters.descriptive_schema schemas"
    )
    schema = json.loads(exported)
    assert schema["additionalProperties"] is False and schema["required"] == ["title"]
    # The embargo rule is in the schema too, not only in the code.
    access = schema["$defs"]["Access"]
    assert access["additionalProperties"] is False
    assert access["allOf"][0]["then"]["required"] == ["embargo_until"]


def test_the_sample_metadata_agrees_with_the_sample_cubes() -> None:
    metadata, issues = metadata_from_json(SAMPLE.read_bytes(), str(SAMPLE))
    assert issues == [] and metadata is not None
    observation = metadata.observation
    assert observation is not None
    for cube in sorted((REPO / "examples" / "omega-orbit-0042").rglob("*.fits")):
        header = fits.getheader(cube)
        assert header["INSTRUME"].strip() == observation.instrument_name == "OMEGA"
        assert header["TELESCOP"].strip() == "MEX" and observation.instrument_host_name == "Mars Express"
        assert header["OBJECT"].strip().title() == observation.target_name == "Mars"
        assert f"orbit {header['ORBIT']:04d}" in metadata.title
        assert header["DATE-OBS"][:10] in (metadata.description or "")
    assert observation.target_class == "planet" and observation.dataproduct_type == "sc"
    assert observation.processing_level == 3
    assert metadata.licence is not None and metadata.licence.identifier == "CC-BY-4.0"
    assert metadata.access.status is AccessStatus.OPEN
    assert metadata.doi is None, "no DOI is invented for the sample"
    assert metadata.rights_statements and metadata.creators[0].name == "IAS / OMEGA team"
