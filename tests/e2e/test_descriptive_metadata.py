"""Descriptive metadata end to end: `oais ingest --metadata FILE` on the sample SIP, what `oais show`
says, what every version's bag holds (descriptive.json, PREMIS rights, bag-info.txt), bad metadata
files refused with every problem, and the metadata carried into a migrated version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bagit
import pytest
from lxml import etree

from tests.conftest import S3Service
from tests.e2e.conftest import REPO, Oais, tree_snapshot
from tests.e2e.test_migration import make_sip
from tests.e2e.test_s3_storage import _archive as s3_archive

SAMPLE_METADATA = REPO / "examples" / "omega-orbit-0042.metadata.json"
P = "{http://www.loc.gov/premis/v3}"
RIGHTS_BASIS = "http://id.loc.gov/vocabulary/preservation/rightsBasis"

ACCESS: dict[str, dict[str, Any]] = {
    "open": {"status": "open"},
    "embargoed": {"status": "embargoed", "embargo_until": "2099-01-01", "note": "PI proprietary period"},
    "restricted": {"status": "restricted", "note": "export control"},
}


def _ok(run: Any) -> Any:
    assert run.code == 0, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return run.json if run.stdout.startswith("{") else run


def _sample(**changes: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = json.loads(SAMPLE_METADATA.read_text(encoding="utf-8"))
    metadata.update(changes)
    return metadata


def _given(value: Any) -> Any:
    """``value`` without the fields left empty (None, []) at any depth: what a producer wrote."""
    if isinstance(value, dict):
        return {k: _given(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_given(v) for v in value]
    return value


def _write(tmp_path: Path, document: dict[str, Any] | str, name: str = "metadata.json") -> Path:
    path = tmp_path / name
    text = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False, indent=1)
    path.write_text(text, encoding="utf-8")
    return path


def _rights(premis: Path) -> dict[str, etree._Element]:
    """The rights statements of a premis.xml, by what their identifier ends with."""
    root = etree.parse(str(premis)).getroot()
    assert [child.tag.removeprefix(P) for child in root][-1] == "rights", "rights come last"
    return {
        (s.findtext(f"{P}rightsStatementIdentifier/{P}rightsStatementIdentifierValue") or "").split(
            "/rights/"
        )[1]: s
        for s in root.iterfind(f"{P}rights/{P}rightsStatement")
    }


def _check_premis(bag: Path, aip_id: str, metadata: dict[str, Any]) -> None:
    premis = bag / "data" / "metadata" / "premis.xml"
    schema = etree.XMLSchema(etree.parse(str(REPO / "schemas" / "premis-3.0.xsd")))
    assert schema.validate(etree.parse(str(premis))), schema.error_log
    rights = _rights(premis)
    assert sorted(rights) == ["access", "license", *(f"statement-{n}" for n in (1,))]
    for statement in rights.values():
        assert statement.findtext(f"{P}linkingObjectIdentifier/{P}linkingObjectIdentifierValue") == aip_id
    licence = rights["license"]
    basis = licence.find(f"{P}rightsBasis")
    assert basis is not None and basis.text == "license" and basis.get("valueURI") == f"{RIGHTS_BASIS}/lic"
    assert licence.findtext(f".//{P}licenseNote") == "license identifier: CC-BY-4.0"
    assert licence.findtext(f".//{P}licenseDocumentationIdentifierValue") == metadata["licence"]["uri"]
    assert licence.findtext(f".//{P}licenseTerms") == metadata["licence"]["name"]
    access = metadata["access"]
    grants = rights["access"].findall(f"{P}rightsGranted")
    assert {g.findtext(f"{P}act") for g in grants} == {"dissemination"}
    restrictions = [g.findtext(f"{P}restriction") for g in grants]
    if access["status"] == "open":
        assert restrictions == ["Allow"]
    elif access["status"] == "embargoed":
        assert restrictions == ["Disallow", "Allow"]
        assert grants[0].findtext(f"{P}termOfRestriction/{P}endDate") == access["embargo_until"]
        assert grants[1].findtext(f"{P}termOfGrant/{P}startDate") == access["embargo_until"]
    else:
        assert restrictions == ["Disallow"]
        assert grants[0].find(f"{P}termOfRestriction/{P}startDate") is not None
        assert grants[0].find(f"{P}termOfRestriction/{P}endDate") is None
    assert grants[0].findtext(f"{P}rightsGrantedNote") == access.get("note")
    statement = rights["statement-1"]
    assert (
        statement.findtext(f"{P}otherRightsInformation/{P}otherRightsNote")
        == metadata["rights_statements"][0]
    )


@pytest.mark.parametrize("status", sorted(ACCESS))
def test_ingest_with_metadata_stores_it_in_the_bag_premis_and_the_catalog(
    oais: Oais, sample_sip: Path, tmp_path: Path, unchanged: Callable[[Path], None], status: str
) -> None:
    metadata = _sample(access=ACCESS[status])
    path = _write(tmp_path, metadata)
    unchanged(sample_sip)

    result = _ok(oais.ingest(sample_sip, "--metadata", str(path)))  # no --title: the file has one

    aip_id, bag = result["aip_id"], Path(result["bag_path"])
    # The catalog: `oais show --json` holds the metadata, as the file gave it, and the access status.
    shown = _ok(oais("show", aip_id, "--json"))
    assert shown["aip"]["title"] == metadata["title"] == "OMEGA cubes, orbit 0042"
    assert _given(shown["aip"]["metadata"]) == {"resource_type": "Dataset", **metadata}
    assert shown["access"] == {"embargo_until": None, "note": None, **ACCESS[status]}
    text = _ok(oais("show", aip_id)).stdout
    expected = {
        "open": "  access:    open\n",
        "embargoed": "  access:    embargoed until 2099-01-01 (PI proprietary period)\n",
        "restricted": "  access:    restricted (export control)\n",
    }[status]
    assert expected in text
    assert (
        "  licence:   CC-BY-4.0 (Creative Commons Attribution 4.0 International) "
        "https://creativecommons.org/licenses/by/4.0/\n"
    ) in text
    # The bag: descriptive.json (canonical: sorted keys, UTF-8), listed in the payload manifest.
    stored = bag / "data" / "metadata" / "descriptive.json"
    document = json.loads(stored.read_text(encoding="utf-8"))
    assert list(document) == sorted(document)
    assert _given(document) == {"resource_type": "Dataset", **metadata}
    assert "data/metadata/descriptive.json\n" in (bag / "manifest-sha256.txt").read_text(encoding="utf-8")
    info = (bag / "bag-info.txt").read_text(encoding="utf-8")
    assert "Access-Status: " + {"embargoed": "embargoed until 2099-01-01"}.get(status, status) + "\n" in info
    assert "Licence: CC-BY-4.0 https://creativecommons.org/licenses/by/4.0/\n" in info
    # A valid bag, for us and for bagit-python; PREMIS rights valid against the XSD.
    assert _ok(oais("bag", "validate", bag)).stdout.startswith("VALID")
    bagit.Bag(str(bag)).validate()
    _check_premis(bag, aip_id, metadata)
    _ok(oais("storage", "verify", aip_id))


def test_an_aip_without_metadata_is_open_and_keeps_todays_layout(oais: Oais, sample_sip: Path) -> None:
    result = _ok(oais.ingest(sample_sip))

    bag = Path(result["bag_path"])
    assert not (bag / "data" / "metadata" / "descriptive.json").exists()
    shown = _ok(oais("show", result["aip_id"], "--json"))
    assert shown["aip"]["metadata"] is None and shown["access"]["status"] == "open"
    assert "  access:    open\n" in _ok(oais("show", result["aip_id"])).stdout
    root = etree.parse(str(bag / "data" / "metadata" / "premis.xml")).getroot()
    assert root.find(f"{P}rights") is None


def _refused(oais: Oais, sip: Path, *extra: str) -> list[dict[str, str]]:
    """Run a refused ingest; check nothing was stored or left behind; return its issues."""
    store_before = tree_snapshot(oais.store) if oais.store.exists() else {}
    run = oais.ingest(sip, *extra)
    assert run.code == 1, run.stdout + run.stderr
    assert run.json["accepted"] is False
    assert oais.published() == [] and oais.staging_left() == []
    assert (tree_snapshot(oais.store) if oais.store.exists() else {}) == store_before
    # The catalog holds no AIP; the refusal is recorded with its reasons, as any refused SIP is.
    [recorded] = _ok(oais("rejections", "--json"))["rejections"]
    assert recorded["issues"] == [{k: i[k] for k in ("code", "path", "message")} for i in run.json["issues"]]
    issues: list[dict[str, str]] = run.json["issues"]
    return issues


def test_a_metadata_file_that_is_not_json_is_rejected_naming_it(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    path = _write(tmp_path, '{"title": "OMEGA cubes", "access": {"status": "open"}')

    issues = _refused(oais, sample_sip, "--metadata", str(path))

    assert [(i["code"], i["path"]) for i in issues] == [("META-E001", str(path))]
    assert issues[0]["message"].startswith("not valid JSON: ")


def test_a_metadata_file_with_several_problems_is_rejected_with_every_one(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    metadata = _sample(access={"status": "embargoed"}, colour="blue")
    metadata["creators"][0]["orcid"] = "0000-0002-1825-0098"
    path = _write(tmp_path, metadata)

    issues = _refused(oais, sample_sip, "--metadata", str(path))

    assert {(i["code"], i["path"], i["severity"]) for i in issues} == {("META-E002", str(path), "error")}
    assert sorted(i["message"] for i in issues) == [
        "access: an embargoed AIP needs embargo_until (the date the embargo ends: the first day it is open)",
        "colour: unknown field (the fields are listed in schemas/descriptive-metadata.schema.json)",
        "creators[0].orcid: ORCID iD 0000-0002-1825-0098 has a wrong check digit: the last character "
        "should be 7",
    ]
    # Without --json, the person at the terminal sees the file and every problem too.
    plain = oais("ingest", sample_sip, "--producer", "IAS / OMEGA team", "--metadata", path)
    assert plain.code == 1
    assert "REJECTED: " in plain.stderr and "(3 problems)" in plain.stderr
    assert f"error META-E002 {path}: colour: unknown field" in plain.stderr


@pytest.mark.parametrize("problem", ["embargo-without-date", "unknown-field"])
def test_each_invalid_metadata_file_is_rejected_with_its_code(
    oais: Oais, sample_sip: Path, tmp_path: Path, problem: str
) -> None:
    change = {
        "embargo-without-date": {"access": {"status": "embargoed", "note": "PI"}},
        "unknown-field": {"licence_url": "https://creativecommons.org/licenses/by/4.0/"},
    }[problem]
    path = _write(tmp_path, _sample(**change), f"{problem}.json")

    issues = _refused(oais, sample_sip, "--metadata", str(path))

    assert [(i["code"], i["path"]) for i in issues] == [("META-E002", str(path))]
    field = {"embargo-without-date": "access: ", "unknown-field": "licence_url: unknown field"}[problem]
    assert issues[0]["message"].startswith(field)


def test_a_title_that_differs_from_the_metadata_file_is_rejected(oais: Oais, sample_sip: Path) -> None:
    issues = _refused(oais, sample_sip, "--metadata", str(SAMPLE_METADATA), "--title", "Another title")

    assert issues == [
        {
            "code": "SIP-E008",
            "path": str(SAMPLE_METADATA),
            "severity": "error",
            "message": "--title 'Another title' differs from the title 'OMEGA cubes, orbit 0042' of the "
            "descriptive metadata: give the title once, or the same in both",
        }
    ]


def test_without_title_or_metadata_the_request_is_incomplete(oais: Oais, sample_sip: Path) -> None:
    run = oais("ingest", sample_sip, "--producer", "IAS / OMEGA team", "--json")

    assert run.code == 1
    assert [i["message"] for i in run.json["issues"]] == [
        "the AIP needs a title (--title, or a title in --metadata FILE)"
    ]
    assert oais.published() == []


def test_a_catalog_rebuilt_from_storage_has_the_metadata_back(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    metadata = _sample(access=ACCESS["embargoed"])
    aip_id = _ok(oais.ingest(sample_sip, "--metadata", str(_write(tmp_path, metadata))))["aip_id"]
    before = _ok(oais("show", aip_id, "--json"))
    for database in oais.home.glob("catalog.sqlite*"):
        database.unlink()

    _ok(oais("catalog", "rebuild", "--from", "local"))

    after = _ok(oais("show", aip_id, "--json"))
    assert after["aip"] == before["aip"] and after["access"] == before["access"]


@pytest.mark.slow
def test_a_migrated_version_carries_the_metadata_and_rights(oais: Oais, tmp_path: Path) -> None:
    metadata = _sample(title="Orbit 0042 plates and notes", access=ACCESS["restricted"])
    sip = make_sip(tmp_path / "sip")
    aip_id = _ok(oais.ingest(sip, "--metadata", str(_write(tmp_path, metadata))))["aip_id"]
    plan = tmp_path / "plan.json"
    _ok(oais("plan", "migrations", "--out", plan, "--json"))

    applied = _ok(oais("migrate", "apply", plan, "--json"))

    assert applied["aips"][0]["version"] == 2
    v1, v2 = (oais.store / "aips" / aip_id / f"v{n}" for n in (1, 2))
    descriptive = "data/metadata/descriptive.json"
    # Version 2 carries the metadata itself (not through fetch.txt): a bag describes itself.
    assert (v2 / descriptive).read_bytes() == (v1 / descriptive).read_bytes()
    assert descriptive not in (v2 / "fetch.txt").read_text(encoding="utf-8")
    assert "Access-Status: restricted\n" in (v2 / "bag-info.txt").read_text(encoding="utf-8")
    _check_premis(v2, aip_id, metadata)
    shown = _ok(oais("show", aip_id, "--json"))
    assert shown["version"]["version"] == 2 and shown["access"]["status"] == "restricted"
    assert shown["aip"]["metadata"]["title"] == "Orbit 0042 plates and notes"
    export = tmp_path / "v2-export"
    _ok(oais("export", aip_id, export))
    bagit.Bag(str(export)).validate()
    assert json.loads((export / descriptive).read_text(encoding="utf-8"))["access"] == ACCESS["restricted"]


@pytest.mark.s3
def test_on_ceph_rgw_every_location_holds_the_metadata_and_a_rebuild_reads_it_back(
    s3: S3Service, sample_sip: Path, tmp_path: Path
) -> None:
    archive = s3_archive(s3, tmp_path)
    oais = archive.oais
    metadata = _sample(access=ACCESS["embargoed"])
    aip_id = _ok(oais.ingest(sample_sip, "--metadata", str(_write(tmp_path, metadata))))["aip_id"]
    key = f"archive/aips/{aip_id}/v1/data/metadata/descriptive.json"
    client = s3.client()
    stored = [
        client.get_object(Bucket=archive.buckets[location], Key=key)["Body"].read()
        for location in ("ceph-a", "ceph-b")
    ]
    assert stored[0] == stored[1] and _given(json.loads(stored[0])) == metadata
    before = _ok(oais("show", aip_id, "--json"))
    for database in oais.home.glob("catalog.sqlite*"):
        database.unlink()

    _ok(oais("catalog", "rebuild", "--from", "ceph-b"))

    after = _ok(oais("show", aip_id, "--json"))
    assert after["aip"] == before["aip"] and after["access"]["embargo_until"] == "2099-01-01"
