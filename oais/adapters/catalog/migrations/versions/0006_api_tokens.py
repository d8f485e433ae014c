"""HTTP API: tokens and the access log.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

New tables (docs/http-api.md):

- ``api_tokens``: who holds each API token (``name``, unique, also after revocation), its role
  (``producer``, ``auditor`` or ``admin``), the producer name a producer token is bound to (set for
  producer tokens only), the sha256 of the token (never the token itself; unique), when it was made
  and when it was revoked (NULL while it is valid).
- ``api_access_log``: every HTTP request: time, the name of the token that authenticated (NULL when
  none did: a missing, wrong or revoked token), method, path, status. Indexed by time.

Downgrade drops both tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``api_tokens`` and ``api_access_log``."""
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("producer", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created", _TIME, nullable=False),
        sa.Column("revoked", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("sha256", name=op.f("uq_api_tokens_sha256")),
        sa.CheckConstraint("role IN ('producer', 'auditor', 'admin')", name=op.f("ck_api_tokens_role_known")),
        sa.CheckConstraint(
            "(role = 'producer') = (producer IS NOT NULL)",
            name=op.f("ck_api_tokens_producer_with_producer_role"),
        ),
    )
    op.create_table(
        "api_access_log",
        sa.Column("id", _ROW_ID, autoincrement=True),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_access_log")),
    )
    op.create_index(op.f("ix_api_access_log_time"), "api_access_log", ["time"])


def downgrade() -> None:
    """Drop ``api_access_log`` and ``api_tokens``."""
    op.drop_index(op.f("ix_api_access_log_time"), table_name="api_access_log")
    op.drop_table("api_access_log")
    op.drop_table("api_tokens")
