"""Deaccession: the governed deletion of an AIP, and the tombstone that stays in its place.

An AIP is deleted only when one administrator asked for it with a reason and a *different*
administrator approved the request; each must act under an API token with the role ``admin`` (an
operating-system user proves no role). A request moves only forward::

    requested --approve--> approved --execute--> executed
        \\--reject--> rejected

``approved`` lasts until every object of every version of the AIP can be deleted at every location:
at once, unless Object Lock retention holds some of them (COMPLIANCE retention ends on its date, and
GOVERNANCE retention too unless the storage policy lets an approved deletion lift it). While it
waits, the request carries the date its deletion is due again. When it is carried out, a
:class:`Tombstone` is written to every location and kept in the catalog: what was deleted, why, who
asked, who approved and when.

Pure: no I/O, no clock, no randomness (request ids and event ids are made by the service).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oais.domain.actions import Actor, Basis
from oais.domain.errors import AccessDenied, ConflictError, ValidationFailed
from oais.domain.issues import Issue

#: Where the tombstone of AIP ``<id>`` is kept in every location: beside the versions it replaces
#: (``aips/<id>/v<N>/``), so that whoever lists ``aips/<id>/`` finds why nothing else is there.
TOMBSTONE_NAME = "tombstone.json"
#: The tombstone's ``kind`` and ``format``: what a reader without oais checks first.
TOMBSTONE_KIND = "oais deaccession tombstone"
TOMBSTONE_FORMAT = 1
#: The longest reason or note kept (it is written into PREMIS and the tombstone, and shown in lists).
MAX_TEXT = 4000
#: The code of a reason or note that cannot be kept (docs/codes.md).
TEXT_CODE = "DEA-E001"


class RequestStatus(StrEnum):
    """Where a deaccession request stands."""

    REQUESTED = "requested"  # asked for, waiting for a decision by another administrator
    APPROVED = "approved"  # approved: carried out as soon as retention allows
    REJECTED = "rejected"  # refused by another administrator (final)
    EXECUTED = "executed"  # carried out: the AIP's objects are deleted, its tombstone stands (final)


#: The only moves a request may make.
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.REQUESTED: frozenset({RequestStatus.APPROVED, RequestStatus.REJECTED}),
    RequestStatus.APPROVED: frozenset({RequestStatus.EXECUTED}),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.EXECUTED: frozenset(),
}

#: What the statuses still open are (one open request per AIP at most).
OPEN = frozenset({RequestStatus.REQUESTED, RequestStatus.APPROVED})


class DeaccessionRequest(BaseModel):
    """A request to delete an AIP, its decision, and how its execution stands."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    aip_id: str = Field(min_length=1)
    reason: str
    requested_by: str
    requested_at: datetime
    status: RequestStatus = RequestStatus.REQUESTED
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    #: When its execution began: from then on the catalog keeps no copy of the AIP (audits,
    #: replication and access leave it alone), even if the deletion has to be finished later.
    started: datetime | None = None
    #: What was found to delete at each location when its execution began (the tombstone says it,
    #: even if a retry finishes a deletion that a failure interrupted).
    planned: tuple[LocationDeletion, ...] = ()
    executed_at: datetime | None = None
    #: The PREMIS deletion event, once executed.
    event_id: str | None = None
    #: How its execution stands, for people ("waiting for retention until ...", what failed).
    detail: str = ""
    #: Not tried again before this time (the end of the retention that holds the AIP's objects).
    retry_after: datetime | None = None

    @property
    def open(self) -> bool:
        """True while it may still be decided or carried out."""
        return self.status in OPEN

    @property
    def withdrawn(self) -> bool:
        """True once the AIP is no longer kept: executed, or its execution began."""
        return self.status is RequestStatus.EXECUTED or (
            self.status is RequestStatus.APPROVED and self.started is not None
        )

    def line(self) -> str:
        """One line for lists: id, AIP, status, who and when."""
        verb = "approved" if self.status is RequestStatus.EXECUTED else self.status.value
        decided = (
            f", {verb} by {self.decided_by} {self.decided_at:%Y-%m-%d %H:%M}"
            if self.decided_by and self.decided_at
            else ""
        )
        if self.executed_at is not None:
            decided += f", executed {self.executed_at:%Y-%m-%d %H:%M}"
        return (
            f"{self.id}  AIP {self.aip_id}  {self.status.value.upper()}  requested by {self.requested_by} "
            f"{self.requested_at:%Y-%m-%d %H:%M}{decided}"
        )


class DeletedVersion(BaseModel):
    """One version of a deaccessioned AIP, as the catalog knew it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    created: datetime
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    #: sha256 over the sorted "sha256  path" lines of the version's files (it names the content
    #: without naming a file).
    payload_fingerprint: str


class LocationDeletion(BaseModel):
    """What was deleted at one location."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str
    #: Object versions deleted (every version of every key under ``aips/<id>/``; delete markers apart).
    objects: int = Field(ge=0)
    bytes: int = Field(ge=0)
    delete_markers: int = Field(default=0, ge=0)
    #: Unfinished multipart uploads aborted.
    uploads: int = Field(default=0, ge=0)


class Tombstone(BaseModel):
    """What stays of a deaccessioned AIP: in the catalog, and as ``aips/<id>/tombstone.json`` in
    every location (canonical JSON, see docs/administration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["oais deaccession tombstone"] = "oais deaccession tombstone"
    format: Literal[1] = 1
    aip_id: str
    title: str
    producer: str
    #: When the AIP was ingested.
    ingested: datetime
    versions: tuple[DeletedVersion, ...]
    #: Files and bytes over every version (a file kept unchanged by a later version counts in each).
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    locations: tuple[LocationDeletion, ...]
    reason: str
    request_id: str
    requested_by: str
    requested_at: datetime
    approved_by: str
    approved_at: datetime
    approval_note: str | None = None
    #: When the last object was deleted.
    deleted: datetime
    #: The PREMIS deletion event that records it (catalog and event logs).
    event_id: str
    #: The storage policy the deletion applied ("storage@2").
    policy: str
    #: The software that carried it out ("oais 0.1.0").
    software: str

    @field_validator("requested_at", "approved_at", "deleted", "ingested")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a time of a tombstone must carry a time zone")
        return value

    def summary(self) -> str:
        """One line: what was deleted, where, why and on whose decision."""
        where = ", ".join(f"{loc.location} ({loc.objects} objects)" for loc in self.locations) or "nowhere"
        return (
            f"AIP {self.aip_id} deaccessioned on {self.deleted.isoformat()} (request {self.request_id}, "
            f"asked by {self.requested_by}, approved by {self.approved_by}): {len(self.versions)} versions, "
            f"{self.files} files, {self.bytes} bytes deleted at {where}; reason: {self.reason}"
        )


def tombstone_json(tombstone: Tombstone) -> bytes:
    """The tombstone as canonical JSON: UTF-8, keys sorted, two-space indents, a final newline."""
    data = tombstone.model_dump(mode="json")
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def tombstone_from_json(data: bytes, where: str) -> Tombstone:
    """Read a tombstone written by :func:`tombstone_json`.

    Raises:
        ValueError: it is not UTF-8 JSON, or not a tombstone of a format this code reads (naming
            ``where`` and the problem).
    """
    try:
        return Tombstone.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{where}: not an oais tombstone: {problems}") from exc


def make_tombstone(
    *,
    request: DeaccessionRequest,
    title: str,
    producer: str,
    ingested: datetime,
    versions: Sequence[DeletedVersion],
    locations: Iterable[LocationDeletion],
    deleted: datetime,
    event_id: str,
    policy: str,
    software: str,
) -> Tombstone:
    """The tombstone of an approved request being carried out.

    Raises:
        ConflictError: the request is not approved.
    """
    if request.status is not RequestStatus.APPROVED or not request.decided_by or request.decided_at is None:
        raise ConflictError(f"deaccession request {request.id} is {request.status.value}, not approved")
    return Tombstone(
        aip_id=request.aip_id,
        title=title,
        producer=producer,
        ingested=ingested,
        versions=tuple(sorted(versions, key=lambda v: v.version)),
        files=sum(v.files for v in versions),
        bytes=sum(v.bytes for v in versions),
        locations=tuple(sorted(locations, key=lambda loc: loc.location)),
        reason=request.reason,
        request_id=request.id,
        requested_by=request.requested_by,
        requested_at=request.requested_at,
        approved_by=request.decided_by,
        approved_at=request.decided_at,
        approval_note=request.decision_note,
        deleted=deleted,
        event_id=event_id,
        policy=policy,
        software=software,
    )


# --- the rules ---------------------------------------------------------------------------------


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a reason or note, or None if it can (after stripping its ends)."""
    stripped = text.strip()
    if not stripped:
        return "it is empty"
    if len(stripped) > MAX_TEXT:
        return f"it has {len(stripped)} characters, more than {MAX_TEXT}"
    for ch in stripped:
        # Line breaks and tabs may stay (a reason may have paragraphs); no other control character
        # can be written into premis.xml and the event log.
        if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t":
            return f"it holds the control character U+{ord(ch):04X}"
    return None


def clean_text(text: str, what: str) -> str:
    """``text`` stripped, if it can be kept as ``what`` (a reason, a note).

    Raises:
        ValidationFailed: DEA-E001 naming ``what`` and the problem.
    """
    problem = text_problem(text)
    if problem is not None:
        message = f"the {what} cannot be kept: {problem}"
        raise ValidationFailed(message, [Issue(code=TEXT_CODE, path=what, message=message)])
    return text.strip()


def require_admin_token(actor: Actor, doing: str) -> None:
    """Refuse anyone but an administrator identified by an API token.

    Args:
        actor: who acts.
        doing: what they try, for the message ("approving deaccession request dea-...").

    Raises:
        AccessDenied: the actor is not an API token with the role admin (naming why).
    """
    if actor.basis is Basis.OS_USER:
        raise AccessDenied(
            f"{doing} needs an administrator's API token: the operating-system user '{actor.name}' proves "
            "no role; set OAIS_TOKEN to a token made by 'oais token add NAME --role admin'"
        )
    if actor.basis is not Basis.TOKEN:
        raise AccessDenied(
            f"{doing} needs an administrator's API token; the {actor.basis.value} '{actor.name}' has none"
        )
    if not actor.is_admin:
        role = actor.role.value if actor.role is not None else "no role"
        raise AccessDenied(
            f"{doing} needs an administrator's API token; token '{actor.name}' has the role {role}"
        )


def new_request(
    *,
    request_id: str,
    aip_id: str,
    reason: str,
    actor: Actor,
    now: datetime,
    requests_of_aip: Sequence[DeaccessionRequest],
) -> DeaccessionRequest:
    """A new request to deaccession ``aip_id``, if the rules allow it.

    Args:
        request_id: the new request's id.
        aip_id: the AIP (the caller checked the catalog holds it).
        reason: why (kept in the request, the PREMIS event and the tombstone).
        actor: who asks.
        now: when.
        requests_of_aip: every earlier request for this AIP.

    Raises:
        AccessDenied: the actor is not an administrator's API token.
        ValidationFailed: DEA-E001, the reason is empty, too long or holds a control character.
        ConflictError: the AIP was already deaccessioned, or already has an open request.
    """
    require_admin_token(actor, f"requesting the deaccession of AIP {aip_id}")
    text = clean_text(reason, "reason")
    for earlier in requests_of_aip:
        if earlier.status is RequestStatus.EXECUTED:
            raise ConflictError(
                f"AIP {aip_id} was already deaccessioned (request {earlier.id}, on "
                f"{earlier.executed_at.isoformat() if earlier.executed_at else '?'})"
            )
        if earlier.open:
            raise ConflictError(
                f"AIP {aip_id} already has an open deaccession request, {earlier.id} "
                f"({earlier.status.value}, asked by {earlier.requested_by}): approve or reject it first"
            )
    return DeaccessionRequest(
        id=request_id,
        aip_id=aip_id,
        reason=text,
        requested_by=actor.name,
        requested_at=now,
    )


def _move(request: DeaccessionRequest, to: RequestStatus, doing: str) -> None:
    """Refuse a move the state machine does not allow.

    Raises:
        ConflictError: naming the request, its status and who put it there.
    """
    if to in TRANSITIONS[request.status]:
        return
    if request.status is RequestStatus.REQUESTED:
        raise ConflictError(f"cannot {doing} deaccession request {request.id}: it has not been approved")
    by = f" by {request.decided_by}" if request.decided_by else ""
    when = f" on {request.decided_at.isoformat()}" if request.decided_at else ""
    if request.status is RequestStatus.EXECUTED and request.executed_at is not None:
        when = f" on {request.executed_at.isoformat()}"
        by = ""
    raise ConflictError(
        f"cannot {doing} deaccession request {request.id} (AIP {request.aip_id}): it is already "
        f"{request.status.value}{by}{when}"
    )


def decide(
    request: DeaccessionRequest, *, actor: Actor, approve: bool, note: str | None, now: datetime
) -> DeaccessionRequest:
    """Approve or reject a request: by an administrator's token that is not the requester's.

    Args:
        request: the request, as the catalog holds it.
        actor: who decides.
        approve: approve (True) or reject (False).
        note: why (required to reject; optional to approve).
        now: when.

    Returns:
        The request as decided.

    Raises:
        AccessDenied: the actor is not an administrator's token, or is the requester (four eyes).
        ConflictError: the request was already decided or carried out.
        ValidationFailed: DEA-E001, the note is unusable (or missing for a rejection).
    """
    verb = "approve" if approve else "reject"
    require_admin_token(actor, f"{verb[:-1]}ing deaccession request {request.id}")
    _move(request, RequestStatus.APPROVED if approve else RequestStatus.REJECTED, verb)
    if actor.name == request.requested_by:
        raise AccessDenied(
            f"deaccession request {request.id} (AIP {request.aip_id}) was asked for by '{actor.name}', "
            f"who may not also {verb} it: a different administrator must decide (four eyes)"
        )
    if approve:
        text = clean_text(note, "note") if note is not None and note.strip() else None
    else:
        text = clean_text(note or "", "note")  # a rejection says why
    return request.model_copy(
        update={
            "status": RequestStatus.APPROVED if approve else RequestStatus.REJECTED,
            "decided_by": actor.name,
            "decided_at": now,
            "decision_note": text,
        }
    )


def require_executable(request: DeaccessionRequest) -> None:
    """Refuse to carry out a request that was not approved (whoever asks: nothing deletes an AIP
    without an approval).

    Raises:
        ConflictError: the request is requested, rejected or already executed.
    """
    _move(request, RequestStatus.EXECUTED, "carry out")


def waiting(request: DeaccessionRequest, detail: str, retry_after: datetime | None) -> DeaccessionRequest:
    """An approved request that could not be carried out yet, with why and when it is due again."""
    require_executable(request)
    return request.model_copy(update={"detail": detail, "retry_after": retry_after})


def executed(request: DeaccessionRequest, *, now: datetime, event_id: str, detail: str) -> DeaccessionRequest:
    """An approved request as carried out.

    Raises:
        ConflictError: it was not approved.
    """
    require_executable(request)
    return request.model_copy(
        update={
            "status": RequestStatus.EXECUTED,
            "executed_at": now,
            "event_id": event_id,
            "detail": detail,
            "retry_after": None,
            "started": request.started or now,
        }
    )


def withdrawn_message(aip_id: str, request: DeaccessionRequest | None, tombstone: Tombstone | None) -> str:
    """What to say of an AIP that was deaccessioned (or whose deletion is under way)."""
    if tombstone is not None:
        return (
            f"AIP {aip_id} was deaccessioned on {tombstone.deleted.isoformat()} (request "
            f"{tombstone.request_id}, approved by {tombstone.approved_by}): {tombstone.reason}"
        )
    if request is not None:
        return (
            f"AIP {aip_id} is being deaccessioned (request {request.id}, approved by {request.decided_by}; "
            f"its deletion began on {request.started.isoformat() if request.started else '?'}): "
            f"{request.reason}"
        )
    return f"AIP {aip_id} was deaccessioned"
