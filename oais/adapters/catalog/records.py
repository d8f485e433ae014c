"""Rules every catalog implementation applies to what it is given, and shared encodings.

The in-memory fake and the SQL repository both call :func:`check_record`, so that a record the fake
accepts is never one the database refuses (and the other way round): the contract tests rely on it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import AipRecord

#: The algorithms kept as columns of the files table; others go to the digest table.
COLUMN_ALGORITHMS = (DigestAlgorithm.SHA256, DigestAlgorithm.XXH3_128)


def utc(value: datetime, what: str) -> datetime:
    """``value`` converted to UTC.

    Args:
        value: a time-zone aware datetime.
        what: what the time is, for the error message.

    Returns:
        The same instant with ``tzinfo=UTC``.

    Raises:
        CatalogError: if ``value`` is naive (its instant is unknown).
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise CatalogError(f"{what} {value.isoformat()} has no time zone; the catalog stores instants")
    return value.astimezone(UTC)


def check_record(record: AipRecord) -> None:
    """Refuse a record that is inconsistent in itself, before anything is written.

    Args:
        record: the AIP version to add.

    Raises:
        CatalogError: naming every problem found (ids that disagree, naive times, a file without
            any digest, counts that do not match the files, duplicate paths, event
            identifiers or agents, an event naming an agent the record does not list).
    """
    aip, version = record.aip, record.version
    name = f"AIP {aip.aip_id} version {version.version}"
    problems: list[str] = []
    if version.aip_id != aip.aip_id:
        problems.append(f"the version belongs to AIP {version.aip_id}")
    for what, value in (("AIP creation time", aip.created), ("version creation time", version.created)):
        if value.tzinfo is None or value.utcoffset() is None:
            problems.append(f"{what} {value.isoformat()} has no time zone")
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
    problems += _duplicates("event", (e.identifier for e in record.events))
    problems += _duplicates("agent", (a.identifier for a in record.agents))
    listed = {a.identifier for a in record.agents}
    for event in record.events:
        for link in event.agents:
            if link.agent not in listed:
                problems.append(f"event {event.identifier} names agent {link.agent!r}, not in the record")
    if problems:
        raise CatalogError(f"cannot add {name}: " + "; ".join(problems))


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
