"""DIPs end to end: ``oais dip`` on the sample SIP and on migrated AIPs, for people (original files,
access derivatives) and for portals (the EPN-TAP table, loaded into PostgreSQL), on the local default
and on Ceph RGW; and every bad request refused with nothing written."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import bagit
import psycopg
import pytest
from astropy.io.votable import parse_single_table
from lxml import etree
from PIL import Image

from oais.adapters.epntap import EpnTapTableWriter
from tests.conftest import S3Service
from tests.e2e.conftest import REPO, SAMPLE_SIP, Oais
from tests.e2e.test_migration import make_sip
from tests.e2e.test_s3_storage import _archive as s3_archive

pytestmark = [pytest.mark.slow]

SAMPLE_METADATA = REPO / "examples" / "omega-orbit-0042.metadata.json"
PREMIS_NS = {"premis": "http://www.loc.gov/premis/v3"}
DC = "{http://purl.org/dc/elements/1.1/}"


def _ok(run: Any) -> Any:
    assert run.code == 0, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return run.json if run.stdout.startswith("{") else run


def _ingest_sample(oais: Oais, sip: Path) -> str:
    return str(_ok(oais.ingest(sip, "--metadata", str(SAMPLE_METADATA)))["aip_id"])


def _sip_files(sip: Path) -> dict[str, bytes]:
    return {p.relative_to(sip).as_posix(): p.read_bytes() for p in sip.rglob("*") if p.is_file()}


def _bag_files(bag: Path) -> dict[str, bytes]:
    data = bag / "data"
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*") if p.is_file()}


def _disseminations(oais: Oais, aip: str) -> list[dict[str, Any]]:
    shown = _ok(oais("show", aip, "--json"))
    return [e for e in shown["events"] if e["type"] == "dissemination"]


def _premis_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(REPO / "schemas" / "premis-3.0.xsd")))


def _check_dip_metadata(bag: Path, aip: str, version: int) -> None:
    meta = bag / "metadata"
    dc = etree.parse(str(meta / "dublin-core.xml")).getroot()
    assert dc.findtext(f"{DC}title") == "OMEGA cubes, orbit 0042"
    assert f"{aip}/v{version}" in [e.text for e in dc.iter(f"{DC}identifier")]
    assert any(
        "CC-BY-4.0" in (e.text or "") or "Creative Commons" in (e.text or "") for e in dc.iter(f"{DC}rights")
    )
    datacite = json.loads((meta / "datacite.json").read_text(encoding="utf-8"))
    # The properties DataCite requires to register a DOI.
    for key in ("titles", "creators", "publisher", "publicationYear", "types"):
        assert datacite[key], key
    assert datacite["types"]["resourceTypeGeneral"] == "Dataset"
    assert datacite["rightsList"][0]["rightsIdentifier"] == "CC-BY-4.0"
    assert "doi" not in datacite, "no DOI is invented"
    premis = etree.parse(str(meta / "premis.xml"))
    schema = _premis_schema()
    assert schema.validate(premis), schema.error_log
    types = premis.xpath("//premis:event/premis:eventType/text()", namespaces=PREMIS_NS)
    assert "ingestion" in types and types[-1] == "dissemination"
    text = (bag / "README.txt").read_text(encoding="utf-8")
    assert aip in text and f"version {version}" in text


def _logged_events(oais: Oais) -> int:
    """How many events the local location's event log holds, its chain checked whole."""
    verified = _ok(oais("events", "verify", "--json"))
    assert verified["ok"], verified
    return int(verified["locations"]["local"]["events"])


def test_dips_of_the_sample_for_people_and_for_portals(oais: Oais, sample_sip: Path, tmp_path: Path) -> None:
    aip = _ingest_sample(oais, sample_sip)
    logged = _logged_events(oais)

    # Original files, to a folder: a valid bag holding exactly the SIP's files, byte for byte.
    folder = tmp_path / "dip-original"
    made = _ok(oais("dip", aip, "--purpose", "original", "--out", folder, "--json"))
    assert made["files"] and made["destination"] == str(folder)
    bag = bagit.Bag(str(folder))
    bag.validate()
    assert sorted(bag.algorithms) == ["sha256", "sha512"]
    assert _bag_files(folder) == _sip_files(SAMPLE_SIP)
    _check_dip_metadata(folder, aip, 1)

    # Access copies of the cubes, to a zip: PNG previews made by the access rule, nothing else.
    zipped = tmp_path / "cubes.zip"
    made = _ok(oais("dip", aip, "--files", "cubes/**", "--out", zipped, "--json"))
    assert sorted(f["path"] for f in made["files"]) == [
        "cubes/ORB0042_1.png",
        "cubes/ORB0042_2.png",
        "cubes/calibration/dark_current.png",
    ]
    assert {f["derivative_of"] for f in made["files"]} == {"fits-preview"}
    with zipfile.ZipFile(zipped) as z:
        assert all(n.startswith("cubes/") for n in z.namelist())
        z.extractall(tmp_path / "unzipped")
    bag = bagit.Bag(str(tmp_path / "unzipped" / "cubes"))
    bag.validate()
    for f in made["files"]:
        with Image.open(tmp_path / "unzipped" / "cubes" / "data" / f["path"]) as im:
            assert im.format == "PNG" and im.width > 1 and im.height > 1
        assert f["mime_type"] == "image/png"

    # For a portal: the EPN-TAP table, in a tar, with access URLs under the portal's base URL.
    tarred = tmp_path / "portal.tar"
    base = "https://archive.example.org/dips/omega-0042"
    made = _ok(
        oais(
            "dip",
            aip,
            "--purpose",
            "original",
            "--portal",
            "epntap",
            "--base-url",
            base,
            "--out",
            tarred,
            "--json",
        )
    )
    assert made["notes"] == [
        "EPN-TAP: not data products, not in the table: README.txt, documents/OMEGA_EAICD.pdf, "
        "documents/étalonnage spectral – notes.txt"
    ]
    with tarfile.open(tarred) as t:
        t.extractall(tmp_path / "untarred", filter="data")
    bag = bagit.Bag(str(tmp_path / "untarred" / "portal"))
    bag.validate()
    meta = tmp_path / "untarred" / "portal" / "metadata"
    rows = list(csv.DictReader(io.StringIO((meta / "epntap.csv").read_text(encoding="utf-8"))))
    names = {Path(f["path"]).name for f in made["files"]}
    assert rows and {r["file_name"] for r in rows} <= names
    assert len({r["granule_uid"] for r in rows}) == len(rows)
    fits_rows = [r for r in rows if r["file_name"].endswith(".fits")]
    assert len(fits_rows) == 3
    for r in fits_rows:
        assert r["access_url"].startswith(base + "/data/cubes/")
        assert r["service_title"] and r["granule_uid"] and r["target_name"] == "Mars"
    table = parse_single_table(str(meta / "epntap.xml")).to_table()
    assert sorted(table["granule_uid"]) == sorted(r["granule_uid"] for r in rows)

    # Every DIP is a dissemination event, in the catalog and in each location's event log.
    events = _disseminations(oais, aip)
    assert len(events) == 3
    assert all(e["outcome"] == "success" for e in events)
    assert any(str(zipped) in e["detail"] for e in events)
    assert _logged_events(oais) == logged + 3


@pytest.mark.postgres
def test_the_epntap_table_loads_into_postgresql_and_answers_queries(
    oais: Oais, sample_sip: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    aip = _ingest_sample(oais, sample_sip)
    dip = tmp_path / "portal"
    _ok(oais("dip", aip, "--purpose", "original", "--portal", "epntap", "--out", dip))
    table_csv = (dip / "metadata" / "epntap.csv").read_text(encoding="utf-8")
    url = fresh_postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute(EpnTapTableWriter().create_table_sql("epn_core"))
        with conn.cursor().copy("COPY epn_core FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            copy.write(table_csv)
        cubes = conn.execute(
            "SELECT granule_uid, time_min, time_max, instrument_name FROM epn_core "
            "WHERE target_name = 'Mars' AND file_name LIKE 'ORB0042%.fits' ORDER BY granule_uid"
        ).fetchall()
        assert [c[0].rsplit("/", 1)[1] for c in cubes] == ["ORB0042_1.fits", "ORB0042_2.fits"]
        for _uid, tmin, _tmax, instrument in cubes:
            assert instrument == "OMEGA"
            assert tmin == pytest.approx(2453023.0)  # DATE-OBS 2004-01-18T12:00:00 UTC, in Julian days
        (total,) = conn.execute("SELECT count(*) FROM epn_core").fetchone() or (0,)
        assert total == len(list(csv.DictReader(io.StringIO(table_csv))))
        # Unknown values stay empty: nothing here says where the spacecraft looked from.
        (nulls,) = conn.execute("SELECT count(*) FROM epn_core WHERE incidence_min IS NULL").fetchone() or (
            0,
        )
        assert nulls == total


def _embargoed_metadata(tmp_path: Path, status: str = "embargoed") -> Path:
    access: dict[str, Any] = {"status": status, "note": "PI proprietary period"}
    if status == "embargoed":
        access["embargo_until"] = "2099-01-01"
    path = tmp_path / f"{status}.json"
    path.write_text(json.dumps({"title": "Proprietary cubes", "access": access}), encoding="utf-8")
    return path


def _nothing_written(parent: Path, *names: str) -> None:
    left = sorted(p.name for p in parent.iterdir())
    for name in names:
        assert name not in left
    assert [n for n in left if ".partial-" in n or ".probe-" in n] == []


def test_bad_requests_are_refused_with_nothing_written(oais: Oais, sample_sip: Path, tmp_path: Path) -> None:
    aip = _ingest_sample(oais, sample_sip)
    out = tmp_path / "out"
    out.mkdir()

    unknown = oais("dip", "no-such-aip", "--out", out / "a")
    assert unknown.code == 3 and "AIP no-such-aip is not in the catalog" in unknown.stderr
    version = oais("dip", aip, "--version", "9", "--out", out / "b")
    assert version.code == 3 and f"AIP {aip} has no version 9 (its versions are 1 to 1)" in version.stderr
    nothing = oais("dip", aip, "--files", "*.hdf5", "--out", out / "c.zip")
    assert nothing.code == 3 and "no file matches '*.hdf5'" in nothing.stderr
    assert "cubes/ORB0042_1.fits" in nothing.stderr, "the message shows what the version holds"

    (out / "taken").mkdir()
    taken = oais("dip", aip, "--out", out / "taken")
    assert taken.code == 4 and "already exists" in taken.stderr

    locked = out / "locked"
    locked.mkdir()
    # Permission bits do not stop root: an immutable folder does.
    subprocess.run(["chattr", "+i", str(locked)], check=True)
    try:
        denied = oais("dip", aip, "--out", locked / "dip.zip")
        assert denied.code == 5, denied.stderr
        assert f"{locked / 'dip.zip'}: cannot write: Operation not permitted" in denied.stderr
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    (out / "file").write_text("x")
    not_dir = oais("dip", aip, "--out", out / "file" / "dip")
    assert not_dir.code == 5 and "is not a directory" in not_dir.stderr

    _nothing_written(out, "a", "b", "c.zip")
    assert sorted(p.name for p in (out / "taken").iterdir()) == []
    assert _disseminations(oais, aip) == []


def test_embargoed_and_restricted_aips_need_an_authorised_override(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    embargoed = str(_ok(oais.ingest(sample_sip, "--metadata", str(_embargoed_metadata(tmp_path))))["aip_id"])
    out = tmp_path / "out"
    out.mkdir()
    refused = oais("dip", embargoed, "--out", out / "dip.zip")
    assert refused.code == 10
    assert f"AIP {embargoed}: under embargo until 2099-01-01 (PI proprietary period)" in refused.stderr
    assert "authorised override" in refused.stderr
    _nothing_written(out, "dip.zip")
    assert _disseminations(oais, embargoed) == []

    made = _ok(
        oais(
            "dip",
            embargoed,
            "--out",
            out / "dip.zip",
            "--override-reason",
            "CoI review",
            "--by",
            "Jane Curator",
            "--json",
        )
    )
    assert made["override"] == {"by": "Jane Curator", "reason": "CoI review"}
    (event,) = _disseminations(oais, embargoed)
    assert "overridden by Jane Curator, reason: CoI review" in event["outcome_detail"]
    assert {"agent": "person:Jane Curator", "role": "authorizer"} in event["agents"]

    restricted_sip = tmp_path / "restricted"
    restricted_sip.mkdir()
    (restricted_sip / "log.txt").write_text("restricted log\n")
    restricted = str(
        _ok(oais.ingest(restricted_sip, "--metadata", str(_embargoed_metadata(tmp_path, "restricted"))))[
            "aip_id"
        ]
    )
    refused = oais("dip", restricted, "--out", out / "r")
    assert refused.code == 10 and "access is restricted (PI proprietary period)" in refused.stderr
    _nothing_written(out, "r")


def test_access_dips_of_a_migrated_aip_carry_the_preservation_copies(oais: Oais, tmp_path: Path) -> None:
    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    plan = tmp_path / "plan.json"
    _ok(oais("plan", "migrations", "--out", plan, "--json"))
    _ok(oais("migrate", "apply", plan, "--json"))

    access = _ok(oais("dip", aip, "--out", tmp_path / "access", "--json"))
    paths = sorted(f["path"] for f in access["files"])
    assert "logo.png" in paths and "logo.gif" not in paths, "the migrated copy stands for the original"
    assert "notes.pdf" in paths and "notes.ps" not in paths
    bagit.Bag(str(tmp_path / "access")).validate()

    original = _ok(oais("dip", aip, "--purpose", "original", "--out", tmp_path / "original", "--json"))
    paths = sorted(f["path"] for f in original["files"])
    assert "logo.gif" in paths and "logo.png" not in paths, "originals only"

    first = _ok(oais("dip", aip, "--version", "1", "--files", "logo.*", "--out", tmp_path / "v1", "--json"))
    assert [f["path"] for f in first["files"]] == ["logo.gif"]
    digest = hashlib.sha256((tmp_path / "sip" / "logo.gif").read_bytes()).hexdigest()
    assert first["files"][0]["sha256"] == digest


@pytest.mark.s3
def test_dips_on_ceph_rgw_read_from_the_locations_and_write_to_a_portal_bucket(
    s3: S3Service, tmp_path: Path, sample_sip: Path
) -> None:
    archive = s3_archive(s3, tmp_path)
    oais = archive.oais
    portal = s3.new_bucket()
    with archive.config.open("a", encoding="utf-8") as f:
        f.write(f'[dip_targets.portal]\nkind = "s3"\nendpoint = "{s3.endpoint}"\nbucket = "{portal}"\n')
    oais.env["OAIS_LOCATION_PORTAL_ACCESS_KEY_ID"] = s3.access_key
    oais.env["OAIS_LOCATION_PORTAL_SECRET_ACCESS_KEY"] = s3.secret_key

    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    plan = tmp_path / "plan.json"
    _ok(oais("plan", "migrations", "--out", plan, "--json"))
    _ok(oais("migrate", "apply", plan, "--json"))

    dest = f"s3://{portal}/dips/{aip}"
    made = _ok(oais("dip", aip, "--portal", "epntap", "--out", dest, "--json"))
    client = s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=portal, Prefix="dips/")["Contents"]]
    local = tmp_path / "downloaded"
    for key in keys:
        target = local / key[len(f"dips/{aip}/") :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(client.get_object(Bucket=portal, Key=key)["Body"].read())
    bagit.Bag(str(local)).validate()
    assert sorted(
        p.relative_to(local / "data").as_posix() for p in (local / "data").rglob("*") if p.is_file()
    ) == (sorted(f["path"] for f in made["files"]))
    assert (local / "metadata" / "epntap.csv").exists()

    # Each purpose, and the sample SIP too, read from the locations on RGW.
    original = _ok(oais("dip", aip, "--purpose", "original", "--out", tmp_path / "original.zip", "--json"))
    assert "logo.gif" in {f["path"] for f in original["files"]}
    assert "logo.png" not in {f["path"] for f in original["files"]}
    with zipfile.ZipFile(tmp_path / "original.zip") as z:
        z.extractall(tmp_path / "original")
    bagit.Bag(str(tmp_path / "original" / "original")).validate()
    sample = _ingest_sample(oais, sample_sip)
    folder = tmp_path / "sample-original"
    _ok(oais("dip", sample, "--purpose", "original", "--out", folder))
    bagit.Bag(str(folder)).validate()
    assert _bag_files(folder) == _sip_files(SAMPLE_SIP)
    _check_dip_metadata(folder, sample, 1)

    again = oais("dip", aip, "--out", dest)
    assert again.code == 4 and "already holds objects" in again.stderr
    unconfigured = oais("dip", aip, "--out", "s3://no-such-target/x")
    assert (
        unconfigured.code == 7
        and "no DIP target is configured for bucket 'no-such-target'" in unconfigured.stderr
    )
    assert len(_disseminations(oais, aip)) == 2
