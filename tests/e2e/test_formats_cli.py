"""``oais formats``: holdings by format against the format policy, most at risk first."""

from __future__ import annotations

import base64
import shutil
import struct
from pathlib import Path

from tests.e2e.conftest import Oais

# A 1 x 1 GIF 89a.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def bmp(width: int, height: int) -> bytes:
    """A 24-bit Windows bitmap (BITMAPINFOHEADER, BMP 3.0), black."""
    row = (width * 3 + 3) // 4 * 4
    pixels = b"\0" * row * height
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def test_holdings_by_format_put_the_formats_at_risk_first(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    assert oais.ingest(sample_sip).code == 0
    risky = tmp_path / "scans"
    risky.mkdir()
    (risky / "logo.gif").write_bytes(GIF)
    (risky / "plate-1.bmp").write_bytes(bmp(4, 2))
    (risky / "plate-2.bmp").write_bytes(bmp(3, 3))
    shutil.copy(sample_sip / "README.txt", risky / "README.txt")
    assert oais.ingest(risky, title="Scanned plates").code == 0

    run = oais("formats", "--json")
    assert run.code == 1, run.stderr  # formats at risk are held
    report = run.json
    assert report["policy"] == "formats@2"
    lines = {line["puid"]: line for line in report["lines"]}
    # Counted independently: the sample SIP holds 3 FITS files, a PNG, a CSV and 2 text files (and a
    # PDF 1.4, which the policy does not rate); the second SIP 2 bitmaps, a GIF and its README.
    fits = list(sample_sip.rglob("*.fits"))
    assert (lines["x-fmt/383"]["files"], lines["x-fmt/383"]["aips"]) == (len(fits), 1)
    assert lines["x-fmt/383"]["bytes"] == sum(p.stat().st_size for p in fits)
    assert lines["x-fmt/383"]["status"] == "preferred"
    assert (lines["fmt/116"]["files"], lines["fmt/116"]["bytes"], lines["fmt/116"]["status"]) == (
        2,
        len(bmp(4, 2)) + len(bmp(3, 3)),
        "at-risk",
    )
    assert lines["fmt/116"]["migration"] == "to fmt/11 with pillow"
    assert lines["fmt/116"]["unmigrated"] == 2
    assert (lines["fmt/4"]["files"], lines["fmt/4"]["status"]) == (1, "at-risk")
    assert lines["x-fmt/111"]["aips"] == 2  # a text file in each AIP
    assert lines["fmt/18"]["status"] == "not in policy"
    order = [line["status"] for line in report["lines"]]
    assert order[:2] == ["at-risk", "at-risk"] and order[2] == "not in policy"
    assert set(order[3:]) == {"preferred"}

    text = oais("formats")
    assert text.code == 1
    assert "AT-RISK: fmt/116 Windows Bitmap 3.0: 2 files" in text.stdout
    assert "; migrate to fmt/11 with pillow" in text.stdout


def test_a_broken_policy_file_is_named(oais: Oais, tmp_path: Path) -> None:
    broken = tmp_path / "formats.toml"
    broken.write_text('id = "formats"\nversion = "2"\n[formats."fmt/3"]\nname = "GIF"\nstatus = "at-risk"\n')
    run = oais("formats", "--policy", broken)
    assert run.code == 7
    assert f"{broken}: invalid format policy: formats.fmt/3.reason: Field required" in run.stderr + run.stdout


def test_the_tools_a_policy_needs_and_lacks_are_listed_with_their_package(oais: Oais, tmp_path: Path) -> None:
    policy = tmp_path / "formats.toml"
    policy.write_text(
        'id = "formats"\nversion = "test"\n'
        '[tools.converter]\ncommand = "no-such-converter-on-any-path"\ndebian_package = "converter-tools"\n'
        '[formats."fmt/3"]\nname = "GIF"\nstatus = "at-risk"\nreason = "old"\n'
        '[formats."fmt/3".preservation]\ntool = "converter"\nargs = ["{input}", "{output}"]\n'
        'target = "fmt/13"\nextension = "png"\n'
    )
    missing = (
        "tool 'converter': command 'no-such-converter-on-any-path' is not on PATH; install the Debian "
        "package converter-tools (apt-get install converter-tools)"
    )
    run = oais("formats", "--policy", policy, "--json")
    assert run.code == 0, run.stderr  # nothing is held: nothing at risk
    assert run.json == {"policy": "formats@test", "lines": [], "missing_tools": [missing]}
    assert f"TOOL MISSING: {missing}" in oais("formats", "--policy", policy).stdout
