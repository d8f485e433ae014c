"""Deaccession: request, approve (by another administrator) or reject, then delete, and keep a
tombstone. The rules are in :mod:`oais.domain.deaccession`; this service applies them to the catalog
and to every storage location.

Carrying out an approved request, step by step:

1. **Plan** at every configured location: every object version under ``aips/<id>/`` and what
   protects it (Object Lock retention, legal hold). If any location cannot be asked, or anything is
   retained (COMPLIANCE until a date, GOVERNANCE unless the storage policy allows lifting it), nothing
   is deleted anywhere: the request stays ``approved`` with the date it is due again, and
   ``oais deaccession run`` (or the integrity daemon) tries again then.
2. **Withdraw**: the catalog forgets the AIP's copies, audit slices and findings, and records what the
   plan found, in one transaction; audits, replication and access leave the AIP alone from now on.
3. **Delete** every version at every location holding any (a location never holds half an AIP:
   the store re-checks and deletes only if everything may go).
4. **Tombstone**: ``aips/<id>/tombstone.json`` is written and read back at every required location
   and every location that held something, *after* the deletions, so that it never claims what did
   not happen; on a locked bucket it is retained as the policy says.
5. **Record**: one PREMIS ``deletion`` event (this software as executing program, the requester as
   implementer, the approver as authorizer, citing the storage policy) in every event log, then the
   request executed, the tombstone and the event in the catalog, in one transaction.

A failure after step 2 leaves the request ``approved`` with what happened in its detail; the next
run finishes the work with the same plan and the same tombstone.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from oais.archival_storage.layout import aip_prefix, tombstone_key
from oais.archival_storage.service import ArchivalStorage
from oais.domain.actions import Actor, Basis
from oais.domain.deaccession import (
    DeaccessionRequest,
    DeletedVersion,
    LocationDeletion,
    RequestStatus,
    Tombstone,
    clean_text,
    decide,
    executed,
    make_tombstone,
    new_request,
    require_admin_token,
    require_executable,
    tombstone_from_json,
    tombstone_json,
    waiting,
)
from oais.domain.errors import AccessDenied, AipNotFound, NotFound, OaisError, StorageError
from oais.domain.packages import AipRecord
from oais.domain.ports import Clock, DeaccessionCatalog, UnitOfWorkFactory
from oais.domain.premis import (
    Agent,
    AgentLink,
    AgentRole,
    AgentType,
    Event,
    EventType,
    LoggedEvent,
    Outcome,
)
from oais.domain.storage import DeletionPlan, DeletionReport, ReadItem, WriteItem

#: How long a deletion held by a legal hold (which has no end date) waits before it is tried again.
LEGAL_HOLD_RETRY = timedelta(days=1)


class LocationOutcome(BaseModel):
    """What happened (or is planned, or blocks) at one location."""

    location: str
    objects: int = 0  # object versions deleted (or to delete)
    bytes: int = 0
    delete_markers: int = 0
    uploads: int = 0
    #: Object versions that may not be deleted yet, and until when the last of them is retained.
    blocked: int = 0
    held_until: datetime | None = None
    legal_holds: int = 0
    problem: str | None = None


class DeaccessionOutcome(BaseModel):
    """Where a request stands after a command."""

    request: DeaccessionRequest
    #: requested, rejected: decided only; waiting: approved, retention holds objects; executed: the
    #: objects are deleted and the tombstone stands; failed: approved, not carried out (see problems).
    state: Literal["requested", "rejected", "waiting", "executed", "failed"]
    tombstone: Tombstone | None = None
    locations: list[LocationOutcome] = []
    problems: list[str] = []


class DeaccessionService:
    """Deaccession requests, decisions and their execution."""

    def __init__(
        self,
        *,
        catalog: UnitOfWorkFactory,
        deaccessions: DeaccessionCatalog,
        storage: ArchivalStorage,
        clock: Clock,
        software: Agent,
    ) -> None:
        """Wire the service (see ``oais.bootstrap.deaccession_service``).

        Args:
            catalog: the catalog (AIPs and their versions).
            deaccessions: the requests and tombstones.
            storage: every location, the storage policy and the event logs.
            clock: where the time comes from.
            software: this software, the executing program of the deletion event.
        """
        self._catalog = catalog
        self._deaccessions = deaccessions
        self._storage = storage
        self._clock = clock
        self._software = software

    # -- reading --------------------------------------------------------------------------------

    def list_requests(
        self, status: RequestStatus | None = None, aip_id: str | None = None
    ) -> list[DeaccessionRequest]:
        """Requests, oldest first (of one status, of one AIP).

        Raises:
            CatalogError: the database failed.
        """
        return self._deaccessions.list(aip_id, status)

    def show(self, request_id: str) -> tuple[DeaccessionRequest, Tombstone | None]:
        """One request, and its AIP's tombstone once executed.

        Raises:
            NotFound: no such request.
            CatalogError: the database failed.
        """
        request = self._get(request_id)
        tombstone = (
            self._deaccessions.tombstone(request.aip_id) if request.status is RequestStatus.EXECUTED else None
        )
        return request, tombstone

    def _get(self, request_id: str) -> DeaccessionRequest:
        request = self._deaccessions.get(request_id)
        if request is None:
            raise NotFound(f"no deaccession request {request_id} in the catalog")
        return request

    # -- requesting and deciding ----------------------------------------------------------------

    def request(self, aip_id: str, reason: str, actor: Actor) -> DeaccessionRequest:
        """Ask for the deaccession of an AIP.

        Args:
            aip_id: the AIP.
            reason: why (kept in the request, the PREMIS event and the tombstone).
            actor: who asks: an administrator's API token.

        Returns:
            The new request (``requested``).

        Raises:
            AccessDenied: the actor is not an administrator's API token.
            AipNotFound: the catalog has no such AIP.
            ValidationFailed: DEA-E001, the reason is empty, too long or holds a control character.
            ConflictError: the AIP was already deaccessioned or has an open request.
            CatalogError: the database failed.
        """
        # The actor's right first: a refusal must not tell what the archive holds.
        require_admin_token(actor, f"requesting the deaccession of AIP {aip_id}")
        clean_text(reason, "reason")
        with self._catalog() as uow:
            record = uow.aips.get(aip_id)
        if record is None:
            raise AipNotFound(f"AIP {aip_id} is not in the catalog")
        request = new_request(
            request_id=f"dea-{uuid.uuid4().hex[:12]}",
            aip_id=aip_id,
            reason=reason,
            actor=actor,
            now=self._clock.now(),
            requests_of_aip=self._deaccessions.list(aip_id),
        )
        self._deaccessions.add(request)
        return request

    def approve(self, request_id: str, actor: Actor, note: str | None = None) -> DeaccessionOutcome:
        """Approve a request (by an administrator other than the requester), then carry it out at
        once if retention allows.

        Returns:
            The outcome: executed, waiting for retention, or failed (the approval stands; ``run``
            tries again).

        Raises:
            NotFound: no such request.
            AccessDenied: the actor is not an administrator's token, or asked for it (four eyes).
            ConflictError: the request was already decided.
            ValidationFailed: DEA-E001, the note is unusable.
            CatalogError: the database failed.
        """
        request = self._get(request_id)
        approved = decide(request, actor=actor, approve=True, note=note, now=self._clock.now())
        self._deaccessions.update(approved, RequestStatus.REQUESTED)
        return self._carry_out(approved)

    def reject(self, request_id: str, actor: Actor, note: str) -> DeaccessionOutcome:
        """Reject a request (by an administrator other than the requester), saying why.

        Raises:
            NotFound: no such request.
            AccessDenied: the actor is not an administrator's token, or asked for it (four eyes).
            ConflictError: the request was already decided.
            ValidationFailed: DEA-E001, the note is empty or unusable.
            CatalogError: the database failed.
        """
        request = self._get(request_id)
        rejected = decide(request, actor=actor, approve=False, note=note, now=self._clock.now())
        self._deaccessions.update(rejected, RequestStatus.REQUESTED)
        return DeaccessionOutcome(request=rejected, state="rejected")

    # -- carrying out ---------------------------------------------------------------------------

    def execute(self, request_id: str, actor: Actor) -> DeaccessionOutcome:
        """Carry out one approved request now (as ``run`` does when it is due).

        Raises:
            NotFound: no such request.
            AccessDenied: the actor may not run deaccessions.
            ConflictError: the request is not approved (requested, rejected or already executed):
                nothing deletes an AIP without an approval.
            CatalogError: the database failed.
        """
        _require_runner(actor)
        request = self._get(request_id)
        require_executable(request)
        return self._carry_out(request)

    def run_due(self, actor: Actor) -> list[DeaccessionOutcome]:
        """Carry out every approved request that is due (no retention known to hold it now).

        Args:
            actor: who runs it: an administrator (an OS user running oais is one) or the daemon.

        Returns:
            One outcome per request tried.

        Raises:
            AccessDenied: the actor may not run deaccessions.
            CatalogError: the database failed.
        """
        _require_runner(actor)
        return [self._carry_out(r) for r in self.due()]

    def due(self) -> list[DeaccessionRequest]:
        """The approved requests to carry out now: never tried, or whose retention has ended.

        Raises:
            CatalogError: the database failed.
        """
        now = self._clock.now()
        return [
            r
            for r in self._deaccessions.list(status=RequestStatus.APPROVED)
            if r.retry_after is None or r.retry_after <= now
        ]

    def _carry_out(self, request: DeaccessionRequest) -> DeaccessionOutcome:
        """Plan, withdraw, delete, write the tombstones, record (see the module docstring)."""
        require_executable(request)
        record, versions = self._versions(request.aip_id)
        policy = self._storage.policy
        bypass = policy.deaccession.governance_bypass
        now = self._clock.now()
        prefix = aip_prefix(request.aip_id)
        # A tombstone an interrupted run of this request wrote stays (it may be retained): it is
        # reused, never deleted.
        keep = (tombstone_key(request.aip_id),)
        plans: dict[str, DeletionPlan] = {}
        problems: list[str] = []
        for name in self._storage.names():
            try:
                plans[name] = self._storage.location(name).plan_deletion(prefix, now, bypass, keep)
            except OaisError as exc:
                problems.append(_at(name, exc))
        outcomes = [_planned(plan) for plan in plans.values()]
        if problems:
            return self._stays(
                request,
                "not carried out: a location could not be checked (nothing was deleted anywhere): "
                + "; ".join(problems),
                None,
                outcomes,
                problems,
                state="failed",
            )
        blocked = {name: plan for name, plan in plans.items() if not plan.clear}
        if blocked:
            return self._held(request, blocked, now, bypass, outcomes)
        holding = {name: plan for name, plan in plans.items() if plan.versions or plan.uploads}
        if request.started is None:
            request = request.model_copy(
                update={
                    "started": now,
                    "planned": tuple(_deletion(plan) for plan in holding.values()),
                    "detail": "deletion under way",
                    "retry_after": None,
                }
            )
            self._deaccessions.begin(request)
        else:  # a run that failed after withdrawing: the first plan stands, what it missed is added
            seen = {p.location for p in request.planned}
            extra = tuple(_deletion(p) for n, p in holding.items() if n not in seen)
            request = request.model_copy(update={"planned": request.planned + extra})
        reports: list[DeletionReport] = []
        try:
            for name in holding:
                report = self._storage.location(name).delete_prefix(prefix, now, bypass, keep)
                if not report.done:  # retention set between the plan and the deletion
                    raise StorageError(
                        f"location '{name}': {len(report.blocked)} object versions became retained "
                        f"(first {report.blocked[0].describe()}); nothing was deleted there"
                    )
                reports.append(report)
            tombstone = self._tombstone(request, record, versions)
            self._write_tombstones(tombstone, request)
        except OaisError as exc:
            done = ", ".join(f"{r.location} ({r.objects} object versions)" for r in reports) or "none"
            return self._stays(
                request,
                f"deletion interrupted: {exc}; deleted so far at: {done}; `oais deaccession run` finishes it",
                None,
                [_reported(r) for r in reports],
                [str(exc)],
                state="failed",
            )
        return self._record(request, tombstone, versions, [_reported(r) for r in reports])

    def _stays(
        self,
        request: DeaccessionRequest,
        detail: str,
        retry_after: datetime | None,
        locations: Sequence[LocationOutcome],
        problems: Sequence[str],
        state: Literal["waiting", "failed"],
    ) -> DeaccessionOutcome:
        """The request stays approved, with why and when it is due again."""
        kept = waiting(request, detail, retry_after)
        self._deaccessions.update(kept, RequestStatus.APPROVED)
        return DeaccessionOutcome(
            request=kept, state=state, locations=list(locations), problems=list(problems)
        )

    def _held(
        self,
        request: DeaccessionRequest,
        blocked: dict[str, DeletionPlan],
        now: datetime,
        bypass: bool,
        outcomes: Sequence[LocationOutcome],
    ) -> DeaccessionOutcome:
        """Retention or a legal hold holds objects somewhere: nothing is deleted anywhere yet."""
        dates = [d for d in (p.held_until for p in blocked.values()) if d is not None]
        holds = sum(p.legal_holds for p in blocked.values())
        until = max(dates) if dates else None
        parts = []
        for name, plan in blocked.items():
            modes = sorted({v.retention_mode.value for v in plan.blocked if v.retention_mode is not None})
            held = plan.held_until.isoformat() if plan.held_until else "a legal hold is lifted"
            parts.append(
                f"location '{name}': {len(plan.blocked)} object versions retained until {held}"
                + (f" ({', '.join(modes)})" if modes else "")
            )
        if not bypass and any(
            v.retention_mode is not None and v.retention_mode.value == "GOVERNANCE"
            for p in blocked.values()
            for v in p.blocked
        ):
            parts.append("the storage policy does not allow lifting GOVERNANCE retention")
        what = f"waiting for retention until {until.isoformat()}" if until else "waiting for a legal hold"
        if holds:
            what += f" ({holds} object versions under a legal hold)"
        retry = until if until is not None and not holds else now + LEGAL_HOLD_RETRY
        detail = f"{what}; nothing was deleted: " + "; ".join(parts)
        return self._stays(request, detail, retry, outcomes, [], state="waiting")

    def _versions(self, aip_id: str) -> tuple[AipRecord, list[DeletedVersion]]:
        """The AIP's newest record and every version as the tombstone lists it.

        Raises:
            AipNotFound: the catalog has no such AIP.
        """
        with self._catalog() as uow:
            latest = uow.aips.get(aip_id)
            if latest is None:
                raise AipNotFound(f"AIP {aip_id} is not in the catalog")
            versions = []
            for n in range(1, latest.version.version + 1):
                found = latest if n == latest.version.version else uow.aips.get(aip_id, n)
                if found is None:
                    raise AipNotFound(f"AIP {aip_id} has no version {n}")
                v = found.version
                versions.append(
                    DeletedVersion(
                        version=v.version,
                        created=v.created,
                        files=v.files,
                        bytes=v.bytes,
                        payload_fingerprint=v.payload_fingerprint,
                    )
                )
        return latest, versions

    def _tombstone(
        self, request: DeaccessionRequest, record: AipRecord, versions: Sequence[DeletedVersion]
    ) -> Tombstone:
        """The tombstone of this execution: the one an interrupted run already wrote, if any (so
        that a retry writes the same bytes), else a new one."""
        for name in self._tombstone_locations(request):
            try:
                data = self._storage.location(name).get_bytes(tombstone_key(request.aip_id), limit=64 << 20)
            except NotFound:
                continue
            try:
                found = tombstone_from_json(data, f"location '{name}': {tombstone_key(request.aip_id)}")
            except ValueError as exc:
                raise StorageError(str(exc)) from exc
            if found.request_id == request.id:
                return found
            raise StorageError(
                f"location '{name}': {tombstone_key(request.aip_id)} is the tombstone of request "
                f"{found.request_id}, not of {request.id}"
            )
        return make_tombstone(
            request=request,
            title=record.aip.title,
            producer=record.aip.producer,
            ingested=record.aip.created,
            versions=versions,
            locations=request.planned,
            deleted=self._clock.now(),
            event_id=f"urn:uuid:{uuid.uuid4()}",
            policy=self._storage.policy.reference,
            software=f"{self._software.name} {self._software.version or ''}".strip(),
        )

    def _tombstone_locations(self, request: DeaccessionRequest) -> list[str]:
        """Every required location and every other that held something of the AIP."""
        names = list(self._storage.required)
        names += [p.location for p in request.planned if p.location not in names]
        return names

    def _write_tombstones(self, tombstone: Tombstone, request: DeaccessionRequest) -> None:
        """Write the tombstone at every location it belongs and read it back.

        Raises:
            StorageError: a location failed, or the tombstone read back is not what was written.
        """
        data = tombstone_json(tombstone)
        sha = hashlib.sha256(data).hexdigest()
        key = tombstone_key(tombstone.aip_id)
        item = WriteItem(key=key, size=len(data), sha256=sha, data=data)
        for name in self._tombstone_locations(request):
            store = self._storage.location(name)
            list(store.write([item], retention=self._storage.policy.retention, now=tombstone.deleted))
            (result,) = list(store.read([ReadItem(key=key)]))
            if result.problem is not None or result.sha256 != sha:
                raise StorageError(
                    f"location '{name}': {key} read back is not the tombstone written "
                    f"({result.problem or result.sha256})"
                )

    def _record(
        self,
        request: DeaccessionRequest,
        tombstone: Tombstone,
        versions: Sequence[DeletedVersion],
        locations: list[LocationOutcome],
    ) -> DeaccessionOutcome:
        """The deletion event in every event log, then the catalog in one transaction."""
        event, agents = self._event(tombstone, versions)
        logged = LoggedEvent(tombstone.aip_id, max(v.version for v in versions), event)
        segments, failures = self._storage.append_to_logs([logged], [self._software, *agents])
        done = executed(request, now=tombstone.deleted, event_id=event.identifier, detail=tombstone.summary())
        self._deaccessions.finish(done, tombstone, logged, [self._software, *agents], segments)
        problems = [f"the deletion event is not in the event log of {f}" for f in failures]
        return DeaccessionOutcome(
            request=done, state="executed", tombstone=tombstone, locations=locations, problems=problems
        )

    def _event(self, tombstone: Tombstone, versions: Sequence[DeletedVersion]) -> tuple[Event, list[Agent]]:
        """The PREMIS deletion event and the people it names."""
        requester = Agent(
            identifier=f"person:{tombstone.requested_by}",
            name=tombstone.requested_by,
            type=AgentType.PERSON,
            note="administrator (API token) who asked for the deaccession",
        )
        approver = Agent(
            identifier=f"person:{tombstone.approved_by}",
            name=tombstone.approved_by,
            type=AgentType.PERSON,
            note="administrator (API token) who approved the deaccession",
        )
        where = "; ".join(
            f"{loc.location}: {loc.objects} object versions, {loc.bytes} bytes"
            + (f", {loc.delete_markers} delete markers" if loc.delete_markers else "")
            + (f", {loc.uploads} unfinished uploads" if loc.uploads else "")
            for loc in tombstone.locations
        )
        note = f"; approval note: {tombstone.approval_note}" if tombstone.approval_note else ""
        event = Event(
            identifier=tombstone.event_id,
            type=EventType.DELETION,
            date_time=tombstone.deleted,
            detail=(
                f"deaccession of AIP {tombstone.aip_id} (request {tombstone.request_id}): every object of "
                f"its {len(versions)} versions deleted at every location; tombstone written as "
                f"{tombstone_key(tombstone.aip_id)}"
            ),
            outcome=Outcome.SUCCESS,
            outcome_detail=(
                f"asked by {tombstone.requested_by} on {tombstone.requested_at.isoformat()}, approved by "
                f"{tombstone.approved_by} on {tombstone.approved_at.isoformat()}; reason: {tombstone.reason}"
                f"{note}; deleted: {where or 'nothing was stored'}; {tombstone.files} files, "
                f"{tombstone.bytes} bytes in {len(versions)} versions"
            ),
            agents=(
                AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM),
                AgentLink(agent=requester.identifier, role=AgentRole.IMPLEMENTER),
                AgentLink(agent=approver.identifier, role=AgentRole.AUTHORIZER),
            ),
            objects=(tombstone.aip_id, *(f"{tombstone.aip_id}/v{v.version}" for v in versions)),
            policy=tombstone.policy,
        )
        return event, [requester, approver]


def _require_runner(actor: Actor) -> None:
    """Only an administrator (a token with the role, or the OS user running oais) or the daemon
    carries out approved requests; carrying out decides nothing.

    Raises:
        AccessDenied: naming the actor.
    """
    if actor.basis is Basis.DAEMON or actor.is_admin:
        return
    role = actor.role.value if actor.role is not None else "no role"
    raise AccessDenied(
        f"carrying out approved deaccessions needs an administrator; '{actor.name}' has {role}"
    )


def _at(name: str, exc: OaisError) -> str:
    said = str(exc)
    return said if said.startswith(f"location '{name}'") else f"location '{name}': {said}"


def _deletion(plan: DeletionPlan) -> LocationDeletion:
    return LocationDeletion(
        location=plan.location,
        objects=plan.objects,
        bytes=plan.bytes,
        delete_markers=sum(1 for v in plan.versions if v.delete_marker),
        uploads=plan.uploads,
    )


def _planned(plan: DeletionPlan) -> LocationOutcome:
    return LocationOutcome(
        location=plan.location,
        objects=plan.objects,
        bytes=plan.bytes,
        delete_markers=sum(1 for v in plan.versions if v.delete_marker),
        uploads=plan.uploads,
        blocked=len(plan.blocked),
        held_until=plan.held_until,
        legal_holds=plan.legal_holds,
    )


def _reported(report: DeletionReport) -> LocationOutcome:
    return LocationOutcome(
        location=report.location,
        objects=report.objects,
        bytes=report.bytes,
        delete_markers=sum(1 for v in report.deleted if v.delete_marker),
        uploads=report.uploads_aborted,
    )
