"""The read model of an evidence report: everything a CoreTrustSeal report shows, gathered from the
catalog by aggregate queries (the :class:`~oais.domain.ports.EvidenceCatalog` port), and the pure
helpers that turn bucketed counts into time series and rate formats against the format policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from oais.domain.evidence import (
    Access,
    Actions,
    AgentUse,
    CodeCount,
    Conversions,
    Copies,
    Cut,
    Deaccessions,
    EventCount,
    EventLogSummary,
    Findings,
    FormatCounts,
    Holdings,
    Rejections,
    VersionHistory,
    Window,
)
from oais.domain.formats import FormatHolding, FormatPolicy
from oais.domain.ports import EvidenceCatalog, FormatCatalog

#: The status of files in a format the policy does not rate, or that no tool identified.
NOT_RATED = "not in policy"
UNIDENTIFIED = "unidentified"
#: How many of the catalog's queries run at once (each on its own database connection).
QUERIES_AT_ONCE = 3
#: Statuses in the order a report lists them: the preferred first, the unknown last.
STATUSES = ("preferred", "acceptable", "at-risk", "obsolete", NOT_RATED, UNIDENTIFIED)


@dataclass(frozen=True)
class CtsEvidence:
    """What the catalog says about one window, for a CoreTrustSeal report."""

    window: Window
    events: list[EventCount]
    agents: Cut[AgentUse]
    versions: VersionHistory
    event_logs: list[EventLogSummary]
    holdings: Holdings
    formats: FormatCounts  # files received in the window, and held at its end, by format
    format_issues: list[CodeCount]
    rejections: Rejections
    conversions: Conversions
    actions: Actions
    copies: Copies
    findings: Findings
    deaccessions: Deaccessions
    access: Access
    #: PUID -> (files, bytes, AIPs) of the newest versions still to migrate under the format policy
    unmigrated: dict[str, tuple[int, int, int]]


def gather(
    catalog: EvidenceCatalog,
    formats: FormatCatalog,
    window: Window,
    required: Sequence[str],
    policy: FormatPolicy | None,
    limit: int,
    exclude_action: int | None = None,
) -> CtsEvidence:
    """Ask the catalog everything a CoreTrustSeal report shows about ``window``.

    Args:
        catalog: the evidence queries.
        formats: the holdings by format (for the files still to migrate).
        window: the period, as a window of time.
        required: the locations the storage policy requires a copy at.
        policy: the format policy in force (None: the archive has none).
        limit: the most rows of any list.
        exclude_action: an action of the action log to leave out (the one making the report).

    Returns:
        The evidence.

    Raises:
        CatalogError: the database failed.
    """
    to_migrate = [p for p, r in policy.formats.items() if r.preservation is not None] if policy else []
    # The queries are independent reads, each on a connection of its own: run side by side, the
    # few that read every event (by type, by agent, the conversions) overlap instead of adding up.
    # The heaviest are submitted first.
    with ThreadPoolExecutor(max_workers=QUERIES_AT_ONCE, thread_name_prefix="evidence") as pool:
        events = pool.submit(catalog.events, window)
        agents = pool.submit(catalog.agents, window, limit)
        conversions = pool.submit(catalog.conversions, window, limit)
        formats_ = pool.submit(catalog.formats, window)
        holdings = pool.submit(catalog.holdings, window)
        copies = pool.submit(catalog.copies, required, limit)
        versions = pool.submit(catalog.versions, window, limit)
        format_issues = pool.submit(catalog.format_issues, window)
        unmigrated = pool.submit(formats.unmigrated, to_migrate) if to_migrate else None
        event_logs = pool.submit(catalog.event_logs)
        rejections = pool.submit(catalog.rejections, window, limit)
        actions = pool.submit(catalog.actions, window, limit, exclude_action)
        findings = pool.submit(catalog.findings, window, limit)
        deaccessions = pool.submit(catalog.deaccessions, window, limit)
        access = pool.submit(catalog.access, window, limit)
        return CtsEvidence(
            window=window,
            events=events.result(),
            agents=agents.result(),
            versions=versions.result(),
            event_logs=event_logs.result(),
            holdings=holdings.result(),
            formats=formats_.result(),
            format_issues=format_issues.result(),
            rejections=rejections.result(),
            conversions=conversions.result(),
            actions=actions.result(),
            copies=copies.result(),
            findings=findings.result(),
            deaccessions=deaccessions.result(),
            access=access.result(),
            unmigrated=unmigrated.result() if unmigrated is not None else {},
        )


def status_of(puid: str | None, policy: FormatPolicy | None) -> str:
    """A format's status in the policy: a :class:`~oais.domain.formats.FormatStatus` value,
    :data:`NOT_RATED` or :data:`UNIDENTIFIED`."""
    if puid is None:
        return UNIDENTIFIED
    rules = policy.formats.get(puid) if policy is not None else None
    return rules.status.value if rules is not None else NOT_RATED


def by_status(
    holdings: Iterable[FormatHolding], policy: FormatPolicy | None
) -> dict[str, tuple[int, int, int]]:
    """Formats, files and bytes per status (every status listed, in :data:`STATUSES` order)."""
    found = {s: [0, 0, 0] for s in STATUSES}
    for h in holdings:
        line = found[status_of(h.puid, policy)]
        line[0] += 1
        line[1] += h.files
        line[2] += h.bytes
    return {s: (n, files, size) for s, (n, files, size) in found.items()}


def series(buckets: Sequence[str], values: Mapping[str, float]) -> list[float]:
    """One value per bucket (0 where ``values`` has none)."""
    return [float(values.get(b, 0)) for b in buckets]


def running_total(start: float, steps: Iterable[float]) -> list[float]:
    """``start`` plus each step in turn: a cumulative series."""
    out, total = [], start
    for step in steps:
        total += step
        out.append(total)
    return out


def events_per_bucket(
    events: Iterable[EventCount], types: Iterable[str], outcome: str | None = None
) -> dict[str, int]:
    """Events of ``types`` (of ``outcome`` only, if given) per bucket."""
    wanted = set(types)
    out: dict[str, int] = {}
    for e in events:
        if e.type in wanted and (outcome is None or e.outcome == outcome):
            out[e.bucket] = out.get(e.bucket, 0) + e.events
    return out


def events_by_type(events: Iterable[EventCount]) -> dict[str, dict[str, int]]:
    """Event type -> outcome -> events, over every bucket."""
    out: dict[str, dict[str, int]] = {}
    for e in events:
        outcomes = out.setdefault(e.type, {})
        outcomes[e.outcome] = outcomes.get(e.outcome, 0) + e.events
    return dict(sorted(out.items()))
