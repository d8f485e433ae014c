"""The fast signature matcher gives exactly fido's ``match_formats`` result, on a wide corpus.

The corpus has ordinary files (text, CSV, JSON, XML, PDF, PNG, JPEG, GIF, TIFF, FITS, HDF5, JP2,
zip, gzip, tar), edge cases (empty, 1 byte, random bytes, large buffers) and buffers synthesised
from fido's own signature file: for a sample of formats, a buffer that carries the literal bytes
each pattern needs (at their fixed offsets, or anywhere) so that those signatures are tried, and a
copy with one byte changed so that they are nearly but not quite met.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from oais.adapters.formats.fido_identifier import FidoIdentifier
from oais.adapters.formats.signatures import SignatureIndex, analyse_regex
from tests.unit.test_formats_identifier import sample_files

BUFSIZE = 128 * 1024


@pytest.fixture(scope="module")
def fido_engine() -> Iterator[Any]:
    from fido.fido import Fido

    files = FidoIdentifier().files
    # fido enlarges re's global cache so that its ~2,300 expressions stay compiled (without it
    # match_formats recompiles them on every call); restore it for the other tests.
    saved = re._MAXCACHE  # type: ignore[attr-defined]
    try:
        yield Fido(quiet=True, conf_dir=files.conf_dir, format_files=[files.pronom, files.extensions])
    finally:
        re._MAXCACHE = saved  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def index(fido_engine: Any) -> SignatureIndex:
    return SignatureIndex(fido_engine.formats)


def fido_result(engine: Any, bof: bytes, eof: bytes) -> list[tuple[str, str]]:
    return [(f.findtext("puid"), name) for f, name in engine.match_formats(bof, eof)]


def our_result(index: SignatureIndex, bof: bytes, eof: bytes) -> list[tuple[str, str]]:
    return [(m.format.puid, m.signature) for m in index.match(bof, eof)]


def buffers(data: bytes) -> tuple[bytes, bytes]:
    """fido's get_buffers: first and last 128 KiB (the whole file when smaller)."""
    if len(data) <= BUFSIZE:
        return data, data
    return data[:BUFSIZE], data[-BUFSIZE:]


def synthesised(engine: Any, sample: int, seed: int) -> list[bytes]:
    """Buffers built from the literal bytes of the signatures of every ``sample``-th format."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    formats = [f for f in engine.formats if f.find("signature") is not None]
    for element in formats[::sample]:
        for sig in element.findall("signature"):
            head = bytearray(rnd.choice([b"\0", b" ", b"\xff"]) * 64)
            middle = bytearray()
            tail = bytearray()
            for pat in sig.findall("pattern"):
                regex = re.compile(pat.findtext("regex").encode("utf8"))
                analysed = analyse_regex(pat.findtext("position"), regex)
                for offset, literal in analysed.fixed:
                    if len(head) < offset + len(literal):
                        head.extend(b"\0" * (offset + len(literal) - len(head)))
                    head[offset : offset + len(literal)] = literal
                if analysed.position == "EOF":
                    tail += analysed.substring
                elif not analysed.fixed:
                    middle += analysed.substring
            data = bytes(head + middle + tail)
            out.append(data)
            if data:
                broken = bytearray(data)
                broken[rnd.randrange(len(broken))] ^= 0x5A
                out.append(bytes(broken))
    return out


def corpus(engine: Any) -> list[bytes]:
    rnd = random.Random(20240601)
    items = [data for _, data in sample_files()]
    items += [b"", b"\0", b"A", b"\x89", b"%", b"<", b"PK", b"\xff\xd8"]
    items += [rnd.randbytes(size) for size in (2, 16, 100, 1024, 1024, 1024, 4096, 65536)]
    items += [rnd.randbytes(BUFSIZE - 1), rnd.randbytes(BUFSIZE + 1), rnd.randbytes(3 * BUFSIZE + 17)]
    # Large files whose signatures are at both ends (PDF header and trailer 400 KiB apart).
    items.append(b"%PDF-1.4\n" + rnd.randbytes(400_000) + b"\ntrailer\n<<>>\n%%EOF\n")
    items += synthesised(engine, sample=10, seed=7)
    return items


def test_matcher_gives_fidos_result_on_every_corpus_buffer(fido_engine: Any, index: SignatureIndex) -> None:
    items = corpus(fido_engine)
    assert len(items) > 400
    identified = 0
    for data in items:
        bof, eof = buffers(data)
        expected = fido_result(fido_engine, bof, eof)
        assert our_result(index, bof, eof) == expected, data[:64]
        identified += bool(expected)
    # The corpus exercises the signatures: most of it is recognised by something.
    assert identified > len(items) // 2


def test_matcher_gives_fidos_result_on_random_bof_eof_pairs(fido_engine: Any, index: SignatureIndex) -> None:
    # bof and eof differ (files larger than the buffers): signatures needing both ends.
    rnd = random.Random(3)
    heads = [data for _, data in sample_files() if data]
    for _ in range(60):
        bof = rnd.choice(heads)[:BUFSIZE]
        eof = rnd.choice(heads)[-BUFSIZE:]
        assert our_result(index, bof, eof) == fido_result(fido_engine, bof, eof)


@pytest.mark.parametrize(
    "name",
    ["a.txt", "b.CSV", "c.fits", "d.fit", "e.h5", "f.dat", "g.bin", "noextension", "h.unknownext", ".hidden"],
)
def test_extension_fallback_gives_fidos_result(fido_engine: Any, index: SignatureIndex, name: str) -> None:
    expected = [(f.findtext("puid"), s) for f, s in fido_engine.match_extensions(name)]
    assert [(m.format.puid, m.signature) for m in index.match_extension(name)] == expected


def test_every_regex_is_analysed_without_losing_a_signature(index: SignatureIndex) -> None:
    # A condition derived from a signature must hold for the data the signature was built from:
    # the synthesised buffer of the PNG signature is still matched as PNG.
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"\0" * 17 + b"\0\0\0\0IEND\xaeB\x60\x82"
    assert "fmt/11" in [m.format.puid for m in index.match(png, png)]
