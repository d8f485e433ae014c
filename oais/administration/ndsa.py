"""The NDSA self-assessment (``oais report ndsa``): the Levels of Digital Preservation matrix judged
from the configuration, the policies and the catalog, as an evidence report.

The figures come from the catalog (SQL aggregates through the
:class:`~oais.domain.ports.AuditEvidence`, :class:`~oais.domain.ports.AuditLedger` and
:class:`~oais.domain.ports.FormatCatalog` ports), each location is asked whether it has Object Lock,
and what operations declare about each location (site, disaster threat, media) comes from the
configuration. :func:`oais.domain.ndsa.assess` does the judging.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from oais.domain.audit import AuditPolicy
from oais.domain.errors import OaisError
from oais.domain.formats import FormatPolicy, FormatStatus
from oais.domain.ndsa import (
    LEVELS,
    MATRIX,
    NDSA_VERSION,
    Area,
    Assessment,
    AuditFacts,
    CatalogFacts,
    FormatFacts,
    LocationFacts,
    NdsaFacts,
    Status,
    assess,
)
from oais.domain.ports import AuditEvidence, AuditLedger, Clock, FormatCatalog
from oais.domain.reports import (
    Figure,
    Finding,
    Level,
    Period,
    Plot,
    PolicyInForce,
    Report,
    Section,
    Series,
    Table,
)
from oais.domain.storage import LocationInfo, StoragePolicy

#: At most this many fixity-check intervals are counted over the audit cycle (wider ones beyond it).
MAX_WINDOWS = 52
#: The review period when there is no audit policy (days).
DEFAULT_REVIEW_DAYS = 90.0


def fixity_windows(now: datetime, policy: AuditPolicy | None) -> list[tuple[datetime, datetime]]:
    """The intervals of the last audit cycle in which fixity checks are counted, oldest first: one per
    quick-audit interval (every copy is re-read once in each), ending now.

    Args:
        now: the end of the last interval.
        policy: the audit policy (None: no intervals).

    Returns:
        ``[start, end)`` pairs.
    """
    if policy is None:
        return []
    width = max(policy.quick.every_days, policy.cycle_days / MAX_WINDOWS)
    count = max(1, math.floor(policy.cycle_days / width + 1e-9))
    step = timedelta(days=width)
    return [(now - (i + 1) * step, now - i * step) for i in reversed(range(count))]


class NdsaService:
    """Makes the NDSA self-assessment report."""

    def __init__(
        self,
        *,
        evidence: AuditEvidence,
        ledger: AuditLedger,
        formats: FormatCatalog,
        describe: Callable[[str], LocationInfo],
        locations: Sequence[LocationFacts],
        storage_policy: StoragePolicy,
        audit_policy: AuditPolicy | None,
        format_policy: FormatPolicy | None,
        record_algorithm: str,
        catalog_place: str,
        catalog_apart: bool,
        clock: Clock,
        archive: str,
        software: str,
        policies: Sequence[PolicyInForce],
    ) -> None:
        """Args:
        evidence: the catalog's figures.
        ledger: audit coverage per location.
        formats: holdings by format and the files to migrate.
        describe: asks a configured location what it is (Object Lock); raises an
            :class:`~oais.domain.errors.OaisError` when it cannot be asked.
        locations: every configured location as configured and declared (``object_lock`` unset).
        storage_policy: which locations must hold a copy, and the retention.
        audit_policy: the audit policy (None: there is none).
        format_policy: the format policy (None: there is none).
        record_algorithm: the ingest policy's digest of record.
        catalog_place: where the catalog database is, for people (no password).
        catalog_apart: the catalog is not inside any location.
        clock: the time of the assessment.
        archive: the archive's name in the report.
        software: this software and its version.
        policies: the policies in force.
        """
        self._evidence = evidence
        self._ledger = ledger
        self._formats = formats
        self._describe = describe
        self._locations = list(locations)
        self._storage_policy = storage_policy
        self._audit_policy = audit_policy
        self._format_policy = format_policy
        self._record_algorithm = record_algorithm
        self._catalog_place = catalog_place
        self._catalog_apart = catalog_apart
        self._clock = clock
        self._archive = archive
        self._software = software
        self._policies = list(policies)

    def facts(self) -> NdsaFacts:
        """Gather what the assessment looks at.

        Raises:
            CatalogError: the database failed.
        """
        now = self._clock.now()
        audit = self._audit_policy
        review = timedelta(days=audit.cycle_days if audit else DEFAULT_REVIEW_DAYS)
        names = [loc.name for loc in self._locations]
        catalog = self._evidence.catalog_facts(names, now, fixity_windows(now, audit), review)
        if catalog.first_copy is not None:
            # Intervals before anything was stored have nothing to check.
            first = catalog.first_copy
            catalog = catalog.model_copy(
                update={"fixity_windows": [w for w in catalog.fixity_windows if w.end > first]}
            )
        coverage = self._ledger.coverage(audit, now, names) if audit else []
        retention = self._storage_policy.retention
        return NdsaFacts(
            now=now,
            storage_policy=self._storage_policy.reference,
            required=self._storage_policy.locations,
            retention=f"{retention.mode.value}, {retention.days} days" if retention else None,
            locations=[self._asked(loc) for loc in self._locations],
            catalog=catalog,
            coverage=coverage,
            audit=AuditFacts(
                reference=audit.reference,
                cycle_days=audit.cycle_days,
                quick_days=audit.quick.every_days,
                deep_days=audit.deep.every_days,
                repair=audit.repair,
            )
            if audit
            else None,
            formats=self._format_facts(catalog),
            record_algorithm=self._record_algorithm,
            catalog_place=self._catalog_place,
            catalog_apart=self._catalog_apart,
        )

    def _asked(self, location: LocationFacts) -> LocationFacts:
        """The location with its Object Lock as the location itself answers (or the problem)."""
        try:
            info = self._describe(location.name)
        except OaisError as exc:
            return location.model_copy(update={"object_lock": None, "problem": str(exc)})
        return location.model_copy(update={"object_lock": info.object_lock, "problem": None})

    def _format_facts(self, catalog: CatalogFacts) -> FormatFacts:
        policy = self._format_policy
        if policy is None:
            return FormatFacts(reference=None)
        by_status: dict[str, int] = {}
        unrated: dict[str, int] = {}
        for holding in self._formats.holdings():
            if holding.puid is None:
                continue
            rules = policy.formats.get(holding.puid)
            if rules is None:
                unrated[holding.puid] = unrated.get(holding.puid, 0) + holding.files
            else:
                by_status[rules.status.value] = by_status.get(rules.status.value, 0) + holding.files
        risky = [
            p for p, r in policy.formats.items() if r.status in (FormatStatus.AT_RISK, FormatStatus.OBSOLETE)
        ]
        to_migrate = sum(files for files, _, _ in self._formats.unmigrated(risky).values()) if risky else 0
        return FormatFacts(
            reference=policy.reference,
            files_by_status=by_status,
            files_unrated=sum(unrated.values()),
            unrated_formats=sorted(unrated, key=lambda p: (-unrated[p], p)),
            files_to_migrate=to_migrate,
        )

    def report(self) -> Report:
        """The self-assessment as an evidence report (kind ``ndsa``).

        Raises:
            CatalogError: the database failed.
        """
        facts = self.facts()
        return build_report(
            facts,
            assess(facts),
            archive=self._archive,
            software=self._software,
            policies=self._policies,
        )


# --- The report --------------------------------------------------------------------------------

_STATUS_LEVEL = {
    Status.MET: Level.OK,
    Status.PARTLY: Level.WARNING,
    Status.NOT_MET: Level.PROBLEM,
    Status.NOT_EVIDENCED: Level.WARNING,
}


def build_report(
    facts: NdsaFacts,
    assessment: Assessment,
    *,
    archive: str,
    software: str,
    policies: Sequence[PolicyInForce],
) -> Report:
    """The report of an assessment: a summary, one section per area, and the locations.

    Args:
        facts: what was looked at.
        assessment: how each item was judged.
        archive: the archive's name.
        software: this software and its version.
        policies: the policies in force.

    Returns:
        The report (kind ``ndsa``).
    """
    return Report(
        kind="ndsa",
        title=f"NDSA Levels of Digital Preservation {NDSA_VERSION}: self-assessment",
        archive=archive,
        generated=facts.now,
        period=Period(end=facts.now.date()),
        software=software,
        policies=list(policies),
        sections=[
            _summary(facts, assessment),
            *(_area(assessment, area) for area in Area),
            _locations(facts),
        ],
    )


def _cell_text(assessment: Assessment, area: Area, level: int) -> str:
    return assessment.area(area).cells[level - 1].status.value


def _next_missing(assessment: Assessment, area: Area) -> str:
    result = assessment.area(area)
    if result.level >= 4:
        return ""
    return " | ".join(f"{r.item.text}: {r.missing or r.status.value}" for r in result.next_missing)


def _summary(facts: NdsaFacts, assessment: Assessment) -> Section:
    items = [r for a in assessment.areas for c in a.cells for r in c.items]
    counts = {s: sum(1 for r in items if r.status is s) for s in Status}
    findings = []
    if assessment.empty:
        findings.append(
            Finding(
                level=Level.WARNING,
                text="Nothing is stored yet: items about holdings were judged on what the policies require "
                "of every AIP version to come, not on what was done.",
            )
        )
    for result in assessment.areas:
        level_word = f"level {result.level}" if result.level else "no level"
        if result.level == 4:
            findings.append(Finding(level=Level.OK, text=f"{result.area.label}: level 4, every cell met."))
            continue
        blocking = ", ".join(f'"{r.item.text}" ({r.status.value})' for r in result.next_missing)
        findings.append(
            Finding(
                level=Level.WARNING if result.level else Level.PROBLEM,
                text=f"{result.area.label}: {level_word}; level {result.level + 1} needs {blocking}.",
            )
        )
    return Section(
        key="summary",
        title="Levels reached",
        summary=(
            f"The NDSA Levels of Digital Preservation matrix (version {NDSA_VERSION}) judged item by item "
            "from the configuration, the policies and the catalog. An item is met, partly met, not met, "
            "or not evidenced (nothing oais records or is told can show it). A cell is met when all its "
            "items are; an area reaches the highest level whose cell is met with every cell below it."
        ),
        figures=[
            *(
                Figure(key=f"{a.area.value}_level", label=f"{a.area.label}: level reached", value=a.level)
                for a in assessment.areas
            ),
            Figure(key="items", label="Items judged", value=len(items)),
            *(
                Figure(key=f"items_{s.name.lower()}", label=f"Items {s.value}", value=counts[s])
                for s in Status
            ),
            Figure(key="aip_versions", label="AIP versions assessed", value=facts.catalog.versions),
        ],
        tables=[
            Table(
                key="levels",
                title="Cells by area and level",
                columns=[
                    "Area",
                    "Level reached",
                    *(f"{n} {LEVELS[n]}" for n in LEVELS),
                    "Missing for the next level",
                ],
                rows=[
                    [
                        area.label,
                        assessment.area(area).level,
                        *(_cell_text(assessment, area, n) for n in LEVELS),
                        _next_missing(assessment, area),
                    ]
                    for area in Area
                ],
            )
        ],
        plots=[
            Plot(
                key="levels",
                title="Level reached per area",
                kind="bar",
                x_label="area",
                y_label="level (0 to 4)",
                x=[area.label for area in Area],
                series=[
                    Series(label="level reached", values=[float(assessment.area(a).level) for a in Area])
                ],
            ),
            Plot(
                key="items",
                title="Items per area by status",
                kind="stacked",
                x_label="area",
                y_label="items",
                x=[area.label for area in Area],
                series=[
                    Series(
                        label=s.value,
                        values=[
                            float(sum(1 for c in assessment.area(a).cells for r in c.items if r.status is s))
                            for a in Area
                        ],
                    )
                    for s in Status
                ],
            ),
        ],
        findings=findings,
    )


_AREA_TITLES = {
    Area.STORAGE: "Storage: copies, sites, threats and media",
    Area.INTEGRITY: "Integrity: fixity, audits and repair",
    Area.CONTROL: "Control: who may act, and the logs of who did",
    Area.METADATA: "Metadata: inventory, standards and preservation actions",
    Area.CONTENT: "Content: formats, their risks and migrations",
}


def _area(assessment: Assessment, area: Area) -> Section:
    result = assessment.area(area)
    items = [r for c in result.cells for r in c.items]
    return Section(
        key=area.value,
        title=_AREA_TITLES[area],
        summary=f"The {area.label.lower()} row of the matrix: each item, its evidence and what is missing.",
        figures=[
            Figure(key="level", label="Level reached", value=result.level),
            *(
                Figure(
                    key=f"level_{c.level}", label=f"Level {c.level} ({LEVELS[c.level]})", value=c.status.value
                )
                for c in result.cells
            ),
            Figure(
                key="items_met",
                label="Items met",
                value=sum(1 for r in items if r.status is Status.MET),
            ),
        ],
        tables=[
            Table(
                key="items",
                title=f"{area.label}: items",
                columns=["Level", "Item", "Status", "Evidence", "Missing", "How oais evidences it", "Key"],
                rows=[
                    [
                        r.item.level,
                        r.item.text,
                        r.status.value,
                        r.evidence,
                        r.missing,
                        r.item.evidence,
                        r.item.key,
                    ]
                    for r in items
                ],
            )
        ],
        findings=[
            Finding(level=_STATUS_LEVEL[r.status], text=f"Level {r.item.level}, {r.item.text}: {r.missing}")
            for r in items
            if r.status is not Status.MET
        ],
    )


def _locations(facts: NdsaFacts) -> Section:
    c = facts.catalog
    lock = {True: "yes", False: "no", None: "unknown"}
    return Section(
        key="locations",
        title="The locations",
        summary=(
            "Every configured location as the configuration describes it, what operations declare about "
            "it (site, disaster threat, media), whether it locks objects, and what the catalog says it "
            "holds; and how AIP versions are spread over the locations."
        ),
        figures=[
            Figure(key="locations", label="Configured locations", value=len(facts.locations)),
            Figure(key="required", label="Locations the storage policy requires", value=len(facts.required)),
            Figure(key="aip_versions", label="AIP versions", value=c.versions),
        ],
        tables=[
            Table(
                key="locations",
                title="Locations",
                columns=[
                    "Location",
                    "Kind",
                    "Address",
                    "Required",
                    "Site",
                    "Threat",
                    "Media",
                    "Object Lock",
                    "Copies",
                    "Event log segments",
                    "Problem",
                ],
                rows=[
                    [
                        loc.name,
                        loc.kind,
                        loc.address,
                        loc.required,
                        loc.site,
                        loc.threat,
                        loc.media,
                        lock[loc.object_lock],
                        c.holding(loc.name).copies,
                        c.holding(loc.name).segments,
                        loc.problem,
                    ]
                    for loc in facts.locations
                ],
            ),
            Table(
                key="holders",
                title="AIP versions by the locations holding their copies",
                columns=["Locations", "AIP versions"],
                rows=[
                    [" + ".join(n or "(not configured)" for n in h.locations) or "(none)", h.versions]
                    for h in c.holder_sets
                ],
            ),
        ],
    )


#: Every item key, in the matrix's order (for tests and documentation).
ITEM_KEYS = tuple(i.key for i in MATRIX)
