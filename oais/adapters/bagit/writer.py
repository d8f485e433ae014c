"""Writing a bag's tag files around a payload that is already in place."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from oais.adapters.bagit.manifest import PAYLOAD_DIR, path_problem
from oais.adapters.bagit.tagfiles import BAG_DECLARATION, BAG_INFO
from oais.adapters.hashing import hash_file
from oais.domain.bag import encode_path
from oais.domain.errors import StorageError
from oais.domain.fixity import FAST_ALGORITHM, RECORD_ALGORITHM, DigestAlgorithm
from oais.domain.ports import Clock

#: Algorithms whose manifests the bag carries. xxh3_128 is left to PREMIS and the catalog, so that
#: every BagIt tool reads our bags without meeting an algorithm it does not know.
BAGIT_ALGORITHMS = frozenset(DigestAlgorithm) - {FAST_ALGORITHM}
TAG_ALGORITHM = RECORD_ALGORITHM

_TAG_MANIFEST = f"tagmanifest-{TAG_ALGORITHM.value}.txt"
_ANY_MANIFEST = re.compile(r"(tag)?manifest-.+\.txt")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX = re.compile(r"[0-9a-f]+")

_Entry = tuple[str, int, tuple[str, ...]]


def _text_file(path: Path) -> TextIO:
    # newline="\n": LF endings on every platform, as the reader of our bags in fifty years expects.
    return open(path, "w", encoding="utf-8", newline="\n")


def _collect(
    payload: Iterable[tuple[str, int, Mapping[DigestAlgorithm, str]]],
) -> tuple[list[DigestAlgorithm], list[_Entry]]:
    """Validate the payload entries and keep only what the manifests need, sorted by path."""
    algorithms: list[DigestAlgorithm] | None = None
    entries: list[_Entry] = []
    for path, size, digests in payload:
        problem = path_problem(path, payload=True)
        if problem is not None:
            raise ValueError(f"payload path {path!r}: {problem[1]}")
        if size < 0:
            raise ValueError(f"payload path {path!r}: negative size {size}")
        carried = sorted((a for a in digests if a in BAGIT_ALGORITHMS), key=lambda a: a.value)
        if algorithms is None:
            if RECORD_ALGORITHM not in carried:
                raise ValueError(f"payload path {path!r} has no {RECORD_ALGORITHM.value} digest of record")
            algorithms = carried
        elif carried != algorithms:
            names = ", ".join(a.value for a in algorithms)
            raise ValueError(f"payload path {path!r} does not have the same digests ({names}) as the others")
        values = tuple(digests[a].lower() for a in algorithms)
        for algorithm, value in zip(algorithms, values, strict=True):
            if len(value) != algorithm.hex_length or _HEX.fullmatch(value) is None:
                raise ValueError(f"payload path {path!r}: {algorithm.value} digest {value!r} is malformed")
        entries.append((path, size, values))
    entries.sort(key=lambda entry: entry[0])
    for before, after in pairwise(entries):
        if before[0] == after[0]:
            raise ValueError(f"payload path {after[0]!r} is given twice")
    return algorithms if algorithms is not None else [RECORD_ALGORITHM], entries


def _info_lines(info: Sequence[tuple[str, str]], entries: list[_Entry], clock: Clock | None) -> Iterator[str]:
    bagging_date: str | None = None
    for label, value in info:
        if not label or label != label.strip() or any(c in label for c in ":\r\n"):
            raise ValueError(f"bag-info label {label!r} is empty, padded or contains ':', CR or LF")
        if "\r" in value or "\n" in value:
            raise ValueError(f"bag-info value of {label!r} contains a line break")
        if label.lower() == "payload-oxum":
            raise ValueError("Payload-Oxum is computed from the payload; do not pass it")
        if label.lower() == "bagging-date":
            if _DATE.fullmatch(value) is None:
                raise ValueError(f"Bagging-Date {value!r} is not YYYY-MM-DD")
            bagging_date = value
        yield f"{label}: {value.strip()}\n"
    if bagging_date is None:
        if clock is None:
            raise ValueError("no Bagging-Date in the bag-info fields and no clock to take it from")
        yield f"Bagging-Date: {clock.now().date().isoformat()}\n"
    yield f"Payload-Oxum: {sum(entry[1] for entry in entries)}.{len(entries)}\n"


def _check_no_stale_manifests(bag_dir: Path, ours: set[str]) -> None:
    for name in os.listdir(bag_dir):
        if _ANY_MANIFEST.fullmatch(name) and name not in ours:
            raise ValueError(f"{bag_dir} already holds {name}, which this bag would not account for")


FETCH_FILE = "fetch.txt"


def _tag_files(bag_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every file outside data/ except the tag manifest, as (bag-relative path, file system path)."""
    stack = [(bag_dir, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as scan:
            for entry in scan:
                relative = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if relative != PAYLOAD_DIR:
                        stack.append((Path(entry.path), relative + "/"))
                elif relative != _TAG_MANIFEST:
                    yield relative, Path(entry.path)


def _file_digest(path: Path) -> str:
    return hash_file(path, TAG_ALGORITHM)[0]


def write_tags(
    bag_dir: Path,
    payload: Iterable[tuple[str, int, Mapping[DigestAlgorithm, str]]],
    info: Sequence[tuple[str, str]],
    clock: Clock | None = None,
    fetch: Sequence[tuple[str, int, str]] = (),
) -> None:
    """Write bagit.txt, payload manifests, bag-info.txt, fetch.txt and tagmanifest-sha256.txt.

    Args:
        bag_dir: the bag's root; payload files are already under ``data/``.
        payload: (bag-relative path, size, digests) for every payload file, in any order. One
            manifest is written per algorithm except xxh3_128; every entry must carry the same
            algorithms, sha256 among them.
        info: bag-info.txt fields in order. A ``Bagging-Date`` (YYYY-MM-DD) given here is used as
            is; ``Payload-Oxum`` is computed and must not be given.
        clock: where the Bagging-Date comes from when ``info`` has none.
        fetch: (URL, size, bag-relative path) of payload files listed in the manifests but not
            present under ``data/`` (fetch.txt, RFC 8493 §2.2.3); none by default.

    Raises:
        ValueError: if the payload entries or info fields cannot make a valid bag, or the
            directory already holds manifests that would not be rewritten.
        StorageError: if a tag file cannot be written or a tag file cannot be read back.
    """
    algorithms, entries = _collect(payload)
    manifest_names = [f"manifest-{a.value}.txt" for a in algorithms]
    try:
        _check_no_stale_manifests(bag_dir, {*manifest_names, _TAG_MANIFEST})
        info_lines = list(_info_lines(info, entries, clock))
        with _text_file(bag_dir / BAG_DECLARATION) as out:
            out.write("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
        with ExitStack() as stack:
            outs = [stack.enter_context(_text_file(bag_dir / name)) for name in manifest_names]
            for path, _size, values in entries:
                encoded = encode_path(path)
                for out, value in zip(outs, values, strict=True):
                    out.write(f"{value}  {encoded}\n")
        with _text_file(bag_dir / BAG_INFO) as out:
            out.writelines(info_lines)
        if fetch:
            with _text_file(bag_dir / FETCH_FILE) as out:
                out.writelines(f"{url} {size} {encode_path(path)}\n" for url, size, path in fetch)
        tag_lines = sorted((relative, _file_digest(file)) for relative, file in _tag_files(bag_dir))
        with _text_file(bag_dir / _TAG_MANIFEST) as out:
            out.writelines(f"{digest}  {encode_path(relative)}\n" for relative, digest in tag_lines)
    except OSError as exc:
        raise StorageError(f"cannot write the tag files of the bag {bag_dir}: {exc}") from exc
