"""The built-in converters of the format policy's ``python`` tools, each run as a process of its own.

``python -m oais.adapters.converters NAME INPUT OUTPUT`` runs the converter ``NAME``:

``convert``
    Pillow opens INPUT and writes OUTPUT in the format its extension names, keeping the image as
    decoded: mode, palette, transparency and every pixel (plus resolution, ICC profile and Exif when
    the input has them). An input of several frames (an animated GIF, a multi-page TIFF) is refused:
    one PNG holds one image, and keeping only the first frame would lose the others.
``preview``
    An 8-bit greyscale PNG preview of a FITS file: the first HDU with image data of two or more
    dimensions (the first plane of a cube), NaNs black, values scaled linearly between the 0.5th and
    99.5th percentiles of the finite values; FITS puts the first row at the bottom, PNG at the top,
    so the rows are flipped.

Why a separate process: the caller runs every rule the same way, under the rule's timeout, and a
decoder that crashes or runs out of memory on a hostile file takes only this process with it.

Exit status: 0 when OUTPUT was written; 2 with one line on stderr, naming the file and the problem,
when the input cannot be read or converted (nothing is left at OUTPUT then).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: What a decoder raises on a corrupt or truncated file (Pillow's UnidentifiedImageError is an
#: OSError; its plugins raise SyntaxError on bad headers and EOFError past the last frame).
_READ_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, SyntaxError, EOFError, IndexError)
#: What astropy raises on a damaged FITS file, besides OSError ("Empty or corrupt FITS file").
_FITS_ERRORS: tuple[type[Exception], ...] = (*_READ_ERRORS, TypeError, KeyError)


class Refused(Exception):
    """The input cannot be converted; the message is the one line printed on stderr."""


def _convert(source: Path, output: Path) -> None:
    """Pillow: ``source`` re-encoded in the format of ``output``'s extension, pixels unchanged."""
    from PIL import Image

    image_format = Image.registered_extensions().get(output.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise Refused(f"{output.name}: Pillow cannot write a file with the extension {output.suffix!r}")
    try:
        with Image.open(source) as image:
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise Refused(
                    f"{source.name}: {frames} frames (an animation or several pages); a single "
                    f"{image_format} image cannot hold them, and keeping the first would lose the others"
                )
            image.load()
            params: dict[str, Any] = {}
            # Pillow writes only what it is given, apart from transparency: carry the rest over.
            for key in ("dpi", "icc_profile", "exif"):
                if image.info.get(key):
                    params[key] = image.info[key]
            try:
                image.save(output, format=image_format, **params)
            except (OSError, ValueError, KeyError) as exc:
                raise Refused(
                    f"{source.name}: cannot be written as {image_format} (mode {image.mode}): {exc}"
                ) from exc
    except Image.DecompressionBombError as exc:
        raise Refused(f"{source.name}: refused as too large to decode safely: {exc}") from exc
    except _READ_ERRORS as exc:
        raise Refused(f"{source.name}: cannot be read as an image: {exc}") from exc


def image_hdu(hdus: Any) -> tuple[int, Any] | None:
    """The first HDU of an open FITS file that holds image data of two or more dimensions.

    Args:
        hdus: an ``astropy.io.fits.HDUList``.

    Returns:
        (its index, the HDU), or None if there is none. Only headers are read.
    """
    from astropy.io import fits

    for index, hdu in enumerate(hdus):
        # Random groups are a primary HDU in astropy's classes, but not an image.
        if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU) or isinstance(
            hdu, fits.GroupsHDU
        ):
            continue
        shape = tuple(hdu.shape)
        if len(shape) >= 2 and all(n > 0 for n in shape):
            return index, hdu
    return None


def _preview(source: Path, output: Path) -> None:
    """astropy: an 8-bit greyscale preview of a FITS file's first image."""
    import numpy as np
    from astropy.io import fits
    from PIL import Image

    try:
        with fits.open(source, memmap=True) as hdus:
            found = image_hdu(hdus)
            if found is None:
                raise Refused(f"{source.name}: no HDU holds image data of two or more dimensions")
            index, hdu = found
            data = hdu.data
            if data is None:
                raise Refused(f"{source.name}: HDU {index} declares image data but holds none")
            while data.ndim > 2:
                data = data[0]
            plane = np.asarray(data, dtype=np.float64)
    except _FITS_ERRORS as exc:
        raise Refused(f"{source.name}: cannot be read as FITS: {exc}") from exc
    finite = np.isfinite(plane)
    grey = np.zeros(plane.shape, dtype=np.uint8)
    if finite.any():
        low, high = np.percentile(plane[finite], [0.5, 99.5])
        if high > low:
            scaled = (np.clip(plane[finite], low, high) - low) * (255.0 / (high - low))
            grey[finite] = np.rint(scaled).astype(np.uint8)
        else:
            # A flat image: mid-grey, so that it is not mistaken for one without data (black).
            grey[finite] = 128
    try:
        Image.fromarray(np.ascontiguousarray(np.flipud(grey))).save(output, format="PNG")
    except (OSError, ValueError) as exc:
        raise Refused(f"{output.name}: cannot be written: {exc}") from exc


CONVERTERS: dict[str, Callable[[Path, Path], None]] = {"convert": _convert, "preview": _preview}


def main(argv: Sequence[str]) -> int:
    """Run one converter: ``NAME INPUT OUTPUT``.

    Args:
        argv: the arguments after the module name.

    Returns:
        0 when the output was written; 2 (with one line on stderr) when the arguments are wrong or
        the input cannot be converted.
    """
    known = ", ".join(sorted(CONVERTERS))
    if len(argv) != 3:
        print(f"usage: python -m oais.adapters.converters {{{known}}} INPUT OUTPUT", file=sys.stderr)
        return 2
    name, source, output = argv[0], Path(argv[1]), Path(argv[2])
    converter = CONVERTERS.get(name)
    if converter is None:
        print(f"unknown converter {name!r}; known converters: {known}", file=sys.stderr)
        return 2
    try:
        converter(source, output)
    except Refused as exc:
        output.unlink(missing_ok=True)
        print(str(exc), file=sys.stderr)
        return 2
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
