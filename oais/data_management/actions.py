"""Recording actions: the start and the end of every state-changing action, whatever its channel.

The command line, the HTTP API and the daemon each establish the actor their own way and then run
the action inside :meth:`ActionRecorder.recording`, which writes the start (with the policy texts in
force: a text never seen before is a policy change) and the end, with the outcome drawn from how the
action ended:

- it returned: ``ok``;
- it raised a refusal (``ValidationFailed``, ``NotFound``, ``ConflictError``, ``AccessDenied``):
  ``refused``, nothing was changed;
- it raised anything else: ``failed``, with the error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from oais.domain.actions import ActionOutcome, Actor, ArgumentValue, Channel
from oais.domain.errors import AccessDenied, ConflictError, NotFound, OaisError, ValidationFailed
from oais.domain.ports import ActionLog
from oais.domain.reports import PolicyInForce

#: Errors that mean the action was not allowed, or its input was wrong: nothing was changed.
REFUSALS: tuple[type[OaisError], ...] = (ValidationFailed, NotFound, ConflictError, AccessDenied)


@dataclass
class Act:
    """An action being recorded: who does it, and what the entry point learns on the way."""

    id: int
    actor: Actor
    target: str | None = None
    detail: str = ""
    #: Set by an entry point that ends an action itself (a command's own exit status).
    outcome: ActionOutcome | None = None
    notes: list[str] = field(default_factory=list)

    def note(self, detail: str, target: str | None = None) -> None:
        """Add to the recorded detail (what was done), and set the target once it is known."""
        self.notes.append(detail)
        if target is not None:
            self.target = target

    def end(self, outcome: ActionOutcome, detail: str) -> None:
        """End the action with ``outcome`` whatever happens next (a command's non-zero exit)."""
        self.outcome = outcome
        self.notes.append(detail)


def outcome_of(exc: BaseException) -> tuple[ActionOutcome, str]:
    """How an action that raised ``exc`` ended, and the detail to record."""
    if isinstance(exc, REFUSALS):
        return ActionOutcome.REFUSED, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OaisError):
        return ActionOutcome.FAILED, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return ActionOutcome.FAILED, "interrupted"
    return ActionOutcome.FAILED, f"internal error: {type(exc).__name__}: {exc}"


class ActionRecorder:
    """Records actions in an :class:`~oais.domain.ports.ActionLog`."""

    def __init__(self, log: ActionLog, policies: Callable[[], Sequence[PolicyInForce]]) -> None:
        """Args:
        log: the action log.
        policies: the policy texts in force (read when each action starts).
        """
        self.log = log
        self._policies = policies

    @contextmanager
    def recording(
        self,
        actor: Actor,
        channel: Channel,
        action: str,
        target: str | None = None,
        arguments: Mapping[str, ArgumentValue] | None = None,
    ) -> Iterator[Act]:
        """Record ``action`` around the block; the block's exception, if any, propagates unchanged.

        Raises:
            CatalogError: the action log could not be written (the block is then not run).
            ConfigError: a policy file cannot be read.
        """
        act = Act(
            id=self.log.start(actor, channel, action, target, arguments or {}), actor=actor, target=target
        )
        try:
            self.log.note_policies(self._policies(), actor, act.id)
            yield act
        except BaseException as exc:
            outcome, detail = (act.outcome, "") if act.outcome is not None else outcome_of(exc)
            self.log.finish(
                act.id, outcome, "; ".join([*act.notes, detail] if detail else act.notes), act.target
            )
            raise
        self.log.finish(act.id, act.outcome or ActionOutcome.OK, "; ".join(act.notes), act.target)
