"""The in-memory catalog: the fake for unit tests, with the SQL catalog's semantics.

Nothing a unit of work adds is visible to another until it commits; a failed add voids the whole
unit of work (as a refused SQL statement does); a version already committed is refused with
:class:`~oais.domain.errors.CatalogError`, whether that is noticed on add or, when another unit of
work committed it in the meantime, on commit. Times come back in UTC, as from the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from oais.adapters.catalog.records import check_record, utc
from oais.domain.errors import CatalogError
from oais.domain.packages import Aip, AipRecord, AipVersion, Rejection
from oais.domain.ports import AipRepository
from oais.domain.premis import Agent

if TYPE_CHECKING:
    from oais.domain.ports import UnitOfWork, UnitOfWorkFactory


@dataclass
class _State:
    """Everything committed (or, in a unit of work, everything pending)."""

    aips: dict[str, Aip] = field(default_factory=dict)
    versions: dict[tuple[str, int], AipRecord] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    rejections: dict[str, Rejection] = field(default_factory=dict)


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

    Reads see what is committed plus what this repository's unit of work added.
    """

    def __init__(self, catalog: InMemoryCatalog) -> None:
        """Work on ``catalog``, with nothing pending.

        Args:
            catalog: the committed state.
        """
        self._catalog = catalog
        self._records: list[AipRecord] = []
        self._rejections: list[Rejection] = []

    # --- writing -----------------------------------------------------------------------------

    def add(self, record: AipRecord) -> None:
        """Add an AIP version, as :meth:`SqlAipRepository.add` does.

        Args:
            record: the version to add.

        Raises:
            CatalogError: if the record is inconsistent, its version is already in the catalog or
                its event identifiers are taken; everything pending is discarded.
        """
        try:
            check_record(record)
            normalised = _normalise(record)
            with self._catalog._lock:
                _refuse_conflicts(self._view_locked(), normalised)
        except CatalogError:
            self.discard()
            raise
        self._records.append(normalised)

    def add_rejection(self, rejection: Rejection) -> None:
        """Record a refused SIP.

        Args:
            rejection: what was refused, when and why.

        Raises:
            CatalogError: if its time has no time zone or its identifier is taken; everything
                pending is discarded.
        """
        try:
            stored = rejection.model_copy(
                update={"date_time": utc(rejection.date_time, f"rejection {rejection.identifier} time")}
            )
            with self._catalog._lock:
                if stored.identifier in self._view_locked().rejections:
                    raise CatalogError(
                        f"cannot record rejection {stored.identifier}: "
                        "a rejection with this identifier is already recorded"
                    )
        except CatalogError:
            self.discard()
            raise
        self._rejections.append(stored)

    # --- the unit of work's side -------------------------------------------------------------

    def discard(self) -> None:
        """Forget everything pending."""
        self._records.clear()
        self._rejections.clear()

    def publish(self) -> None:
        """Make everything pending visible to every unit of work, all or nothing.

        Raises:
            CatalogError: if another unit of work committed a conflicting version, event or
                rejection since it was added here; everything pending is discarded.
        """
        with self._catalog._lock:
            state = _copy(self._catalog._state)
            try:
                for record in self._records:
                    _refuse_conflicts(state, record)
                    _apply(state, record)
                for rejection in self._rejections:
                    if rejection.identifier in state.rejections:
                        raise CatalogError(
                            f"catalog commit refused: rejection {rejection.identifier} is already recorded"
                        )
                    state.rejections[rejection.identifier] = rejection
            except CatalogError:
                self.discard()
                raise
            self._catalog._state = state
        self.discard()

    def _view_locked(self) -> _State:
        state = _copy(self._catalog._state)
        for record in self._records:
            _apply(state, record)
        for rejection in self._rejections:
            state.rejections[rejection.identifier] = rejection
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
            A copy of the record, with the AIP's current title and producer and shared agents as
            first recorded, or None.
        """
        state = self._view()
        numbers = [n for (a, n) in state.versions if a == aip_id]
        if not numbers:
            return None
        number = max(numbers) if version is None else version
        record = state.versions.get((aip_id, number))
        if record is None:
            return None
        return AipRecord(
            aip=state.aips[aip_id],
            version=record.version,
            files=list(record.files),
            events=list(record.events),
            agents=[state.agents[a.identifier] for a in record.agents],
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


def _normalise(record: AipRecord) -> AipRecord:
    # Deep enough a copy that the caller mutating its lists cannot change the catalog.
    aip, version = record.aip, record.version
    return AipRecord(
        aip=aip.model_copy(update={"created": utc(aip.created, "AIP creation time")}),
        version=version.model_copy(update={"created": utc(version.created, "version creation time")}),
        files=list(record.files),
        events=[e.model_copy(update={"date_time": utc(e.date_time, "event time")}) for e in record.events],
        agents=list(record.agents),
    )


def _refuse_conflicts(state: _State, record: AipRecord) -> None:
    aip_id, number = record.aip.aip_id, record.version.version
    name = f"AIP {aip_id} version {number}"
    if (aip_id, number) in state.versions:
        raise CatalogError(f"cannot add {name}: this AIP version is already in the catalog")
    taken = [e.identifier for e in record.events if e.identifier in state.event_ids]
    if taken:
        raise CatalogError(f"cannot add {name}: an event with one of these identifiers is already recorded")


def _apply(state: _State, record: AipRecord) -> None:
    aip_id, number = record.aip.aip_id, record.version.version
    newest = max((n for (a, n) in state.versions if a == aip_id), default=None)
    known = state.aips.get(aip_id)
    if known is None:
        state.aips[aip_id] = record.aip
    elif newest is None or number > newest:
        # Title and producer follow the newest version; creation stays the first recorded.
        state.aips[aip_id] = known.model_copy(
            update={"title": record.aip.title, "producer": record.aip.producer}
        )
    for agent in record.agents:
        state.agents.setdefault(agent.identifier, agent)
    state.event_ids.update(e.identifier for e in record.events)
    state.versions[(aip_id, number)] = record


def _copy(state: _State) -> _State:
    return _State(
        aips=dict(state.aips),
        versions=dict(state.versions),
        agents=dict(state.agents),
        event_ids=set(state.event_ids),
        rejections=dict(state.rejections),
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
