"""What format identification tells a user about the files of a SIP, fed the way the copier feeds it."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from oais.adapters.formats.fido_identifier import BUFSIZE, FidoIdentifier
from oais.domain.errors import ToolError
from oais.domain.packages import FormatFacts
from tests.support import fits_files

# --- sample files -------------------------------------------------------------------------------


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid, tiny greyscale PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + bytes(range(width)) for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    """A minimal PDF 1.4 document (header and trailer are what identification looks at)."""
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx() -> bytes:
    """A zip holding what makes Word 2007+ recognisable (its content-types part)."""
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    return zipped({"[Content_Types].xml": content_types, "word/document.xml": b"<w:document/>"})


def odt() -> bytes:
    manifest = (
        b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        b'<manifest:file-entry manifest:full-path="/" '
        b'manifest:media-type="application/vnd.oasis.opendocument.text"/></manifest:manifest>'
    )
    return zipped({"mimetype": b"application/vnd.oasis.opendocument.text", "META-INF/manifest.xml": manifest})


def tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("readme.txt")
        info.size = 5
        info.mtime = 0
        archive.addfile(info, io.BytesIO(b"hello"))
    return buffer.getvalue()


def sample_files() -> list[tuple[str, bytes]]:
    """(name, bytes) of the kinds of files a space-science SIP holds, and some awkward ones."""
    return [
        ("notes.txt", b"Calibration notes\nrun 42: nominal\n"),
        ("housekeeping.csv", b"time,temperature\n2024-01-01T00:00:00,21.5\n2024-01-01T00:01:00,21.6\n"),
        ("meta.json", b'{"mission": "omega", "orbit": 42}\n'),
        ("label.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<label><orbit>42</orbit></label>\n'),
        ("doc.pdf", pdf()),
        ("quicklook.png", png()),
        (
            "photo.jpg",
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"
            + b"\0" * 64
            + b"\xff\xd9",
        ),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
        ("scan.tif", b"II*\x00\x08\x00\x00\x00" + b"\0" * 64),
        ("image.fits", fits_files.primary_image()),
        ("cube.fits", fits_files.cube()),
        ("mef.fits", fits_files.multi_extension()),
        ("data.h5", b"\x89HDF\r\n\x1a\n\x00" + b"\0" * 200),
        (
            "image.jp2",
            b"\x00\x00\x00\x0cjP  \r\n\x87\n\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 " + b"\0" * 64,
        ),
        ("archive.zip", zipped({"a.txt": b"hello"})),
        ("report.docx", docx()),
        ("report.odt", odt()),
        ("archive.gz", gzip.compress(b"hello world", mtime=0)),
        ("archive.tar", tar_bytes()),
        ("empty.txt", b""),
        ("empty", b""),
        ("one.bin", b"\x00"),
        ("mystery", bytes(range(256)) * 4),
    ]


# --- feeding ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identifier() -> FidoIdentifier:
    return FidoIdentifier()


def chunks_over_reused_buffer(data: bytes, size: int) -> Iterator[memoryview]:
    """Chunks as the copier gives them: views over one buffer that is overwritten each time."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        buffer[: len(piece)] = piece
        yield view[: len(piece)]
        buffer[:] = b"\xee" * size  # a careless probe that kept the view would now see garbage


def identify(identifier: FidoIdentifier, name: str, data: bytes, chunk: int = 4 << 20) -> FormatFacts:
    def reopen() -> BinaryIO:
        return io.BytesIO(data)

    probe = identifier.start(name, len(data), reopen)
    for piece in chunks_over_reused_buffer(data, chunk):
        probe.feed(piece)
    return probe.finish()


# --- what users see -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "puid", "mime", "basis"),
    [
        ("doc.pdf", "fmt/18", "application/pdf", "signature"),
        ("quicklook.png", "fmt/11", "image/png", "signature"),
        ("housekeeping.csv", "x-fmt/18", "text/csv", "extension"),
        ("notes.txt", "x-fmt/111", "text/plain", "extension"),
        ("image.fits", "x-fmt/383", "application/fits", "signature"),
        ("cube.fits", "x-fmt/383", "application/fits", "signature"),
        ("mef.fits", "x-fmt/383", "application/fits", "signature"),
        ("image.jp2", "x-fmt/392", "image/jp2", "signature"),
        ("data.h5", "fmt/807", "application/x-hdf5", "signature"),
        ("archive.zip", "x-fmt/263", "application/zip", "signature"),
        (
            "report.docx",
            "fmt/412",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "container",
        ),
        ("archive.gz", "x-fmt/266", "application/gzip", "signature"),
    ],
)
def test_common_formats_get_their_puid_mime_type_and_basis(
    identifier: FidoIdentifier, name: str, puid: str, mime: str, basis: str
) -> None:
    data = dict(sample_files())[name]
    facts = identify(identifier, name, data)
    assert (facts.puid, facts.mime_type, facts.basis) == (puid, mime, basis)
    assert facts.issues == ()
    assert facts.tool == "fido 1.6.1 (PRONOM v109)"


def test_odt_is_recognised_inside_its_zip_container(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "report.odt", odt())
    assert facts.basis == "container"
    assert facts.name == "OpenDocument Text"


def test_container_without_reopen_is_identified_by_its_signature(identifier: FidoIdentifier) -> None:
    probe = identifier.start("report.docx", len(docx()))
    probe.feed(docx())
    facts = probe.finish()
    assert (facts.puid, facts.basis) == ("x-fmt/263", "signature")


def test_corrupt_container_falls_back_to_its_signature(identifier: FidoIdentifier) -> None:
    data = docx()
    broken = data[:40] + b"\0" * 200 + data[240:]  # the local file data no longer inflates
    facts = identify(identifier, "broken.docx", broken)
    assert facts.basis in ("signature", "extension")


def test_zero_byte_file_is_identified_by_its_extension_like_fido(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "empty.txt", b"")
    assert (facts.puid, facts.basis, facts.mime_type) == ("x-fmt/111", "extension", "text/plain")


def test_unknown_bytes_without_a_known_extension_are_reported_unidentified(
    identifier: FidoIdentifier,
) -> None:
    facts = identify(identifier, "mystery", bytes(range(256)) * 4)
    assert facts.puid is None
    assert facts.name == "Unknown"
    assert facts.mime_type == "application/octet-stream"
    assert facts.basis == "none"
    assert [i.code for i in facts.issues] == ["FMT-W001"]
    assert facts.issues[0].path == "mystery"


def test_empty_file_without_extension_is_unidentified(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "data/empty", b"")
    assert (facts.puid, [i.code for i in facts.issues]) == (None, ["FMT-W001"])


@pytest.mark.parametrize("chunk", [1, 7, 2880, 4 << 20])
def test_chunk_size_does_not_change_any_result(identifier: FidoIdentifier, chunk: int) -> None:
    large_pdf = b"%PDF-1.4\n" + bytes(range(256)) * 1200 + b"\ntrailer\n<<>>\n%%EOF\n"  # > 2 x 128 KiB
    large_fits = fits_files.primary_image(shape=(300, 300), bitpix=16)  # 180 KiB
    truncated_fits = large_fits[:-5000]
    files = [*sample_files(), ("big.pdf", large_pdf), ("big.fits", large_fits), ("cut.fits", truncated_fits)]
    if chunk == 1:
        files = [(n, d) for n, d in files if len(d) < 200_000 or n == "cut.fits"]
    for name, data in files:
        assert identify(identifier, name, data, chunk) == identify(identifier, name, data), name


def test_probe_keeps_fidos_head_and_tail_buffers(identifier: FidoIdentifier) -> None:
    data = bytes(i % 253 for i in range(3 * BUFSIZE + 11))
    for size in (BUFSIZE - 1, BUFSIZE, BUFSIZE + 1, 2 * BUFSIZE, len(data)):
        for chunk in (1000, BUFSIZE, 4 << 20):
            if chunk == 1000 and size > 2 * BUFSIZE:
                continue
            probe = identifier.start("x.bin", size)
            for piece in chunks_over_reused_buffer(data[:size], chunk):
                probe.feed(piece)
            bof, eof = probe.buffers()
            assert bof == data[: min(size, BUFSIZE)]
            assert eof == data[max(0, size - BUFSIZE) : size]


def test_identifier_survives_pickling_without_carrying_signatures(identifier: FidoIdentifier) -> None:
    pickled = pickle.dumps(identifier)
    assert len(pickled) < 2000  # names of signature files, not the signatures
    clone = pickle.loads(pickled)
    for name, data in sample_files():
        assert identify(clone, name, data) == identify(identifier, name, data)


def test_missing_fido_configuration_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"versions\.xml"):
        FidoIdentifier(conf_dir=str(tmp_path))


def test_signature_file_named_but_absent_is_a_tool_error(tmp_path: Path) -> None:
    (tmp_path / "versions.xml").write_text(
        "<versions><pronomVersion>999</pronomVersion><pronomSignature>formats-v999.xml</pronomSignature>"
        "<pronomContainerSignature>c.xml</pronomContainerSignature>"
        "<fidoExtensionSignature>format_extensions.xml</fidoExtensionSignature></versions>"
    )
    with pytest.raises(ToolError, match=r"formats-v999\.xml"):
        FidoIdentifier(conf_dir=str(tmp_path))


# --- FITS validation through identification -----------------------------------------------------


def test_valid_fits_files_have_no_issues(identifier: FidoIdentifier) -> None:
    for data in (fits_files.multi_extension(), fits_files.empty_primary(), fits_files.cube()):
        assert identify(identifier, "obs/image.fits", data).issues == ()


def test_fits_named_file_with_broken_header_is_caught(identifier: FidoIdentifier) -> None:
    data = fits_files.delete_card(fits_files.multi_extension(), 4)  # NAXIS2 of the primary
    facts = identify(identifier, "obs/image.fits", data)
    assert facts.puid == "x-fmt/383"
    assert [i.code for i in facts.issues][:1] == ["FMT-E001"]
    assert "HDU 1 card 5: NAXIS2 missing" in facts.issues[0].message
    assert facts.issues[0].path == "obs/image.fits"


def test_fits_named_file_that_is_not_fits_is_an_error(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "obs/image.fits", png())
    assert facts.puid == "fmt/11"
    assert [i.code for i in facts.issues] == ["FMT-E001"]
    assert "not a FITS file" in facts.issues[0].message


def test_fits_without_fits_name_is_still_validated(identifier: FidoIdentifier) -> None:
    truncated = fits_files.multi_extension()[:-100]
    facts = identify(identifier, "obs/image.dat", truncated)
    assert facts.puid == "x-fmt/383"
    assert [i.code for i in facts.issues] == ["FMT-E001"]


def test_gzipped_fits_is_not_validated_as_fits(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "obs/image.fits.gz", gzip.compress(fits_files.cube(), mtime=0))
    assert facts.puid == "x-fmt/266"
    assert facts.issues == ()


def test_text_starting_with_simple_is_not_validated_as_fits(identifier: FidoIdentifier) -> None:
    facts = identify(identifier, "notes.txt", b"SIMPLE things first\n")
    assert facts.puid == "x-fmt/111"
    assert facts.issues == ()
