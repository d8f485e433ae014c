"""Catalog search on SQLAlchemy: one query for a page, one for the total, whatever the catalog's size.

Case-insensitive matching: PostgreSQL's ``ILIKE``; on SQLite, whose ``LIKE`` folds ASCII letters
only, both sides go through Python's :meth:`str.casefold` (a function registered on the connection),
so that "émission" finds "Émission".

Identifiers: the AIP id exactly, or the ``value`` of an identifier in the AIP's descriptive metadata
(a DOI, a product id), exactly: a ``LIKE`` on the metadata's canonical JSON text for
``"value": "<identifier>"``, quotes included, so that a value is never matched as part of a longer
one. (``value`` is a key of identifiers only.)

Access status and embargo end are read from their own columns (migration 0005), not from the JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause

from oais.adapters.catalog.rows import AipRow, AipVersionRow, FileRow, table
from oais.domain.descriptive import AccessStatus
from oais.domain.errors import CatalogError
from oais.domain.search import AipSummary, SearchPage, SearchQuery

if TYPE_CHECKING:
    from oais.domain.ports import AipSearch

_FOLD = "oais_casefold"


def _escape_like(value: str) -> str:
    """``value`` with LIKE's wildcards taken literally (escape character: backslash)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _casefold(value: object) -> object:
    return value.casefold() if isinstance(value, str) else value


class SqlAipSearch:
    """:class:`~oais.domain.ports.AipSearch` on the catalog database (its schema migrated to head)."""

    def __init__(self, engine: Engine) -> None:
        """Args:
        engine: the catalog's engine.
        """
        self.engine = engine
        self._aips = table(AipRow)
        self._versions = table(AipVersionRow)
        self._files = table(FileRow)

    # --- the query --------------------------------------------------------------------------

    def _contains(self, column: ColumnElement[str], value: str, dialect: str) -> ColumnElement[bool]:
        pattern = f"%{_escape_like(value)}%"
        if dialect == "postgresql":
            return column.ilike(pattern, escape="\\")
        return func.oais_casefold(column).like(pattern.casefold(), escape="\\")

    def _where(self, query: SearchQuery, dialect: str) -> list[ColumnElement[bool]]:
        a, v, f = self._aips, self._versions, self._files
        where: list[ColumnElement[bool]] = []
        if query.title:
            where.append(self._contains(a.c.title, query.title, dialect))
        if query.producer:
            where.append(self._contains(a.c.producer, query.producer, dialect))
        if query.producer_exact is not None:
            where.append(a.c.producer == query.producer_exact)
        if query.created_from is not None:
            where.append(a.c.created >= query.created_from)
        if query.created_to is not None:
            where.append(a.c.created <= query.created_to)
        if query.format:
            where.append(exists().where(f.c.version_id == v.c.id, f.c.format_puid == query.format))
        if query.identifier:
            # As canonical_json writes it: ensure_ascii=False, ": " between key and value.
            value = _escape_like('"value": ' + json.dumps(query.identifier, ensure_ascii=False))
            where.append(or_(a.c.id == query.identifier, a.c["metadata"].like(f"%{value}%", escape="\\")))
        return where

    def _select(self, *columns: ColumnElement[Any]) -> Select[Any]:
        a, v = self._aips, self._versions
        newer = v.alias("newer")
        newest = and_(
            v.c.aip_id == a.c.id,
            ~exists().where(newer.c.aip_id == v.c.aip_id, newer.c.version > v.c.version),
        )
        return select(*columns).select_from(a.join(v, newest))

    def _columns(self) -> list[ColumnElement[Any]]:
        a, v = self._aips, self._versions
        return [
            a.c.id,
            a.c.title,
            a.c.producer,
            a.c.created,
            v.c.version,
            v.c.files,
            v.c.bytes,
            a.c.access_status,
            a.c.embargo_until,
        ]

    def _text_key(self, column: ColumnClause[str] | ColumnElement[str], dialect: str) -> ColumnElement[str]:
        # Code point order on every database, as the repository sorts AIP ids.
        return column.collate("C") if dialect == "postgresql" else column

    # --- the port ----------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of the AIPs matching every criterion of ``query``, oldest first (ties by id).

        Raises:
            CatalogError: the database failed.
        """
        if self._unstorable(*(v for v in query.model_dump().values() if isinstance(v, str))):
            return SearchPage(total=0, limit=query.limit, offset=query.offset, results=[])
        try:
            with self.engine.connect() as connection:
                dialect = self._prepare(connection)
                where = self._where(query, dialect)
                total = connection.execute(self._select(func.count()).where(*where)).scalar_one()
                rows = connection.execute(
                    self._select(*self._columns())
                    .where(*where)
                    .order_by(self._aips.c.created, self._text_key(self._aips.c.id, dialect))
                    .limit(query.limit)
                    .offset(query.offset)
                ).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot search the catalog: {exc}") from exc
        return SearchPage(
            total=total, limit=query.limit, offset=query.offset, results=[_summary(r) for r in rows]
        )

    def summary(self, aip_id: str) -> AipSummary | None:
        """One AIP as search results show it, or None.

        Raises:
            CatalogError: the database failed.
        """
        if self._unstorable(aip_id):
            return None
        try:
            with self.engine.connect() as connection:
                row = connection.execute(
                    self._select(*self._columns()).where(self._aips.c.id == aip_id)
                ).first()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read AIP {aip_id}: {exc}") from exc
        return None if row is None else _summary(row)

    def _unstorable(self, *values: str) -> bool:
        """Whether a value cannot be held by the catalog, so that nothing can match it: PostgreSQL
        text holds no NUL character (and refuses a query that names one)."""
        return self.engine.dialect.name == "postgresql" and any("\x00" in v for v in values)

    def _prepare(self, connection: Connection) -> str:
        dialect = connection.dialect.name
        if dialect == "sqlite":
            raw = connection.connection.driver_connection
            raw.create_function(_FOLD, 1, _casefold, deterministic=True)  # type: ignore[union-attr]
        return dialect

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


def _summary(row: Any) -> AipSummary:
    return AipSummary(
        aip_id=row.id,
        title=row.title,
        producer=row.producer,
        created=row.created,
        version=row.version,
        files=row.files,
        bytes=row.bytes,
        access=AccessStatus(row.access_status),
        embargo_until=row.embargo_until,
    )


if TYPE_CHECKING:
    # mypy proves here that the class satisfies the port it implements.
    def _is_search(search: SqlAipSearch) -> AipSearch:
        return search
