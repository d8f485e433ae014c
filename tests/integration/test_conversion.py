"""Format conversions with the real tools (Pillow, astropy, Ghostscript, ImageMagick) and the shipped
format policy: the output's format as identified, and the significant properties compared.

Every input is made here, with Pillow, astropy or a few lines of PostScript.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from oais.adapters.conversion import ToolConverter
from oais.adapters.format_tools import command_line, tool_version
from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.policy_files import load_format_policy
from oais.adapters.significant_properties import compare
from oais.domain.errors import ConversionFailed
from oais.domain.formats import FormatPolicy, Purpose, Rule, Tool
from oais.domain.migration import Conversion, PropertyCheck, refusal
from tests.support.processes import wait_gone

REPO = Path(__file__).resolve().parents[2]

TWO_PAGES_PS = b"""%!PS-Adobe-3.0
%%Pages: 2
%%EndComments
%%Page: 1 1
/Helvetica findfont 24 scalefont setfont
72 700 moveto (First page) show
showpage
%%Page: 2 2
/Helvetica findfont 24 scalefont setfont
72 700 moveto (Second page) show
showpage
%%EOF
"""


@pytest.fixture(scope="module")
def policy() -> FormatPolicy:
    return load_format_policy(REPO / "policies" / "formats.toml")


@pytest.fixture(scope="module")
def identifier() -> FidoIdentifier:
    return FidoIdentifier()


@pytest.fixture(scope="module")
def converter(identifier: FidoIdentifier) -> ToolConverter:
    return ToolConverter(identifier)


def identify(identifier: FidoIdentifier, path: Path) -> str | None:
    probe = identifier.start(path.name, path.stat().st_size, lambda: path.open("rb"))
    probe.feed(path.read_bytes())
    return probe.finish().puid


def convert_by_policy(
    policy: FormatPolicy,
    converter: ToolConverter,
    identifier: FidoIdentifier,
    source: Path,
    expected_puid: str,
    purpose: Purpose,
) -> Conversion:
    """Run the policy's rule for ``source``'s format, as the migration service does."""
    puid = identify(identifier, source)
    assert puid == expected_puid, f"the test's input is {puid}, not {expected_puid}"
    rule = policy.formats[puid].rule(purpose)
    assert rule is not None
    out_dir = source.parent.parent / "output"
    out_dir.mkdir(exist_ok=True)
    output = out_dir / f"{source.stem}.{rule.extension}"
    return converter.convert(rule.tool, policy.tools[rule.tool], rule, source, puid, output)


def by_name(checks: list[PropertyCheck]) -> dict[str, PropertyCheck]:
    return {c.name: c for c in checks}


def source_file(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "source"
    folder.mkdir(exist_ok=True)
    return folder / name


def noise(width: int, height: int, bands: int, seed: int) -> np.ndarray:
    shape = (height, width, bands) if bands > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def script(tmp_path: Path, name: str, body: str) -> Path:
    """An executable shell script that answers ``--version`` and otherwise runs ``body``."""
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "{name} 1.0"; exit 0; fi\n{body}\n')
    path.chmod(0o755)
    return path


# --- the shipped rules on real tools -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["rgb", "palette"])
def test_bmp_becomes_png_keeping_every_pixel(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier, kind: str
) -> None:
    source = source_file(tmp_path, f"{kind}.bmp")
    # An odd width: BMP pads its rows to 4 bytes, PNG does not.
    rgb = Image.fromarray(noise(37, 23, 3, seed=1))
    image = rgb if kind == "rgb" else rgb.quantize(colors=200)
    assert image.mode == ("RGB" if kind == "rgb" else "P")
    image.save(source)

    conversion = convert_by_policy(policy, converter, identifier, source, "fmt/116", Purpose.PRESERVATION)

    assert conversion.output_puid == "fmt/11"
    checks = by_name(conversion.checks)
    assert set(checks) == {"width", "height", "channels", "bit depth", "frames", "pixels"}
    assert conversion.kept, conversion.detail()
    assert (checks["width"].output, checks["height"].output) == ("37", "23")
    assert checks["channels"].output == "3"
    assert conversion.tool == "pillow"
    assert conversion.tool_version.lower().startswith("pillow ")
    assert conversion.command[:3] == [sys.executable, "-m", "oais.adapters.converters"]
    assert conversion.output_size == (tmp_path / "output" / f"{kind}.png").stat().st_size
    with Image.open(tmp_path / "output" / f"{kind}.png") as png:
        assert png.mode == image.mode  # the palette stays a palette


def test_gif_with_a_transparent_index_becomes_png_keeping_transparency(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier
) -> None:
    source = source_file(tmp_path, "logo.gif")
    image = Image.new("P", (30, 20))
    image.putpalette([v for i in range(16) for v in (i * 16, 255 - i * 16, (i * 40) % 256)])
    image.putdata([(x * y) % 16 for y in range(20) for x in range(30)])
    image.save(source, transparency=5)  # Pillow writes GIF 89a when there is transparency

    conversion = convert_by_policy(policy, converter, identifier, source, "fmt/4", Purpose.PRESERVATION)

    assert conversion.output_puid == "fmt/11"
    checks = by_name(conversion.checks)
    assert checks["pixels"].kept, conversion.detail()
    assert checks["channels"].source == checks["channels"].output == "4"
    with Image.open(tmp_path / "output" / "logo.png") as png:
        assert png.convert("RGBA").getpixel((0, 0)) == (0, 255, 0, 255)
        assert png.convert("RGBA").getpixel((5, 1))[3] == 0  # (5 * 1) % 16: the transparent index


def test_animated_gif_is_refused_rather_than_cut_to_its_first_frame(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier
) -> None:
    source = source_file(tmp_path, "blink.gif")
    frames = [Image.new("RGB", (8, 8), (120 * i, 0, 0)) for i in range(3)]
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, loop=0)

    with pytest.raises(ConversionFailed) as failed:
        convert_by_policy(policy, converter, identifier, source, "fmt/4", Purpose.PRESERVATION)

    message = str(failed.value)
    assert "blink.gif" in message and "3 frames" in message and "exit status 2" in message
    assert not (tmp_path / "output" / "blink.png").exists()


def test_postscript_becomes_pdf_a_2b_with_the_same_pages(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier
) -> None:
    source = source_file(tmp_path, "report.ps")
    source.write_bytes(TWO_PAGES_PS)

    conversion = convert_by_policy(policy, converter, identifier, source, "x-fmt/408", Purpose.PRESERVATION)

    assert conversion.output_puid == "fmt/477"
    assert conversion.checks == [PropertyCheck(name="pages", source="2", output="2", kept=True)]
    assert conversion.tool_version.startswith("gs ")
    assert f"-sOutputFile={tmp_path / 'output' / 'report.pdf'}" in conversion.command


def test_tiff_access_copy_is_a_jpeg_of_the_same_size(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier
) -> None:
    source = source_file(tmp_path, "scan.tif")
    Image.fromarray(noise(64, 40, 3, seed=2)).save(source)

    conversion = convert_by_policy(policy, converter, identifier, source, "fmt/353", Purpose.ACCESS)

    assert conversion.output_puid == "fmt/43"
    checks = by_name(conversion.checks)
    assert "pixels" not in checks  # lossy on purpose
    assert checks["width"] == PropertyCheck(name="width", source="64", output="64", kept=True)
    assert checks["height"] == PropertyCheck(name="height", source="40", output="40", kept=True)
    assert conversion.kept, conversion.detail()
    assert conversion.command[1] == f"{source}[0]"


def fits_image(path: Path) -> np.ndarray:
    y, x = np.mgrid[0:48, 0:64]
    data = (x + 4.0 * y).astype(np.float32)  # brighter towards the top (FITS rows count upwards)
    data[0, 0] = np.nan
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = ("NGC 1275", "target")
    hdu.header["EXPTIME"] = (120.0, "seconds")
    hdu.header["TELESCOP"] = "ESO-VLT-U1"
    hdu.header["HISTORY"] = "made by the test"
    extension = fits.ImageHDU(np.arange(12, dtype=np.int16).reshape(3, 4), name="MASK")
    fits.HDUList([hdu, extension]).writeto(path)
    return data


def test_fits_access_preview_is_a_png_of_the_image_the_right_way_up(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, identifier: FidoIdentifier
) -> None:
    source = source_file(tmp_path, "ngc1275.fits")
    fits_image(source)

    conversion = convert_by_policy(policy, converter, identifier, source, "x-fmt/383", Purpose.ACCESS)

    assert conversion.output_puid == "fmt/11"
    assert conversion.checks == [
        PropertyCheck(name="width", source="64", output="64", kept=True),
        PropertyCheck(name="height", source="48", output="48", kept=True),
    ]
    assert conversion.tool_version.startswith("astropy ")
    with Image.open(tmp_path / "output" / "ngc1275.png") as png:
        assert png.mode == "L"
        assert png.getpixel((63, 0)) == 255  # the brightest corner: top right in a viewer
        assert png.getpixel((0, 47)) == 0  # the NaN, bottom left


# --- comparisons ---------------------------------------------------------------------------------


def test_fits_copy_keeps_headers_and_data_and_changes_are_seen(tmp_path: Path) -> None:
    original = tmp_path / "original.fits"
    fits_image(original)
    copy = tmp_path / "copy.fits"
    with fits.open(original) as hdus:
        # astropy rewrites every card and adds CHECKSUM and DATASUM, which are not compared.
        hdus.writeto(copy, checksum=True)
    header_changed = tmp_path / "header.fits"
    data_changed = tmp_path / "data.fits"
    with fits.open(original) as hdus:
        hdus[0].header["EXPTIME"] = 121.0
        hdus.writeto(header_changed)
    with fits.open(original) as hdus:
        hdus[1].data[2, 3] = 99
        hdus.writeto(data_changed)

    kept = compare(original, "x-fmt/383", copy, "x-fmt/383", lossless=True)
    assert [c.name for c in kept] == ["hdus"] + ["header keywords", "data checksum"] * 2
    assert all(c.kept for c in kept), kept

    header = compare(original, "x-fmt/383", header_changed, "x-fmt/383", lossless=True)
    assert [c.kept for c in header] == [True, False, True, True, True]
    assert "EXPTIME=120.0" in header[1].source and "EXPTIME=121.0" in header[1].output

    data = compare(original, "x-fmt/383", data_changed, "x-fmt/383", lossless=True)
    assert [c.kept for c in data] == [True, True, True, True, False]
    assert data[4].source != data[4].output


def test_one_changed_pixel_is_not_kept(tmp_path: Path) -> None:
    pixels = noise(16, 16, 3, seed=3)
    source = tmp_path / "a.bmp"
    Image.fromarray(pixels).save(source)
    pixels[7, 9] ^= 1
    output = tmp_path / "a.png"
    Image.fromarray(pixels).save(output)

    checks = by_name(compare(source, "fmt/116", output, "fmt/11", lossless=True))

    assert not checks["pixels"].kept
    assert checks["pixels"].source != checks["pixels"].output
    assert all(checks[n].kept for n in ("width", "height", "channels", "bit depth", "frames"))


def test_rgba_to_jpeg_loses_a_channel(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(noise(8, 8, 4, seed=4)).save(source)
    output = tmp_path / "a.jpg"
    Image.open(source).convert("RGB").save(output)

    checks = by_name(compare(source, "fmt/11", output, "fmt/43", lossless=False))

    assert checks["channels"] == PropertyCheck(name="channels", source="4", output="3", kept=False)
    assert "pixels" not in checks


def test_no_comparison_known_for_a_pair_of_formats(tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("hello\n")
    with pytest.raises(ConversionFailed, match=r"a\.txt: no comparison .* x-fmt/111 to fmt/11"):
        compare(text, "x-fmt/111", text, "fmt/11", lossless=True)


def test_a_damaged_pdf_is_not_counted(tmp_path: Path) -> None:
    ps = tmp_path / "a.ps"
    ps.write_bytes(TWO_PAGES_PS)
    pdf = tmp_path / "a.pdf"
    subprocess.run(
        ["gs", "-q", "-dBATCH", "-dNOPAUSE", "-dSAFER", "-sDEVICE=pdfwrite", f"-sOutputFile={pdf}", str(ps)],
        check=True,
    )
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(pdf.read_bytes()[: pdf.stat().st_size // 2])

    assert compare(ps, "x-fmt/408", pdf, "fmt/477", lossless=False)[0].kept
    # Ghostscript repairs it, finds both pages and exits 0, but lists what it repaired.
    with pytest.raises(ConversionFailed, match=r"cut\.pdf: Ghostscript cannot read it cleanly.*repaired"):
        compare(ps, "x-fmt/408", cut, "fmt/477", lossless=False)


# --- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_corrupt_source_fails_naming_the_file(
    tmp_path: Path, policy: FormatPolicy, converter: ToolConverter, damage: str
) -> None:
    source = source_file(tmp_path, f"{damage}.bmp")
    if damage == "truncated":
        Image.fromarray(noise(40, 30, 3, seed=5)).save(source)
        source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    else:
        source.write_bytes(np.random.default_rng(6).bytes(3000))
    rule = policy.formats["fmt/116"].preservation
    assert rule is not None
    output = tmp_path / f"{damage}.png"

    with pytest.raises(ConversionFailed) as failed:
        converter.convert("pillow", policy.tools["pillow"], rule, source, "fmt/116", output)

    message = str(failed.value)
    assert f"{damage}.bmp" in message and "cannot be read as an image" in message
    assert "Traceback" not in message
    assert not output.exists()


def test_a_tool_that_hangs_is_stopped_with_its_children(tmp_path: Path, converter: ToolConverter) -> None:
    pids = tmp_path / "pids"
    # The shell's id and its child's, written whole (renamed into place) before it waits.
    hang = script(tmp_path, "hang", f'sleep 60 &\necho "$$ $!" > {pids}.tmp && mv {pids}.tmp {pids}\nwait')
    rule = Rule(
        tool="hang", args=["{input}", "{output}"], target="fmt/11", extension="png", timeout_seconds=3
    )
    source = source_file(tmp_path, "a.bmp")
    source.write_bytes(b"BM")

    with pytest.raises(ConversionFailed) as failed:
        converter.convert(
            "hang",
            Tool(command=str(hang), debian_package="coreutils"),
            rule,
            source,
            "fmt/116",
            tmp_path / "a.png",
        )

    assert str(failed.value) == "a.bmp: hang did not finish within 3 s; stopped"
    if not pids.exists():
        pytest.fail("the tool never started")
    shell, sleeper = (int(p) for p in pids.read_text().split())
    assert wait_gone(shell), f"the tool's shell (pid {shell}) is still running"
    assert wait_gone(sleeper), f"the tool's child (pid {sleeper}) is still running"


def test_a_tool_that_writes_the_wrong_format_is_reported_as_such(
    tmp_path: Path, converter: ToolConverter
) -> None:
    copier = script(tmp_path, "copier", 'cp "$1" "$2"')
    rule = Rule(tool="copier", args=["{input}", "{output}"], target="fmt/11", extension="png", lossless=True)
    source = source_file(tmp_path, "a.bmp")
    Image.fromarray(noise(10, 10, 3, seed=7)).save(source)

    conversion = converter.convert(
        "copier",
        Tool(command=str(copier), debian_package="coreutils"),
        rule,
        source,
        "fmt/116",
        tmp_path / "a.png",
    )

    assert conversion.output_puid == "fmt/116"
    assert conversion.tool_version == "copier 1.0"
    assert conversion.output_name == "Windows Bitmap"
    assert refusal(conversion, rule) == "copier produced fmt/116 (Windows Bitmap), not the target fmt/11"


def test_a_tool_that_fails_is_reported_with_its_message(tmp_path: Path, converter: ToolConverter) -> None:
    failing = script(tmp_path, "frob", 'echo "starting" >&2\necho "frob: cannot frobnicate $1" >&2\nexit 1')
    rule = Rule(tool="frob", args=["{input}", "{output}"], target="fmt/11", extension="png")
    source = source_file(tmp_path, "a.bmp")
    source.write_bytes(b"BM")

    with pytest.raises(ConversionFailed) as failed:
        converter.convert(
            "frob",
            Tool(command=str(failing), debian_package="coreutils"),
            rule,
            source,
            "fmt/116",
            tmp_path / "a.png",
        )

    assert (
        str(failed.value)
        == f"a.bmp: frob failed (exit status 1): starting | frob: cannot frobnicate {source}"
    )


def test_a_tool_that_writes_nothing_fails(tmp_path: Path, converter: ToolConverter) -> None:
    lazy = script(tmp_path, "lazy", "exit 0")
    rule = Rule(tool="lazy", args=["{input}", "{output}"], target="fmt/11", extension="png")
    source = source_file(tmp_path, "a.bmp")
    source.write_bytes(b"BM")
    output = tmp_path / "a.png"
    output.write_bytes(b"left over from before")

    with pytest.raises(ConversionFailed, match=r"a\.bmp: lazy exited successfully but wrote no output"):
        converter.convert(
            "lazy", Tool(command=str(lazy), debian_package="coreutils"), rule, source, "fmt/116", output
        )


# --- tool versions and command lines -----------------------------------------------------------


def test_tool_versions_name_the_product(policy: FormatPolicy) -> None:
    assert tool_version("pillow", policy.tools["pillow"]).lower().startswith("pillow ")
    assert tool_version("fits-preview", policy.tools["fits-preview"]).startswith("astropy ")
    assert tool_version("ghostscript", policy.tools["ghostscript"]).startswith("gs 10.")
    assert tool_version("imagemagick", policy.tools["imagemagick"]).startswith("Version: ImageMagick ")


def test_converter_module_rejects_unknown_names() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oais.adapters.converters", "sharpen", "a", "b"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert "unknown converter 'sharpen'; known converters: convert, preview" in done.stderr


def test_command_line_fills_in_the_paths_inside_arguments() -> None:
    gs = Tool(command="gs", debian_package="ghostscript")
    rule = Rule(
        tool="gs", args=["-sOutputFile={output}", "{input}[0]", "-q"], target="fmt/477", extension="pdf"
    )
    # A path holding a placeholder's text is not filled in a second time.
    source, output = Path("/w/{output}.ps"), Path("/w/out {input}.pdf")

    line = command_line(gs, rule, source, output)

    assert line == [shutil.which("gs") or "gs", "-sOutputFile=/w/out {input}.pdf", "/w/{output}.ps[0]", "-q"]
    pillow = Tool(command="python", module="PIL", debian_package="python3-pil")
    convert = Rule(tool="pillow", args=["convert", "{input}", "{output}"], target="fmt/11", extension="png")
    assert command_line(pillow, convert, Path("/a.bmp"), Path("/a.png")) == [
        sys.executable,
        "-m",
        "oais.adapters.converters",
        "convert",
        "/a.bmp",
        "/a.png",
    ]
