"""The audit report (``oais report audit --from DAY --to DAY``): the auditor's view of a period.

Every fixity failure, repair, deletion and policy change of the period, each with who and when,
the figures of the period and what was still unresolved at its end. The period runs from the first
day's midnight (UTC) to the midnight after the last day: both days are included.

Everything comes from the catalog (through :class:`~oais.domain.ports.AuditEvidence`: SQL aggregates
and lists cut at a limit) and the policy register of the action log
(:meth:`~oais.domain.ports.ActionLog.policy_changes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from oais.domain.actions import PolicyChange
from oais.domain.audit_trail import Acting, AuditTrail, Failure
from oais.domain.ports import ActionLog, AuditEvidence, Clock
from oais.domain.reports import (
    Figure,
    Finding,
    Level,
    Period,
    Plot,
    PolicyInForce,
    Report,
    Scalar,
    Section,
    Series,
    Table,
)

#: The most items listed in each table (the figures count them all).
DEFAULT_LIMIT = 1000


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the days ``first`` to ``last``, both included (UTC).

    Raises:
        ValueError: ``last`` is before ``first``.
    """
    if last < first:
        raise ValueError(f"the period ends ({last.isoformat()}) before it starts ({first.isoformat()})")
    return datetime.combine(first, time(), UTC), datetime.combine(last + timedelta(days=1), time(), UTC)


class AuditReportService:
    """Makes the audit report of a period."""

    def __init__(
        self,
        *,
        evidence: AuditEvidence,
        actions: ActionLog,
        clock: Clock,
        archive: str,
        software: str,
        policies: Sequence[PolicyInForce],
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        """Args:
        evidence: the catalog's figures and lists.
        actions: the action log, for the policy changes.
        clock: when the report is made.
        archive: the archive's name in the report.
        software: this software and its version.
        policies: the policies in force.
        limit: the most items listed in each table.
        """
        self._evidence = evidence
        self._actions = actions
        self._clock = clock
        self._archive = archive
        self._software = software
        self._policies = list(policies)
        self._limit = limit

    def report(self, first: date, last: date, exclude_action: int | None = None) -> Report:
        """The audit report of the days ``first`` to ``last`` (both included, UTC).

        Args:
            first: the first day.
            last: the last day.
            exclude_action: the action making the report, left out of its counts.

        Raises:
            ValueError: ``last`` is before ``first``.
            CatalogError: the database failed.
        """
        start, end = period_bounds(first, last)
        trail = self._evidence.audit_trail(start, end, self._limit, exclude_action)
        changes = self._actions.policy_changes(start, end)
        return build_report(
            trail,
            changes,
            Period(start=first, end=last),
            generated=self._clock.now(),
            archive=self._archive,
            software=self._software,
            policies=self._policies,
        )


# --- The report --------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _acting(acting: Acting | None) -> str | None:
    return None if acting is None else acting.line()


def _aip(aip_id: str | None, version: int | None) -> str | None:
    return None if aip_id is None else f"{aip_id} v{version}"


def _cut(key: str, title: str, columns: list[str], rows: list[list[Scalar]], total: int, note: str) -> Table:
    return Table(
        key=key, title=title, columns=columns, rows=rows, truncated=max(0, total - len(rows)), note=note
    )


def build_report(
    trail: AuditTrail,
    changes: Sequence[PolicyChange],
    period: Period,
    *,
    generated: datetime,
    archive: str,
    software: str,
    policies: Sequence[PolicyInForce],
) -> Report:
    """The audit report of a period from what the catalog and the policy register hold.

    Args:
        trail: the period's figures and lists.
        changes: the policy texts first acted under in the period.
        period: the days covered.
        generated: when the report is made.
        archive: the archive's name.
        software: this software and its version.
        policies: the policies in force.

    Returns:
        The report (kind ``audit``).
    """
    return Report(
        kind="audit",
        title=f"Audit report, {period.start} to {period.end}",
        archive=archive,
        generated=generated,
        period=period,
        software=software,
        policies=list(policies),
        sections=[
            _summary(trail, changes),
            _failures(trail),
            _repairs(trail),
            _deletions(trail),
            _policy_changes(changes),
            _unresolved(trail),
        ],
    )


def _summary(trail: AuditTrail, changes: Sequence[PolicyChange]) -> Section:
    checks = trail.event_count("fixity check")
    failed = trail.event_count("fixity check", "failure")
    executed = trail.deletions_executed_total
    same_version = [c for c in changes if c.same_version_new_text]
    findings: list[Finding] = []
    if trail.unrecoverable_total:
        findings.append(
            Finding(
                level=Level.PROBLEM,
                text=f"{trail.unrecoverable_total} objects had no good copy left at the end of the period.",
            )
        )
    for c in same_version:
        findings.append(
            Finding(
                level=Level.PROBLEM,
                text=f"Policy '{c.policy_id}' changed its text without a new version ({c.version}) on "
                f"{c.first_seen.isoformat()}: events citing {c.policy_id}@{c.version} cannot tell the "
                "two apart.",
            )
        )
    if trail.unresolved_total - trail.unrecoverable_total > 0:
        findings.append(
            Finding(
                level=Level.WARNING,
                text=f"{trail.unresolved_total - trail.unrecoverable_total} objects found wrong were not "
                "repaired by the end of the period.",
            )
        )
    if trail.failures_total or trail.failed_checks_total:
        findings.append(
            Finding(
                level=Level.WARNING if trail.unresolved_total else Level.OK,
                text=f"{trail.failures_total} objects found wrong and {trail.failed_checks_total} other "
                f"failed checks in the period; {trail.repairs_total} repairs.",
            )
        )
    if not findings:
        findings.append(
            Finding(level=Level.OK, text=f"{checks} fixity checks in the period, none failed, nothing open.")
        )
    actions = sorted({(a.channel, a.outcome) for a in trail.actions})
    return Section(
        key="summary",
        title="The period in figures",
        summary=(
            "Every figure counts all of the period (from the first day's midnight to the midnight after "
            "the last day, UTC); the tables that follow list the items, each with who and when."
        ),
        figures=[
            Figure(key="fixity_checks", label="Fixity checks", value=checks),
            Figure(key="fixity_checks_failed", label="Fixity checks failed", value=failed),
            Figure(key="failures", label="Objects found wrong", value=trail.failures_total),
            Figure(
                key="failed_checks_without_finding",
                label="Failed checks without an audit finding (storage verify)",
                value=trail.failed_checks_total,
            ),
            Figure(key="repairs", label="Repairs", value=trail.repairs_total),
            Figure(key="recovery_events", label="Recovery events", value=trail.event_count("recovery")),
            Figure(
                key="found_whole", label="Findings closed as found whole again", value=trail.found_whole_total
            ),
            Figure(
                key="unresolved_at_end", label="Open at the end of the period", value=trail.unresolved_total
            ),
            Figure(
                key="unrecoverable_at_end",
                label="Of those, with no good copy left",
                value=trail.unrecoverable_total,
            ),
            Figure(
                key="deaccession_requests",
                label="Deaccession requests with activity",
                value=trail.deletions_total,
            ),
            Figure(key="deletions_executed", label="Deletions carried out", value=executed),
            Figure(key="deletion_events", label="Deletion events", value=trail.event_count("deletion")),
            Figure(key="policy_changes", label="Policy changes", value=len(changes)),
            Figure(
                key="policy_same_version_changes",
                label="Policy texts changed without a new version",
                value=len(same_version),
            ),
            Figure(key="actions", label="Actions recorded", value=sum(a.count for a in trail.actions)),
            Figure(
                key="events",
                label="PREMIS events",
                value=sum(e.count for e in trail.events),
            ),
        ],
        tables=[
            Table(
                key="events",
                title="PREMIS events of the period by type and outcome",
                columns=["Type", "Outcome", "Events"],
                rows=[[e.type, e.outcome, e.count] for e in trail.events],
            ),
            Table(
                key="actions",
                title="Actions of the period by channel and outcome",
                columns=["Channel", "Outcome", "Actions"],
                rows=[
                    [
                        channel,
                        outcome,
                        sum(a.count for a in trail.actions if (a.channel, a.outcome) == (channel, outcome)),
                    ]
                    for channel, outcome in actions
                ],
            ),
        ],
        plots=[
            Plot(
                key="events",
                title="Events of the period by type",
                kind="barh",
                x_label="event type",
                y_label="events",
                x=sorted({e.type for e in trail.events}),
                series=[
                    Series(
                        label=outcome,
                        values=[
                            float(trail.event_count(t, outcome))
                            for t in sorted({e.type for e in trail.events})
                        ],
                    )
                    for outcome in sorted({e.outcome for e in trail.events})
                ],
            )
        ]
        if trail.events
        else [],
        findings=findings,
    )


_FAILURE_COLUMNS = [
    "Detected",
    "Location",
    "AIP",
    "Path",
    "Kind",
    "Expected",
    "Found",
    "Fixity event",
    "Agents",
    "Under action",
    "Resolution",
    "Resolved",
    "Key",
]


def _failure_row(f: Failure) -> list[Scalar]:
    return [
        _when(f.detected),
        f.location,
        _aip(f.aip_id, f.version),
        f.path,
        f.kind,
        f.expected,
        f.found,
        f.event_id,
        "; ".join(f.agents) or None,
        _acting(f.acting),
        f.resolution,
        _when(f.resolved),
        f.key,
    ]


def _failures(trail: AuditTrail) -> Section:
    return Section(
        key="fixity-failures",
        title="Fixity failures",
        summary=(
            "Every object an audit found wrong in the period: when, where, what, the fixity check event "
            "that found it with its agents and the action it ran under, and how it was resolved by the end "
            "of the period. Then the failed checks that left no audit finding (`oais storage verify`)."
        ),
        figures=[
            Figure(key="failures", label="Objects found wrong", value=trail.failures_total),
            Figure(key="failed_checks", label="Other failed checks", value=trail.failed_checks_total),
        ],
        tables=[
            _cut(
                "failures",
                "Objects found wrong",
                _FAILURE_COLUMNS,
                [_failure_row(f) for f in trail.failures],
                trail.failures_total,
                f"oldest first; at most {trail.limit} listed",
            ),
            _cut(
                "failed-checks",
                "Failed fixity checks without an audit finding",
                ["When", "AIP", "Event", "Detail", "Outcome detail", "Agents", "Under action"],
                [
                    [
                        _when(c.when),
                        _aip(c.aip_id, c.version),
                        c.event_id,
                        c.detail,
                        c.outcome_detail,
                        "; ".join(c.agents) or None,
                        _acting(c.acting),
                    ]
                    for c in trail.failed_checks
                ],
                trail.failed_checks_total,
                f"oldest first; at most {trail.limit} listed",
            ),
        ],
    )


def _repairs(trail: AuditTrail) -> Section:
    return Section(
        key="repairs",
        title="Repairs",
        summary=(
            "Every object replaced from a good copy in the period: when, at which location, from which, "
            "the PREMIS recovery event with its agents, and the action it ran under."
        ),
        figures=[
            Figure(key="repairs", label="Repairs", value=trail.repairs_total),
            Figure(
                key="found_whole", label="Findings closed as found whole again", value=trail.found_whole_total
            ),
        ],
        tables=[
            _cut(
                "repairs",
                "Repairs",
                [
                    "Repaired",
                    "Location",
                    "From",
                    "AIP",
                    "Path",
                    "Kind",
                    "Detected",
                    "Recovery event",
                    "Agents",
                    "Under action",
                    "Key",
                ],
                [
                    [
                        _when(r.when),
                        r.location,
                        r.source,
                        _aip(r.aip_id, r.version),
                        r.path,
                        r.kind,
                        _when(r.detected),
                        r.event_id,
                        "; ".join(r.agents) or None,
                        _acting(r.acting),
                        r.key,
                    ]
                    for r in trail.repairs
                ],
                trail.repairs_total,
                f"oldest first; at most {trail.limit} listed",
            )
        ],
    )


def _deletions(trail: AuditTrail) -> Section:
    return Section(
        key="deletions",
        title="Deletions",
        summary=(
            "Every deaccession request asked, decided or carried out in the period: the AIP, the reason, "
            "who asked and when, who decided and when (always another administrator), when the deletion "
            "was carried out and its PREMIS deletion event."
        ),
        figures=[Figure(key="requests", label="Requests with activity", value=trail.deletions_total)],
        tables=[
            _cut(
                "deletions",
                "Deaccession requests",
                [
                    "Request",
                    "AIP",
                    "Reason",
                    "Status",
                    "Requested by",
                    "Requested",
                    "Decided by",
                    "Decided",
                    "Note",
                    "Executed",
                    "Deletion event",
                    "Event time",
                    "Event outcome",
                ],
                [
                    [
                        d.request_id,
                        d.aip_id,
                        d.reason,
                        d.status,
                        d.requested_by,
                        _when(d.requested_at),
                        d.decided_by,
                        _when(d.decided_at),
                        d.decision_note,
                        _when(d.executed_at),
                        d.event_id,
                        _when(d.event_time),
                        d.event_outcome,
                    ]
                    for d in trail.deletions
                ],
                trail.deletions_total,
                f"by request time; at most {trail.limit} listed",
            )
        ],
        findings=[
            Finding(
                level=Level.PROBLEM,
                text=f"Request {d.request_id} (AIP {d.aip_id}) is executed without a deletion event.",
            )
            for d in trail.deletions
            if d.status == "executed" and d.event_id is None
        ],
    )


def _policy_changes(changes: Sequence[PolicyChange]) -> Section:
    return Section(
        key="policy-changes",
        title="Policy changes",
        summary=(
            "Every policy text the archive first acted under in the period (a new version, or new text "
            "under the same version, which PREMIS events citing id@version cannot tell apart), with the "
            "version before it, when and by whom it was first applied."
        ),
        figures=[
            Figure(key="changes", label="Policy changes", value=len(changes)),
            Figure(
                key="same_version",
                label="Text changed without a new version",
                value=sum(1 for c in changes if c.same_version_new_text),
            ),
        ],
        tables=[
            Table(
                key="changes",
                title="Policy changes",
                columns=[
                    "Policy",
                    "Version before",
                    "Version",
                    "Same version, new text",
                    "Title",
                    "sha256",
                    "First applied",
                    "By",
                    "Action",
                ],
                rows=[
                    [
                        c.policy_id,
                        c.previous_version,
                        c.version,
                        c.same_version_new_text,
                        c.title,
                        c.sha256,
                        _when(c.first_seen),
                        c.first_seen_by,
                        c.action_id,
                    ]
                    for c in changes
                ],
            )
        ],
        findings=[
            Finding(
                level=Level.PROBLEM,
                text=f"{c.policy_id}: new text under version {c.version} (sha256 {c.sha256[:12]}…), first "
                f"applied by {c.first_seen_by} on {c.first_seen.isoformat()}.",
            )
            for c in changes
            if c.same_version_new_text
        ],
    )


def _unresolved(trail: AuditTrail) -> Section:
    return Section(
        key="unresolved",
        title="Unresolved at the end of the period",
        summary=(
            "Objects found wrong before the end of the period and not repaired or found whole by then, "
            "those with no good copy left first (whether a good copy is left is as recorded now)."
        ),
        figures=[
            Figure(key="unresolved", label="Open at the end of the period", value=trail.unresolved_total),
            Figure(key="unrecoverable", label="With no good copy left", value=trail.unrecoverable_total),
        ],
        tables=[
            _cut(
                "unresolved",
                "Open at the end of the period",
                _FAILURE_COLUMNS,
                [_failure_row(f) for f in trail.unresolved],
                trail.unresolved_total,
                f"no good copy first, then oldest; at most {trail.limit} listed",
            )
        ],
        findings=[
            Finding(level=Level.PROBLEM, text=f"No good copy left: {f.location} {f.key} ({f.kind}).")
            for f in trail.unresolved
            if f.unrecoverable
        ],
    )
