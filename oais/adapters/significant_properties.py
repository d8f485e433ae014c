"""What a conversion must keep: the significant properties of a source file and of its conversion,
compared by format family.

Families are sets of PRONOM PUIDs. Which properties are compared, by pair of families:

raster image -> raster image (Pillow)
    ``width``, ``height``; ``channels``: the bands of the image as decoded, a palette image counting
    the bands it renders to (3, or 4 when it has transparency), an RGB image whose three bands are
    equal counting as grey (1, or 2 with alpha); ``bit depth`` per channel, from
    Pillow's mode (``1``: 1, ``L``/``P``/``RGB``/``RGBA``/``CMYK``...: 8, ``I;16``: 16, ``I``/``F``: 32).
    When the rule is lossless, also ``frames`` and ``pixels``: both images rendered the same way
    (palette and transparency resolved to RGBA; 16-bit grey to 32-bit integers; other modes as
    decoded) must be equal byte for byte; the check shows the first 16 hex digits of the sha256 of
    each rendering. Pillow decodes 16-bit-per-channel colour images to 8 bits, so for those the
    comparison sees only the high bytes.
PostScript or PDF -> PDF
    ``pages``, as Ghostscript's ``bbox`` device counts them (one ``%%BoundingBox`` per page). A file
    Ghostscript reads only by repairing it or with errors (it says so, yet exits with status 0: a
    truncated PDF is read this way, sometimes with all its pages) is taken as unreadable: its page
    count is not trusted.
FITS -> FITS (astropy)
    ``hdus``; per HDU, ``header keywords``: every card of the header as stored, as (keyword, value),
    values compared as astropy parses them (``1.0`` and ``1.00`` are the same number, trailing
    blanks of a string do not count), except ``CHECKSUM`` and ``DATASUM``, which any writer
    recomputes, and blank cards, which are reserved space in a header (astropy fills them when a
    card is added); and ``data checksum``: the sha256 of the HDU's data bytes as stored in the file
    (big-endian, before BSCALE/BZERO, heap included, padding to 2880 bytes left out), read from the
    file rather than through astropy's arrays, so that no scaling or decompression can make two
    different files look equal. A re-encoded file (another BITPIX, another compression) therefore
    does not keep its data checksum, even when the values are the same: such a rule needs a
    comparison of values, which no rule asks for yet.
FITS -> raster image (the access preview)
    ``width`` and ``height`` of the first image plane and of the image; no pixel comparison (the
    preview is scaled to 8 bits on purpose).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from math import prod
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from oais.domain.errors import ConversionFailed
from oais.domain.migration import PropertyCheck

if TYPE_CHECKING:
    from PIL.Image import Image

BMP = frozenset({"fmt/114", "fmt/115", "fmt/116", "fmt/117", "fmt/118", "fmt/119"})
GIF = frozenset({"fmt/3", "fmt/4"})
PNG = frozenset({"fmt/11", "fmt/12", "fmt/13"})
TIFF = frozenset({"fmt/353", "fmt/7", "fmt/8", "fmt/9", "fmt/10"})
JPEG = frozenset({"fmt/41", "fmt/42", "fmt/43", "fmt/44"})
JP2 = frozenset({"x-fmt/392"})
#: Raster images Pillow reads.
IMAGES = BMP | GIF | PNG | TIFF | JPEG | JP2
POSTSCRIPT = frozenset({"x-fmt/406", "x-fmt/407", "x-fmt/408", "x-fmt/91"})
PDF = frozenset({"fmt/14", "fmt/15", "fmt/16", "fmt/17", "fmt/18", "fmt/19", "fmt/20", "fmt/276"})
PDF_A = frozenset({"fmt/95", "fmt/354", "fmt/476", "fmt/477", "fmt/478", "fmt/479", "fmt/480"})
#: Documents Ghostscript reads and counts the pages of.
PAGED = POSTSCRIPT | PDF | PDF_A
FITS = frozenset({"x-fmt/383"})

#: Cards left out of the header comparison: any writer recomputes them (FITS checksum convention).
IGNORED_KEYWORDS = frozenset({"CHECKSUM", "DATASUM"})
#: How long Ghostscript may take to count the pages of one file.
PAGE_COUNT_TIMEOUT = 120.0
#: How many differing cards a ``header keywords`` check names.
SHOWN_CARDS = 5

_CHUNK = 1 << 20
_T = TypeVar("_T")


def compare(
    source: Path, source_puid: str, output: Path, target_puid: str, lossless: bool
) -> list[PropertyCheck]:
    """Compare the significant properties of ``source`` and of its conversion ``output``.

    Args:
        source: the file that was converted.
        source_puid: its format.
        output: the conversion.
        target_puid: the format the conversion was made to (the rule's target).
        lossless: whether the rule promises every pixel (images: adds the ``pixels`` check).

    Returns:
        One check per property, in a stable order.

    Raises:
        ConversionFailed: a file cannot be read for the comparison (the message names it and what
            failed), or no comparison is known from ``source_puid`` to ``target_puid``.
    """
    if source_puid in IMAGES and target_puid in IMAGES:
        return _images(source, output, lossless)
    if source_puid in PAGED and target_puid in PDF | PDF_A:
        return [_check("pages", str(_pages(source)), str(_pages(output)))]
    if source_puid in FITS and target_puid in FITS:
        return _fits(source, output)
    if source_puid in FITS and target_puid in IMAGES:
        width, height = _fits_plane(source)
        out_width, out_height = _read_image(output, lambda image: tuple(image.size))
        return [
            _check("width", str(width), str(out_width)),
            _check("height", str(height), str(out_height)),
        ]
    raise ConversionFailed(
        f"{source.name}: no comparison of significant properties is known from {source_puid} to {target_puid}"
    )


def _check(name: str, source: str, output: str) -> PropertyCheck:
    return PropertyCheck(name=name, source=source, output=output, kept=source == output)


# --- raster images ---------------------------------------------------------------------------


#: What Pillow raises on a file it cannot decode (UnidentifiedImageError is an OSError).
_IMAGE_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, SyntaxError, EOFError, IndexError)


def _read_image(path: Path, what: Callable[[Image], _T]) -> _T:
    """``what`` of the image in ``path``, its first frame decoded.

    Raises:
        ConversionFailed: naming the file, if Pillow cannot decode it.
    """
    from PIL import Image as PIL

    try:
        with PIL.open(path) as image:
            image.load()
            return what(image)
    except PIL.DecompressionBombError as exc:
        raise ConversionFailed(f"{path.name}: too large to decode safely for the comparison: {exc}") from exc
    except _IMAGE_ERRORS as exc:
        raise ConversionFailed(f"{path.name}: cannot be read as an image for the comparison: {exc}") from exc


def _channels(image: Image) -> int:
    if image.mode in ("P", "PA"):
        palette_bands = len(image.palette.mode) if image.palette is not None else 3
        has_alpha = image.mode == "PA" or "transparency" in image.info or palette_bands == 4
        return 4 if has_alpha else min(palette_bands, 3)
    if image.mode in ("RGB", "RGBA") and _grey(image):
        # Three equal bands are grey: writers such as ImageMagick store such an image as grey, and
        # nothing is lost.
        return 1 if image.mode == "RGB" else 2
    return len(image.getbands())


def _grey(image: Image) -> bool:
    """Whether the red, green and blue bands of an RGB(A) image are equal everywhere."""
    from PIL import ImageChops

    red, green, blue = image.split()[:3]
    return ImageChops.difference(red, green).getbbox() is None and (
        ImageChops.difference(red, blue).getbbox() is None
    )


def _bit_depth(mode: str) -> int:
    if mode == "1":
        return 1
    if mode.startswith("I;16"):
        return 16
    if mode in ("I", "F"):
        return 32
    return 8


def _rendering(image: Image) -> str:
    """The sha256 of the image's pixels rendered in a common mode, with that mode and size."""
    if image.mode.startswith("I;16") or image.mode == "I":
        rendered = image.convert("I")
    elif image.mode in ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX"):
        rendered = image.convert("RGBA")
    else:
        rendered = image  # CMYK, YCbCr, LAB, HSV, F: compared as decoded
    digest = hashlib.sha256(f"{rendered.mode} {rendered.size[0]}x{rendered.size[1]}\n".encode())
    digest.update(rendered.tobytes())
    return f"{rendered.mode} sha256:{digest.hexdigest()}"


def _frames(image: Image) -> int:
    return int(getattr(image, "n_frames", 1))


class _ImageFacts(NamedTuple):
    width: int
    height: int
    channels: int
    bit_depth: int
    frames: int
    rendering: str  # empty unless the pixels are compared


def _image_facts(lossless: bool) -> Callable[[Image], _ImageFacts]:
    def facts(image: Image) -> _ImageFacts:
        width, height = image.size
        rendering = _rendering(image) if lossless else ""
        return _ImageFacts(width, height, _channels(image), _bit_depth(image.mode), _frames(image), rendering)

    return facts


def _images(source: Path, output: Path, lossless: bool) -> list[PropertyCheck]:
    before = _read_image(source, _image_facts(lossless))
    after = _read_image(output, _image_facts(lossless))
    checks = [
        _check("width", str(before.width), str(after.width)),
        _check("height", str(before.height), str(after.height)),
        _check("channels", str(before.channels), str(after.channels)),
        _check("bit depth", str(before.bit_depth), str(after.bit_depth)),
    ]
    if lossless:
        checks.append(_check("frames", str(before.frames), str(after.frames)))
        checks.append(
            PropertyCheck(
                name="pixels",
                source=_short(before.rendering),
                output=_short(after.rendering),
                kept=before.rendering == after.rendering,
            )
        )
    return checks


def _short(rendering: str) -> str:
    """``RGBA sha256:`` and 16 hex digits: enough for a reader to see what was compared."""
    mode, _, digest = rendering.partition(" sha256:")
    return f"{mode} sha256:{digest[:16]}"


# --- PostScript and PDF ------------------------------------------------------------------------


def _pages(path: Path) -> int:
    """The number of pages Ghostscript renders from ``path``.

    Raises:
        ConversionFailed: Ghostscript is missing, fails, reports errors or times out on the file.
    """
    gs = shutil.which("gs") or "gs"
    # Not -q: it also silences the report of a PDF that Ghostscript had to repair.
    command = [gs, "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=bbox", str(path.absolute())]
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=PAGE_COUNT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConversionFailed(
            f"{path.name}: Ghostscript did not count its pages within {PAGE_COUNT_TIMEOUT:g} s; stopped"
        ) from exc
    except OSError as exc:
        raise ConversionFailed(f"{path.name}: Ghostscript cannot be run to count its pages: {exc}") from exc
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace")
    problems = _gs_problems(stdout + "\n" + stderr)
    if done.returncode != 0 or problems:
        reason = "; ".join(problems) if problems else _last_line(stderr + "\n" + stdout)
        raise ConversionFailed(
            f"{path.name}: Ghostscript cannot read it cleanly to count its pages "
            f"(exit status {done.returncode}): {reason}"
        )
    return sum(1 for line in stderr.splitlines() if line.startswith("%%BoundingBox:"))


def _gs_problems(text: str) -> list[str]:
    """What Ghostscript says went wrong: its errors, and the errors of a PDF it repaired and read
    anyway (exit status 0, and pages that may be incomplete)."""
    problems: list[str] = []
    listing = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("The following errors were encountered"):
            listing = True
        elif listing and raw.startswith("\t") and line:
            problems.append(line)  # "no startxref token found", "PDF file was repaired"
        else:
            listing = False
            if line.startswith(("**** Error", "Error:")):
                problems.append(line.removeprefix("**** ").strip())
    return list(dict.fromkeys(problems))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


# --- FITS --------------------------------------------------------------------------------------


def _read_fits(path: Path, what: Callable[[Any], _T]) -> _T:
    """``what`` of the astropy HDU list of ``path``, every header read (data is not loaded).

    Raises:
        ConversionFailed: naming the file, if astropy cannot read it.
    """
    import warnings

    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    try:
        # astropy warns about (and fixes) non-standard cards as it parses them: the comparison
        # sees the values it can make out, and the FITS checker at ingest reports the cards.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdus:
                return what(hdus)
    except (OSError, ValueError, TypeError, KeyError, IndexError, fits.VerifyError) as exc:
        raise ConversionFailed(f"{path.name}: cannot be read as FITS for the comparison: {exc}") from exc


def _parse_header(path: Path, raw: bytes) -> tuple[Any, int]:
    """A FITS header parsed from its bytes, and the size of the data it declares.

    Raises:
        ConversionFailed: naming ``path``, if the header cannot be parsed.
    """
    import warnings

    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            header = fits.Header.fromstring(raw.decode("ascii", "replace"))
            return header, _data_size(header)
    except (ValueError, TypeError, KeyError, IndexError, fits.VerifyError) as exc:
        raise ConversionFailed(
            f"{path.name}: a FITS header cannot be read for the comparison: {exc}"
        ) from exc


def _fits_plane(path: Path) -> tuple[int, int]:
    """Width and height of the first image plane of a FITS file (what the preview shows)."""
    from oais.adapters.converters import image_hdu

    found = _read_fits(path, image_hdu)
    if found is None:
        raise ConversionFailed(f"{path.name}: no HDU holds image data of two or more dimensions")
    shape = tuple(found[1].shape)
    return int(shape[-1]), int(shape[-2])


def _cards(header: Any) -> Counter[tuple[str, str]]:
    from astropy.io.fits.card import Undefined

    cards: Counter[tuple[str, str]] = Counter()
    for card in header.cards:
        keyword, value = str(card.keyword), card.value
        if keyword in IGNORED_KEYWORDS or (keyword == "" and str(value).strip() == ""):
            continue
        if isinstance(value, Undefined):
            shown = "(undefined)"
        elif isinstance(value, str):
            shown = repr(value.rstrip())  # trailing blanks in a FITS string are not significant
        else:
            shown = repr(value)
        cards[(keyword, shown)] += 1
    return cards


def _shown(cards: Counter[tuple[str, str]]) -> str:
    listed = sorted(cards.elements())
    text = ", ".join(f"{k}={v}" for k, v in listed[:SHOWN_CARDS])
    more = len(listed) - SHOWN_CARDS
    return text + (f" and {more} more" if more > 0 else "") if listed else "none"


def _data_size(header: Any) -> int:
    """The bytes of data a FITS header declares, without the padding (FITS Standard 4.0, 4.4.1)."""
    naxis = int(header["NAXIS"])
    if naxis == 0:
        return 0
    dims = [int(header[f"NAXIS{n}"]) for n in range(1, naxis + 1)]
    if header.get("GROUPS") is True and dims[0] == 0:
        dims = dims[1:]  # random groups: NAXIS1 = 0 is not a dimension
    bits = (
        abs(int(header["BITPIX"]))
        * int(header.get("GCOUNT", 1))
        * (int(header.get("PCOUNT", 0)) + prod(dims))
    )
    return bits // 8


def _fits_summary(path: Path) -> list[tuple[Counter[tuple[str, str]], str]]:
    """Per HDU: its header's cards and the sha256 of its data, both as stored in the file.

    astropy finds the HDUs; each header is then parsed from its own bytes, because astropy presents
    a tile-compressed image with the header and size of the image it decompresses to, not of the
    table that is stored.
    """

    def locations(hdus: Any) -> list[tuple[int, int]]:
        return [(int(hdus.fileinfo(n)["hdrLoc"]), int(hdus.fileinfo(n)["datLoc"])) for n in range(len(hdus))]

    summary = []
    try:
        with path.open("rb") as stream:
            for header_at, data_at in _read_fits(path, locations):
                stream.seek(header_at)
                raw = stream.read(data_at - header_at)
                header, left = _parse_header(path, raw)
                stream.seek(data_at)
                digest = hashlib.sha256()
                while left > 0:
                    chunk = stream.read(min(_CHUNK, left))
                    if not chunk:
                        raise ConversionFailed(f"{path.name}: data ends {left} bytes before its header says")
                    digest.update(chunk)
                    left -= len(chunk)
                summary.append((_cards(header), digest.hexdigest()))
    except OSError as exc:
        raise ConversionFailed(f"{path.name}: cannot be read for the comparison: {exc}") from exc
    return summary


def _fits(source: Path, output: Path) -> list[PropertyCheck]:
    before = _fits_summary(source)
    after = _fits_summary(output)
    checks = [_check("hdus", str(len(before)), str(len(after)))]
    for index, ((cards, data), (out_cards, out_data)) in enumerate(zip(before, after, strict=False)):
        if cards == out_cards:
            shown = f"HDU {index}: {sum(cards.values())} cards"
            checks.append(_check("header keywords", shown, shown))
        else:
            checks.append(
                PropertyCheck(
                    name="header keywords",
                    source=f"HDU {index}: {_shown(cards - out_cards)}",
                    output=f"HDU {index}: {_shown(out_cards - cards)}",
                    kept=False,
                )
            )
        checks.append(
            PropertyCheck(
                name="data checksum",
                source=f"HDU {index}: sha256:{data[:16]}",
                output=f"HDU {index}: sha256:{out_data[:16]}",
                kept=data == out_data,
            )
        )
    return checks
