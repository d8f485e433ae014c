"""Evidence reports: the CoreTrustSeal report, and writing and verifying any report on disk.

A CoreTrustSeal report (``oais report cts``) is organised by the requirements of the CoreTrustSeal
Trustworthy Data Repositories Requirements that software can support (R07 to R11, R14, R16; the
numbering of the 2023-2025 and 2026-2028 editions). Every figure, table and plot is computed when the
report is made, from the catalog (aggregate queries: :mod:`oais.data_management.evidence`), the
storage locations (their Object Lock status, their event logs verified end to end) and the policies
in force; nothing is typed in.

A report on disk is a folder of three files: ``report.json`` (canonical JSON), ``report.json.sha256``
(its digest, in ``sha256sum`` format) and ``report.html`` (for people, stating the same digest). The
action log records the digest of every report made, so that :func:`verify_report` can tell an
edited report, or one this archive never made, from a genuine one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

from oais.archival_storage.service import ArchivalStorage
from oais.data_management.evidence import (
    STATUSES,
    CtsEvidence,
    by_status,
    events_by_type,
    events_per_bucket,
    gather,
    running_total,
    series,
    status_of,
)
from oais.domain.actions import PolicyChange
from oais.domain.audit import AuditPolicy, LocationCoverage
from oais.domain.errors import ConflictError, OaisError, StorageError
from oais.domain.evidence import ActionEntry, Cut, Granularity, ReportAction, Window, window_of
from oais.domain.formats import FormatPolicy
from oais.domain.issues import CODES
from oais.domain.ports import ActionLog, AuditLedger, Clock, EvidenceCatalog, FormatCatalog, ReportRenderer
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
    canonical_json,
    digest,
)
from oais.domain.storage import LocationInfo

#: The most rows of any table of a report (the figures count every row).
TABLE_LIMIT = 100
#: The files of a report folder.
REPORT_JSON = "report.json"
REPORT_DIGEST = "report.json.sha256"
REPORT_HTML = "report.html"
#: The actions of the action log that are audit runs: by hand, and the daemon's ticks.
AUDIT_ACTIONS = ("audit run", "audit tick")
#: The most buckets a plot over time shows as bars; longer series are drawn as lines.
MAX_BARS = 24
#: The formats the plot of holdings by format shows (the table lists them all).
PLOTTED_FORMATS = 15
#: An action that has not finished this long after it started was killed (or hangs).
STALE_ACTION = timedelta(days=1)
#: Event types shown in the provenance plot, in this order (others are summed as "other").
_PLOTTED_TYPES = (
    "ingestion",
    "accession",
    "fixity check",
    "replication",
    "recovery",
    "migration",
    "normalization",
    "dissemination",
    "deletion",
)
#: Units of the bytes-held plot, the largest first.
_BYTE_UNITS = (("PiB", 1024**5), ("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))

_Row = TypeVar("_Row")


class ReportService:
    """Makes CoreTrustSeal evidence reports."""

    def __init__(
        self,
        *,
        evidence: EvidenceCatalog,
        formats: FormatCatalog,
        ledger: AuditLedger,
        audit_policy: AuditPolicy,
        storage: ArchivalStorage,
        actions: ActionLog,
        format_policy: FormatPolicy | None,
        policies: Sequence[PolicyInForce],
        clock: Clock,
        software: str,
        archive: str,
    ) -> None:
        """Wire the service (see ``oais.bootstrap.report_service``).

        Args:
            evidence: the catalog's evidence queries.
            formats: the catalog's holdings by format (files still to migrate).
            ledger: the audit ledger (coverage of the audit cycle).
            audit_policy: the audit policy in force (the cycle).
            storage: the storage locations (Object Lock, event logs).
            actions: the action log (its policy register).
            format_policy: the format policy in force, if the archive has one.
            policies: every policy in force, with the sha256 of its file.
            clock: the time of the report.
            software: this software and its version ("oais 0.7.0").
            archive: the archive's name, for people.
        """
        self._evidence = evidence
        self._formats = formats
        self._ledger = ledger
        self._audit_policy = audit_policy
        self._storage = storage
        self._actions = actions
        self._format_policy = format_policy
        self._policies = list(policies)
        self._clock = clock
        self._software = software
        self._archive = archive

    def cts(self, period: Period, exclude_action: int | None = None) -> Report:
        """The CoreTrustSeal evidence report of ``period``.

        Args:
            period: the days covered (both included; an open end covers every record on that side).
            exclude_action: the action log entry of the command making the report, left out of its
                workflow figures (it is running while they are counted).

        Returns:
            The report.

        Raises:
            ValueError: the period ends before it starts.
            CatalogError: the database failed.
        """
        if period.start is not None and period.end is not None and period.end < period.start:
            raise ValueError(f"the period ends ({period.end}) before it starts ({period.start})")
        now = self._clock.now()
        window = window_of(period)
        found = gather(
            self._evidence,
            self._formats,
            window,
            self._storage.required,
            self._format_policy,
            TABLE_LIMIT,
            exclude_action,
        )
        seen: set[str] = {e.bucket for e in found.events}
        seen |= {g.bucket for g in found.holdings.growth}
        seen |= set(found.findings.by_bucket) | set(found.actions.by_bucket) | set(found.access.by_bucket)
        seen |= set(found.rejections.by_bucket)
        buckets = window.buckets(seen, now.date())
        ctx = _Context(window=window, buckets=buckets, now=now, found=found)
        locations = self._locations()
        chains = self._storage.verify_events()
        coverage = self._ledger.coverage(self._audit_policy, now, self._storage.names())
        changes = self._actions.policy_changes(window.start, window.end)
        sections = [
            self._provenance(ctx, chains),
            self._deposit(ctx),
            self._plan(ctx, changes),
            self._quality(ctx),
            self._workflows(ctx),
            self._storage_section(ctx, locations, coverage),
            self._security(ctx),
        ]
        return Report(
            kind="cts",
            title="CoreTrustSeal evidence report",
            archive=self._archive,
            generated=now,
            period=period,
            software=self._software,
            policies=self._policies,
            sections=sections,
        )

    def _locations(self) -> list[tuple[str, LocationInfo | None, str | None]]:
        """Every configured location with what it says it is, or why it did not answer."""
        out: list[tuple[str, LocationInfo | None, str | None]] = []
        for name in self._storage.names():
            try:
                out.append((name, self._storage.location(name).describe(), None))
            except OaisError as exc:
                out.append((name, None, str(exc)))
        return out

    # -- R07 ------------------------------------------------------------------------------------

    def _provenance(self, ctx: _Context, chains: Mapping[str, tuple[list[str], int, int]]) -> Section:
        found = ctx.found
        by_type = events_by_type(found.events)
        outcomes: dict[str, int] = {}
        for per in by_type.values():
            for outcome, n in per.items():
                outcomes[outcome] = outcomes.get(outcome, 0) + n
        total = sum(outcomes.values())
        logged = {s.location: s for s in found.event_logs}
        broken = {name: problems for name, (problems, _, _) in chains.items() if problems}
        required = self._storage.required
        findings: list[Finding] = []
        for name in required:
            problems, segments, events = chains.get(name, ([], 0, 0))
            if problems:
                findings.append(
                    Finding(
                        level=Level.PROBLEM,
                        text=f"the event log at location {name} is broken: {'; '.join(problems[:3])}"
                        + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""),
                    )
                )
            elif segments == 0:
                findings.append(
                    Finding(
                        level=Level.WARNING,
                        text=f"location {name} has no event log segment yet: no event after ingest was "
                        "logged there",
                    )
                )
            else:
                findings.append(
                    Finding(
                        level=Level.OK,
                        text=f"the event log at location {name} is whole: {segments} segments, {events} "
                        "events, each segment chained to the one before",
                    )
                )
        for name, problems in broken.items():
            if name not in required:
                findings.append(
                    Finding(
                        level=Level.PROBLEM, text=f"the event log at location {name} is broken: {problems[0]}"
                    )
                )
        figures = [
            Figure(key="events", label="PREMIS events in the period", value=total, unit="events"),
            *(
                Figure(
                    key=f"events_{o}",
                    label=f"events with outcome {o}",
                    value=outcomes.get(o, 0),
                    unit="events",
                )
                for o in ("success", "warning", "failure")
            ),
            Figure(key="agents", label="agents named by the period's events", value=found.agents.total),
            Figure(
                key="versions_created", label="AIP versions made in the period", value=found.versions.created
            ),
            Figure(
                key="aips_with_versions",
                label="AIPs with more than one version (at the end of the period)",
                value=found.versions.aips.total,
            ),
            Figure(
                key="event_logs_whole",
                label="locations whose event log was verified whole",
                value=sum(1 for p, _, _ in chains.values() if not p),
            ),
            Figure(key="event_logs_broken", label="locations whose event log is broken", value=len(broken)),
        ]
        event_types = sorted(by_type)
        tables = [
            Table(
                key="events_by_type",
                title="Events by type and outcome",
                columns=["event type", "success", "warning", "failure", "total"],
                rows=[
                    [
                        t,
                        by_type[t].get("success", 0),
                        by_type[t].get("warning", 0),
                        by_type[t].get("failure", 0),
                        sum(by_type[t].values()),
                    ]
                    for t in event_types
                ],
                note="From the catalog's events table (PREMIS events of every AIP version), counted by "
                "the database.",
            ),
            Table(
                key="event_logs",
                title="Event logs at each location (verified end to end when the report was made)",
                columns=["location", "required", "segments", "events", "last segment", "chain"],
                rows=[
                    [
                        name,
                        name in required,
                        segments,
                        events,
                        _time_or_none(logged[name].last if name in logged else None),
                        "broken: " + "; ".join(problems[:3]) if problems else "whole",
                    ]
                    for name, (problems, segments, events) in chains.items()
                ],
                note="Each segment holds the sha256 of the one before; the catalog holds the sha256 of "
                "every segment, so that an edit of the newest one is found too.",
            ),
            _cut_table(
                "agents",
                "Agents named by the period's events, the most used first",
                ["agent", "name", "type", "version", "events"],
                found.agents,
                lambda a: [a.identifier, a.name, a.type, a.version, a.events],
            ),
            Table(
                key="versions_per_aip",
                title="Versions per AIP (AIPs made before the end of the period)",
                columns=["versions", "AIPs"],
                rows=[[n, aips] for n, aips in sorted(found.versions.per_aip.items())],
            ),
            _cut_table(
                "version_history",
                "AIPs with more than one version, the most versions first",
                ["AIP", "title", "versions", "first version", "latest version"],
                found.versions.aips,
                lambda a: [a.aip_id, a.title, a.versions, _time(a.first), _time(a.latest)],
            ),
        ]
        shown = [t for t in _PLOTTED_TYPES if t in by_type]
        other = [t for t in by_type if t not in _PLOTTED_TYPES]
        plot_series = [
            Series(label=t, values=series(ctx.buckets, events_per_bucket(found.events, [t]))) for t in shown
        ]
        if other:
            plot_series.append(
                Series(label="other", values=series(ctx.buckets, events_per_bucket(found.events, other)))
            )
        plots = [
            Plot(
                key="events_over_time",
                title="PREMIS events by type over time",
                kind=ctx.over_time("stacked"),
                x_label=ctx.x_label,
                y_label="events",
                x=ctx.buckets,
                series=plot_series,
            )
        ]
        return Section(
            key="R07",
            title="Provenance and authenticity",
            summary="CoreTrustSeal R07 asks that the repository guarantee the authenticity of the data and "
            "metadata it holds and keep evidence of their provenance. Every action on an AIP is a PREMIS "
            "event with its agents, time and outcome; AIP versions are immutable; events after ingest are "
            "also appended to a hash-chained event log at every required location, verified here end to end.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R08 ------------------------------------------------------------------------------------

    def _deposit(self, ctx: _Context) -> Section:
        found = ctx.found
        rej = found.rejections
        accepted_by_bucket = events_per_bucket(found.events, ["ingestion"])
        accepted = sum(e.events for e in found.events if e.type == "ingestion" and e.outcome != "failure")
        submitted = accepted + rej.total
        statuses = by_status(found.formats.received, self._format_policy)
        received_files = sum(h.files for h in found.formats.received)
        received_bytes = sum(h.bytes for h in found.formats.received)
        preferred = statuses["preferred"][1]
        findings = [
            Finding(
                level=Level.OK,
                text=f"{accepted} SIPs accepted and {rej.total} rejected in the period; every rejection is "
                "recorded with each problem under a stable code",
            )
        ]
        risky = statuses["at-risk"][1] + statuses["obsolete"][1]
        if risky:
            findings.append(
                Finding(
                    level=Level.WARNING,
                    text=f"{risky} files received in formats the policy rates at risk or obsolete "
                    "(see R09 for their migration)",
                )
            )
        unrated = statuses["not in policy"][1] + statuses["unidentified"][1]
        if unrated:
            findings.append(
                Finding(
                    level=Level.WARNING,
                    text=f"{unrated} files received in formats the policy does not rate, or that no tool "
                    "identified",
                )
            )
        if self._format_policy is None:
            findings.append(
                Finding(level=Level.WARNING, text="no format policy is in force: no preferred-format list")
            )
        figures = [
            Figure(
                key="sips_accepted", label="SIPs accepted (ingestion events)", value=accepted, unit="SIPs"
            ),
            Figure(key="sips_rejected", label="SIPs rejected", value=rej.total, unit="SIPs"),
            Figure(
                key="acceptance_rate",
                label="SIPs accepted, of those submitted",
                value=_percent(accepted, submitted),
                unit="%",
            ),
            Figure(
                key="producers_rejected", label="producers with a rejected SIP", value=len(rej.by_producer)
            ),
            Figure(
                key="files_received",
                label="files received from producers",
                value=received_files,
                unit="files",
            ),
            Figure(
                key="bytes_received",
                label="bytes received from producers",
                value=received_bytes,
                unit="bytes",
            ),
            Figure(
                key="received_preferred",
                label="files received in preferred formats",
                value=_percent(preferred, received_files),
                unit="%",
            ),
        ]
        tables = [
            Table(
                key="rejections_by_code",
                title="Rejected SIPs by problem code",
                columns=["code", "SIPs", "problems", "severity"],
                rows=[[c.code, c.units, c.issues, _severity(c.code)] for c in rej.by_code],
                note="Codes are listed in docs/codes.md and docs/qa.md.",
            ),
            Table(
                key="rejections_by_producer",
                title="Rejected SIPs by producer",
                columns=["producer", "SIPs"],
                rows=[[p, n] for p, n in sorted(rej.by_producer.items(), key=lambda kv: (-kv[1], kv[0]))],
            ),
            _cut_table(
                "rejections",
                "Rejected SIPs, the latest first",
                ["time", "producer", "title", "SIP", "codes"],
                rej.latest,
                lambda r: [_time(r.date_time), r.producer, r.title, r.sip_path, r.codes],
            ),
            Table(
                key="formats_received",
                title="Files received from producers, by format, against the format policy",
                columns=["PUID", "format", "status", "files", "bytes", "AIPs"],
                rows=[
                    [h.puid, h.name, status_of(h.puid, self._format_policy), h.files, h.bytes, h.aips]
                    for h in found.formats.received
                ],
                note="Files as ingested (not those made by a migration or normalisation), each stored file "
                "once.",
            ),
        ]
        plots = [
            Plot(
                key="sips_over_time",
                title="SIPs accepted and rejected",
                kind=ctx.over_time("bar"),
                x_label=ctx.x_label,
                y_label="SIPs",
                x=ctx.buckets,
                series=[
                    Series(label="accepted", values=series(ctx.buckets, accepted_by_bucket)),
                    Series(label="rejected", values=series(ctx.buckets, rej.by_bucket)),
                ],
            ),
            Plot(
                key="formats_received",
                title="Files received by format status",
                kind="barh",
                x_label="format status",
                y_label="files",
                x=list(STATUSES),
                series=[Series(label="files", values=[float(statuses[s][1]) for s in STATUSES])],
            ),
        ]
        return Section(
            key="R08",
            title="Deposit and appraisal",
            summary="CoreTrustSeal R08 asks that the repository accept data and metadata against defined "
            "criteria, so that what it holds is relevant and understandable. Every SIP is checked before "
            "anything is stored; a refused SIP is recorded with each problem under a stable code; the "
            "formats received are rated against the format policy's preferred formats.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R09 ------------------------------------------------------------------------------------

    def _plan(self, ctx: _Context, changes: Sequence[PolicyChange]) -> Section:
        found = ctx.found
        policy = self._format_policy
        statuses = by_status(found.formats.held, policy)
        held_files = sum(h.files for h in found.formats.held)
        risky = statuses["at-risk"][1] + statuses["obsolete"][1]
        due_files = sum(f for f, _, _ in found.unmigrated.values())
        conversions = found.conversions.events
        migrated = conversions.get("migration", {}).get("success", 0)
        normalised = conversions.get("normalization", {}).get("success", 0)
        apply_runs = sum(c.actions for c in found.actions.counts if c.action == "migrate apply")
        plan_runs = sum(c.actions for c in found.actions.counts if c.action == "plan migrations")
        policy_changes = list(changes)
        findings: list[Finding] = []
        if policy is None:
            findings.append(Finding(level=Level.PROBLEM, text="no format policy is in force"))
        elif due_files:
            findings.append(
                Finding(
                    level=Level.WARNING,
                    text=f"{due_files} files of the AIPs' newest versions are in formats the policy asks to "
                    "migrate and are not migrated yet (oais plan migrations lists them)",
                )
            )
        else:
            findings.append(
                Finding(level=Level.OK, text="every file the format policy asks to migrate has been migrated")
            )
        for c in policy_changes:
            if c.same_version_new_text:
                findings.append(
                    Finding(
                        level=Level.PROBLEM,
                        text=f"policy {c.policy_id}@{c.version} changed its text without a new version "
                        f"(first seen {_time(c.first_seen)}): events citing it cannot tell the two apart",
                    )
                )
        figures = [
            Figure(
                key="format_policy",
                label="format policy in force",
                value=policy.reference if policy is not None else None,
            ),
            Figure(
                key="formats_rated",
                label="formats the policy rates",
                value=len(policy.formats) if policy else 0,
            ),
            Figure(
                key="files_held", label="files held at the end of the period", value=held_files, unit="files"
            ),
            Figure(
                key="bytes_held",
                label="bytes held at the end of the period",
                value=sum(h.bytes for h in found.formats.held),
                unit="bytes",
            ),
            Figure(
                key="files_at_risk",
                label="files held in formats at risk or obsolete",
                value=risky,
                unit="files",
            ),
            Figure(
                key="files_to_migrate",
                label="files still to migrate under the policy (when the report was made)",
                value=due_files,
                unit="files",
            ),
            Figure(key="migrations_done", label="files migrated in the period", value=migrated, unit="files"),
            Figure(
                key="normalisations_done",
                label="files normalised at ingest in the period",
                value=normalised,
                unit="files",
            ),
            Figure(
                key="plan_runs",
                label="migrations planned (oais plan migrations runs, dry runs included) in the period",
                value=plan_runs,
            ),
            Figure(
                key="migration_runs",
                label="migration plans applied (migrate apply) in the period",
                value=apply_runs,
            ),
            Figure(
                key="policy_changes",
                label="policy texts first acted under in the period",
                value=len(policy_changes),
            ),
        ]
        rules = policy.formats if policy is not None else {}
        tables = [
            Table(
                key="holdings_by_status",
                title="Holdings at the end of the period by format status",
                columns=["status", "formats", "files", "bytes"],
                rows=[[s, *statuses[s]] for s in STATUSES],
            ),
            Table(
                key="holdings_by_format",
                title="Holdings at the end of the period by format",
                columns=["PUID", "format", "status", "files", "bytes", "AIPs", "preservation rule"],
                rows=[
                    [
                        h.puid,
                        rules[h.puid].name if h.puid in rules else h.name,
                        status_of(h.puid, policy),
                        h.files,
                        h.bytes,
                        h.aips,
                        _rule(policy, h.puid),
                    ]
                    for h in found.formats.held
                ],
                note="Each stored file once (a file a later version reuses is not counted again); AIPs "
                "deaccessioned by the end of the period are not held.",
            ),
            Table(
                key="migrations_planned",
                title="Migrations the policy asks for, not done yet (when the report was made)",
                columns=["PUID", "format", "rule", "files", "bytes", "AIPs"],
                rows=[
                    [p, rules[p].name if p in rules else "", _rule(policy, p), f, b, a]
                    for p, (f, b, a) in sorted(found.unmigrated.items())
                ],
                note="Migration plans are files an archivist reviews before applying them (oais plan "
                "migrations --out, then oais migrate apply); the catalog does not keep them. What is planned "
                "here is what the policy in force asks for now: the files of the AIPs' newest versions in a "
                "format with a preservation rule that no file of their version was migrated from.",
            ),
            Table(
                key="migrations_done",
                title="Migrations and normalisations in the period (PREMIS events)",
                columns=["event type", "outcome", "events"],
                rows=[[t, o, n] for t, per in sorted(conversions.items()) for o, n in sorted(per.items())],
            ),
            Table(
                key="policy_changes",
                title="Policy texts first acted under in the period (the action log's policy register)",
                columns=[
                    "policy",
                    "version",
                    "previous version",
                    "first seen",
                    "by",
                    "sha256",
                    "same version, new text",
                ],
                rows=[
                    [
                        c.policy_id,
                        c.version,
                        c.previous_version,
                        _time(c.first_seen),
                        c.first_seen_by,
                        c.sha256,
                        c.same_version_new_text,
                    ]
                    for c in policy_changes
                ],
            ),
        ]
        held_sorted = sorted(found.formats.held, key=lambda h: (-h.files, h.puid or ""))[:PLOTTED_FORMATS]
        plots = [
            Plot(
                key="formats_held",
                title=f"Files held by format (the {PLOTTED_FORMATS} most held)",
                kind="barh",
                x_label="format",
                y_label="files",
                x=[
                    f"{h.puid or 'unidentified'} {rules[h.puid].name if h.puid in rules else h.name}".strip()
                    for h in held_sorted
                ],
                series=[Series(label="files", values=[float(h.files) for h in held_sorted])],
            ),
            Plot(
                key="migrations_over_time",
                title="Files migrated and normalised",
                kind=ctx.over_time("stacked"),
                x_label=ctx.x_label,
                y_label="files",
                x=ctx.buckets,
                series=[
                    Series(
                        label="migrated",
                        values=series(ctx.buckets, events_per_bucket(found.events, ["migration"], "success")),
                    ),
                    Series(
                        label="normalised at ingest",
                        values=series(
                            ctx.buckets, events_per_bucket(found.events, ["normalization"], "success")
                        ),
                    ),
                ],
            ),
        ]
        return Section(
            key="R09",
            title="Preservation plan",
            summary="CoreTrustSeal R09 asks that the repository take responsibility for long-term "
            "preservation and manage it in a planned, documented way. The format policy in force rates "
            "every format and says which to migrate and how; holdings are counted against it; migrations "
            "are carried out by reviewed plans and recorded as PREMIS events.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R10 ------------------------------------------------------------------------------------

    def _quality(self, ctx: _Context) -> Section:
        found = ctx.found
        by_type = events_by_type(found.events)
        checks = {t: by_type.get(t, {}) for t in ("validation", "format identification")}
        conv = found.conversions
        compared = sum(sum(per.values()) for per in conv.events.values())
        failed = sum(per.get("failure", 0) for per in conv.events.values())
        issue_files = sum(c.units for c in found.format_issues)
        findings: list[Finding] = []
        warned = checks["validation"].get("warning", 0)
        if warned:
            findings.append(
                Finding(level=Level.WARNING, text=f"{warned} SIPs accepted with validation warnings")
            )
        unidentified = checks["format identification"].get("warning", 0)
        if unidentified:
            findings.append(
                Finding(level=Level.WARNING, text=f"{unidentified} ingests with files no tool could identify")
            )
        if conv.kept_differs:
            findings.append(
                Finding(
                    level=Level.PROBLEM,
                    text=f"{conv.kept_differs} conversions were kept although a significant property differs",
                )
            )
        if failed:
            findings.append(
                Finding(
                    level=Level.WARNING,
                    text=f"{failed} conversions failed or lost a significant property; nothing was kept and "
                    "the originals stay",
                )
            )
        if not findings:
            findings.append(
                Finding(
                    level=Level.OK, text="every validation passed and every conversion kept its properties"
                )
            )
        figures = [
            *(
                Figure(
                    key=f"validation_{o}",
                    label=f"validation events, {o}",
                    value=checks["validation"].get(o, 0),
                )
                for o in ("success", "warning", "failure")
            ),
            *(
                Figure(
                    key=f"identification_{o}",
                    label=f"format identification events, {o}",
                    value=checks["format identification"].get(o, 0),
                )
                for o in ("success", "warning", "failure")
            ),
            Figure(
                key="files_with_format_issues",
                label="files received with format issues",
                value=issue_files,
                unit="files",
            ),
            Figure(
                key="conversions",
                label="conversions (migrations and normalisations) compared",
                value=compared,
            ),
            Figure(key="conversions_failed", label="conversions that failed", value=failed),
            Figure(
                key="conversions_differ",
                label="conversions where a significant property differs",
                value=conv.differs,
            ),
        ]
        tables = [
            Table(
                key="checks",
                title="Validation and format identification outcomes (PREMIS events)",
                columns=["event type", "success", "warning", "failure"],
                rows=[
                    [t, per.get("success", 0), per.get("warning", 0), per.get("failure", 0)]
                    for t, per in checks.items()
                ],
            ),
            Table(
                key="qa_issues",
                title="Quality assurance problems of the SIPs rejected in the period, by code",
                columns=["code", "SIPs", "problems", "severity"],
                rows=[[c.code, c.units, c.issues, _severity(c.code)] for c in found.rejections.by_code],
                note="The same rejections as in R08: every problem of a refused SIP, under its stable code.",
            ),
            Table(
                key="format_issues",
                title="Format issues of the files received, by code",
                columns=["code", "files", "issues", "severity"],
                rows=[[c.code, c.units, c.issues, _severity(c.code)] for c in found.format_issues],
            ),
            Table(
                key="significant_properties",
                title="Significant properties compared by the period's conversions",
                columns=["property", "conversions comparing it"],
                rows=[[p.name, p.events] for p in conv.properties],
                note='From the outcome detail of each migration and normalisation event ("significant '
                'properties: width 64 (kept); …"). A conversion is kept only if every property is kept.',
            ),
            _cut_table(
                "conversion_exceptions",
                "Conversions that failed or where a property differs, the latest first",
                ["time", "type", "AIP", "version", "outcome", "detail"],
                conv.exceptions,
                lambda e: [_time(e.date_time), e.type, e.aip_id, e.version, e.outcome, e.detail],
            ),
            _cut_table(
                "conversions",
                "Conversions of the period, the latest first",
                ["time", "type", "AIP", "version", "outcome", "detail"],
                conv.latest,
                lambda e: [_time(e.date_time), e.type, e.aip_id, e.version, e.outcome, e.detail],
            ),
        ]
        plots = [
            Plot(
                key="validation_over_time",
                title="Validation and identification outcomes",
                kind=ctx.over_time("stacked"),
                x_label=ctx.x_label,
                y_label="events",
                x=ctx.buckets,
                series=[
                    Series(
                        label=o,
                        values=series(ctx.buckets, events_per_bucket(found.events, list(checks), o)),
                    )
                    for o in ("success", "warning", "failure")
                ],
            )
        ]
        return Section(
            key="R10",
            title="Quality assurance",
            summary="CoreTrustSeal R10 asks that the repository address the technical quality and the "
            "standards compliance of what it holds. Every SIP is validated (names, bags, FITS headers) and "
            "every file's format identified at ingest; every migrated file is identified again and its "
            "significant properties compared with its source's before it is kept.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R11 ------------------------------------------------------------------------------------

    def _workflows(self, ctx: _Context) -> Section:
        found = ctx.found
        acts = found.actions
        per_action: dict[str, dict[str, int]] = {}
        channels: dict[str, set[str]] = {}
        for c in acts.counts:
            per = per_action.setdefault(c.action, {})
            per[c.outcome] = per.get(c.outcome, 0) + c.actions
            channels.setdefault(c.action, set()).add(c.channel)
        totals: dict[str, int] = {}
        for per in per_action.values():
            for o, n in per.items():
                totals[o] = totals.get(o, 0) + n
        stale = [
            e for e in acts.exceptions.rows if e.outcome == "running" and ctx.now - e.started > STALE_ACTION
        ]
        findings: list[Finding] = []
        if totals.get("failed"):
            findings.append(
                Finding(
                    level=Level.WARNING, text=f"{totals['failed']} actions failed (listed with their errors)"
                )
            )
        if stale:
            findings.append(
                Finding(
                    level=Level.WARNING,
                    text=f"{len(stale)} actions started more than a day before the report never finished "
                    "(killed, or still hanging)",
                )
            )
        if not findings:
            findings.append(Finding(level=Level.OK, text="every recorded action ended, none failed"))
        ingest = per_action.get("ingest", {})
        audit_runs: dict[str, int] = {}
        for action in AUDIT_ACTIONS:
            for o, n in per_action.get(action, {}).items():
                audit_runs[o] = audit_runs.get(o, 0) + n
        figures = [
            Figure(key="actions", label="actions recorded in the period", value=sum(totals.values())),
            *(
                Figure(key=f"actions_{o}", label=f"actions {o}", value=totals.get(o, 0))
                for o in ("ok", "failed", "refused", "running")
            ),
            Figure(key="ingests", label="ingest commands and requests", value=sum(ingest.values())),
            Figure(
                key="ingests_refused",
                label="of which refused (SIP rejected or not allowed)",
                value=ingest.get("refused", 0),
            ),
            Figure(
                key="audit_runs",
                label="audit runs (by hand and daemon ticks)",
                value=sum(audit_runs.values()),
            ),
            Figure(key="audit_runs_failed", label="of which failed", value=audit_runs.get("failed", 0)),
            Figure(
                key="migration_runs",
                label="migration plans applied",
                value=sum(per_action.get("migrate apply", {}).values()),
            ),
            Figure(
                key="fixity_failures",
                label="fixity checks that failed (see R14)",
                value=sum(
                    e.events for e in found.events if e.type == "fixity check" and e.outcome == "failure"
                ),
            ),
        ]
        tables = [
            Table(
                key="actions",
                title="Actions by kind and outcome (the action log)",
                columns=["action", "channels", "ok", "failed", "refused", "running", "total"],
                rows=[
                    [
                        a,
                        ", ".join(sorted(channels[a])),
                        per.get("ok", 0),
                        per.get("failed", 0),
                        per.get("refused", 0),
                        per.get("running", 0),
                        sum(per.values()),
                    ]
                    for a, per in sorted(per_action.items())
                ],
                note="Every state-changing command, HTTP request and daemon tick is recorded when it starts "
                "and when it ends, with who did it; 'running' has no end recorded yet. The command making "
                "this report is left out.",
            ),
            _action_table(
                "action_exceptions",
                "Actions that failed, were refused or did not finish, the latest first",
                acts.exceptions,
            ),
        ]
        plots = [
            Plot(
                key="actions_over_time",
                title="Actions by outcome",
                kind=ctx.over_time("stacked"),
                x_label=ctx.x_label,
                y_label="actions",
                x=ctx.buckets,
                series=[
                    Series(
                        label=o,
                        values=series(ctx.buckets, {b: per.get(o, 0) for b, per in acts.by_bucket.items()}),
                    )
                    for o in ("ok", "refused", "failed", "running")
                ],
            )
        ]
        return Section(
            key="R11",
            title="Workflows",
            summary="CoreTrustSeal R11 asks that archiving follow defined workflows from deposit to access, "
            "with changes and exceptions handled and recorded. Every ingest, audit run, migration, "
            "replication, DIP and administrative action is recorded in the action log with who did it, "
            "through which channel (command line, HTTP API, daemon), and how it ended.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R14 ------------------------------------------------------------------------------------

    def _storage_section(
        self,
        ctx: _Context,
        locations: Sequence[tuple[str, LocationInfo | None, str | None]],
        coverage: Sequence[LocationCoverage],
    ) -> Section:
        found = ctx.found
        copies = found.copies
        required = self._storage.required
        storage_policy = self._storage.policy
        per_location = {c.location: c for c in copies.locations}
        coverage = [
            _with_unsliced(c, per_location[c.location].files if c.location in per_location else 0)
            for c in coverage
        ]
        fixity = events_by_type(found.events).get("fixity check", {})
        repairs = sum(e.events for e in found.events if e.type == "recovery")
        finds = found.findings
        deac = found.deaccessions
        findings: list[Finding] = []
        if copies.below.total:
            findings.append(
                Finding(
                    level=Level.PROBLEM,
                    text=f"{copies.below.total} AIP versions have fewer copies than the {len(required)} the "
                    f"storage policy {storage_policy.reference} requires",
                )
            )
        else:
            findings.append(
                Finding(
                    level=Level.OK,
                    text=f"every AIP version held has a verified copy at each of the {len(required)} "
                    f"locations the storage policy {storage_policy.reference} requires",
                )
            )
        for c in coverage:
            if c.files and c.share < 1:
                findings.append(
                    Finding(
                        level=Level.WARNING,
                        text=f"location {c.location}: {c.verified_files} of {c.files} file copies "
                        f"({_percent(c.verified_files, c.files)} %) verified within the "
                        f"{self._audit_policy.cycle_days:g}-day cycle",
                    )
                )
            elif c.files:
                findings.append(
                    Finding(
                        level=Level.OK,
                        text=f"location {c.location}: every file copy verified within the "
                        f"{self._audit_policy.cycle_days:g}-day cycle",
                    )
                )
        if finds.unrecoverable:
            findings.append(
                Finding(
                    level=Level.PROBLEM,
                    text=f"{finds.unrecoverable} objects are damaged at a location with no good copy left "
                    "anywhere",
                )
            )
        open_other = finds.open - finds.unrecoverable
        if open_other:
            findings.append(
                Finding(level=Level.WARNING, text=f"{open_other} audit findings are open (not repaired yet)")
            )
        if finds.detected and not finds.open:
            findings.append(
                Finding(
                    level=Level.OK,
                    text=f"{finds.detected} objects found wrong in the period; every finding is resolved",
                )
            )
        for name, info, problem in locations:
            if problem is not None:
                findings.append(
                    Finding(level=Level.PROBLEM, text=f"location {name} did not answer: {problem}")
                )
            elif (
                info is not None
                and storage_policy.retention is not None
                and name in required
                and not info.object_lock
            ):
                findings.append(
                    Finding(
                        level=Level.WARNING,
                        text=f"location {name} cannot lock objects (no S3 Object Lock): the policy's "
                        f"{storage_policy.retention.mode.value} retention of "
                        f"{storage_policy.retention.days} days is not enforced there",
                    )
                )
        deletion_events = sum(e.events for e in found.events if e.type == "deletion")
        unapproved = max(0, deletion_events - deac.approved_deletions)
        if unapproved:
            findings.append(
                Finding(
                    level=Level.PROBLEM,
                    text=f"{unapproved} deletion events no approved deaccession request accounts for",
                )
            )
        elif deletion_events:
            findings.append(
                Finding(
                    level=Level.OK,
                    text=f"every one of the {deletion_events} deletions of the period was approved by "
                    "a second administrator",
                )
            )
        holdings = found.holdings
        lock_count = sum(1 for _, info, _ in locations if info is not None and info.object_lock)
        figures = [
            Figure(key="locations", label="storage locations configured", value=len(locations)),
            Figure(
                key="locations_required",
                label="locations every AIP version must have a copy at",
                value=len(required),
            ),
            Figure(key="locations_object_lock", label="locations with S3 Object Lock", value=lock_count),
            Figure(key="versions_held", label="AIP versions held", value=copies.versions),
            Figure(
                key="versions_below_policy",
                label="AIP versions with fewer copies than the policy requires",
                value=copies.below.total,
            ),
            Figure(
                key="files_held",
                label="files held at the end of the period",
                value=holdings.at_end.files,
                unit="files",
            ),
            Figure(
                key="bytes_held",
                label="bytes held at the end of the period",
                value=holdings.at_end.bytes,
                unit="bytes",
            ),
            *(
                Figure(
                    key=f"coverage_{c.location}",
                    label=f"file copies at {c.location} verified within the cycle",
                    value=_percent(c.verified_files, c.files) if c.files else 100.0,
                    unit="%",
                )
                for c in coverage
            ),
            Figure(
                key="fixity_checks", label="fixity check events in the period", value=sum(fixity.values())
            ),
            Figure(
                key="fixity_failures",
                label="fixity checks that found a problem",
                value=fixity.get("failure", 0),
            ),
            Figure(
                key="repairs", label="copies repaired from another location (recovery events)", value=repairs
            ),
            Figure(key="findings_detected", label="objects found wrong in the period", value=finds.detected),
            Figure(key="findings_repaired", label="objects repaired in the period", value=finds.repaired),
            Figure(
                key="findings_open", label="audit findings open when the report was made", value=finds.open
            ),
            Figure(key="unrecoverable", label="objects with no good copy left", value=finds.unrecoverable),
            Figure(key="deletions", label="AIPs deaccessioned in the period", value=deac.tombstones),
            Figure(key="deletion_events", label="deletion events in the period", value=deletion_events),
            Figure(
                key="deletions_unapproved",
                label="deletion events without an approved request",
                value=unapproved,
            ),
        ]
        tables = [
            Table(
                key="locations",
                title="Storage locations (as they answered when the report was made)",
                columns=[
                    "location",
                    "kind",
                    "where",
                    "required",
                    "Object Lock",
                    "versioned",
                    "AIPs",
                    "versions",
                    "objects",
                    "bytes",
                    "copies never verified in full",
                    "problem",
                ],
                rows=[
                    [
                        name,
                        info.kind.value if info else None,
                        info.uri if info else None,
                        name in required,
                        info.object_lock if info else None,
                        info.versioned if info else None,
                        per_location[name].aips if name in per_location else 0,
                        per_location[name].versions if name in per_location else 0,
                        per_location[name].objects if name in per_location else 0,
                        per_location[name].bytes if name in per_location else 0,
                        per_location[name].never_verified if name in per_location else 0,
                        problem,
                    ]
                    for name, info, problem in locations
                ],
                note=(
                    f"Storage policy {storage_policy.reference}: a copy at "
                    f"{', '.join(required)}"
                    + (
                        f"; {storage_policy.retention.mode.value} retention of "
                        f"{storage_policy.retention.days} days where the bucket has Object Lock."
                        if storage_policy.retention
                        else "; no retention asked for."
                    )
                ),
            ),
            Table(
                key="copies_per_version",
                title="Copies per AIP version at the required locations",
                columns=["copies", "AIP versions", "against the policy"],
                rows=[
                    [n, v, "as required" if n >= len(required) else "below"]
                    for n, v in sorted(copies.per_version.items())
                ],
                note="Deaccessioned AIPs are left out.",
            ),
            _cut_table(
                "versions_below_policy",
                "AIP versions with fewer copies than the policy requires",
                ["AIP", "version", "copies at", "missing at"],
                copies.below,
                lambda v: [
                    v.aip_id,
                    v.version,
                    ", ".join(v.locations),
                    ", ".join(n for n in required if n not in v.locations),
                ],
            ),
            Table(
                key="audit_coverage",
                title=f"Fixity audit coverage of the {self._audit_policy.cycle_days:g}-day cycle "
                f"(audit policy {self._audit_policy.id}@{self._audit_policy.version}, when the report was "
                "made)",
                columns=[
                    "location",
                    "file copies",
                    "verified within the cycle",
                    "share %",
                    "deep within the cycle",
                    "never verified",
                    "oldest verification",
                    "due now",
                    "open findings",
                ],
                rows=[
                    [
                        c.location,
                        c.files,
                        c.verified_files,
                        _percent(c.verified_files, c.files) if c.files else 100.0,
                        c.deep_files,
                        c.never,
                        _time(c.oldest) if c.oldest and c.never == 0 else None,
                        c.backlog_files,
                        c.open_findings,
                    ]
                    for c in coverage
                ],
                note="Coverage is that of the last verification of every file copy: the catalog keeps the "
                "latest verification of each, not a history; the fixity check events of the period are "
                "counted above.",
            ),
            Table(
                key="findings_by_location",
                title="Objects found wrong in the period, by location and kind",
                columns=["location", "kind", "objects"],
                rows=[[loc, k, n] for loc, per in finds.by_location.items() for k, n in per.items()],
            ),
            _cut_table(
                "findings_open",
                "Objects found wrong in the period and not repaired yet, those with no good copy first",
                ["detected", "location", "kind", "object", "AIP", "version", "no good copy left"],
                finds.unresolved,
                lambda f: [
                    _time(f.detected),
                    f.location,
                    f.kind,
                    f.key,
                    f.aip_id,
                    f.version,
                    f.unrecoverable,
                ],
            ),
            Table(
                key="deaccessions_by_status",
                title="Deaccession requests made, decided or carried out in the period, by status",
                columns=["status", "requests"],
                rows=[[s, n] for s, n in deac.by_status.items()],
            ),
            _cut_table(
                "deaccessions",
                "Deaccession requests and their approvals, the latest first",
                [
                    "request",
                    "AIP",
                    "reason",
                    "requested by",
                    "requested",
                    "status",
                    "decided by",
                    "decided",
                    "carried out",
                    "deletion event",
                ],
                deac.requests,
                lambda d: [
                    d.id,
                    d.aip_id,
                    d.reason,
                    d.requested_by,
                    _time(d.requested_at),
                    d.status,
                    d.decided_by,
                    _time_or_none(d.decided_at),
                    _time_or_none(d.executed_at),
                    d.event_id,
                ],
            ),
        ]
        growth = {g.bucket: g for g in holdings.growth}
        files_held = running_total(
            holdings.before.files,
            [
                float(growth[b].added.files - growth[b].removed.files) if b in growth else 0.0
                for b in ctx.buckets
            ],
        )
        bytes_held = running_total(
            holdings.before.bytes,
            [
                float(growth[b].added.bytes - growth[b].removed.bytes) if b in growth else 0.0
                for b in ctx.buckets
            ],
        )
        unit, scale = _byte_unit(max(bytes_held, default=0.0))
        bytes_held = [v / scale for v in bytes_held]
        plots = [
            Plot(
                key="holdings_files",
                title="Files held",
                kind="line",
                x_label=ctx.x_label,
                y_label="files",
                x=ctx.buckets,
                series=[Series(label="files held", values=files_held)],
            ),
            Plot(
                key="holdings_bytes",
                title=f"Bytes held ({unit})",
                kind="line",
                x_label=ctx.x_label,
                y_label=unit,
                x=ctx.buckets,
                series=[Series(label=f"{unit} held", values=bytes_held)],
            ),
            Plot(
                key="audit_coverage",
                title=f"File copies verified within the {self._audit_policy.cycle_days:g}-day cycle",
                kind="bar",
                x_label="location",
                y_label="% of file copies",
                x=[c.location for c in coverage],
                series=[
                    Series(
                        label="verified",
                        values=[_percent(c.verified_files, c.files) if c.files else 100.0 for c in coverage],
                    ),
                    Series(
                        label="verified deep (sha256)",
                        values=[_percent(c.deep_files, c.files) if c.files else 100.0 for c in coverage],
                    ),
                ],
            ),
            Plot(
                key="failures_and_repairs",
                title="Fixity failures and repairs",
                kind=ctx.over_time("bar"),
                x_label=ctx.x_label,
                y_label="count",
                x=ctx.buckets,
                series=[
                    Series(
                        label="fixity checks failed",
                        values=series(
                            ctx.buckets, events_per_bucket(found.events, ["fixity check"], "failure")
                        ),
                    ),
                    Series(
                        label="objects found wrong",
                        values=series(
                            ctx.buckets, {b: v.get("detected", 0) for b, v in finds.by_bucket.items()}
                        ),
                    ),
                    Series(
                        label="objects repaired",
                        values=series(
                            ctx.buckets, {b: v.get("repaired", 0) for b, v in finds.by_bucket.items()}
                        ),
                    ),
                ],
            ),
        ]
        return Section(
            key="R14",
            title="Storage and integrity",
            summary="CoreTrustSeal R14 asks that the repository apply documented processes to ensure the "
            "storage and integrity of data and metadata. The storage policy names every location that must "
            "hold a verified copy; fixity audits read every copy within the audit cycle and repair a bad "
            "copy from a good one; Object Lock, where a location has it, makes deletion impossible outside "
            "the deaccession workflow, whose every deletion needs a second administrator's approval.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )

    # -- R16 ------------------------------------------------------------------------------------

    def _security(self, ctx: _Context) -> Section:
        acc = ctx.found.access
        kinds = ("401 HTTP", "401 CLI", "403 HTTP", "403 CLI")
        totals = {k: sum(per.get(k, 0) for per in acc.by_bucket.values()) for k in kinds}
        failures = totals["401 HTTP"] + totals["401 CLI"]
        findings = [
            Finding(
                level=Level.OK,
                text=f"{failures} authentication failures and {totals['403 HTTP'] + totals['403 CLI']} "
                "refusals recorded in the period; every refused request and command is in the access log",
            )
        ]
        figures = [
            Figure(
                key="requests",
                label="HTTP requests and command-line authentications recorded",
                value=acc.requests,
            ),
            Figure(
                key="auth_failures_http", label="HTTP authentication failures (401)", value=totals["401 HTTP"]
            ),
            Figure(
                key="auth_failures_cli",
                label="command-line authentication failures (OAIS_TOKEN)",
                value=totals["401 CLI"],
            ),
            Figure(
                key="refusals",
                label="requests refused for the role (403)",
                value=totals["403 HTTP"] + totals["403 CLI"],
            ),
            Figure(key="tokens_created", label="API tokens made in the period", value=acc.tokens_created),
            Figure(key="tokens_revoked", label="API tokens revoked in the period", value=acc.tokens_revoked),
            *(
                Figure(
                    key=f"tokens_valid_{role}", label=f"valid {role} tokens at the end of the period", value=n
                )
                for role, n in acc.valid_by_role.items()
            ),
        ]
        tables = [
            _cut_table(
                "refusals",
                "Refused requests and commands by path, the most frequent first",
                ["method", "path", "status", "requests", "last"],
                acc.failures,
                lambda f: [f.method, f.path, f.status, f.requests, _time(f.last)],
            ),
            Table(
                key="tokens_by_role",
                title="Valid API tokens at the end of the period, by role",
                columns=["role", "tokens"],
                rows=[[r, n] for r, n in acc.valid_by_role.items()],
            ),
            _action_table(
                "role_changes", "Tokens made and revoked (role changes), the latest first", acc.role_changes
            ),
        ]
        plots = [
            Plot(
                key="refusals_over_time",
                title="Authentication failures and refusals",
                kind=ctx.over_time("stacked"),
                x_label=ctx.x_label,
                y_label="requests",
                x=ctx.buckets,
                series=[
                    Series(
                        label=k,
                        values=series(ctx.buckets, {b: per.get(k, 0) for b, per in acc.by_bucket.items()}),
                    )
                    for k in kinds
                ],
            )
        ]
        return Section(
            key="R16",
            title="Security",
            summary="CoreTrustSeal R16 asks that the technical infrastructure protect the facility and its "
            "data, products, services and users. Every HTTP request needs a token whose role allows it; "
            "every refusal (a missing, wrong or revoked token, a role that may not act) is recorded in the "
            "access log, as are command-line authentications with a bad OAIS_TOKEN; roles are given and "
            "taken by making and revoking tokens, each an action of the action log.",
            figures=figures,
            tables=tables,
            plots=plots,
            findings=findings,
        )


@dataclass(frozen=True)
class _Context:
    window: Window
    buckets: list[str]
    now: datetime
    found: CtsEvidence

    def over_time(self, kind: Literal["bar", "stacked"]) -> Literal["bar", "stacked", "line"]:
        """The kind of a plot over time: bars while they stay readable, lines over a long period."""
        return kind if len(self.buckets) <= MAX_BARS else "line"

    @property
    def x_label(self) -> str:
        return "day" if self.window.granularity is Granularity.DAY else "month"


def _with_unsliced(coverage: LocationCoverage, stored: int) -> LocationCoverage:
    """A location's audit coverage counting the files of copies no audit has reached yet.

    Audits cut a copy into slices when they first reach it, so the audit ledger does not know a copy
    stored since the last audit: its files count here as never verified and due now.
    """
    missing = stored - coverage.files
    if missing <= 0:
        return coverage
    return coverage.model_copy(
        update={
            "files": stored,
            "never": coverage.never + missing,
            "backlog_files": coverage.backlog_files + missing,
            "oldest": None,
        }
    )


def _byte_unit(largest: float) -> tuple[str, int]:
    """The binary unit in which ``largest`` bytes reads as at least 1, and its size."""
    for unit, size in _BYTE_UNITS:
        if largest >= size:
            return unit, size
    return "bytes", 1


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _time_or_none(moment: datetime | None) -> str | None:
    return _time(moment) if moment is not None else None


def _severity(code: str) -> str | None:
    found = CODES.get(code)
    return found[0].value if found else None


def _rule(policy: FormatPolicy | None, puid: str | None) -> str | None:
    if policy is None or puid is None or puid not in policy.formats:
        return None
    rule = policy.formats[puid].preservation
    return f"to {rule.target} with {rule.tool}" if rule is not None else None


def _cut_table(
    key: str, title: str, columns: list[str], cut: Cut[_Row], row: Callable[[_Row], list[Scalar]]
) -> Table:
    return Table(
        key=key, title=title, columns=columns, rows=[row(r) for r in cut.rows], truncated=cut.left_out
    )


def _action_table(key: str, title: str, cut: Cut[ActionEntry]) -> Table:
    return _cut_table(
        key,
        title,
        ["started", "action", "channel", "actor", "role", "target", "outcome", "detail"],
        cut,
        lambda e: [_time(e.started), e.action, e.channel, e.actor, e.role, e.target, e.outcome, e.detail],
    )


# --- Writing and verifying a report ------------------------------------------------------------


def write_report(report: Report, out_dir: Path, renderer: ReportRenderer) -> str:
    """Write a report folder: ``report.json``, ``report.json.sha256`` and ``report.html``.

    The files are written into a new folder beside ``out_dir`` and moved into place in one rename: a
    reader never sees a half-written report, and nothing is overwritten.

    Args:
        report: the report.
        out_dir: the folder to make (it may exist if it is empty).
        renderer: turns the report into HTML.

    Returns:
        The sha256 (hex) of ``report.json``.

    Raises:
        ConflictError: ``out_dir`` exists and is not an empty folder.
        StorageError: the folder cannot be written.
    """
    data = canonical_json(report)
    sha = digest(data)
    page = renderer.render(report, sha)
    target = out_dir.absolute()
    _refuse_taken(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    except OSError as exc:
        raise StorageError(f"{target}: cannot write the report there: {exc.strerror or exc}") from exc
    try:
        for name, content in (
            (REPORT_JSON, data),
            (REPORT_DIGEST, f"{sha}  {REPORT_JSON}\n".encode("ascii")),
            (REPORT_HTML, page),
        ):
            with (temporary / name).open("xb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
        temporary.chmod(0o755)
        _refuse_taken(target)  # made meanwhile by someone else
        os.rename(temporary, target)  # replaces only an empty folder; fails on a non-empty one
    except OSError as exc:
        shutil.rmtree(temporary, ignore_errors=True)
        if target.exists() and any(target.iterdir()):
            raise ConflictError(f"{target} is not empty: nothing was written (choose a new folder)") from exc
        raise StorageError(f"{target}: cannot write the report there: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    with contextlib.suppress(OSError):  # the rename is durable once its folder is synced
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return sha


def _refuse_taken(target: Path) -> None:
    try:
        if target.is_dir():
            if any(target.iterdir()):
                raise ConflictError(f"{target} is not empty: nothing was written (choose a new folder)")
        elif target.exists() or target.is_symlink():
            raise ConflictError(f"{target} exists and is not a folder: nothing was written")
    except OSError as exc:
        raise StorageError(f"{target}: cannot be read: {exc.strerror or exc}") from exc


@dataclass(frozen=True)
class ReportCheck:
    """What checking a report folder found."""

    folder: str
    digest: str | None  # the sha256 of report.json as read now (None: no report.json)
    recorded: str | None  # the digest report.json.sha256 states
    #: the actions of this archive's action log that made a report with this digest
    made_by: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, started, actor, action
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if the report is as this archive made it."""
        return not self.problems


def verify_report(folder: Path, lookup: Callable[[str], Iterable[ReportAction]]) -> ReportCheck:
    """Check a report folder: ``report.json`` against ``report.json.sha256`` and against the action log.

    Args:
        folder: the report folder.
        lookup: the actions of the action log that recorded a report with a given sha256
            (:meth:`~oais.domain.ports.EvidenceCatalog.report_actions`).

    Returns:
        The check; its problems say why it failed (edited, or not made by this archive).

    Raises:
        CatalogError: the action log could not be read.
    """
    problems: list[str] = []
    try:
        data = (folder / REPORT_JSON).read_bytes()
    except OSError as exc:
        return ReportCheck(
            folder=str(folder),
            digest=None,
            recorded=None,
            problems=[f"{folder / REPORT_JSON}: cannot be read: {exc.strerror or exc}"],
        )
    sha = hashlib.sha256(data).hexdigest()
    recorded: str | None = None
    try:
        line = (folder / REPORT_DIGEST).read_text(encoding="ascii").strip()
        recorded = line.split()[0] if line else ""
        if line.split()[1:] not in ([REPORT_JSON], [f"*{REPORT_JSON}"]):
            problems.append(f"{REPORT_DIGEST} does not name {REPORT_JSON}")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{folder / REPORT_DIGEST}: cannot be read: {getattr(exc, 'strerror', None) or exc}")
    if recorded is not None and recorded != sha:
        problems.append(
            f"report.json was edited: its sha256 is {sha}, not the {recorded} that {REPORT_DIGEST} states"
        )
    made = [(a.id, _time(a.started), a.actor, a.action) for a in lookup(sha)]
    if not made:
        problems.append(
            f"no report with sha256 {sha} was made by this archive (its action log records none): the report "
            "was edited, or comes from another archive"
        )
    return ReportCheck(folder=str(folder), digest=sha, recorded=recorded, made_by=made, problems=problems)
