"""The in-memory deaccession catalog: the fake for unit tests, with the SQL catalog's semantics.

It keeps requests and tombstones beside an :class:`~oais.adapters.catalog.memory.InMemoryCatalog`
and acts on that catalog as the SQL adapter acts on the database: an execution that begins forgets
the AIP's copies; one that finishes records the deletion event and the event log segments; a restore
puts the AIP and its versions back as history, without files. Moves are compare and set on the
status, and an AIP has at most one open request, as in the database.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING

from oais.adapters.catalog.memory import InMemoryCatalog, InMemoryUnitOfWork
from oais.domain.deaccession import DeaccessionRequest, RequestStatus, Tombstone
from oais.domain.errors import CatalogError, ConflictError
from oais.domain.packages import Aip, AipRecord, AipVersion
from oais.domain.premis import Agent, LoggedEvent
from oais.domain.storage import Segment

if TYPE_CHECKING:
    from oais.domain.ports import DeaccessionCatalog


class InMemoryDeaccessionCatalog:
    """:class:`~oais.domain.ports.DeaccessionCatalog` beside an in-memory catalog (thread-safe)."""

    def __init__(self, catalog: InMemoryCatalog) -> None:
        """Args:
        catalog: the in-memory catalog holding the AIPs.
        """
        self._catalog = catalog
        self._requests: dict[str, DeaccessionRequest] = {}
        self._tombstones: dict[str, Tombstone] = {}
        self._lock = threading.Lock()

    def add(self, request: DeaccessionRequest) -> None:
        """Record a new request.

        Raises:
            ConflictError: the AIP already has an open request.
            CatalogError: no such AIP, or the id is taken.
        """
        with self._lock:
            if request.aip_id not in self._catalog._state.aips:
                raise CatalogError(f"cannot record deaccession request {request.id}: no AIP {request.aip_id}")
            if request.id in self._requests:
                raise CatalogError(f"cannot record deaccession request {request.id}: the id is taken")
            for other in self._requests.values():
                if other.aip_id == request.aip_id and other.open:
                    raise ConflictError(
                        f"AIP {request.aip_id} already has an open deaccession request, {other.id} "
                        f"({other.status.value}, asked by {other.requested_by})"
                    )
            self._requests[request.id] = _utc(request)

    def get(self, request_id: str) -> DeaccessionRequest | None:
        """One request, or None."""
        with self._lock:
            return self._requests.get(request_id)

    def list(
        self, aip_id: str | None = None, status: RequestStatus | None = None
    ) -> builtins.list[DeaccessionRequest]:
        """Requests, oldest first."""
        with self._lock:
            found = [
                r
                for r in self._requests.values()
                if (aip_id is None or r.aip_id == aip_id) and (status is None or r.status is status)
            ]
        return sorted(found, key=lambda r: (r.requested_at, r.id))

    def _set(self, request: DeaccessionRequest, expected: RequestStatus, not_started: bool = False) -> None:
        stored = self._requests.get(request.id)
        if stored is None:
            raise ConflictError(f"deaccession request {request.id} is not in the catalog")
        if stored.status is not expected:
            by = f" by {stored.decided_by}" if stored.decided_by else ""
            raise ConflictError(
                f"deaccession request {request.id} is {stored.status.value}{by} now, "
                f"no longer {expected.value}"
            )
        if not_started and stored.started is not None:
            raise ConflictError(f"deaccession request {request.id} is being carried out already")
        if request.decided_by is not None and request.decided_by == request.requested_by:
            raise CatalogError(
                f"cannot update deaccession request {request.id}: the four-eyes rule (four_eyes)"
            )
        self._requests[request.id] = _utc(request)

    def update(self, request: DeaccessionRequest, expected: RequestStatus) -> None:
        """Store a request's new state if it still has the status ``expected``.

        Raises:
            ConflictError: it has another status now.
            CatalogError: the four-eyes rule is broken.
        """
        with self._lock:
            self._set(request, expected)

    def _forget_copies(self, aip_id: str) -> None:
        with self._catalog._lock:
            # Mappings of the committed state are replaced, never changed in place (snapshots share them).
            state = self._catalog._state
            state.copies = {k: c for k, c in state.copies.items() if k[0] != aip_id}

    def begin(self, request: DeaccessionRequest) -> None:
        """Record that the execution begins and forget the AIP's copies.

        Raises:
            ConflictError: the request is no longer approved, or its execution began already.
        """
        with self._lock:
            self._set(request, RequestStatus.APPROVED, not_started=True)
            self._forget_copies(request.aip_id)

    def finish(
        self,
        request: DeaccessionRequest,
        tombstone: Tombstone,
        event: LoggedEvent,
        agents: Sequence[Agent],
        segments: Sequence[Segment],
    ) -> None:
        """Record the executed request, its tombstone, the deletion event and the segments.

        Raises:
            ConflictError: the request is no longer approved, or the AIP has a tombstone already.
            CatalogError: the event or a segment is refused; nothing is recorded.
        """
        with self._lock:
            if tombstone.aip_id in self._tombstones:
                raise ConflictError(f"AIP {tombstone.aip_id} has a tombstone already")
            before = self._requests.get(request.id)
            self._set(request, RequestStatus.APPROVED)
            try:
                with InMemoryUnitOfWork(self._catalog) as uow:
                    uow.aips.add_events(event.aip_id, event.version, [event.event], agents)
                    for segment in segments:
                        uow.aips.add_segment(segment)
                    uow.commit()
            except CatalogError:
                if before is not None:
                    self._requests[request.id] = before
                raise
            self._tombstones[tombstone.aip_id] = tombstone
            self._forget_copies(request.aip_id)

    def tombstone(self, aip_id: str) -> Tombstone | None:
        """The tombstone of ``aip_id``, or None."""
        with self._lock:
            return self._tombstones.get(aip_id)

    def withdrawn(self) -> dict[str, DeaccessionRequest]:
        """AIP id -> request, for every AIP deaccessioned or being deaccessioned."""
        with self._lock:
            return {r.aip_id: r for r in self._requests.values() if r.withdrawn}

    def restore(self, tombstone: Tombstone) -> None:
        """Put a tombstone back, with the AIP and its versions as history (no files, no copies).

        Raises:
            ConflictError: the catalog holds files of the AIP, or a tombstone of it already.
        """
        aip_id = tombstone.aip_id
        with self._lock:
            if aip_id in self._tombstones:
                raise ConflictError(f"the catalog holds a tombstone of AIP {aip_id} already")
            with self._catalog._lock:
                state = self._catalog._state
                if any(r.files for (a, _), r in state.versions.items() if a == aip_id):
                    raise ConflictError(
                        f"the catalog holds files of AIP {aip_id}, which a tombstone says are deleted"
                    )
                aips, versions = dict(state.aips), dict(state.versions)
                aip = aips.setdefault(
                    aip_id,
                    Aip(
                        aip_id=aip_id,
                        title=tombstone.title,
                        producer=tombstone.producer,
                        created=tombstone.ingested.astimezone(UTC),
                    ),
                )
                for v in tombstone.versions:
                    versions.setdefault(
                        (aip_id, v.version),
                        AipRecord(
                            aip=aip,
                            version=AipVersion(
                                aip_id=aip_id,
                                version=v.version,
                                created=v.created.astimezone(UTC),
                                files=v.files,
                                bytes=v.bytes,
                                payload_fingerprint=v.payload_fingerprint,
                                location=f"aips/{aip_id}/v{v.version}",
                            ),
                            files=[],
                            events=[],
                            agents=[],
                        ),
                    )
                state.aips, state.versions = aips, versions
            self._requests[tombstone.request_id] = DeaccessionRequest(
                id=tombstone.request_id,
                aip_id=aip_id,
                reason=tombstone.reason,
                requested_by=tombstone.requested_by,
                requested_at=tombstone.requested_at.astimezone(UTC),
                status=RequestStatus.EXECUTED,
                decided_by=tombstone.approved_by,
                decided_at=tombstone.approved_at.astimezone(UTC),
                decision_note=tombstone.approval_note,
                started=tombstone.deleted.astimezone(UTC),
                planned=tombstone.locations,
                executed_at=tombstone.deleted.astimezone(UTC),
                event_id=tombstone.event_id,
                detail="restored from the tombstone by a catalog rebuild",
            )
            self._tombstones[aip_id] = tombstone


def _utc(request: DeaccessionRequest) -> DeaccessionRequest:
    """Times in UTC, as the database gives them back."""
    update = {
        name: value.astimezone(UTC)
        for name in ("requested_at", "decided_at", "started", "executed_at", "retry_after")
        if (value := getattr(request, name)) is not None
    }
    return request.model_copy(update=update)


if TYPE_CHECKING:

    def _is_port(catalog: InMemoryDeaccessionCatalog) -> DeaccessionCatalog:
        return catalog
