"""Rows of the administration tables (migration 0007): action log, policy register, deaccession.

Mapped on the catalog's declarative base, so that the schema test compares them with the migrations.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from oais.adapters.catalog.rows import Base, RowId, UtcDateTime


class ActionRow(Base):
    """One state-changing action: who, how they were identified, what, on what, and how it ended."""

    __tablename__ = "action_log"
    __table_args__ = (
        CheckConstraint("authenticated_by IN ('token', 'os-user', 'daemon')", name="authenticated_by_known"),
        CheckConstraint("channel IN ('cli', 'api', 'daemon')", name="channel_known"),
        CheckConstraint("outcome IS NULL OR outcome IN ('ok', 'failed', 'refused')", name="outcome_known"),
        Index(None, "started"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    started: Mapped[datetime] = mapped_column(UtcDateTime)
    finished: Mapped[datetime | None] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(Text)
    authenticated_by: Mapped[str] = mapped_column(String(16))
    role: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    arguments: Mapped[str] = mapped_column(Text)  # JSON object
    outcome: Mapped[str | None] = mapped_column(String(16))  # NULL while the action runs
    detail: Mapped[str] = mapped_column(Text)


class PolicyLogRow(Base):
    """A policy text the archive acted under, first seen when and by which action."""

    __tablename__ = "policy_log"
    __table_args__ = (UniqueConstraint("policy_id", "version", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy_id: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    first_seen_by: Mapped[str] = mapped_column(Text)
    action_id: Mapped[int | None] = mapped_column(RowId)


class DeaccessionRequestRow(Base):
    """A request to delete an AIP, its decision by a different administrator, and how its execution
    stands (see :mod:`oais.domain.deaccession`)."""

    __tablename__ = "deaccession_requests"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'approved', 'rejected', 'executed')", name="status_known"),
        CheckConstraint("(status = 'requested') = (decided_by IS NULL)", name="decided_unless_requested"),
        CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name="four_eyes"),
        CheckConstraint(
            "(status = 'executed') = (executed_at IS NOT NULL AND event_id IS NOT NULL)",
            name="executed_with_event",
        ),
        CheckConstraint(
            "started IS NULL OR status IN ('approved', 'executed')", name="started_once_approved"
        ),
        # One open request per AIP, whoever asks and however many at once.
        Index(
            "uq_deaccession_requests_open_aip_id",
            "aip_id",
            unique=True,
            sqlite_where=text("status IN ('requested', 'approved')"),
            postgresql_where=text("status IN ('requested', 'approved')"),
        ),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    aip_id: Mapped[str] = mapped_column(Text, ForeignKey("aips.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    event_id: Mapped[str | None] = mapped_column(Text)
    # When its execution began (the catalog then dropped the AIP's copies); NULL before.
    started: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # JSON array: what was found to delete at each location when the execution began.
    planned: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)  # how the execution stands, for people ("" if nothing)
    retry_after: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TombstoneRow(Base):
    """What stays of a deaccessioned AIP (the record also written to every location)."""

    __tablename__ = "tombstones"

    aip_id: Mapped[str] = mapped_column(Text, ForeignKey("aips.id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(Text, ForeignKey("deaccession_requests.id"), unique=True)
    deleted: Mapped[datetime] = mapped_column(UtcDateTime)
    record: Mapped[str] = mapped_column(Text)  # canonical JSON
