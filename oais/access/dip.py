"""DIP generation: one AIP version's selected files, as a BagIt bag of their own, for a person or a
portal (see docs/access.md).

A DIP is made file by file: each file is read from storage (checked against its digest of record),
turned into its access derivative where the purpose and the format policy ask for one, and streamed
into the destination, hashed on the way; then the metadata and the tag files. Memory stays bounded
whatever the AIP's size; scratch space holds one file (and its derivative) at a time.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from oais.access.metadata import datacite, dublin_core, matches, readme
from oais.archival_storage.service import ArchivalStorage
from oais.domain.descriptive import AccessStatus
from oais.domain.dip import DipFile, DipPurpose, DipRequest, DipResult, Granule, Portal
from oais.domain.epntap import granule_table
from oais.domain.errors import AccessDenied, AipNotFound, NotFound, StorageError, ToolError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.formats import FormatPolicy, Rule
from oais.domain.migration import refusal
from oais.domain.packages import AipRecord, FileEntry
from oais.domain.policy import AccessPolicy
from oais.domain.ports import (
    BagCodec,
    Clock,
    DipSink,
    FormatConverter,
    GranuleTableWriter,
    PremisCodec,
    ScratchSpace,
    UnitOfWorkFactory,
)
from oais.domain.premis import (
    Agent,
    AgentLink,
    AgentRole,
    AgentType,
    Event,
    EventType,
    LoggedEvent,
    Outcome,
    new_event,
)

SHA256 = DigestAlgorithm.SHA256
README = "README.txt"
METADATA = "metadata"


class _Item:
    """One file of the DIP being made: the AIP file it comes from and, if any, the rule that makes
    its access derivative."""

    __slots__ = ("entry", "path", "rule")

    def __init__(self, entry: FileEntry, path: str, rule: Rule | None) -> None:
        self.entry = entry
        self.path = path
        self.rule = rule


class DipService:
    """Makes DIPs and records each one as a PREMIS ``dissemination`` event."""

    def __init__(
        self,
        *,
        catalog: UnitOfWorkFactory,
        storage: ArchivalStorage,
        scratch: ScratchSpace,
        clock: Clock,
        software: Agent,
        policy: AccessPolicy,
        formats: FormatPolicy | None,
        converter: Callable[[], FormatConverter],
        table: GranuleTableWriter,
        premis: PremisCodec,
        bag_codec: BagCodec,
        archive_name: str,
    ) -> None:
        self._catalog = catalog
        self._storage = storage
        self._scratch = scratch
        self._clock = clock
        self._software = software
        self._policy = policy
        self._formats = formats
        self._converter = converter
        self._table = table
        self._premis = premis
        self._bag_codec = bag_codec
        self._archive = archive_name

    def generate(self, request: DipRequest, sink: DipSink, base_url: str | None = None) -> DipResult:
        """Write the DIP ``request`` asks for into ``sink`` and record its dissemination.

        Args:
            request: the AIP, version, files, purpose, portal table, who asks, any override.
            sink: where the DIP goes; checked writable before any work.
            base_url: the URL the portal will serve the DIP's root from (EPN-TAP access_url);
                None leaves access_url empty.

        Returns:
            What was written.

        Raises:
            AipNotFound: no such AIP or version.
            NotFound: the glob matches no file of the version.
            AccessDenied: the AIP is under embargo or restricted and no override was given.
            ConflictError: the destination exists.
            StorageError: the destination cannot be written, or no location could supply a file.
            ToolError: an access rule's tool is missing or failed.
        """
        record = self._record(request.aip_id, request.version)
        aip, version = record.aip, record.version.version
        now = self._clock.now()
        refused = aip.descriptive.access.refusal(now.date())
        if refused is not None and request.override is None:
            raise AccessDenied(
                f"AIP {aip.aip_id}: {refused}; a DIP needs an authorised override (the admin role, "
                "with a reason)"
            )
        items = self._select(record, request)
        rules = {i.rule.tool for i in items if i.rule is not None}
        converter = self._converter() if rules else None
        policy = self._formats
        if (
            converter is not None
            and policy is not None
            and (missing := converter.missing_tools(policy, rules))
        ):
            raise ToolError(f"format policy {policy.reference} (access rules): " + "; ".join(missing))
        sink.check()
        dip_id = f"urn:uuid:{uuid.uuid4()}"
        try:
            with self._scratch.staging() as work:
                headers: dict[str, dict[str, str | int | float | bool]] | None = (
                    {} if request.portal is Portal.EPNTAP else None
                )
                files, digests = self._payload(record, items, sink, work.path, converter, headers)
                event, agents = self._event(record, request, files, dip_id, sink.destination, now, refused)
                tags = work.path / "tags"
                notes = self._metadata(
                    tags, record, request, files, now, dip_id, event, agents, headers, base_url
                )
                payload = [(f"data/{f.path}", f.size, digests[f.path]) for f in files]
                self._bag_codec.write_tags(tags, payload, self._bag_info(record, dip_id, request, now))
                for path in sorted(p for p in tags.rglob("*") if p.is_file()):
                    sink.add(path.relative_to(tags).as_posix(), path, self._policy.manifest_algorithms)
            sink.commit()
        except BaseException:
            sink.abort()
            raise
        self._storage.record_events([LoggedEvent(aip.aip_id, version, event)], agents)
        return DipResult(
            dip_id=dip_id,
            aip_id=aip.aip_id,
            version=version,
            purpose=request.purpose,
            portal=request.portal,
            destination=sink.destination,
            files=tuple(files),
            bytes=sum(f.size for f in files),
            created=now,
            event=event.identifier,
            notes=tuple(notes),
            override=request.override if refused is not None else None,
        )

    def _record(self, aip_id: str, version: int | None) -> AipRecord:
        self._storage.require_kept(aip_id)  # a deaccessioned AIP: say so, not "file missing"
        with self._catalog() as uow:
            record = uow.aips.get(aip_id, version)
            if record is None:
                latest = uow.aips.get(aip_id) if version is not None else None
                if latest is not None:
                    raise AipNotFound(
                        f"AIP {aip_id} has no version {version} "
                        f"(its versions are 1 to {latest.version.version})"
                    )
                raise AipNotFound(f"AIP {aip_id} is not in the catalog")
        return record

    def _select(self, record: AipRecord, request: DipRequest) -> list[_Item]:
        """The files of the DIP, in the AIP's order.

        Raises:
            NotFound: the glob matches nothing.
        """
        # A submitted bag's own tag files (kept under data/metadata/submission/) are packaging, not
        # content: DIPs carry the payload.
        content = [f for f in record.files if f.stored_path is None]
        items: list[_Item] = []
        if request.purpose is DipPurpose.ORIGINAL:
            items = [_Item(f, f.path, None) for f in content if f.derived_from is None]
        else:
            newest: dict[str, FileEntry] = {}
            for f in content:
                if f.derived_from is not None:
                    newest[f.derived_from] = f  # the later one wins (files are in version order)
            for f in content:
                if f.derived_from is not None:
                    continue
                use = newest.get(f.path, f)
                rule = self._access_rule(use)
                path = use.path
                if rule is not None:
                    stem = posixpath.splitext(path)[0] if "." in posixpath.basename(path) else path
                    path = f"{stem}.{rule.extension}"
                items.append(_Item(use, path, rule))
        chosen = [i for i in items if matches(request.files, i.entry.path, i.path)]
        if not chosen:
            what = f"no file matches '{request.files}'" if request.files else "no file to disseminate"
            sample = ", ".join(i.entry.path for i in items[:5])
            raise NotFound(
                f"AIP {record.aip.aip_id} version {record.version.version}: {what}"
                + (f" (it holds {len(items)}: {sample}{', ...' if len(items) > 5 else ''})" if items else "")
            )
        taken: set[str] = set()
        for i in chosen:
            # Two files may meet at one name (a.fits and a.fit previews): keep both.
            if i.path in taken:
                i.path = f"{i.entry.path}.{i.rule.extension}" if i.rule is not None else i.path
            taken.add(i.path)
        return chosen

    def _access_rule(self, f: FileEntry) -> Rule | None:
        if self._formats is None or f.format.puid is None:
            return None
        rules = self._formats.formats.get(f.format.puid)
        return rules.access if rules is not None else None

    def _payload(
        self,
        record: AipRecord,
        items: Sequence[_Item],
        sink: DipSink,
        work: Path,
        converter: FormatConverter | None,
        headers: dict[str, dict[str, str | int | float | bool]] | None,
    ) -> tuple[list[DipFile], dict[str, dict[DigestAlgorithm, str]]]:
        """Stream every file into the sink (its access derivative where it has a rule).

        Returns:
            The DIP's files and their digests (by DIP path); ``headers`` gets each file's FITS
            header facts when a portal table is wanted.
        """
        algorithms = self._policy.manifest_algorithms
        out: list[DipFile] = []
        all_digests: dict[str, dict[DigestAlgorithm, str]] = {}
        for n, item in enumerate(items):
            f = item.entry
            name = f"data/{item.path}"
            # A file going into the DIP as it is stored is fetched straight to its place where the
            # sink has one (a folder): no scratch copy.
            placed = sink.place(name) if item.rule is None else None
            source = placed or work / f"{n}" / "source" / posixpath.basename(f.path)
            source.parent.mkdir(parents=True, exist_ok=True)
            self._storage.fetch_files(record, [(f, source)])
            if headers is not None:
                headers[item.path] = self._table.header(source, f.format.puid)
            local, puid, mime, tool = source, f.format.puid, f.format.mime_type, None
            if item.rule is not None:
                local, puid, mime = self._derive(item, source, work / f"{n}" / "output", converter)
                tool = item.rule.tool
            size = local.stat().st_size
            digests = sink.adopt(name, algorithms) if placed else sink.add(name, local, algorithms)
            if tool is None and digests[SHA256] != f.digests[SHA256]:
                raise StorageError(
                    f"{sink.destination}: {name}: the bytes written differ from the digest of record"
                )
            all_digests[item.path] = digests
            out.append(
                DipFile(
                    path=item.path,
                    size=size,
                    sha256=digests[SHA256],
                    puid=puid,
                    mime_type=mime,
                    source=f.path,
                    derivative_of=tool,
                )
            )
            if not placed:
                source.unlink()
            if local != source:
                local.unlink()
        return out, all_digests

    def _derive(
        self, item: _Item, source: Path, out_dir: Path, converter: FormatConverter | None
    ) -> tuple[Path, str | None, str]:
        rule = item.rule
        assert rule is not None and converter is not None and self._formats is not None
        out_dir.mkdir(parents=True)
        output = out_dir / posixpath.basename(item.path)
        c = converter.convert(
            rule.tool, self._formats.tools[rule.tool], rule, source, item.entry.format.puid or "", output
        )
        if (why := refusal(c, rule)) is not None:
            raise ToolError(f"{item.entry.path}: no access copy could be made: {why}")
        fmt = c.output_format
        assert fmt is not None
        return output, fmt.puid, fmt.mime_type

    def _event(
        self,
        record: AipRecord,
        request: DipRequest,
        files: Sequence[DipFile],
        dip_id: str,
        destination: str,
        now: datetime,
        refused: str | None,
    ) -> tuple[Event, list[Agent]]:
        """The dissemination event and the agents it names besides this software."""
        aip_id, version = record.aip.aip_id, record.version.version
        requester = Agent(
            identifier=f"person:{request.requester}", name=request.requester, type=AgentType.PERSON
        )
        links = [
            AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM),
            AgentLink(agent=requester.identifier, role=AgentRole.IMPLEMENTER),
        ]
        agents = [requester]
        detail = [f"made for {request.requester}"]
        if refused is not None and request.override is not None:
            o = request.override
            authoriser = Agent(identifier=f"person:{o.by}", name=o.by, type=AgentType.PERSON)
            if authoriser.identifier != requester.identifier:
                agents.append(authoriser)
            links.append(AgentLink(agent=authoriser.identifier, role=AgentRole.AUTHORIZER))
            detail.append(f"{refused}: overridden by {o.by}, reason: {o.reason}")
        derived = sum(1 for f in files if f.derivative_of is not None)
        if derived:
            detail.append(f"{derived} access derivatives made by the format policy's access rules")
        if request.files:
            detail.append(f"files matching '{request.files}'")
        if request.portal is not None:
            detail.append(f"with the {request.portal.value} granule table")
        size = sum(f.size for f in files)
        event = new_event(
            EventType.DISSEMINATION,
            now,
            f"DIP {dip_id} ({request.purpose.value}): {len(files)} files, {size} bytes, to {destination}",
            Outcome.SUCCESS,
            "; ".join(detail),
            links,
            [aip_id, f"{aip_id}/v{version}"],
            self._policy.reference,
        )
        return event, agents

    def _metadata(
        self,
        tags: Path,
        record: AipRecord,
        request: DipRequest,
        files: Sequence[DipFile],
        now: datetime,
        dip_id: str,
        event: Event,
        agents: Sequence[Agent],
        headers: dict[str, dict[str, str | int | float | bool]] | None,
        base_url: str | None,
    ) -> list[str]:
        """Write README.txt and metadata/ (Dublin Core, DataCite, PREMIS, the portal table) in ``tags``."""
        aip, version = record.aip, record.version.version
        meta_dir = tags / METADATA
        meta_dir.mkdir(parents=True)
        (tags / README).write_text(
            readme(aip, version, request.purpose, files, now, dip_id, self._archive, headers is not None),
            encoding="utf-8",
            newline="\n",
        )
        (meta_dir / "dublin-core.xml").write_bytes(dublin_core(aip, version, files))
        record_json = datacite(aip, version, files, self._archive)
        (meta_dir / "datacite.json").write_text(
            json.dumps(record_json, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
        )
        self._provenance(meta_dir / "premis.xml", record, files, event, agents)
        if headers is not None:
            granules = [
                Granule(
                    file=f,
                    access_url=f"{base_url.rstrip('/')}/data/{f.path}" if base_url else None,
                    header=headers.get(f.path, {}),
                    created=aip.created,
                    modified=record.version.created,
                    released=_released(record),
                )
                for f in files
            ]
            table = granule_table(
                aip.aip_id,
                version,
                aip.descriptive,
                granules,
                self._policy.epntap.service_title,
                self._policy.epntap.publisher,
            )
            self._table.write(table.rows, meta_dir / "epntap.csv", meta_dir / "epntap.xml")
            notes = [f"EPN-TAP: {w}" for w in table.summary]
            if table.left_out:
                notes.append(f"EPN-TAP: not data products, not in the table: {', '.join(table.left_out)}")
            return notes
        return []

    def _provenance(
        self, path: Path, record: AipRecord, files: Sequence[DipFile], event: Event, agents: Sequence[Agent]
    ) -> None:
        """premis.xml of the DIP: the AIP files included (with their paths in the AIP), the events
        that concern them or the AIP as a whole, the dissemination, and their agents."""
        aip, version = record.aip, record.version.version
        by_path = {f.path: f for f in record.files}
        sources = [by_path[p] for p in dict.fromkeys(f.source for f in files)]
        wanted = {aip.aip_id, f"{aip.aip_id}/v{version}", *(f.bag_path for f in sources)}
        events = [e for e in record.events if not e.objects or wanted.intersection(e.objects)]
        events.append(event)
        named = {link.agent for e in events for link in e.agents}
        known = {a.identifier: a for a in [*record.agents, self._software, *agents]}
        with self._premis.writer(path, aip, version, f"{aip.aip_id}/v{version}") as doc:
            for f in sources:
                doc.add_file(f)
            doc.add_events(events)
            doc.add_agents(known[a] for a in named if a in known)

    def _bag_info(
        self, record: AipRecord, dip_id: str, request: DipRequest, now: datetime
    ) -> list[tuple[str, str]]:
        aip = record.aip
        return [
            ("Source-Organization", self._archive),
            ("External-Identifier", dip_id),
            ("External-Description", aip.descriptive.title),
            ("Internal-Sender-Identifier", f"{aip.aip_id}/v{record.version.version}"),
            (
                "Internal-Sender-Description",
                f"DIP ({request.purpose.value}) of an AIP submitted by {aip.producer}",
            ),
            ("Bagging-Date", now.date().isoformat()),
            ("Bag-Software-Agent", f"{self._software.name} {self._software.version or ''}".strip()),
        ]


def _released(record: AipRecord) -> date:
    """The day the content is (or was) released: the embargo's end, else the day it was archived."""
    access = record.aip.descriptive.access
    if access.status is AccessStatus.EMBARGOED and access.embargo_until is not None:
        return access.embargo_until
    return record.aip.created.date()
