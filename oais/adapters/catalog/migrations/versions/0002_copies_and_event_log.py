"""Storage locations: the copies of each version and the event log segments; locations become prefixes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

New tables:

- ``copies``: one row per verified copy of an AIP version at a storage location (by location name).
- ``event_log_segments``: the segments of each location's append-only, hash-chained event log.

Data: the previous release kept one copy of every version, in its local store, and recorded
``aip_versions.location`` as the bag's directory, ``<store root>/aips/<aip id>/v<version>``
(absolute unless the store root was configured as a relative path). ``location`` now means the
version's key prefix in every location, so each becomes ``aips/<aip id>/v<version>``, and each
version gets a ``copies`` row for the location named ``local``:

- ``stored`` and ``verified``: the version's creation time (the previous release verified every bag
  before recording it);
- ``objects``: the version's files plus 5, because every bag that release wrote held exactly five
  tag and metadata objects besides its files: ``bagit.txt``, ``bag-info.txt``,
  ``manifest-sha256.txt``, ``tagmanifest-sha256.txt`` and ``data/metadata/premis.xml`` (a submitted
  bag's own tag files are files of the version already, under ``data/metadata/submission/``);
- ``bytes``: the version's bytes, i.e. the sizes of its files only: the sizes of the five tag and
  metadata objects were never recorded. A migrated copy therefore counts fewer bytes than the bag
  holds (by the size of those five objects), and keeps that figure: verifying a copy records when
  it was verified, not its size. Copies recorded by this release count every object they hold.

A location that does not end with its version's ``aips/<aip id>/v<version>`` cannot have been
written by the previous release: the upgrade then stops, naming the first few, and changes nothing.
Offline (``alembic upgrade --sql``) that check cannot run, and every location is rewritten.

Downgrade drops the two tables and leaves ``aip_versions.location`` as the relative prefix: the
absolute paths are not kept anywhere, and the previous release finds its bags from the store root
and the AIP id, not from this column.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from oais.domain.errors import CatalogError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)

#: The location the previous release's local store becomes.
_LOCAL = "local"
#: bagit.txt, bag-info.txt, manifest-sha256.txt, tagmanifest-sha256.txt, data/metadata/premis.xml.
_TAG_OBJECTS = 5
_COPY_COLUMNS = ("version_id", "location", "stored", "verified", "objects", "bytes")
#: How many unexpected locations the refusal names.
_SHOWN = 5

# The columns of aip_versions this revision reads and writes, as they were at revision 0001.
_versions = sa.table(
    "aip_versions",
    sa.column("id", sa.Integer()),
    sa.column("aip_id", sa.Text()),
    sa.column("version", sa.Integer()),
    sa.column("created", _TIME),
    sa.column("files", sa.BigInteger()),
    sa.column("bytes", sa.BigInteger()),
    sa.column("location", sa.Text()),
)


def upgrade() -> None:
    """Create ``copies`` and ``event_log_segments``; turn locations into prefixes with a local copy."""
    if not context.is_offline_mode():
        _refuse_unknown_locations(op.get_bind())
    op.create_table(
        "copies",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("stored", _TIME, nullable=False),
        sa.Column("verified", _TIME, nullable=True),
        sa.Column("objects", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("objects >= 0 AND bytes >= 0", name=op.f("ck_copies_counts_not_negative")),
        sa.ForeignKeyConstraint(["version_id"], ["aip_versions.id"], name=op.f("fk_copies_version_id")),
        sa.PrimaryKeyConstraint("version_id", "location", name=op.f("pk_copies")),
    )
    op.create_index(op.f("ix_copies_location"), "copies", ["location"])
    op.create_table(
        "event_log_segments",
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("created", _TIME, nullable=False),
        sa.CheckConstraint("sequence >= 1 AND events >= 0", name=op.f("ck_event_log_segments_counts_valid")),
        sa.PrimaryKeyConstraint("location", "sequence", name=op.f("pk_event_log_segments")),
    )
    # Every location passed the check: each becomes its prefix, and each version gets its local copy.
    prefix = (
        sa.literal("aips/") + _versions.c.aip_id + sa.literal("/v") + sa.cast(_versions.c.version, sa.Text())
    )
    op.execute(sa.update(_versions).values(location=prefix))
    op.execute(
        sa.insert(sa.table("copies", *(sa.column(n) for n in _COPY_COLUMNS))).from_select(
            _COPY_COLUMNS,
            sa.select(
                _versions.c.id,
                sa.literal(_LOCAL),
                _versions.c.created,
                _versions.c.created,
                _versions.c.files + _TAG_OBJECTS,
                _versions.c.bytes,
            ),
        )
    )


def _refuse_unknown_locations(connection: sa.Connection) -> None:
    unknown: list[str] = []
    count = 0
    query = sa.select(_versions.c.aip_id, _versions.c.version, _versions.c.location).order_by(_versions.c.id)
    for aip_id, number, location in connection.execute(query):
        prefix = f"aips/{aip_id}/v{number}"
        if location == prefix or location.endswith(f"/{prefix}"):
            continue
        count += 1
        if len(unknown) < _SHOWN:
            unknown.append(f"AIP {aip_id} version {number} at {location!r}")
    if unknown:
        raise CatalogError(
            f"cannot upgrade the catalog to revision {revision}: {count} AIP version(s) have a location "
            f"that the previous release's local store cannot have written (expected a path ending in "
            f"aips/<aip id>/v<version>): {'; '.join(unknown)}; nothing was changed"
        )


def downgrade() -> None:
    """Drop ``event_log_segments`` and ``copies``; locations stay relative prefixes (see above)."""
    op.drop_table("event_log_segments")
    op.drop_index(op.f("ix_copies_location"), table_name="copies")
    op.drop_table("copies")
