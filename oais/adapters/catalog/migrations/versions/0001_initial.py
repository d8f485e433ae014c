"""The initial catalog: AIPs, versions, files, digests, PREMIS events and agents, rejected SIPs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Migrations are frozen history: they spell out plain SQLAlchemy types instead of importing the
application's row classes, so that a later change to ``rows.py`` cannot rewrite what this revision did.
Times are ``DateTime(timezone=True)`` (``timestamptz`` on PostgreSQL; UTC text on SQLite, written
and read by ``rows.UtcDateTime``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 64-bit where a table may outgrow 2**31 rows; SQLite needs INTEGER to auto-assign its rowid alias.
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the catalog."""
    op.create_table(
        "agents",
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_agents")),
    )
    op.create_table(
        "aips",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("producer", sa.Text(), nullable=False),
        sa.Column("created", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aips")),
    )
    op.create_table(
        "rejections",
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("sip_path", sa.Text(), nullable=False),
        sa.Column("producer", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("date_time", _TIME, nullable=False),
        sa.Column("issues", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_rejections")),
    )
    op.create_index(op.f("ix_rejections_date_time"), "rejections", ["date_time"])
    op.create_table(
        "aip_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("aip_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", _TIME, nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("payload_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.CheckConstraint("files >= 0 AND bytes >= 0", name=op.f("ck_aip_versions_counts_not_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_aip_versions_version_positive")),
        sa.ForeignKeyConstraint(["aip_id"], ["aips.id"], name=op.f("fk_aip_versions_aip_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aip_versions")),
        sa.UniqueConstraint("aip_id", "version", name=op.f("uq_aip_versions_aip_id_version")),
    )
    op.create_index(op.f("ix_aip_versions_payload_fingerprint"), "aip_versions", ["payload_fingerprint"])
    op.create_table(
        "aip_version_agents",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.identifier"], name=op.f("fk_aip_version_agents_agent_id")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["aip_versions.id"], name=op.f("fk_aip_version_agents_version_id")
        ),
        sa.PrimaryKeyConstraint("version_id", "agent_id", name=op.f("pk_aip_version_agents")),
    )
    op.create_table(
        "events",
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("date_time", _TIME, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("outcome_detail", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=True),
        sa.Column("aip_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(aip_id IS NULL) = (version IS NULL)", name=op.f("ck_events_aip_and_version_together")
        ),
        sa.ForeignKeyConstraint(
            ["aip_id", "version"],
            ["aip_versions.aip_id", "aip_versions.version"],
            name=op.f("fk_events_aip_id_version"),
        ),
        sa.ForeignKeyConstraint(["aip_id"], ["aips.id"], name=op.f("fk_events_aip_id")),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_aip_id_version_position"), "events", ["aip_id", "version", "position"])
    op.create_table(
        "files",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("xxh3_128", sa.String(length=32), nullable=True),
        sa.Column("format_puid", sa.Text(), nullable=True),
        sa.Column("format_name", sa.Text(), nullable=False),
        sa.Column("format_version", sa.Text(), nullable=True),
        sa.Column("format_mime", sa.Text(), nullable=False),
        sa.Column("format_basis", sa.Text(), nullable=False),
        sa.Column("format_tool", sa.Text(), nullable=False),
        sa.Column("format_issues", sa.Text(), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=True),
        sa.CheckConstraint("size >= 0", name=op.f("ck_files_size_not_negative")),
        sa.ForeignKeyConstraint(["version_id"], ["aip_versions.id"], name=op.f("fk_files_version_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("version_id", "path", name=op.f("uq_files_version_id_path")),
    )
    op.create_index(op.f("ix_files_sha256"), "files", ["sha256"])
    op.create_table(
        "event_agents",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.identifier"], name=op.f("fk_event_agents_agent_id")),
        sa.ForeignKeyConstraint(["event_id"], ["events.identifier"], name=op.f("fk_event_agents_event_id")),
        sa.PrimaryKeyConstraint("event_id", "position", name=op.f("pk_event_agents")),
    )
    op.create_index(op.f("ix_event_agents_agent_id"), "event_agents", ["agent_id"])
    op.create_table(
        "event_objects",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.identifier"], name=op.f("fk_event_objects_event_id")),
        sa.PrimaryKeyConstraint("event_id", "position", name=op.f("pk_event_objects")),
    )
    op.create_index(op.f("ix_event_objects_object_id"), "event_objects", ["object_id"])
    op.create_table(
        "file_digests",
        sa.Column("file_id", _ROW_ID, nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "algorithm NOT IN ('sha256', 'xxh3_128')", name=op.f("ck_file_digests_not_a_file_column")
        ),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], name=op.f("fk_file_digests_file_id")),
        sa.PrimaryKeyConstraint("file_id", "algorithm", name=op.f("pk_file_digests")),
    )


def downgrade() -> None:
    """Drop every table of the catalog (children before parents)."""
    for name in (
        "file_digests",
        "event_objects",
        "event_agents",
        "files",
        "events",
        "aip_version_agents",
        "aip_versions",
        "rejections",
        "aips",
        "agents",
    ):
        op.drop_table(name)
