"""The catalog repository on SQLAlchemy: explicit mapping between domain models and rows.

Writes use Core ``insert()`` statements executed with many parameter sets in batches: an AIP version
of 100,000 files is a few hundred round trips, never 100,000 ORM objects in an identity map. Reads
select columns, not entities, for the same reason (and so that nothing read is a stale cached object).

Text sort keys (AIP ids, location names) are compared by code point on every database, as the
in-memory catalog does: PostgreSQL would otherwise use the database's collation, under which, for
instance, ``en_US`` ignores '-' and '_' at first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Insert, SQLColumnExpression, Table, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from oais.adapters.catalog.records import (
    COLUMN_ALGORITHMS,
    NO_SUCH_VERSION,
    REFUSALS,
    check_copy,
    check_events,
    check_record,
    check_rejection,
    check_segment,
    issues_from_json,
    issues_to_json,
    metadata_from_json,
    metadata_to_json,
)
from oais.adapters.catalog.rows import (
    AgentRow,
    AipRow,
    AipVersionAgentRow,
    AipVersionRow,
    CopyRow,
    EventAgentRow,
    EventObjectRow,
    EventRow,
    FileDigestRow,
    FileRow,
    RejectionRow,
    SegmentRow,
    table,
)
from oais.domain.descriptive import AccessStatus
from oais.domain.errors import CatalogError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.packages import Aip, AipRecord, AipVersion, FileEntry, FormatFacts, Rejection
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome
from oais.domain.storage import Copy, Segment

#: Rows per INSERT executemany call: large enough to amortise round trips, small enough that the
#: parameter list of one batch stays a few megabytes.
BATCH_SIZE = 5_000

_T = TypeVar("_T")

# SQLite names the columns, not the constraint (REFUSALS says what each constraint protects).
_SQLITE_COLUMNS = {
    "aip_versions.aip_id, aip_versions.version": "uq_aip_versions_aip_id_version",
    "aips.id": "pk_aips",
    "events.identifier": "pk_events",
    "files.version_id, files.path": "uq_files_version_id_path",
    "rejections.identifier": "pk_rejections",
    "agents.identifier": "pk_agents",
    "event_log_segments.location, event_log_segments.sequence": "pk_event_log_segments",
}
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


def describe_integrity_error(exc: IntegrityError) -> str:
    """Say which rule of the catalog a refused write broke.

    Args:
        exc: the error SQLAlchemy raised.

    Returns:
        A short explanation naming the constraint (or the database's own message if unknown).
    """
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is None:
        match = _SQLITE_UNIQUE.search(str(orig))
        name = _SQLITE_COLUMNS.get(match.group(1)) if match else None
    if name in REFUSALS:
        return f"{REFUSALS[name]} ({name})"
    return f"the database refused it: {str(orig).strip().splitlines()[0]}"


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class SqlAipRepository:
    """:class:`~oais.domain.ports.AipRepository` on a SQLAlchemy session.

    The repository never commits: its unit of work does. A write that fails rolls the session back,
    so that a half-added version can never be committed by mistake afterwards.
    """

    def __init__(self, session: Session, batch_size: int = BATCH_SIZE) -> None:
        """Work in ``session``.

        Args:
            session: the unit of work's session.
            batch_size: rows per executemany batch.
        """
        self._session = session
        self._batch_size = batch_size

    # --- writing -----------------------------------------------------------------------------

    def add(self, record: AipRecord) -> None:
        """Add an AIP version (and the AIP itself if new) with its files, events and agents.

        The AIP's title, producer and descriptive metadata follow its newest version; its creation
        time is the first one recorded. Agents are shared: one already in the catalog is kept as it is.

        Args:
            record: the version to add.

        Raises:
            CatalogError: if the record is inconsistent, the version is already in the catalog, an
                event identifier is taken, or the database fails. The unit of work is rolled back.
        """
        name = f"AIP {record.aip.aip_id} version {record.version.version}"
        with self._refused_voids_all(f"add {name}"):
            check_record(record)
            self._add(record, name)

    @contextmanager
    def _refused_voids_all(self, what: str) -> Iterator[None]:
        """Roll the unit of work back if the write inside fails, and say why as a CatalogError.

        PostgreSQL refuses every further statement of a transaction in which one failed; rolling
        back on every database keeps the behaviour the same on all of them (and in the fake).
        """
        try:
            yield
        except CatalogError:
            self._session.rollback()
            raise
        except IntegrityError as exc:
            self._session.rollback()
            raise CatalogError(f"cannot {what}: {describe_integrity_error(exc)}") from exc
        except SQLAlchemyError as exc:
            self._session.rollback()
            raise CatalogError(f"cannot {what}: {exc}") from exc

    def _add(self, record: AipRecord, name: str) -> None:
        aip, version = record.aip, record.version
        session = self._session
        newest = session.scalar(
            select(func.max(AipVersionRow.version)).where(AipVersionRow.aip_id == aip.aip_id)
        )
        exists = session.scalar(
            select(AipVersionRow.id).where(
                AipVersionRow.aip_id == aip.aip_id, AipVersionRow.version == version.version
            )
        )
        if exists is not None:
            raise CatalogError(f"cannot add {name}: {REFUSALS['uq_aip_versions_aip_id_version']}")
        known_aip = session.scalar(select(AipRow.id).where(AipRow.id == aip.aip_id))
        if known_aip is None:
            session.execute(insert(table(AipRow)), _aip_row(aip))
        elif newest is None or version.version > newest:
            # Everything but the id and the first creation time follows the newest version.
            latest = {k: v for k, v in _aip_row(aip).items() if k not in ("id", "created")}
            session.execute(update(table(AipRow)).where(table(AipRow).c.id == aip.aip_id).values(**latest))
        self._add_agents(record.agents)
        version_id = session.scalar(
            insert(table(AipVersionRow)).returning(table(AipVersionRow).c.id),
            {
                "aip_id": aip.aip_id,
                "version": version.version,
                "created": version.created,
                "files": version.files,
                "bytes": version.bytes,
                "payload_fingerprint": version.payload_fingerprint,
                "location": version.location,
            },
        )
        assert isinstance(version_id, int)
        self._execute_many(
            insert(table(AipVersionAgentRow)),
            (
                {"version_id": version_id, "agent_id": agent.identifier, "position": position}
                for position, agent in enumerate(record.agents)
            ),
        )
        self._add_files(version_id, record.files)
        self._add_events(aip.aip_id, version.version, record.events)
        self._add_copies(version_id, record.copies)

    def _execute_many(self, statement: Insert, rows: Iterable[Mapping[str, Any]]) -> None:
        for batch in _batches(rows, self._batch_size):
            self._session.execute(statement, batch)

    def _add_agents(self, agents: Sequence[Agent]) -> None:
        if not agents:
            return
        rows = [
            {
                "identifier": a.identifier,
                "name": a.name,
                "type": a.type.value,
                "version": a.version,
                "note": a.note,
            }
            for a in agents
        ]
        # ON CONFLICT DO NOTHING lets two transactions add the same shared agent without either
        # failing.
        statement = self._upsert(table(AgentRow)).on_conflict_do_nothing(index_elements=["identifier"])
        self._session.execute(statement, rows)

    def _upsert(self, into: Table) -> postgresql.Insert | sqlite.Insert:
        """An INSERT into ``into`` that can say what to do ON CONFLICT (the catalog's two databases
        both can; :func:`~oais.adapters.catalog.engine.make_engine` accepts no other)."""
        if self._session.get_bind().dialect.name == "postgresql":
            return postgresql.insert(into)
        return sqlite.insert(into)

    def _add_files(self, version_id: int, files: Sequence[FileEntry]) -> None:
        # Plain executemany, no RETURNING: with RETURNING, SQLAlchemy switches to multi-row VALUES
        # statements that measured several times slower on PostgreSQL (psycopg pipelines executemany).
        self._execute_many(insert(table(FileRow)), (_file_row(version_id, f) for f in files))
        extra = [f for f in files if any(a not in COLUMN_ALGORITHMS for a in f.digests)]
        if not extra:
            return
        # Only files with digests beyond the two columns (a submitted bag's md5 or sha512 manifest,
        # another record algorithm) need their new ids.
        ids = {
            path: file_id
            for path, file_id in self._session.execute(
                select(FileRow.path, FileRow.id).where(FileRow.version_id == version_id)
            )
        }
        self._execute_many(
            insert(table(FileDigestRow)),
            (
                {"file_id": ids[f.path], "algorithm": algorithm.value, "value": value}
                for f in extra
                for algorithm, value in f.digests.items()
                if algorithm not in COLUMN_ALGORITHMS
            ),
        )

    def _add_events(
        self, aip_id: str | None, version: int | None, events: Sequence[Event], first: int = 0
    ) -> None:
        if not events:
            return
        self._execute_many(
            insert(table(EventRow)),
            (
                {
                    "identifier": e.identifier,
                    "type": e.type.value,
                    "date_time": e.date_time,
                    "detail": e.detail,
                    "outcome": e.outcome.value,
                    "outcome_detail": e.outcome_detail,
                    "policy": e.policy,
                    "aip_id": aip_id,
                    "version": version,
                    "position": position,
                }
                for position, e in enumerate(events, start=first)
            ),
        )
        self._execute_many(
            insert(table(EventAgentRow)),
            (
                {"event_id": e.identifier, "position": i, "agent_id": link.agent, "role": link.role.value}
                for e in events
                for i, link in enumerate(e.agents)
            ),
        )
        self._execute_many(
            insert(table(EventObjectRow)),
            (
                {"event_id": e.identifier, "position": i, "object_id": o}
                for e in events
                for i, o in enumerate(e.objects)
            ),
        )

    def add_rejection(self, rejection: Rejection) -> None:
        """Record a refused SIP with its issues.

        Args:
            rejection: what was refused, when and why.

        Raises:
            CatalogError: if its time has no time zone, its identifier is taken, or the database
                fails. The unit of work is rolled back.
        """
        with self._refused_voids_all(f"record rejection {rejection.identifier}"):
            check_rejection(rejection)
            self._session.execute(
                insert(table(RejectionRow)),
                {
                    "identifier": rejection.identifier,
                    "sip_path": rejection.sip_path,
                    "producer": rejection.producer,
                    "title": rejection.title,
                    "date_time": rejection.date_time,
                    "issues": issues_to_json(rejection.issues),
                },
            )

    def add_events(self, aip_id: str, version: int, events: Sequence[Event], agents: Sequence[Agent]) -> None:
        """Record events that happened to a stored version after its ingest, with their agents.

        The events follow the version's earlier events (ingest first); agents already in the
        catalog are kept as they are.

        Args:
            aip_id: the AIP.
            version: the version the events are about.
            events: the events, in the order they are to be read back.
            agents: every agent the events name.

        Raises:
            CatalogError: if there is no such version, an event is inconsistent (a time without a
                time zone, an agent not among ``agents``) or its identifier is taken, or the
                database fails. The unit of work is rolled back.
        """
        what = f"record events of AIP {aip_id} version {version}"
        with self._refused_voids_all(what):
            check_events(aip_id, version, events, agents)
            # One query: whether the version exists, and the last position of its events.
            last = (
                select(func.max(EventRow.position))
                .where(EventRow.aip_id == aip_id, EventRow.version == version)
                .scalar_subquery()
            )
            found = self._session.execute(
                select(last).where(AipVersionRow.aip_id == aip_id, AipVersionRow.version == version)
            ).first()
            if found is None:
                raise CatalogError(f"cannot {what}: {NO_SUCH_VERSION}")
            self._add_agents(agents)
            self._add_events(aip_id, version, events, first=0 if found[0] is None else found[0] + 1)

    def put_copy(self, aip_id: str, version: int, copy: Copy) -> None:
        """Record a copy of a version at a location, replacing what was known about that location.

        Args:
            aip_id: the AIP.
            version: the version the copy is of.
            copy: the copy (one per location: a copy already recorded there is replaced).

        Raises:
            CatalogError: if there is no such version, a time of the copy has no time zone, or the
                database fails. The unit of work is rolled back.
        """
        what = f"record the copy of AIP {aip_id} version {version} at {copy.location}"
        with self._refused_voids_all(what):
            check_copy(aip_id, version, copy)
            copies = table(CopyRow)
            values = _copy_values(copy)
            # One statement: INSERT ... SELECT from the version (no row if there is no such version),
            # updating the copy already recorded at that location, if any (a concurrent transaction
            # recording the same copy waits for this one and then replaces it, rather than failing).
            source = select(
                AipVersionRow.id, *(literal(value, copies.c[name].type) for name, value in values.items())
            ).where(AipVersionRow.aip_id == aip_id, AipVersionRow.version == version)
            statement = self._upsert(copies).from_select(["version_id", *values], source)
            statement = statement.on_conflict_do_update(
                index_elements=["version_id", "location"],
                set_={name: statement.excluded[name] for name in values if name != "location"},
            )
            if self._session.execute(statement.returning(copies.c.version_id)).first() is None:
                raise CatalogError(f"cannot {what}: {NO_SUCH_VERSION}")

    def add_segment(self, segment: Segment) -> None:
        """Remember an event log segment written to a location.

        Args:
            segment: the segment.

        Raises:
            CatalogError: if that location already has a segment with this sequence number, the
                segment's time has no time zone, or the database fails. The unit of work is rolled
                back.
        """
        with self._refused_voids_all(f"record event log segment {segment.sequence} of {segment.location}"):
            check_segment(segment)
            self._session.execute(
                insert(table(SegmentRow)),
                {
                    "location": segment.location,
                    "sequence": segment.sequence,
                    "key": segment.key,
                    "sha256": segment.sha256,
                    "previous": segment.previous,
                    "events": segment.events,
                    "created": segment.created,
                },
            )

    def _add_copies(self, version_id: int, copies: Sequence[Copy]) -> None:
        self._execute_many(
            insert(table(CopyRow)), ({"version_id": version_id, **_copy_values(c)} for c in copies)
        )

    def _text_key(self, column: SQLColumnExpression[str]) -> SQLColumnExpression[str]:
        """``column`` as a sort key in code point order (see the module's docstring)."""
        if self._session.get_bind().dialect.name == "postgresql":
            return column.collate("C")
        return column

    # --- reading -----------------------------------------------------------------------------

    def get(self, aip_id: str, version: int | None = None) -> AipRecord | None:
        """The record of one version of an AIP.

        Args:
            aip_id: the AIP.
            version: the version number; None for the latest.

        Returns:
            The record with files, events and agents in the order they were added (times in UTC),
            or None if there is no such AIP or version. The events are all the version's events:
            those of its ingest, then those recorded later (:meth:`add_events`) in the order they
            were recorded; the agents are those of its ingest, then any other agent a later event
            names, in the order they are first named. The copies are ordered by location.

        Raises:
            CatalogError: if the database fails.
        """
        try:
            return self._get(aip_id, version)
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read AIP {aip_id}: {exc}") from exc

    def _get(self, aip_id: str, version: int | None) -> AipRecord | None:
        session = self._session
        query = select(*_VERSION_COLUMNS).where(AipVersionRow.aip_id == aip_id)
        if version is None:
            query = query.order_by(AipVersionRow.version.desc()).limit(1)
        else:
            query = query.where(AipVersionRow.version == version)
        row = session.execute(query).first()
        if row is None:
            return None
        version_id = row.id
        aip_version = _version(row)
        aip_row = session.execute(select(*_AIP_COLUMNS).where(AipRow.id == aip_id)).one()
        aip = _aip(*aip_row)
        agents = [
            _agent(r)
            for r in session.execute(
                select(*_AGENT_COLUMNS)
                .join(AipVersionAgentRow, AipVersionAgentRow.agent_id == AgentRow.identifier)
                .where(AipVersionAgentRow.version_id == version_id)
                .order_by(AipVersionAgentRow.position)
            )
        ]
        events = self._events(aip_id, aip_version.version)
        listed = {a.identifier for a in agents}
        # Events recorded after ingest may name agents the ingest record does not list.
        later = list(
            dict.fromkeys(link.agent for e in events for link in e.agents if link.agent not in listed)
        )
        if later:
            found = {
                r.identifier: _agent(r)
                for r in session.execute(select(*_AGENT_COLUMNS).where(AgentRow.identifier.in_(later)))
            }
            agents += [found[identifier] for identifier in later]
        return AipRecord(
            aip=aip,
            version=aip_version,
            files=self._files(version_id),
            events=events,
            agents=agents,
            copies=self._copies_of(version_id),
        )

    def _copies_of(self, version_id: int) -> list[Copy]:
        query = (
            select(*_COPY_COLUMNS)
            .where(CopyRow.version_id == version_id)
            .order_by(self._text_key(CopyRow.location))
        )
        return [_copy(r) for r in self._session.execute(query)]

    def _files(self, version_id: int) -> list[FileEntry]:
        extra: dict[int, dict[DigestAlgorithm, str]] = {}
        for file_id, algorithm, value in self._session.execute(
            select(FileDigestRow.file_id, FileDigestRow.algorithm, FileDigestRow.value)
            .join(FileRow, FileRow.id == FileDigestRow.file_id)
            .where(FileRow.version_id == version_id)
        ):
            extra.setdefault(file_id, {})[DigestAlgorithm(algorithm)] = value
        # Most files of a version share a handful of formats: build each FormatFacts once.
        formats: dict[tuple[Any, ...], FormatFacts] = {}
        files: list[FileEntry] = []
        query = (
            select(
                FileRow.id,
                FileRow.path,
                FileRow.size,
                FileRow.sha256,
                FileRow.xxh3_128,
                FileRow.format_puid,
                FileRow.format_name,
                FileRow.format_version,
                FileRow.format_mime,
                FileRow.format_basis,
                FileRow.format_tool,
                FileRow.format_issues,
                FileRow.stored_path,
                FileRow.stored_version,
                FileRow.derived_from,
            )
            .where(FileRow.version_id == version_id)
            .order_by(FileRow.id)
        )
        for (
            file_id,
            path,
            size,
            sha256,
            xxh3,
            *format_key,
            stored_path,
            stored_version,
            derived_from,
        ) in self._session.execute(query):
            key = tuple(format_key)
            facts = formats.get(key)
            if facts is None:
                puid, name, fmt_version, mime, basis, tool, issues = format_key
                facts = FormatFacts(
                    puid=puid,
                    name=name,
                    version=fmt_version,
                    mime_type=mime,
                    basis=basis,
                    tool=tool,
                    issues=issues_from_json(issues),
                )
                formats[key] = facts
            digests: dict[DigestAlgorithm, str] = {}
            if sha256 is not None:
                digests[DigestAlgorithm.SHA256] = sha256
            if xxh3 is not None:
                digests[DigestAlgorithm.XXH3_128] = xxh3
            digests.update(extra.get(file_id, {}))
            files.append(
                FileEntry(
                    path=path,
                    size=size,
                    digests=digests,
                    format=facts,
                    stored_path=stored_path,
                    stored_version=stored_version,
                    derived_from=derived_from,
                )
            )
        return files

    def _events(self, aip_id: str, version: int) -> list[Event]:
        session = self._session
        of_version = (EventRow.aip_id == aip_id, EventRow.version == version)
        links: dict[str, list[AgentLink]] = {}
        for event_id, agent_id, role in session.execute(
            select(EventAgentRow.event_id, EventAgentRow.agent_id, EventAgentRow.role)
            .join(EventRow, EventRow.identifier == EventAgentRow.event_id)
            .where(*of_version)
            .order_by(EventAgentRow.event_id, EventAgentRow.position)
        ):
            links.setdefault(event_id, []).append(AgentLink(agent=agent_id, role=AgentRole(role)))
        objects: dict[str, list[str]] = {}
        for event_id, object_id in session.execute(
            select(EventObjectRow.event_id, EventObjectRow.object_id)
            .join(EventRow, EventRow.identifier == EventObjectRow.event_id)
            .where(*of_version)
            .order_by(EventObjectRow.event_id, EventObjectRow.position)
        ):
            objects.setdefault(event_id, []).append(object_id)
        return [
            Event(
                identifier=r.identifier,
                type=EventType(r.type),
                date_time=r.date_time,
                detail=r.detail,
                outcome=Outcome(r.outcome),
                outcome_detail=r.outcome_detail,
                agents=tuple(links.get(r.identifier, ())),
                objects=tuple(objects.get(r.identifier, ())),
                policy=r.policy,
            )
            for r in session.execute(
                select(
                    EventRow.identifier,
                    EventRow.type,
                    EventRow.date_time,
                    EventRow.detail,
                    EventRow.outcome,
                    EventRow.outcome_detail,
                    EventRow.policy,
                )
                .where(*of_version)
                # Two transactions adding events to one version at once may both take the next
                # position; the identifier then keeps the order the same on every read.
                .order_by(EventRow.position, EventRow.identifier)
            )
        ]

    def find_by_fingerprint(self, fingerprint: str) -> AipVersion | None:
        """The version whose payload fingerprint is ``fingerprint``.

        Args:
            fingerprint: a payload fingerprint (see :class:`~oais.domain.packages.AipVersion`).

        Returns:
            The oldest such version (earliest creation, then AIP id, then version number), or None.

        Raises:
            CatalogError: if the database fails.
        """
        query = (
            select(*_VERSION_COLUMNS)
            .where(AipVersionRow.payload_fingerprint == fingerprint)
            .order_by(AipVersionRow.created, self._text_key(AipVersionRow.aip_id), AipVersionRow.version)
            .limit(1)
        )
        try:
            row = self._session.execute(query).first()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot search the catalog by payload fingerprint: {exc}") from exc
        return None if row is None else _version(row)

    def rejections(self) -> list[Rejection]:
        """Every refused SIP.

        Returns:
            The rejections, oldest first (ties in time by identifier).

        Raises:
            CatalogError: if the database fails.
        """
        query = select(
            RejectionRow.identifier,
            RejectionRow.sip_path,
            RejectionRow.producer,
            RejectionRow.title,
            RejectionRow.date_time,
            RejectionRow.issues,
        ).order_by(RejectionRow.date_time, self._text_key(RejectionRow.identifier))
        try:
            rows = self._session.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot list rejections: {exc}") from exc
        return [
            Rejection(
                identifier=identifier,
                sip_path=sip_path,
                producer=producer,
                title=title,
                date_time=date_time,
                issues=issues_from_json(issues),
            )
            for identifier, sip_path, producer, title, date_time, issues in rows
        ]

    def versions(self) -> Iterator[AipVersion]:
        """Every AIP version, read in one query.

        Every row is fetched before the first version is given, so that no cursor stays open: the
        caller may write and commit while iterating.

        Returns:
            The versions, by AIP (oldest first, ties in creation time by AIP id), then by version.

        Raises:
            CatalogError: if the database fails.
        """
        query = (
            select(*_VERSION_COLUMNS)
            .join(AipRow, AipRow.id == AipVersionRow.aip_id)
            .order_by(AipRow.created, self._text_key(AipRow.id), AipVersionRow.version)
        )
        try:
            rows = self._session.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot list the AIP versions: {exc}") from exc
        return iter([_version(row) for row in rows])

    def copies(self, location: str | None = None) -> list[tuple[str, int, Copy]]:
        """The copies of every version, or of every version at one location.

        Args:
            location: a location name; None for every location.

        Returns:
            (AIP id, version, copy) triples, by AIP (oldest first, ties in creation time by AIP id),
            then by version, then by location.

        Raises:
            CatalogError: if the database fails.
        """
        query = (
            select(AipVersionRow.aip_id, AipVersionRow.version, *_COPY_COLUMNS)
            .join(AipVersionRow, AipVersionRow.id == CopyRow.version_id)
            .join(AipRow, AipRow.id == AipVersionRow.aip_id)
            .order_by(
                AipRow.created,
                self._text_key(AipRow.id),
                AipVersionRow.version,
                self._text_key(CopyRow.location),
            )
        )
        if location is not None:
            query = query.where(CopyRow.location == location)
        try:
            rows = self._session.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot list the copies: {exc}") from exc
        return [(row.aip_id, row.version, _copy(row)) for row in rows]

    def segments(self, location: str) -> list[Segment]:
        """The event log segments written to a location.

        Args:
            location: the location name.

        Returns:
            Its segments by sequence number (none if it has no event log yet).

        Raises:
            CatalogError: if the database fails.
        """
        query = (
            select(
                SegmentRow.location,
                SegmentRow.sequence,
                SegmentRow.key,
                SegmentRow.sha256,
                SegmentRow.previous,
                SegmentRow.events,
                SegmentRow.created,
            )
            .where(SegmentRow.location == location)
            .order_by(SegmentRow.sequence)
        )
        try:
            rows = self._session.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot list the event log segments of {location}: {exc}") from exc
        return [
            Segment(
                location=row.location,
                sequence=row.sequence,
                key=row.key,
                sha256=row.sha256,
                previous=row.previous,
                events=row.events,
                created=row.created,
            )
            for row in rows
        ]

    def is_empty(self) -> bool:
        """Whether the catalog holds nothing that a rebuild would have to replace.

        Returns:
            True if it holds no AIP, rejection, event or event log segment.

        Raises:
            CatalogError: if the database fails.
        """
        try:
            return all(
                self._session.scalar(select(column).limit(1)) is None
                for column in (AipRow.id, RejectionRow.identifier, EventRow.identifier, SegmentRow.location)
            )
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the catalog: {exc}") from exc

    # Last in the class: below this point, ``list`` would name the method in annotations.
    def list(self) -> list[tuple[Aip, int]]:
        """Every AIP with its latest version number.

        Returns:
            (AIP, latest version) pairs, oldest AIP first (ties in creation time by AIP id).

        Raises:
            CatalogError: if the database fails.
        """
        latest = func.max(AipVersionRow.version)
        query = (
            select(*_AIP_COLUMNS, latest)
            .join(AipVersionRow, AipVersionRow.aip_id == AipRow.id)
            .group_by(*_AIP_COLUMNS)
            .order_by(AipRow.created, self._text_key(AipRow.id))
        )
        try:
            rows = self._session.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot list the catalog: {exc}") from exc
        return [
            (_aip(aip_id, title, producer, created, metadata), newest)
            for aip_id, title, producer, created, metadata, newest in rows
        ]


_VERSION_COLUMNS = (
    AipVersionRow.id,
    AipVersionRow.aip_id,
    AipVersionRow.version,
    AipVersionRow.created,
    AipVersionRow.files,
    AipVersionRow.bytes,
    AipVersionRow.payload_fingerprint,
    AipVersionRow.location,
)


_AGENT_COLUMNS = (AgentRow.identifier, AgentRow.name, AgentRow.type, AgentRow.version, AgentRow.note)

_COPY_COLUMNS = (
    CopyRow.location,
    CopyRow.stored,
    CopyRow.verified,
    CopyRow.objects,
    CopyRow.bytes,
)


def _version(row: Any) -> AipVersion:
    return AipVersion(
        aip_id=row.aip_id,
        version=row.version,
        created=row.created,
        files=row.files,
        bytes=row.bytes,
        payload_fingerprint=row.payload_fingerprint,
        location=row.location,
    )


def _copy_values(copy: Copy) -> dict[str, Any]:
    """The columns of a copy's row, but for its version's id."""
    return {
        "location": copy.location,
        "stored": copy.stored,
        "verified": copy.verified,
        "objects": copy.objects,
        "bytes": copy.bytes,
    }


def _copy(row: Any) -> Copy:
    return Copy(
        location=row.location, stored=row.stored, verified=row.verified, objects=row.objects, bytes=row.bytes
    )


def _agent(row: Any) -> Agent:
    return Agent(
        identifier=row.identifier, name=row.name, type=AgentType(row.type), version=row.version, note=row.note
    )


#: The columns an :class:`Aip` is read from (the others are copied out of ``metadata``).
_AIP_COLUMNS = (AipRow.id, AipRow.title, AipRow.producer, AipRow.created, AipRow.metadata_json)


def _aip(aip_id: str, title: str, producer: str, created: datetime, metadata: str | None) -> Aip:
    return Aip(
        aip_id=aip_id,
        title=title,
        producer=producer,
        created=created,
        metadata=metadata_from_json(metadata, aip_id),
    )


def _aip_row(aip: Aip) -> dict[str, Any]:
    """The ``aips`` row of an AIP: access status, embargo end and licence copied out of its metadata
    (an AIP without metadata is open)."""
    metadata = aip.metadata
    access = metadata.access if metadata is not None else None
    return {
        "id": aip.aip_id,
        "title": aip.title,
        "producer": aip.producer,
        "created": aip.created,
        "metadata": metadata_to_json(metadata),
        "access_status": access.status.value if access is not None else AccessStatus.OPEN.value,
        "embargo_until": access.embargo_until if access is not None else None,
        "licence": metadata.licence.identifier if metadata is not None and metadata.licence else None,
    }


def _file_row(version_id: int, entry: FileEntry) -> dict[str, Any]:
    facts = entry.format
    return {
        "version_id": version_id,
        "path": entry.path,
        "size": entry.size,
        "sha256": entry.digests.get(DigestAlgorithm.SHA256),
        "xxh3_128": entry.digests.get(DigestAlgorithm.XXH3_128),
        "format_puid": facts.puid,
        "format_name": facts.name,
        "format_version": facts.version,
        "format_mime": facts.mime_type,
        "format_basis": facts.basis,
        "format_tool": facts.tool,
        "format_issues": issues_to_json(facts.issues),
        "stored_path": entry.stored_path,
        "stored_version": entry.stored_version,
        "derived_from": entry.derived_from,
    }
