"""Format migration end to end, with the real tools: ingest, ``oais plan migrations``, review,
``oais migrate apply``, and a second AIP version that proves itself.

The SIPs are made here: bitmaps and GIFs with Pillow, PostScript by hand, TIFF with Pillow, FITS with
astropy. Bad plans and failing tools must leave the archive exactly as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import bagit
import numpy as np
import pytest
from astropy.io import fits
from lxml import etree
from PIL import Image

from tests.conftest import S3Service
from tests.e2e.conftest import REPO, Oais, tree_snapshot
from tests.e2e.test_s3_storage import _archive as s3_archive
from tests.support.processes import wait_gone

pytestmark = [pytest.mark.slow]

PREMIS_NS = {"premis": "http://www.loc.gov/premis/v3"}

POSTSCRIPT = b"""%!PS-Adobe-3.0
%%Pages: 2
%%EndComments
%%Page: 1 1
/Helvetica findfont 24 scalefont setfont
72 700 moveto (OMEGA orbit 0042: observation log) show
showpage
%%Page: 2 2
/Helvetica findfont 24 scalefont setfont
72 700 moveto (Page two: calibration notes) show
showpage
%%EOF
"""


def make_sip(root: Path) -> Path:
    """A SIP with two bitmaps, a GIF with transparency, a PostScript document (all at risk), and a
    TIFF, a FITS image and a text file (preferred: left alone)."""
    root.mkdir(parents=True)
    (root / "plates").mkdir()
    gradient = Image.linear_gradient("L").resize((64, 48))
    rgb = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient))
    rgb.save(root / "plates" / "plate-1.bmp")
    rgb.quantize(16).save(root / "plates" / "plate-2.bmp")  # 8-bit palette
    logo = rgb.quantize(8)
    logo.info["transparency"] = 0
    logo.save(root / "logo.gif", transparency=0)
    (root / "notes.ps").write_bytes(POSTSCRIPT)
    rgb.save(root / "plates" / "plate-3.tif")
    data = np.arange(48 * 64, dtype=np.float32).reshape(48, 64)
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = "Mars"
    hdu.header["DATE-OBS"] = "2004-01-18T10:00:00"
    hdu.writeto(root / "cube.fits")
    (root / "README.txt").write_text("Orbit 0042 plates and notes.\n", encoding="utf-8")
    return root


def _ok(run: Any) -> Any:
    assert run.code == 0, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return run.json if run.stdout.startswith("{") else run


def _size(n: int) -> str:
    """Sizes as the command prints them."""
    from oais.entrypoints.cli import _size as shown

    return shown(n)


def _plan(oais: Oais, path: Path, *extra: str) -> dict[str, Any]:
    _ok(oais("plan", "migrations", "--out", path, "--json", *extra))
    plan: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return plan


def _premis(bag: Path) -> etree._Element:
    return etree.parse(str(bag / "data" / "metadata" / "premis.xml")).getroot()


def test_a_reviewed_plan_makes_a_second_version_with_the_originals_kept(oais: Oais, tmp_path: Path) -> None:
    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    v1 = oais.store / "aips" / aip / "v1"
    v1_before = tree_snapshot(v1)

    # The dry run writes nothing, neither where it runs nor in the archive, and says what would be done.
    home_before = tree_snapshot(oais.home)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    dry = _ok(oais("plan", "migrations", cwd=workdir))
    assert "formats@2: 4 files, " in dry.stdout and " to migrate" in dry.stdout
    assert "dry run: nothing written" in dry.stdout
    assert "fmt/116 Windows Bitmap 3.0: 2 files" in dry.stdout
    assert list(workdir.iterdir()) == []
    assert tree_snapshot(oais.home) == home_before

    plan_path = tmp_path / "plan.json"
    plan = _plan(oais, plan_path)
    assert plan["kind"] == "oais migration plan" and plan["policy"] == "formats@2"
    assert plan["files"] == 4 and len(plan["aips"]) == 1
    lines = {f["path"]: f for f in plan["aips"][0]["files"]}
    assert sorted(lines) == ["logo.gif", "notes.ps", "plates/plate-1.bmp", "plates/plate-2.bmp"]
    assert lines["notes.ps"]["tool"] == "ghostscript" and lines["notes.ps"]["target_puid"] == "fmt/477"
    assert lines["notes.ps"]["output"] == "notes.pdf"
    assert lines["plates/plate-1.bmp"]["output"] == "plates/plate-1.png"
    assert (
        lines["plates/plate-1.bmp"]["bytes"] == (tmp_path / "sip" / "plates" / "plate-1.bmp").stat().st_size
    )
    totals = {t["source_puid"]: t for t in plan["totals"]}
    assert totals["fmt/116"]["files"] == 2 and totals["fmt/116"]["target_puid"] == "fmt/11"
    assert sum(t["files"] for t in plan["totals"]) == 4
    # The dry run's totals, from one grouped query, are the plan's.
    for t in plan["totals"]:
        counts = f"{t['files']} files, {_size(t['bytes'])}, {t['aips']} AIPs"
        line = f"{t['source_puid']} {t['source_name']}: {counts}"
        assert line in dry.stdout, (line, dry.stdout)

    applied = _ok(oais("migrate", "apply", plan_path, "--json"))
    assert applied["failed"] == 0
    (outcome,) = applied["aips"]
    assert outcome["status"] == "migrated" and outcome["version"] == 2
    assert {f["status"] for f in outcome["files"]} == {"migrated"}
    bmp_detail = next(f["detail"] for f in outcome["files"] if f["path"] == "plates/plate-1.bmp")
    assert "pixels" in bmp_detail and "(kept)" in bmp_detail and "DIFFERS" not in bmp_detail

    # Version 1 is untouched; version 2 stores only the migrated files and reuses the rest.
    assert tree_snapshot(v1) == v1_before
    v2 = oais.store / "aips" / aip / "v2"
    stored = sorted(
        str(p.relative_to(v2 / "data" / "objects")) for p in (v2 / "data" / "objects").rglob("*.*")
    )
    assert stored == ["logo.png", "notes.pdf", "plates/plate-1.png", "plates/plate-2.png"]
    fetch = (v2 / "fetch.txt").read_text(encoding="utf-8")
    assert f"oais://{aip}/v1/data/objects/plates/plate-1.bmp " in fetch

    shown = _ok(oais("show", aip, "--json"))
    assert shown["version"]["version"] == 2
    files = {f["path"]: f for f in shown["files"]}
    assert len(files) == 11  # 7 originals, 4 migrated
    assert files["notes.pdf"]["format"]["puid"] == "fmt/477"
    assert files["notes.pdf"]["derived_from"] == "notes.ps"
    assert files["plates/plate-2.png"]["format"]["puid"] == "fmt/11"
    assert files["plates/plate-1.bmp"]["derived_from"] is None

    # The exported version 2 is a complete bag whose PNGs hold the bitmaps' pixels.
    export = tmp_path / "v2-export"
    _ok(oais("export", aip, export))
    bagit.Bag(str(export)).validate()
    for name in ("plate-1", "plate-2"):
        plates = export / "data" / "objects" / "plates"
        with Image.open(plates / f"{name}.bmp") as a, Image.open(plates / f"{name}.png") as b:
            assert a.size == b.size and a.convert("RGBA").tobytes() == b.convert("RGBA").tobytes()
    pdf = (export / "data" / "objects" / "notes.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"pdfaid:part" in pdf

    # PREMIS: one migration event per file, derivation links, the tools with their versions.
    doc = _premis(export)
    migrations = doc.xpath("//premis:event[premis:eventType='migration']", namespaces=PREMIS_NS)
    assert len(migrations) == 4
    details = [e.findtext(".//premis:eventOutcomeDetailNote", namespaces=PREMIS_NS) or "" for e in migrations]
    assert any("pages 2 (kept)" in d for d in details), details
    derivations = doc.xpath(
        "//premis:relationship[premis:relationshipType='derivation']/premis:relatedObjectIdentifier/"
        "premis:relatedObjectIdentifierValue/text()",
        namespaces=PREMIS_NS,
    )
    assert sorted(derivations) == sorted(f"data/objects/{p}" for p in lines)
    agents = doc.xpath("//premis:agent/premis:agentName/text()", namespaces=PREMIS_NS)
    assert "ghostscript" in agents and "pillow" in agents
    versions = doc.xpath("//premis:agent/premis:agentVersion/text()", namespaces=PREMIS_NS)
    assert any(re.search(r"\d+\.\d+", v) and "pillow" in v.lower() for v in versions), versions

    # The risk report counts the originals still held, but nothing is left to migrate.
    report = oais("formats", "--json")
    assert report.code == 0, report.stdout
    bitmaps = next(ln for ln in report.json["lines"] if ln["puid"] == "fmt/116")
    assert bitmaps["files"] == 2 and bitmaps["unmigrated"] == 0

    # Every copy verifies; the same plan again, and a new plan, do nothing.
    _ok(oais("storage", "verify", aip))
    again = _ok(oais("migrate", "apply", plan_path, "--json"))
    assert again["aips"][0]["status"] == "nothing to do"
    assert {f["status"] for f in again["aips"][0]["files"]} == {"already migrated"}
    assert not (oais.store / "aips" / aip / "v3").exists()
    assert _plan(oais, tmp_path / "plan-2.json")["files"] == 0


def test_an_edited_plan_with_unknown_aips_or_formats_is_refused_whole(oais: Oais, tmp_path: Path) -> None:
    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    plan = _plan(oais, tmp_path / "plan.json")
    before = tree_snapshot(oais.store)

    edited = json.loads(json.dumps(plan))
    edited["aips"].append({"aip_id": "no-such-aip", "version": 1, "files": plan["aips"][0]["files"][:1]})
    edited["aips"][0]["files"][0]["source_puid"] = "fmt/99999"
    edited["aips"][0]["files"][1]["sha256"] = "0" * 64
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited), encoding="utf-8")
    run = oais("migrate", "apply", path, "--json")
    assert run.code == 1, run.stderr
    codes = sorted(i["code"] for i in run.json["issues"])
    assert codes == ["PLAN-E003", "PLAN-E004", "PLAN-E006"]
    messages = " ".join(i["path"] + " " + i["message"] for i in run.json["issues"])
    assert "no-such-aip" in messages and "fmt/99999" in messages and str(path) in messages

    # Not JSON, and a plan missing a field: clear errors naming the file.
    path.write_text("{not json", encoding="utf-8")
    broken = oais("migrate", "apply", path)
    assert broken.code == 1
    assert f"PLAN-E001 {path}: (the document): Invalid JSON: key must be a string" in broken.stderr
    del edited["policy"]
    path.write_text(json.dumps(edited), encoding="utf-8")
    missing = oais("migrate", "apply", path, "--json")
    assert missing.code == 1
    assert [(i["code"], i["path"], i["message"]) for i in missing.json["issues"]] == [
        ("PLAN-E001", str(path), "policy: Field required")
    ]

    assert tree_snapshot(oais.store) == before
    assert _ok(oais("show", aip, "--json"))["version"]["version"] == 1


def _tool_policy(tmp_path: Path, script: str, timeout: float = 60) -> Path:
    """The shipped policy, with bitmaps migrated by a shell script standing in for a broken tool."""
    tool = tmp_path / "broken-tool"
    tool.write_text("#!/bin/sh\n" + script.replace("PIDFILE", str(tmp_path / "tool.pid")), encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    text = (REPO / "policies" / "formats.toml").read_text(encoding="utf-8")
    text = text.replace('version = "2"', 'version = "broken-tool"', 1)
    text = text.replace(
        "[tools.pillow]", f'[tools.broken]\ncommand = "{tool}"\ndebian_package = "none"\n\n[tools.pillow]'
    )
    bmp_rule = re.compile(
        r'(\[formats\."fmt/116"\.preservation\]\ntool = )"pillow"\nargs = \[[^\]]*\]'
        r"(\ntarget = \"fmt/11\"\nextension = \"png\"\nlossless = true\ntimeout_seconds = )\d+"
    )
    text, n = bmp_rule.subn(rf'\1"broken"\nargs = ["{{input}}", "{{output}}"]\g<2>{timeout}', text)
    assert n == 1
    path = tmp_path / "formats.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("script", "timeout", "reason"),
    [
        (
            'sleep 600 & echo "$$ $!" > PIDFILE.tmp && mv PIDFILE.tmp PIDFILE; wait\n',
            3,
            r"did not finish within 3",
        ),
        ('cp "$1" "$2"\n', 60, r"produced fmt/116 .*not the target fmt/11"),
        ('echo "cannot decode $1" >&2; exit 3\n', 60, r"cannot decode"),
    ],
    ids=["hangs", "wrong-format", "fails"],
)
def test_a_failing_tool_writes_nothing_for_its_aip_and_the_others_go_on(
    oais: Oais, tmp_path: Path, script: str, timeout: float, reason: str
) -> None:
    policy = _tool_policy(tmp_path, script, timeout)
    sip = make_sip(tmp_path / "sip")
    # Plans go by AIP id: the failing AIP comes first, so the other one shows that the run went on.
    bitmaps = _ok(oais.ingest(sip, "--id", "a-plates"))["aip_id"]
    gifs = tmp_path / "gifs"
    gifs.mkdir()
    shutil.copy(sip / "logo.gif", gifs / "logo.gif")
    other = _ok(oais.ingest(gifs, "--id", "b-logos", title="Logos"))["aip_id"]
    plan_path = tmp_path / "plan.json"
    _plan(oais, plan_path, "--policy", str(policy))
    untouched = tree_snapshot(oais.store / "aips" / bitmaps)

    run = oais("migrate", "apply", plan_path, "--policy", str(policy), "--json", timeout=120)
    assert run.code == 1, run.stderr
    assert [a["aip_id"] for a in run.json["aips"]] == [bitmaps, other]
    outcomes = {a["aip_id"]: a for a in run.json["aips"]}
    assert outcomes[bitmaps]["status"] == "failed" and outcomes[bitmaps]["version"] == 1
    assert re.search(reason, outcomes[bitmaps]["reason"]), outcomes[bitmaps]["reason"]
    assert "plate-1.bmp" in outcomes[bitmaps]["reason"]
    assert outcomes[other]["status"] == "migrated" and outcomes[other]["version"] == 2

    assert tree_snapshot(oais.store / "aips" / bitmaps) == untouched
    assert _ok(oais("show", bitmaps, "--json"))["version"]["version"] == 1
    assert oais.staging_left() == []
    if "PIDFILE" in script:  # the hanging tool was stopped, and what it started with it
        pid_file = tmp_path / "tool.pid"
        if not pid_file.exists():
            pytest.fail("the hanging tool never started")
        for pid in map(int, pid_file.read_text().split()):
            assert wait_gone(pid), f"process {pid} of the stopped tool is still running"


def test_a_corrupt_source_fails_its_aip_with_the_reason(oais: Oais, tmp_path: Path) -> None:
    sip = tmp_path / "sip"
    sip.mkdir()
    good = make_sip(tmp_path / "good")
    data = (good / "plates" / "plate-1.bmp").read_bytes()
    (sip / "broken.bmp").write_bytes(data[: len(data) // 3])  # the header is intact, the pixels are not
    aip = _ok(oais.ingest(sip, title="A broken scan"))["aip_id"]
    plan_path = tmp_path / "plan.json"
    assert _plan(oais, plan_path)["files"] == 1
    before = tree_snapshot(oais.store)
    run = oais("migrate", "apply", plan_path, "--json")
    assert run.code == 1
    (outcome,) = run.json["aips"]
    assert outcome["aip_id"] == aip and outcome["status"] == "failed"
    assert outcome["reason"].startswith("broken.bmp: pillow failed (exit status 2): ")
    assert "broken.bmp: cannot be read as an image: image file is truncated" in outcome["reason"]
    assert tree_snapshot(oais.store) == before


@pytest.mark.s3
def test_migration_on_ceph_rgw_writes_a_second_version_at_every_location(
    s3: S3Service, tmp_path: Path
) -> None:
    archive = s3_archive(s3, tmp_path)
    oais = archive.oais
    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    plan_path = tmp_path / "plan.json"
    assert _plan(oais, plan_path)["files"] == 4

    applied = _ok(oais("migrate", "apply", plan_path, "--json"))
    assert [(a["status"], a["version"]) for a in applied["aips"]] == [("migrated", 2)]
    prefix = f"archive/aips/{aip}/v2/"
    for location in ("ceph-a", "ceph-b"):
        keys = archive.keys(location, prefix)
        payload = sorted(k[len(prefix) + len("data/objects/") :] for k in keys if "/data/objects/" in k)
        assert payload == ["logo.png", "notes.pdf", "plates/plate-1.png", "plates/plate-2.png"]
        assert f"{prefix}fetch.txt" in keys and f"{prefix}bagit.txt" in keys
    locked = archive.s3.client().head_object(
        Bucket=archive.buckets["ceph-a"], Key=f"{prefix}data/objects/notes.pdf"
    )
    assert locked["ObjectLockMode"] == "COMPLIANCE"

    export = tmp_path / "export"
    _ok(oais("export", aip, export, "--location", "ceph-b"))
    bagit.Bag(str(export)).validate()
    objects = export / "data" / "objects"
    with Image.open(objects / "logo.gif") as a, Image.open(objects / "logo.png") as b:
        assert a.convert("RGBA").tobytes() == b.convert("RGBA").tobytes()
    _ok(oais("storage", "verify", aip))
    again = _ok(oais("migrate", "apply", plan_path, "--json"))
    assert again["aips"][0]["status"] == "nothing to do"
    assert archive.keys("ceph-a", f"archive/aips/{aip}/v3/") == []


def _normalising(oais: Oais, tmp_path: Path, policy_text: str) -> None:
    """Point ``oais`` at a copy of the shipped policies whose format policy is ``policy_text``, with
    normalisation at ingest turned on."""
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    text = policy_text.replace("normalize_at_ingest = false", "normalize_at_ingest = true")
    assert "normalize_at_ingest = true" in text
    (policies / "formats.toml").write_text(text, encoding="utf-8")
    oais.env["OAIS_POLICIES"] = str(policies)


def test_normalisation_at_ingest_puts_the_preservation_copies_in_version_1(
    oais: Oais, tmp_path: Path
) -> None:
    _normalising(oais, tmp_path, (REPO / "policies" / "formats.toml").read_text(encoding="utf-8"))
    result = _ok(oais.ingest(make_sip(tmp_path / "sip")))
    assert result["version"] == 1 and result["files"] == 11 and result["warnings"] == []
    aip = result["aip_id"]
    files = {f["path"]: f for f in _ok(oais("show", aip, "--json"))["files"]}
    assert files["plates/plate-1.png"]["derived_from"] == "plates/plate-1.bmp"
    assert files["notes.pdf"]["format"]["puid"] == "fmt/477"
    doc = _premis(oais.store / "aips" / aip / "v1")
    normalised = doc.xpath("//premis:event[premis:eventType='normalization']", namespaces=PREMIS_NS)
    assert len(normalised) == 4
    outcomes = doc.xpath(
        "//premis:event[premis:eventType='normalization']//premis:eventOutcome/text()", namespaces=PREMIS_NS
    )
    assert set(outcomes) == {"success"}
    # Nothing is left to plan, and the same SIP again is recognised as already held.
    assert _plan(oais, tmp_path / "plan.json")["files"] == 0
    assert _ok(oais.ingest(tmp_path / "sip"))["status"] == "already-held"


def test_a_normalisation_that_fails_keeps_the_original_alone_with_a_warning(
    oais: Oais, tmp_path: Path
) -> None:
    _normalising(oais, tmp_path, _tool_policy(tmp_path, 'cp "$1" "$2"\n').read_text(encoding="utf-8"))
    result = _ok(oais.ingest(make_sip(tmp_path / "sip")))
    assert result["files"] == 9  # the GIF and the PostScript were normalised, the bitmaps not
    assert [w["code"] for w in result["warnings"]] == ["FMT-W003", "FMT-W003"]
    assert "plates/plate-1.bmp" in {w["path"] for w in result["warnings"]}
    assert "not the target fmt/11" in result["warnings"][0]["message"]
    doc = _premis(oais.store / "aips" / result["aip_id"] / "v1")
    failed = doc.xpath(
        "//premis:event[premis:eventType='normalization'][.//premis:eventOutcome='failure']",
        namespaces=PREMIS_NS,
    )
    assert len(failed) == 2
    # The bitmaps are still due for migration.
    assert _plan(oais, tmp_path / "plan.json", "--policy", str(tmp_path / "formats.toml"))["files"] == 2


def test_a_missing_tool_stops_plan_and_apply_before_anything_runs(oais: Oais, tmp_path: Path) -> None:
    policy = _tool_policy(tmp_path, 'cp "$1" "$2"\n')
    aip = _ok(oais.ingest(make_sip(tmp_path / "sip")))["aip_id"]
    plan_path = tmp_path / "plan.json"
    _plan(oais, plan_path, "--policy", str(policy))
    before = tree_snapshot(oais.store)
    (tmp_path / "broken-tool").unlink()  # the tool is gone between the plan and its application

    for args in (("plan", "migrations", "--out", tmp_path / "again.json"), ("migrate", "apply", plan_path)):
        run = oais(*args, "--policy", str(policy))
        assert run.code == 8, (args, run.stdout, run.stderr)
        assert f"tool 'broken': command '{tmp_path / 'broken-tool'}' is not on PATH" in run.stderr
        assert "install the Debian package none" in run.stderr
    assert not (tmp_path / "again.json").exists()
    assert tree_snapshot(oais.store) == before
    assert _ok(oais("show", aip, "--json"))["version"]["version"] == 1
