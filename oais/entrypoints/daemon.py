"""``oais daemon``: the scheduled integrity daemon (APScheduler 3.x).

The schedule lives in the catalog database (one job table per daemon name), so a restarted daemon
resumes where it was: a tick that was due while it was down runs once (coalescing), never twice at
the same time (``max_instances=1``). Each tick claims the slices whose last verification is oldest
at every location, verifies them within the read budget, records the outcomes and repairs what
failed; claims keep several daemons on several hosts from verifying the same copy at once.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import threading
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor as SchedulerThreads
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from oais.adapters.executors import open_executor, parallelism
from oais.archival_storage.audit import AuditReport, AuditService
from oais.bootstrap import audit_service
from oais.config import Settings
from oais.domain.errors import ConfigError, OaisError

log = logging.getLogger("oais.daemon")

TICK_JOB = "audit-tick"


@dataclass
class _Context:
    service: AuditService
    executor: Executor
    parallelism: int


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
    policy = context.service.policy
    try:
        report = context.service.run(
            context.executor,
            context.parallelism,
            limit_bytes=policy.budget.default * policy.tick_seconds,
        )
    except OaisError as exc:
        # The database or a location failed for the whole tick: the claims expire and the next
        # tick carries on.
        log.error("audit tick failed: %s", exc)
        return
    _log_report(report)


def _log_report(report: AuditReport) -> None:
    log.info(
        "audit tick: %d slices, %d files, %d bytes, %d found wrong, %d repaired",
        len(report.slices),
        report.files,
        report.bytes,
        len(report.failed),
        len(report.repaired),
    )
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
    service = audit_service(settings)
    policy = service.policy
    stop = stop or threading.Event()
    with open_executor(executor_spec, workers) as executor:
        _context = _Context(service, executor, parallelism(executor))
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=_sync_url(settings.database_url), tablename=table)},
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

            def on_signal(signum: int, _frame: FrameType | None) -> None:
                log.info("signal %d: stopping after the current tick", signum)
                stop.set()

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_signal)
                signal.signal(signal.SIGINT, on_signal)
            log.info(
                "oais daemon %s: policy %s, a tick every %d s, %d parallel readers, jobs in table %s",
                daemon_name,
                policy.reference,
                policy.tick_seconds,
                _context.parallelism,
                table,
            )
            scheduler.resume()
            stop.wait()
        finally:
            scheduler.shutdown(wait=True)
            _context = None


def _sync_url(url: str) -> str:
    # APScheduler builds its own engine: give it the driver the catalog uses.
    return "postgresql+psycopg://" + url[len("postgresql://") :] if url.startswith("postgresql://") else url
