"""How much faster is oais's signature matching than fido's, for the same answers?

Not a test: run it by hand and read the ratios.

    .venv/bin/python bench/fido_matching.py [--files 500]

For two corpora (1 KiB random files, which no signature matches: fido's worst and commonest case in
a large ingest; and a mix of text, CSV, JSON, XML, PDF, PNG, JPEG, FITS, HDF5 and zip files) it
times, per file:

* ``fido match_formats``: fido's own matcher on the head/tail buffers (the library call);
* ``oais match``: SignatureIndex.match on the same buffers (the same result, checked here too);
* ``oais probe``: the whole FidoIdentifier probe (buffers, matching, extension fallback, FITS check);
* ``fido command``: the ``fido`` command run once over all the files (start-up included, divided
  by the number of files), which is what a bagit-python + fido pipeline pays.
"""

from __future__ import annotations

import argparse
import random
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from oais.adapters.formats.fido_identifier import BUFSIZE, FidoIdentifier
from oais.adapters.formats.signatures import SignatureIndex


def fits(rnd: random.Random) -> bytes:
    cards = [
        "SIMPLE  =                    T",
        "BITPIX  =                   16",
        "NAXIS   =                    2",
    ]
    cards += ["NAXIS1  =                   10", "NAXIS2  =                   10", "END"]
    head = b"".join(c.ljust(80).encode() for c in cards).ljust(2880, b" ")
    return head + rnd.randbytes(200).ljust(2880, b"\0")


def png(rnd: random.Random) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rnd.randbytes(72)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def zipped(rnd: random.Random) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", rnd.randbytes(100).hex())
    return buffer.getvalue()


MIXED: list[tuple[str, Callable[[random.Random], bytes]]] = [
    ("txt", lambda r: f"reading {r.random()}\n".encode() * 20),
    ("csv", lambda r: b"t,v\n" + b"".join(f"{i},{r.random():.4f}\n".encode() for i in range(40))),
    ("json", lambda r: f'{{"value": {r.random()}}}'.encode()),
    ("xml", lambda r: f'<?xml version="1.0"?>\n<v>{r.random()}</v>\n'.encode()),
    ("pdf", lambda r: b"%PDF-1.4\n" + r.randbytes(900) + b"\ntrailer\n<<>>\n%%EOF\n"),
    ("png", png),
    ("jpg", lambda r: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x02" + r.randbytes(1000) + b"\xff\xd9"),
    ("fits", fits),
    ("h5", lambda r: b"\x89HDF\r\n\x1a\n\x00" + r.randbytes(1000)),
    ("zip", zipped),
    ("bin", lambda r: r.randbytes(1024)),
]


def make_corpus(kind: str, count: int, folder: Path) -> list[Path]:
    rnd = random.Random(42)
    paths = []
    for i in range(count):
        if kind == "random":
            name, data = f"f{i:06d}.dat", rnd.randbytes(1024)
        else:
            extension, build = MIXED[i % len(MIXED)]
            name, data = f"f{i:06d}.{extension}", build(rnd)
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def per_file(action: Callable[[], None], count: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best / count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=500, help="files per corpus (default 500)")
    args = parser.parse_args()

    from fido.fido import Fido

    identifier = FidoIdentifier()
    files = identifier.files
    # fido's constructor enlarges re's cache so its expressions stay compiled: keep it for fairness.
    engine: Any = Fido(quiet=True, conf_dir=files.conf_dir, format_files=[files.pronom, files.extensions])
    start = time.perf_counter()
    index = SignatureIndex(engine.formats)
    build_time = time.perf_counter() - start
    fido_cmd = str(Path(sys.executable).with_name("fido"))
    print(f"{identifier.tool}; index built in {build_time * 1000:.0f} ms (once per process)")
    print(
        f"{'corpus':<8} {'files':>6} {'fido match_formats':>19} {'oais match':>11} {'oais probe':>11} "
        f"{'fido command':>13} {'x vs match_formats':>19} {'x vs command':>13}"
    )

    for kind in ("random", "mixed"):
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_corpus(kind, args.files, Path(tmp))
            contents = [(p.name, p.read_bytes()) for p in paths]
            bufs = [(d[:BUFSIZE], d[-BUFSIZE:] if len(d) > BUFSIZE else d[:BUFSIZE]) for _, d in contents]
            for bof, eof in bufs:  # same answers, or the figures mean nothing
                theirs = [(f.findtext("puid"), s) for f, s in engine.match_formats(bof, eof)]
                assert [(m.format.puid, m.signature) for m in index.match(bof, eof)] == theirs

            def fido_match(bufs: list[tuple[bytes, bytes]] = bufs) -> None:
                for bof, eof in bufs:
                    engine.match_formats(bof, eof)

            def oais_match(bufs: list[tuple[bytes, bytes]] = bufs) -> None:
                for bof, eof in bufs:
                    index.match(bof, eof)

            def oais_probe(contents: list[tuple[str, bytes]] = contents) -> None:
                for name, data in contents:
                    probe = identifier.start(name, len(data), partial(BytesIO, data))
                    probe.feed(data)
                    probe.finish()

            def fido_command(paths: list[Path] = paths) -> None:
                subprocess.run([fido_cmd, "-q", *map(str, paths)], check=True, capture_output=True)

            oais_probe()  # load the signatures in this process before timing
            t_fido = per_file(fido_match, len(bufs), repeat=1)
            t_match = per_file(oais_match, len(bufs))
            t_probe = per_file(oais_probe, len(contents))
            t_cmd = per_file(fido_command, len(paths), repeat=1)
            print(
                f"{kind:<8} {len(paths):>6} {t_fido * 1e3:>16.3f} ms {t_match * 1e3:>8.3f} ms "
                f"{t_probe * 1e3:>8.3f} ms {t_cmd * 1e3:>10.3f} ms {t_fido / t_match:>18.1f}x "
                f"{t_cmd / t_probe:>12.1f}x"
            )
    print("x vs match_formats = fido match_formats / oais match; x vs command = fido command / oais probe")


if __name__ == "__main__":
    main()
