"""Reading a bag's tag files and listing its payload, collecting every structural problem.

Unicode normalisation: a manifest written on one system may spell a name in NFD while the file
system of another stores it in NFC (macOS HFS+ decomposes names; Linux keeps the bytes it is given).
A manifest path is therefore matched to a file first exactly and, failing that, by comparing NFC
forms, provided exactly one file has that NFC form. Manifest entries that match a file are recorded
under the name as the file system spells it, so computed digests keyed by listed paths compare
directly.

Duplicates: lines of one manifest name the same path when they match the same file, or name no file
and have the same NFC form. In a payload manifest, a line that names no file is also the same path
as lines naming the one listed file whose name differs from it only in case (``str.casefold`` of the
NFC form); names are never matched to files case-insensitively otherwise, and two files whose names
differ only in case stay two files. A path listed more than once with one digest throughout is
tolerated before BagIt 1.0 (BAG-W006, the conformance suite's v0.97 ``warning/`` bags) and an error
from 1.0 on (BAG-E011); with different digests it is BAG-E011 in every version.

Operating-system files (``.DS_Store``, ``Thumbs.db`` and the like) in the payload draw BAG-W007.
Copying tools often strip them, so one that a payload manifest lists but the bag lacks is BAG-W007
rather than BAG-E006, and the Payload-Oxum check allows for it (see :meth:`StructureReader._info`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from oais.adapters.bagit.manifest import (
    PAYLOAD_DIR,
    parse_manifest_line,
    path_problem,
    system_file,
)
from oais.adapters.bagit.tagfiles import (
    BAG_DECLARATION,
    BAG_INFO,
    FETCH,
    PACKAGE_INFO,
    Declaration,
    decode_tag_text,
    parse_declaration,
    parse_fetch_line,
    parse_info,
    payload_oxum,
    python_codec,
)
from oais.adapters.hashing import digest_bytes
from oais.domain.bag import BagStructure, FetchEntry, split_lines
from oais.domain.errors import NotFound
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue, issue
from oais.domain.ports import BagFiles

_MANIFEST_NAME = re.compile(r"(?P<tag>tag)?manifest-(?P<algorithm>.+)\.txt")
_WEAK = frozenset({DigestAlgorithm.MD5, DigestAlgorithm.SHA1})
_PAYLOAD_PREFIX = PAYLOAD_DIR + "/"
_DEFAULT_CODEC = "utf-8-sig"


@runtime_checkable
class DirectoryAware(Protocol):
    """A :class:`~oais.domain.ports.BagFiles` that can also tell whether a directory exists.

    ``BagFiles.list_files`` lists files only, so without this an empty data/ directory cannot be
    told apart from a missing one.
    """

    def is_dir(self, path: str) -> bool:
        """True if ``path`` (bag-relative) is a directory."""
        ...


class _Names:
    """The files of one kind (payload or tag), matched exactly and then by NFC form."""

    def __init__(self, names: Iterable[str]) -> None:
        self._exact = set(names)
        self._by_nfc: dict[str, list[str]] | None = None

    def resolve(self, path: str) -> str | None:
        """The listed file that ``path`` names, or None."""
        if path in self._exact:
            return path
        if self._by_nfc is None:
            # Built on the first miss only: well-formed bags never pay for it.
            self._by_nfc = {}
            for name in self._exact:
                self._by_nfc.setdefault(unicodedata.normalize("NFC", name), []).append(name)
        matches = self._by_nfc.get(unicodedata.normalize("NFC", path), [])
        return matches[0] if len(matches) == 1 else None

    def key(self, path: str) -> str:
        """The name an entry is recorded and compared under."""
        resolved = self.resolve(path)
        return resolved if resolved is not None else unicodedata.normalize("NFC", path)


@dataclass
class _Manifest:
    name: str
    algorithm: DigestAlgorithm
    entries: dict[str, str] = field(default_factory=dict)  # key -> digest
    lines: dict[str, int] = field(default_factory=dict)  # key -> line number


@dataclass(frozen=True)
class _Listing:
    """One well-formed manifest line, with the name it is recorded under."""

    number: int
    digest: str
    path: str  # decoded, as the line spells it
    key: str  # see _Names.key
    present: bool  # the path names a file in the bag


def _same_paths(listings: list[_Listing], *, fold_case: bool) -> list[list[_Listing]]:
    """Group a manifest's listings by the path they name, in order of first appearance.

    Listings with the same key name the same path. With ``fold_case``, the listings of a file that
    is absent join those of the one listed file whose name differs only in case; if no file with
    that folded name is listed, the absent spellings form one path; if several are, they are
    distinct files and the absent spellings are left alone (each is then reported missing).
    """
    by_key: dict[str, list[_Listing]] = {}
    for listing in listings:
        by_key.setdefault(listing.key, []).append(listing)
    if not fold_case:
        return list(by_key.values())
    by_fold: dict[str, list[list[_Listing]]] = {}
    for group in by_key.values():
        by_fold.setdefault(unicodedata.normalize("NFC", group[0].key).casefold(), []).append(group)
    groups: list[list[_Listing]] = []
    for spellings in by_fold.values():
        present = [g for g in spellings if any(listing.present for listing in g)]
        if len(spellings) == 1 or len(present) > 1:
            groups.extend(spellings)
        else:
            groups.append(sorted((listing for g in spellings for listing in g), key=lambda x: x.number))
    return sorted(groups, key=lambda g: g[0].number)


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


def _spellings(group: list[_Listing]) -> str:
    """How the lines of a duplicate spell the path, when they differ."""
    paths = list(dict.fromkeys(listing.path for listing in group))
    if len(paths) == 1:
        return ""
    if len({unicodedata.normalize("NFC", path) for path in paths}) == 1:
        return ", spelled in different Unicode normalisations"
    return ", spelled " + _and([repr(path) for path in paths])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class StructureReader:
    """Reads one bag; use :func:`read_structure`."""

    def __init__(self, files: BagFiles) -> None:
        self._files = files
        self._issues: list[Issue] = []
        self._bytes: dict[str, bytes] = {}
        # Keys of operating-system files that a payload manifest lists and the bag lacks.
        self._absent_system_files: set[str] = set()

    def _add(self, code: str, path: str, message: str) -> None:
        self._issues.append(issue(code, path, message))

    def _read(self, path: str) -> bytes | None:
        if path not in self._bytes:
            try:
                self._bytes[path] = self._files.read_bytes(path)
            except NotFound:
                return None
        return self._bytes[path]

    def _text(self, path: str, codec: str, declared: str) -> str | None:
        data = self._read(path)
        if data is None:
            self._add("BAG-E006", path, "the file is listed but could not be read")
            return None
        text, problems = decode_tag_text(data, codec, path, declared)
        self._issues.extend(problems)
        return text

    def read(self) -> BagStructure:
        """Read the bag (see :func:`read_structure`)."""
        listing = dict(self._files.list_files())
        payload = {path: size for path, size in listing.items() if path.startswith(_PAYLOAD_PREFIX)}
        tags = sorted(path for path in listing if not path.startswith(_PAYLOAD_PREFIX))
        payload_names, tag_names = _Names(payload), _Names(tags)

        declaration = self._declaration(tags)
        self._payload_directory(listing, payload)
        declared = declaration.encoding or "UTF-8"
        codec = python_codec(declared) or _DEFAULT_CODEC

        missing_fetched, fetch_lines, fetched = self._fetch(tags, codec, declared, payload_names)
        # Without a readable version, duplicates are judged by the current rules.
        tolerate_duplicates = declaration.version_tuple is not None and declaration.version_tuple < (1, 0)
        manifests, tag_manifests = self._manifests(
            tags, codec, declared, payload_names, tag_names, missing_fetched, tolerate_duplicates
        )
        self._coverage(payload, manifests, fetch_lines)
        self._system_files(payload)
        self._tag_digests(tags, tag_manifests)
        info = self._info(tags, codec, declared, declaration, payload, bool(missing_fetched))

        if declaration.version_tuple is not None and declaration.version_tuple < (1, 0):
            self._add(
                "BAG-W002",
                BAG_DECLARATION,
                f"BagIt version {declaration.version} is older than 1.0 (RFC 8493)",
            )
        algorithms = {m.algorithm for m in manifests}
        if algorithms and algorithms <= _WEAK:
            names = ", ".join(m.name for m in manifests)
            self._add(
                "BAG-W001",
                manifests[0].name,
                f"payload manifests use only {' and '.join(sorted(a.value for a in algorithms))} "
                f"({names}); these no longer resist deliberate collisions",
            )
        return BagStructure(
            version=declaration.version,
            encoding=declaration.encoding,
            info=info,
            manifests={m.algorithm: m.entries for m in manifests},
            tag_manifests={m.algorithm: m.entries for m in tag_manifests},
            payload=payload,
            fetch=fetched,
            issues=self._issues,
        )

    def _declaration(self, tags: list[str]) -> Declaration:
        if BAG_DECLARATION not in tags:
            self._add(
                "BAG-E001", BAG_DECLARATION, "the bag declaration bagit.txt is missing from the bag root"
            )
            return Declaration()
        data = self._read(BAG_DECLARATION)
        if data is None:
            self._add("BAG-E001", BAG_DECLARATION, "the bag declaration bagit.txt could not be read")
            return Declaration()
        declaration = parse_declaration(data)
        self._issues.extend(declaration.issues)
        return declaration

    def _payload_directory(self, listing: dict[str, int], payload: dict[str, int]) -> None:
        if PAYLOAD_DIR in listing:
            self._add("BAG-E013", PAYLOAD_DIR, "'data' is a file; the payload must be in a data/ directory")
        elif isinstance(self._files, DirectoryAware):
            if not self._files.is_dir(PAYLOAD_DIR):
                self._add("BAG-E013", PAYLOAD_DIR, "the bag has no data/ payload directory")
        elif not payload:
            self._add("BAG-E013", PAYLOAD_DIR, "the bag has no data/ payload directory, or it holds no files")

    def _fetch(
        self, tags: list[str], codec: str, declared: str, payload_names: _Names
    ) -> tuple[set[str], dict[str, int], list[FetchEntry]]:
        """Returns the keys of fetched files that are absent, every fetch key with its line, and
        every well-formed entry."""
        missing: set[str] = set()
        lines: dict[str, int] = {}
        entries: list[FetchEntry] = []
        if FETCH not in tags:
            return missing, lines, entries
        text = self._text(FETCH, codec, declared)
        for number, line in enumerate(split_lines(text or ""), start=1):
            if not line.strip():
                continue
            entry, reason = parse_fetch_line(line, number)
            if entry is None:
                self._add("BAG-E004", FETCH, f"line {number}: {reason}")
                continue
            problem = path_problem(entry.path, payload=True)
            if problem is not None:
                code, why = problem
                self._add(code, FETCH, f"line {number}: {entry.path!r}: {why}")
                continue
            entries.append(FetchEntry(url=entry.url, size=entry.size, path=entry.path))
            key = payload_names.key(entry.path)
            lines.setdefault(key, number)
            if payload_names.resolve(entry.path) is None:
                missing.add(key)
                self._add(
                    "BAG-E014",
                    entry.path,
                    f"{FETCH} line {number} says to fetch it from {entry.url}, but it is not in the bag; "
                    "remote files are not fetched",
                )
        return missing, lines, entries

    def _manifests(
        self,
        tags: list[str],
        codec: str,
        declared: str,
        payload_names: _Names,
        tag_names: _Names,
        missing_fetched: set[str],
        tolerate_duplicates: bool,
    ) -> tuple[list[_Manifest], list[_Manifest]]:
        manifests: list[_Manifest] = []
        tag_manifests: list[_Manifest] = []
        any_payload_manifest = False
        for name in tags:
            match = _MANIFEST_NAME.fullmatch(name)
            if match is None:
                continue
            is_tag = match.group("tag") is not None
            any_payload_manifest |= not is_tag
            algorithm = DigestAlgorithm.from_bagit_name(match.group("algorithm"))
            if algorithm is None:
                known = ", ".join(a.value for a in DigestAlgorithm)
                self._add(
                    "BAG-E005",
                    name,
                    f"algorithm {match.group('algorithm')!r} is not supported (supported: {known})",
                )
                continue
            text = self._text(name, codec, declared)
            if text is None:
                continue
            manifest = _Manifest(name, algorithm)
            names = tag_names if is_tag else payload_names
            self._parse_manifest(
                manifest,
                text,
                names,
                payload=not is_tag,
                missing_fetched=missing_fetched,
                tolerate_duplicates=tolerate_duplicates and not is_tag,
            )
            (tag_manifests if is_tag else manifests).append(manifest)
        if not any_payload_manifest:
            self._add("BAG-E003", "", "the bag has no payload manifest (manifest-<algorithm>.txt)")
        return manifests, tag_manifests

    def _parse_manifest(
        self,
        manifest: _Manifest,
        text: str,
        names: _Names,
        *,
        payload: bool,
        missing_fetched: set[str],
        tolerate_duplicates: bool,
    ) -> None:
        name = manifest.name
        listings: list[_Listing] = []
        forms: dict[str, None] = {}  # ordered set
        first_odd_line: int | None = None
        odd_lines = 0
        for number, line in enumerate(split_lines(text), start=1):
            if not line.strip():
                continue
            entry, reason = parse_manifest_line(line, number, manifest.algorithm)
            if entry is None:
                self._add("BAG-E004", name, f"line {number}: {reason}")
                continue
            if entry.forms:
                first_odd_line = first_odd_line or number
                odd_lines += 1
                forms.update(dict.fromkeys(entry.forms))
            problem = path_problem(entry.path, payload=payload)
            if problem is not None:
                code, why = problem
                self._add(code, name, f"line {number}: {entry.raw_path!r}: {why}")
                continue
            present = names.resolve(entry.path) is not None
            listings.append(_Listing(number, entry.digest, entry.path, names.key(entry.path), present))
        if first_odd_line is not None:
            self._add(
                "BAG-W005",
                name,
                f"line {first_odd_line}: manifest line uses a non-standard form: {_and(list(forms))} "
                f"(on {odd_lines} line{'' if odd_lines == 1 else 's'} of this manifest); "
                "accepted, but RFC 8493 lines read '<lower-case hexadecimal digest> <path>'",
            )
        for group in _same_paths(listings, fold_case=payload):
            self._record(manifest, group, payload=payload, missing_fetched=missing_fetched)
            if len(group) > 1:
                self._duplicate(manifest, group, tolerate=tolerate_duplicates)

    def _record(
        self, manifest: _Manifest, group: list[_Listing], *, payload: bool, missing_fetched: set[str]
    ) -> None:
        """Record the path the listings name, under the spelling of the file if one exists."""
        primary = next((listing for listing in group if listing.present), group[0])
        manifest.lines[primary.key] = primary.number
        manifest.entries[primary.key] = primary.digest
        if primary.present or primary.key in missing_fetched:
            return
        where = f"listed in {manifest.name} line {primary.number}"
        if payload and (what := system_file(primary.path)) is not None:
            self._absent_system_files.add(primary.key)
            self._add(
                "BAG-W007",
                primary.path,
                f"listed operating-system file is absent; copying tools often strip such files "
                f"({what}; {where})",
            )
        else:
            self._add("BAG-E006", primary.path, f"{where} but not in the bag")

    def _duplicate(self, manifest: _Manifest, group: list[_Listing], *, tolerate: bool) -> None:
        key = next((listing.key for listing in group if listing.present), group[0].key)
        numbers = _and([str(listing.number) for listing in group])
        where = f"listed {_times(len(group))} in {manifest.name} (lines {numbers}{_spellings(group)})"
        if len({listing.digest for listing in group}) > 1:
            self._add("BAG-E011", key, f"{where}, with different digests")
        elif tolerate:
            self._add("BAG-W006", key, f"{where}, with the same digest; tolerated before BagIt 1.0")
        else:
            self._add("BAG-E011", key, f"{where}, with the same digest; BagIt 1.0 forbids this")

    def _coverage(
        self, payload: dict[str, int], manifests: list[_Manifest], fetch_lines: dict[str, int]
    ) -> None:
        for path in sorted(payload):
            absent_from = [m.name for m in manifests if path not in m.entries]
            if absent_from:
                self._add("BAG-E007", path, f"payload file not listed in {', '.join(absent_from)}")
        for key, number in sorted(fetch_lines.items()):
            absent_from = [m.name for m in manifests if key not in m.entries]
            if absent_from:
                self._add(
                    "BAG-E007", key, f"listed in {FETCH} line {number} but not in {', '.join(absent_from)}"
                )

    def _system_files(self, payload: dict[str, int]) -> None:
        for path in sorted(payload):
            what = system_file(path)
            if what is not None:
                self._add(
                    "BAG-W007",
                    path,
                    f"operating-system file in the payload ({what}); it is kept and checked like any "
                    "other file, but is probably not part of the content",
                )

    def _tag_digests(self, tags: list[str], tag_manifests: list[_Manifest]) -> None:
        present = set(tags)
        for manifest in tag_manifests:
            for path, expected in sorted(manifest.entries.items()):
                if path not in present:
                    continue  # already reported as BAG-E006
                data = self._read(path)
                if data is None:
                    self._add("BAG-E006", path, f"listed in {manifest.name} but could not be read")
                    continue
                actual = digest_bytes(data, [manifest.algorithm])[manifest.algorithm]
                if actual != expected:
                    self._add(
                        "BAG-E008",
                        path,
                        f"{manifest.algorithm.value} is {actual}, "
                        f"{manifest.name} line {manifest.lines[path]} says {expected}",
                    )
        if not tag_manifests:
            return
        for path in tags:
            # Tag manifests are not expected to list themselves or each other.
            if path == PAYLOAD_DIR or (path.startswith("tag") and _MANIFEST_NAME.fullmatch(path)):
                continue
            absent_from = [m.name for m in tag_manifests if path not in m.entries]
            if absent_from:
                self._add("BAG-W003", path, f"tag file not listed in {', '.join(absent_from)}")

    def _info(
        self,
        tags: list[str],
        codec: str,
        declared: str,
        declaration: Declaration,
        payload: dict[str, int],
        incomplete: bool,
    ) -> list[tuple[str, str]]:
        name = BAG_INFO
        if name not in tags:
            # Before BagIt 0.96 the same file was called package-info.txt.
            old = declaration.version_tuple is not None and declaration.version_tuple < (0, 96)
            if not (old and PACKAGE_INFO in tags):
                return []
            name = PACKAGE_INFO
        text = self._text(name, codec, declared)
        if text is None:
            return []
        fields, problems = parse_info(text, name)
        self._issues.extend(problems)
        oxum, problems = payload_oxum(fields, name)
        self._issues.extend(problems)
        # In a holey bag the absent files are already reported (BAG-E014); the sums cannot match.
        if oxum is not None and not incomplete:
            octets, count = sum(payload.values()), len(payload)
            # Listed operating-system files that are absent (BAG-W007) were most likely counted
            # when the bag was made. Their sizes are not known, so the declaration is accepted when
            # its file count includes exactly them and its byte count is at least what is here.
            absent = len(self._absent_system_files)
            explained = absent > 0 and oxum[1] == count + absent and oxum[0] >= octets
            if (octets, count) != oxum and not explained:
                note = (
                    f" ({absent} listed operating-system file{'' if absent == 1 else 's'} absent)"
                    if absent
                    else ""
                )
                self._add(
                    "BAG-E009",
                    name,
                    f"Payload-Oxum says {oxum[0]} bytes in {oxum[1]} files; "
                    f"the payload holds {octets} bytes in {count} files{note}",
                )
        return fields


def read_structure(files: BagFiles) -> BagStructure:
    """Parse a bag's tag files and list its payload, collecting every structural problem.

    Args:
        files: the bag's files.

    Returns:
        The structure; ``issues`` lists every BAG-* problem found without reading payload.
    """
    return StructureReader(files).read()
