"""Ingest: receive a SIP, check it, generate an AIP, hand it to archival storage and the catalog.

The order protects promise 1 ("nothing lost", no half-written AIP ever visible):

1. check the request (producer, title, descriptive metadata), list the SIP and run quality
   assurance on the names (nothing is read or written yet);
2. copy every file once into a private staging bag, computing every digest and identifying its
   format in the same pass (a submitted bag's declared digests are checked here too);
3. write ``premis.xml`` (with PREMIS rights when descriptive metadata was given), ``descriptive.json``
   (the same metadata, whole) and the BagIt tag files, verify the staged copies against the digests
   computed from the SIP;
4. write the bag to every location the storage policy names, read every copy back and compare it
   with the digests of record (``bagit.txt`` last: a version without it is incomplete), then commit
   the catalog rows. Only then is the AIP visible.

A crash at any point leaves either nothing, a staging directory that the next run removes, an
incomplete version that the next run of the same ingest completes, or complete copies that the next
run verifies, completes at the other locations and indexes. The SIP is only ever read.
"""

from __future__ import annotations

import posixpath
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from oais.archival_storage.bag_writing import write_version_bag
from oais.archival_storage.layout import version_prefix
from oais.archival_storage.service import ArchivalStorage
from oais.domain.bag import BagStructure
from oais.domain.deaccession import withdrawn_message
from oais.domain.descriptive import DescriptiveMetadata, label_problem, metadata_from_json, recordable
from oais.domain.errors import SipRejected, StorageError, ToolError
from oais.domain.fixity import DigestAlgorithm
from oais.domain.formats import FormatPolicy
from oais.domain.issues import Issue, errors, issue, warnings
from oais.domain.migration import ConversionRecord, derived_file, output_path, refusal
from oais.domain.packages import (
    Aip,
    AipRecord,
    AipVersion,
    FileEntry,
    FormatFacts,
    Rejection,
    SipEntry,
    aip_id_problem,
    payload_fingerprint,
)
from oais.domain.policy import IngestPolicy, InvalidFormatRule
from oais.domain.ports import (
    BagCodec,
    BagFiles,
    Clock,
    CopiedFile,
    CopyItem,
    FormatConverter,
    PayloadCopier,
    PremisCodec,
    ScratchSpace,
    SipReader,
    SipSource,
    UnitOfWorkFactory,
)
from oais.domain.premis import (
    Agent,
    AgentLink,
    AgentRole,
    AgentType,
    Event,
    EventType,
    Outcome,
    accession_time,
    archive_agent,
    new_event,
)
from oais.domain.storage import Copy
from oais.ingest.qa import BagRootFinder, check_sip

#: Namespace of the AIP ids derived from a payload fingerprint (uuid5), so that the same SIP
#: ingested twice names the same AIP.
AIP_NAMESPACE = uuid.UUID("6f2d7a0e-53c1-4d0b-9a51-3c4e0a9b7e21")
OBJECTS = "objects"
SUBMISSION = "metadata/submission"


class IngestProgress(Protocol):
    """Told how a long ingest goes (the command line draws a progress bar)."""

    def phase(self, name: str, total_bytes: int | None = None) -> None:
        """A new phase starts; ``total_bytes`` when its size is known."""
        ...

    def advance(self, nbytes: int) -> None:
        """Some bytes of the current phase are done."""
        ...


class _Quiet:
    def phase(self, name: str, total_bytes: int | None = None) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass


class IngestResult(BaseModel):
    """What an accepted ingest produced."""

    aip_id: str
    version: int
    files: int
    bytes: int
    bag_path: str  # where the version's bag is at the first location the storage policy names
    copies: list[str]  # every location holding a verified copy
    created: datetime
    #: "stored": a new AIP; "already-held": the same content was already archived (nothing
    #: written); "recovered": a bag published by an interrupted run was found and catalogued.
    status: str
    warnings: list[Issue]


class IngestService:
    """Turns SIPs into AIPs (see the module docstring for the order of steps)."""

    def __init__(
        self,
        *,
        sip_reader: SipReader,
        bag_files: Callable[[SipSource, str], BagFiles],
        copier: PayloadCopier,
        bag_codec: BagCodec,
        premis: PremisCodec,
        scratch: ScratchSpace,
        storage: ArchivalStorage,
        catalog: UnitOfWorkFactory,
        clock: Clock,
        policy: IngestPolicy,
        software: Agent,
        formats: FormatPolicy | None = None,
        converter: Callable[[], FormatConverter] | None = None,
    ) -> None:
        """Wire the service to its ports (see ``oais.bootstrap``); with ``formats`` asking for
        normalisation at ingest, ``converter`` makes the converter that runs its rules."""
        self._reader = sip_reader
        self._bag_files = bag_files
        self._copier = copier
        self._codec = bag_codec
        self._premis = premis
        self._scratch = scratch
        self._storage = storage
        self._catalog = catalog
        self._clock = clock
        self._policy = policy
        self._software = software
        self._formats = formats
        self._converter = converter
        self._archive = archive_agent(policy.archive_name)

    # -- public ---------------------------------------------------------------------------------

    def ingest(
        self,
        path: Path,
        *,
        producer: str,
        title: str | None = None,
        aip_id: str | None = None,
        metadata: DescriptiveMetadata | None = None,
        metadata_file: Path | None = None,
        progress: IngestProgress | None = None,
    ) -> IngestResult:
        """Ingest the SIP at ``path`` as version 1 of a new AIP.

        Args:
            path: a directory, a .zip, .tar or .tar.gz archive, or a BagIt bag in any of those forms.
            producer: who submitted the SIP (a PREMIS agent).
            title: the AIP's title. None or "" when the descriptive metadata carries it; when both
                are given they must be the same.
            aip_id: the AIP id to use; by default one is derived from the payload's digests, so the
                same content always gets the same id.
            metadata: the descriptive metadata (licence, access status, rights statements, ...), as
                a model; every version of the AIP carries it (``data/metadata/descriptive.json``
                and PREMIS rights statements) and the catalog indexes it.
            metadata_file: the same, as a JSON file to read (``oais ingest --metadata FILE``); give
                ``metadata`` or ``metadata_file``, not both.
            progress: told how the work goes.

        Returns:
            What was stored (or found already stored).

        Raises:
            SipRejected: with every problem found; the rejection is recorded in the catalog and
                nothing is stored. A metadata file that cannot be read or is not JSON is
                ``META-E001``, each problem against the model ``META-E002``, a title given twice
                and differently ``SIP-E008``; all name the metadata file.
            StorageError: if a location fails (naming it); the AIP is not in the catalog, and a
                rerun completes the copies.
            CatalogError: if the catalog fails.
            ValueError: if both ``metadata`` and ``metadata_file`` are given.
        """
        if metadata is not None and metadata_file is not None:
            raise ValueError("give the descriptive metadata as a model or as a file, not both")
        progress = progress or _Quiet()
        started = self._clock.now()
        path = path.absolute()  # records name the SIP unambiguously
        producer, title = producer.strip(), (title or "").strip()
        described = "the descriptive metadata"
        try:
            if metadata_file is not None:
                described = str(metadata_file.absolute())
                metadata = _read_metadata(metadata_file.absolute())
            title = self._check_request(producer, title, aip_id, metadata, described)
            self._copier.prepare()  # workers start while the SIP is listed and checked
            source = self._reader.open_sip(path)
        except SipRejected as exc:
            self._reject(path, producer, title or (metadata.title if metadata else ""), exc.issues)
            raise
        try:
            return self._ingest(source, path, producer, title, aip_id, metadata, started, progress)
        except SipRejected as exc:
            self._reject(path, producer, title, exc.issues)
            raise
        finally:
            source.close()

    # -- steps ----------------------------------------------------------------------------------

    def _check_request(
        self,
        producer: str,
        title: str,
        aip_id: str | None,
        metadata: DescriptiveMetadata | None,
        described: str,
    ) -> str:
        """Refuse an incomplete or contradictory request; return the AIP's title."""
        problems = []
        if not producer:
            problems.append(issue("SIP-E008", "", "the producer must be named (--producer)"))
        elif (why := label_problem(producer)) is not None:
            problems.append(issue("SIP-E008", "", f"the producer {producer!r} {why}"))
        if title and (why := label_problem(title)) is not None:
            problems.append(issue("SIP-E008", "", f"the title {title!r} {why}"))
        if metadata is not None:
            if title and title != metadata.title:
                problems.append(
                    issue(
                        "SIP-E008",
                        described,
                        f"--title {title!r} differs from the title {metadata.title!r} of the descriptive "
                        "metadata: give the title once, or the same in both",
                    )
                )
            title = metadata.title
        elif not title:
            problems.append(
                issue("SIP-E008", "", "the AIP needs a title (--title, or a title in --metadata FILE)")
            )
        if aip_id is not None and (why := aip_id_problem(aip_id)) is not None:
            problems.append(issue("SIP-E008", "", why))
        if problems:
            raise SipRejected("the ingest request is incomplete or contradicts itself", problems)
        return title

    def _ingest(
        self,
        source: SipSource,
        path: Path,
        producer: str,
        title: str,
        requested_id: str | None,
        metadata: DescriptiveMetadata | None,
        started: datetime,
        progress: IngestProgress,
    ) -> IngestResult:
        progress.phase("checking names")
        # The names stream through quality assurance once; only what later steps need is kept.
        finder = BagRootFinder()
        # A compressed tar is read fastest in archive order; other forms in any order.
        archive_order: dict[str, int] | None = None if source.parallel_reads else {}

        def listed() -> Iterator[SipEntry]:
            for n, entry in enumerate(source.entries()):
                finder.see(entry)
                if archive_order is not None:
                    archive_order[entry.path] = n
                yield entry

        qa = check_sip(listed())
        # An issue about the SIP as a whole (an empty SIP) names the SIP itself.
        found: list[Issue] = [i if i.path else i.model_copy(update={"path": str(path)}) for i in qa.issues]
        bag_root = finder.root()
        structure: BagStructure | None = None
        items: list[CopyItem]
        if bag_root is not None:
            structure = self._codec.read_structure(self._bag_files(source, bag_root))
            found.extend(structure.issues)
            items = _bag_items(qa.files, bag_root)
        else:
            items = [CopyItem(source=f.source, target=f"{OBJECTS}/{f.target}", size=f.size) for f in qa.files]
        # Memory stays bounded for 100,000-file SIPs: each list of 100,000 models is dropped as soon
        # as the next step no longer needs it.
        del qa
        if errors(found):
            raise SipRejected(f"{path}: the SIP failed quality assurance", found)
        if archive_order is not None:
            items.sort(key=lambda i: archive_order.get(i.source, len(archive_order)))

        algorithms = {self._policy.record_algorithm, self._policy.fast_algorithm}
        if structure is not None:
            algorithms |= structure.algorithms
        total_bytes = sum(i.size for i in items)

        with self._scratch.staging() as staging:
            data_dir = staging.path / "data"
            progress.phase("copying, hashing, identifying", total_bytes)
            files: list[FileEntry] = []
            declared: dict[str, dict[DigestAlgorithm, str]] = {}
            format_cache: dict[FormatFacts, FormatFacts] = {}
            for copied in self._copier.copy(
                source, items, data_dir, algorithms, identify=True, progress=progress.advance
            ):
                entry = self._file_entry(copied, bag_root, format_cache)
                files.append(entry)
                if structure is not None and copied.target.startswith(f"{OBJECTS}/"):
                    declared[f"data/{entry.path}"] = dict(copied.digests)
            if structure is not None:
                found.extend(self._codec.check_payload(structure, declared))
            del declared, items
            found.extend(self._format_issues(files))
            if errors(found):
                raise SipRejected(f"{path}: the SIP failed validation", found)

            fingerprint = payload_fingerprint(files, self._policy.record_algorithm)
            settled = self._already_held(fingerprint, requested_id, path, producer, title, found)
            if settled is not None:
                return settled
            aip_id = requested_id or str(uuid.uuid5(AIP_NAMESPACE, fingerprint))

            now = self._clock.now()
            aip = Aip(aip_id=aip_id, title=title, producer=producer, created=now, metadata=metadata)
            producer_agent = Agent(
                identifier=f"organization:{producer}",
                name=producer,
                type=AgentType.ORGANIZATION,
                note="producer of the submission information package",
            )
            record = ConversionRecord(
                aip_id, 1, self._software, self._formats.reference if self._formats else ""
            )
            self._normalise(files, data_dir, record, found, progress)
            tool_agents = _tool_agents(files)
            events = self._events(
                aip_id,
                path,
                source.form.value,
                bag_root,
                files,
                found,
                started,
                now,
                producer_agent,
                tool_agents,
                record.events,
                described=metadata is not None,
            )
            tool_names = {a.identifier for a in tool_agents}
            agents = [
                self._software,
                self._archive,
                producer_agent,
                *tool_agents,
                *(a for a in record.agents if a.identifier not in tool_names),
            ]

            progress.phase("writing metadata")
            write_version_bag(
                staging.path,
                aip=aip,
                version=1,
                files=files,
                events=events,
                agents=agents,
                premis=self._premis,
                codec=self._codec,
                record=self._policy.record_algorithm,
                software=self._software,
                now=now,
            )

            self._check_staged(staging.path)

            progress.phase(
                f"storing at {', '.join(self._storage.required)} and reading back",
                2 * len(self._storage.required) * sum(f.size for f in files),
            )
            copies = self._storage.store_version(staging.path, aip_id, 1, files, progress.advance)
            version = AipVersion(
                aip_id=aip_id,
                version=1,
                created=now,
                files=len(files),
                bytes=sum(f.size for f in files),
                payload_fingerprint=fingerprint,
                location=version_prefix(aip_id, 1).rstrip("/"),
            )
            with self._catalog() as uow:
                existing = uow.aips.get(aip_id)
                if existing is not None:
                    # A concurrent ingest of the same content won the race: report what it stored.
                    return self._result(existing.version, "already-held", found, existing.copies)
                uow.aips.add(
                    AipRecord(
                        aip=aip, version=version, files=files, events=events, agents=agents, copies=copies
                    )
                )
                uow.commit()
        return self._result(version, "stored", found, copies)

    def _normalise(
        self,
        files: list[FileEntry],
        data_dir: Path,
        record: ConversionRecord,
        found: list[Issue],
        progress: IngestProgress,
    ) -> None:
        """Add a preservation copy of each file in a format to migrate, if the format policy asks for
        normalisation at ingest: same rules, same checks as ``oais migrate apply``.

        A conversion that fails or loses a significant property keeps nothing: the original alone
        is stored, with a warning (FMT-W003) and a failed ``normalization`` event.

        Raises:
            ToolError: a tool the rules need is not installed (naming its Debian package); nothing
                is stored.
        """
        policy = self._formats
        if policy is None or not policy.normalize_at_ingest or self._converter is None:
            return
        todo = [
            (f, rule)
            for f in files
            if f.stored_path is None
            and f.format.puid is not None
            and (rules := policy.formats.get(f.format.puid)) is not None
            and (rule := rules.preservation) is not None
        ]
        if not todo:
            return
        converter = self._converter()
        if missing := converter.missing_tools(policy, {rule.tool for _, rule in todo}):
            raise ToolError(
                f"format policy {policy.reference} (normalisation at ingest): " + "; ".join(missing)
            )
        progress.phase("normalising")
        taken = {f.path for f in files}
        objects = data_dir / OBJECTS
        with self._scratch.staging() as work:
            for n, (f, rule) in enumerate(todo):
                started = self._clock.now()
                out_path = output_path(f.path, rule.extension, taken)
                taken.add(out_path)
                source = work.path / str(n) / "source" / posixpath.basename(f.path)
                output = work.path / str(n) / "output" / posixpath.basename(out_path)
                source.parent.mkdir(parents=True)
                output.parent.mkdir(parents=True)
                # The tool works on a copy: what it does to its input never reaches the bag.
                shutil.copyfile(objects / f.path, source)
                why: str | None
                try:
                    c = converter.convert(
                        rule.tool, policy.tools[rule.tool], rule, source, f.format.puid or "", output
                    )
                except ToolError as exc:
                    why = str(exc)
                else:
                    why = refusal(c, rule)
                if why is not None:
                    record.failed(EventType.NORMALIZATION, started, f, rule, why)
                    found.append(issue("FMT-W003", f.path, f"no preservation copy made at ingest: {why}"))
                    continue
                entry = derived_file(out_path, f.path, c)
                (objects / out_path).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(output, objects / out_path)
                files.append(entry)
                record.kept(EventType.NORMALIZATION, started, f, entry, rule, c)

    def _file_entry(
        self, copied: CopiedFile, bag_root: str | None, cache: dict[FormatFacts, FormatFacts]
    ) -> FileEntry:
        fmt = copied.format or FormatFacts(
            puid=None, name="Unknown", mime_type="application/octet-stream", basis="none", tool="none"
        )
        # Many files share one format: keep a single instance of each (100,000-file SIPs).
        fmt = cache.setdefault(fmt, fmt)
        if copied.target.startswith(f"{OBJECTS}/"):
            path = copied.target[len(OBJECTS) + 1 :]
            stored = None
        else:
            path = copied.source[len(bag_root or "") :]
            stored = f"data/{copied.target}"
        return FileEntry(path=path, size=copied.size, digests=copied.digests, format=fmt, stored_path=stored)

    def _format_issues(self, files: Sequence[FileEntry]) -> list[Issue]:
        found: list[Issue] = []
        for f in files:
            for i in f.format.issues:
                if i.is_error and self._policy.invalid_format is InvalidFormatRule.ACCEPT_WITH_WARNING:
                    found.append(
                        issue("FMT-W002", i.path, f"accepted by policy {self._policy.reference}: {i}")
                    )
                else:
                    found.append(i)
        return found

    def _refuse_deaccessioned(self, aip_id: str, path: Path) -> None:
        """A SIP whose AIP id is a deaccessioned AIP's is refused: the id stays with its tombstone.

        Raises:
            SipRejected: AIP-E003, naming the AIP, the request and the reason.
        """
        found = self._storage.withdrawal(aip_id)
        if found is not None:
            why = withdrawn_message(aip_id, *found)
            raise SipRejected(
                f"{path}: AIP {aip_id} was deaccessioned",
                [
                    issue(
                        "AIP-E003",
                        str(path),
                        f"{why}; its id stays with its tombstone (to archive this content again, ingest "
                        "it with --id and a new id)",
                    )
                ],
            )

    def _already_held(
        self,
        fingerprint: str,
        requested_id: str | None,
        path: Path,
        producer: str,
        title: str,
        found: list[Issue],
    ) -> IngestResult | None:
        """Settle a SIP whose content or id the archive already holds; None if it is new."""
        with self._catalog() as uow:
            same_content = uow.aips.find_by_fingerprint(fingerprint)
            if same_content is not None and requested_id in (None, same_content.aip_id):
                self._refuse_deaccessioned(same_content.aip_id, path)
            elif same_content is not None and self._storage.withdrawal(same_content.aip_id) is not None:
                same_content = None  # deaccessioned content archived again, as a new AIP (--id)
            if same_content is not None:
                if requested_id is not None and requested_id != same_content.aip_id:
                    raise SipRejected(
                        f"{path}: already archived as AIP {same_content.aip_id}",
                        [
                            issue(
                                "AIP-E002",
                                str(path),
                                f"the same content is already held as AIP {same_content.aip_id} "
                                f"version {same_content.version}; it is not stored twice",
                            )
                        ],
                    )
                held = uow.aips.get(same_content.aip_id, same_content.version)
                return self._result(same_content, "already-held", found, held.copies if held else [])
            target_id = requested_id or str(uuid.uuid5(AIP_NAMESPACE, fingerprint))
            existing = uow.aips.get(target_id)
            if existing is not None:
                self._refuse_deaccessioned(target_id, path)
                raise SipRejected(
                    f"{path}: AIP {target_id} already exists",
                    [
                        issue(
                            "AIP-E001",
                            str(path),
                            f"AIP {target_id} already exists with different content; choose another "
                            "--id (a new version of an AIP is made by re-ingest, not by ingest)",
                        )
                    ],
                )
        holders = self._storage.holders(target_id, 1)
        if holders:
            return self._recover(target_id, fingerprint, path, holders)
        return None

    def _recover(self, aip_id: str, fingerprint: str, path: Path, holders: Sequence[str]) -> IngestResult:
        """Complete and catalogue a version that an interrupted run stored but did not record.

        The stored premis.xml is the record (its events describe the first run); every complete
        copy is verified in full, and the locations that lack one get it from a verified copy.
        """
        with self._scratch.staging() as staging:
            premis_path = staging.path / "premis.xml"
            self._storage.fetch_premis(aip_id, 1, holders[0], premis_path)
            header, files, events, agents = self._premis.read_record(premis_path)
        # premis.xml holds the licence, access status and rights statements; descriptive.json all of it.
        stored_metadata = self._storage.fetch_descriptive(aip_id, 1, holders[0])
        if stored_metadata is not None:
            header = header.model_copy(update={"metadata": stored_metadata})
        stored_fingerprint = payload_fingerprint(files, self._policy.record_algorithm)
        if stored_fingerprint != fingerprint:
            raise SipRejected(
                f"{path}: AIP {aip_id} already exists",
                [
                    issue(
                        "AIP-E001",
                        str(path),
                        f"the store already holds AIP {aip_id} with different content; choose another --id",
                    )
                ],
            )
        copies = {name: self._storage.confirm_copy(name, aip_id, 1, files) for name in holders}
        for name in self._storage.required:
            if name not in copies:
                copies[name] = self._storage.copy_version(aip_id, 1, holders[0], name, files)
        version = AipVersion(
            aip_id=aip_id,
            version=1,
            created=accession_time(events) or header.created,
            files=len(files),
            bytes=sum(f.size for f in files),
            payload_fingerprint=fingerprint,
            location=version_prefix(aip_id, 1).rstrip("/"),
        )
        ordered = [copies[n] for n in self._storage.required] + [
            c for n, c in copies.items() if n not in self._storage.required
        ]
        with self._catalog() as uow:
            uow.aips.add(
                AipRecord(
                    aip=header, version=version, files=files, events=events, agents=agents, copies=ordered
                )
            )
            uow.commit()
        return self._result(version, "recovered", [], ordered)

    def _result(
        self, version: AipVersion, status: str, found: Sequence[Issue], copies: Sequence[Copy] | None = None
    ) -> IngestResult:
        if copies is None:
            with self._catalog() as uow:
                record = uow.aips.get(version.aip_id, version.version)
                copies = record.copies if record is not None else []
        return IngestResult(
            aip_id=version.aip_id,
            version=version.version,
            files=version.files,
            bytes=version.bytes,
            bag_path=self._storage.locate(version.aip_id, version.version),
            copies=[c.location for c in copies],
            created=version.created,
            status=status,
            warnings=warnings(found),
        )

    def _check_staged(self, bag: Path) -> None:
        """Re-read the staged bag's tag files: what goes to storage must be a valid bag.

        The payload copies are not re-read here: every byte sent to a location is hashed on the way
        and must have its digest of record, and every copy is read back from the location.
        """
        # The workers are done: their memory goes back before the bag's tag files are re-read.
        self._copier.close()
        staged = self._reader.open_sip(bag)
        try:
            structure = self._codec.read_structure(self._bag_files(staged, ""))
        finally:
            staged.close()
        # Warnings (an operating-system file such as .DS_Store in the payload) do not make it invalid.
        if problems := errors(structure.issues):
            raise StorageError(f"{bag}: the staged bag is not valid: " + "; ".join(map(str, problems)))

    def _events(
        self,
        aip_id: str,
        path: Path,
        form: str,
        bag_root: str | None,
        files: Sequence[FileEntry],
        found: Sequence[Issue],
        started: datetime,
        now: datetime,
        producer: Agent,
        tools: Sequence[Agent],
        normalised: Sequence[Event] = (),
        described: bool = False,
    ) -> list[Event]:
        ours = AgentLink(agent=self._software.identifier, role=AgentRole.EXECUTING_PROGRAM)
        archive = AgentLink(agent=self._archive.identifier, role=AgentRole.IMPLEMENTER)
        representation = f"{aip_id}/v1"
        n, size = len(files), sum(f.size for f in files)
        policy = self._policy.reference
        kind = f"BagIt bag ({form})" if bag_root is not None else form

        def event(
            type_: EventType,
            when: datetime,
            detail: str,
            outcome_detail: str,
            agents: Iterable[AgentLink],
            outcome: Outcome = Outcome.SUCCESS,
        ) -> Event:
            return new_event(
                type_, when, detail, outcome, outcome_detail, agents, (aip_id, representation), policy
            )

        warned = warnings(found)
        metadata_files = ["premis.xml", "descriptive.json"] if described else ["premis.xml"]
        validation_detail = (
            "quality assurance of names and file types"
            + ("; BagIt 1.0 validation of every manifest" if bag_root is not None else "")
            + ("; FITS header and structure validation" if any(_is_fits(f) for f in files) else "")
        )
        puids = Counter(f.format.puid or "unidentified" for f in files)
        tool_links = [AgentLink(agent=t.identifier, role=AgentRole.EXECUTING_PROGRAM) for t in tools]
        return [
            event(
                EventType.INGESTION,
                started,
                f"SIP received from {path} ({kind})",
                f"{n} files, {size} bytes submitted by {producer.name}",
                [ours, archive, AgentLink(agent=producer.identifier, role=AgentRole.PRODUCER)],
            ),
            event(
                EventType.VALIDATION,
                now,
                validation_detail,
                "no problems found"
                if not warned
                else "accepted with warnings: " + "; ".join(str(w) for w in warned),
                [ours],
                Outcome.SUCCESS if not warned else Outcome.WARNING,
            ),
            event(
                EventType.MESSAGE_DIGEST_CALCULATION,
                now,
                f"{self._policy.record_algorithm.premis_name} (digest of record) and "
                f"{self._policy.fast_algorithm.premis_name} (fast check) of every file, in one read",
                f"{n} files, {size} bytes",
                [ours],
            ),
            event(
                EventType.FORMAT_IDENTIFICATION,
                now,
                "PRONOM identification of every file" + (f" with {tools[0].name}" if tools else ""),
                "; ".join(f"{p}: {c}" for p, c in sorted(puids.items())),
                [ours, *tool_links],
                Outcome.SUCCESS if "unidentified" not in puids else Outcome.WARNING,
            ),
            *normalised,
            event(
                EventType.ACCESSION,
                now,
                f"AIP {aip_id} version 1 accepted into archival storage",
                f"stored as a BagIt 1.0 bag of {n + len(metadata_files)} payload files (with "
                f"{' and '.join(metadata_files)}) at {', '.join(self._storage.required)} (storage policy "
                f"{self._storage.policy.reference}), each copy read back and verified",
                [ours, archive],
            ),
        ]

    def _reject(self, path: Path, producer: str, title: str, found: Sequence[Issue]) -> None:
        rejection = Rejection(
            identifier=f"urn:uuid:{uuid.uuid4()}",
            sip_path=str(path),
            # What cannot be recorded is shown in the issues, escaped (repr).
            producer=recordable(producer) or "(not given)",
            title=recordable(title) or "(not given)",
            date_time=self._clock.now(),
            issues=tuple(found),
        )
        with self._catalog() as uow:
            uow.aips.add_rejection(rejection)
            uow.commit()


def _read_metadata(path: Path) -> DescriptiveMetadata:
    """The descriptive metadata in the JSON file at ``path``.

    Raises:
        SipRejected: META-E001 if it cannot be read or is not JSON, one META-E002 per problem
            against the model; every issue names the file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = issue("META-E001", str(path), f"cannot be read: {exc.strerror or exc}")
        raise SipRejected(f"{path}: the descriptive metadata cannot be read", [problem]) from exc
    metadata, problems = metadata_from_json(data, str(path))
    if metadata is None:
        raise SipRejected(f"{path}: the descriptive metadata is not valid", problems)
    return metadata


def _bag_items(files: Sequence[CopyItem], root: str) -> list[CopyItem]:
    """Payload of a submitted bag goes to objects/; its tag files are kept as submission metadata."""
    data = f"{root}data/"
    items = []
    for f in files:
        if f.target.startswith(data):
            target = f"{OBJECTS}/{f.target[len(data) :]}"
        else:
            target = f"{SUBMISSION}/{f.target[len(root) :]}"
        items.append(CopyItem(source=f.source, target=target, size=f.size))
    return items


def _tool_agents(files: Iterable[FileEntry]) -> list[Agent]:
    tools = sorted({f.format.tool for f in files if f.format.tool not in ("", "none")})
    return [
        Agent(
            identifier=f"software:{tool}",
            name=tool,
            type=AgentType.SOFTWARE,
            note="format identification and validation",
        )
        for tool in tools
    ]


def _is_fits(f: FileEntry) -> bool:
    return f.format.mime_type == "application/fits"
