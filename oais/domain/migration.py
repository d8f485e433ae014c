"""Migration plans and what a conversion proves: the models behind ``oais plan migrations`` and
``oais migrate apply``.

A plan is a file an archivist reviews, edits (drops lines) and approves before anything runs. It
lists, per AIP and file, the source format, the action, the tool, the target format and the bytes to
process, with totals by format for the review. The totals describe the plan as it was written;
applying an edited plan uses only its lines.

A conversion proves itself by comparing significant properties of the source and the output
(:class:`PropertyCheck`): an output whose properties differ is never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from oais.domain.fixity import DigestAlgorithm
from oais.domain.formats import Rule
from oais.domain.packages import FileEntry, FormatFacts
from oais.domain.premis import Agent, AgentLink, AgentRole, AgentType, Event, EventType, Outcome, new_event

#: What the first line of a plan file says it is, and the version of its layout.
PLAN_KIND = "oais migration plan"
PLAN_FORMAT = 1


class Candidate(NamedTuple):
    """A file of an AIP's newest version in a format to migrate, not migrated in that version yet.

    A plain tuple: a plan over a million files is built from a million of these.
    """

    aip_id: str
    version: int
    path: str
    size: int
    sha256: str
    puid: str


class PlannedFile(BaseModel):
    """One file to migrate: where it is, what it is, what it becomes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1)  # the file's path in the AIP (its original path)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # its digest of record, checked before it is read
    bytes: int = Field(ge=0)
    source_puid: str = Field(min_length=1)
    source_name: str = ""
    action: str = "migrate"
    tool: str = Field(min_length=1)
    target_puid: str = Field(min_length=1)
    #: The path the migrated file will have in the new version (beside the original).
    output: str = Field(min_length=1)


class PlannedAip(BaseModel):
    """The files of one AIP to migrate, as found in its newest version when the plan was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aip_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    files: list[PlannedFile] = Field(min_length=1)


class FormatTotal(BaseModel):
    """What the plan does to one source format (for the review)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_puid: str
    source_name: str
    action: str
    tool: str
    target_puid: str
    files: int
    bytes: int
    aips: int


class MigrationPlan(BaseModel):
    """A reviewable migration plan (``plan.json``)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default=PLAN_KIND, pattern=f"^{PLAN_KIND}$")
    format: int = Field(default=PLAN_FORMAT, ge=PLAN_FORMAT, le=PLAN_FORMAT)
    created: datetime
    #: The format policy the plan applies ("id@version"); applying it under another policy is refused.
    policy: str
    purpose: str = "preservation"
    files: int = 0
    bytes: int = 0
    totals: list[FormatTotal] = []
    aips: list[PlannedAip] = []


class PropertyCheck(BaseModel):
    """One significant property of a source and of its conversion."""

    model_config = ConfigDict(frozen=True)

    name: str  # "width", "height", "channels", "bit depth", "pixels", "pages", "header keywords"…
    source: str
    output: str
    #: Whether the output keeps the property (for "pixels": the two images are equal pixel by pixel).
    kept: bool

    def __str__(self) -> str:
        verdict = "kept" if self.kept else "DIFFERS"
        if self.source == self.output:
            return f"{self.name} {self.source} ({verdict})"
        return f"{self.name} {self.source} -> {self.output} ({verdict})"


class Conversion(BaseModel):
    """What running one rule on one file produced, before the archive decides to keep it."""

    model_config = ConfigDict(frozen=True)

    tool: str  # the policy's tool name
    tool_version: str  # as the tool reports it ("GPL Ghostscript 10.00.0", "Pillow 11.1.0")
    command: list[str]  # the command line that ran (paths as in the scratch area)
    output_puid: str | None  # the output as identified (it must be the rule's target)
    output_name: str
    checks: list[PropertyCheck]
    #: The output's format as identified, its size and digests (sha256 and xxh3_128), from the same
    #: read of its bytes.
    output_format: FormatFacts | None = None
    output_size: int = 0
    output_digests: dict[DigestAlgorithm, str] = {}

    @property
    def kept(self) -> bool:
        """True if every significant property compared was kept."""
        return all(c.kept for c in self.checks)

    def detail(self) -> str:
        """The comparison in one line, for a PREMIS outcome detail."""
        return "; ".join(str(c) for c in self.checks) or "no significant property compared"


def output_path(path: str, extension: str, taken: set[str]) -> str:
    """Where a migrated file goes: beside its source, with the target's extension (``maps/a.bmp``
    -> ``maps/a.png``); ``maps/a.bmp.png`` if that name is taken, then ``maps/a-2.png``…"""
    directory, slash, name = path.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    base = f"{directory}{slash}{stem}"
    for candidate in (f"{base}.{extension}", f"{path}.{extension}"):
        if candidate != path and candidate not in taken:
            return candidate
    n = 2
    while f"{base}-{n}.{extension}" in taken:
        n += 1
    return f"{base}-{n}.{extension}"


def refusal(conversion: Conversion, rule: Rule) -> str | None:
    """Why an output cannot be kept (it is not the rule's target, or it loses a significant
    property), or None if it can."""
    if conversion.output_puid != rule.target or conversion.output_format is None:
        found = conversion.output_puid or "an unidentified file"
        return f"{rule.tool} produced {found} ({conversion.output_name}), not the target {rule.target}"
    if not conversion.kept:
        return (
            f"the {rule.target} output does not keep the significant properties of the source: "
            f"{conversion.detail()}"
        )
    return None


def derived_file(path: str, source: str, conversion: Conversion) -> FileEntry:
    """The catalog entry of an output kept at ``path``, made from the file at ``source``.

    Raises:
        ValueError: the output was not identified (see :func:`refusal`).
    """
    if conversion.output_format is None:
        raise ValueError(f"{path}: the output of {source} was not identified")
    return FileEntry(
        path=path,
        size=conversion.output_size,
        digests=dict(conversion.output_digests),
        format=conversion.output_format,
        derived_from=source,
    )


class ConversionRecord:
    """PREMIS events and agents of conversions (migration or normalisation) in one AIP version.

    Tools and identification tools become agents once each, whatever the number of files.
    """

    def __init__(self, aip_id: str, version: int, software: Agent, policy: str) -> None:
        """Record conversions of AIP ``aip_id`` version ``version`` by ``software`` under ``policy``."""
        self._objects = (aip_id, f"{aip_id}/v{version}")
        self._ours = AgentLink(agent=software.identifier, role=AgentRole.EXECUTING_PROGRAM)
        self._policy = policy
        self._agents: dict[str, Agent] = {}
        self.events: list[Event] = []

    @property
    def agents(self) -> list[Agent]:
        """Every tool the events name, in order of first use."""
        return list(self._agents.values())

    def _agent(self, agent: Agent, role: AgentRole) -> AgentLink:
        self._agents.setdefault(agent.identifier, agent)
        return AgentLink(agent=agent.identifier, role=role)

    def kept(
        self,
        type_: EventType,
        when: datetime,
        source: FileEntry,
        output: FileEntry,
        rule: Rule,
        c: Conversion,
    ) -> None:
        """A conversion whose output was kept."""
        tool = Agent(
            identifier=f"software:{rule.tool} {c.tool_version}",
            name=rule.tool,
            type=AgentType.SOFTWARE,
            version=c.tool_version,
            note="format conversion tool",
        )
        links = [self._ours, self._agent(tool, AgentRole.EXECUTING_PROGRAM)]
        if c.output_format is not None and c.output_format.tool not in ("", "none"):
            identification = Agent(
                identifier=f"software:{c.output_format.tool}",
                name=c.output_format.tool,
                type=AgentType.SOFTWARE,
                note="format identification and validation",
            )
            links.append(self._agent(identification, AgentRole.VALIDATOR))
        verb = "migrated" if type_ is EventType.MIGRATION else "normalised"
        self.events.append(
            new_event(
                type_,
                when,
                f"{source.bag_path} ({source.format.puid} {source.format.name}) {verb} to {output.bag_path} "
                f"({rule.target}) with {rule.tool} {c.tool_version}: {rule.tool} {' '.join(rule.args)}",
                Outcome.SUCCESS,
                f"output identified as {c.output_puid} ({c.output_name}); significant properties: "
                f"{c.detail()}",
                links,
                (*self._objects, source.bag_path, output.bag_path),
                self._policy,
            )
        )

    def failed(self, type_: EventType, when: datetime, source: FileEntry, rule: Rule, why: str) -> None:
        """A conversion whose output was not kept (or that produced none)."""
        self.events.append(
            new_event(
                type_,
                when,
                f"{source.bag_path} ({source.format.puid} {source.format.name}) to {rule.target} with "
                f"{rule.tool}: {rule.tool} {' '.join(rule.args)}",
                Outcome.FAILURE,
                f"{why}; nothing was kept, the original stays",
                [self._ours],
                (*self._objects, source.bag_path),
                self._policy,
            )
        )
