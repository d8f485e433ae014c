"""The archivist's view: `oais ingest`, `oais show`, `oais rejections` on real SIPs."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from lxml import etree

from tests.e2e.conftest import REPO, Oais

FITS_PUID = "x-fmt/383"


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_sample_sip_becomes_a_valid_aip(
    oais: Oais, sample_sip: Path, unchanged: Callable[[Path], None]
) -> None:
    unchanged(sample_sip)
    run = oais.ingest(sample_sip)
    assert run.code == 0, run.stderr
    result = run.json
    assert result["accepted"] is True and result["version"] == 1 and result["status"] == "stored"
    originals = _files(sample_sip)
    assert result["files"] == len(originals) == 8
    assert result["bytes"] == sum(len(b) for b in originals.values())
    bag = Path(result["bag_path"])
    assert bag.parent.name == result["aip_id"] and bag.name == "v1"

    # Payload under data/objects/ with the original paths, byte for byte.
    assert _files(bag / "data" / "objects") == originals
    # A BagIt 1.0 bag that both our validator and bagit-python accept.
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    assert oais("bag", "validate", bag).code == 0
    bagit.Bag(str(bag)).validate()
    info = (bag / "bag-info.txt").read_text()
    assert "Payload-Oxum: " in info and "External-Identifier: " + result["aip_id"] in info
    # premis.xml is valid PREMIS 3.0 against the shipped XSD, offline.
    schema = etree.XMLSchema(etree.parse(str(REPO / "schemas" / "premis-3.0.xsd")))
    doc = etree.parse(str(bag / "data" / "metadata" / "premis.xml"))
    assert schema.validate(doc), schema.error_log
    ns = {"p": "http://www.loc.gov/premis/v3"}
    event_types = {e.text for e in doc.findall(".//p:event/p:eventType", ns)}
    assert {
        "ingestion",
        "message digest calculation",
        "format identification",
        "validation",
        "accession",
    } <= event_types
    names = {e.text for e in doc.findall(".//p:originalName", ns)}
    assert "documents/étalonnage spectral – notes.txt" in names
    assert oais.staging_left() == []


def test_show_lists_files_formats_digests_and_events(oais: Oais, sample_sip: Path) -> None:
    aip_id = oais.ingest(sample_sip).json["aip_id"]
    shown = oais("show", aip_id)
    assert shown.code == 0, shown.stderr
    fits_sha = hashlib.sha256((sample_sip / "cubes" / "ORB0042_1.fits").read_bytes()).hexdigest()
    line = next(li for li in shown.stdout.splitlines() if "cubes/ORB0042_1.fits" in li)
    assert FITS_PUID in line and "application/fits" in line and fits_sha in line
    assert "fmt/11" in shown.stdout and "application/pdf" in shown.stdout
    for event in (
        "ingestion",
        "message digest calculation",
        "format identification",
        "validation",
        "accession",
    ):
        assert f"{event}: success" in shown.stdout
    assert "IAS / OMEGA team" in shown.stdout and "software:oais/" in shown.stdout

    record = oais("show", aip_id, "--json").json
    by_path = {f["path"]: f for f in record["files"]}
    assert by_path["cubes/ORB0042_1.fits"]["digests"]["sha256"] == fits_sha
    assert len(by_path["cubes/ORB0042_1.fits"]["digests"]["xxh3_128"]) == 32
    assert by_path["quicklook/ORB0042_1.png"]["format"]["puid"] == "fmt/11"
    assert by_path["quicklook/ORB0042_1.png"]["format"]["mime_type"] == "image/png"


def test_show_of_an_unknown_aip_says_so(oais: Oais, sample_sip: Path) -> None:
    oais.ingest(sample_sip)
    run = oais("show", "no-such-aip")
    assert run.code == 3 and "no-such-aip" in run.stderr


def test_the_same_sip_twice_is_stored_once(oais: Oais, sample_sip: Path) -> None:
    first = oais.ingest(sample_sip).json
    second = oais.ingest(sample_sip, title="again").json
    assert second["status"] == "already-held"
    assert second["aip_id"] == first["aip_id"] and second["bag_path"] == first["bag_path"]
    assert len(oais.published()) == 1 and oais.staging_left() == []


def _archive(sip: Path, dest: Path, kind: str) -> Path:
    if kind == "zip":
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(sip.rglob("*")):
                z.write(p, p.relative_to(sip).as_posix())
    else:
        mode = "w:gz" if kind == "tar.gz" else "w"
        with tarfile.open(dest, mode) as t:
            for p in sorted(sip.iterdir()):
                t.add(p, p.name)
    return dest


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_archived_sips_are_ingested_like_folders(
    oais: Oais, sample_sip: Path, tmp_path: Path, kind: str, unchanged: Callable[[Path], None]
) -> None:
    archive = _archive(sample_sip, tmp_path / f"sip.{kind}", kind)
    unchanged(archive)
    run = oais.ingest(archive)
    assert run.code == 0, run.stdout + run.stderr
    assert _files(Path(run.json["bag_path"]) / "data" / "objects") == _files(sample_sip)
    # The same content as the folder: the folder's ingest finds it already held.
    assert oais.ingest(sample_sip).json["status"] == "already-held"


@pytest.mark.parametrize("kind", ["dir", "zip", "tar.gz"])
def test_a_submitted_bag_is_validated_and_its_payload_kept(
    oais: Oais, sample_sip: Path, tmp_path: Path, kind: str
) -> None:
    bag_dir = tmp_path / "bag"
    shutil.copytree(sample_sip, bag_dir)
    bagit.make_bag(str(bag_dir), {"Source-Organization": "IAS"}, checksums=["sha256", "sha512"])
    os.chdir(REPO)  # make_bag changes the working directory
    sip = bag_dir if kind == "dir" else _archive(bag_dir, tmp_path / f"bag.{kind}", kind)
    run = oais.ingest(sip)
    assert run.code == 0, run.stdout + run.stderr
    stored = Path(run.json["bag_path"]) / "data"
    assert _files(stored / "objects") == _files(bag_dir / "data")
    kept = _files(stored / "metadata" / "submission")
    assert "bag-info.txt" in kept and "manifest-sha512.txt" in kept
    assert b"Source-Organization: IAS" in kept["bag-info.txt"]


def test_a_bag_with_a_bad_checksum_is_rejected_with_every_problem(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    bag_dir = tmp_path / "bag"
    shutil.copytree(sample_sip, bag_dir)
    bagit.make_bag(str(bag_dir), checksums=["sha256"])
    os.chdir(REPO)
    (bag_dir / "data" / "README.txt").write_bytes(b"tampered\n")  # same size class, new bytes
    (bag_dir / "data" / "housekeeping" / "temperatures.csv").unlink()
    run = oais.ingest(bag_dir)
    assert run.code == 1
    issues = run.json["issues"]
    codes = {(i["code"], i["path"].split("/")[-1]) for i in issues}
    assert ("BAG-E008", "README.txt") in codes or any(i["code"] == "BAG-E009" for i in issues)
    assert any(i["code"] == "BAG-E006" and "temperatures.csv" in i["path"] for i in issues)
    assert oais.published() == [] and oais.staging_left() == []


def test_an_invalid_fits_file_is_rejected(oais: Oais, sample_sip: Path) -> None:
    broken = sample_sip / "cubes" / "ORB0042_1.fits"
    data = bytearray(broken.read_bytes())
    data[80 : 80 + 30] = b"BITPIX  =                   13"  # not a legal BITPIX
    broken.write_bytes(bytes(data))
    run = oais.ingest(sample_sip)
    assert run.code == 1
    fits = [i for i in run.json["issues"] if i["code"] == "FMT-E001"]
    assert fits and fits[0]["path"].endswith("ORB0042_1.fits") and "BITPIX" in fits[0]["message"]
    assert oais.published() == []


def test_rejections_are_recorded_with_every_reason(oais: Oais, tmp_path: Path) -> None:
    empty = tmp_path / "empty-sip"
    empty.mkdir()
    run = oais.ingest(empty)
    assert run.code == 1 and run.json["issues"][0]["code"] == "SIP-E007"
    recorded = oais("rejections", "--json").json["rejections"]
    assert len(recorded) == 1
    assert recorded[0]["sip_path"] == str(empty) and recorded[0]["issues"][0]["code"] == "SIP-E007"
    assert recorded[0]["producer"] == "IAS / OMEGA team"


def test_a_missing_sip_is_rejected_naming_it(oais: Oais, tmp_path: Path) -> None:
    run = oais.ingest(tmp_path / "nowhere")
    assert run.code == 1
    assert (
        run.json["issues"][0]["code"] == "SIP-E008"
        and "nowhere" in run.json["issues"][0]["path"] + run.json["issues"][0]["message"]
    )


def test_an_id_given_twice_for_other_content_is_refused(oais: Oais, sample_sip: Path, tmp_path: Path) -> None:
    assert oais.ingest(sample_sip, "--id", "omega-0042").json["aip_id"] == "omega-0042"
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.txt").write_text("other content\n")
    run = oais.ingest(other, "--id", "omega-0042")
    assert run.code == 1 and run.json["issues"][0]["code"] == "AIP-E001"
    again = oais.ingest(sample_sip, "--id", "omega-0043")
    assert again.code == 1 and again.json["issues"][0]["code"] == "AIP-E002"
    assert "omega-0042" in again.json["issues"][0]["message"]
    assert len(oais.published()) == 1


def test_a_bad_id_is_refused_before_anything_is_read(oais: Oais, sample_sip: Path) -> None:
    run = oais.ingest(sample_sip, "--id", "../escape")
    assert run.code == 1 and "../escape" in run.json["issues"][0]["message"]


def test_human_output_says_accepted_or_rejected(oais: Oais, sample_sip: Path, tmp_path: Path) -> None:
    ok = oais("ingest", sample_sip, "--producer", "IAS", "--title", "t")
    assert ok.code == 0 and ok.stdout.startswith("ACCEPTED: AIP ")
    empty = tmp_path / "e"
    empty.mkdir()
    bad = oais("ingest", empty, "--producer", "IAS", "--title", "t")
    assert bad.code == 1 and "REJECTED" in bad.stderr and "SIP-E007" in bad.stderr


def test_usage_errors_exit_2(oais: Oais, sample_sip: Path) -> None:
    assert oais("ingest", sample_sip).code == 2  # --producer and --title are required
