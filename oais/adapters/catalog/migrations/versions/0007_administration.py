"""Administration: the action log, the policy register, deaccession requests and tombstones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

New tables (docs/administration.md):

- ``action_log``: every state-changing action through the command line, the HTTP API or the daemon:
  when it started and finished, who did it (``actor``) and how that was established
  (``authenticated_by``: ``token``, ``os-user`` or ``daemon``), the actor's role, the channel
  (``cli``, ``api``, ``daemon``), the action (``ingest``, ``deaccession approve``...), its target
  (an AIP id, a request id...), its arguments as JSON, its outcome (NULL while it runs, then ``ok``,
  ``failed`` or ``refused``) and a detail (the error, or what was done). Indexed by start time.
- ``policy_log``: every policy text the archive has acted under: policy id, version, the sha256 of
  the file, its title, when and by which action it was first seen. One row per distinct
  (id, version, sha256): a change of text under the same version is a row of its own.
- ``deaccession_requests``: a request to delete an AIP, its reason, who asked and when, its status
  (``requested``, ``approved``, ``rejected``, ``executed``), who decided and when, with a note,
  when its execution began (``started``: the AIP's copies left the catalog) and what it found to
  delete per location (``planned``, JSON), how it stands (``detail``) and when it is due again
  (``retry_after``: the end of the retention that holds the objects), when the deletion was
  carried out and the PREMIS ``deletion`` event that records it. The decider differs from the
  requester (CHECK ``four_eyes``); an AIP has at most one open request (a partial unique index).
- ``tombstones``: what stays of a deaccessioned AIP: the request, when it was deleted, and the
  tombstone record as written to storage (canonical JSON).

New index ``ix_events_date_time``: reports select events by period.

Downgrade drops the index and the four tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the four tables and the events' time index."""
    op.create_table(
        "action_log",
        sa.Column("id", _ROW_ID, autoincrement=True),
        sa.Column("started", _TIME, nullable=False),
        sa.Column("finished", _TIME, nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("authenticated_by", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_log")),
        sa.CheckConstraint(
            "authenticated_by IN ('token', 'os-user', 'daemon')",
            name=op.f("ck_action_log_authenticated_by_known"),
        ),
        sa.CheckConstraint("channel IN ('cli', 'api', 'daemon')", name=op.f("ck_action_log_channel_known")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('ok', 'failed', 'refused')",
            name=op.f("ck_action_log_outcome_known"),
        ),
    )
    op.create_index(op.f("ix_action_log_started"), "action_log", ["started"])
    op.create_table(
        "policy_log",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("policy_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_seen", _TIME, nullable=False),
        sa.Column("first_seen_by", sa.Text(), nullable=False),
        sa.Column("action_id", _ROW_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_log")),
        sa.UniqueConstraint(
            "policy_id", "version", "sha256", name=op.f("uq_policy_log_policy_id_version_sha256")
        ),
    )
    op.create_table(
        "deaccession_requests",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("aip_id", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("executed_at", _TIME, nullable=True),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.Column("started", _TIME, nullable=True),
        sa.Column("planned", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("retry_after", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deaccession_requests")),
        sa.ForeignKeyConstraint(["aip_id"], ["aips.id"], name=op.f("fk_deaccession_requests_aip_id")),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'rejected', 'executed')",
            name=op.f("ck_deaccession_requests_status_known"),
        ),
        sa.CheckConstraint(
            "(status = 'requested') = (decided_by IS NULL)",
            name=op.f("ck_deaccession_requests_decided_unless_requested"),
        ),
        sa.CheckConstraint(
            "decided_by IS NULL OR decided_by <> requested_by",
            name=op.f("ck_deaccession_requests_four_eyes"),
        ),
        sa.CheckConstraint(
            "(status = 'executed') = (executed_at IS NOT NULL AND event_id IS NOT NULL)",
            name=op.f("ck_deaccession_requests_executed_with_event"),
        ),
        sa.CheckConstraint(
            "started IS NULL OR status IN ('approved', 'executed')",
            name=op.f("ck_deaccession_requests_started_once_approved"),
        ),
    )
    op.create_index(op.f("ix_deaccession_requests_aip_id"), "deaccession_requests", ["aip_id"])
    op.create_index(
        "uq_deaccession_requests_open_aip_id",
        "deaccession_requests",
        ["aip_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('requested', 'approved')"),
        postgresql_where=sa.text("status IN ('requested', 'approved')"),
    )
    op.create_table(
        "tombstones",
        sa.Column("aip_id", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("deleted", _TIME, nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("aip_id", name=op.f("pk_tombstones")),
        sa.UniqueConstraint("request_id", name=op.f("uq_tombstones_request_id")),
        sa.ForeignKeyConstraint(["aip_id"], ["aips.id"], name=op.f("fk_tombstones_aip_id")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["deaccession_requests.id"], name=op.f("fk_tombstones_request_id")
        ),
    )
    op.create_index(op.f("ix_events_date_time"), "events", ["date_time"])


def downgrade() -> None:
    """Drop the events' time index and the four tables."""
    op.drop_index(op.f("ix_events_date_time"), table_name="events")
    op.drop_table("tombstones")
    op.drop_index("uq_deaccession_requests_open_aip_id", table_name="deaccession_requests")
    op.drop_index(op.f("ix_deaccession_requests_aip_id"), table_name="deaccession_requests")
    op.drop_table("deaccession_requests")
    op.drop_table("policy_log")
    op.drop_index(op.f("ix_action_log_started"), table_name="action_log")
    op.drop_table("action_log")
