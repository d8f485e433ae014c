"""``oais daemon``: the scheduled integrity daemon (APScheduler 3.x).

The schedule lives in the catalog database (one job table per daemon name), so a restarted daemon
resumes where it was: a tick that was due while it was down runs once (coalescing), never twice at
the same time (``max_instances=1``). Each tick claims the slices whose last verification is oldest
at every location, verifies them within the read budget, records the outcomes and repairs what
failed; claims keep several daemons on several hosts from verifying the same copy at once.

Stopping: SIGTERM or SIGINT to the daemon lets the tick under way finish. Ctrl-C in a terminal
reaches the worker processes too, which ignore it (they finish the tick with the daemon); a SIGTERM
sent to every process of the service (systemd's default) stops them at once, and the tick ends
early, recording nothing of what it had not finished, which stays due. Worker processes that die
while the daemon runs are replaced, and the next tick carries on.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import cast

from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerThreads
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy.exc import SQLAlchemyError

from oais.adapters.catalog.engine import make_engine
from oais.adapters.executors import open_executor, parallelism
from oais.administration.deaccession import DeaccessionService
from oais.archival_storage.audit import AuditReport, AuditService
from oais.bootstrap import action_recorder, audit_service, deaccession_runner
from oais.config import Settings
from oais.data_management.actions import Act, ActionRecorder
from oais.domain.actions import ActionOutcome, Actor, Basis, Channel
from oais.domain.errors import ConfigError, OaisError

log = logging.getLogger("oais.daemon")

TICK_JOB = "audit-tick"


class _Readers:
    """The executor that ticks hash with, opened again when it breaks: a process pool whose worker
    died (the OOM killer, an operator's kill) refuses every later task, and the daemon would
    otherwise go on ticking without ever auditing anything again."""

    def __init__(self, spec: str | None, workers: int | None) -> None:
        self._spec = spec
        self._workers = workers
        self._stack = contextlib.ExitStack()
        self.executor = self._open()

    def _open(self) -> Executor:
        executor = self._stack.enter_context(open_executor(self._spec, self._workers))
        return executor

    def replace(self) -> None:
        """Close the broken executor and open a new one."""
        broken = self._stack.pop_all()
        try:
            broken.close()
        except Exception as exc:
            log.warning("the broken worker pool did not shut down cleanly: %s", exc)
        self.executor = self._open()

    def close(self) -> None:
        """Wait for the work submitted, then stop the workers."""
        self._stack.close()


@dataclass
class _Context:
    service: AuditService
    readers: _Readers
    stopping: threading.Event
    #: Held while a tick runs.
    ticking: threading.Lock
    #: Every tick is an action of the daemon in the action log (the evidence of a schedule kept).
    recorder: ActionRecorder
    actor: Actor
    #: Approved deaccessions whose retention ended are carried out by the tick (None: not here).
    deaccessions: DeaccessionService | None = None


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler, minus two ways for its thread to misbehave.

    * Woken by ``shutdown``, the thread looks for due jobs once more and submits them to the
      executor that was just shut down (a traceback in the log of every stop after a long tick).
    * An error of the job store outside its due-jobs query (the database restarted while the next
      run time was being written) ends the thread: the daemon would stay up without ever ticking.
    """

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        try:
            return cast("float | None", super()._process_jobs())
        except SQLAlchemyError as exc:
            retry = float(self.jobstore_retry_interval)
            log.error("the schedule could not be updated (trying again in %g s): %s", retry, exc)
            return retry


# The running daemon's service: jobs are stored by reference to :func:`tick`, which finds it here.
_context: _Context | None = None


def job_table(name: str) -> str:
    """The job table of the daemon called ``name`` (APScheduler 3 cannot share one between
    schedulers, so each daemon keeps its own next to the catalog)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise ConfigError(f"daemon name {name!r} has no letters or digits")
    return f"oais_daemon_jobs_{slug}"[:63]


def tick() -> None:
    """One tick: audit what is due at every location, within one tick's worth of the budget."""
    context = _context
    if context is None:  # pragma: no cover - only scheduled by run()
        raise RuntimeError("the daemon is not running")
    with context.ticking:
        _tick(context)


def _tick(context: _Context) -> None:
    try:
        with context.recorder.recording(context.actor, Channel.DAEMON, "audit tick") as act:
            _audit(context, act)
    except OaisError as exc:
        # The database or a location failed for the whole tick: the claims expire and the next
        # tick carries on.
        log.error("audit tick failed: %s", exc)
    _deaccessions(context)


def _deaccessions(context: _Context) -> None:
    """Carry out the approved deaccessions that are due (an action of the daemon when any is)."""
    if context.deaccessions is None:
        return
    try:
        if not context.deaccessions.due():
            return
        with context.recorder.recording(context.actor, Channel.DAEMON, "deaccession run") as act:
            outcomes = context.deaccessions.run_due(context.actor)
            for o in outcomes:
                log.info(
                    "deaccession %s (AIP %s): %s %s",
                    o.request.id,
                    o.request.aip_id,
                    o.state,
                    o.request.detail,
                )
            act.note(", ".join(f"{o.request.id}: {o.state}" for o in outcomes))
            if any(o.state == "failed" or o.problems for o in outcomes):
                act.end(ActionOutcome.FAILED, "not every due deaccession could be carried out")
    except OaisError as exc:
        log.error("deaccession run failed: %s", exc)


def _audit(context: _Context, act: Act) -> None:
    policy = context.service.policy
    executor = context.readers.executor
    try:
        report = context.service.run(
            executor,
            # Asked every tick: a Dask cluster gains and loses workers.
            parallelism(executor),
            limit_seconds=policy.tick_seconds,
        )
    except BrokenExecutor as exc:
        # What the tick had not recorded stays due (its claims are given back, or expire).
        if context.stopping.is_set():
            log.info("the tick was cut short: its worker processes were stopped with the daemon")
            act.end(ActionOutcome.FAILED, "cut short: the daemon was stopped")
            return
        log.error("audit tick failed: its worker processes died (%s); starting new ones", exc)
        act.end(ActionOutcome.FAILED, f"worker processes died: {exc}")
        context.readers.replace()
        return
    _log_report(report)
    act.note(
        f"{len(report.slices)} slices, {report.files} files, {report.bytes} bytes, "
        f"{len(report.failed)} found wrong, {len(report.repaired)} repaired, "
        f"{len(report.unrecoverable)} with no good copy left"
    )
    if report.unrecoverable or report.unaudited or (len(report.failed) > len(report.repaired)):
        act.end(ActionOutcome.FAILED, "exceptions: see the findings (oais audit status)")


def _log_report(report: AuditReport) -> None:
    log.info(
        "audit tick: %d slices, %d files, %d bytes, %d found wrong, %d repaired",
        len(report.slices),
        report.files,
        report.bytes,
        len(report.failed),
        len(report.repaired),
    )
    for problem in report.unaudited:
        log.warning("not audited: %s", problem)
    for problem in report.problems:
        log.warning("%s", problem)
    for finding in report.unexpected:
        log.error("object no AIP lists: %s", finding.line())
    for finding in report.unrecoverable:
        log.error("NO GOOD COPY LEFT: %s", finding.line())


def run(
    settings: Settings,
    executor_spec: str | None,
    workers: int | None,
    name: str | None,
    stop: threading.Event | None = None,
) -> None:
    """Run the daemon until SIGTERM or SIGINT (or until ``stop`` is set).

    Raises:
        ConfigError: the audit policy, the executor or the daemon name is invalid.
        CatalogError: the catalog cannot be opened.
    """
    global _context
    daemon_name = name or socket.gethostname()
    table = job_table(daemon_name)
    stop = stop or threading.Event()
    with _stopped_by_signals(stop):
        service = audit_service(settings)
        deaccessions = deaccession_runner(settings)
        readers = _Readers(executor_spec, workers)
        try:
            _schedule(settings, service, readers, daemon_name, table, stop, deaccessions)
        finally:
            _context = None
            readers.close()


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` while in the block (only the main thread can be told)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current tick", signum)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _schedule(
    settings: Settings,
    service: AuditService,
    readers: _Readers,
    daemon_name: str,
    table: str,
    stop: threading.Event,
    deaccessions: DeaccessionService | None = None,
) -> None:
    """Tick on the stored schedule until ``stop`` is set, then wait for the tick under way."""
    global _context
    policy = service.policy
    # The catalog's own engine settings (SQLite: write-ahead log and a busy timeout; PostgreSQL:
    # connections checked before use, so that a restarted server costs no failed poll).
    engine = make_engine(settings.database_url)
    try:
        actor = Actor(name=f"oais daemon {daemon_name}", basis=Basis.DAEMON)
        recorder = action_recorder(settings)
        context = _context = _Context(service, readers, stop, threading.Lock(), recorder, actor, deaccessions)
        scheduler = _Scheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=table)},
            executors={"default": SchedulerThreads(1)},
            # A tick missed while the daemon was down runs once when it is back, however late.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        scheduler.start(paused=True)
        try:
            job = scheduler.get_job(TICK_JOB)
            interval = timedelta(seconds=policy.tick_seconds)
            if job is None:
                scheduler.add_job(
                    f"{__name__}:tick",
                    "interval",
                    seconds=policy.tick_seconds,
                    id=TICK_JOB,
                    name="fixity audit tick",
                    next_run_time=datetime.now(UTC),
                )
            elif getattr(job.trigger, "interval", None) != interval:
                job.reschedule("interval", seconds=policy.tick_seconds)
            # Otherwise a restart keeps the stored next run time: the schedule resumes.
            log.info(
                "oais daemon %s: policy %s, a tick every %d s, %d parallel readers, jobs in table %s",
                daemon_name,
                policy.reference,
                policy.tick_seconds,
                parallelism(readers.executor),
                table,
            )
            scheduler.resume()
            stop.wait()
        finally:
            # No new tick, and the one under way finished, before the scheduler shuts down: shutting
            # it down mid-tick would leave its thread to submit the next tick to a closed executor.
            scheduler.pause()
            with context.ticking:
                scheduler.shutdown(wait=True)
    finally:
        engine.dispose()
