"""The NDSA Levels of Digital Preservation (version 2.0, October 2019) as data, and how oais meets them.

The matrix has five functional areas (storage, integrity, control, metadata, content) and four levels
(1 know your content, 2 protect it, 3 monitor it, 4 sustain it). Each cell lists a few recommended
actions ("items"); :data:`MATRIX` holds every item in NDSA's words (the *Levels of Digital
Preservation Matrix V2.0*, NDSA Levels of Preservation Revisions Working Group, 2019, CC BY 4.0;
https://osf.io/2mkwx/) with what oais takes as evidence of it.

:func:`assess` judges each item from :class:`NdsaFacts`: the configuration (locations and what
operations declare about them), the policies, and figures counted in the catalog. Nothing is typed
in: an item oais cannot see (a virus check before submission, a plan for replacing storage
hardware) is *not evidenced*, with what would evidence it. A cell is met when all its items are;
the level an area reaches is the highest level whose cell is met together with every cell below it
(the levels are cumulative).

With nothing stored yet, an item about holdings is judged on what the policies require of every
AIP version to come (the report says so).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.audit import LocationCoverage

#: The version of the NDSA matrix encoded here.
NDSA_VERSION = "2.0 (2019)"


class Area(StrEnum):
    """A functional area of the matrix (a row)."""

    STORAGE = "storage"
    INTEGRITY = "integrity"
    CONTROL = "control"
    METADATA = "metadata"
    CONTENT = "content"

    @property
    def label(self) -> str:
        """The area's name as NDSA writes it."""
        return self.value.capitalize()


#: The levels (columns), as NDSA names them.
LEVELS: dict[int, str] = {
    1: "Know your content",
    2: "Protect your content",
    3: "Monitor your content",
    4: "Sustain your content",
}


class Status(StrEnum):
    """How far an item (or a cell) is met, as far as the records show."""

    MET = "met"
    PARTLY = "partly"
    NOT_MET = "not met"
    #: Nothing oais records or is told can show it (an item outside the software, or a location
    #: whose site, threat or media is not declared).
    NOT_EVIDENCED = "not evidenced"


class Item(BaseModel):
    """One recommended action of a cell, in NDSA's words, and what oais takes as evidence of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str  # stable: "storage-1-copies"
    area: Area
    level: int = Field(ge=1, le=4)
    text: str  # NDSA's words
    evidence: str  # what oais looks at


def _item(key: str, text: str, evidence: str) -> Item:
    area, level, _ = key.split("-", 2)
    return Item(key=key, area=Area(area), level=int(level), text=text, evidence=evidence)


#: Every item of the NDSA Levels matrix V2.0, by area then level, in NDSA's order.
MATRIX: tuple[Item, ...] = (
    # -- Storage --------------------------------------------------------------------------------
    _item(
        "storage-1-copies",
        "Have two complete copies in separate locations",
        "verified copies of every AIP version at two or more locations whose declared sites differ",
    ),
    _item(
        "storage-1-media",
        "Document all storage media where content is stored",
        "the configuration of every location (kind, address) and its declared media",
    ),
    _item(
        "storage-1-stable",
        "Put content into stable storage",
        "every AIP version has a verified copy at every location the storage policy requires",
    ),
    _item(
        "storage-2-copies",
        "Have three complete copies with at least one copy in a separate geographic location",
        "verified copies of every AIP version at three or more locations, at two or more declared sites",
    ),
    _item(
        "storage-2-dependencies",
        "Document storage and storage media indicating the resources and dependencies they require "
        "to function",
        "every location's configuration (kind, endpoint or root) with its declared site and media",
    ),
    _item(
        "storage-3-threat",
        "Have at least one copy in a geographic location with a different disaster threat than the "
        "other copies",
        "the copies of every AIP version are at locations with two or more declared disaster threats",
    ),
    _item(
        "storage-3-media",
        "Have at least one copy on a different storage media type",
        "the copies of every AIP version are on two or more declared media",
    ),
    _item(
        "storage-3-obsolescence",
        "Track the obsolescence of storage and media",
        "nothing in oais: a record of the age and support of each storage system, kept outside",
    ),
    _item(
        "storage-4-threats",
        "Have at least three copies in geographic locations, each with a different disaster threat",
        "the copies of every AIP version are at three or more locations, each with its own declared threat",
    ),
    _item(
        "storage-4-diversity",
        "Maximize storage diversification to avoid single points of failure",
        "every AIP version at three or more locations, no two at one site or under one threat, on two "
        "or more media and two or more kinds of storage (local, S3)",
    ),
    _item(
        "storage-4-plan",
        "Have a plan and execute actions to address obsolescence of storage hardware, software, and media",
        "replication events (content moved to new locations, verified); the plan itself is kept outside",
    ),
    # -- Integrity ------------------------------------------------------------------------------
    _item(
        "integrity-1-verify",
        "Verify integrity information if it has been provided with the content",
        "every manifest of a submitted bag is checked at ingest (a SIP that fails is rejected); one "
        "validation event per ingest",
    ),
    _item(
        "integrity-1-generate",
        "Generate integrity information if not provided with the content",
        "every file has a digest of record (sha256) and a fast digest computed at ingest",
    ),
    _item(
        "integrity-1-virus",
        "Virus check all content; isolate content for quarantine as needed",
        "nothing in oais: a virus check before submission, recorded outside",
    ),
    _item(
        "integrity-2-moving",
        "Verify integrity information when moving or copying content",
        "every copy is verified when written (catalogued only then), replication and repair re-read "
        "what they write",
    ),
    _item(
        "integrity-2-write-blockers",
        "Use write-blockers when working with original media",
        "oais reads a SIP and never modifies it; original media are handled before submission",
    ),
    _item(
        "integrity-2-backup",
        "Back up integrity information and store copy in a separate location from the content",
        "digests in the catalog database, kept apart from the locations, and in every copy's manifests",
    ),
    _item(
        "integrity-3-intervals",
        "Verify integrity information of content at fixed intervals",
        "the audit policy's cycle; every file copy verified within it; fixity checks recorded in every "
        "quick-audit interval of the last cycle",
    ),
    _item(
        "integrity-3-documented",
        "Document integrity information verification processes and outcomes",
        "the audit policy (cited by every event) and a PREMIS fixity check event per audit, with its "
        "outcome, in the catalog and the event logs",
    ),
    _item(
        "integrity-3-on-demand",
        "Perform audit of integrity information on demand",
        "`oais audit run --aip`, `oais storage verify` and `oais events verify`",
    ),
    _item(
        "integrity-4-events",
        "Verify integrity information in response to specific events or activities",
        "verification at ingest, at every copy written, at replication, repair, migration and export",
    ),
    _item(
        "integrity-4-repair",
        "Replace or repair corrupted content as necessary",
        "repair enabled in the audit policy, a second location to repair from, and no finding left open",
    ),
    # -- Control --------------------------------------------------------------------------------
    _item(
        "control-1-authorized",
        "Determine the human and software agents that should be authorized to read, write, move, "
        "and delete content",
        "the roles and their permissions (producer, auditor, admin) and the API tokens issued",
    ),
    _item(
        "control-2-applied",
        "Document the human and software agents authorized to read, write, move, and delete content "
        "and apply these",
        "named tokens with their roles, checked on every request; deletion only by an approved "
        "deaccession (two administrators) and locked at every required location (Object Lock)",
    ),
    _item(
        "control-3-logs",
        "Maintain logs and identify the human and software agents that performed actions on content",
        "the action log (who, through which channel), PREMIS events with their agents, the HTTP access log",
    ),
    _item(
        "control-4-review",
        "Perform periodic review of actions/access logs",
        "`oais report audit` made in each of the last two review periods (the audit cycle), as the "
        "action log records",
    ),
    # -- Metadata -------------------------------------------------------------------------------
    _item(
        "metadata-1-inventory",
        "Create inventory of content, also documenting current storage locations",
        "the catalog: every AIP version, file and verified copy, by location",
    ),
    _item(
        "metadata-1-backup",
        "Backup inventory and store at least one copy separately from content",
        "the catalog database apart from the locations; every copy carries its own inventory "
        "(manifests, premis.xml), from which `oais catalog rebuild` recreates the catalog",
    ),
    _item(
        "metadata-2-enough",
        "Store enough metadata to know what the content is (this might include some combination of "
        "administrative, technical, descriptive, preservation, and structural)",
        "PREMIS (preservation, technical), BagIt (structural), producer and rights (administrative), "
        "and the share of AIPs with descriptive metadata",
    ),
    _item(
        "metadata-3-standards",
        "Determine what metadata standards to apply",
        "PREMIS 3, BagIt 1.0, PRONOM format identifiers, the descriptive metadata JSON Schema",
    ),
    _item(
        "metadata-3-gaps",
        "Find and fill gaps in your metadata to meet those standards",
        "AIPs without descriptive metadata and files without a PRONOM identifier",
    ),
    _item(
        "metadata-4-actions",
        "Record preservation actions associated with content and when those actions occur",
        "a PREMIS event for every preservation action, in the catalog and in the hash-chained event log "
        "at every required location",
    ),
    _item(
        "metadata-4-implemented",
        "Implement metadata standards chosen",
        "every AIP version is a BagIt 1.0 bag with a premis.xml valid against the PREMIS 3 schema",
    ),
    # -- Content --------------------------------------------------------------------------------
    _item(
        "content-1-formats",
        "Document file formats and other essential content characteristics including how and when "
        "these were identified",
        "every file's format (PRONOM), the tool and basis of its identification, and the format "
        "identification event",
    ),
    _item(
        "content-2-verify",
        "Verify file formats and other essential content characteristics",
        "format validation at ingest (FITS headers and structure) and the share of files in formats "
        "oais validates",
    ),
    _item(
        "content-2-creators",
        "Build relationships with content creators to encourage sustainable file choices",
        "nothing in oais; the share of files producers submit in preferred formats shows the effect",
    ),
    _item(
        "content-3-obsolescence",
        "Monitor for obsolescence, and changes in technologies on which content is dependent",
        "the format policy rates every format held (preferred, acceptable, at risk, obsolete)",
    ),
    _item(
        "content-4-migrations",
        "Perform migrations, normalizations, emulation, and similar activities that ensure content "
        "can be accessed",
        "migration and normalization events, and no file left in a format at risk or obsolete",
    ),
)


# --- Facts -------------------------------------------------------------------------------------


class LocationFacts(BaseModel):
    """One configured location: what the configuration says, what operations declare, what it holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str  # "local" or "s3"
    address: str  # the root directory, or the endpoint, bucket and prefix
    required: bool  # the storage policy names it
    site: str | None = None
    threat: str | None = None
    media: str | None = None
    #: S3 Object Lock on its bucket; None when the location could not be asked (see ``problem``).
    object_lock: bool | None = None
    problem: str | None = None


class HolderSet(BaseModel):
    """How many AIP versions have their verified copies at exactly these locations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    locations: tuple[str, ...]  # sorted; "" stands for any location the configuration does not name
    versions: int


class EventCount(BaseModel):
    """PREMIS events of one type and outcome in the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    outcome: str
    count: int


class Window(BaseModel):
    """Fixity checks recorded in ``[start, end)``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    end: datetime
    checks: int


class LocationHoldings(BaseModel):
    """What the catalog says one location holds (any location copies name, configured or not)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str
    copies: int  # AIP versions with a verified copy here
    unverified: int  # copies not verified since a catalog rebuild
    unaudited: int  # copies not yet cut into audit slices (never audited)
    segments: int  # segments of its event log
    logged_events: int  # events in those segments


class CatalogFacts(BaseModel):
    """Figures counted in the catalog (SQL aggregates: nothing is listed row by row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aips: int = 0  # not deaccessioned
    described_aips: int = 0  # with descriptive metadata
    deaccessioned_aips: int = 0  # deaccessioned, or being deaccessioned (no copy kept)
    versions: int = 0  # of the AIPs not deaccessioned
    holder_sets: list[HolderSet] = Field(default_factory=list)
    holdings: list[LocationHoldings] = Field(default_factory=list)
    first_copy: datetime | None = None
    files: int = 0  # stored files (a file a later version reuses counts once)
    bytes: int = 0
    files_without_record_digest: int = 0
    files_identified: int = 0  # with a PRONOM identifier
    files_with_format_issues: int = 0
    files_validated: int = 0  # in a format oais validates at ingest (FITS)
    events: list[EventCount] = Field(default_factory=list)
    fixity_windows: list[Window] = Field(default_factory=list)
    findings_detected: int = 0
    findings_open: int = 0
    findings_unrecoverable: int = 0  # open, with no good copy left
    findings_repaired: int = 0
    tokens: dict[str, int] = Field(default_factory=dict)  # valid API tokens by role
    access_requests: int = 0
    access_refused: int = 0  # 401 and 403 answers
    actions: dict[str, int] = Field(default_factory=dict)  # action log entries by channel
    last_action: datetime | None = None
    audit_reports: int = 0  # `oais report audit` made (outcome ok)
    audit_reports_last_period: int = 0
    audit_reports_period_before: int = 0
    deaccessions: dict[str, int] = Field(default_factory=dict)  # requests by status
    agents: dict[str, int] = Field(default_factory=dict)  # PREMIS agents by type

    def event_count(self, *types: str, outcome: str | None = None) -> int:
        """Events of ``types`` (with ``outcome`` if given)."""
        return sum(
            e.count for e in self.events if e.type in types and (outcome is None or e.outcome == outcome)
        )

    def holding(self, location: str) -> LocationHoldings:
        """What ``location`` holds (zeros if nothing)."""
        for h in self.holdings:
            if h.location == location:
                return h
        return LocationHoldings(
            location=location, copies=0, unverified=0, unaudited=0, segments=0, logged_events=0
        )


class AuditFacts(BaseModel):
    """What the audit policy asks for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str  # "audit@1"
    cycle_days: float
    quick_days: float
    deep_days: float
    repair: bool


class FormatFacts(BaseModel):
    """The format policy against the holdings (files counted once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str | None  # None: no format policy
    files_by_status: dict[str, int] = Field(default_factory=dict)  # preferred, acceptable, at-risk, obsolete
    files_unrated: int = 0  # identified, in a format the policy does not rate
    unrated_formats: list[str] = Field(default_factory=list)
    files_to_migrate: int = 0  # at risk or obsolete, in an AIP's newest version, not migrated yet


#: Event types recorded after ingest, which the event logs at the locations must hold.
LOGGED_EVENT_TYPES = (
    "fixity check",
    "replication",
    "recovery",
    "migration",
    "dissemination",
    "deletion",
    "deaccession",
    "metadata modification",
)


class NdsaFacts(BaseModel):
    """Everything the assessment looks at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    now: datetime
    storage_policy: str  # "storage@1"
    required: tuple[str, ...]  # the locations the storage policy requires
    retention: str | None  # "COMPLIANCE, 3650 days"; None: the storage policy asks for none
    locations: list[LocationFacts]
    catalog: CatalogFacts
    coverage: list[LocationCoverage] = Field(default_factory=list)
    audit: AuditFacts | None = None
    formats: FormatFacts
    record_algorithm: str = "sha256"
    #: Where the catalog database is, for people ("PostgreSQL at db.example.org/oais").
    catalog_place: str
    #: The catalog database is not inside any location (a copy of the inventory apart from content).
    catalog_apart: bool

    def location(self, name: str) -> LocationFacts | None:
        """The configured location ``name``."""
        for loc in self.locations:
            if loc.name == name:
                return loc
        return None


# --- Assessment --------------------------------------------------------------------------------


class ItemResult(BaseModel):
    """An item judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: Item
    status: Status
    evidence: str  # the figures
    missing: str = ""  # what is missing for the item to be met ("" when met)


class CellResult(BaseModel):
    """A cell judged: met when every item is, not met when none is even partly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area: Area
    level: int
    status: Status
    items: list[ItemResult]


class AreaResult(BaseModel):
    """An area judged: its cells and the level it reaches (0: not even level 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    area: Area
    level: int
    cells: list[CellResult]

    @property
    def next_missing(self) -> list[ItemResult]:
        """The items not met in the cell of the next level (empty at level 4)."""
        if self.level >= 4:
            return []
        return [r for r in self.cells[self.level].items if r.status is not Status.MET]


class Assessment(BaseModel):
    """The whole matrix judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: list[AreaResult]
    #: Nothing is stored yet: items about holdings were judged on what the policies require.
    empty: bool

    def area(self, area: Area) -> AreaResult:
        """The result of ``area``."""
        return next(a for a in self.areas if a.area is area)

    def item(self, key: str) -> ItemResult:
        """The result of the item ``key``."""
        for a in self.areas:
            for c in a.cells:
                for r in c.items:
                    if r.item.key == key:
                        return r
        raise KeyError(key)


def cell_status(items: Sequence[ItemResult]) -> Status:
    """A cell's status from its items': met if all are, partly if any is met or partly, else not met."""
    if all(r.status is Status.MET for r in items):
        return Status.MET
    if any(r.status in (Status.MET, Status.PARTLY) for r in items):
        return Status.PARTLY
    return Status.NOT_MET


def area_level(cells: Sequence[CellResult]) -> int:
    """The highest level whose cell is met with every cell below it."""
    level = 0
    for cell in sorted(cells, key=lambda c: c.level):
        if cell.status is not Status.MET:
            break
        level = cell.level
    return level


def assess(facts: NdsaFacts) -> Assessment:
    """Judge every item of :data:`MATRIX` from ``facts``.

    Args:
        facts: the configuration, policies and catalog figures.

    Returns:
        Every area with its cells, items and level.
    """
    judged = {key: judge(facts) for key, judge in _JUDGES.items()}
    missing = {i.key for i in MATRIX} - set(judged)
    assert not missing, f"no judge for {sorted(missing)}"  # a programming error, caught by the tests
    areas = []
    for area in Area:
        cells = []
        for level in LEVELS:
            results = [
                ItemResult(
                    item=i, status=judged[i.key][0], evidence=judged[i.key][1], missing=judged[i.key][2]
                )
                for i in MATRIX
                if i.area is area and i.level == level
            ]
            cells.append(CellResult(area=area, level=level, status=cell_status(results), items=results))
        areas.append(AreaResult(area=area, level=area_level(cells), cells=cells))
    return Assessment(areas=areas, empty=facts.catalog.versions == 0)


# --- How each item is judged -------------------------------------------------------------------

#: (status, evidence, missing)
Judgement = tuple[Status, str, str]


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names) if names else "none"


def _pct(part: int, whole: int) -> str:
    return "100%" if whole == 0 else f"{100 * part / whole:.4g}%"


def _declared(facts: NdsaFacts, holders: Sequence[str], field: str) -> list[str | None]:
    """The declared ``field`` (site, threat, media, kind) of each holder (None: not declared, or a
    location the configuration does not name)."""
    out: list[str | None] = []
    for name in holders:
        loc = facts.location(name) if name else None
        out.append(None if loc is None else getattr(loc, field))
    return out


def _holder_sets(facts: NdsaFacts) -> tuple[list[HolderSet], bool]:
    """The holder sets to judge, and whether they are hypothetical: with nothing stored, one AIP
    version held where the storage policy requires."""
    if facts.catalog.versions == 0:
        return [HolderSet(locations=tuple(sorted(facts.required)), versions=1)], True
    return facts.catalog.holder_sets, False


#: A predicate over one holder set: True (meets it), False (does not), None (a declaration needed
#: to tell is missing).
_Rule = Callable[[NdsaFacts, Sequence[str]], bool | None]


def _count_distinct(values: Sequence[str | None], at_least: int, copies: int, min_copies: int) -> bool | None:
    if copies < min_copies:
        return False
    if any(v is None for v in values):
        return None
    return len(set(values)) >= at_least


def _rule_sites(min_copies: int, sites: int) -> _Rule:
    def rule(facts: NdsaFacts, holders: Sequence[str]) -> bool | None:
        return _count_distinct(_declared(facts, holders, "site"), sites, len(holders), min_copies)

    return rule


def _rule_distinct(field: str, values: int, min_copies: int = 1) -> _Rule:
    def rule(facts: NdsaFacts, holders: Sequence[str]) -> bool | None:
        return _count_distinct(_declared(facts, holders, field), values, len(holders), min_copies)

    return rule


def _rule_each_threat(facts: NdsaFacts, holders: Sequence[str]) -> bool | None:
    """Three or more copies, each location under its own threat (at its own site)."""
    if len(holders) < 3:
        return False
    threats = _declared(facts, holders, "threat")
    sites = _declared(facts, holders, "site")
    if any(v is None for v in (*threats, *sites)):
        return None
    return len(set(threats)) == len(holders) and len(set(sites)) == len(holders)


def _rule_diversity(facts: NdsaFacts, holders: Sequence[str]) -> bool | None:
    each = _rule_each_threat(facts, holders)
    if each is False:
        return False
    media = _declared(facts, holders, "media")
    if each is None or any(m is None for m in media):
        return None
    return len(set(media)) >= 2 and len(set(_declared(facts, holders, "kind"))) >= 2


def _storage(facts: NdsaFacts, rule: _Rule, wanted: str, declare: tuple[str, ...]) -> Judgement:
    """Judge a storage item over every AIP version's holders: met when every version meets ``rule``."""
    sets, hypothetical = _holder_sets(facts)
    total = sum(h.versions for h in sets)
    ok = undeclared = 0
    short: list[str] = []
    unknown: set[str] = set()
    for h in sets:
        verdict = rule(facts, h.locations)
        if verdict:
            ok += h.versions
        elif verdict is None:
            undeclared += h.versions
            for name in h.locations:
                loc = facts.location(name) if name else None
                if loc is None or any(getattr(loc, x) is None for x in declare):
                    unknown.add(name or "(not configured)")
        else:
            short.append("+".join(h.locations) or "no location")
    declared = ", ".join(
        f"'{loc.name}' ({loc.site or 'site ?'}; {loc.threat or 'threat ?'}; {loc.media or 'media ?'})"
        for loc in facts.locations
        if loc.name in {n for h in sets for n in h.locations}
    )
    if hypothetical:
        evidence = (
            f"nothing stored yet; the storage policy {facts.storage_policy} requires copies at "
            f"{_names(facts.required)}: {declared or 'no location'}"
        )
    else:
        evidence = f"{ok} of {total} AIP versions have {wanted}; locations: {declared or 'none'}"
    if ok == total:
        return Status.MET, evidence, ""
    needs = []
    if undeclared:
        fields = " and ".join(f"`{x}`" for x in declare)
        needs.append(
            f"declare {fields} for {_names(sorted(unknown))} in the configuration ([locations.NAME])"
        )
    if total - ok - undeclared:
        needs.append(
            f"{total - ok - undeclared} AIP versions lack {wanted} (held at: "
            f"{', '.join(sorted(set(short)))}): add locations to the storage policy and run "
            "`oais storage replicate`"
        )
    missing = "; ".join(needs)
    if ok:
        return Status.PARTLY, evidence, missing
    return (Status.NOT_EVIDENCED if undeclared else Status.NOT_MET), evidence, missing


def _storage_copies_1(f: NdsaFacts) -> Judgement:
    return _storage(f, _rule_sites(2, 2), "two or more copies at two or more sites", ("site",))


def _storage_copies_2(f: NdsaFacts) -> Judgement:
    return _storage(f, _rule_sites(3, 2), "three or more copies at two or more sites", ("site",))


def _storage_threat_3(f: NdsaFacts) -> Judgement:
    return _storage(
        f, _rule_distinct("threat", 2, 2), "copies under two or more disaster threats", ("threat",)
    )


def _storage_media_3(f: NdsaFacts) -> Judgement:
    return _storage(f, _rule_distinct("media", 2, 2), "copies on two or more media", ("media",))


def _storage_threats_4(f: NdsaFacts) -> Judgement:
    return _storage(
        f,
        _rule_each_threat,
        "three or more copies, each at its own site under its own threat",
        ("site", "threat"),
    )


def _storage_diversity_4(f: NdsaFacts) -> Judgement:
    return _storage(
        f,
        _rule_diversity,
        "three or more copies at distinct sites and threats, on two or more media and kinds of storage",
        ("site", "threat", "media"),
    )


def _relevant_locations(f: NdsaFacts) -> list[LocationFacts]:
    """The configured locations that are required or hold copies."""
    held = {h.location for h in f.catalog.holdings if h.copies}
    return [loc for loc in f.locations if loc.required or loc.name in held]


def _documented(f: NdsaFacts, fields: Sequence[str], what: str) -> Judgement:
    locs = _relevant_locations(f)
    done = [loc for loc in locs if all(getattr(loc, x) for x in fields)]
    lacking = [loc.name for loc in locs if loc not in done]
    evidence = "; ".join(
        f"'{loc.name}': {loc.kind} at {loc.address}"
        + "".join(f", {x} {getattr(loc, x)}" for x in fields if getattr(loc, x))
        for loc in locs
    )
    evidence = f"{len(done)} of {len(locs)} locations documented ({what}): {evidence or 'none'}"
    if not lacking:
        return Status.MET, evidence, ""
    missing = f"declare {' and '.join(f'`{x}`' for x in fields)} for {_names(lacking)} in the configuration"
    return (Status.PARTLY if done else Status.NOT_EVIDENCED), evidence, missing


def _storage_media_1(f: NdsaFacts) -> Judgement:
    return _documented(f, ("media",), "kind, address and media")


def _storage_dependencies_2(f: NdsaFacts) -> Judgement:
    return _documented(f, ("site", "media"), "kind, address, site and media")


def _storage_stable_1(f: NdsaFacts) -> Judgement:
    c = f.catalog
    if c.versions == 0:
        return (
            Status.MET,
            f"nothing stored yet; the storage policy {f.storage_policy} requires a verified copy at "
            f"{_names(f.required)} before an ingest completes",
            "",
        )
    lacking = {name: c.versions - c.holding(name).copies for name in f.required}
    short = {n: k for n, k in lacking.items() if k > 0}
    evidence = f"{c.versions} AIP versions; verified copies at the required locations: " + ", ".join(
        f"'{n}' {c.holding(n).copies}" for n in f.required
    )
    if not short:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        "versions lacking a required copy: "
        + ", ".join(f"'{n}' {k}" for n, k in short.items())
        + ": run `oais storage replicate`",
    )


def _storage_obsolescence_3(f: NdsaFacts) -> Judgement:
    kinds = sorted({f"{loc.kind} ({loc.media or 'media not declared'})" for loc in _relevant_locations(f)})
    return (
        Status.NOT_EVIDENCED,
        f"storage in use: {', '.join(kinds) or 'none'}; oais keeps no record of the age or support of "
        "storage systems and media",
        "keep a register of each storage system and medium (age, end of support, replacement date) and "
        "review it; oais cannot evidence it",
    )


def _storage_plan_4(f: NdsaFacts) -> Judgement:
    replications = f.catalog.event_count("replication", outcome="success")
    evidence = f"{replications} verified replications (content copied to another location)"
    missing = (
        "a written plan for replacing storage hardware, software and media, kept and reviewed outside oais"
    )
    return (Status.PARTLY if replications else Status.NOT_EVIDENCED), evidence, missing


def _integrity_verify_1(f: NdsaFacts) -> Judgement:
    c = f.catalog
    ingests = c.event_count("ingestion")
    validations = c.event_count("validation")
    evidence = (
        f"{validations} validation events for {ingests} ingests; a submitted bag's every manifest is "
        "checked against the bytes (a SIP that fails is rejected)"
    )
    if validations >= ingests:
        return Status.MET, evidence, ""
    return Status.PARTLY, evidence, f"{ingests - validations} ingests have no validation event"


def _integrity_generate_1(f: NdsaFacts) -> Judgement:
    c = f.catalog
    evidence = (
        f"{c.files - c.files_without_record_digest} of {c.files} files have a digest of record "
        f"({f.record_algorithm}), computed at ingest in one read"
    )
    if c.files_without_record_digest == 0:
        return Status.MET, evidence, ""
    return Status.PARTLY, evidence, f"{c.files_without_record_digest} files have no digest of record"


def _integrity_virus_1(f: NdsaFacts) -> Judgement:
    return (
        Status.NOT_EVIDENCED,
        "oais runs no virus check",
        "virus-check SIPs before submission (quarantining what fails) and keep that record; oais cannot "
        "evidence it",
    )


def _integrity_moving_2(f: NdsaFacts) -> Judgement:
    c = f.catalog
    copies = sum(h.copies for h in c.holdings)
    unverified = sum(h.unverified for h in c.holdings)
    replications = c.event_count("replication")
    repairs = c.event_count("recovery")
    evidence = (
        f"{copies - unverified} of {copies} copies verified when written (read back or hashed on the "
        f"way); {replications} replications and {repairs} repairs, each re-read"
    )
    if unverified == 0:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        f"{unverified} copies not verified since a catalog rebuild: `oais audit run --all --deep`",
    )


def _integrity_write_blockers_2(f: NdsaFacts) -> Judgement:
    return (
        Status.PARTLY,
        "oais reads every SIP and never modifies or moves it",
        "write-block original media when a SIP is made from them (before oais sees it); oais cannot "
        "evidence it",
    )


def _integrity_backup_2(f: NdsaFacts) -> Judgement:
    c = f.catalog
    digests = c.files - c.files_without_record_digest
    evidence = (
        f"digests of {digests} files in the catalog ({f.catalog_place}) and in the manifests of every copy "
        f"at {_names([loc.name for loc in _relevant_locations(f)])}"
    )
    if f.catalog_apart and c.files_without_record_digest == 0:
        return Status.MET, evidence, ""
    if not f.catalog_apart:
        return (
            Status.PARTLY,
            evidence,
            "the catalog database is inside a location: keep it apart from the content",
        )
    return Status.PARTLY, evidence, f"{c.files_without_record_digest} files have no digest of record"


def _copies_unaudited(f: NdsaFacts) -> int:
    return sum(h.unaudited for h in f.catalog.holdings)


def _integrity_intervals_3(f: NdsaFacts) -> Judgement:
    if f.audit is None:
        return (
            Status.NOT_MET,
            "no audit policy",
            "an audit policy (policies/audit.toml) and `oais daemon` running",
        )
    c = f.catalog
    if c.versions == 0:
        return (
            Status.MET,
            f"nothing stored yet; the audit policy {f.audit.reference} requires every copy verified within "
            f"{f.audit.cycle_days:g} days (quick every {f.audit.quick_days:g}, deep every "
            f"{f.audit.deep_days:g})",
            "",
        )
    held = [cov for cov in f.coverage if cov.files or c.holding(cov.location).copies]
    shares = ", ".join(f"'{cov.location}' {_pct(cov.verified_files, cov.files)}" for cov in held)
    windows = c.fixity_windows
    empty = [w for w in windows if w.checks == 0]
    unaudited = _copies_unaudited(f)
    evidence = (
        f"cycle {f.audit.cycle_days:g} days ({f.audit.reference}); file copies verified within it: "
        f"{shares or 'none'}; copies never audited: {unaudited}; fixity checks in the "
        f"{len(windows)} quick-audit intervals ({f.audit.quick_days:g} days) since "
        f"{windows[0].start.date().isoformat() if windows else '-'}: "
        f"{', '.join(str(w.checks) for w in windows) or 'none'}"
    )
    covered = all(cov.verified_files == cov.files for cov in held) and unaudited == 0
    if covered and not empty:
        return Status.MET, evidence, ""
    needs = []
    if not covered:
        needs.append(
            "file copies not verified within the cycle: keep `oais daemon` running (see `oais audit status`)"
        )
    if empty:
        needs.append(
            f"{len(empty)} quick-audit intervals without any fixity check (the last from "
            f"{empty[-1].start.date().isoformat()}): is `oais daemon` running?"
        )
    verified_any = any(cov.verified_files for cov in held) or any(w.checks for w in windows)
    return (Status.PARTLY if verified_any else Status.NOT_MET), evidence, "; ".join(needs)


def _integrity_documented_3(f: NdsaFacts) -> Judgement:
    if f.audit is None:
        return Status.NOT_MET, "no audit policy", "an audit policy (policies/audit.toml)"
    checks = f.catalog.event_count("fixity check")
    failed = f.catalog.event_count("fixity check", outcome="failure")
    evidence = (
        f"audit policy {f.audit.reference} cited by every fixity event; {checks} fixity check events "
        f"({failed} failed), each with its outcome and detail"
    )
    if checks or f.catalog.versions == 0:
        return Status.MET, evidence, ""
    return Status.PARTLY, evidence, "no fixity check recorded yet: run `oais audit run` or `oais daemon`"


def _integrity_on_demand_3(f: NdsaFacts) -> Judgement:
    return (
        Status.MET,
        "`oais audit run --aip ID` and `oais storage verify ID` re-read any AIP's copies when asked; "
        f"{f.catalog.event_count('fixity check')} fixity checks recorded so far",
        "",
    )


def _integrity_events_4(f: NdsaFacts) -> Judgement:
    c = f.catalog
    return (
        Status.MET,
        f"verified at every ingest ({c.event_count('ingestion')}), every copy written, every replication "
        f"({c.event_count('replication')}), repair ({c.event_count('recovery')}), migration "
        f"({c.event_count('migration', 'normalization')}) and export",
        "",
    )


def _integrity_repair_4(f: NdsaFacts) -> Judgement:
    c = f.catalog
    if f.audit is None:
        return Status.NOT_MET, "no audit policy", "an audit policy with repair = true"
    evidence = (
        f"repair {'enabled' if f.audit.repair else 'disabled'} ({f.audit.reference}); "
        f"{len(f.required)} required locations; findings: {c.findings_detected} detected, "
        f"{c.findings_repaired} repaired, {c.findings_open} open "
        f"({c.findings_unrecoverable} with no good copy)"
    )
    if not f.audit.repair:
        return Status.NOT_MET, evidence, "set repair = true in the audit policy"
    if len(f.required) < 2:
        return Status.NOT_MET, evidence, "a second required location to repair from (storage policy)"
    if c.findings_open:
        return Status.PARTLY, evidence, f"{c.findings_open} findings open: see `oais audit status`"
    return Status.MET, evidence, ""


def _tokens(f: NdsaFacts) -> str:
    t = f.catalog.tokens
    return ", ".join(f"{n} {role}" for role, n in sorted(t.items())) or "none"


def _control_authorized_1(f: NdsaFacts) -> Judgement:
    evidence = f"roles producer, auditor and admin with their permissions; valid API tokens: {_tokens(f)}"
    if sum(f.catalog.tokens.values()):
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        "no API token: only the system accounts holding the catalog's and storage's credentials act "
        "(as administrators), and oais cannot tell who holds them; issue named tokens (`oais token add`)",
    )


def _control_applied_2(f: NdsaFacts) -> Judgement:
    c = f.catalog
    required = [f.location(n) for n in f.required]
    locked = [loc.name for loc in required if loc is not None and loc.object_lock]
    unlocked = [n for n in f.required if n not in locked]
    tokens = sum(c.tokens.values())
    evidence = (
        f"valid API tokens: {_tokens(f)}; requests refused: {c.access_refused} of {c.access_requests}; "
        "deaccession needs a second administrator's approval; Object Lock at "
        f"{_names(locked)} of {_names(list(f.required))} (retention {f.retention or 'none'})"
    )
    needs = []
    if not tokens:
        needs.append("issue named API tokens with their roles (`oais token add`)")
    if unlocked:
        needs.append(
            f"Object Lock at {_names(unlocked)} (a local directory cannot lock: deletion there is stopped "
            "only by file permissions)"
        )
    if f.retention is None:
        needs.append("a retention in the storage policy")
    if not needs:
        return Status.MET, evidence, ""
    return (Status.PARTLY if tokens or locked else Status.NOT_MET), evidence, "; ".join(needs)


def _control_logs_3(f: NdsaFacts) -> Judgement:
    c = f.catalog
    actions = sum(c.actions.values())
    evidence = (
        f"action log: {actions} entries ("
        + (", ".join(f"{k} {v}" for k, v in sorted(c.actions.items())) or "none")
        + f"); PREMIS agents: {', '.join(f'{v} {k}' for k, v in sorted(c.agents.items())) or 'none'}; "
        f"HTTP access log: {c.access_requests} requests"
    )
    if actions:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY if c.agents else Status.NOT_MET,
        evidence,
        "the action log is empty: no action has been recorded with the person who did it",
    )


def _control_review_4(f: NdsaFacts) -> Judgement:
    c = f.catalog
    period = f.audit.cycle_days if f.audit else 90
    evidence = (
        f"`oais report audit` made {c.audit_reports} times; in the last {period:g} days: "
        f"{c.audit_reports_last_period}, in the {period:g} days before: {c.audit_reports_period_before}"
    )
    if c.audit_reports_last_period and c.audit_reports_period_before:
        return Status.MET, evidence, ""
    missing = f"review the logs with `oais report audit` at least once every {period:g} days"
    return (Status.PARTLY if c.audit_reports else Status.NOT_MET), evidence, missing


def _metadata_inventory_1(f: NdsaFacts) -> Judgement:
    c = f.catalog
    copies = sum(h.copies for h in c.holdings)
    without = sum(h.versions for h in c.holder_sets if not h.locations)
    evidence = (
        f"catalog: {c.aips} AIPs, {c.versions} versions, {c.files} files, {copies} verified copies at "
        + (", ".join(f"'{h.location}' {h.copies}" for h in c.holdings) or "no location")
    )
    if without == 0:
        return Status.MET, evidence, ""
    return Status.PARTLY, evidence, f"{without} AIP versions have no copy recorded at any location"


def _metadata_backup_1(f: NdsaFacts) -> Judgement:
    segments = sum(h.segments for h in f.catalog.holdings)
    evidence = (
        f"catalog in {f.catalog_place}, {'apart from' if f.catalog_apart else 'inside'} the locations; "
        f"each copy carries its manifests and premis.xml; {segments} event log segments"
    )
    if f.catalog_apart:
        return Status.MET, evidence, ""
    return Status.PARTLY, evidence, "move the catalog database out of the locations' directories"


def _metadata_enough_2(f: NdsaFacts) -> Judgement:
    c = f.catalog
    evidence = (
        f"PREMIS, BagIt, producer and access status for every AIP; descriptive metadata for "
        f"{c.described_aips} of {c.aips} AIPs ({_pct(c.described_aips, c.aips)})"
    )
    if c.described_aips == c.aips:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        f"{c.aips - c.described_aips} AIPs have a title only: ingest them with `--metadata` "
        "(descriptive metadata)",
    )


def _metadata_standards_3(f: NdsaFacts) -> Judgement:
    return (
        Status.MET,
        "PREMIS 3 (schemas/premis-3.0.xsd), BagIt 1.0 (RFC 8493), PRONOM identifiers, descriptive "
        "metadata JSON Schema (schemas/)",
        "",
    )


def _metadata_gaps_3(f: NdsaFacts) -> Judgement:
    c = f.catalog
    undescribed = c.aips - c.described_aips
    unidentified = c.files - c.files_identified
    evidence = (
        f"gaps: {undescribed} AIPs without descriptive metadata, {unidentified} files without a "
        "PRONOM identifier"
    )
    if undescribed == 0 and unidentified == 0:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        "fill them: descriptive metadata for every AIP, and identification of every file's format",
    )


def _metadata_actions_4(f: NdsaFacts) -> Judgement:
    c = f.catalog
    logged = c.event_count(*LOGGED_EVENT_TYPES)
    without = [n for n in f.required if c.holding(n).segments == 0]
    total = sum(e.count for e in c.events)
    evidence = (
        f"{total} PREMIS events, each with its time and agents; {logged} after ingest, kept in the "
        "event log at "
        + (
            ", ".join(
                f"'{n}' ({c.holding(n).logged_events} in {c.holding(n).segments} segments)"
                for n in f.required
            )
        )
    )
    if logged == 0 or not without:
        return Status.MET, evidence, ""
    return (
        Status.PARTLY,
        evidence,
        f"no event log at {_names(without)}: `oais events verify` names the problem",
    )


def _metadata_implemented_4(f: NdsaFacts) -> Judgement:
    return (
        Status.MET,
        f"{f.catalog.versions} AIP versions, each a BagIt 1.0 bag with a premis.xml checked against the "
        "PREMIS 3 schema when written",
        "",
    )


def _content_formats_1(f: NdsaFacts) -> Judgement:
    c = f.catalog
    evidence = (
        f"{c.files_identified} of {c.files} files identified ({_pct(c.files_identified, c.files)}), each "
        f"with the tool and basis; {c.event_count('format identification')} format identification events"
    )
    if c.files_identified == c.files:
        return Status.MET, evidence, ""
    return (
        (Status.PARTLY if c.files_identified else Status.NOT_MET),
        evidence,
        f"{c.files - c.files_identified} files in formats no tool identified",
    )


def _content_verify_2(f: NdsaFacts) -> Judgement:
    c = f.catalog
    evidence = (
        f"{c.files_validated} of {c.files} files in formats validated at ingest (FITS); "
        f"{c.files_with_format_issues} files with format warnings; "
        f"{c.event_count('validation')} validation events"
    )
    if c.files_validated == c.files:
        return Status.MET, evidence, ""
    return (
        (Status.PARTLY if c.files_validated or c.event_count("validation") else Status.NOT_MET),
        evidence,
        f"{c.files - c.files_validated} files in formats oais identifies but does not validate",
    )


def _content_creators_2(f: NdsaFacts) -> Judgement:
    preferred = f.formats.files_by_status.get("preferred", 0)
    return (
        Status.NOT_EVIDENCED,
        f"{preferred} of {f.catalog.files} files ({_pct(preferred, f.catalog.files)}) were submitted in "
        "formats the format policy prefers",
        "work with producers on sustainable formats and keep that record; oais cannot evidence it",
    )


def _content_obsolescence_3(f: NdsaFacts) -> Judgement:
    p = f.formats
    if p.reference is None:
        return (
            Status.NOT_MET,
            "no format policy",
            "a format policy (policies/formats.toml) rating every format held",
        )
    c = f.catalog
    unidentified = c.files - c.files_identified
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(p.files_by_status.items())) or "none"
    evidence = (
        f"format policy {p.reference}; files by status: {by_status}; in formats it does not rate: "
        f"{p.files_unrated}; unidentified: {unidentified}"
    )
    if p.files_unrated == 0 and unidentified == 0:
        return Status.MET, evidence, ""
    needs = []
    if p.files_unrated:
        needs.append(f"rate {', '.join(p.unrated_formats[:10])} in the format policy")
    if unidentified:
        needs.append(f"{unidentified} unidentified files cannot be monitored")
    return Status.PARTLY, evidence, "; ".join(needs)


def _content_migrations_4(f: NdsaFacts) -> Judgement:
    p = f.formats
    if p.reference is None:
        return Status.NOT_MET, "no format policy", "a format policy with migration rules"
    c = f.catalog
    done = c.event_count("migration", "normalization", outcome="success")
    at_risk = p.files_by_status.get("at-risk", 0) + p.files_by_status.get("obsolete", 0)
    evidence = (
        f"{done} migrations and normalizations; {at_risk} files in formats at risk or obsolete, "
        f"{p.files_to_migrate} of them not migrated yet"
    )
    if p.files_to_migrate == 0:
        return Status.MET, evidence, ""
    return (
        (Status.PARTLY if done else Status.NOT_MET),
        evidence,
        f"migrate {p.files_to_migrate} files: `oais plan migrations`, then `oais migrate apply`",
    )


_JUDGES: dict[str, Callable[[NdsaFacts], Judgement]] = {
    "storage-1-copies": _storage_copies_1,
    "storage-1-media": _storage_media_1,
    "storage-1-stable": _storage_stable_1,
    "storage-2-copies": _storage_copies_2,
    "storage-2-dependencies": _storage_dependencies_2,
    "storage-3-threat": _storage_threat_3,
    "storage-3-media": _storage_media_3,
    "storage-3-obsolescence": _storage_obsolescence_3,
    "storage-4-threats": _storage_threats_4,
    "storage-4-diversity": _storage_diversity_4,
    "storage-4-plan": _storage_plan_4,
    "integrity-1-verify": _integrity_verify_1,
    "integrity-1-generate": _integrity_generate_1,
    "integrity-1-virus": _integrity_virus_1,
    "integrity-2-moving": _integrity_moving_2,
    "integrity-2-write-blockers": _integrity_write_blockers_2,
    "integrity-2-backup": _integrity_backup_2,
    "integrity-3-intervals": _integrity_intervals_3,
    "integrity-3-documented": _integrity_documented_3,
    "integrity-3-on-demand": _integrity_on_demand_3,
    "integrity-4-events": _integrity_events_4,
    "integrity-4-repair": _integrity_repair_4,
    "control-1-authorized": _control_authorized_1,
    "control-2-applied": _control_applied_2,
    "control-3-logs": _control_logs_3,
    "control-4-review": _control_review_4,
    "metadata-1-inventory": _metadata_inventory_1,
    "metadata-1-backup": _metadata_backup_1,
    "metadata-2-enough": _metadata_enough_2,
    "metadata-3-standards": _metadata_standards_3,
    "metadata-3-gaps": _metadata_gaps_3,
    "metadata-4-actions": _metadata_actions_4,
    "metadata-4-implemented": _metadata_implemented_4,
    "content-1-formats": _content_formats_1,
    "content-2-verify": _content_verify_2,
    "content-2-creators": _content_creators_2,
    "content-3-obsolescence": _content_obsolescence_3,
    "content-4-migrations": _content_migrations_4,
}
