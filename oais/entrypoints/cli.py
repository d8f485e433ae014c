"""The ``oais`` command: parse, call a service, render. Errors become exit codes here and only here.

Exit codes (stable; scripts rely on them):

==== ===========================================================================
code meaning
==== ===========================================================================
0    success (an accepted SIP, a valid bag, a shown AIP, every copy or log found whole)
1    the input was rejected, or a check found problems: every problem is listed (SIP rejected,
     bag invalid, a stored file altered or missing, an event log broken)
2    the command line is wrong (unknown option, missing argument)
3    not found (no such AIP, path or deaccession request), or the AIP was deaccessioned
4    conflict with what the archive holds (an AIP id taken by other content)
5    storage failed (a location unreachable, refused the credentials or lacks its bucket; an
     ingest that fails so is not in the catalog, and a rerun completes it)
6    the catalog failed
7    configuration or policy is invalid
8    an external tool failed
9    an audit found a file with no good copy left at any location (the archive may lose it)
10   access denied: the AIP is under embargo or restricted and no authorised override was given,
     or the caller may not do this (a deaccession without an admin token, or by its requester)
70   an unexpected internal error (a bug: please report it with the traceback)
==== ===========================================================================
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from oais.adapters.clock import SystemClock
from oais.administration.deaccession import DeaccessionOutcome
from oais.archival_storage.rebuild import rebuild_catalog
from oais.bootstrap import (
    Services,
    action_recorder,
    bag_validator,
    build,
    deaccession_service,
    dip_service,
    dip_sink,
    token_store,
)
from oais.config import load_settings
from oais.data_management.actions import Act
from oais.domain.access_control import Role
from oais.domain.actions import ActionOutcome, ArgumentValue, Channel
from oais.domain.audit import FindingKind
from oais.domain.deaccession import DeaccessionRequest, RequestStatus, Tombstone, withdrawn_message
from oais.domain.dip import DipPurpose, DipRequest, Override, Portal
from oais.domain.errors import (
    AccessDenied,
    AipNotFound,
    CatalogError,
    ConfigError,
    ConflictError,
    NotFound,
    OaisError,
    StorageError,
    ToolError,
    ValidationFailed,
)
from oais.domain.issues import Issue, errors
from oais.domain.reports import Period
from oais.entrypoints.identity import cli_actor

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_STORAGE = 5
EXIT_CATALOG = 6
EXIT_CONFIG = 7
EXIT_TOOL = 8
EXIT_UNRECOVERABLE = 9
EXIT_ACCESS_DENIED = 10
EXIT_INTERNAL = 70

_EXIT_CODES: list[tuple[type[OaisError], int]] = [
    (ValidationFailed, EXIT_REJECTED),
    (NotFound, EXIT_NOT_FOUND),
    (ConflictError, EXIT_CONFLICT),
    (StorageError, EXIT_STORAGE),
    (CatalogError, EXIT_CATALOG),
    (ConfigError, EXIT_CONFIG),
    (ToolError, EXIT_TOOL),
    (AccessDenied, EXIT_ACCESS_DENIED),
]

app = typer.Typer(
    name="oais",
    help="OAIS preservation repository: ingest SIPs as BagIt 1.0 AIPs with PREMIS 3 metadata.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bag_app = typer.Typer(help="BagIt bags (RFC 8493).", no_args_is_help=True)
app.add_typer(bag_app, name="bag")
storage_app = typer.Typer(help="Archival storage: locations, copies, fixity.", no_args_is_help=True)
app.add_typer(storage_app, name="storage")
events_app = typer.Typer(help="The event logs kept at every location.", no_args_is_help=True)
app.add_typer(events_app, name="events")
catalog_app = typer.Typer(help="The catalog database.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
audit_app = typer.Typer(help="Fixity audits of every copy (see policies/audit.toml).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
plan_app = typer.Typer(help="Preservation planning (see policies/formats.toml).", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
migrate_app = typer.Typer(help="Format migration by reviewed plans.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")
token_app = typer.Typer(help="API tokens of the HTTP API (oais serve).", no_args_is_help=True)
app.add_typer(token_app, name="token")
deaccession_app = typer.Typer(
    help="Deaccession: the governed deletion of an AIP (asked for and approved by two administrators).",
    no_args_is_help=True,
)
app.add_typer(deaccession_app, name="deaccession")
report_app = typer.Typer(
    help="Evidence reports (HTML and JSON) computed from the catalog and the event logs.",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")]


def exit_code_for(exc: OaisError) -> int:
    """The exit code of an error (see the module docstring)."""
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return EXIT_INTERNAL


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def _issue_json(i: Issue) -> dict[str, str]:
    return {"code": i.code, "path": i.path, "message": i.message, "severity": i.severity.value}


def _print_issues(issues: Sequence[Issue], console: Console) -> None:
    for i in issues:
        label = "error" if i.is_error else "warning"
        where = f"{i.path}: " if i.path else ""
        console.print(f"  {label} {i.code} {where}{i.message}", markup=False)


@contextmanager
def _handled(as_json: bool) -> Iterator[None]:
    """Turn every error into a message and an exit code (the only place that does)."""
    try:
        yield
    except ValidationFailed as exc:
        if as_json:
            _emit_json(
                {
                    "accepted": False,
                    "error": str(exc),
                    "issues": [_issue_json(i) for i in exc.issues],
                }
            )
        else:
            n = len(errors(exc.issues))
            err.print(f"REJECTED: {exc} ({n} problem{'s' if n != 1 else ''})", markup=False)
            _print_issues(exc.issues, err)
        raise typer.Exit(EXIT_REJECTED) from exc
    except OaisError as exc:
        code = exit_code_for(exc)
        if as_json:
            _emit_json({"accepted": False, "error": str(exc), "issues": []})
        else:
            err.print(f"error: {exc}", markup=False)
        raise typer.Exit(code) from exc


class _Bar:
    """Implements ``IngestProgress`` with a rich progress bar on standard error."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, name: str, total_bytes: int | None = None) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(name, total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, nbytes)


@contextmanager
def _progress(enabled: bool) -> Iterator[_Bar | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        yield _Bar(progress)


@contextmanager
def _recorded(
    action: str, target: str | None = None, arguments: Mapping[str, ArgumentValue] | None = None
) -> Iterator[Act]:
    """Record a state-changing command in the action log: who (``OAIS_TOKEN`` or the OS user), what,
    on what, and how it ended. Use inside :func:`_handled`, so that it sees the error first.

    A command that ends with a non-zero exit status of its own (a check that found problems) is
    recorded as failed with that status; a refusal (rejected input, not found, denied) as refused.
    """
    settings = load_settings()
    recorder = action_recorder(settings)
    tokens = token_store(settings)
    try:
        actor = cli_actor(action, tokens, tokens, SystemClock(), os.environ)
    finally:
        tokens.dispose()
    with recorder.recording(actor, Channel.CLI, action, target, arguments) as act:
        try:
            yield act
        except typer.Exit as exc:
            if exc.exit_code not in (None, EXIT_OK):
                act.end(ActionOutcome.FAILED, f"exit status {exc.exit_code}")
            raise


@contextmanager
def _services() -> Iterator[Services]:
    services = build(load_settings())
    try:
        yield services
    finally:
        services.close()


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="The SIP: a directory, .zip, .tar(.gz), or a BagIt bag.")],
    producer: Annotated[str, typer.Option(help="Who submitted the SIP, e.g. 'IAS / OMEGA team'.")],
    title: Annotated[
        str | None, typer.Option(help="The AIP's title (optional when the --metadata file has one).")
    ] = None,
    metadata: Annotated[
        Path | None,
        typer.Option(
            "--metadata",
            help="Descriptive metadata (title, creators, licence, access status, rights...): a JSON file, "
            "see schemas/descriptive-metadata.schema.json.",
        ),
    ] = None,
    aip_id: Annotated[
        str | None,
        typer.Option("--id", help="AIP id to use (default: derived from the content's digests)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest a SIP: check it, store it as a BagIt 1.0 AIP with PREMIS 3 metadata, catalogue it."""
    with (
        _handled(as_json),
        _recorded(
            "ingest",
            arguments={
                "sip": str(path),
                "producer": producer,
                "title": title,
                "metadata": str(metadata) if metadata else None,
                "id": aip_id,
            },
        ) as act,
    ):
        with _services() as services, _progress(not as_json and err.is_terminal) as bar:
            result = services.ingest.ingest(
                path, producer=producer, title=title, aip_id=aip_id, metadata_file=metadata, progress=bar
            )
        act.note(f"{result.status}: version {result.version}, {result.files} files", target=result.aip_id)
        if as_json:
            _emit_json(
                {
                    "accepted": True,
                    **result.model_dump(mode="json", exclude={"warnings"}),
                    "warnings": [_issue_json(w) for w in result.warnings],
                }
            )
            return
        verb = {
            "stored": "stored",
            "already-held": "already held (nothing stored twice)",
            "recovered": "found stored by an interrupted run and catalogued",
        }[result.status]
        out.print(f"ACCEPTED: AIP {result.aip_id} version {result.version} {verb}", markup=False)
        out.print(f"  files: {result.files}  bytes: {result.bytes}", markup=False)
        out.print(f"  bag:   {result.bag_path}", markup=False)
        out.print(f"  copies verified at: {', '.join(result.copies)}", markup=False)
        if result.warnings:
            _print_issues(result.warnings, out)


@app.command()
def show(
    aip_id: Annotated[str, typer.Argument(help="The AIP id printed by 'oais ingest'.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show what was stored: access status, licence, files, formats, digests, events and agents."""
    with _handled(as_json):
        with _services() as services, services.catalog() as uow:
            record = uow.aips.get(aip_id, version)
            withdrawal = services.storage.withdrawal(aip_id)
            pending = (
                next((r for r in services.deaccessions.list(aip_id) if r.open), None)
                if withdrawal is None and services.deaccessions is not None
                else None
            )
        if record is None:
            raise AipNotFound(
                f"no AIP {aip_id}" + (f" version {version}" if version else "") + " in the catalog"
            )
        if as_json:
            # The AIP's metadata is in "aip"; "access" says it at once, also for an AIP without any.
            access = record.aip.descriptive.access
            _emit_json(
                {
                    **record.model_dump(mode="json"),
                    "access": access.model_dump(mode="json"),
                    "deaccession": _withdrawal_json(withdrawal or ((pending, None) if pending else None)),
                }
            )
            return
        a, v = record.aip, record.version
        described = a.descriptive
        access = described.access
        print_ = out.print
        print_(f"AIP {a.aip_id} version {v.version}", markup=False)
        if withdrawal is not None:
            print_(f"  DEACCESSIONED: {withdrawn_message(a.aip_id, *withdrawal)}", markup=False)
            print_("  (its objects are deleted; what follows is the catalog's history of it)", markup=False)
        elif pending is not None:
            state = pending.detail or "waiting for the decision of another administrator"
            print_(f"  deaccession: request {pending.id} {pending.status.value}: {state}", markup=False)
        print_(f"  title:     {a.title}", markup=False)
        print_(f"  producer:  {a.producer}", markup=False)
        print_(f"  created:   {v.created.isoformat()}", markup=False)
        until = f" until {access.embargo_until.isoformat()}" if access.embargo_until else ""
        why = f" ({access.note})" if access.note else ""
        print_(f"  access:    {access.status.value}{until}{why}", markup=False)
        if described.licence is not None:
            licence = described.licence
            name = f" ({licence.name})" if licence.name else ""
            uri = f" {licence.uri}" if licence.uri else ""
            print_(f"  licence:   {licence.identifier}{name}{uri}", markup=False)
        for statement in described.rights_statements:
            print_(f"  rights:    {statement}", markup=False)
        if described.creators:
            print_(f"  creators:  {'; '.join(c.name for c in described.creators)}", markup=False)
        if described.doi:
            print_(f"  DOI:       {described.doi}", markup=False)
        print_(f"  stored at: {v.location}/ in every location", markup=False)
        print_(f"  files:     {v.files} ({v.bytes} bytes)", markup=False)
        print_("\nCopies (location, objects, bytes, stored, last verified):", markup=False)
        for c in record.copies:
            verified = c.verified.isoformat() if c.verified else "not since the catalog was rebuilt"
            print_(
                f"  {c.location}  {c.objects}  {c.bytes}  {c.stored.isoformat()}  {verified}", markup=False
            )
        print_("\nFiles (path, size, PRONOM format, MIME type, sha256):", markup=False)
        for f in record.files:
            fmt = f"{f.format.puid or 'unidentified'} {f.format.name}"
            sha = next((d for alg, d in f.digests.items() if alg.value == "sha256"), "")
            print_(f"  {f.path}  {f.size}  {fmt}  {f.format.mime_type}  {sha}", markup=False)
            for i in f.format.issues:
                print_(f"      {i}", markup=False)
        print_("\nEvents:", markup=False)
        for e in record.events:
            print_(f"  {e.date_time.isoformat()}  {e.type.value}: {e.outcome.value}", markup=False)
            print_(f"      {e.detail}", markup=False)
            print_(f"      {e.outcome_detail}", markup=False)
            agents = ", ".join(f"{x.agent} ({x.role.value})" for x in e.agents)
            print_(f"      agents: {agents}", markup=False)
        print_("\nAgents:", markup=False)
        for ag in record.agents:
            ver = f" {ag.version}" if ag.version else ""
            print_(f"  {ag.identifier}  {ag.type.value}: {ag.name}{ver}", markup=False)


@app.command()
def rejections(as_json: JsonOption = False) -> None:
    """List the SIPs that were refused: what, when and why."""
    with _handled(as_json):
        with _services() as services, services.catalog() as uow:
            found = uow.aips.rejections()
        if as_json:
            _emit_json({"rejections": [r.model_dump(mode="json") for r in found]})
            return
        for r in found:
            out.print(f"{r.date_time.isoformat()}  {r.sip_path}  ({r.producer}: {r.title})", markup=False)
            _print_issues(r.issues, out)


@bag_app.command("validate")
def bag_validate(
    path: Annotated[Path, typer.Argument(help="A bag: a directory, or a .zip/.tar(.gz) of one.")],
    as_json: JsonOption = False,
) -> None:
    """Validate a BagIt bag: exit 0 if valid, 1 with every problem listed."""
    with _handled(as_json):
        with bag_validator() as validator:
            found = validator.validate(path)
        problems = errors(found)
        if as_json:
            _emit_json({"valid": not problems, "issues": [_issue_json(i) for i in found]})
        elif problems:
            err.print(f"INVALID: {path} ({len(problems)} problems)", markup=False)
            _print_issues(found, err)
        else:
            out.print(f"VALID: {path}", markup=False)
            _print_issues(found, err)
        if problems:
            raise typer.Exit(EXIT_REJECTED)


LocationOption = Annotated[str | None, typer.Option("--location", help="One location (default: all).")]


class _Counter:
    """Progress of byte counts on standard error, for storage commands."""

    def __init__(self, bar: _Bar | None, name: str) -> None:
        self._bar = bar
        if bar is not None:
            bar.phase(name)

    def __call__(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.advance(nbytes)


@app.command()
def export(
    aip_id: Annotated[str, typer.Argument(help="The AIP to export.")],
    dest: Annotated[Path, typer.Argument(help="A new directory to write the bag to.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    location: LocationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write one AIP version as a complete, valid BagIt bag, every file checked on the way."""
    with (
        _handled(as_json),
        _recorded(
            "export", target=aip_id, arguments={"dest": str(dest), "version": version, "location": location}
        ),
    ):
        with _services() as services, _progress(not as_json and err.is_terminal) as bar:
            result = services.storage.export(
                aip_id, dest, version=version, location=location, progress=_Counter(bar, "exporting")
            )
        if as_json:
            _emit_json(result.model_dump(mode="json"))
            return
        out.print(
            f"EXPORTED: AIP {result.aip_id} version {result.version} from location '{result.location}' "
            f"to {result.path} ({result.files} files, {result.bytes} bytes, every file verified)",
            markup=False,
        )


@app.command()
def dip(
    aip_id: Annotated[str, typer.Argument(help="The AIP to disseminate.")],
    out_: Annotated[
        str,
        typer.Option(
            "--out",
            help="Where the DIP goes: a new folder, a .zip, .tar or .tar.gz file, or s3://BUCKET/PREFIX.",
        ),
    ],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    files: Annotated[
        str | None,
        typer.Option(help="Only the files whose path matches this glob ('cubes/*.fits', '**/*.png')."),
    ] = None,
    purpose: Annotated[
        DipPurpose,
        typer.Option(help="original: the files as sent; access: derivatives made by the access rules."),
    ] = DipPurpose.ACCESS,
    portal: Annotated[
        Portal | None, typer.Option(help="Also write a portal table: epntap (EPN-TAP 2.0, CSV and VOTable).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="The URL the portal serves the DIP's folder from (EPN-TAP access_url)."),
    ] = None,
    override_reason: Annotated[
        str | None,
        typer.Option(help="Disseminate an embargoed or restricted AIP, for this reason (recorded)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Who asks (and authorises an override); default: the user running oais."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a DIP of one AIP version: a BagIt bag with the files, Dublin Core, DataCite, PREMIS
    provenance and a README, recorded as a PREMIS dissemination event."""
    with (
        _handled(as_json),
        _recorded(
            "dip",
            target=aip_id,
            arguments={
                "out": out_,
                "version": version,
                "files": files,
                "purpose": purpose.value,
                "portal": portal.value if portal else None,
                "override_reason": override_reason,
                "by": by,
            },
        ) as act,
    ):
        who = by or act.actor.name
        request = DipRequest(
            aip_id=aip_id,
            version=version,
            files=files,
            purpose=purpose,
            portal=portal,
            requester=who,
            override=Override(by=who, reason=override_reason) if override_reason else None,
        )
        with _services() as services:
            sink = dip_sink(out_, services.settings)
            result = dip_service(services).generate(request, sink, base_url=base_url)
        act.note(f"DIP {result.dip_id} to {result.destination}, event {result.event}")
        if as_json:
            _emit_json(result.model_dump(mode="json"))
            return
        derived = sum(1 for f in result.files if f.derivative_of is not None)
        out.print(
            f"DIP {result.dip_id}: AIP {result.aip_id} version {result.version} ({result.purpose.value}) "
            f"to {result.destination}: {len(result.files)} files, {result.bytes} bytes"
            + (f", {derived} access derivatives made" if derived else "")
            + (f", {result.portal.value} table" if result.portal else ""),
            markup=False,
        )
        if result.override is not None:
            out.print(
                f"  access restriction overridden by {result.override.by}: {result.override.reason}",
                markup=False,
            )
        for note in result.notes:
            out.print(f"  note: {note}", markup=False)
        out.print(f"  recorded as PREMIS dissemination event {result.event}", markup=False)


@storage_app.command("status")
def storage_status(as_json: JsonOption = False) -> None:
    """Per location: AIPs, objects, bytes, Object Lock, and the versions that lack a required copy."""
    with _handled(as_json):
        with _services() as services:
            found = services.storage.status()
            policy = services.storage.policy
        if as_json:
            _emit_json({"policy": policy.reference, "locations": [s.model_dump(mode="json") for s in found]})
            return
        out.print(f"storage policy {policy.reference}: a copy at {', '.join(policy.locations)}", markup=False)
        for st in found:
            role = "required" if st.required else "not required by the policy"
            out.print(f"\nlocation {st.name} ({role})", markup=False)
            if st.info is not None:
                lock = (
                    "Object Lock: yes"
                    if st.info.object_lock
                    else "Object Lock: NO (objects can be deleted by anyone with write access)"
                )
                out.print(f"  {st.info.kind.value} {st.info.uri}; {lock}", markup=False)
            else:
                out.print(f"  UNREACHABLE: {st.problem}", markup=False)
            out.print(
                f"  AIPs: {st.aips}  versions: {st.versions}  objects: {st.objects}  bytes: {st.bytes}",
                markup=False,
            )
            if st.lacking:
                out.print(f"  LACKING a copy of {len(st.lacking)} version(s):", markup=False)
                for aip, v in st.lacking[:50]:
                    out.print(f"    {aip} v{v}", markup=False)
                if len(st.lacking) > 50:
                    out.print(f"    … and {len(st.lacking) - 50} more (--json lists all)", markup=False)


@storage_app.command("replicate")
def storage_replicate(location: LocationOption = None, as_json: JsonOption = False) -> None:
    """Copy every version a location lacks from one that holds it, verifying every copy."""
    with (
        _handled(as_json),
        _recorded("storage replicate", target=location, arguments={"location": location}),
    ):
        with _services() as services, _progress(not as_json and err.is_terminal) as bar:
            results = services.storage.replicate(location, progress=_Counter(bar, "replicating"))
        failed = [r for r in results if r.problem]
        if as_json:
            _emit_json({"replicated": [r.model_dump(mode="json") for r in results]})
        else:
            for r in results:
                if r.problem:
                    err.print(f"FAILED: {r.aip_id} v{r.version} to {r.target}: {r.problem}", markup=False)
                else:
                    out.print(
                        f"copied {r.aip_id} v{r.version} from {r.source} to {r.target} "
                        f"({r.objects} objects, {r.bytes} bytes, verified)",
                        markup=False,
                    )
            if not results:
                out.print("every location already holds every version the policy requires", markup=False)
        if failed:
            raise typer.Exit(EXIT_STORAGE)


@storage_app.command("verify")
def storage_verify(
    aip_id: Annotated[str, typer.Argument(help="The AIP to re-read in full.")],
    version: Annotated[int | None, typer.Option(help="One version (default: all).")] = None,
    location: LocationOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-read and re-hash every file of an AIP at one or every location, and report per file."""
    with (
        _handled(as_json),
        _recorded("storage verify", target=aip_id, arguments={"version": version, "location": location}),
    ):
        with _services() as services, _progress(not as_json and err.is_terminal) as bar:
            checks = services.storage.verify(aip_id, version, location, progress=_Counter(bar, "verifying"))
        if as_json:
            _emit_json(
                {"ok": all(c.ok for c in checks), "copies": [c.model_dump(mode="json") for c in checks]}
            )
        else:
            for c in checks:
                where = f"AIP {c.aip_id} v{c.version} at {c.location}"
                if c.problem:
                    out.print(f"NOT CHECKED: {where}: {c.problem}", markup=False)
                elif c.ok:
                    out.print(f"OK: {where}: {len(c.files)} files, every sha256 as recorded", markup=False)
                else:
                    out.print(f"BAD: {where}: {len(c.bad)} of {len(c.files)} files", markup=False)
                    for f in c.bad:
                        detail = (
                            f" (expected {f.expected}, found {f.actual})" if f.status == "altered" else ""
                        )
                        out.print(f"  {f.status.upper()} {f.path}{detail}", markup=False)
        if any(c.problem for c in checks):
            raise typer.Exit(EXIT_STORAGE)  # a copy could not be checked: the location failed
        if not all(c.ok for c in checks):
            raise typer.Exit(EXIT_REJECTED)  # a file is not as recorded


@events_app.command("verify")
def events_verify(location: LocationOption = None, as_json: JsonOption = False) -> None:
    """Check every location's event log: no gap, no edit, every segment chained to the one before."""
    with _handled(as_json):
        with _services() as services:
            found = services.storage.verify_events(location)
        ok = all(not problems for problems, _, _ in found.values())
        if as_json:
            _emit_json(
                {
                    "ok": ok,
                    "locations": {
                        n: {"problems": p, "segments": s, "events": e} for n, (p, s, e) in found.items()
                    },
                }
            )
        else:
            for name, (problems, segments, events) in found.items():
                if problems:
                    out.print(f"BROKEN: location {name}: {len(problems)} problem(s)", markup=False)
                    for p in problems:
                        out.print(f"  {p}", markup=False)
                else:
                    out.print(
                        f"OK: location {name}: {segments} segments, {events} events, chain whole",
                        markup=False,
                    )
        if not ok:
            raise typer.Exit(EXIT_REJECTED)


@catalog_app.command("rebuild")
def catalog_rebuild(
    source: Annotated[str, typer.Option("--from", help="The location to rebuild from.")],
    as_json: JsonOption = False,
) -> None:
    """Recreate the catalog from storage alone, into an empty database."""
    with _handled(as_json), _recorded("catalog rebuild", target=source, arguments={"from": source}):
        with _services() as services:
            result = rebuild_catalog(
                services.storage,
                services.premis,
                services.catalog,
                source,
                services.scratch,
                deaccessions=services.deaccessions,
            )
        if as_json:
            _emit_json(result.model_dump(mode="json"))
            return
        out.print(
            f"REBUILT from location '{result.location}': {result.aips} AIPs, {result.versions} versions, "
            f"{result.files} files, {result.events} events, {result.segments} event log segments",
            markup=False,
        )
        for prefix in result.incomplete:
            out.print(f"  left out (incomplete, no bagit.txt): {prefix}", markup=False)
        for name in result.unreachable:
            out.print(f"  location {name} did not answer: its copies are not in the catalog", markup=False)
        if result.tombstones:
            out.print(
                f"  {result.tombstones} deaccessioned AIPs restored from their tombstones", markup=False
            )


ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Where batches are hashed: 'process' (a local process pool, the default), 'process:N', "
        "or 'dask://HOST:PORT' (a Dask distributed scheduler).",
    ),
]
WorkersOption = Annotated[
    int | None, typer.Option(help="Processes of the local pool (default: one per core).")
]


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - unreachable


@audit_app.command("run")
def audit_run(
    aip_id: Annotated[
        str | None, typer.Option("--aip", help="Only this AIP (every version and copy).")
    ] = None,
    location: LocationOption = None,
    deep: Annotated[
        bool, typer.Option("--deep", help="sha256 of every byte (default: what is due).")
    ] = False,
    everything: Annotated[bool, typer.Option("--all", help="Every copy, whether due or not.")] = False,
    budget: Annotated[
        int | None, typer.Option(help="Bytes per second per location, instead of the policy's.")
    ] = None,
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit by hand what the daemon would (or one AIP, or everything), repair, and summarise.

    Exit code 0: every object read was as recorded or was repaired; 1: objects are wrong (or no AIP
    lists them) and were not repaired; 5: a location could not be audited; 9: a file has no good
    copy left at any location.
    """
    import logging

    from oais.adapters.executors import open_executor, parallelism
    from oais.bootstrap import audit_service

    logging.getLogger("oais").addHandler(logging.NullHandler())  # the summary below says it all
    with (
        _handled(as_json),
        _recorded(
            "audit run",
            target=aip_id,
            arguments={
                "aip": aip_id,
                "location": location,
                "deep": deep,
                "all": everything,
                "budget": budget,
            },
        ),
    ):
        settings = load_settings()
        service = audit_service(settings)
        with open_executor(executor, workers) as pool, _progress(not as_json and err.is_terminal) as bar:
            report = service.run(
                pool,
                parallelism(pool),
                aip_id=aip_id,
                location=location,
                deep=deep,
                everything=everything,
                budget=budget,
                progress=_Counter(bar, "auditing"),
            )
        repaired = {(f.location, f.key) for f in report.repaired}
        left = [f for f in report.failed if (f.location, f.key) not in repaired]
        if as_json:
            _emit_json(
                {
                    "ok": not left and not report.unexpected and not report.unaudited and not report.problems,
                    "slices": len(report.slices),
                    "files": report.files,
                    "bytes": report.bytes,
                    "seconds": (report.finished - report.started).total_seconds()
                    if report.finished
                    else None,
                    "failed": [f.model_dump(mode="json") for f in report.failed],
                    "repaired": [f.model_dump(mode="json") for f in report.repaired],
                    "unrecoverable": [f.model_dump(mode="json") for f in report.unrecoverable],
                    "unexpected": [f.model_dump(mode="json") for f in report.unexpected],
                    "not_audited": report.unaudited,
                    "problems": report.problems,
                }
            )
        else:
            for f in report.unrecoverable:
                out.print(f"NO GOOD COPY LEFT: {f.line()}", markup=False)
            for f in left:
                # An object inside a version that no manifest lists is not a damaged file.
                label = "UNEXPECTED" if f.kind is FindingKind.UNEXPECTED else "BAD"
                out.print(f"{label}: {f.line()}", markup=False)
            for f in report.repaired:
                out.print(f"REPAIRED from '{f.repaired_from}': {f.line()}", markup=False)
            for f in report.unexpected:
                out.print(f"UNEXPECTED: {f.line()}", markup=False)
            for p in report.unaudited:
                out.print(f"NOT AUDITED: {p}", markup=False)
            for p in report.problems:
                out.print(f"PROBLEM: {p}", markup=False)
            modes = sorted({s.mode.value for s in report.slices})
            out.print(
                f"audited {len(report.slices)} slices ({'/'.join(modes) or 'nothing due'}): "
                f"{report.files} objects, {_size(report.bytes)}; {len(report.failed)} found wrong, "
                f"{len(report.repaired)} repaired, {len(report.unrecoverable)} with no good copy left",
                markup=False,
            )
        if report.unrecoverable:
            raise typer.Exit(EXIT_UNRECOVERABLE)
        if report.unaudited:
            raise typer.Exit(EXIT_STORAGE)
        if left or report.unexpected:
            raise typer.Exit(EXIT_REJECTED)


@audit_app.command("status")
def audit_status(as_json: JsonOption = False) -> None:
    """Coverage per location: the share verified within the cycle, the oldest verification, the
    backlog and the read rate the schedule needs; open findings first, with no good copy left on top.

    Exit code 9 if a file has no good copy left, 1 if other findings are open.
    """
    from oais.bootstrap import audit_service

    with _handled(as_json):
        status = audit_service(load_settings()).status()
        lost = [f for f in status.findings if f.unrecoverable]
        if as_json:
            _emit_json(
                {
                    **status.model_dump(mode="json"),
                    "locations": [{**c.model_dump(mode="json"), "share": c.share} for c in status.locations],
                }
            )
        else:
            for f in status.findings:
                label = "NO GOOD COPY LEFT" if f.unrecoverable else "OPEN"
                out.print(f"{label}: {f.line()} (since {f.detected:%Y-%m-%d %H:%M})", markup=False)
            out.print(
                f"policy {status.policy}: every copy verified within {status.cycle_days:g} days", markup=False
            )
            for c in status.locations:
                oldest = "never" if c.oldest is None or c.never else f"{c.oldest:%Y-%m-%d %H:%M}"
                warn = "  BUDGET TOO LOW" if c.needed_rate > c.budget else ""
                out.print(
                    f"{c.location}: {c.share:.1%} of {c.files} file copies ({_size(c.bytes)}) verified "
                    "within "
                    f"the cycle ({c.deep_files} deep); oldest verification {oldest}; "
                    f"{c.never} never verified; backlog {c.backlog_files} files ({_size(c.backlog_bytes)}); "
                    f"needs {_size(c.needed_rate)}/s of a {_size(c.budget)}/s budget{warn}; "
                    f"{c.open_findings} open findings",
                    markup=False,
                )
        if lost:
            raise typer.Exit(EXIT_UNRECOVERABLE)
        if status.findings:
            raise typer.Exit(EXIT_REJECTED)


@app.command("formats")
def formats_report(
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", help="the format policy file (default: formats.toml in the policies folder)"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Holdings by format (files, bytes, AIPs) with each format's status in the format policy: the
    formats at risk or obsolete first, then those the policy does not rate; then the tools its rules
    need that are not installed here.

    Exit code 1 if files in formats with a preservation rule are not migrated yet (see
    `oais plan migrations`); the originals of migrated files stay held, and are not counted then.
    """
    from oais.adapters.format_tools import missing_tools
    from oais.adapters.policy_files import load_format_policy
    from oais.bootstrap import format_catalog
    from oais.preservation_planning.formats import format_report

    with _handled(as_json):
        settings = load_settings()
        rules = load_format_policy(policy or settings.policies)
        report = format_report(rules, format_catalog(settings), missing_tools(rules))
        if as_json:
            _emit_json(report.model_dump(mode="json"))
        else:
            out.print(f"format policy {report.policy}", markup=False)
            for ln in report.lines:
                todo = f"; migrate {ln.migration}: {ln.unmigrated} not migrated yet" if ln.migration else ""
                out.print(
                    f"{ln.status.upper()}: {ln.puid or '-'} {ln.name}: {ln.files} files, "
                    f"{_size(ln.bytes)}, {ln.aips} AIPs{todo}",
                    markup=False,
                )
            for tool in report.missing_tools:
                out.print(f"TOOL MISSING: {tool}", markup=False)
        if report.due:
            raise typer.Exit(EXIT_REJECTED)


PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="the format policy file (default: formats.toml in the policies folder)"),
]


@plan_app.command("migrations")
def plan_migrations(
    policy: PolicyOption = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Write the plan to this file (without it: a dry run, nothing written)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Plan the migrations the format policy asks for: every file of every AIP's newest version
    whose format has a preservation rule and is not migrated yet, with totals by format.

    The plan is a JSON file to review, edit (drop lines) and approve before
    `oais migrate apply PLAN`. Without --out nothing is written.
    """
    from oais.adapters.format_tools import require_tools
    from oais.adapters.plan_files import write_plan
    from oais.adapters.policy_files import load_format_policy
    from oais.bootstrap import format_catalog
    from oais.domain.formats import Purpose
    from oais.domain.migration import MigrationPlan
    from oais.preservation_planning.migration import PlanTotals, format_totals, planned_aips

    # A dry run (no --out) changes nothing, not even the action log: only a plan written is recorded.
    with (
        _handled(as_json),
        _recorded("plan migrations", arguments={"out": str(out_path)}) if out_path else nullcontext(),
    ):
        settings = load_settings()
        rules = load_format_policy(policy or settings.policies)
        require_tools(rules, [Purpose.PRESERVATION])
        catalog = format_catalog(settings)
        totals = PlanTotals()
        created = datetime.now(UTC)

        def header() -> MigrationPlan:
            return MigrationPlan(
                created=created,
                policy=rules.reference,
                files=totals.files,
                bytes=totals.bytes,
                totals=totals.lines(rules),
            )

        if out_path is not None:
            write_plan(out_path, planned_aips(rules, catalog, totals), header)
            plan = header()
        elif as_json:
            listed = list(planned_aips(rules, catalog, totals))
            _emit_json({**header().model_dump(mode="json", exclude={"aips"}), "aips": listed})
            return
        else:
            # A dry run shows the totals only: one grouped query, no plan lines, no output names.
            lines = format_totals(
                rules, catalog.unmigrated(p for p, r in rules.formats.items() if r.preservation)
            )
            plan = MigrationPlan(
                created=created,
                policy=rules.reference,
                files=sum(t.files for t in lines),
                bytes=sum(t.bytes for t in lines),
                totals=lines,
            )
        if as_json:
            _emit_json({**plan.model_dump(mode="json", exclude={"aips"}), "out": str(out_path)})
            return
        # The dry run counts AIPs per format only (an AIP may hold several formats to migrate).
        aips = f" in {totals.aips} AIPs" if out_path is not None else ""
        out.print(
            f"format policy {plan.policy}: {plan.files} files, {_size(plan.bytes)}{aips} to migrate",
            markup=False,
        )
        for t in plan.totals:
            out.print(
                f"  {t.source_puid} {t.source_name}: {t.files} files, {_size(t.bytes)}, {t.aips} AIPs; "
                f"{t.action} to {t.target_puid} with {t.tool}",
                markup=False,
            )
        if out_path is None:
            out.print("dry run: nothing written (--out FILE writes the plan)", markup=False)
        else:
            out.print(
                f"plan written to {out_path}; review it, drop the lines not to do, then: "
                f"oais migrate apply {out_path}",
                markup=False,
            )


@migrate_app.command("apply")
def migrate_apply(
    plan_path: Annotated[Path, typer.Argument(help="The reviewed plan (from `oais plan migrations --out`).")],
    policy: PolicyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Apply a reviewed migration plan: for each AIP, run the tools, check each output's format
    and significant properties, and write a new AIP version holding the migrated files beside the
    originals. A failed AIP gets nothing written and is reported; the others go on.

    The whole plan is checked first: a line naming an unknown AIP, file or format refuses the plan
    (exit 1) and nothing is done. Exit code 1 also if an AIP failed. Applying a plan again does
    nothing for the files already migrated.
    """
    from oais.adapters.plan_files import read_plan
    from oais.adapters.policy_files import load_format_policy
    from oais.bootstrap import migration_service

    with (
        _handled(as_json),
        _recorded(
            "migrate apply", arguments={"plan": str(plan_path), "policy": str(policy) if policy else None}
        ),
    ):
        settings = load_settings()
        rules = load_format_policy(policy or settings.policies)
        plan = read_plan(plan_path)
        with _services() as services:
            service = migration_service(services)
            checked = service.check(plan, rules, str(plan_path))

            def started(aip_id: str) -> None:
                if not as_json:
                    err.print(f"migrating AIP {aip_id}", markup=False)

            report = service.apply(checked, rules, started)
        if as_json:
            _emit_json({"failed": len(report.failed), **report.model_dump(mode="json")})
        else:
            for a in report.aips:
                label = {"migrated": "MIGRATED", "nothing to do": "NOTHING TO DO", "failed": "FAILED"}[
                    a.status
                ]
                what = (
                    f"version {a.version} written"
                    if a.status == "migrated"
                    else f"version {a.version} unchanged"
                )
                out.print(f"{label}: AIP {a.aip_id}: {what}", markup=False)
                if a.reason:
                    out.print(f"  reason: {a.reason}", markup=False)
                for f in a.files:
                    detail = f": {f.detail}" if f.detail else ""
                    out.print(f"  {f.status}: {f.path} -> {f.output}{detail}", markup=False)
        if report.failed:
            raise typer.Exit(EXIT_REJECTED)


@app.command()
def daemon(
    executor: ExecutorOption = None,
    workers: WorkersOption = None,
    name: Annotated[
        str | None,
        typer.Option(help="This daemon's name, unique per catalog (default: the host name)."),
    ] = None,
) -> None:
    """Run the integrity daemon: audit, record and repair on the audit policy's schedule, until
    SIGTERM or SIGINT."""
    import logging

    from oais.entrypoints import daemon as integrity_daemon

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _handled(False), _recorded("daemon"):
        integrity_daemon.run(load_settings(), executor, workers, name)


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="Who holds the token: a person or a portal (unique).")],
    role: Annotated[
        Role,
        typer.Option(help="producer (submits and sees its own AIPs), auditor (reads everything) or admin."),
    ],
    producer: Annotated[
        str | None,
        typer.Option(help="The producer name a producer token submits and reads under (producer only)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a new API token and print it, this once: the catalog keeps only its sha256."""
    from oais.bootstrap import token_store
    from oais.domain.access_control import token_problem

    problem = token_problem(name, role, producer.strip() if producer is not None else None)
    if problem:
        raise typer.BadParameter(problem)
    with (
        _handled(as_json),
        _recorded("token add", target=name, arguments={"role": role.value, "producer": producer}),
    ):
        store = token_store(load_settings())
        try:
            issued = store.add(name, role, producer)
        finally:
            store.dispose()
        if as_json:
            _emit_json({**issued.token.model_dump(mode="json"), "token": issued.secret})
            return
        bound = f", producer '{issued.token.producer}'" if issued.token.producer else ""
        out.print(f"TOKEN for '{name}' ({role.value}{bound}):", markup=False)
        out.print(issued.secret, markup=False)
        err.print(
            "  shown this once: store it now (the catalog keeps only its sha256); send it as "
            "'Authorization: Bearer <token>'",
            markup=False,
        )


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """Every API token (never the tokens themselves): name, role, producer, created, revoked."""
    from oais.bootstrap import token_store

    with _handled(as_json):
        store = token_store(load_settings())
        try:
            found = store.list()
        finally:
            store.dispose()
        if as_json:
            _emit_json({"tokens": [t.model_dump(mode="json") for t in found]})
            return
        for t in found:
            state = f"REVOKED {t.revoked:%Y-%m-%d %H:%M}" if t.revoked else "valid"
            bound = f" producer '{t.producer}'" if t.producer else ""
            out.print(
                f"{t.name}: {t.role.value}{bound}; created {t.created:%Y-%m-%d %H:%M}; {state}", markup=False
            )
        if not found:
            out.print("no API tokens (oais token add NAME --role ROLE makes one)", markup=False)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="The token's name (see oais token list).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API token: its next request is refused (the name stays taken). Exit code 3 if no
    token has this name."""
    from oais.bootstrap import token_store

    with _handled(as_json), _recorded("token revoke", target=name):
        store = token_store(load_settings())
        try:
            token = store.revoke(name)
        finally:
            store.dispose()
        if as_json:
            _emit_json(token.model_dump(mode="json"))
            return
        assert token.revoked is not None
        out.print(
            f"REVOKED: token '{token.name}' ({token.role.value}) since {token.revoked.isoformat()}",
            markup=False,
        )


# --- deaccession ---------------------------------------------------------------------------------


RequestIdArgument = Annotated[str, typer.Argument(help="The request id (dea-...), as printed by 'request'.")]


def _withdrawal_json(found: tuple[DeaccessionRequest, Tombstone | None] | None) -> dict[str, Any] | None:
    if found is None:
        return None
    request, tombstone = found
    return {
        "request": request.model_dump(mode="json"),
        "tombstone": tombstone.model_dump(mode="json") if tombstone is not None else None,
    }


def _outcome_json(outcome: DeaccessionOutcome) -> dict[str, Any]:
    return outcome.model_dump(mode="json")


def _print_outcome(outcome: DeaccessionOutcome) -> None:
    r = outcome.request
    if outcome.state == "executed" and outcome.tombstone is not None:
        t = outcome.tombstone
        out.print(f"EXECUTED: {r.id}: {t.summary()}", markup=False)
        out.print(f"  tombstone: aips/{t.aip_id}/tombstone.json at every location", markup=False)
        out.print(f"  PREMIS deletion event: {t.event_id}", markup=False)
    elif outcome.state == "waiting":
        out.print(f"APPROVED, WAITING: {r.id} (AIP {r.aip_id}): {r.detail}", markup=False)
        if r.retry_after is not None:
            out.print(f"  due again on {r.retry_after.isoformat()} ('oais deaccession run')", markup=False)
    elif outcome.state == "failed":
        out.print(f"APPROVED, NOT CARRIED OUT: {r.id} (AIP {r.aip_id}): {r.detail}", markup=False)
    elif outcome.state == "rejected":
        out.print(f"REJECTED: {r.id} (AIP {r.aip_id}) by {r.decided_by}: {r.decision_note}", markup=False)
    for problem in outcome.problems:
        err.print(f"  PROBLEM: {problem}", markup=False)


def _print_request(request: DeaccessionRequest, tombstone: Tombstone | None) -> None:
    print_ = out.print
    print_(f"deaccession request {request.id}", markup=False)
    print_(f"  AIP:          {request.aip_id}", markup=False)
    print_(f"  status:       {request.status.value}", markup=False)
    print_(f"  reason:       {request.reason}", markup=False)
    print_(f"  requested by: {request.requested_by} on {request.requested_at.isoformat()}", markup=False)
    if request.decided_by is not None and request.decided_at is not None:
        print_(
            f"  {request.status.value if request.status.value != 'executed' else 'approved'} by:"
            f" {request.decided_by} on {request.decided_at.isoformat()}",
            markup=False,
        )
    if request.decision_note:
        print_(f"  note:         {request.decision_note}", markup=False)
    if request.started is not None:
        print_(f"  started:      {request.started.isoformat()}", markup=False)
    if request.executed_at is not None:
        print_(
            f"  executed:     {request.executed_at.isoformat()} (PREMIS event {request.event_id})",
            markup=False,
        )
    if request.detail:
        print_(f"  detail:       {request.detail}", markup=False)
    if request.retry_after is not None:
        print_(f"  due again:    {request.retry_after.isoformat()}", markup=False)
    if tombstone is not None:
        print_("  tombstone:", markup=False)
        print_(
            f"    {tombstone.title} ({tombstone.producer}), ingested {tombstone.ingested.isoformat()}",
            markup=False,
        )
        print_(
            f"    {len(tombstone.versions)} versions, {tombstone.files} files, {tombstone.bytes} bytes",
            markup=False,
        )
        for loc in tombstone.locations:
            print_(
                f"    deleted at {loc.location}: {loc.objects} object versions, {loc.bytes} bytes",
                markup=False,
            )


@deaccession_app.command("request")
def deaccession_request(
    aip_id: Annotated[str, typer.Argument(help="The AIP to deaccession.")],
    reason: Annotated[
        str, typer.Option(help="Why (kept in the request, the PREMIS event and the tombstone).")
    ],
    as_json: JsonOption = False,
) -> None:
    """Ask for the deaccession of an AIP; another administrator must approve it. Needs OAIS_TOKEN set
    to an admin token."""
    with (
        _handled(as_json),
        _recorded("deaccession request", target=aip_id, arguments={"reason": reason}) as act,
    ):
        with _services() as services:
            request = deaccession_service(services).request(aip_id, reason, act.actor)
        act.note(f"request {request.id}")
        if as_json:
            _emit_json(request.model_dump(mode="json"))
            return
        out.print(
            f"REQUESTED: {request.id}: deaccession of AIP {aip_id} (by {request.requested_by})", markup=False
        )
        out.print(
            f"  another administrator approves it with: oais deaccession approve {request.id}", markup=False
        )


@deaccession_app.command("approve")
def deaccession_approve(
    request_id: RequestIdArgument,
    note: Annotated[str | None, typer.Option(help="A note kept with the approval.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve a request (an administrator other than the requester), then delete the AIP at once
    unless retention holds it. Exit 5 if it could not be carried out (the approval stands)."""
    with (
        _handled(as_json),
        _recorded("deaccession approve", target=request_id, arguments={"note": note}) as act,
    ):
        with _services() as services:
            outcome = deaccession_service(services).approve(request_id, act.actor, note)
        act.note(f"AIP {outcome.request.aip_id}: {outcome.state}")
        if as_json:
            _emit_json(_outcome_json(outcome))
        else:
            _print_outcome(outcome)
        if outcome.state == "failed" or outcome.problems:
            raise typer.Exit(EXIT_STORAGE)


@deaccession_app.command("reject")
def deaccession_reject(
    request_id: RequestIdArgument,
    note: Annotated[str, typer.Option(help="Why it is rejected.")],
    as_json: JsonOption = False,
) -> None:
    """Reject a request (an administrator other than the requester), saying why."""
    with (
        _handled(as_json),
        _recorded("deaccession reject", target=request_id, arguments={"note": note}) as act,
    ):
        with _services() as services:
            outcome = deaccession_service(services).reject(request_id, act.actor, note)
        act.note(f"AIP {outcome.request.aip_id}: rejected")
        if as_json:
            _emit_json(_outcome_json(outcome))
        else:
            _print_outcome(outcome)


@deaccession_app.command("run")
def deaccession_run(as_json: JsonOption = False) -> None:
    """Carry out the approved requests that are due (their retention ended). Exit 5 if one could not
    be carried out."""
    with _handled(as_json), _recorded("deaccession run") as act:
        with _services() as services:
            outcomes = deaccession_service(services).run_due(act.actor)
        act.note(", ".join(f"{o.request.id}: {o.state}" for o in outcomes) or "nothing due")
        if as_json:
            _emit_json({"requests": [_outcome_json(o) for o in outcomes]})
        else:
            for outcome in outcomes:
                _print_outcome(outcome)
            if not outcomes:
                out.print(
                    "nothing due: no approved deaccession request is to be carried out now", markup=False
                )
        if any(o.state == "failed" or o.problems for o in outcomes):
            raise typer.Exit(EXIT_STORAGE)


@deaccession_app.command("list")
def deaccession_list(
    status: Annotated[RequestStatus | None, typer.Option(help="Only requests with this status.")] = None,
    aip_id: Annotated[str | None, typer.Option("--aip", help="Only the requests of this AIP.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List deaccession requests, oldest first."""
    with _handled(as_json):
        with _services() as services:
            found = deaccession_service(services).list_requests(status, aip_id)
        if as_json:
            _emit_json({"requests": [r.model_dump(mode="json") for r in found]})
            return
        for r in found:
            out.print(r.line(), markup=False)
            if r.detail and r.status is RequestStatus.APPROVED:
                out.print(f"  {r.detail}", markup=False)
        if not found:
            out.print("no deaccession requests", markup=False)


@deaccession_app.command("show")
def deaccession_show(request_id: RequestIdArgument, as_json: JsonOption = False) -> None:
    """Show one request: the AIP, the reason, who asked and decided, how it stands, its tombstone."""
    with _handled(as_json):
        with _services() as services:
            request, tombstone = deaccession_service(services).show(request_id)
        if as_json:
            _emit_json(
                {
                    "request": request.model_dump(mode="json"),
                    "tombstone": tombstone.model_dump(mode="json") if tombstone is not None else None,
                }
            )
            return
        _print_request(request, tombstone)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on (behind a TLS reverse proxy).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8080,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="The proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated; "
            "'*' trusts every client)."
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve the HTTP API (OpenAPI at /openapi.json, documentation at /docs) until SIGTERM or SIGINT.

    Every request needs a token of `oais token add`; see docs/http-api.md.
    """
    import logging

    import uvicorn

    from oais.entrypoints.http import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _handled(False), _recorded("serve"):
        services = build(load_settings())
        try:
            # The application closes the services when the server stops: uvicorn then re-raises
            # the SIGTERM or SIGINT it stopped on, and nothing after it here would run.
            api = create_app(services, close_services=True)
        except BaseException:
            services.close()
            raise
        uvicorn.run(
            api,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            access_log=False,  # oais.http logs every request with the token's name
            log_config=None,  # the logging configured above
        )


def _report_day(value: str | None, option: str) -> date | None:
    """A report period's day from the command line (YYYY-MM-DD), or exit 2 naming the option."""
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint=option) from None


def _report_period(start: str | None, end: str | None) -> Period:
    first, last = _report_day(start, "--from"), _report_day(end, "--to")
    if first is not None and last is not None and last < first:
        raise typer.BadParameter(f"the period ends ({last}) before it starts ({first})", param_hint="--to")
    return Period(start=first, end=last)


@report_app.command("cts")
def report_cts(
    out_dir: Annotated[
        Path, typer.Option("--out", help="The folder to write the report to (new, or empty).")
    ],
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day of the period, YYYY-MM-DD (default: the first record)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last day of the period, YYYY-MM-DD, included (default: today)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """CoreTrustSeal evidence report: for each requirement software can support (R07-R11, R14, R16),
    the figures, tables and plots that answer it, computed from the catalog, the storage locations and
    their event logs.

    Writes report.json (canonical JSON), report.json.sha256 and report.html (stating that digest) into
    a new folder; the action log records the digest (see `oais report verify`). Exit code 4 if the
    folder exists and is not empty (nothing is overwritten), 5 if it cannot be written.
    """
    from oais.adapters.report_html import HtmlReportRenderer
    from oais.administration.reports import write_report
    from oais.bootstrap import report_service

    period = _report_period(start, end)
    arguments: dict[str, ArgumentValue] = {
        "out": str(out_dir),
        "from": period.start.isoformat() if period.start else None,
        "to": period.end.isoformat() if period.end else None,
    }
    with _handled(as_json), _recorded("report cts", target=str(out_dir), arguments=arguments) as act:
        report = report_service(load_settings()).cts(period, exclude_action=act.id)
        sha = write_report(report, out_dir, HtmlReportRenderer())
        act.note(f"sha256 {sha}")
        problems = sum(1 for s in report.sections for f in s.findings if f.level.value == "problem")
        warnings = sum(1 for s in report.sections for f in s.findings if f.level.value == "warning")
        if as_json:
            _emit_json(
                {
                    "sha256": sha,
                    "folder": str(out_dir),
                    "files": ["report.json", "report.json.sha256", "report.html"],
                    "period": period.model_dump(mode="json"),
                    "generated": report.generated.isoformat(),
                    "software": report.software,
                    "sections": [
                        {
                            "key": s.key,
                            "title": s.title,
                            "findings": {
                                level: sum(1 for f in s.findings if f.level.value == level)
                                for level in ("ok", "warning", "problem")
                            },
                        }
                        for s in report.sections
                    ],
                }
            )
            return
        out.print(f"REPORT written to {out_dir}: report.html, report.json", markup=False)
        out.print(f"  sha256 of report.json: {sha}", markup=False)
        out.print(f"  findings: {problems} problems, {warnings} warnings", markup=False)


@report_app.command("verify")
def report_verify(
    folder: Annotated[Path, typer.Argument(help="A report folder (report.json, report.json.sha256).")],
    as_json: JsonOption = False,
) -> None:
    """Check a report: the sha256 of report.json against report.json.sha256, and against the digests
    the action log recorded for the reports this archive made.

    Exit code 0 if both match; 1 if the report was edited or was not made by this archive.
    """
    from oais.administration.reports import verify_report
    from oais.bootstrap import evidence_catalog

    with _handled(as_json):
        evidence = evidence_catalog(load_settings())
        try:
            check = verify_report(folder, evidence.report_actions)
        finally:
            evidence.dispose()
        if as_json:
            _emit_json(
                {
                    "ok": check.ok,
                    "folder": check.folder,
                    "sha256": check.digest,
                    "stated": check.recorded,
                    "made_by": [
                        {"action_id": i, "started": s, "actor": a, "action": ac}
                        for i, s, a, ac in check.made_by
                    ],
                    "problems": check.problems,
                }
            )
        elif check.ok:
            i, started, actor, action = check.made_by[0]
            out.print(
                f"OK: {folder}: report.json has sha256 {check.digest}, as stated and as recorded by "
                f"'{action}' (action {i}, {started}, by {actor})",
                markup=False,
            )
        else:
            out.print(f"NOT VERIFIED: {folder}", markup=False)
            for p in check.problems:
                out.print(f"  {p}", markup=False)
        if not check.ok:
            raise typer.Exit(EXIT_REJECTED)


OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", help="Also write report.json, report.json.sha256 and report.html into this new folder."
    ),
]


def _write_report_files(report: Any, out_dir: Path | None, act: Act) -> str | None:
    """Write the report folder if asked (``--out``) and record its digest; its sha256 or None."""
    if out_dir is None:
        return None
    from oais.adapters.report_html import HtmlReportRenderer
    from oais.administration.reports import write_report

    sha = write_report(report, out_dir, HtmlReportRenderer())
    act.note(f"sha256 {sha}")
    return sha


@report_app.command("ndsa")
def report_ndsa(out_dir: OutOption = None, as_json: JsonOption = False) -> None:
    """NDSA Levels of Digital Preservation (2019) self-assessment: every cell of the matrix (storage,
    integrity, control, metadata, content; levels 1-4) judged from the configuration, the policies and
    the catalog, with the evidence and what is missing for the next level.

    Prints a summary (--json: the report as JSON); --out also writes the report folder. Exit code 4 if
    that folder exists and is not empty (nothing is overwritten).
    """
    from oais.bootstrap import ndsa_service
    from oais.domain.ndsa import LEVELS
    from oais.domain.reports import canonical_json

    with (
        _handled(as_json),
        _recorded(
            "report ndsa",
            target=str(out_dir) if out_dir else None,
            arguments={"out": str(out_dir) if out_dir else None},
        ) as act,
    ):
        report = ndsa_service(load_settings()).report()
        sha = _write_report_files(report, out_dir, act)
        if as_json:
            sys.stdout.write(canonical_json(report).decode("utf-8"))
            return
        [levels] = report.sections[0].tables
        out.print(
            f"NDSA Levels of Digital Preservation: {report.archive}, {report.generated:%Y-%m-%d %H:%M} UTC",
            markup=False,
        )
        for row in levels.rows:
            area, level, *cells, missing = row
            out.print(
                f"  {area:<10} level {level}   "
                + ", ".join(f"L{n} {c}" for n, c in zip(LEVELS, cells, strict=True)),
                markup=False,
            )
            if missing:
                out.print(f"    for level {int(str(level)) + 1}: {missing}", markup=False)
        for finding in report.sections[0].findings:
            if finding.level.value != "ok" and finding.text.startswith("Nothing is stored"):
                out.print(f"  NOTE: {finding.text}", markup=False)
        if sha:
            out.print(f"REPORT written to {out_dir}: report.html, report.json (sha256 {sha})", markup=False)


@report_app.command("audit")
def report_audit(
    start: Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD (UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period, YYYY-MM-DD, included.")],
    out_dir: OutOption = None,
    as_json: JsonOption = False,
) -> None:
    """The auditor's view of a period: every fixity failure, repair, deletion and policy change, each
    with who and when, the period's figures, and what was unresolved at its end.

    Prints a summary (--json: the report as JSON); --out also writes the report folder. Exit code 2 if
    a day is not YYYY-MM-DD or the period ends before it starts, 4 if the folder exists and is not
    empty.
    """
    from oais.bootstrap import audit_report_service
    from oais.domain.reports import canonical_json

    period = _report_period(start, end)
    assert period.start is not None and period.end is not None  # both options are required
    arguments: dict[str, ArgumentValue] = {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "out": str(out_dir) if out_dir else None,
    }
    with (
        _handled(as_json),
        _recorded("report audit", target=str(out_dir) if out_dir else None, arguments=arguments) as act,
    ):
        report = audit_report_service(load_settings()).report(period.start, period.end, exclude_action=act.id)
        sha = _write_report_files(report, out_dir, act)
        if as_json:
            sys.stdout.write(canonical_json(report).decode("utf-8"))
            return
        _print_audit_report(report)
        if sha:
            out.print(f"REPORT written to {out_dir}: report.html, report.json (sha256 {sha})", markup=False)


def _print_audit_report(report: Any) -> None:
    """The audit report for people: the figures, then one line per item (the tables' rows)."""
    sections = {s.key: s for s in report.sections}
    figures = {f.key: f.value for f in sections["summary"].figures}
    out.print(f"AUDIT REPORT {report.period.start} to {report.period.end}: {report.archive}", markup=False)
    out.print(
        f"  fixity checks {figures['fixity_checks']} ({figures['fixity_checks_failed']} failed); "
        f"objects found wrong {figures['failures']}; repairs {figures['repairs']}; open at the end "
        f"{figures['unresolved_at_end']} ({figures['unrecoverable_at_end']} with no good copy)",
        markup=False,
    )
    out.print(
        f"  deaccession requests {figures['deaccession_requests']} "
        f"({figures['deletions_executed']} carried out); policy changes {figures['policy_changes']} "
        f"({figures['policy_same_version_changes']} without a new version); actions {figures['actions']}",
        markup=False,
    )

    def rows(section: str, table: str) -> tuple[list[str], list[list[Any]], int]:
        found = next(t for t in sections[section].tables if t.key == table)
        return found.columns, found.rows, found.truncated

    labels = (
        ("fixity-failures", "failures", "FAILURE"),
        ("fixity-failures", "failed-checks", "FAILED CHECK"),
        ("repairs", "repairs", "REPAIR"),
        ("deletions", "deletions", "DELETION"),
        ("policy-changes", "changes", "POLICY"),
        ("unresolved", "unresolved", "OPEN"),
    )
    for section, table, label in labels:
        columns, lines, left_out = rows(section, table)
        for line in lines:
            shown = "; ".join(
                f"{c.lower()}: {v}" for c, v in zip(columns, line, strict=True) if v not in (None, "")
            )
            out.print(f"{label} {shown}", markup=False)
        if left_out:
            out.print(f"{label} ... and {left_out} more (see --json or --out)", markup=False)
    for section in report.sections:
        for finding in section.findings:
            if finding.level.value == "problem":
                out.print(f"PROBLEM: {finding.text}", markup=False)


def main() -> None:
    """Entry point of the ``oais`` command."""
    try:
        app()
    except SystemExit:
        raise
    except Exception:
        err.print_exception()
        sys.exit(EXIT_INTERNAL)
