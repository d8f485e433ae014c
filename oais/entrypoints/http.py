"""The HTTP API for portals and tools (FastAPI): search the catalog, read AIPs and their events,
submit SIPs, request and download DIPs. See docs/http-api.md.

Thin, like the command line: authenticate, check the role, call a service, render. Every request
but ``/health``, ``/openapi.json`` and ``/docs`` needs a valid, unrevoked bearer token
(:mod:`oais.domain.access_control` says which role may do what). Errors of the one error tree become
HTTP statuses in one place (:data:`STATUSES`); anything else is a 500, a bug.

Nothing happens at import time: :func:`create_app` builds the application around services already
built, and :func:`factory` builds both from the environment (``uvicorn --factory
oais.entrypoints.http:factory``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect

from oais import bootstrap
from oais.access.dip import DipService
from oais.administration.deaccession import DeaccessionOutcome
from oais.bootstrap import Services
from oais.data_management.actions import Act, ActionRecorder
from oais.data_management.search import CatalogSearch
from oais.domain.access_control import AccessLogEntry, Action, ApiToken, Scope
from oais.domain.actions import Actor, ArgumentValue, Basis, Channel
from oais.domain.deaccession import MAX_TEXT, DeaccessionRequest, RequestStatus, Tombstone, withdrawn_message
from oais.domain.descriptive import AccessStatus, DescriptiveMetadata
from oais.domain.dip import DipPurpose, DipRequest, Override, Portal
from oais.domain.errors import (
    AccessDenied,
    AipDeaccessioned,
    CatalogError,
    ConfigError,
    ConflictError,
    NotFound,
    OaisError,
    StorageError,
    ToolError,
    ValidationFailed,
)
from oais.domain.fixity import DigestAlgorithm
from oais.domain.issues import Issue
from oais.domain.packages import AipRecord
from oais.domain.ports import AccessLog, TokenStore
from oais.domain.search import MAX_LIMIT, MAX_NUMBER, SearchPage, SearchQuery

log = logging.getLogger("oais.http")

#: Errors of the one error tree and their HTTP status (the first that matches, in this order).
STATUSES: list[tuple[type[OaisError], int]] = [
    (ValidationFailed, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (AipDeaccessioned, status.HTTP_410_GONE),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (ConflictError, status.HTTP_409_CONFLICT),
    (AccessDenied, status.HTTP_403_FORBIDDEN),
    (StorageError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (CatalogError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ToolError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ConfigError, status.HTTP_503_SERVICE_UNAVAILABLE),
]

#: Paths anyone may read (no token), and which the access log leaves out.
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})

#: The SIP archive types accepted as request bodies, with the file name suffix they are read as.
SIP_MEDIA_TYPES = {
    "application/zip": ".zip",
    "application/x-tar": ".tar",
    "application/gzip": ".tar.gz",
}

#: The header that carries a SIP's descriptive metadata: base64 of its JSON (UTF-8).
METADATA_HEADER = "X-Oais-Metadata"

#: Bytes of a request body gathered in memory before they are written to the upload file.
_WRITE_CHUNK = 1 << 20

# The scope key of the token the gate authenticated.
_TOKEN = "oais.token"


def status_for(exc: OaisError) -> int:
    """The HTTP status of an error of the one error tree (500 for none of the known branches)."""
    for kind, code in STATUSES:
        if isinstance(exc, kind):
            return code
    return status.HTTP_500_INTERNAL_SERVER_ERROR


# --- Response and request models (the OpenAPI document is generated from them) ---------------


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Problem(_Out):
    """Why a request was refused or failed."""

    detail: str


class IssueOut(_Out):
    """One coded problem (the codes are listed in docs/codes.md)."""

    code: str
    path: str
    message: str
    severity: Literal["error", "warning"]

    @classmethod
    def of(cls, issue: Issue) -> IssueOut:
        return cls(code=issue.code, path=issue.path, message=issue.message, severity=issue.severity.value)


class Rejected(_Out):
    """Input that was read and refused, with every problem found."""

    detail: str
    issues: list[IssueOut]


class Health(_Out):
    """The service answers."""

    status: Literal["ok"] = "ok"


class FormatOut(_Out):
    """A file's format as identified at ingest."""

    puid: str | None = Field(description="PRONOM unique identifier; null when not identified.")
    name: str
    version: str | None
    mime_type: str


class FileOut(_Out):
    """One payload file of an AIP version."""

    path: str
    size: int
    sha256: str | None = Field(description="null only if the ingest policy chose another digest of record.")
    format: FormatOut
    derived_from: str | None = Field(
        description="The file of the same version this one was made from by a migration; null for a "
        "file received from the producer."
    )


class CopyOut(_Out):
    """A verified copy of the version at a storage location."""

    location: str
    stored: datetime
    verified: datetime | None
    objects: int
    bytes: int


class AipOut(_Out):
    """An AIP version: what it is, its files and copies, and its descriptive metadata."""

    aip_id: str
    title: str
    producer: str
    created: datetime = Field(description="When the AIP was ingested.")
    version: int = Field(description="The version shown.")
    versions: list[int] = Field(description="Every version of the AIP (?version=N shows another).")
    version_created: datetime
    files: list[FileOut]
    bytes: int
    copies: list[CopyOut]
    access: AccessStatus
    embargo_until: date | None
    metadata: DescriptiveMetadata | None = Field(description="null when the AIP was given a title only.")


class AgentOut(_Out):
    """An agent's part in an event."""

    identifier: str
    name: str
    type: str
    role: str


class EventOut(_Out):
    """A PREMIS event."""

    identifier: str
    type: str = Field(description="A term of id.loc.gov's event type vocabulary.")
    date_time: datetime
    outcome: str
    detail: str
    outcome_detail: str
    policy: str | None
    agents: list[AgentOut]


class EventsOut(_Out):
    """The PREMIS events of one AIP version."""

    aip_id: str
    version: int
    events: list[EventOut]


class Submitted(_Out):
    """A SIP accepted: the AIP it is (or already was)."""

    aip_id: str
    version: int
    status: Literal["stored", "already-held", "recovered"]
    files: int
    bytes: int
    warnings: list[IssueOut]


class DipOrder(BaseModel):
    """What to disseminate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int | None = Field(default=None, ge=1, le=MAX_NUMBER, description="null: the newest version.")
    files: str | None = Field(
        default=None, min_length=1, description="A glob over the files' paths; null: every file."
    )
    purpose: DipPurpose = DipPurpose.ACCESS
    portal: Portal | None = None
    override_reason: str | None = Field(
        default=None,
        min_length=1,
        description="Override an embargo or restriction, for this reason (admin tokens only; recorded "
        "in PREMIS).",
    )


class DipOut(_Out):
    """A DIP written, ready to download."""

    dip_id: str
    aip_id: str
    version: int
    files: int
    bytes: int
    download_url: str


class DeaccessionOrder(BaseModel):
    """Why an AIP should be deaccessioned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        description="Why (kept in the request, the PREMIS deletion event and the tombstone).",
    )


class ApprovalOrder(BaseModel):
    """An approval, with a note if wished."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)


class RejectionOrder(BaseModel):
    """A rejection says why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str = Field(min_length=1, max_length=MAX_TEXT)


class DeaccessionOut(_Out):
    """A deaccession request, and its AIP's tombstone once carried out."""

    request: DeaccessionRequest
    tombstone: Tombstone | None


class DeaccessionsOut(_Out):
    """Deaccession requests, oldest first."""

    requests: list[DeaccessionRequest]


class Gone(_Out):
    """The AIP was deaccessioned: its objects are deleted, its tombstone stands."""

    detail: str
    deaccession: DeaccessionOut


class _DipRecord(BaseModel):
    """What the spool keeps beside each DIP: who asked for it, and which file it is."""

    dip_id: str
    requester: str
    file: str
    aip_id: str
    version: int
    files: int
    bytes: int
    created: datetime


def _problem(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "No token, or a wrong or revoked one.",
        403: "The token's role may not do this.",
        404: "No such AIP, version or DIP (or not one this token may see).",
        409: "The request contradicts what the archive holds.",
        410: "The AIP was deaccessioned (the answer says when, why and on whose decision).",
        415: "The body is not a .zip, .tar or .tar.gz SIP.",
        503: "Storage, the catalog or a tool failed; try again later.",
    }
    return {code: {"model": Problem, "description": descriptions[code]} for code in codes}


# --- Authentication and the access log ---------------------------------------------------------


class _Gate:
    """The door every request goes through, before anything of it is read: it authenticates the
    bearer token (a missing, wrong or revoked one gets 401 here, whatever the path, method or body),
    then logs the request (who, what, status) with the logging module and records it in the access
    log. The public paths pass without a token and are not recorded."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], tokens: TokenStore, access_log: AccessLog
    ) -> None:
        self.app = app
        self._tokens = tokens
        self._log = access_log

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        # Behind a proxy that mounts the API under a prefix, the path includes it.
        local = path.removeprefix(scope.get("root_path", "")) or "/"
        public = local in PUBLIC_PATHS
        token: ApiToken | None = None
        answered = [status.HTTP_500_INTERNAL_SERVER_ERROR]  # unless a response starts

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
            await send(message)

        try:
            if not public:
                found = await run_in_threadpool(self._authenticate, scope)
                if isinstance(found, JSONResponse):
                    await found(scope, receive, sending)
                    return
                token = scope[_TOKEN] = found
            await self.app(scope, receive, sending)
        finally:
            entry = AccessLogEntry(
                time=datetime.now(UTC),
                token=token.name if token is not None else None,
                method=scope.get("method", ""),
                path=path,
                status=answered[0],
            )
            level = logging.WARNING if entry.status == status.HTTP_401_UNAUTHORIZED else logging.INFO
            log.log(level, "%s %s %s -> %d", entry.token or "-", entry.method, path, entry.status)
            if not public:
                try:
                    await run_in_threadpool(self._log.record, entry)
                except CatalogError as exc:
                    # The response is already sent; the operator must hear of the gap.
                    log.error("access log not written: %s", exc)

    def _authenticate(self, scope: MutableMapping[str, Any]) -> ApiToken | JSONResponse:
        """The token of the request, or the 401 response to send."""
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return _refusal("a bearer token is needed (Authorization: Bearer <token>)", "Bearer")
        token = self._tokens.authenticate(secret.strip())
        if token is None:
            return _refusal("the token is not valid (unknown or revoked)", 'Bearer error="invalid_token"')
        return token


def _refusal(detail: str, challenge: str) -> JSONResponse:
    return JSONResponse(
        {"detail": detail}, status_code=status.HTTP_401_UNAUTHORIZED, headers={"WWW-Authenticate": challenge}
    )


_bearer = HTTPBearer(
    auto_error=False,
    description="An API token made by `oais token add` (Authorization: Bearer <token>).",
)


def _unauthorized(detail: str, challenge: str = "Bearer") -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge})


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def _not_found(aip_id: str, version: int | None = None) -> HTTPException:
    # The same words whether the AIP does not exist or belongs to another producer.
    what = f"AIP {aip_id}" + (f" version {version}" if version is not None else "")
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no {what} in the catalog")


def _authenticated(
    request: Request,
    # Declares the bearer scheme in the OpenAPI document; the gate has checked the token already.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    token = request.scope.get(_TOKEN)
    if not isinstance(token, ApiToken):  # a route the gate took for public: never let it through
        raise _unauthorized("a bearer token is needed (Authorization: Bearer <token>)")
    return token


#: The token of the request: every endpoint but the public ones depends on it.
Token = Annotated[ApiToken, Depends(_authenticated)]
AipId = Annotated[str, PathParam(description="The AIP id.")]


# --- The application ---------------------------------------------------------------------------


class _Api:
    """What the endpoints share: the services, search, the DIP spool."""

    def __init__(
        self, services: Services, search: CatalogSearch, spool: Path, recorder: ActionRecorder
    ) -> None:
        self.services = services
        self.search = search
        self.spool = spool
        self.recorder = recorder
        # One ingest at a time per process: an ingest already spreads its work over every core.
        self.ingest_lock = threading.Lock()
        self._dips: DipService | None = None
        self._dips_lock = threading.Lock()

    def recording(
        self, token: ApiToken, action: str, target: str | None, arguments: Mapping[str, ArgumentValue]
    ) -> AbstractContextManager[Act]:
        """Record a state-changing request in the action log, under the token's name and role."""
        actor = Actor(name=token.name, basis=Basis.TOKEN, role=token.role)
        return self.recorder.recording(actor, Channel.API, action, target, arguments)

    def dip_service(self) -> DipService:
        """The DIP service, built on first use (its policies are read then)."""
        with self._dips_lock:
            if self._dips is None:
                self._dips = bootstrap.dip_service(self.services)
            return self._dips

    def visible_record(self, aip_id: str, version: int | None, token: ApiToken) -> tuple[AipRecord, int]:
        """The record of an AIP version ``token`` may read, and the AIP's newest version number;
        404 otherwise (whether the AIP does not exist or is another producer's: nothing leaks)."""
        summary = self.search.visible(aip_id, token, Action.READ)
        if summary is None:
            raise _not_found(aip_id)
        with self.services.catalog() as uow:
            record = uow.aips.get(aip_id, version)
        if record is None:
            raise _not_found(aip_id, version)
        return record, max(summary.version, record.version.version)

    def dip_record_path(self, dip_id: str) -> Path:
        # Named by a digest of the id: any id is a safe file name, and no path can be forged.
        return self.spool / f"{hashlib.sha256(dip_id.encode('utf-8', 'surrogateescape')).hexdigest()}.json"


def _aip_out(record: AipRecord, newest: int) -> AipOut:
    aip, v = record.aip, record.version
    access = aip.descriptive.access
    return AipOut(
        aip_id=aip.aip_id,
        title=aip.title,
        producer=aip.producer,
        created=aip.created,
        version=v.version,
        versions=list(range(1, newest + 1)),
        version_created=v.created,
        files=[
            FileOut(
                path=f.path,
                size=f.size,
                sha256=f.digests.get(DigestAlgorithm.SHA256),
                format=FormatOut(
                    puid=f.format.puid,
                    name=f.format.name,
                    version=f.format.version,
                    mime_type=f.format.mime_type,
                ),
                derived_from=f.derived_from,
            )
            for f in record.files
        ],
        bytes=v.bytes,
        copies=[
            CopyOut(
                location=c.location, stored=c.stored, verified=c.verified, objects=c.objects, bytes=c.bytes
            )
            for c in record.copies
        ],
        access=access.status,
        embargo_until=access.embargo_until,
        metadata=aip.metadata,
    )


def _events_out(record: AipRecord) -> EventsOut:
    agents = {a.identifier: a for a in record.agents}
    return EventsOut(
        aip_id=record.aip.aip_id,
        version=record.version.version,
        events=[
            EventOut(
                identifier=e.identifier,
                type=e.type.value,
                date_time=e.date_time,
                outcome=e.outcome.value,
                detail=e.detail,
                outcome_detail=e.outcome_detail,
                policy=e.policy,
                agents=[
                    AgentOut(
                        identifier=link.agent,
                        name=agents[link.agent].name if link.agent in agents else link.agent,
                        type=agents[link.agent].type.value if link.agent in agents else "unknown",
                        role=link.role.value,
                    )
                    for link in e.agents
                ],
            )
            for e in record.events
        ],
    )


def _metadata_from_header(value: str | None) -> DescriptiveMetadata | None:
    if value is None:
        return None
    try:
        text = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4), validate=True)
        return DescriptiveMetadata.model_validate_json(text)
    except (binascii.Error, ValueError) as exc:
        message = str(exc) if isinstance(exc, ValidationError) else "it is not base64 of a JSON object"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{METADATA_HEADER} is not valid descriptive metadata: {message}",
        ) from exc


def _as_request_body(exc: ValidationFailed, upload: Path) -> ValidationFailed:
    """``exc`` naming the SIP as the request body, not as the temporary file it was read from."""
    where = str(upload.absolute())

    def neutral(text: str) -> str:
        return text.replace(where, "request body")

    issues = [
        i.model_copy(update={"path": neutral(i.path), "message": neutral(i.message)}) for i in exc.issues
    ]
    return type(exc)(neutral(str(exc)), issues)


async def _receive_body(request: Request, target: Path) -> None:
    """Stream the request body into ``target``, memory bounded by one chunk (the file is the
    ingest's input only: it is not synced, the AIP made from it is).

    Raises:
        HTTPException: 400 if the client went away before the body was whole.
    """
    pending: list[bytes] = []
    pending_size = 0
    try:
        with target.open("wb") as out:
            async for chunk in request.stream():
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= _WRITE_CHUNK:
                    await run_in_threadpool(out.writelines, pending)
                    pending, pending_size = [], 0
            if pending:
                await run_in_threadpool(out.writelines, pending)
    except ClientDisconnect as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the SIP was not received whole") from exc


def create_app(
    services: Services,
    *,
    tokens: TokenStore | None = None,
    access_log: AccessLog | None = None,
    spool: Path | None = None,
    close_services: bool = False,
) -> FastAPI:
    """The HTTP API over ``services``.

    Args:
        services: built by :func:`oais.bootstrap.build`.
        tokens: the API tokens (default: the catalog's, :func:`oais.bootstrap.token_store`).
        access_log: where requests are recorded (default: the catalog's ``api_access_log``).
        spool: where DIPs are written for download (default: ``$OAIS_HOME/dips``).
        close_services: close ``services`` when the application shuts down.

    Returns:
        The application (nothing is connected yet: engines connect on first use).
    """
    settings = services.settings
    store = bootstrap.token_store(settings)
    search_adapter = bootstrap.catalog_search(settings)
    api = _Api(
        services,
        CatalogSearch(search_adapter),
        spool or settings.home / "dips",
        bootstrap.action_recorder(settings),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.dispose()
            search_adapter.dispose()
            if close_services:
                services.close()

    app = FastAPI(
        title="oais",
        version=bootstrap.software_version(),
        summary="OAIS preservation repository: search the catalog, read AIPs and their PREMIS events, "
        "submit SIPs, request and download DIPs.",
        lifespan=lifespan,
    )
    app.state.oais_api = api
    app.add_middleware(
        _Gate,
        tokens=tokens if tokens is not None else store,
        access_log=access_log if access_log is not None else store,
    )

    @app.exception_handler(OaisError)
    async def oais_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OaisError)
        code = status_for(exc)
        if code == status.HTTP_500_INTERNAL_SERVER_ERROR:
            raise exc  # not a known branch of the tree: a bug, reported as one
        body: dict[str, Any] = {"detail": str(exc)}
        if isinstance(exc, ValidationFailed):
            body["issues"] = [IssueOut.of(i).model_dump() for i in exc.issues]
        return JSONResponse(body, status_code=code)

    @app.get("/health", tags=["service"])
    def health() -> Health:
        """The service answers (no token needed)."""
        return Health()

    @app.get("/aips", tags=["catalog"], responses=_problem(401, 403, 503))
    def search_aips(
        token: Token,
        title: Annotated[str | None, Query(description="A case-insensitive part of the title.")] = None,
        producer: Annotated[str | None, Query(description="A case-insensitive part of the producer.")] = None,
        producer_exact: Annotated[str | None, Query(description="The producer, exactly.")] = None,
        created_from: Annotated[
            datetime | None, Query(description="Ingested at or after (ISO 8601; UTC if no zone).")
        ] = None,
        created_to: Annotated[
            datetime | None, Query(description="Ingested at or before (ISO 8601; UTC if no zone).")
        ] = None,
        format: Annotated[
            str | None, Query(description="A PRONOM PUID held by a file of the newest version.")
        ] = None,
        identifier: Annotated[
            str | None, Query(description="The AIP id, or an identifier in its descriptive metadata.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_NUMBER)] = 0,
    ) -> SearchPage:
        """Search the catalog; every criterion given must hold. A producer token sees its own AIPs only."""
        query = SearchQuery(
            title=title,
            producer=producer,
            producer_exact=producer_exact,
            created_from=created_from,
            created_to=created_to,
            format=format,
            identifier=identifier,
            limit=limit,
            offset=offset,
        )
        return api.search.search(query, token)

    @app.get(
        "/aips/{aip_id}",
        tags=["catalog"],
        responses={
            410: {
                "model": Gone,
                "description": "The AIP was deaccessioned (the answer holds its tombstone).",
            },
            **_problem(401, 403, 404, 503),
        },
    )
    def read_aip(
        token: Token,
        aip_id: AipId,
        version: Annotated[int | None, Query(ge=1, le=MAX_NUMBER, description="Default: the newest.")] = None,
    ) -> AipOut:
        """An AIP version: title, producer, files with their digests and formats, copies, and its
        descriptive metadata."""
        if not token.may(Action.READ):
            raise _forbidden(f"a {token.role.value} token may not read AIPs")
        record, newest = api.visible_record(aip_id, version, token)
        withdrawal = api.services.storage.withdrawal(aip_id)
        if withdrawal is not None:
            gone = Gone(
                detail=withdrawn_message(aip_id, *withdrawal),
                deaccession=DeaccessionOut(request=withdrawal[0], tombstone=withdrawal[1]),
            )
            return JSONResponse(gone.model_dump(mode="json"), status_code=status.HTTP_410_GONE)  # type: ignore[return-value]
        return _aip_out(record, newest)

    @app.get("/aips/{aip_id}/events", tags=["catalog"], responses=_problem(401, 403, 404, 503))
    def read_events(
        token: Token,
        aip_id: AipId,
        version: Annotated[int | None, Query(ge=1, le=MAX_NUMBER, description="Default: the newest.")] = None,
    ) -> EventsOut:
        """The PREMIS events of an AIP version (ingest, fixity checks, replication, migration,
        dissemination...), with their agents."""
        if not token.may(Action.READ):
            raise _forbidden(f"a {token.role.value} token may not read AIPs")
        return _events_out(api.visible_record(aip_id, version, token)[0])

    @app.post(
        "/sips",
        tags=["ingest"],
        status_code=status.HTTP_201_CREATED,
        response_model=Submitted,
        responses={
            200: {"model": Submitted, "description": "The same content was already archived."},
            422: {"model": Rejected, "description": "The SIP (or its metadata) was refused."},
            **_problem(401, 403, 409, 415, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The SIP as a .zip, .tar or .tar.gz archive (a BagIt bag inside is "
                "checked as one).",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}} for media in SIP_MEDIA_TYPES
                },
            }
        },
    )
    async def submit_sip(
        request: Request,
        token: Token,
        title: Annotated[
            str | None,
            Query(min_length=1, description="The AIP's title (default: the metadata's title)."),
        ] = None,
        producer: Annotated[
            str | None,
            Query(min_length=1, description="Who submits (admin tokens only; a producer token's own)."),
        ] = None,
        metadata: Annotated[
            str | None,
            Header(
                alias=METADATA_HEADER,
                description="Descriptive metadata: base64 of its JSON (schemas/descriptive-metadata"
                ".schema.json).",
            ),
        ] = None,
    ) -> JSONResponse:
        """Submit a SIP: it is checked, stored as a BagIt AIP with PREMIS metadata and catalogued
        before the answer (201; 200 if the same content was already archived; 422 with every
        coded problem if it is refused)."""
        scope = token.scope(Action.SUBMIT)
        if scope is Scope.NONE:
            raise _forbidden(f"a {token.role.value} token may not submit SIPs")
        if scope is Scope.OWN:
            if producer is not None and producer != token.producer:
                raise _forbidden("a producer token submits under its own producer name only")
            producer = token.producer
        if producer is None or not producer.strip():
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "producer is needed (?producer=...) with this token"
            )
        described = _metadata_from_header(metadata)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        suffix = SIP_MEDIA_TYPES.get(media_type)
        if suffix is None:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"a SIP is sent as one of {', '.join(SIP_MEDIA_TYPES)}, not {media_type or 'no type'}",
            )
        with api.services.scratch.staging() as staging:
            upload = staging.root / f"sip{suffix}"
            await _receive_body(request, upload)

            def ingest() -> Any:
                arguments: dict[str, ArgumentValue] = {"producer": producer, "title": title}
                with api.ingest_lock, api.recording(token, "ingest", None, arguments) as act:
                    result = api.services.ingest.ingest(
                        upload, producer=producer, title=title, aip_id=None, metadata=described
                    )
                    act.note(
                        f"{result.status}: version {result.version}, {result.files} files", result.aip_id
                    )
                    return result

            try:
                result = await run_in_threadpool(ingest)
            except ValidationFailed as exc:
                raise _as_request_body(exc, upload) from exc
        if result.status == "already-held" and scope is Scope.OWN:
            held = api.search.visible(result.aip_id, token, Action.READ)
            if held is None:
                # Held for another producer: say so without naming the AIP.
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    "the same content is already archived for another producer; nothing was stored",
                )
        body = Submitted(
            aip_id=result.aip_id,
            version=result.version,
            status=result.status,
            files=result.files,
            bytes=result.bytes,
            warnings=[IssueOut.of(w) for w in result.warnings],
        )
        code = status.HTTP_200_OK if result.status == "already-held" else status.HTTP_201_CREATED
        return JSONResponse(body.model_dump(mode="json"), status_code=code)

    @app.post(
        "/aips/{aip_id}/dips",
        tags=["access"],
        status_code=status.HTTP_201_CREATED,
        responses=_problem(401, 403, 404, 409, 503),
    )
    def request_dip(request: Request, token: Token, aip_id: AipId, order: DipOrder) -> DipOut:
        """Make a DIP of an AIP version (a BagIt bag in a .zip) and answer where to download it.

        Embargoed or restricted content needs ``override_reason`` (admin tokens only)."""
        if not token.may(Action.REQUEST_DIP):
            raise _forbidden(f"a {token.role.value} token may not request DIPs")
        if order.override_reason is not None and not token.may(Action.OVERRIDE):
            raise _forbidden(f"a {token.role.value} token may not override an embargo or a restriction")
        if api.search.visible(aip_id, token, Action.REQUEST_DIP) is None:
            raise _not_found(aip_id)
        api.spool.mkdir(parents=True, exist_ok=True)
        target = f"{uuid.uuid4().hex}.zip"
        arguments: dict[str, ArgumentValue] = {
            "version": order.version,
            "files": order.files,
            "purpose": order.purpose.value,
            "portal": order.portal.value if order.portal else None,
            "override_reason": order.override_reason,
        }
        with api.recording(token, "dip", aip_id, arguments) as act:
            result = api.dip_service().generate(
                DipRequest(
                    aip_id=aip_id,
                    version=order.version,
                    files=order.files,
                    purpose=order.purpose,
                    portal=order.portal,
                    requester=token.name,
                    override=(
                        Override(by=token.name, reason=order.override_reason)
                        if order.override_reason is not None
                        else None
                    ),
                ),
                bootstrap.dip_sink(str(api.spool / target), api.services.settings),
            )
            act.note(f"DIP {result.dip_id}, event {result.event}")
        record = _DipRecord(
            dip_id=result.dip_id,
            requester=token.name,
            file=target,
            aip_id=result.aip_id,
            version=result.version,
            files=len(result.files),
            bytes=result.bytes,
            created=result.created,
        )
        where = api.dip_record_path(result.dip_id)
        partial = where.with_suffix(".part")
        try:
            partial.write_text(record.model_dump_json(), encoding="utf-8")
            partial.replace(where)
        except OSError as exc:
            raise StorageError(f"DIP {result.dip_id} was written but cannot be offered: {exc}") from exc
        return DipOut(
            dip_id=result.dip_id,
            aip_id=result.aip_id,
            version=result.version,
            files=len(result.files),
            bytes=result.bytes,
            download_url=str(request.url_for("download_dip", dip_id=result.dip_id)),
        )

    @app.get(
        "/dips/{dip_id}",
        tags=["access"],
        response_class=FileResponse,
        responses={
            200: {"content": {"application/zip": {}}, "description": "The DIP, a BagIt bag in a .zip."},
            **_problem(401, 404),
        },
    )
    def download_dip(token: Token, dip_id: Annotated[str, PathParam()]) -> FileResponse:
        """Download a DIP: allowed to the token that requested it, and to auditor and admin tokens."""
        try:
            record = _DipRecord.model_validate_json(api.dip_record_path(dip_id).read_bytes())
        except FileNotFoundError:
            record = None
        if record is None or not token.owns_dip(Action.DOWNLOAD_DIP, record.requester):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no DIP {dip_id}")
        path = api.spool / record.file
        if not path.is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"DIP {dip_id} is no longer held")
        return FileResponse(
            path, media_type="application/zip", filename=f"dip-{record.aip_id}-v{record.version}.zip"
        )

    _deaccession_routes(app, api)
    return app


RequestId = Annotated[str, PathParam(description="The deaccession request id (dea-...).")]


def _deaccession_routes(app: FastAPI, api: _Api) -> None:
    """Deaccession: an admin token asks, another admin token approves or rejects (never the same
    name); auditors read. There is no DELETE on any path: deleting is what an approval does."""
    service = bootstrap.deaccession_service(api.services)

    def require(token: ApiToken, action: Action, doing: str) -> None:
        if not token.may(action):
            raise _forbidden(f"a {token.role.value} token may not {doing}")

    @app.post(
        "/aips/{aip_id}/deaccession",
        tags=["administration"],
        status_code=status.HTTP_201_CREATED,
        responses=_problem(401, 403, 404, 409, 503),
    )
    def request_deaccession(token: Token, aip_id: AipId, order: DeaccessionOrder) -> DeaccessionRequest:
        """Ask for the deaccession of an AIP (admin tokens). Nothing is deleted until an admin token
        of another name approves it."""
        require(token, Action.REQUEST_DEACCESSION, "ask for a deaccession")
        with api.recording(token, "deaccession request", aip_id, {"reason": order.reason}) as act:
            request = service.request(aip_id, order.reason, act.actor)
            act.note(f"request {request.id}")
        return request

    @app.post(
        "/deaccessions/{request_id}/approve",
        tags=["administration"],
        responses=_problem(401, 403, 404, 409, 503),
    )
    def approve_deaccession(
        token: Token, request_id: RequestId, order: ApprovalOrder | None = None
    ) -> DeaccessionOutcome:
        """Approve a request (an admin token other than the requester's), then delete the AIP at
        once unless retention holds it: ``state`` says ``executed``, ``waiting`` (with the date in
        the request's ``retry_after``) or ``failed`` (the approval stands; it is tried again)."""
        require(token, Action.DECIDE_DEACCESSION, "decide on a deaccession")
        note = order.note if order is not None else None
        with api.recording(token, "deaccession approve", request_id, {"note": note}) as act:
            outcome = service.approve(request_id, act.actor, note)
            act.note(f"AIP {outcome.request.aip_id}: {outcome.state}")
        return outcome

    @app.post(
        "/deaccessions/{request_id}/reject",
        tags=["administration"],
        responses=_problem(401, 403, 404, 409, 503),
    )
    def reject_deaccession(token: Token, request_id: RequestId, order: RejectionOrder) -> DeaccessionOutcome:
        """Reject a request (an admin token other than the requester's), saying why."""
        require(token, Action.DECIDE_DEACCESSION, "decide on a deaccession")
        with api.recording(token, "deaccession reject", request_id, {"note": order.note}) as act:
            outcome = service.reject(request_id, act.actor, order.note)
            act.note(f"AIP {outcome.request.aip_id}: rejected")
        return outcome

    @app.get("/deaccessions", tags=["administration"], responses=_problem(401, 403, 503))
    def list_deaccessions(
        token: Token,
        status_: Annotated[RequestStatus | None, Query(alias="status")] = None,
        aip_id: Annotated[str | None, Query(description="Only the requests of this AIP.")] = None,
    ) -> DeaccessionsOut:
        """Deaccession requests, oldest first (admin and auditor tokens)."""
        require(token, Action.READ_DEACCESSIONS, "read deaccession requests")
        return DeaccessionsOut(requests=service.list_requests(status_, aip_id))

    @app.get("/deaccessions/{request_id}", tags=["administration"], responses=_problem(401, 403, 404, 503))
    def read_deaccession(token: Token, request_id: RequestId) -> DeaccessionOut:
        """One request, and its AIP's tombstone once carried out (admin and auditor tokens)."""
        require(token, Action.READ_DEACCESSIONS, "read deaccession requests")
        request, tombstone = service.show(request_id)
        return DeaccessionOut(request=request, tombstone=tombstone)


def factory() -> FastAPI:
    """The application for ``uvicorn --factory oais.entrypoints.http:factory``: services built from
    the environment (``OAIS_*``), closed when the server stops.

    Raises:
        ConfigError: the settings or a policy are invalid.
        CatalogError: the catalog cannot be opened.
    """
    from oais.config import load_settings

    services = bootstrap.build(load_settings())
    try:
        return create_app(services, close_services=True)
    except BaseException:
        services.close()
        raise
