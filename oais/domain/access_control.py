"""Who may do what through the HTTP API: roles, API tokens and the permission matrix.

A token belongs to a person or a portal (its ``name``) and has one role:

- ``producer``: submits SIPs under the producer name the token is bound to, and sees only the AIPs
  whose producer is that name (searching, reading, requesting DIPs, downloading its own DIPs).
- ``auditor``: reads everything (search, AIP metadata, events, DIPs of open content) and changes
  nothing; it may not override an embargo or a restriction.
- ``admin``: everything, including submitting for any producer, overriding an embargo or a
  restriction (with a reason, recorded in PREMIS), and asking for, approving or rejecting the
  deaccession of an AIP (never the one who asked: see :mod:`oais.domain.deaccession`).

The matrix is data (:data:`PERMISSIONS`), read by the HTTP layer and printed in docs/http-api.md.
Pure: no I/O, no clock, no randomness (tokens are made by the token store).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

#: What a token name may look like (it is shown in logs and recorded as a PREMIS agent).
TOKEN_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@:/-]{0,127}")

#: Prefix of every token, so that a leaked token is easy to recognise (and to scan for).
TOKEN_PREFIX = "oais_"


class Role(StrEnum):
    """The role of an API token."""

    PRODUCER = "producer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Action(StrEnum):
    """What a request does."""

    SEARCH = "search"  # GET /aips
    READ = "read"  # GET /aips/{id}, GET /aips/{id}/events
    SUBMIT = "submit"  # POST /sips
    REQUEST_DIP = "request-dip"  # POST /aips/{id}/dips
    OVERRIDE = "override"  # POST /aips/{id}/dips with override_reason
    DOWNLOAD_DIP = "download-dip"  # GET /dips/{id}
    REQUEST_DEACCESSION = "request-deaccession"  # POST /aips/{id}/deaccession
    DECIDE_DEACCESSION = "decide-deaccession"  # POST /deaccessions/{id}/approve, /reject
    READ_DEACCESSIONS = "read-deaccessions"  # GET /deaccessions, GET /deaccessions/{id}


class Scope(StrEnum):
    """How far a role may do an action."""

    NONE = "none"
    #: Only on what is its own: AIPs whose producer is the token's producer, SIPs submitted under
    #: it, DIPs the token itself requested.
    OWN = "own"
    ALL = "all"


#: The permission matrix: role -> action -> scope. An action missing for a role is NONE.
PERMISSIONS: Mapping[Role, Mapping[Action, Scope]] = MappingProxyType(
    {
        Role.PRODUCER: MappingProxyType(
            {
                Action.SEARCH: Scope.OWN,
                Action.READ: Scope.OWN,
                Action.SUBMIT: Scope.OWN,
                Action.REQUEST_DIP: Scope.OWN,
                Action.OVERRIDE: Scope.NONE,
                Action.DOWNLOAD_DIP: Scope.OWN,
                Action.REQUEST_DEACCESSION: Scope.NONE,
                Action.DECIDE_DEACCESSION: Scope.NONE,
                Action.READ_DEACCESSIONS: Scope.NONE,
            }
        ),
        Role.AUDITOR: MappingProxyType(
            {
                Action.SEARCH: Scope.ALL,
                Action.READ: Scope.ALL,
                Action.SUBMIT: Scope.NONE,
                Action.REQUEST_DIP: Scope.ALL,
                Action.OVERRIDE: Scope.NONE,
                Action.DOWNLOAD_DIP: Scope.ALL,
                Action.REQUEST_DEACCESSION: Scope.NONE,
                Action.DECIDE_DEACCESSION: Scope.NONE,
                Action.READ_DEACCESSIONS: Scope.ALL,
            }
        ),
        Role.ADMIN: MappingProxyType({action: Scope.ALL for action in Action}),
    }
)


def token_problem(name: str, role: Role, producer: str | None) -> str | None:
    """Why a token cannot be made with these properties, or None if it can."""
    if TOKEN_NAME_PATTERN.fullmatch(name) is None:
        return (
            f"token name {name!r} is not allowed: use 1 to 128 ASCII letters, digits, spaces or "
            "'._@:/-', starting with a letter or digit"
        )
    if role is Role.PRODUCER and not (producer and producer.strip()):
        return "a producer token needs the producer name it submits and reads under (--producer)"
    if role is not Role.PRODUCER and producer is not None:
        return f"only a producer token is bound to a producer; an {role.value} token sees every producer"
    return None


def token_digest(secret: str) -> str:
    """The sha256 (hex) of a token: what the catalog keeps instead of the token itself."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class ApiToken(BaseModel):
    """An API token as the catalog records it (never the token itself)."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    #: The producer name a producer token is bound to; None for the other roles.
    producer: str | None = None
    created: datetime
    #: When it was revoked; a revoked token authenticates nothing.
    revoked: datetime | None = None

    def scope(self, action: Action) -> Scope:
        """How far this token may do ``action``."""
        return PERMISSIONS[self.role].get(action, Scope.NONE)

    def may(self, action: Action) -> bool:
        """Whether this token may do ``action`` at all (on something)."""
        return self.scope(action) is not Scope.NONE

    def sees(self, action: Action, producer: str) -> bool:
        """Whether this token may do ``action`` on an AIP of ``producer``."""
        scope = self.scope(action)
        return scope is Scope.ALL or (scope is Scope.OWN and producer == self.producer)

    def owns_dip(self, action: Action, requester: str) -> bool:
        """Whether this token may do ``action`` on a DIP requested by the token named ``requester``."""
        scope = self.scope(action)
        return scope is Scope.ALL or (scope is Scope.OWN and requester == self.name)


class IssuedToken(BaseModel):
    """A token just made: the record, and the token itself (shown once, never stored)."""

    model_config = ConfigDict(frozen=True)

    token: ApiToken
    secret: str


class AccessLogEntry(BaseModel):
    """One HTTP request, as the access log keeps it."""

    model_config = ConfigDict(frozen=True)

    time: datetime
    #: The name of the token that authenticated; None when none did (missing or wrong token).
    token: str | None
    method: str
    path: str
    status: int
