"""Migration plans and their application: ``oais plan migrations`` and ``oais migrate apply``.

Planning reads the catalog only: one query over every AIP's newest version for the formats the
policy migrates (files already migrated in that version are left out), streamed into plan lines
and totals by format. Nothing runs and nothing is written but the plan file.

Applying a plan checks the whole plan first (every AIP, file, format, tool and output path) and
refuses it with every problem if any line is wrong: nothing is done. Then, AIP by AIP:

1. every file to migrate is read from storage into a private scratch area and checked against its
   digest of record;
2. the rule's tool runs there, with its timeout; its output is identified (it must be the rule's
   target format) and its significant properties are compared with the source's;
3. only if every file of the AIP passed, a new version is written: every file of the newest version
   (reused, listed in fetch.txt, not stored again) plus the migrated files beside their originals,
   with a PREMIS ``migration`` event per file whose outcome detail is the comparison, a derivation
   relationship from each output to its source, and the tool with its version as agent. The version
   is stored and verified at every required location, then committed to the catalog.

A failure of one AIP writes nothing for it and is reported with its reason; the next AIP goes on.
A file whose newest version already holds its migration is skipped, so applying the same plan
twice does nothing the second time.
"""

from __future__ import annotations

import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from oais.archival_storage.bag_writing import write_version_bag
from oais.archival_storage.layout import Fetched, version_prefix
from oais.archival_storage.service import ArchivalStorage
from oais.domain.errors import AipDeaccessioned, NotFound, PlanInvalid, StorageError, ToolError
from oais.domain.fixity import DigestAlgorithm, FixityMismatch
from oais.domain.formats import FormatPolicy, Rule
from oais.domain.issues import Issue, issue
from oais.domain.migration import (
    Candidate,
    Conversion,
    ConversionRecord,
    FormatTotal,
    MigrationPlan,
    PlannedAip,
    PlannedFile,
    derived_file,
    output_path,
    refusal,
)
from oais.domain.packages import AipRecord, AipVersion, FileEntry, payload_fingerprint
from oais.domain.ports import (
    BagCodec,
    Clock,
    FormatCatalog,
    FormatConverter,
    PremisCodec,
    ScratchSpace,
    UnitOfWorkFactory,
)
from oais.domain.premis import (
    Agent,
    AgentLink,
    AgentRole,
    Event,
    EventType,
    Outcome,
    archive_agent,
    new_event,
)

SHA256 = DigestAlgorithm.SHA256

# -- planning -----------------------------------------------------------------------------------


@dataclass
class PlanTotals:
    """Files, bytes and AIPs by source format, counted as the plan's lines are produced."""

    counts: dict[str, tuple[int, int, set[str]]] = field(default_factory=dict)

    def add(self, c: Candidate) -> None:
        """Count one planned file."""
        files, size, aips = self.counts.get(c.puid, (0, 0, set()))
        aips.add(c.aip_id)
        self.counts[c.puid] = (files + 1, size + c.size, aips)

    def lines(self, policy: FormatPolicy) -> list[FormatTotal]:
        """One total per source format, most bytes first."""
        return format_totals(policy, {p: (n, size, len(aips)) for p, (n, size, aips) in self.counts.items()})

    @property
    def files(self) -> int:
        """Files planned."""
        return sum(n for n, _, _ in self.counts.values())

    @property
    def aips(self) -> int:
        """AIPs with files planned."""
        return len(set().union(*(aips for _, _, aips in self.counts.values())))

    @property
    def bytes(self) -> int:
        """Bytes to process."""
        return sum(size for _, size, _ in self.counts.values())


def format_totals(policy: FormatPolicy, counts: Mapping[str, tuple[int, int, int]]) -> list[FormatTotal]:
    """The totals of a plan, most bytes first, from (files, bytes, AIPs) by source PUID: counted
    while a plan is written (:class:`PlanTotals`), or by the catalog for a dry run."""
    out = []
    for puid, (files, size, aips) in counts.items():
        rules = policy.formats[puid]
        rule = rules.preservation  # planned formats have one; the plan says nothing else
        out.append(
            FormatTotal(
                source_puid=puid,
                source_name=rules.name,
                action="migrate",
                tool=rule.tool if rule else "",
                target_puid=rule.target if rule else "",
                files=files,
                bytes=size,
                aips=aips,
            )
        )
    return sorted(out, key=lambda t: (-t.bytes, t.source_puid))


#: Planned files whose output names are checked against the catalog in one query.
_NAME_BATCH = 5_000

_Line = dict[str, object]


@dataclass
class _Group:
    """The candidates of one AIP, waiting for their output names to be checked."""

    aip_id: str
    version: int
    candidates: list[Candidate]


def planned_aips(policy: FormatPolicy, catalog: FormatCatalog, totals: PlanTotals) -> Iterator[_Line]:
    """The plan's AIPs as plain dicts (the shape of :class:`PlannedAip`), by AIP id, counting
    ``totals`` as they go.

    One catalog query finds the files, streamed (a plan may list a million files); the output
    names chosen are checked against the files the AIPs already hold, one query per few thousand.

    Raises:
        CatalogError: the catalog cannot be read.
    """
    rules = {puid: r.preservation for puid, r in policy.formats.items() if r.preservation is not None}
    names = {puid: r.name for puid, r in policy.formats.items()}
    batch: list[_Group] = []
    size = 0
    for c in catalog.candidates(rules):
        if not batch or batch[-1].aip_id != c.aip_id:
            if size >= _NAME_BATCH:
                yield from _name_outputs(batch, rules, names, catalog, totals)
                batch, size = [], 0
            batch.append(_Group(c.aip_id, c.version, []))
        batch[-1].candidates.append(c)
        size += 1
    yield from _name_outputs(batch, rules, names, catalog, totals)


def _name_outputs(
    batch: Sequence[_Group],
    rules: dict[str, Rule],
    names: dict[str, str],
    catalog: FormatCatalog,
    totals: PlanTotals,
) -> Iterator[_Line]:
    proposed = [_outputs(g.candidates, rules, set()) for g in batch]
    held = catalog.existing_paths(
        [(g.aip_id, g.version, out) for g, outputs in zip(batch, proposed, strict=True) for out in outputs]
    )
    for group, outputs in zip(batch, proposed, strict=True):
        clash = {o for o in outputs if (group.aip_id, group.version, o) in held}
        while clash:
            # Rare: the producer already used a name. Choose again, avoiding every name held.
            outputs = _outputs(group.candidates, rules, clash)
            again = catalog.existing_paths([(group.aip_id, group.version, o) for o in outputs])
            if not again:
                break
            clash |= {path for _, _, path in again}
        files = []
        for c, out in zip(group.candidates, outputs, strict=True):
            rule = rules[c.puid]
            totals.add(c)
            files.append(
                {
                    "path": c.path,
                    "sha256": c.sha256,
                    "bytes": c.size,
                    "source_puid": c.puid,
                    "source_name": names[c.puid],
                    "action": "migrate",
                    "tool": rule.tool,
                    "target_puid": rule.target,
                    "output": out,
                }
            )
        yield {"aip_id": group.aip_id, "version": group.version, "files": files}


def _outputs(candidates: Sequence[Candidate], rules: dict[str, Rule], avoid: set[str]) -> list[str]:
    taken = set(avoid) | {c.path for c in candidates}
    out = []
    for c in candidates:
        name = output_path(c.path, rules[c.puid].extension, taken)
        taken.add(name)
        out.append(name)
    return out


# -- applying -----------------------------------------------------------------------------------


class FileOutcome(BaseModel):
    """What became of one line of the plan."""

    path: str
    output: str
    status: str  # "migrated", "already migrated", "not done" (its AIP failed)
    detail: str = ""


class AipOutcome(BaseModel):
    """What became of one AIP of the plan."""

    aip_id: str
    status: str  # "migrated", "nothing to do", "failed"
    version: int  # the new version, or the newest one if nothing was written
    reason: str = ""
    files: list[FileOutcome] = []


class ApplyReport(BaseModel):
    """The outcome of ``oais migrate apply``, AIP by AIP."""

    policy: str
    aips: list[AipOutcome]

    @property
    def failed(self) -> list[AipOutcome]:
        """The AIPs for which nothing was written because a migration failed."""
        return [a for a in self.aips if a.status == "failed"]


class _Refused(Exception):
    """One AIP's migration cannot go on (the reason names the file)."""


@dataclass
class CheckedAip:
    """A planned AIP found consistent with the catalog: its newest version and the lines to do.

    The version's record is not kept (a plan may name thousands of AIPs): it is read again when
    the AIP's turn comes, and must still be the newest.
    """

    planned: PlannedAip
    version: int
    todo: list[tuple[PlannedFile, FileEntry, Rule]]
    done: list[tuple[PlannedFile, FileEntry]]


Progress = Callable[[str], None]


class MigrationService:
    """Applies reviewed migration plans (see the module docstring)."""

    def __init__(
        self,
        *,
        catalog: UnitOfWorkFactory,
        storage: ArchivalStorage,
        converter: FormatConverter,
        premis: PremisCodec,
        bag_codec: BagCodec,
        scratch: ScratchSpace,
        clock: Clock,
        software: Agent,
        archive_name: str,
        record_algorithm: DigestAlgorithm,
    ) -> None:
        """Wire the service to its ports (see ``oais.bootstrap``)."""
        self._catalog = catalog
        self._storage = storage
        self._converter = converter
        self._premis = premis
        self._codec = bag_codec
        self._scratch = scratch
        self._clock = clock
        self._software = software
        self._record = record_algorithm
        self._archive = archive_agent(archive_name)

    def check(self, plan: MigrationPlan, policy: FormatPolicy, source: str) -> list[CheckedAip]:
        """Check every line of ``plan`` against the catalog and ``policy``.

        Raises:
            PlanInvalid: with every problem found (nothing has been done).
            ToolError: a tool the plan's lines need is not installed (naming its Debian package).
            CatalogError: the catalog cannot be read.
        """
        found: list[Issue] = []
        if plan.policy != policy.reference:
            found.append(
                issue(
                    "PLAN-E002",
                    source,
                    f"the plan was made under format policy {plan.policy}, but {policy.reference} is in "
                    "force; make a new plan",
                )
            )
        checked = []
        seen_aips: set[str] = set()
        with self._catalog() as uow:
            for n, planned in enumerate(plan.aips, start=1):
                where = f"{source}: aips[{n}] {planned.aip_id}"
                if planned.aip_id in seen_aips:
                    found.append(issue("PLAN-E008", where, "the AIP is listed twice; list its files once"))
                    continue
                seen_aips.add(planned.aip_id)
                record = uow.aips.get(planned.aip_id)
                if record is None:
                    found.append(issue("PLAN-E003", where, "no such AIP in the catalog"))
                    continue
                result = _check_aip(planned, record, policy, where, found)
                if result is not None:
                    checked.append(result)
        if found:
            raise PlanInvalid(f"{source}: the plan cannot be applied ({len(found)} problems)", found)
        tools = {rule.tool for item in checked for _, _, rule in item.todo}
        if missing := self._converter.missing_tools(policy, tools):
            raise ToolError(f"format policy {policy.reference}: " + "; ".join(missing))
        return checked

    def apply(
        self, checked: Sequence[CheckedAip], policy: FormatPolicy, progress: Progress | None = None
    ) -> ApplyReport:
        """Migrate AIP by AIP (see the module docstring); a failure stops only its own AIP.

        Args:
            checked: the plan as :meth:`check` returned it.
            policy: the format policy in force (cited by every event).
            progress: told of each AIP as it starts.

        Returns:
            What became of each AIP.

        Raises:
            CatalogError: the catalog failed (the AIPs before it are done; a rerun goes on).
        """
        outcomes = []
        for item in checked:
            if progress is not None:
                progress(item.planned.aip_id)
            outcomes.append(self._apply_one(item, policy))
        return ApplyReport(policy=policy.reference, aips=outcomes)

    def _apply_one(self, item: CheckedAip, policy: FormatPolicy) -> AipOutcome:
        newest = item.version
        already = [
            FileOutcome(path=p.path, output=e.path, status="already migrated", detail=f"in version {newest}")
            for p, e in item.done
        ]
        if not item.todo:
            return AipOutcome(
                aip_id=item.planned.aip_id, status="nothing to do", version=newest, files=already
            )
        try:
            version, done = self._migrate(item, policy)
        except (_Refused, ToolError, StorageError, FixityMismatch, NotFound) as exc:
            not_done = [FileOutcome(path=p.path, output=p.output, status="not done") for p, _, _ in item.todo]
            return AipOutcome(
                aip_id=item.planned.aip_id,
                status="failed",
                version=newest,
                reason=str(exc),
                files=already + not_done,
            )
        return AipOutcome(
            aip_id=item.planned.aip_id, status="migrated", version=version, files=already + done
        )

    def _migrate(self, item: CheckedAip, policy: FormatPolicy) -> tuple[int, list[FileOutcome]]:
        aip_id, newest = item.planned.aip_id, item.version
        with self._catalog() as uow:
            record = uow.aips.get(aip_id)
        if record is None or record.version.version != newest:
            raise _Refused(f"AIP {aip_id}: its newest version changed while the plan was applied; plan again")
        try:
            self._storage.require_kept(aip_id)
        except AipDeaccessioned as exc:
            raise _Refused(str(exc)) from exc
        version = newest + 1
        if self._storage.holders(aip_id, version):
            raise _Refused(
                f"AIP {aip_id}: a location already holds a complete version {version} that the catalog "
                "does not know (an interrupted run); check it with `oais storage verify` before migrating"
            )
        with self._scratch.staging() as work, self._scratch.staging() as bag:
            sources = self._fetch_sources(record, [entry for _, entry, _ in item.todo], work.path)
            results: list[tuple[PlannedFile, FileEntry, Rule, Conversion, datetime]] = []
            for (planned, entry, rule), source in zip(item.todo, sources, strict=True):
                started = self._clock.now()
                out_dir = source.parent.parent / "output"
                out_dir.mkdir()
                output = out_dir / posixpath.basename(planned.output)
                conversion = self._converter.convert(
                    rule.tool, policy.tools[rule.tool], rule, source, planned.source_puid, output
                )
                _judge(planned, rule, conversion)
                target = bag.path / "data" / "objects" / planned.output
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(output, target)
                results.append((planned, entry, rule, conversion, started))
            now = self._clock.now()
            reused, fetched = _reused(record)
            made = [
                (entry, derived_file(planned.output, planned.path, c), rule, c, started)
                for planned, entry, rule, c, started in results
            ]
            files = reused + [output for _, output, _, _, _ in made]
            events, agents = self._events(aip_id, version, made, policy, now)
            write_version_bag(
                bag.path,
                aip=record.aip,
                version=version,
                files=files,
                events=events,
                agents=agents,
                premis=self._premis,
                codec=self._codec,
                record=self._record,
                software=self._software,
                now=now,
                fetched=fetched,
            )
            copies = self._storage.store_version(bag.path, aip_id, version, files, reused=fetched)
        stored = AipVersion(
            aip_id=aip_id,
            version=version,
            created=now,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=payload_fingerprint(files, self._record),
            location=version_prefix(aip_id, version).rstrip("/"),
        )
        with self._catalog() as uow:
            uow.aips.add(
                AipRecord(
                    aip=record.aip, version=stored, files=files, events=events, agents=agents, copies=copies
                )
            )
            uow.commit()
        return version, [
            FileOutcome(path=p.path, output=p.output, status="migrated", detail=c.detail())
            for p, _, _, c, _ in results
        ]

    def _fetch_sources(self, record: AipRecord, entries: Sequence[FileEntry], work: Path) -> list[Path]:
        dests = []
        for n, entry in enumerate(entries):
            directory = work / str(n) / "source"
            directory.mkdir(parents=True)
            dests.append(directory / posixpath.basename(entry.path))
        self._storage.fetch_files(record, list(zip(entries, dests, strict=True)))
        return dests

    def _events(
        self,
        aip_id: str,
        version: int,
        results: Sequence[tuple[FileEntry, FileEntry, Rule, Conversion, datetime]],
        policy: FormatPolicy,
        now: datetime,
    ) -> tuple[list[Event], list[Agent]]:
        ours = AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM)
        archive = AgentLink(agent=self._archive.identifier, role=AgentRole.IMPLEMENTER)
        representation = f"{aip_id}/v{version}"
        record = ConversionRecord(aip_id, version, self._software, policy.reference)
        for source, output, rule, c, started in results:
            record.kept(EventType.MIGRATION, started, source, output, rule, c)
        events = record.events
        events.append(
            new_event(
                EventType.ACCESSION,
                now,
                f"AIP {aip_id} version {version} accepted into archival storage",
                Outcome.SUCCESS,
                f"{len(results)} migrated files stored beside the originals, which version {version} "
                f"reuses from earlier versions (fetch.txt); stored at "
                f"{', '.join(self._storage.required)} (storage policy {self._storage.policy.reference}), "
                "each copy read back and verified",
                [ours, archive],
                (aip_id, representation),
                policy.reference,
            )
        )
        return events, [self._software, self._archive, *record.agents]


def _check_aip(
    planned: PlannedAip, record: AipRecord, policy: FormatPolicy, where: str, found: list[Issue]
) -> CheckedAip | None:
    by_path = {f.path: f for f in record.files}
    derived: dict[str, FileEntry] = {f.derived_from: f for f in record.files if f.derived_from is not None}
    newest = record.version.version
    outputs: set[str] = set()
    seen: set[str] = set()
    todo: list[tuple[PlannedFile, FileEntry, Rule]] = []
    done: list[tuple[PlannedFile, FileEntry]] = []
    before = len(found)
    for planned_file in planned.files:
        at = f"{where}: {planned_file.path}"
        if planned_file.path in seen:
            found.append(issue("PLAN-E008", at, "the file is listed twice"))
            continue
        seen.add(planned_file.path)
        rules = policy.formats.get(planned_file.source_puid)
        if rules is None or rules.preservation is None:
            why = "is not in" if rules is None else "has no preservation rule in"
            found.append(
                issue(
                    "PLAN-E004",
                    at,
                    f"source format {planned_file.source_puid} {why} policy {policy.reference}",
                )
            )
            continue
        rule = rules.preservation
        if (planned_file.tool, planned_file.target_puid) != (rule.tool, rule.target):
            found.append(
                issue(
                    "PLAN-E005",
                    at,
                    f"the plan says {planned_file.tool} to {planned_file.target_puid}, the policy "
                    f"{policy.reference} says {rule.tool} to {rule.target} for {planned_file.source_puid}",
                )
            )
            continue
        entry = by_path.get(planned_file.path)
        if entry is None:
            found.append(issue("PLAN-E006", at, f"no such file in AIP {record.aip.aip_id} version {newest}"))
            continue
        if entry.digests.get(SHA256) != planned_file.sha256 or entry.format.puid != planned_file.source_puid:
            found.append(
                issue(
                    "PLAN-E006",
                    at,
                    f"the catalog has it as {entry.format.puid} with sha256 {entry.digests.get(SHA256)}, "
                    f"not {planned_file.source_puid} with sha256 {planned_file.sha256}",
                )
            )
            continue
        if (made := derived.get(planned_file.path)) is not None:
            done.append((planned_file, made))
            continue
        bad = _bad_output(planned_file.output, by_path, outputs)
        if bad is not None:
            found.append(issue("PLAN-E007", at, f"output {planned_file.output!r}: {bad}"))
            continue
        outputs.add(planned_file.output)
        todo.append((planned_file, entry, rule))
    if len(found) > before:
        return None
    return CheckedAip(planned=planned, version=newest, todo=todo, done=done)


def _bad_output(output: str, held: dict[str, FileEntry], planned: set[str]) -> str | None:
    parts = output.split("/")
    if output.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return "must be a relative path without '.', '..' or empty parts"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in output):
        return "contains a control character"
    if output in held:
        return "a file of the AIP already has this path; choose another output in the plan"
    if output in planned:
        return "another line of the plan writes the same output"
    return None


def _judge(planned: PlannedFile, rule: Rule, c: Conversion) -> None:
    if (why := refusal(c, rule)) is not None:
        raise _Refused(f"{planned.path}: {why}; nothing was stored")


def _reused(record: AipRecord) -> tuple[list[FileEntry], list[Fetched]]:
    """Every file of the newest version, as the next version reuses it (listed in fetch.txt)."""
    newest = record.version.version
    files, fetched = [], []
    for f in record.files:
        stored = f.stored_version or newest
        files.append(f.model_copy(update={"stored_version": stored}))
        fetched.append(
            Fetched(
                bag_path=f.bag_path,
                size=f.size,
                aip_id=record.aip.aip_id,
                version=stored,
                source_path=f.bag_path,
            )
        )
    return files, fetched
