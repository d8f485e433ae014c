"""Fixity audits: slices, findings, sweeps; where a reused file is stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

New tables (docs/decisions/0009-fixity-audits.md):

- ``audit_slices``: runs of one version's files at one location, each audited as one unit, with its
  last verification (either mode and deep) and the claim of the daemon auditing it. Slices are made
  by the audit itself for every copy that has none, so existing copies need nothing here.
- ``audit_findings``: objects found missing, truncated, altered, unreadable or unexpected, until
  repaired or found whole again.
- ``audit_sweeps``: when each location was last listed in full for objects no AIP lists.

New column ``files.stored_version``: the earlier version whose objects hold a file that a version
reuses (its fetch.txt lists it). Every version stored before this revision holds all of its files,
so existing rows stay NULL.

Downgrade drops the three tables and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the audit tables and ``files.stored_version``."""
    op.add_column("files", sa.Column("stored_version", sa.Integer(), nullable=True))
    op.create_table(
        "audit_slices",
        sa.Column("id", _ROW_ID, autoincrement=True),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("first_file", sa.BigInteger(), nullable=True),
        sa.Column("last_file", sa.BigInteger(), nullable=True),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("checked", _TIME, nullable=False),
        sa.Column("deep_checked", _TIME, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("claim_expires", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_slices")),
        sa.ForeignKeyConstraint(
            ["version_id"], ["aip_versions.id"], name=op.f("fk_audit_slices_version_id_aip_versions")
        ),
        sa.UniqueConstraint(
            "version_id", "location", "number", name=op.f("uq_audit_slices_version_id_location_number")
        ),
        sa.CheckConstraint(
            "files >= 0 AND bytes >= 0 AND number >= 0", name=op.f("ck_audit_slices_counts_valid")
        ),
    )
    op.create_index(
        op.f("ix_audit_slices_location_checked_id"), "audit_slices", ["location", "checked", "id"]
    )
    op.create_index(
        op.f("ix_audit_slices_location_deep_checked_id"), "audit_slices", ["location", "deep_checked", "id"]
    )
    op.create_table(
        "audit_findings",
        sa.Column("id", _ROW_ID, autoincrement=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("aip_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("algorithm", sa.String(16), nullable=True),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("found", sa.Text(), nullable=True),
        sa.Column("detected", _TIME, nullable=False),
        sa.Column("last_seen", _TIME, nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("unrecoverable", sa.Boolean(), nullable=False),
        sa.Column("resolved", _TIME, nullable=True),
        sa.Column("repaired_from", sa.Text(), nullable=True),
        sa.Column("resolution_event", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_findings")),
    )
    op.create_index(op.f("ix_audit_findings_location_key"), "audit_findings", ["location", "key"])
    op.create_index(op.f("ix_audit_findings_resolved"), "audit_findings", ["resolved"])
    op.create_table(
        "audit_sweeps",
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("swept", _TIME, nullable=False),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("claim_expires", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("location", name=op.f("pk_audit_sweeps")),
    )


def downgrade() -> None:
    """Drop the audit tables and ``files.stored_version``."""
    op.drop_table("audit_sweeps")
    op.drop_table("audit_findings")
    op.drop_table("audit_slices")
    # A plain ALTER TABLE on SQLite too (3.35+): a batch copy of ``files`` would break the foreign
    # keys of ``file_digests`` that point at it.
    op.drop_column("files", "stored_version")
