"""The action log and the policy register in the catalog database (tables of migration 0007).

Each action is one INSERT when it starts and one UPDATE when it ends, each committed at once and
apart from the work the action does: an action that fails (or is killed) still leaves its trace.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from oais.adapters.catalog.admin_rows import ActionRow, PolicyLogRow
from oais.adapters.catalog.rows import table
from oais.domain.access_control import Role
from oais.domain.actions import (
    ActionOutcome,
    ActionRecord,
    Actor,
    ArgumentValue,
    Basis,
    Channel,
    PolicyChange,
    arguments_json,
)
from oais.domain.errors import CatalogError, NotFound
from oais.domain.ports import Clock
from oais.domain.reports import PolicyInForce

if TYPE_CHECKING:
    from oais.domain.ports import ActionLog

#: The longest detail kept (an error message with a long list of problems is cut, not refused).
_MAX_DETAIL = 8000


def _record(row: Any) -> ActionRecord:
    return ActionRecord(
        id=row.id,
        started=row.started,
        finished=row.finished,
        actor=Actor(
            name=row.actor, basis=Basis(row.authenticated_by), role=Role(row.role) if row.role else None
        ),
        channel=Channel(row.channel),
        action=row.action,
        target=row.target,
        arguments=json.loads(row.arguments),
        outcome=ActionOutcome(row.outcome) if row.outcome else None,
        detail=row.detail,
    )


def _changes(rows: Sequence[Any]) -> builtins.list[PolicyChange]:
    """Policy register rows (oldest first) as changes, each with the version before it."""
    latest: dict[str, Any] = {}
    changes: builtins.list[PolicyChange] = []
    for row in rows:
        before = latest.get(row.policy_id)
        changes.append(
            PolicyChange(
                policy_id=row.policy_id,
                version=row.version,
                sha256=row.sha256,
                title=row.title,
                first_seen=row.first_seen,
                first_seen_by=row.first_seen_by,
                action_id=row.action_id,
                previous_version=before.version if before is not None else None,
                same_version_new_text=before is not None and before.version == row.version,
            )
        )
        latest[row.policy_id] = row
    return changes


class SqlActionLog:
    """:class:`~oais.domain.ports.ActionLog` on the catalog database (its schema migrated to head)."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        """Args:
        engine: the catalog's engine.
        clock: the time actions start and end, and policy texts are first seen.
        """
        self.engine = engine
        self._clock = clock

    def start(
        self,
        actor: Actor,
        channel: Channel,
        action: str,
        target: str | None,
        arguments: Mapping[str, ArgumentValue],
    ) -> int:
        """Record the start of an action (see :meth:`oais.domain.ports.ActionLog.start`)."""
        values = {
            "started": self._clock.now(),
            "finished": None,
            "actor": actor.name,
            "authenticated_by": actor.basis.value,
            "role": actor.role.value if actor.role else None,
            "channel": channel.value,
            "action": action,
            "target": target,
            "arguments": arguments_json(arguments),
            "outcome": None,
            "detail": "",
        }
        try:
            with self.engine.begin() as connection:
                result = connection.execute(insert(table(ActionRow)).returning(ActionRow.id), values)
                return int(result.scalar_one())
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot write the action log: {exc}") from exc

    def finish(
        self,
        action_id: int,
        outcome: ActionOutcome,
        detail: str = "",
        target: str | None = None,
    ) -> None:
        """Record how an action ended (see :meth:`oais.domain.ports.ActionLog.finish`).

        Raises:
            NotFound: no action has this id.
            CatalogError: the database failed.
        """
        values: dict[str, Any] = {
            "finished": self._clock.now(),
            "outcome": outcome.value,
            "detail": detail[:_MAX_DETAIL],
        }
        if target is not None:
            values["target"] = target
        try:
            with self.engine.begin() as connection:
                done = connection.execute(
                    update(table(ActionRow)).where(ActionRow.id == action_id).values(**values)
                )
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot write the action log: {exc}") from exc
        if done.rowcount != 1:
            raise NotFound(f"no action {action_id} in the action log")

    def actions(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[ActionRecord]:
        """The actions started in ``[start, end)``, oldest first.

        Raises:
            CatalogError: the database failed.
        """
        query = select(table(ActionRow)).order_by(ActionRow.started, ActionRow.id)
        if start is not None:
            query = query.where(ActionRow.started >= start)
        if end is not None:
            query = query.where(ActionRow.started < end)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the action log: {exc}") from exc
        return [_record(r) for r in rows]

    def note_policies(
        self, policies: Sequence[PolicyInForce], actor: Actor, action_id: int | None
    ) -> builtins.list[PolicyChange]:
        """Register the policy texts an action acts under; return those never seen before.

        Raises:
            CatalogError: the database failed.
        """
        when = self._clock.now()
        columns = (PolicyLogRow.policy_id, PolicyLogRow.version, PolicyLogRow.sha256)
        try:
            with self.engine.connect() as connection:
                known = {tuple(r) for r in connection.execute(select(*columns)).all()}
            new = [p for p in policies if (p.id, p.version, p.sha256) not in known]
            if not new:
                return []
            with self.engine.begin() as connection:
                for p in new:
                    try:
                        with connection.begin_nested():
                            connection.execute(
                                insert(table(PolicyLogRow)),
                                {
                                    "policy_id": p.id,
                                    "version": p.version,
                                    "sha256": p.sha256,
                                    "title": p.title,
                                    "first_seen": when,
                                    "first_seen_by": actor.name,
                                    "action_id": action_id,
                                },
                            )
                    except IntegrityError:
                        continue  # registered at the same moment by another action: not ours
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot write the policy register: {exc}") from exc
        ours = {(p.id, p.version, p.sha256) for p in new}
        return [
            c
            for c in self.policy_changes()
            if (c.policy_id, c.version, c.sha256) in ours
            and c.action_id == action_id
            and c.first_seen == when
        ]

    def policy_changes(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[PolicyChange]:
        """Every policy text first seen in ``[start, end)``, oldest first, with the version before it.

        Raises:
            CatalogError: the database failed.
        """
        # The register is small (a row per policy text ever used): read it whole, so that the
        # version before the first change of the period is known.
        query = select(table(PolicyLogRow)).order_by(PolicyLogRow.first_seen, PolicyLogRow.id)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise CatalogError(f"cannot read the policy register: {exc}") from exc
        return [
            c
            for c in _changes(rows)
            if (start is None or c.first_seen >= start) and (end is None or c.first_seen < end)
        ]

    def dispose(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()


if TYPE_CHECKING:
    # mypy proves here that the class satisfies the port it implements.
    def _is_action_log(log: SqlActionLog) -> ActionLog:
        return log
