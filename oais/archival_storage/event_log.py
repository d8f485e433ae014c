"""The append-only, hash-chained event log that every location keeps (promise 3).

Every PREMIS event after ingest (replication, fixity checks, repair, migration, …) goes to the
catalog *and* to the event log of each location, so that the catalog can be rebuilt from storage
alone and an auditor can check the history without the database.

A segment is one object ``events/<12-digit sequence>.jsonl``: UTF-8 JSON, one value per line.

* line 1, the header: ``{"log": "oais event log", "format": 1, "location": …, "sequence": n,
  "previous": <sha256 of segment n-1, hex, or null for n = 1>, "created": <ISO 8601>}``;
* then one line per agent the events name: ``{"agent": {identifier, name, type, version, note}}``;
* then one line per event: ``{"aip": <AIP id>, "version": <n>, "event": {identifier, type,
  date_time, detail, outcome, outcome_detail, agents: [{agent, role}], objects, policy}}``; event
  and agent types are the id.loc.gov labels.

A segment is never rewritten. Removing or editing one breaks the chain (the next segment names the
old sha256), and the catalog keeps every segment's own sha256, which covers the newest one too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from oais.archival_storage.layout import EVENTS, parse_segment_key, segment_key
from oais.domain.errors import ConflictError, NotFound, StorageError
from oais.domain.ports import ObjectStore
from oais.domain.premis import Agent, Event, LoggedEvent
from oais.domain.storage import Segment, WriteItem

FORMAT = 1
LOG_NAME = "oais event log"


@dataclass
class SegmentContent:
    """A segment read back and parsed."""

    sequence: int
    previous: str | None
    created: datetime
    sha256: str
    agents: list[Agent] = field(default_factory=list)
    events: list[LoggedEvent] = field(default_factory=list)

    def record(self, location: str, key: str) -> Segment:
        """What the catalog remembers of this segment."""
        return Segment(
            location=location,
            sequence=self.sequence,
            key=key,
            sha256=self.sha256,
            previous=self.previous,
            events=len(self.events),
            created=self.created,
        )


def encode_segment(
    location: str,
    sequence: int,
    previous: str | None,
    created: datetime,
    events: Sequence[LoggedEvent],
    agents: Sequence[Agent],
) -> bytes:
    """The bytes of one segment (see the module docstring)."""
    header = {
        "log": LOG_NAME,
        "format": FORMAT,
        "location": location,
        "sequence": sequence,
        "previous": previous,
        "created": created.isoformat(),
    }
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps({"agent": a.model_dump(mode="json")}, ensure_ascii=False) for a in agents]
    lines += [
        json.dumps(
            {"aip": e.aip_id, "version": e.version, "event": e.event.model_dump(mode="json")},
            ensure_ascii=False,
        )
        for e in events
    ]
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def decode_segment(key: str, data: bytes) -> SegmentContent:
    """Parse a segment.

    Raises:
        ValueError: naming the segment and the line that is not what the format says.
    """
    digest = hashlib.sha256(data).hexdigest()
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{key}: not UTF-8 ({exc})") from exc
    try:
        header = json.loads(lines[0])
        if not isinstance(header, dict) or header.get("log") != LOG_NAME or header.get("format") != FORMAT:
            raise ValueError("not an oais event log header")
        content = SegmentContent(
            sequence=int(header["sequence"]),
            previous=header["previous"],
            created=datetime.fromisoformat(header["created"]),
            sha256=digest,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{key} line 1: {exc}") from exc
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        try:
            value = json.loads(line)
            if "agent" in value:
                content.agents.append(Agent.model_validate(value["agent"]))
            else:
                content.events.append(
                    LoggedEvent(
                        str(value["aip"]), int(value["version"]), Event.model_validate(value["event"])
                    )
                )
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"{key} line {number}: {exc}") from exc
    return content


def append(
    store: ObjectStore,
    newest: Segment | None,
    events: Sequence[LoggedEvent],
    agents: Sequence[Agent],
    now: datetime,
) -> Segment:
    """Write the next segment of ``store``'s event log.

    The next sequence number and the sha256 to chain to come from the newest segment the catalog
    remembers, so that appending costs one write; the log is listed only when there is none, or
    when another process wrote that sequence number first.

    Args:
        store: the location.
        newest: the newest segment the catalog remembers for this location, if any.
        events: the events to log.
        agents: the agents they name.
        now: the segment's time.

    Returns:
        The segment written (for the catalog).

    Raises:
        StorageError: if the segment cannot be written.
    """
    last, previous = (newest.sequence, newest.sha256) if newest is not None else _newest_stored(store)
    for _attempt in range(3):
        sequence = last + 1
        data = encode_segment(store.name, sequence, previous, now, events, agents)
        digest = hashlib.sha256(data).hexdigest()
        key = segment_key(sequence)
        try:
            for _ in store.write([WriteItem(key=key, size=len(data), sha256=digest, data=data)]):
                pass
        except ConflictError:
            last, previous = _newest_stored(store)  # another process wrote it first: chain after it
            continue
        return Segment(
            location=store.name,
            sequence=sequence,
            key=key,
            sha256=digest,
            previous=previous,
            events=len(events),
            created=now,
        )
    raise StorageError(f"location '{store.name}': cannot append to the event log: it keeps changing")


def _newest_stored(store: ObjectStore) -> tuple[int, str | None]:
    """(sequence, sha256) of the newest segment at ``store``, (0, None) if the log is empty."""
    last = max(_sequences(store), default=0)
    if not last:
        return 0, None
    return last, hashlib.sha256(store.get_bytes(segment_key(last))).hexdigest()


def _sequences(store: ObjectStore) -> Iterator[int]:
    for info in store.list(EVENTS):
        sequence = parse_segment_key(info.key)
        if sequence is not None:
            yield sequence


def read_all(store: ObjectStore) -> Iterator[tuple[str, bytes | None]]:
    """(key, bytes) of every segment in sequence order; a listed segment that cannot be read is None."""
    for info in store.list(EVENTS):
        if parse_segment_key(info.key) is None:
            continue
        try:
            yield info.key, store.get_bytes(info.key)
        except NotFound:
            yield info.key, None


def verify(store: ObjectStore, known: Sequence[Segment]) -> tuple[list[str], int, int]:
    """Check a location's event log: sequence without gaps, every link, and the catalog's hashes.

    Args:
        store: the location.
        known: the segments the catalog remembers for it.

    Returns:
        (problems, segments read, events read); no problems means the log is whole.
    """
    problems: list[str] = []
    remembered = {s.sequence: s for s in known}
    seen: dict[int, str] = {}
    previous_sha: str | None = None
    expected_sequence = 1
    events = 0
    for key, data in read_all(store):
        sequence = parse_segment_key(key)
        assert sequence is not None  # read_all only yields segment keys
        if sequence != expected_sequence:
            missing = (
                f"segment {expected_sequence}"
                if sequence == expected_sequence + 1
                else f"segments {expected_sequence} to {sequence - 1}"
            )
            problems.append(f"{key}: {missing} missing before it (a gap in the log)")
            previous_sha = None
        expected_sequence = sequence + 1
        if data is None:
            problems.append(f"{key}: listed but cannot be read")
            previous_sha = None
            continue
        try:
            content = decode_segment(key, data)
        except ValueError as exc:
            problems.append(f"{exc} (the segment was altered)")
            previous_sha = hashlib.sha256(data).hexdigest()
            seen[sequence] = previous_sha
            continue
        events += len(content.events)
        seen[sequence] = content.sha256
        if content.sequence != sequence:
            problems.append(f"{key}: its header says sequence {content.sequence}")
        if sequence > 1 and previous_sha is not None and content.previous != previous_sha:
            problems.append(
                f"{key}: names {content.previous} as the sha256 of segment {sequence - 1}, which is "
                f"{previous_sha} (segment {sequence - 1} was altered or replaced)"
            )
        if sequence == 1 and content.previous is not None:
            problems.append(f"{key}: the first segment names a previous one")
        mine = remembered.get(sequence)
        if mine is not None and mine.sha256 != content.sha256:
            problems.append(
                f"{key}: its sha256 is {content.sha256}, the catalog recorded {mine.sha256} (altered)"
            )
        previous_sha = content.sha256
    for sequence, segment in sorted(remembered.items()):
        if sequence not in seen:
            problems.append(f"{segment.key}: recorded in the catalog but not found at the location (removed)")
    return problems, len(seen), events
