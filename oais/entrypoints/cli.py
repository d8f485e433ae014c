"""The ``oais`` command: parse, call a service, render. Errors become exit codes here and only here.

Exit codes (stable; scripts rely on them):

==== ===========================================================================
code meaning
==== ===========================================================================
0    success (an accepted SIP, a valid bag, a shown AIP)
1    the input was rejected: every problem is listed (SIP rejected, bag invalid)
2    the command line is wrong (unknown option, missing argument)
3    not found (no such AIP or path)
4    conflict with what the archive holds (an AIP id taken by other content)
5    storage failed (nothing was published)
6    the catalog failed
7    configuration or policy is invalid
8    an external tool failed
70   an unexpected internal error (a bug: please report it with the traceback)
==== ===========================================================================
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

from oais.bootstrap import Services, bag_validator, build
from oais.config import load_settings
from oais.domain.errors import (
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

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_STORAGE = 5
EXIT_CATALOG = 6
EXIT_CONFIG = 7
EXIT_TOOL = 8
EXIT_INTERNAL = 70

_EXIT_CODES: list[tuple[type[OaisError], int]] = [
    (ValidationFailed, EXIT_REJECTED),
    (NotFound, EXIT_NOT_FOUND),
    (ConflictError, EXIT_CONFLICT),
    (StorageError, EXIT_STORAGE),
    (CatalogError, EXIT_CATALOG),
    (ConfigError, EXIT_CONFIG),
    (ToolError, EXIT_TOOL),
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
    title: Annotated[str, typer.Option(help="The AIP's title.")],
    aip_id: Annotated[
        str | None,
        typer.Option("--id", help="AIP id to use (default: derived from the content's digests)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest a SIP: check it, store it as a BagIt 1.0 AIP with PREMIS 3 metadata, catalogue it."""
    with _handled(as_json):
        with _services() as services, _progress(not as_json and err.is_terminal) as bar:
            result = services.ingest.ingest(path, producer=producer, title=title, aip_id=aip_id, progress=bar)
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
        if result.warnings:
            _print_issues(result.warnings, out)


@app.command()
def show(
    aip_id: Annotated[str, typer.Argument(help="The AIP id printed by 'oais ingest'.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the latest).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show what was stored: files, formats, digests, events and agents."""
    with _handled(as_json):
        with _services() as services, services.catalog() as uow:
            record = uow.aips.get(aip_id, version)
        if record is None:
            raise AipNotFound(
                f"no AIP {aip_id}" + (f" version {version}" if version else "") + " in the catalog"
            )
        if as_json:
            _emit_json(record.model_dump(mode="json"))
            return
        a, v = record.aip, record.version
        print_ = out.print
        print_(f"AIP {a.aip_id} version {v.version}", markup=False)
        print_(f"  title:     {a.title}", markup=False)
        print_(f"  producer:  {a.producer}", markup=False)
        print_(f"  created:   {v.created.isoformat()}", markup=False)
        print_(f"  stored at: {v.location}", markup=False)
        print_(f"  files:     {v.files} ({v.bytes} bytes)", markup=False)
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


def main() -> None:
    """Entry point of the ``oais`` command."""
    try:
        app()
    except SystemExit:
        raise
    except Exception:
        err.print_exception()
        sys.exit(EXIT_INTERNAL)
