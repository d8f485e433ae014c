"""Descriptive metadata: licence, access status and embargo of every AIP.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

New columns of ``aips`` (docs/decisions/0011-descriptive-metadata-and-rights.md):

- ``metadata``: the descriptive metadata given at ingest, as canonical JSON (the bytes of the AIP's
  ``data/metadata/descriptive.json``); NULL for an AIP ingested with a title only.
- ``access_status``: 'open', 'embargoed' or 'restricted', NOT NULL, default 'open'. Every AIP
  stored before this revision was ingested without metadata, so it is open.
- ``embargo_until``: the first day an embargoed AIP is open; NULL otherwise.
- ``licence``: the licence identifier (SPDX where there is one); NULL when none was given.

The last three are copied out of ``metadata`` so that access decisions and searches need no JSON.

New index ``ix_aips_access_status``: the AIPs under embargo or restricted are a small share of the
holdings, found without reading the whole table.

Downgrade drops the index and the columns (the metadata stays in every AIP version's bag, from
which ``oais catalog rebuild`` takes it back).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the descriptive metadata columns of ``aips`` and the access status index."""
    op.add_column("aips", sa.Column("metadata", sa.Text(), nullable=True))
    op.add_column(
        "aips",
        sa.Column("access_status", sa.String(16), server_default=sa.text("'open'"), nullable=False),
    )
    op.add_column("aips", sa.Column("embargo_until", sa.Date(), nullable=True))
    op.add_column("aips", sa.Column("licence", sa.Text(), nullable=True))
    op.create_index(op.f("ix_aips_access_status"), "aips", ["access_status"])


def downgrade() -> None:
    """Drop the index and the columns."""
    op.drop_index(op.f("ix_aips_access_status"), table_name="aips")
    # Plain ALTER TABLE on SQLite too (3.35+): a batch copy of ``aips`` would break the foreign keys
    # of the tables that point at it.
    for column in ("licence", "embargo_until", "access_status", "metadata"):
        op.drop_column("aips", column)
