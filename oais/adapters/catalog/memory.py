"""The in-memory catalog: the fake for unit tests, with the SQL catalog's semantics.

Nothing a unit of work writes is visible to another until it commits; a refused write voids the
whole unit of work (as a refused SQL statement does); a version, event identifier, rejection or
event log segment already committed is refused with :class:`~oais.domain.errors.CatalogError`,
whether that is noticed when it is written or, when another unit of work committed it in the
meantime, on commit. Times come back in UTC, as from the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Self

from oais.adapters.catalog.records import (
    NO_SUCH_VERSION,
    REFUSALS,
    check_copy,
    check_events,
    check_record,
    check_rejection,
    check_segment,
)
from oais.domain.errors import CatalogError
from oais.domain.packages import Aip, AipRecord, AipVersion, Rejection
from oais.domain.ports import AipRepository
from oais.domain.premis import Agent, Event
from oais.domain.storage import Copy, Segment

if TYPE_CHECKING:
    from oais.domain.ports import UnitOfWork, UnitOfWorkFactory

_VersionKey = tuple[str, int]


@dataclass
class _State:
    """Everything committed (or, in a unit of work, everything pending).

    Values are never changed in place, only replaced, so that a shallow copy of each mapping is a
    snapshot: committing builds a new state from a copy and swaps it in whole.
    """

    aips: dict[str, Aip] = field(default_factory=dict)
    #: Each version as ingested: its record's events, agents and files, without copies (those are
    #: only in ``copies``, below, which ``put_copy`` updates).
    versions: dict[_VersionKey, AipRecord] = field(default_factory=dict)
    #: Events recorded after ingest, in the order they were recorded.
    later_events: dict[_VersionKey, tuple[Event, ...]] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    rejections: dict[str, Rejection] = field(default_factory=dict)
    copies: dict[tuple[str, int, str], Copy] = field(default_factory=dict)  # (AIP id, version, location)
    segments: dict[tuple[str, int], Segment] = field(default_factory=dict)  # (location, sequence)


@dataclass(frozen=True)
class _Write:
    """One pending write: ``check`` refuses it against a state (CatalogError), ``apply`` makes it."""

    check: Callable[[_State], None]
    apply: Callable[[_State], None]


class InMemoryCatalog:
    """The committed state shared by every in-memory unit of work made from it (thread-safe)."""

    def __init__(self) -> None:
        """Start empty."""
        self._state = _State()
        self._lock = threading.Lock()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A new unit of work on this catalog (a :data:`~oais.domain.ports.UnitOfWorkFactory`)."""
        return InMemoryUnitOfWork(self)


class InMemoryAipRepository:
    """:class:`~oais.domain.ports.AipRepository` over an :class:`InMemoryCatalog`.

    Reads see what is committed plus what this repository's unit of work wrote, in order. A refused
    write discards everything pending, as a refused SQL statement rolls its transaction back.
    """

    def __init__(self, catalog: InMemoryCatalog) -> None:
        """Work on ``catalog``, with nothing pending.

        Args:
            catalog: the committed state.
        """
        self._catalog = catalog
        self._pending: list[_Write] = []

    # --- writing -----------------------------------------------------------------------------

    def add(self, record: AipRecord) -> None:
        """Add an AIP version with its copies, as :meth:`SqlAipRepository.add` does.

        Args:
            record: the version to add.

        Raises:
            CatalogError: if the record is inconsistent, its version is already in the catalog or
                its event identifiers are taken; everything pending is discarded.
        """

        def prepare() -> _Write:
            check_record(record)
            normalised = _normalise(record)
            return _Write(
                lambda state: _refuse_conflicts(state, normalised), lambda state: _apply(state, normalised)
            )

        self._write(prepare)

    def add_rejection(self, rejection: Rejection) -> None:
        """Record a refused SIP.

        Args:
            rejection: what was refused, when and why.

        Raises:
            CatalogError: if its time has no time zone or its identifier is taken; everything
                pending is discarded.
        """

        def prepare() -> _Write:
            check_rejection(rejection)
            stored = rejection.model_copy(update={"date_time": rejection.date_time.astimezone(UTC)})

            def check(state: _State) -> None:
                if stored.identifier in state.rejections:
                    raise CatalogError(
                        f"cannot record rejection {stored.identifier}: {REFUSALS['pk_rejections']}"
                    )

            def apply(state: _State) -> None:
                state.rejections[stored.identifier] = stored

            return _Write(check, apply)

        self._write(prepare)

    def add_events(self, aip_id: str, version: int, events: Sequence[Event], agents: Sequence[Agent]) -> None:
        """Record events that happened to a stored version after its ingest, with their agents.

        Args:
            aip_id: the AIP.
            version: the version the events are about.
            events: the events, in the order they are to be read back.
            agents: every agent the events name (those already known are kept as they are).

        Raises:
            CatalogError: if there is no such version, an event is inconsistent or its identifier
                is taken; everything pending is discarded.
        """
        what = f"record events of AIP {aip_id} version {version}"

        def prepare() -> _Write:
            check_events(aip_id, version, events, agents)
            stored = tuple(_normalise_event(e) for e in events)
            given = tuple(agents)

            def check(state: _State) -> None:
                _require_version(state, aip_id, version, what)
                if any(e.identifier in state.event_ids for e in stored):
                    raise CatalogError(f"cannot {what}: {REFUSALS['pk_events']}")

            def apply(state: _State) -> None:
                for agent in given:
                    state.agents.setdefault(agent.identifier, agent)
                state.event_ids.update(e.identifier for e in stored)
                key = (aip_id, version)
                state.later_events[key] = state.later_events.get(key, ()) + stored

            return _Write(check, apply)

        self._write(prepare)

    def put_copy(self, aip_id: str, version: int, copy: Copy) -> None:
        """Record a copy of a version at a location, replacing what was known about that location.

        Args:
            aip_id: the AIP.
            version: the version the copy is of.
            copy: the copy.

        Raises:
            CatalogError: if there is no such version or a time of the copy has no time zone;
                everything pending is discarded.
        """
        what = f"record the copy of AIP {aip_id} version {version} at {copy.location}"

        def prepare() -> _Write:
            check_copy(aip_id, version, copy)
            stored = _normalise_copy(copy)

            def apply(state: _State) -> None:
                state.copies[(aip_id, version, stored.location)] = stored

            return _Write(lambda state: _require_version(state, aip_id, version, what), apply)

        self._write(prepare)

    def add_segment(self, segment: Segment) -> None:
        """Remember an event log segment written to a location.

        Args:
            segment: the segment.

        Raises:
            CatalogError: if that location already has a segment with this sequence number or the
                segment's time has no time zone; everything pending is discarded.
        """

        def prepare() -> _Write:
            check_segment(segment)
            stored = segment.model_copy(update={"created": segment.created.astimezone(UTC)})
            key = (stored.location, stored.sequence)

            def check(state: _State) -> None:
                if key in state.segments:
                    raise CatalogError(
                        f"cannot record event log segment {stored.sequence} of {stored.location}: "
                        + REFUSALS["pk_event_log_segments"]
                    )

            def apply(state: _State) -> None:
                state.segments[key] = stored

            return _Write(check, apply)

        self._write(prepare)

    def _write(self, prepare: Callable[[], _Write]) -> None:
        try:
            write = prepare()
            with self._catalog._lock:
                write.check(self._view_locked())
        except CatalogError:
            self.discard()
            raise
        self._pending.append(write)

    # --- the unit of work's side -------------------------------------------------------------

    def discard(self) -> None:
        """Forget everything pending."""
        self._pending.clear()

    def publish(self) -> None:
        """Make everything pending visible to every unit of work, all or nothing.

        Raises:
            CatalogError: if another unit of work committed a conflicting version, event, rejection
                or segment since it was written here; everything pending is discarded.
        """
        with self._catalog._lock:
            state = _copy(self._catalog._state)
            try:
                for write in self._pending:
                    write.check(state)
                    write.apply(state)
            except CatalogError:
                self.discard()
                raise
            self._catalog._state = state
        self.discard()

    def _view_locked(self) -> _State:
        state = _copy(self._catalog._state)
        for write in self._pending:
            write.apply(state)
        return state

    def _view(self) -> _State:
        with self._catalog._lock:
            return self._view_locked()

    # --- reading -----------------------------------------------------------------------------

    def get(self, aip_id: str, version: int | None = None) -> AipRecord | None:
        """The record of one version of an AIP (the latest if ``version`` is None), or None.

        Args:
            aip_id: the AIP.
            version: the version number; None for the latest.

        Returns:
            A copy of the record, with the AIP's current title, producer and descriptive metadata,
            shared agents as first recorded, every event (ingest first, then later ones as
            recorded), the agents of later events after the ingest's, and the copies by location;
            or None.
        """
        state = self._view()
        numbers = [n for (a, n) in state.versions if a == aip_id]
        if not numbers:
            return None
        number = max(numbers) if version is None else version
        record = state.versions.get((aip_id, number))
        if record is None:
            return None
        events = [*record.events, *state.later_events.get((aip_id, number), ())]
        listed = [a.identifier for a in record.agents]
        later = dict.fromkeys(link.agent for e in events for link in e.agents if link.agent not in listed)
        return AipRecord(
            aip=state.aips[aip_id],
            version=record.version,
            files=list(record.files),
            events=events,
            agents=[state.agents[identifier] for identifier in (*listed, *later)],
            copies=sorted(
                (c for (a, n, _), c in state.copies.items() if (a, n) == (aip_id, number)),
                key=lambda c: c.location,
            ),
        )

    def find_by_fingerprint(self, fingerprint: str) -> AipVersion | None:
        """The oldest version whose payload fingerprint is ``fingerprint``, or None.

        Args:
            fingerprint: a payload fingerprint.

        Returns:
            The oldest match (earliest creation, then AIP id, then version number), or None.
        """
        matches = [
            r.version for r in self._view().versions.values() if r.version.payload_fingerprint == fingerprint
        ]
        return min(matches, key=lambda v: (v.created, v.aip_id, v.version), default=None)

    def rejections(self) -> list[Rejection]:
        """Every refused SIP, oldest first (ties in time by identifier).

        Returns:
            The rejections.
        """
        return sorted(self._view().rejections.values(), key=lambda r: (r.date_time, r.identifier))

    def versions(self) -> Iterator[AipVersion]:
        """Every AIP version, by AIP (oldest first, ties by AIP id), then by version.

        Returns:
            The versions, as the catalog holds them when iteration starts.
        """
        state = self._view()
        keys = sorted(state.versions, key=lambda k: _version_order(state, k))
        for key in keys:
            yield state.versions[key].version

    def copies(self, location: str | None = None) -> list[tuple[str, int, Copy]]:
        """The copies of every version, or of every version at ``location``.

        Args:
            location: a location name; None for every location.

        Returns:
            (AIP id, version, copy) triples by AIP (oldest first, ties by AIP id), version, location.
        """
        state = self._view()
        found = [
            (aip_id, number, copy)
            for (aip_id, number, where), copy in state.copies.items()
            if location is None or where == location
        ]
        found.sort(key=lambda t: (*_version_order(state, (t[0], t[1])), t[2].location))
        return found

    def segments(self, location: str) -> list[Segment]:
        """The event log segments written to ``location``, by sequence number.

        Args:
            location: the location name.

        Returns:
            Its segments.
        """
        state = self._view()
        return [state.segments[key] for key in sorted(k for k in state.segments if k[0] == location)]

    def is_empty(self) -> bool:
        """Whether the catalog holds no AIP, rejection, event or event log segment.

        Returns:
            True if it holds none.
        """
        state = self._view()
        return not (state.aips or state.rejections or state.event_ids or state.segments)

    # Last in the class: below this point, ``list`` would name the method in annotations.
    def list(self) -> list[tuple[Aip, int]]:
        """Every AIP with its latest version number, oldest first (ties by AIP id).

        Returns:
            (AIP, latest version) pairs.
        """
        state = self._view()
        latest: dict[str, int] = {}
        for aip_id, number in state.versions:
            latest[aip_id] = max(number, latest.get(aip_id, 0))
        aips = sorted((state.aips[a] for a in latest), key=lambda aip: (aip.created, aip.aip_id))
        return [(aip, latest[aip.aip_id]) for aip in aips]


class InMemoryUnitOfWork:
    """:class:`~oais.domain.ports.UnitOfWork` over an :class:`InMemoryCatalog`."""

    aips: AipRepository

    def __init__(self, catalog: InMemoryCatalog | None = None) -> None:
        """Work on ``catalog`` (a fresh, private one if None).

        Args:
            catalog: the shared committed state.
        """
        self.catalog = catalog if catalog is not None else InMemoryCatalog()
        self._repository = InMemoryAipRepository(self.catalog)
        self.aips = self._repository
        self.committed = False  # lets unit tests assert that a service committed

    def __enter__(self) -> Self:
        """Start with nothing pending."""
        self._repository.discard()
        return self

    def __exit__(self, *exc: object) -> None:
        """Discard whatever was not committed."""
        self.rollback()

    def commit(self) -> None:
        """Make everything pending visible to every unit of work.

        Raises:
            CatalogError: if it conflicts with what another unit of work committed meanwhile.
        """
        self._repository.publish()
        self.committed = True

    def rollback(self) -> None:
        """Discard everything not committed."""
        self._repository.discard()


# The _normalise functions take what the check_ functions of records.py accepted: aware times only.
# Times are kept in UTC, as the database returns them.


def _normalise(record: AipRecord) -> AipRecord:
    # Deep enough a copy that the caller mutating its lists cannot change the catalog.
    aip, version = record.aip, record.version
    return AipRecord(
        aip=aip.model_copy(update={"created": aip.created.astimezone(UTC)}),
        version=version.model_copy(update={"created": version.created.astimezone(UTC)}),
        files=list(record.files),
        events=[_normalise_event(e) for e in record.events],
        agents=list(record.agents),
        copies=[_normalise_copy(c) for c in record.copies],
    )


def _normalise_event(event: Event) -> Event:
    return event.model_copy(update={"date_time": event.date_time.astimezone(UTC)})


def _normalise_copy(copy: Copy) -> Copy:
    verified = None if copy.verified is None else copy.verified.astimezone(UTC)
    return copy.model_copy(update={"stored": copy.stored.astimezone(UTC), "verified": verified})


def _require_version(state: _State, aip_id: str, version: int, what: str) -> None:
    if (aip_id, version) not in state.versions:
        raise CatalogError(f"cannot {what}: {NO_SUCH_VERSION}")


def _version_order(state: _State, key: _VersionKey) -> tuple[object, ...]:
    aip_id, number = key
    return (state.aips[aip_id].created, aip_id, number)


def _refuse_conflicts(state: _State, record: AipRecord) -> None:
    aip_id, number = record.aip.aip_id, record.version.version
    name = f"AIP {aip_id} version {number}"
    if (aip_id, number) in state.versions:
        raise CatalogError(f"cannot add {name}: {REFUSALS['uq_aip_versions_aip_id_version']}")
    if any(e.identifier in state.event_ids for e in record.events):
        raise CatalogError(f"cannot add {name}: {REFUSALS['pk_events']}")


def _apply(state: _State, record: AipRecord) -> None:
    aip_id, number = record.aip.aip_id, record.version.version
    newest = max((n for (a, n) in state.versions if a == aip_id), default=None)
    known = state.aips.get(aip_id)
    if known is None:
        state.aips[aip_id] = record.aip
    elif newest is None or number > newest:
        # Title, producer and descriptive metadata follow the newest version; creation stays the
        # first recorded.
        state.aips[aip_id] = known.model_copy(
            update={
                "title": record.aip.title,
                "producer": record.aip.producer,
                "metadata": record.aip.metadata,
            }
        )
    for agent in record.agents:
        state.agents.setdefault(agent.identifier, agent)
    state.event_ids.update(e.identifier for e in record.events)
    state.versions[(aip_id, number)] = record.model_copy(update={"copies": []})
    for copy in record.copies:
        state.copies[(aip_id, number, copy.location)] = copy


def _copy(state: _State) -> _State:
    return _State(
        aips=dict(state.aips),
        versions=dict(state.versions),
        later_events=dict(state.later_events),
        agents=dict(state.agents),
        event_ids=set(state.event_ids),
        rejections=dict(state.rejections),
        copies=dict(state.copies),
        segments=dict(state.segments),
    )


def in_memory_unit_of_work_factory(catalog: InMemoryCatalog | None = None) -> UnitOfWorkFactory:
    """A factory of units of work that share one in-memory catalog.

    Args:
        catalog: the catalog to share (a fresh one if None).

    Returns:
        The factory.
    """
    shared = catalog if catalog is not None else InMemoryCatalog()
    return shared.unit_of_work


if TYPE_CHECKING:
    # mypy proves here that the classes satisfy the ports they implement.
    def _is_unit_of_work(uow: InMemoryUnitOfWork) -> UnitOfWork:
        return uow

    def _is_repository(repository: InMemoryAipRepository) -> AipRepository:
        return repository
