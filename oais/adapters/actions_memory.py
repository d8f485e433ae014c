"""An action log in memory: the fake of :class:`~oais.domain.ports.ActionLog` for unit tests.

It passes the same contract tests as the SQL action log (tests/integration/test_action_log.py).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from oais.domain.actions import (
    ActionOutcome,
    ActionRecord,
    Actor,
    ArgumentValue,
    Channel,
    PolicyChange,
    arguments_json,
)
from oais.domain.errors import NotFound
from oais.domain.ports import Clock
from oais.domain.reports import PolicyInForce

if TYPE_CHECKING:
    from oais.domain.ports import ActionLog

_MAX_DETAIL = 8000


class InMemoryActionLog:
    """:class:`~oais.domain.ports.ActionLog` in a list."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._actions: dict[int, ActionRecord] = {}
        self._register: list[PolicyChange] = []

    def start(
        self,
        actor: Actor,
        channel: Channel,
        action: str,
        target: str | None,
        arguments: Mapping[str, ArgumentValue],
    ) -> int:
        """Record the start of an action."""
        action_id = len(self._actions) + 1
        self._actions[action_id] = ActionRecord(
            id=action_id,
            started=self._clock.now(),
            actor=actor,
            channel=channel,
            action=action,
            target=target,
            # Through JSON, as the database keeps them: a tuple comes back as a list.
            arguments=json.loads(arguments_json(arguments)),
        )
        return action_id

    def finish(
        self, action_id: int, outcome: ActionOutcome, detail: str = "", target: str | None = None
    ) -> None:
        """Record how an action ended.

        Raises:
            NotFound: no action has this id.
        """
        record = self._actions.get(action_id)
        if record is None:
            raise NotFound(f"no action {action_id} in the action log")
        self._actions[action_id] = record.model_copy(
            update={
                "finished": self._clock.now(),
                "outcome": outcome,
                "detail": detail[:_MAX_DETAIL],
                "target": target if target is not None else record.target,
            }
        )

    def actions(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[ActionRecord]:
        """The actions started in ``[start, end)``, oldest first."""
        return sorted(
            (
                a
                for a in self._actions.values()
                if (start is None or a.started >= start) and (end is None or a.started < end)
            ),
            key=lambda a: (a.started, a.id),
        )

    def note_policies(
        self, policies: Sequence[PolicyInForce], actor: Actor, action_id: int | None
    ) -> builtins.list[PolicyChange]:
        """Register the policy texts an action acts under; return those never seen before."""
        when = self._clock.now()
        new: builtins.list[PolicyChange] = []
        for p in policies:
            if any((c.policy_id, c.version, c.sha256) == (p.id, p.version, p.sha256) for c in self._register):
                continue
            before = next((c for c in reversed(self._register) if c.policy_id == p.id), None)
            change = PolicyChange(
                policy_id=p.id,
                version=p.version,
                sha256=p.sha256,
                title=p.title,
                first_seen=when,
                first_seen_by=actor.name,
                action_id=action_id,
                previous_version=before.version if before else None,
                same_version_new_text=before is not None and before.version == p.version,
            )
            self._register.append(change)
            new.append(change)
        return new

    def policy_changes(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[PolicyChange]:
        """Every policy text first seen in ``[start, end)``, oldest first."""
        return [
            c
            for c in sorted(self._register, key=lambda c: c.first_seen)
            if (start is None or c.first_seen >= start) and (end is None or c.first_seen < end)
        ]


if TYPE_CHECKING:

    def _is_action_log(log: InMemoryActionLog) -> ActionLog:
        return log
