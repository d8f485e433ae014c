"""Rules every catalog implementation applies to what it is given, its refusals, and shared encodings.

The in-memory fake and the SQL repository both call the ``check_`` functions before writing, so that
a write the fake accepts is never one the database refuses (and the other way round): the contract
tests rely on it. The checks are where a time without a time zone is refused; what passes them is
time-zone aware. Both give the texts of :data:`REFUSALS` when a write conflicts with the catalog.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import ValidationError

from oais.domain.descriptive import DescriptiveMetadata, canonical_json
from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import AipRecord, FileEntry, Rejection
from oais.domain.premis import Agent, Event
from oais.domain.storage import Copy, Segment

#: The algorithms kept as columns of the files table; others go to the digest table.
COLUMN_ALGORITHMS = (DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128)

#: Why a write is refused, by the name of the database constraint it would break. The SQL
#: repository explains a refused statement with it; the in-memory catalog gives the same texts for
#: the same refusals.
REFUSALS = {
    "uq_aip_versions_aip_id_version": "this AIP version is already in the catalog",
    "pk_aips": "the AIP was added by another transaction at the same time",
    "pk_events": "an event with one of these identifiers is already recorded",
    "uq_files_version_id_path": "a file path is listed twice",
    "pk_rejections": "a rejection with this identifier is already recorded",
    "pk_agents": "an agent was added by another transaction at the same time",
    "pk_event_log_segments": "this location already has an event log segment with this sequence number",
}
#: Why a write about an AIP version that is not in the catalog is refused.
NO_SUCH_VERSION = "there is no such AIP version in the catalog"


def check_record(record: AipRecord) -> None:
    """Refuse a record that is inconsistent in itself, before anything is written.

    Args:
        record: the AIP version to add.

    Raises:
        CatalogError: naming every problem found (ids that disagree, naive times, a file without
            any digest, counts that do not match the files, duplicate paths, event
            identifiers, agents or copy locations, a file derived from a path no other file of the
            version has, an event naming an agent the record does not list).
    """
    aip, version = record.aip, record.version
    name = f"AIP {aip.aip_id} version {version.version}"
    problems: list[str] = []
    if version.aip_id != aip.aip_id:
        problems.append(f"the version belongs to AIP {version.aip_id}")
    for what, value in (("AIP creation time", aip.created), ("version creation time", version.created)):
        problems += _naive(what, value)
    if version.files != len(record.files):
        problems.append(f"the version counts {version.files} files but lists {len(record.files)}")
    total = sum(f.size for f in record.files)
    if version.bytes != total:
        problems.append(f"the version counts {version.bytes} bytes but its files hold {total}")
    missing = [f.path for f in record.files if not f.digests]
    if missing:
        problems.append(
            f"{len(missing)} file(s) have no digest (fixity could never be checked), first {missing[0]!r}"
        )
    problems += _duplicates("file path", (f.path for f in record.files))
    problems += _derivation_problems(record.files)
    problems += _event_problems(record.events, record.agents, "the record")
    problems += _duplicates("copy location", (c.location for c in record.copies))
    for copy in record.copies:
        problems += _copy_problems(copy)
    if problems:
        raise CatalogError(f"cannot add {name}: " + "; ".join(problems))


def check_events(aip_id: str, version: int, events: Sequence[Event], agents: Sequence[Agent]) -> None:
    """Refuse events recorded after ingest that are inconsistent in themselves.

    Args:
        aip_id: the AIP they happened to.
        version: its version.
        events: the events.
        agents: the agents the events name.

    Raises:
        CatalogError: naming every problem found (naive times, duplicate event identifiers or
            agents, an event naming an agent that is not among ``agents``).
    """
    problems = _event_problems(events, agents, "the agents given")
    if problems:
        raise CatalogError(f"cannot record events of AIP {aip_id} version {version}: " + "; ".join(problems))


def check_copy(aip_id: str, version: int, copy: Copy) -> None:
    """Refuse a copy whose times have no time zone.

    Args:
        aip_id: the AIP.
        version: the version the copy is of.
        copy: the copy.

    Raises:
        CatalogError: naming the time.
    """
    problems = _copy_problems(copy)
    if problems:
        raise CatalogError(
            f"cannot record the copy of AIP {aip_id} version {version} at {copy.location}: "
            + "; ".join(problems)
        )


def check_rejection(rejection: Rejection) -> None:
    """Refuse a rejection whose time has no time zone.

    Args:
        rejection: the rejection.

    Raises:
        CatalogError: naming the time.
    """
    problems = _naive("time", rejection.date_time)
    if problems:
        raise CatalogError(f"cannot record rejection {rejection.identifier}: " + "; ".join(problems))


def check_segment(segment: Segment) -> None:
    """Refuse an event log segment whose creation time has no time zone.

    Args:
        segment: the segment.

    Raises:
        CatalogError: naming the time.
    """
    problems = _naive("creation time", segment.created)
    if problems:
        raise CatalogError(
            f"cannot record event log segment {segment.sequence} of {segment.location}: "
            + "; ".join(problems)
        )


def _event_problems(events: Sequence[Event], agents: Sequence[Agent], where: str) -> list[str]:
    problems: list[str] = []
    for event in events:
        problems += _naive(f"event {event.identifier} time", event.date_time)
    problems += _duplicates("event", (e.identifier for e in events))
    problems += _duplicates("agent", (a.identifier for a in agents))
    listed = {a.identifier for a in agents}
    for event in events:
        for link in event.agents:
            if link.agent not in listed:
                problems.append(f"event {event.identifier} names agent {link.agent!r}, not in {where}")
    return problems


def _derivation_problems(files: Sequence[FileEntry]) -> list[str]:
    # A derivation names a file of the same version (the source is kept beside what was made from
    # it); one naming nothing there could never be followed back.
    derived = [f for f in files if f.derived_from is not None]
    if not derived:
        return []
    paths = {f.path for f in files}
    orphans = [f for f in derived if f.derived_from == f.path or f.derived_from not in paths]
    if not orphans:
        return []
    first = orphans[0]
    return [
        f"{len(orphans)} file(s) are derived from a path no other file of the version has, first "
        f"{first.path!r} from {first.derived_from!r}"
    ]


def _copy_problems(copy: Copy) -> list[str]:
    problems = _naive(f"copy at {copy.location}: time stored", copy.stored)
    if copy.verified is not None:
        problems += _naive(f"copy at {copy.location}: time verified", copy.verified)
    return problems


def _naive(what: str, value: datetime) -> list[str]:
    if value.tzinfo is None or value.utcoffset() is None:
        return [f"{what} {value.isoformat()} has no time zone"]
    return []


def _duplicates(what: str, values: Iterable[str]) -> list[str]:
    counts = Counter(values)
    return [f"{what} {value!r} is listed {n} times" for value, n in counts.items() if n > 1]


def issues_to_json(issues: tuple[Issue, ...]) -> str:
    """Encode issues as a JSON array (ASCII only).

    Escaping everything outside ASCII keeps names that were not valid UTF-8 (SIP-E006 reports them
    with surrogate escapes) storable: neither SQLite nor PostgreSQL accepts a lone surrogate as text.

    Args:
        issues: the issues.

    Returns:
        The JSON text; ``"[]"`` for none.
    """
    if not issues:
        return "[]"
    return json.dumps([i.model_dump(mode="python") for i in issues], ensure_ascii=True)


def issues_from_json(text: str) -> tuple[Issue, ...]:
    """Decode issues written by :func:`issues_to_json`.

    Args:
        text: the JSON text.

    Returns:
        The issues, in their order.

    Raises:
        CatalogError: if the stored text is not a JSON array of issues.
    """
    if text == "[]":
        return ()
    try:
        items = json.loads(text)
        return tuple(Issue.model_validate(item) for item in items)
    except (ValueError, TypeError) as exc:
        raise CatalogError(f"stored issues are corrupt: {text[:80]!r}") from exc


def metadata_to_json(metadata: DescriptiveMetadata | None) -> str | None:
    """Encode descriptive metadata for the catalog: the canonical JSON the bag holds.

    Args:
        metadata: the metadata, or None.

    Returns:
        The JSON text, or None for none.
    """
    return None if metadata is None else canonical_json(metadata).decode("utf-8")


def metadata_from_json(text: str | None, aip_id: str) -> DescriptiveMetadata | None:
    """Decode descriptive metadata written by :func:`metadata_to_json`.

    Args:
        text: the stored JSON text, or None.
        aip_id: the AIP it belongs to (named if it is corrupt).

    Returns:
        The metadata, or None.

    Raises:
        CatalogError: if the stored text is not valid descriptive metadata.
    """
    if text is None:
        return None
    try:
        return DescriptiveMetadata.model_validate_json(text)
    except ValidationError as exc:
        raise CatalogError(
            f"the descriptive metadata of AIP {aip_id} in the catalog is corrupt: {exc}"
        ) from exc
