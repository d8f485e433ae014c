"""Regenerate the sample SIP ``examples/omega-orbit-0042/`` (small, space-science-like).

The files are made byte-for-byte reproducibly: FITS images and a binary table written by hand
following the FITS Standard 4.0, a PNG quick-look, a one-page PDF, a CSV housekeeping table and a
README, in nested folders, one with a non-ASCII name. Run: ``python examples/make_sample_sip.py``.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "omega-orbit-0042"
BLOCK = 2880


def card(key: str, value: str | None = None, comment: str = "") -> bytes:
    """One 80-character header card (fixed format for numbers and logicals)."""
    if key == "END":
        text = "END"
    elif value is None:
        text = f"{key:<8}{comment}"
    else:
        text = f"{key:<8}= {value:>20}" + (f" / {comment}" if comment else "")
    return text[:80].ljust(80).encode("ascii")


def string(value: str) -> str:
    """A FITS character string value, left-justified in quotes (at least 8 characters)."""
    return f"'{value.replace(chr(39), chr(39) * 2):<8}'".ljust(20)


def pad(data: bytes, fill: bytes = b"\0") -> bytes:
    return data + fill * (-len(data) % BLOCK)


def header(cards: list[bytes]) -> bytes:
    return pad(b"".join([*cards, card("END")]), b" ")


def image_hdu(width: int, height: int, depth: int, seed: int) -> bytes:
    cards = [
        card("SIMPLE", "T", "conforms to the FITS Standard 4.0"),
        card("BITPIX", "16", "signed 16-bit integers"),
        card("NAXIS", "3" if depth > 1 else "2"),
        card("NAXIS1", str(width), "spectral samples"),
        card("NAXIS2", str(height), "cross-track pixels"),
    ]
    if depth > 1:
        cards.append(card("NAXIS3", str(depth), "along-track lines"))
    cards += [
        card("EXTEND", "T"),
        card("ORIGIN", string("IAS")),
        card("TELESCOP", string("MEX"), "Mars Express"),
        card("INSTRUME", string("OMEGA")),
        card("OBJECT", string("MARS")),
        card("ORBIT", "42"),
        card("DATE-OBS", string("2004-01-18T12:00:00")),
        card("BUNIT", string("DN")),
    ]
    values = []
    for k in range(depth):
        for j in range(height):
            for i in range(width):
                values.append(int(1000 + 800 * math.sin((i + seed) / 7.0) * math.cos((j + k) / 5.0)))
    data = struct.pack(f">{len(values)}h", *values)
    return header(cards) + pad(data)


def table_hdu() -> bytes:
    rows = [(t, 180.0 + 0.5 * t, 0.01 * t) for t in range(16)]
    cards = [
        card("XTENSION", string("BINTABLE"), "binary table extension"),
        card("BITPIX", "8"),
        card("NAXIS", "2"),
        card("NAXIS1", "24", "bytes per row"),
        card("NAXIS2", str(len(rows))),
        card("PCOUNT", "0"),
        card("GCOUNT", "1"),
        card("TFIELDS", "3"),
        card("TTYPE1", string("TIME")),
        card("TFORM1", string("1D")),
        card("TUNIT1", string("s")),
        card("TTYPE2", string("DETTEMP")),
        card("TFORM2", string("1D")),
        card("TUNIT2", string("K")),
        card("TTYPE3", string("DARK")),
        card("TFORM3", string("1D")),
        card("EXTNAME", string("HOUSEKEEPING")),
    ]
    data = b"".join(struct.pack(">3d", *r) for r in rows)
    return header(cards) + pad(data)


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(
        b"\0" + bytes(int(127 + 120 * math.sin((x + y) / 6.0)) for x in range(width)) for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for n, obj in enumerate(objects, 1):
        offsets.append(len(body))
        body += f"{n} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    body += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return body


def main() -> None:
    files: dict[str, bytes] = {
        "README.txt": (
            b"OMEGA (Mars Express) calibrated cubes, orbit 0042.\n"
            b"Submitted by the IAS / OMEGA team for long-term preservation.\n"
        ),
        "cubes/ORB0042_1.fits": image_hdu(32, 16, 8, seed=1),
        "cubes/ORB0042_2.fits": image_hdu(32, 16, 8, seed=2) + table_hdu(),
        "cubes/calibration/dark_current.fits": image_hdu(16, 16, 1, seed=3),
        "quicklook/ORB0042_1.png": png(64, 48),
        "documents/OMEGA_EAICD.pdf": pdf("OMEGA Experiment-to-Archive Interface Control Document"),
        "housekeeping/temperatures.csv": (
            "time_s,detector_temperature_K,dark_level_DN\n"
            + "".join(f"{t},{180 + 0.5 * t:.1f},{0.01 * t:.2f}\n" for t in range(16))
        ).encode("ascii"),
        "documents/étalonnage spectral – notes.txt": (
            "Étalonnage spectral : décalage de 0,3 nm corrigé sur les voies C et L.\n"
        ).encode(),
    }
    for rel, data in files.items():
        path = ROOT / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} files under {ROOT}")


if __name__ == "__main__":
    main()
