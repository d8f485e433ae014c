"""Quality assurance of a SIP's names before anything is read or stored.

Pure: works on the :class:`~oais.domain.packages.SipEntry` list a reader produced, does no I/O, and
returns every problem it finds (never just the first) with a stable SIP-* code. Runs in O(n) in the
number of entries. The rules, and what an archivist should do about each code, are in ``docs/qa.md``.

Names are never rewritten: the path a file is stored under is the path the producer gave, byte for
byte (an all-NFD SIP stays NFD). Only harmless spelling is tidied (``./`` components, repeated or
trailing slashes) because it names the same file on every platform.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.issues import Issue, issue
from oais.domain.packages import EntryKind, SipEntry
from oais.domain.ports import CopyItem

__all__ = ["QaResult", "check_sip", "display_path", "find_bag_root", "normalise_path"]

#: Proposed code for empty directories (BagIt cannot hold them). Emitted once the code table has it;
#: until then empty directories are still listed in :attr:`QaResult.empty_directories`.
EMPTY_DIRECTORY_CODE = "SIP-W002"

#: POSIX allows 40 symlink hops before ELOOP; the same bound stops chains and loops here.
_MAX_HOPS = 40


class QaResult(BaseModel):
    """What quality assurance found: the files to ingest and every problem.

    ``files`` is meaningful only when :attr:`ok` is True; it lists the regular files (and followed
    links) that passed their own checks, sorted by target path.
    """

    model_config = ConfigDict(frozen=True)

    files: list[CopyItem] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    total_files: int = 0
    total_bytes: int = 0
    #: directories that hold nothing (only the innermost of a chain), which a bag cannot hold
    empty_directories: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no issue rejects the SIP (warnings allowed)."""
        return not any(i.is_error for i in self.issues)


def display_path(path: str) -> str:
    """A printable, XML-safe spelling of a SIP path for messages and PREMIS records.

    Undecodable bytes (kept as lone surrogates) appear as ``\\xff``; control characters as ``\\n``,
    ``\\x01`` and so on. Valid, printable names are returned unchanged.

    Args:
        path: a SIP path as a reader produced it.

    Returns:
        The same path with invisible or unencodable characters escaped.
    """
    if path.isprintable():
        return path
    out: list[str] = []
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            # surrogateescape keeps an undecodable byte b as U+DC00+b
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def normalise_path(path: str) -> str:
    """Tidy a SIP path without hiding anything dangerous.

    Drops empty and ``.`` components (``./a//b/`` -> ``a/b``) but keeps a leading ``/`` and every
    ``..`` so that :func:`check_sip` can still see them.

    Args:
        path: a '/'-separated path as recorded by a reader.

    Returns:
        The tidied path; ``""`` for the SIP root itself.
    """
    if not (
        path in ("", ".")
        or "//" in path
        or path.endswith(("/", "/."))
        or path.startswith("./")
        or "/./" in path
    ):
        return path  # already tidy: the common case, kept cheap for SIPs of 100,000 names
    parts = [p for p in path.split("/") if p not in ("", ".")]
    joined = "/".join(parts)
    return "/" + joined if path.startswith("/") else joined


def _is_drive(component: str) -> bool:
    return len(component) >= 2 and component[1] == ":" and component[0].isascii() and component[0].isalpha()


def _escape_problem(key: str) -> str | None:
    """Why ``key`` (already normalised) would land outside the SIP when extracted, or None."""
    if key.startswith("/"):
        return "absolute path"
    parts = key.split("/")
    if ".." in parts:
        return "'..' component"
    if parts and _is_drive(parts[0]):
        return "drive letter"
    if "\\" in key:
        # A backslash is an ordinary character on POSIX but a separator to Windows tools: refuse it
        # only where reading it as a separator would escape the SIP.
        alt = key.replace("\\", "/")
        alt_parts = alt.split("/")
        if alt.startswith("/") or ".." in alt_parts or _is_drive(alt_parts[0]):
            return "when '\\' is read as a separator"
    return None


def _parent(key: str) -> str:
    cut = key.rfind("/")
    return key[:cut] if cut >= 0 else ""


@dataclass(slots=True)
class _Node:
    """One name in the SIP after tidying; ``source`` is the path the reader knows it by."""

    key: str
    source: str
    kind: EntryKind
    size: int
    link_target: str | None


class _Checker:
    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.nodes: dict[str, _Node] = {}
        self.directories: set[str] = set()  # explicit and implied directories, "" excluded
        self.has_children: set[str] = set()  # directories that hold at least one name

    def add(self, code: str, path: str, message: str) -> None:
        self.issues.append(issue(code, display_path(path), message))

    # -- names ------------------------------------------------------------------------------

    def check_name(self, entry: SipEntry) -> str | None:
        """Check one name on its own; returns its key, or None if it cannot be placed in the SIP."""
        key = normalise_path(entry.path)
        shown = display_path(entry.path)
        if not key:
            if entry.kind is EntryKind.DIRECTORY:
                return None  # the SIP root itself, as tar lists "./"
            self.add("SIP-E001", entry.path, f"'{shown}' has no name inside the SIP")
            return None
        problem = _escape_problem(key)
        if problem is not None:
            self.add("SIP-E001", entry.path, f"'{shown}' escapes the SIP ({problem})")
            return None
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            self.add("SIP-E006", entry.path, f"'{shown}' is not valid UTF-8")
        # isprintable() is False for every control character (and for a few harmless ones, such
        # as a no-break space), so only those rare names pay for the per-character look-up
        bad = [] if key.isprintable() else sorted({ch for ch in key if unicodedata.category(ch) == "Cc"})
        if bad:
            codes = ", ".join(f"U+{ord(ch):04X}" for ch in bad)
            self.add("SIP-E010", entry.path, f"'{shown}' contains control characters ({codes})")
        # A badly spelt name is still placed, so that links and collisions are checked too.
        return key

    def place(self, entry: SipEntry, key: str) -> None:
        node = _Node(key, entry.path, entry.kind, entry.size, entry.link_target)
        previous = self.nodes.get(key)
        if previous is not None:
            if previous.kind is EntryKind.DIRECTORY and node.kind is EntryKind.DIRECTORY:
                return  # a directory listed twice is harmless
            self.add(
                "SIP-E012",
                key,
                f"'{display_path(key)}' appears twice in the SIP "
                f"({previous.kind.value} and {node.kind.value})",
            )
            return
        self.nodes[key] = node
        if node.kind is EntryKind.DIRECTORY:
            self.directories.add(key)
        # Record the implied parent directories; stop at the first one already known so that the
        # whole pass stays linear in the total length of the names.
        child = key
        while "/" in child:
            parent = _parent(child)
            self.has_children.add(parent)
            if parent in self.directories:
                break
            self.directories.add(parent)
            child = parent

    def check_file_directory_clash(self) -> None:
        for key in sorted(self.directories):
            node = self.nodes.get(key)
            if node is not None and node.kind is not EntryKind.DIRECTORY:
                self.add(
                    "SIP-E012",
                    key,
                    f"'{display_path(key)}' is a {node.kind.value} but also holds other names",
                )

    # -- collisions -------------------------------------------------------------------------

    def check_collisions(self) -> None:
        """Names that differ only in Unicode normalisation (E004) or in case (E005).

        A pair is reported where the names first differ: if two directories collide, the names
        inside them are not reported again.
        """
        names = sorted(set(self.nodes) | self.directories)
        by_nfc: dict[str, str] = {}
        by_fold: dict[str, str] = {}
        nfc_of: dict[str, str] = {}
        for name in names:
            nfc = name if unicodedata.is_normalized("NFC", name) else unicodedata.normalize("NFC", name)
            nfc_of[name] = nfc
            first = by_nfc.setdefault(nfc, name)
            if first != name:
                if _parent(first) == _parent(name):
                    self.add(
                        "SIP-E004",
                        name,
                        f"'{display_path(first)}' and '{display_path(name)}' are the same name "
                        "after Unicode normalisation (NFC)",
                    )
                continue  # already reported (or implied) as an NFC collision; no case report too
            fold = nfc.casefold()
            first = by_fold.setdefault(fold, name)
            if first != name and _parent(first) == _parent(name):
                self.add(
                    "SIP-E005",
                    name,
                    f"'{display_path(first)}' and '{display_path(name)}' are the same name "
                    "when case is ignored",
                )

    # -- links ------------------------------------------------------------------------------

    def resolve(self, start: _Node) -> tuple[_Node | None, str, str, bool]:
        """Follow ``start`` (a symlink or hard link) to what it finally names.

        Returns:
            (final node or None, code if it fails, message if it fails, whether a symlink was
            followed); the final node is a placeholder of kind DIRECTORY for implied directories.
        """
        node = start
        seen: set[str] = set()
        via_symlink = False
        for _ in range(_MAX_HOPS):
            if node.key in seen:
                return None, "SIP-E002", "is part of a link loop", via_symlink
            seen.add(node.key)
            target = node.link_target or ""
            if node.kind is EntryKind.HARDLINK:
                # tar records a hard link's target as a member name, relative to the archive root
                key = normalise_path(target)
                if not key or _escape_problem(key) is not None:
                    return (
                        None,
                        "SIP-E001",
                        f"points to '{display_path(target)}' outside the SIP",
                        via_symlink,
                    )
            else:
                via_symlink = True
                if not target:
                    return None, "SIP-E002", "has an empty target", via_symlink
                if target.startswith("/"):
                    return (
                        None,
                        "SIP-E002",
                        f"points to '{display_path(target)}' outside the SIP",
                        via_symlink,
                    )
                resolved = self._walk(_parent(node.key), target)
                if resolved is None:
                    return (
                        None,
                        "SIP-E002",
                        f"points to '{display_path(target)}' outside the SIP",
                        via_symlink,
                    )
                key = resolved
            found = self.nodes.get(key)
            if found is None:
                if key in self.directories:
                    return _Node(key, key, EntryKind.DIRECTORY, 0, None), "", "", via_symlink
                message = f"points to '{display_path(target)}', which is not in the SIP"
                return None, "SIP-E002", message, via_symlink
            if found.kind in (EntryKind.SYMLINK, EntryKind.HARDLINK):
                node = found
                continue
            return found, "", "", via_symlink
        return None, "SIP-E002", f"is a chain of more than {_MAX_HOPS} links", via_symlink

    def _walk(self, base: str, target: str) -> str | None:
        """Resolve a relative symlink target against directory ``base``; None if it leaves the SIP.

        Intermediate components that are themselves symlinks are followed, as the kernel would.
        """
        parts = base.split("/") if base else []
        pending = [p for p in target.split("/") if p not in ("", ".")]
        pending.reverse()
        hops = 0
        while pending:
            comp = pending.pop()
            if comp == "..":
                if not parts:
                    return None
                parts.pop()
                continue
            parts.append(comp)
            if not pending:
                break
            node = self.nodes.get("/".join(parts))
            if node is not None and node.kind is EntryKind.SYMLINK and node.link_target:
                hops += 1
                if hops > _MAX_HOPS or node.link_target.startswith("/"):
                    return None
                parts.pop()
                more = [p for p in node.link_target.split("/") if p not in ("", ".")]
                pending.extend(reversed(more))
        return "/".join(parts)

    def check_links(self, files: list[CopyItem]) -> None:
        for node in self.nodes.values():
            if node.kind not in (EntryKind.SYMLINK, EntryKind.HARDLINK):
                continue
            what = "symbolic link" if node.kind is EntryKind.SYMLINK else "hard link"
            shown = display_path(node.key)
            final, code, message, via_symlink = self.resolve(node)
            if final is None:
                self.add(code, node.key, f"{what} '{shown}' {message}")
            elif final.kind is EntryKind.DIRECTORY:
                self.add(
                    "SIP-E009", node.key, f"{what} '{shown}' points to directory '{display_path(final.key)}'"
                )
            elif final.kind is EntryKind.SPECIAL:
                self.add(
                    "SIP-E003",
                    node.key,
                    f"{what} '{shown}' points to special file '{display_path(final.key)}'",
                )
            else:
                files.append(CopyItem(source=final.source, target=node.key, size=final.size))
                # A hard link to a file is just that file's content again; only following a
                # symbolic link changes what the producer handed over, so only that is noted.
                if via_symlink:
                    self.add(
                        "SIP-W001",
                        node.key,
                        f"{what} '{shown}' stored as a copy of '{display_path(final.key)}'",
                    )


def check_sip(entries: Iterable[SipEntry]) -> QaResult:
    """Check every name of a SIP and list the files to ingest.

    Args:
        entries: every name the SIP's reader listed (files, directories, links, special files).

    Returns:
        The files to ingest (sorted by target), every issue found (sorted by path, then code),
        totals, and the empty directories that a bag cannot hold.
    """
    checker = _Checker()
    for entry in entries:
        key = checker.check_name(entry)
        if key is not None:
            checker.place(entry, key)

    checker.check_file_directory_clash()
    checker.check_collisions()

    files: list[CopyItem] = []
    for node in checker.nodes.values():
        if node.kind is EntryKind.FILE:
            # fields are already checked str/int: skipping validation keeps 100,000 files cheap
            files.append(CopyItem.model_construct(source=node.source, target=node.key, size=node.size))
        elif node.kind is EntryKind.SPECIAL:
            checker.add("SIP-E003", node.key, f"'{display_path(node.key)}' is a special file")
    checker.check_links(files)

    if not files:
        checker.add("SIP-E007", "", "the SIP holds no files")

    empty = sorted(d for d in checker.directories if d not in checker.has_children)
    for d in empty:
        checker.add(
            EMPTY_DIRECTORY_CODE,
            d,
            f"empty directory '{display_path(d)}' cannot be held in a bag; it is recorded, not stored",
        )

    files.sort(key=lambda f: f.target)
    issues = sorted(checker.issues, key=lambda i: (i.path, i.code, i.message))
    return QaResult(
        files=files,
        issues=issues,
        total_files=len(files),
        total_bytes=sum(f.size for f in files),
        empty_directories=[display_path(d) for d in empty],
    )


class BagRootFinder:
    """Finds where a bag starts while the entries stream past (see :func:`find_bag_root`)."""

    def __init__(self) -> None:
        self._top: set[str] = set()
        self._bagit_in: set[str] = set()

    def see(self, entry: SipEntry) -> None:
        """Take one entry into account."""
        key = normalise_path(entry.path)
        if not key:
            return
        head, sep, rest = key.partition("/")
        self._top.add(head if sep or entry.kind is EntryKind.DIRECTORY else head + "\0file")
        if entry.kind is EntryKind.FILE:
            if key == "bagit.txt":
                self._bagit_in.add("")
            elif rest == "bagit.txt":
                self._bagit_in.add(head)

    def root(self) -> str | None:
        """The bag's root prefix for the entries seen so far, or None."""
        if "" in self._bagit_in:
            return ""
        if len(self._top) == 1:
            (only,) = self._top
            if only in self._bagit_in:
                return only + "/"
        return None


def find_bag_root(entries: Iterable[SipEntry]) -> str | None:
    """Where a BagIt bag starts in a SIP, if the SIP is a bag.

    A SIP is a bag when ``bagit.txt`` is a file at its root, or when it holds exactly one top-level
    directory (and nothing else) with ``bagit.txt`` directly inside (the usual zip or tar of a bag
    folder).

    Args:
        entries: every name the SIP's reader listed.

    Returns:
        ``""`` for a bag at the root, ``"name/"`` for a bag in a single top-level folder, or None.
    """
    finder = BagRootFinder()
    for entry in entries:
        finder.see(entry)
    return finder.root()
