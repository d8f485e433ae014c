"""Where things are inside a location: the contract in ``docs/aip-layout.md``, as code.

::

    aips/<aip id>/v<N>/            one BagIt 1.0 bag per immutable version
        bagit.txt                  written last: a version without it is incomplete, not an AIP
        bag-info.txt, manifest-sha256.txt, tagmanifest-sha256.txt
        fetch.txt                  payload unchanged since an earlier version (not stored again)
        data/objects/...           payload new in this version
        data/metadata/premis.xml   PREMIS 3: the AIP, its files, the ingest events and agents, rights
        data/metadata/descriptive.json   the descriptive metadata given at ingest (when there was any)
    aips/<aip id>/tombstone.json   only once the AIP was deaccessioned: what was deleted, why and on
                                   whose decision (its versions are gone)
    events/<sequence>.jsonl        the append-only event log, one segment per batch of events

A fetch.txt line is ``oais://<aip id>/v<M>/<source path> <size> <bag path>``: the file is the
object ``aips/<aip id>/v<M>/<source path>`` of the same location. The URL's path is URL-encoded
(UTF-8, RFC 3986); the bag path is percent-encoded for ``%``, CR and LF only, as in manifests
(RFC 8493 §2.1.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from oais.domain.deaccession import TOMBSTONE_NAME

AIPS = "aips/"
EVENTS = "events/"
BAGIT = "bagit.txt"
FETCH = "fetch.txt"
PREMIS = "data/metadata/premis.xml"
#: The AIP's descriptive metadata (canonical JSON), in every version of an AIP ingested with some.
DESCRIPTIVE = "data/metadata/descriptive.json"
TAG_MANIFEST = "tagmanifest-sha256.txt"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
FETCH_SCHEME = "oais://"
#: A deaccessioned AIP's tombstone, in place of its versions.
TOMBSTONE = TOMBSTONE_NAME

_VERSION = re.compile(r"v([1-9][0-9]{0,8})")
_SEGMENT = re.compile(r"events/([0-9]{12})\.jsonl")


def aip_prefix(aip_id: str) -> str:
    """The prefix of every version of an AIP."""
    return f"{AIPS}{aip_id}/"


def tombstone_key(aip_id: str) -> str:
    """The key of a deaccessioned AIP's tombstone."""
    return f"{AIPS}{aip_id}/{TOMBSTONE}"


def version_prefix(aip_id: str, version: int) -> str:
    """The prefix of one version's bag (ends with '/')."""
    return f"{AIPS}{aip_id}/v{version}/"


def parse_version(segment: str) -> int | None:
    """The version number of a path segment such as ``v3``, or None."""
    match = _VERSION.fullmatch(segment)
    return int(match.group(1)) if match else None


def segment_key(sequence: int) -> str:
    """The key of event log segment ``sequence``."""
    return f"{EVENTS}{sequence:012d}.jsonl"


def parse_segment_key(key: str) -> int | None:
    """The sequence number of an event log segment key, or None if ``key`` is not one."""
    match = _SEGMENT.fullmatch(key)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Fetched:
    """A payload file of a version that is stored under an earlier version."""

    bag_path: str  # its path in this version's bag
    size: int
    aip_id: str
    version: int  # the version whose prefix holds it
    source_path: str  # its path in that version's bag

    @property
    def key(self) -> str:
        """The object that holds the file."""
        return version_prefix(self.aip_id, self.version) + self.source_path

    @property
    def url(self) -> str:
        """Its fetch.txt URL."""
        return f"{FETCH_SCHEME}{self.aip_id}/v{self.version}/{quote(self.source_path, safe='/')}"


def fetch_entry(fetched: Fetched) -> tuple[str, int, str]:
    """(URL, size, bag path): one line of fetch.txt for the BagIt writer."""
    return fetched.url, fetched.size, fetched.bag_path


def parse_fetch_url(url: str, size: int | None, bag_path: str) -> Fetched:
    """The stored object a fetch.txt line of ours names (the line already parsed by the bag codec).

    Raises:
        ValueError: the URL is not an ``oais://<aip id>/v<N>/<path>`` URL, or the size is missing.
    """
    if not url.startswith(FETCH_SCHEME) or size is None:
        raise ValueError(f"{FETCH}: {url!r} {size}: not 'oais://<aip>/v<N>/<path> <size>'")
    aip_id, _, rest = url[len(FETCH_SCHEME) :].partition("/")
    version_text, _, source = rest.partition("/")
    version = parse_version(version_text)
    if not aip_id or version is None or not source:
        raise ValueError(f"{FETCH}: URL {url!r} does not name an AIP version and a path")
    return Fetched(
        bag_path=bag_path,
        size=size,
        aip_id=aip_id,
        version=version,
        source_path=unquote(source, errors="strict"),
    )


def drop_fetch_from_tag_manifest(text: str) -> str:
    """A tag manifest without its fetch.txt line (for a bag whose fetched files were put in place)."""
    kept = [line for line in text.split("\n") if line and line.split(maxsplit=1)[-1:] != [FETCH]]
    return "".join(f"{line}\n" for line in kept)
