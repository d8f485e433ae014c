"""API tokens and the HTTP access log in the catalog database (tables of migration 0006).

Only the sha256 of a token is stored. A token is found by its digest (an indexed lookup), and the
digest read back is compared with :func:`hmac.compare_digest`: a token is 256 random bits, so its
digest is as unguessable as the token, and no comparison leaks how much of a guess was right.
"""

from __future__ import annotations

import builtins
import hmac
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, Engine, Index, Integer, String, Text, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from oais.adapters.catalog.rows import Base, RowId, UtcDateTime, table
from oais.domain.access_control import (
    TOKEN_PREFIX,
    AccessLogEntry,
    ApiToken,
    IssuedToken,
    Role,
    token_digest,
    token_problem,
)
from oais.domain.errors import CatalogError, ConfigError, ConflictError, NotFound
from oais.domain.ports import Clock

if TYPE_CHECKING:
    from oais.domain.ports import AccessLog, TokenStore

#: The longest token looked up (a token is 5 + 43 characters; anything much longer is not one).
_MAX_TOKEN = 256

_ROLES = ", ".join(f"'{r.value}'" for r in Role)


class ApiTokenRow(Base):
    """An API token: who holds it, its role, and the sha256 of the token (never the token)."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLES})", name="role_known"),
        CheckConstraint("(role = 'producer') = (producer IS NOT NULL)", name="producer_with_producer_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    producer: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiAccessRow(Base):
    """One HTTP request: when, which token (NULL: none authenticated), what, and the status."""

    __tablename__ = "api_access_log"
    __table_args__ = (Index(None, "time"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    token: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)


_TOKEN_COLUMNS = (
    ApiTokenRow.name,
    ApiTokenRow.role,
    ApiTokenRow.producer,
    ApiTokenRow.created,
    ApiTokenRow.revoked,
)


def _token(row: Any) -> ApiToken:
    return ApiToken(
        name=row.name, role=Role(row.role), producer=row.producer, created=row.created, revoked=row.revoked
    )


class SqlTokenStore:
    """:class:`~oais.domain.ports.TokenStore` and :class:`~oais.domain.ports.AccessLog` on the
    catalog database (its schema migrated to head)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        """Args:
        engine: the catalog's engine.
        clock: the time of creations, revocations and requests.
        """
        self.engine = engine
        self._clock = clock

    def add(self, name: str, role: Role, producer: str | None = None) -> IssuedToken:
        """Make a new random token (see :meth:`oais.domain.ports.TokenStore.add`).

        Raises:
            ConfigError: the name, role and producer do not make a valid token.
            ConflictError: a token already has this name.
            CatalogError: the database failed.
        """
        if producer is not None:
            producer = producer.strip()  # as ingest records producer names
        problem = token_problem(name, role, producer)
        if problem:
            raise ConfigError(problem)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(name=name, role=role, producer=producer, created=self._clock.now())
        values = {
            "name": name,
            "role": role.value,
            "producer": producer,
            "sha256": token_digest(secret),
            "created": token.created,
            "revoked": None,
        }
        try:
            with self.engine.begin() as connection:
                taken = connection.execute(select(ApiTokenRow.id).where(ApiTokenRow.name == name)).first()
                if taken is not None:
                    raise ConflictError(f"a token named {name!r} already exists (revoked tokens keep names)")
                connection.execute(insert(table(ApiTokenRow)), values)
        except IntegrityError as exc:  # the same name added at the same time elsewhere
            raise ConflictError(f"a token named {name!r} already exists") from exc
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot add the token {name!r}: {exc}") from exc
        return IssuedToken(token=token, secret=secret)

    def authenticate(self, secret: str) -> ApiToken | None:
        """The unrevoked token ``secret`` is, or None.

        Raises:
            CatalogError: the database failed.
        """
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > _MAX_TOKEN:
            return None
        digest = token_digest(secret)
        query = select(*_TOKEN_COLUMNS, ApiTokenRow.sha256).where(ApiTokenRow.sha256 == digest)
        try:
            with self.engine.connect() as connection:
                row = connection.execute(query).first()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the API tokens: {exc}") from exc
        if row is None or not hmac.compare_digest(row.sha256, digest) or row.revoked is not None:
            return None
        return _token(row)

    def list(self) -> list[ApiToken]:
        """Every token, revoked ones included, oldest first.

        Raises:
            CatalogError: the database failed.
        """
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(select(*_TOKEN_COLUMNS).order_by(ApiTokenRow.id)).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the API tokens: {exc}") from exc
        return [_token(r) for r in rows]

    def revoke(self, name: str) -> ApiToken:
        """Revoke the token ``name``; a token already revoked keeps its first revocation time.

        Raises:
            NotFound: no token has this name.
            CatalogError: the database failed.
        """
        now = self._clock.now()
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(table(ApiTokenRow))
                    .where(ApiTokenRow.name == name, ApiTokenRow.revoked.is_(None))
                    .values(revoked=now)
                )
                row = connection.execute(select(*_TOKEN_COLUMNS).where(ApiTokenRow.name == name)).first()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot revoke the token {name!r}: {exc}") from exc
        if row is None:
            raise NotFound(f"no token named {name!r}")
        return _token(row)

    def record(self, entry: AccessLogEntry) -> None:
        """Append one request to the access log (one INSERT, committed at once).

        Raises:
            CatalogError: the database failed.
        """
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(table(ApiAccessRow)), entry.model_dump())
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot write the HTTP access log: {exc}") from exc

    def access_log(self, since: datetime | None = None) -> builtins.list[AccessLogEntry]:
        """The requests recorded (since ``since``), oldest first.

        Raises:
            CatalogError: the database failed.
        """
        query = select(
            ApiAccessRow.time, ApiAccessRow.token, ApiAccessRow.method, ApiAccessRow.path, ApiAccessRow.status
        ).order_by(ApiAccessRow.id)
        if since is not None:
            query = query.where(ApiAccessRow.time >= since)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the HTTP access log: {exc}") from exc
        return [
            AccessLogEntry(time=r.time, token=r.token, method=r.method, path=r.path, status=r.status)
            for r in rows
        ]

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


if TYPE_CHECKING:
    # mypy proves here that the class satisfies the ports it implements.
    def _is_token_store(store: SqlTokenStore) -> TokenStore:
        return store

    def _is_access_log(store: SqlTokenStore) -> AccessLog:
        return store
