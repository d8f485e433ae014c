"""PRONOM format identification with fido's signatures, offline, on bytes seen once; FITS validation.

:class:`FidoIdentifier` implements :class:`oais.domain.ports.FormatIdentifier`. It is created once
(in the parent process) and pickled to the copier's workers; it only carries the names of the
signature files, and each process loads them on its first :meth:`FidoIdentifier.start` into a
module-level cache keyed by those names. Nothing is read at import time.

Which signature files: fido's library default names ``formats-v104.xml``, which fido 1.6.1 does not
ship; the ``fido`` command reads ``conf/versions.xml`` instead, and so do we (via
``fido.versions.get_local_versions``), loading the PRONOM file it names plus fido's own
``format_extensions.xml``, exactly like the command without ``-pronom_only``.

What a probe does, mirroring ``fido.Fido.identify_file``:

1. keep the first and the last 128 KiB of the file (the whole file when it is smaller), as fido's
   ``get_buffers`` does, and match them with :class:`~oais.adapters.formats.signatures.SignatureIndex`
   (fido's ``match_formats``, much faster, same result);
2. if a match is a zip or OLE2 container (fido's rule: a ``<container>`` element, or fmt/111), reopen
   the file and run fido's container signatures; any container match wins (basis "container");
3. otherwise signature matches of a non-empty file (basis "signature"); otherwise, like fido, the
   formats listing the file's extension (basis "extension"); otherwise nothing (FMT-W001).

fido may report several matches that its priority rules cannot order. We pick one, deterministically:
the first match whose format lists the file's extension, else the first match in fido's own output
order (the order of the signature file). That is always one of the PUIDs the ``fido`` command prints.

FITS files (identified as FITS, or named ``*.fits``, ``*.fit``, ``*.fts`` whatever fido found) are
validated as the bytes pass by :class:`~oais.adapters.formats.fits.FitsChecker`; its issues go into
``FormatFacts.issues``.
"""

from __future__ import annotations

import lzma
import os
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree

from oais.adapters.formats.fits import FitsChecker, is_fits_name
from oais.adapters.formats.mime import OCTET_STREAM, mime_type
from oais.adapters.formats.signatures import Format, Match, SignatureIndex
from oais.domain.errors import ToolError
from oais.domain.issues import Issue, issue
from oais.domain.packages import FormatFacts

#: fido's buffer size: regular expressions see the first and last this many bytes.
BUFSIZE = 128 * 1024
#: PUIDs of FITS in PRONOM; formats named "Flexible Image Transport System..." are added at load.
FITS_PUIDS = frozenset({"x-fmt/383"})

# What a corrupt zip or OLE2 file may raise inside fido's container readers (zipfile, olefile):
# a property of the file, not a failure of the tool, so identification falls back to signatures.
_CORRUPT_CONTAINER = (
    OSError,
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


@dataclass(frozen=True)
class SignatureFiles:
    """Which signature files to load: the key of the per-process cache."""

    conf_dir: str
    pronom_version: str
    pronom: str  # fido's format file for that PRONOM version
    extensions: str | None  # fido's own format_extensions.xml (None: PRONOM only)
    containers: str  # PRONOM container signature file


@dataclass(frozen=True)
class _Loaded:
    index: SignatureIndex
    zip_signatures: dict[str, Any]
    ole_signatures: dict[str, Any]
    fits_puids: frozenset[str]
    tool: str


_CACHE: dict[SignatureFiles, _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def _fido() -> Any:
    """fido's modules, imported only when signatures are needed (importing fido is not free)."""
    import fido
    import fido.fido
    import fido.package
    import fido.versions

    return fido


def _load(files: SignatureFiles) -> _Loaded:
    """Parse the signature files once per process.

    Raises:
        ToolError: if a signature file is missing or cannot be parsed.
    """
    with _CACHE_LOCK:
        loaded = _CACHE.get(files)
        if loaded is not None:
            return loaded
        fido = _fido()
        format_files = [files.pronom] + ([files.extensions] if files.extensions else [])
        # fido enlarges the re module's global cache as a side effect; put it back as it was.
        saved_cache_size = getattr(re, "_MAXCACHE", None)
        try:
            engine = fido.fido.Fido(quiet=True, conf_dir=files.conf_dir, format_files=format_files)
            container_doc = ElementTree.parse(os.path.join(files.conf_dir, files.containers))
            zip_signatures = engine.extract_signatures(container_doc, signature_type="ZIP")
            ole_signatures = engine.extract_signatures(container_doc, signature_type="OLE2")
        except (OSError, ElementTree.ParseError, SystemExit) as exc:
            # fido calls sys.exit(1) on a malformed signature file.
            raise ToolError(f"fido signature files in {files.conf_dir} cannot be loaded: {exc}") from exc
        finally:
            if saved_cache_size is not None:
                re._MAXCACHE = saved_cache_size  # type: ignore[attr-defined]
        index = SignatureIndex(engine.formats)
        fits_puids = FITS_PUIDS | {
            f.puid for f in index.formats if f.name.startswith("Flexible Image Transport System")
        }
        loaded = _Loaded(
            index=index,
            zip_signatures=zip_signatures,
            ole_signatures=ole_signatures,
            fits_puids=frozenset(fits_puids),
            tool=f"fido {fido.__version__} (PRONOM v{files.pronom_version})",
        )
        _CACHE[files] = loaded
        return loaded


class FidoIdentifier:
    """PRONOM identification with fido's shipped signatures, plus FITS validation.

    Picklable: it carries only the signature file names; each process loads the signatures once,
    on its first :meth:`start`.

    Args:
        conf_dir: fido's configuration directory (default: the one fido ships).
        pronom_only: leave out fido's own format_extensions.xml (the ``-pronom_only`` option).
        containers: look inside zip and OLE2 files with container signatures (fido's default).

    Raises:
        ToolError: if ``conf_dir`` has no usable ``versions.xml`` or a file it names is missing.
    """

    def __init__(
        self, conf_dir: str | Path | None = None, *, pronom_only: bool = False, containers: bool = True
    ) -> None:
        fido = _fido()
        directory = os.path.abspath(conf_dir if conf_dir is not None else fido.CONFIG_DIR)
        versions_file = os.path.join(directory, "versions.xml")
        if not os.path.isfile(versions_file):
            raise ToolError(f"fido configuration {versions_file} not found")
        try:
            versions = fido.versions.get_local_versions(directory)
            pronom_version = versions.pronom_version
            pronom = versions.pronom_signature
            container_file = versions.pronom_container_signature
            extensions = None if pronom_only else versions.fido_extension_signature
        except AttributeError as exc:  # an element missing from versions.xml
            raise ToolError(f"fido configuration {versions_file} is incomplete") from exc
        for name in (pronom, container_file, extensions):
            if name is not None and not os.path.isfile(os.path.join(directory, name)):
                raise ToolError(f"fido signature file {name} (named in {versions_file}) not found")
        self.files = SignatureFiles(
            conf_dir=directory,
            pronom_version=str(pronom_version),
            pronom=pronom,
            extensions=extensions,
            containers=container_file,
        )
        self.containers = containers

    @property
    def tool(self) -> str:
        """The tool and signature version recorded in every result, e.g. ``fido 1.6.1 (PRONOM v109)``."""
        return f"fido {_fido().__version__} (PRONOM v{self.files.pronom_version})"

    def start(self, name: str, size: int, reopen: Callable[[], BinaryIO] | None = None) -> FidoProbe:
        """Begin identifying the file ``name`` of ``size`` bytes.

        Args:
            name: the file's path in the SIP (its extension is a fallback clue; FITS names are
                validated as FITS).
            size: the file's size in bytes (the bytes actually fed are what counts).
            reopen: opens the file again, for zip and OLE2 container signatures; without it,
                containers are identified by their signature only.

        Returns:
            A probe to feed the file's bytes to, in order.

        Raises:
            ToolError: if the signature files cannot be loaded (first call in a process).
        """
        return FidoProbe(_load(self.files), name, reopen if self.containers else None)


class FidoProbe:
    """Sees one file's bytes once; keeps its first and last 128 KiB and runs the FITS checker."""

    def __init__(self, loaded: _Loaded, name: str, reopen: Callable[[], BinaryIO] | None) -> None:
        self._loaded = loaded
        self._name = name
        self._reopen = reopen
        self._total = 0
        self._head = bytearray()
        self._tail: bytearray | None = None  # only once the file is larger than the head
        named_fits = is_fits_name(name)
        self._named_fits = named_fits
        self._fits = FitsChecker(name, sniff=not named_fits)

    def feed(self, chunk: bytes | memoryview) -> None:
        """The next bytes of the file (copied where kept: the caller may reuse the buffer).

        Args:
            chunk: the bytes that follow those already fed.
        """
        view = memoryview(chunk)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        n = len(view)
        if not n:
            return
        before = self._total
        self._total = before + n
        if before < BUFSIZE:
            self._head += view[: BUFSIZE - before]
        if self._total > BUFSIZE:
            if self._tail is None:
                # Up to now the head held the whole file: it is where the tail starts.
                self._tail = bytearray(self._head[: min(before, BUFSIZE)])
            if n >= BUFSIZE:
                self._tail[:] = view[n - BUFSIZE :]
            else:
                self._tail += view
                excess = len(self._tail) - BUFSIZE
                if excess > 0:
                    del self._tail[:excess]
        if self._fits.active:
            self._fits.feed(view)

    def buffers(self) -> tuple[bytes, bytes]:
        """The buffers fido would match: the first and the last 128 KiB (the same if smaller).

        Returns:
            (bof, eof) as fido's ``get_buffers`` builds them.
        """
        bof = bytes(self._head)
        eof = bof if self._tail is None else bytes(self._tail)
        return bof, eof

    def finish(self) -> FormatFacts:
        """The format of the file whose bytes were fed, with FITS problems if it is FITS.

        Returns:
            PUID, name, version, MIME type, basis, tool and FMT-* issues.

        Raises:
            ToolError: if the file cannot be reopened for container signatures.
        """
        loaded = self._loaded
        bof, eof = self.buffers()
        matches = loaded.index.match(bof, eof)
        chosen: Match | None = None
        basis = "none"
        container = next((m.format.container for m in matches if m.format.container), None)
        if container in ("zip", "ole") and self._reopen is not None:
            found = self._container_matches(container)
            if found:
                chosen, basis = self._choose(found), "container"
        if chosen is None:
            if matches and self._total > 0:
                chosen, basis = self._choose(matches), "signature"
            else:
                # fido: an empty file is matched by extension only (a zero-length buffer matches
                # some odd signatures), as is a file that no signature matches.
                by_extension = loaded.index.match_extension(self._name)
                if by_extension:
                    chosen, basis = self._choose(by_extension), "extension"
        issues: list[Issue] = []
        if chosen is None:
            issues.append(
                issue("FMT-W001", self._name, "format not identified (no signature or extension match)")
            )
        fmt = chosen.format if chosen is not None else None
        if self._fits.active and (self._named_fits or (fmt is not None and fmt.puid in loaded.fits_puids)):
            issues.extend(self._fits.finish())
        if fmt is None:
            return FormatFacts(
                puid=None,
                name="Unknown",
                mime_type=OCTET_STREAM,
                basis="none",
                tool=loaded.tool,
                issues=tuple(issues),
            )
        return FormatFacts(
            puid=fmt.puid,
            name=fmt.name,
            version=fmt.version,
            mime_type=mime_type(fmt.puid, fmt.mimes, fmt.extensions),
            basis=basis,
            tool=loaded.tool,
            issues=tuple(issues),
        )

    def _choose(self, matches: list[Match]) -> Match:
        """One match among several that fido's priorities leave: the name's extension decides ties."""
        extension = os.path.splitext(self._name)[1].lower().lstrip(".")
        if extension:
            for match in matches:
                if extension in (e.lower() for e in match.format.extensions):
                    return match
        return matches[0]

    def _container_matches(self, container: str) -> list[Match]:
        """fido's container signatures (zip or OLE2) run on the reopened file."""
        assert self._reopen is not None
        fido = _fido()
        if container == "zip":
            package, signatures = fido.package.ZipPackage, self._loaded.zip_signatures
        else:
            package, signatures = fido.package.OlePackage, self._loaded.ole_signatures
        try:
            stream = self._reopen()
        except OSError as exc:
            raise ToolError(f"{self._name}: cannot reopen for container identification: {exc}") from exc
        with stream:
            try:
                puids = package(stream, signatures).detect_formats()
            except _CORRUPT_CONTAINER:
                return []
        found: list[Match] = []
        seen: set[str] = set()
        for puid in puids:
            fmt: Format | None = self._loaded.index.by_puid(puid)
            if fmt is None or puid in seen:
                continue
            seen.add(puid)
            found.append(Match(fmt, fmt.name))
        return found
