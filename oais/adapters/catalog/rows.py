"""The catalog's tables as SQLAlchemy 2 rows.

These rows are not the domain models: :mod:`oais.adapters.catalog.repository` maps between them
explicitly, so that a change of schema never leaks into the services. The schema itself changes only
through the Alembic migrations in ``migrations/versions``; a test checks that the migrated database and
this metadata do not drift apart.

Digests: sha256 and xxh3_128 (the ingest policy's default digest of record and fast-check digest) are
columns of ``files``, because nearly every file has both and fixity audits read them for every file;
any other algorithm (a policy's other record algorithm, a submitted bag's md5 or sha512 manifest) goes
into ``file_digests``. See docs/decisions/0005-catalog-schema.md.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Named constraints let later migrations drop or alter them by name on every dialect (SQLite's batch
# mode needs names too), and let error messages say which rule a write broke.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-assigns INTEGER PRIMARY KEY columns (the rowid alias); PostgreSQL gets 64 bits
# because an archive's file count grows for decades.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and always read back time-zone aware (UTC).

    SQLite has no time zone type: it would return naive datetimes, and mixed offsets would sort
    wrongly as text. Normalising to UTC on the way in makes ordering correct on both dialects.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and convert to UTC (naive UTC for SQLite, which drops offsets)."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: it has no time zone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns; convert PostgreSQL's session-zone values to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every catalog row."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AipRow(Base):
    """An AIP: the intellectual entity. Title, producer and descriptive metadata are those of its
    latest version.

    ``metadata`` is the descriptive metadata as canonical JSON (NULL for an AIP ingested with a
    title only); access status, embargo end and licence identifier are copied out of it into columns
    so that access decisions and searches need no JSON. ``access_status`` is 'open', 'embargoed' or
    'restricted' (an AIP without metadata is open).
    """

    __tablename__ = "aips"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    producer: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    # "metadata" is taken by the declarative base: the attribute has another name than its column.
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text)
    access_status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"), index=True)
    embargo_until: Mapped[date | None] = mapped_column(Date)
    licence: Mapped[str | None] = mapped_column(Text)


class AipVersionRow(Base):
    """One immutable AIP version."""

    __tablename__ = "aip_versions"
    __table_args__ = (
        UniqueConstraint("aip_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("files >= 0 AND bytes >= 0", name="counts_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aip_id: Mapped[str] = mapped_column(Text, ForeignKey("aips.id"))
    version: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UtcDateTime)
    files: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    payload_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    location: Mapped[str] = mapped_column(Text)


class AipVersionAgentRow(Base):
    """The agents listed in one version's record, in their order."""

    __tablename__ = "aip_version_agents"

    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("aip_versions.id"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(Text, ForeignKey("agents.identifier"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class FileRow(Base):
    """One payload file of a version, with its digests of record and its format."""

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("version_id", "path"),
        CheckConstraint("size >= 0", name="size_not_negative"),
        # "Does this version hold a file derived from that path?" in one index lookup. Partial:
        # nearly every file was received from the producer, and those rows need no entry.
        Index(
            None,
            "version_id",
            "derived_from",
            sqlite_where=text("derived_from IS NOT NULL"),
            postgresql_where=text("derived_from IS NOT NULL"),
        ),
        # A migration plan looks up the files of the formats at risk, usually a small share.
        Index(None, "format_puid"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("aip_versions.id"))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    # NULL only if the ingest policy chose another digest of record (then in file_digests).
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    xxh3_128: Mapped[str | None] = mapped_column(String(32))
    format_puid: Mapped[str | None] = mapped_column(Text)
    format_name: Mapped[str] = mapped_column(Text)
    format_version: Mapped[str | None] = mapped_column(Text)
    format_mime: Mapped[str] = mapped_column(Text)
    format_basis: Mapped[str] = mapped_column(Text)
    format_tool: Mapped[str] = mapped_column(Text)
    format_issues: Mapped[str] = mapped_column(Text)  # JSON array of Issue objects, "[]" if none
    stored_path: Mapped[str | None] = mapped_column(Text)  # bag path, if not data/objects/<path>
    # The earlier version whose objects hold this file (listed in this version's fetch.txt); NULL if
    # the file is stored under its own version.
    stored_version: Mapped[int | None] = mapped_column(Integer)
    # The path of the file of the same version this one was made from by a migration or
    # normalisation; NULL for a file received from the producer.
    derived_from: Mapped[str | None] = mapped_column(Text)


class FileDigestRow(Base):
    """A digest of a file in an algorithm other than sha256 and xxh3_128 (those are columns)."""

    __tablename__ = "file_digests"
    __table_args__ = (CheckConstraint("algorithm NOT IN ('sha256', 'xxh3_128')", name="not_a_file_column"),)

    file_id: Mapped[int] = mapped_column(RowId, ForeignKey("files.id"), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class AgentRow(Base):
    """A PREMIS agent, shared by every event and AIP that names it."""

    __tablename__ = "agents"

    identifier: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    version: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class EventRow(Base):
    """A PREMIS event, about an AIP version or (for events outside any AIP) about nothing stored."""

    __tablename__ = "events"
    __table_args__ = (
        # Both halves or neither: MATCH SIMPLE skips the check when either is NULL.
        ForeignKeyConstraint(["aip_id", "version"], ["aip_versions.aip_id", "aip_versions.version"]),
        CheckConstraint("(aip_id IS NULL) = (version IS NULL)", name="aip_and_version_together"),
        Index(None, "aip_id", "version", "position"),
        # Reports select events by period.
        Index(None, "date_time"),
    )

    identifier: Mapped[str] = mapped_column(Text, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    date_time: Mapped[datetime] = mapped_column(UtcDateTime)
    detail: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    outcome_detail: Mapped[str] = mapped_column(Text)
    policy: Mapped[str | None] = mapped_column(Text)
    aip_id: Mapped[str | None] = mapped_column(Text, ForeignKey("aips.id"))
    version: Mapped[int | None] = mapped_column(Integer)
    # The order events were recorded in, so that a version's record reads back as it was written.
    position: Mapped[int] = mapped_column(Integer)


class EventAgentRow(Base):
    """An agent's part in an event (PREMIS linkingAgentIdentifier with its role)."""

    __tablename__ = "event_agents"

    event_id: Mapped[str] = mapped_column(Text, ForeignKey("events.identifier"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(Text, ForeignKey("agents.identifier"), index=True)
    role: Mapped[str] = mapped_column(String(64))


class EventObjectRow(Base):
    """An object an event concerns (PREMIS linkingObjectIdentifierValue)."""

    __tablename__ = "event_objects"

    event_id: Mapped[str] = mapped_column(Text, ForeignKey("events.identifier"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(Text, index=True)


class RejectionRow(Base):
    """A refused SIP with every issue that refused it."""

    __tablename__ = "rejections"

    identifier: Mapped[str] = mapped_column(Text, primary_key=True)
    sip_path: Mapped[str] = mapped_column(Text)
    producer: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    date_time: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    issues: Mapped[str] = mapped_column(Text)  # JSON array of Issue objects


class CopyRow(Base):
    """A verified copy of an AIP version at one storage location (by the location's name)."""

    __tablename__ = "copies"
    __table_args__ = (CheckConstraint("objects >= 0 AND bytes >= 0", name="counts_not_negative"),)

    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("aip_versions.id"), primary_key=True)
    # Indexed: audits and replication walk every copy at one location.
    location: Mapped[str] = mapped_column(Text, primary_key=True, index=True)
    stored: Mapped[datetime] = mapped_column(UtcDateTime)
    verified: Mapped[datetime | None] = mapped_column(UtcDateTime)  # NULL: not checked since a rebuild
    objects: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)


class SegmentRow(Base):
    """One segment of a location's append-only, hash-chained event log."""

    __tablename__ = "event_log_segments"
    __table_args__ = (CheckConstraint("sequence >= 1 AND events >= 0", name="counts_valid"),)

    location: Mapped[str] = mapped_column(Text, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str | None] = mapped_column(String(64))  # NULL for the first segment
    events: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditSliceRow(Base):
    """A run of one version's files at one location, audited as one unit (docs/decisions/0009).

    ``checked`` and ``deep_checked`` are never NULL so that one index scan finds the oldest: a slice
    never verified holds :data:`NEVER`.
    """

    __tablename__ = "audit_slices"
    __table_args__ = (
        UniqueConstraint("version_id", "location", "number"),
        CheckConstraint("files >= 0 AND bytes >= 0 AND number >= 0", name="counts_valid"),
        # With id, so that "oldest first, then by id" is read off the index even when millions of
        # slices share one time (all never verified): no sort of the whole table.
        Index(None, "location", "checked", "id"),
        Index(None, "location", "deep_checked", "id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(Integer, ForeignKey("aip_versions.id"))
    location: Mapped[str] = mapped_column(Text)
    number: Mapped[int] = mapped_column(Integer)
    first_file: Mapped[int | None] = mapped_column(BigInteger)  # files.id range, NULL: no own files
    last_file: Mapped[int | None] = mapped_column(BigInteger)
    files: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    checked: Mapped[datetime] = mapped_column(UtcDateTime)  # last verification, either mode
    deep_checked: Mapped[datetime] = mapped_column(UtcDateTime)  # last deep verification
    outcome: Mapped[str | None] = mapped_column(String(16))  # "ok" or "failed"; NULL: never checked
    event_id: Mapped[str | None] = mapped_column(Text)  # the fixity check event of the last audit
    claimed_by: Mapped[str | None] = mapped_column(Text)
    claim_expires: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditFindingRow(Base):
    """An object an audit found wrong, until it is repaired or found whole again."""

    __tablename__ = "audit_findings"
    __table_args__ = (Index(None, "location", "key"), Index(None, "resolved"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    location: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    aip_id: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(BigInteger)
    algorithm: Mapped[str | None] = mapped_column(String(16))
    expected: Mapped[str | None] = mapped_column(Text)
    found: Mapped[str | None] = mapped_column(Text)
    detected: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    event_id: Mapped[str | None] = mapped_column(Text)  # the fixity check event that found it
    unrecoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved: Mapped[datetime | None] = mapped_column(UtcDateTime)  # repaired, or found whole again
    repaired_from: Mapped[str | None] = mapped_column(Text)  # the location the good copy came from
    resolution_event: Mapped[str | None] = mapped_column(Text)


class AuditSweepRow(Base):
    """When each location was last listed in full for objects no AIP lists, and who is doing it."""

    __tablename__ = "audit_sweeps"

    location: Mapped[str] = mapped_column(Text, primary_key=True)
    swept: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(Text)
    claim_expires: Mapped[datetime | None] = mapped_column(UtcDateTime)


#: The verification time of a slice never verified (sorts first).
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def table(row: type[Base]) -> Table:
    """The Core table of a row class, for bulk statements.

    Args:
        row: a mapped row class of this module.

    Returns:
        Its :class:`~sqlalchemy.Table`.
    """
    result = row.__table__
    assert isinstance(result, Table)  # every row here is mapped to a plain table
    return result
