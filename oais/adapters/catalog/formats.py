"""Holdings by format and the files to migrate, from the catalog: one query each, whatever the
number of files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, Select, distinct, exists, func, select
from sqlalchemy.exc import SQLAlchemyError

from oais.adapters.catalog.rows import AipVersionRow, FileRow, table
from oais.domain.errors import CatalogError
from oais.domain.formats import FormatHolding
from oais.domain.migration import Candidate

#: Rows fetched from the database at a time while a plan is streamed.
_CHUNK = 10_000


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

    def candidates(self, puids: Iterable[str]) -> Iterator[Candidate]:
        """The files in formats ``puids`` of every AIP's newest version that no file of that version
        derives from yet, by AIP id and path: one query, streamed in chunks.

        Raises:
            CatalogError: the database failed.
        """
        wanted = sorted(set(puids))
        if not wanted:
            return
        f = table(FileRow)
        v = table(AipVersionRow)
        newer = v.alias("newer")
        derived = f.alias("derived")
        query = (
            select(v.c.aip_id, v.c.version, f.c.path, f.c.size, f.c.sha256, f.c.format_puid)
            .join(v, v.c.id == f.c.version_id)
            .where(f.c.format_puid.in_(wanted))
            .where(~exists().where(newer.c.aip_id == v.c.aip_id, newer.c.version > v.c.version))
            .where(
                ~exists().where(derived.c.version_id == f.c.version_id, derived.c.derived_from == f.c.path)
            )
            .order_by(v.c.aip_id, f.c.path)
        )
        try:
            with self._engine.connect() as connection:
                result = connection.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
                for rows in result.partitions():
                    for aip_id, version, path, size, sha256, puid in rows:
                        yield Candidate(aip_id, version, path, size, sha256 or "", puid)
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the files to migrate: {exc}") from exc

    def unmigrated(self, puids: Iterable[str]) -> dict[str, tuple[int, int, int]]:
        """(files, bytes, AIPs) of :meth:`candidates` per PUID (one grouped query).

        Raises:
            CatalogError: the database failed.
        """
        wanted = sorted(set(puids))
        if not wanted:
            return {}
        f = table(FileRow)
        v = table(AipVersionRow)
        query = _unmigrated(
            select(
                f.c.format_puid,
                func.count(),
                func.coalesce(func.sum(f.c.size), 0),
                func.count(distinct(v.c.aip_id)),
            ),
            wanted,
        ).group_by(f.c.format_puid)
        try:
            with self._engine.connect() as connection:
                return {puid: (n, int(size), aips) for puid, n, size, aips in connection.execute(query)}
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot count the files to migrate: {exc}") from exc

    def existing_paths(self, keys: Sequence[tuple[str, int, str]]) -> set[tuple[str, int, str]]:
        """Those of ``keys`` (AIP id, version, file path) that name a file the catalog holds: one
        query per 500 keys.

        Each query asks for the paths among the keys' paths in the keys' versions (two plain IN
        lists, answered from the unique index on ``(version_id, path)``), and keeps the exact keys;
        a list of row values is not used, as SQLite scans the table for one.

        Raises:
            CatalogError: the database failed.
        """
        f = table(FileRow)
        v = table(AipVersionRow)
        wanted = set(keys)
        found: set[tuple[str, int, str]] = set()
        ordered = sorted(wanted)
        try:
            with self._engine.connect() as connection:
                for start in range(0, len(ordered), 500):
                    chunk = ordered[start : start + 500]
                    query = (
                        select(v.c.aip_id, v.c.version, f.c.path)
                        .join(v, v.c.id == f.c.version_id)
                        .where(v.c.aip_id.in_({a for a, _, _ in chunk}))
                        .where(v.c.version.in_({n for _, n, _ in chunk}))
                        .where(f.c.path.in_({p for _, _, p in chunk}))
                    )
                    found.update(k for k in connection.execute(query).tuples() if k in wanted)
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot look up file names in the catalog: {exc}") from exc
        return found


def _unmigrated(query: Select[Any], puids: list[str]) -> Select[Any]:
    """``query`` over the files in formats ``puids`` of every AIP's newest version that no file of
    that version derives from."""
    f, v = table(FileRow), table(AipVersionRow)
    newer, derived = v.alias("newer"), f.alias("derived")
    return (
        query.select_from(f)
        .join(v, v.c.id == f.c.version_id)
        .where(f.c.format_puid.in_(puids))
        .where(~exists().where(newer.c.aip_id == v.c.aip_id, newer.c.version > v.c.version))
        .where(~exists().where(derived.c.version_id == f.c.version_id, derived.c.derived_from == f.c.path))
    )
