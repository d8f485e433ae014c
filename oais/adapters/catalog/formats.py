"""Holdings by format, from the catalog: one grouped query, whatever the number of files."""

from __future__ import annotations

from sqlalchemy import Engine, distinct, func, select
from sqlalchemy.exc import SQLAlchemyError

from oais.adapters.catalog.rows import AipVersionRow, FileRow, table
from oais.domain.errors import CatalogError
from oais.domain.formats import FormatHolding


class SqlFormatCatalog:
    """:class:`~oais.domain.ports.FormatCatalog` on the catalog database."""

    def __init__(self, engine: Engine) -> None:
        """Use the catalog's engine (its schema migrated to head)."""
        self._engine = engine

    def holdings(self) -> list[FormatHolding]:
        """Files, bytes and AIPs per format PUID, counting each stored file once (a file a later
        version reuses is not counted again).

        Raises:
            CatalogError: the database failed.
        """
        f = table(FileRow)
        v = table(AipVersionRow)
        query = (
            select(
                f.c.format_puid,
                func.max(f.c.format_name),
                func.count(),
                func.coalesce(func.sum(f.c.size), 0),
                func.count(distinct(v.c.aip_id)),
            )
            .join(v, v.c.id == f.c.version_id)
            .where(f.c.stored_version.is_(None))
            .group_by(f.c.format_puid)
        )
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the holdings by format: {exc}") from exc
        return [
            FormatHolding(puid=puid, name=name or "", files=files, bytes=int(size), aips=aips)
            for puid, name, files, size, aips in rows
        ]
