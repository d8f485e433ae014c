"""File derivation: which file of the same version a migrated or normalised file was made from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

New column ``files.derived_from``: the path of the file of the same AIP version that a file was made
from by a format migration or normalisation (PREMIS: a derivation relationship, subtype
``has source``). Every file stored before this revision was received from its producer, so existing
rows stay NULL.

New index ``ix_files_version_id_derived_from`` on ``(version_id, derived_from)``, partial
(``WHERE derived_from IS NOT NULL``) on SQLite and PostgreSQL: finding whether a version holds a file
derived from a given path is one index lookup, and the files received from a producer, nearly all of
them, take no room in it.

New index ``ix_files_format_puid``: a migration plan looks up the files of the formats at risk, usually
a small share of the holdings, without reading the whole table.

Downgrade drops the indexes and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DERIVED = "derived_from IS NOT NULL"


def upgrade() -> None:
    """Add ``files.derived_from`` and its partial index."""
    op.add_column("files", sa.Column("derived_from", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_files_version_id_derived_from"),
        "files",
        ["version_id", "derived_from"],
        sqlite_where=sa.text(_DERIVED),
        postgresql_where=sa.text(_DERIVED),
    )
    op.create_index(op.f("ix_files_format_puid"), "files", ["format_puid"])


def downgrade() -> None:
    """Drop the indexes and ``files.derived_from``."""
    op.drop_index(op.f("ix_files_format_puid"), table_name="files")
    op.drop_index(op.f("ix_files_version_id_derived_from"), table_name="files")
    # A plain ALTER TABLE on SQLite too (3.35+): a batch copy of ``files`` would break the foreign
    # keys of ``file_digests`` that point at it.
    op.drop_column("files", "derived_from")
