"""Report benchmark: the evidence reports over 1,000,000 files and 10,000,000 events in PostgreSQL,
against the floor any report over the events pays, in the same run.

Run: ``.venv/bin/python bench/report_bench.py [--rebuild] [--scale S] [--period-days D] [--rounds R]
[--explain FILE] [--json FILE]``

The requirement: "a report over 1 million files and 10 million events in PostgreSQL is produced in
under 60 seconds". The data is ``bench/report_data.py``'s database (``oais_bench_report``, built on
the first run in a few minutes, reused afterwards; ``--rebuild`` makes it again). Its period ends at
midnight (UTC) of the day it was built: "today" below is that day, so that a reused database is
measured over the same events whenever the benchmark runs.

What is timed, each as a subprocess of ``.venv/bin/oais`` with ``OAIS_DATABASE_URL`` naming that
database, a temporary ``OAIS_HOME`` and nothing else of the caller's ``OAIS_*`` environment:

1. ``oais report cts --out DIR`` (the whole period);
2. ``oais report cts --out DIR --from <today - D days> --to <today>`` (D = ``--period-days``, 365);
3. ``oais report ndsa``;
4. ``oais report audit --from <today - D days> --to <today>``.

A command this checkout does not have yet (``oais report KIND --help`` fails) is reported as not
available. A report that exits with 0 or 1 (1: it found problems, see below) counts as produced;
another exit code is a failure, shown with the end of its error output.

The reference, timed before and after the reports (best of ``--rounds`` each time, 3 by default, after
one untimed run that brings the tables into memory): ``SELECT count(*) FROM events`` and
``SELECT type, outcome, date_trunc('month', timezone('UTC', date_time)), count(*) FROM events GROUP BY
1, 2, 3`` (the monthly counts every report shows) through psycopg. The table gives each report's time,
its ratio to the GROUP BY (how many such passes over the events it costs) and whether it met the
60 s target.

Storage: the reports may read each location's event log to check its hash chain. Only the catalog
side of the archive is generated (``event_log_segments`` lists 300 segments): the objects of 10
million events are not written anywhere. ``OAIS_STORE_ROOT`` is an empty temporary directory, the
only location (``local``) of the default configuration: the chain check covers an empty log, and the
reports may say that the segments the catalog lists are missing (exit code 1).

``--explain FILE``: after the timings, ``EXPLAIN (ANALYZE, BUFFERS)`` of each SQL statement in FILE
(statements end with a ``;`` at the end of a line; literal values, no parameters), the slowest
``--explain-top`` (5) printed in full.

The machine is described in the output (cores, PostgreSQL version and the settings that matter for
these queries); ``--json FILE`` also writes the results there.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import report_data
from _common import DEFAULT_PG, VENV_BIN, host, own_bytecode_cache

TARGET = 60.0
COUNT = "SELECT count(*) FROM events"
MONTHLY = (
    "SELECT type, outcome, date_trunc('month', timezone('UTC', date_time)) AS month, count(*) "
    "FROM events GROUP BY 1, 2, 3"
)
#: The server settings shown with the results.
SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_parallel_workers_per_gather",
    "max_parallel_workers",
    "max_worker_processes",
    "jit",
    "random_page_cost",
)


@dataclass
class Timing:
    """One line of the table."""

    what: str
    seconds: float | None  # None: not run
    status: str  # "ok", "found problems (exit 1)", "not available", "failed (exit N)", "timed out"
    detail: str = ""

    @property
    def produced(self) -> bool:
        """The report was made (exit code 0 or 1)."""
        return self.seconds is not None and self.status in ("ok", "found problems (exit 1)")


# -- the reference ------------------------------------------------------------------------------


def reference(dsn: str, rounds: int) -> dict[str, float]:
    """The best time of each reference query over ``rounds`` runs, after one untimed run."""
    best: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, query in (("count", COUNT), ("monthly", MONTHLY)):
            conn.execute(query).fetchall()
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                conn.execute(query).fetchall()
                times.append(time.perf_counter() - started)
            best[name] = min(times)
    return best


def server(dsn: str) -> dict[str, str]:
    """The PostgreSQL version and the settings that matter here."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        found = {"version": str(conn.execute("SHOW server_version").fetchone()[0])}  # type: ignore[index]
        for name in SETTINGS:
            found[name] = str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
        return found


# -- the reports --------------------------------------------------------------------------------


@contextlib.contextmanager
def environment(url: str) -> Iterator[tuple[dict[str, str], Path]]:
    """The reports' environment: the database, a temporary home and an empty store; and their
    work directory. Removed at the end."""
    work = Path(tempfile.mkdtemp(prefix="oais-report-bench-", dir="/var/tmp"))
    try:
        for name in ("home", "store", "staging", "out"):
            (work / name).mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
        env.update(
            OAIS_DATABASE_URL=url,
            OAIS_HOME=str(work / "home"),
            OAIS_STORE_ROOT=str(work / "store"),
            OAIS_STAGING=str(work / "staging"),
        )
        yield env, work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def available(kind: str, env: dict[str, str]) -> bool:
    """Whether this checkout's ``oais`` has ``oais report KIND``."""
    done = subprocess.run(
        [str(VENV_BIN / "oais"), "report", kind, "--help"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return done.returncode == 0


def run_report(what: str, argv: list[str], env: dict[str, str], work: Path, timeout: float) -> Timing:
    """Time one ``oais report`` command (its output kept in the work directory while it runs)."""
    if not available(argv[0], env):
        return Timing(what, None, "not available", f"oais report {argv[0]} does not exist yet")
    log = work / f"{what.replace(' ', '_').replace('/', '_')}.log"
    started = time.perf_counter()
    try:
        with log.open("wb") as out:
            done = subprocess.run(
                [str(VENV_BIN / "oais"), "report", *argv],
                env=env,
                cwd=work / "out",
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired:
        return Timing(what, time.perf_counter() - started, "timed out", f"stopped after {timeout:.0f} s")
    seconds = time.perf_counter() - started
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])[-300:]
    if done.returncode == 0:
        return Timing(what, seconds, "ok")
    if done.returncode == 1:
        return Timing(what, seconds, "found problems (exit 1)", tail)
    return Timing(what, seconds, f"failed (exit {done.returncode})", tail)


# -- EXPLAIN ------------------------------------------------------------------------------------


def statements(path: Path) -> list[str]:
    """The statements of a file: each ends with ';' at the end of a line."""
    found, current = [], []
    for line in path.read_text().splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            text = "\n".join(current).strip().rstrip(";").strip()
            if text and not all(ln.strip().startswith("--") for ln in text.splitlines()):
                found.append(text)
            current = []
    rest = "\n".join(current).strip()
    if rest:
        found.append(rest)
    return found


def explain(dsn: str, path: Path, top: int, print_: Callable[[str], None]) -> None:
    """Print the EXPLAIN (ANALYZE, BUFFERS) of the slowest statements of ``path``."""
    plans: list[tuple[float, str, str]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements(path):
            try:
                rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}".encode()).fetchall()
            except psycopg.Error as exc:
                print_(f"cannot explain: {' '.join(statement.split())[:100]}: {exc}")
                continue
            plan = "\n".join(str(r[0]) for r in rows)
            ms = next(
                (float(r[0].split(":")[1].split()[0]) for r in rows if r[0].startswith("Execution Time")), 0.0
            )
            plans.append((ms, statement, plan))
    plans.sort(key=lambda p: p[0], reverse=True)
    print_(f"\nEXPLAIN (ANALYZE, BUFFERS): {len(plans)} statements, the {min(top, len(plans))} slowest")
    for ms, statement, plan in plans[:top]:
        print_(f"\n-- {ms / 1000:.2f} s: {' '.join(statement.split())[:200]}\n{plan}")


# -- the whole ----------------------------------------------------------------------------------


def table(rows: list[Timing], floor: float) -> list[str]:
    """The results as text lines."""
    lines = [f"{'what':<42} {'seconds':>8} {'x floor':>8}  {'< 60 s':<7} status"]
    for r in rows:
        if r.seconds is None:
            lines.append(f"{r.what:<42} {'-':>8} {'-':>8}  {'-':<7} {r.status}")
            continue
        is_report = r.what.startswith("oais report")
        met = ("yes" if r.produced and r.seconds < TARGET else "NO") if is_report else ""
        lines.append(f"{r.what:<42} {r.seconds:8.2f} {r.seconds / floor:8.1f}  {met:<7} {r.status}")
        if r.detail and is_report and r.status != "ok":
            lines.append(f"{'':<42} {r.detail}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the data, time the reports and the reference, print the table."""
    own_bytecode_cache("report")
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--admin-url", default=os.environ.get("OAIS_BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument(
        "--database", default=None, help="default oais_bench_report (with the scale if not 1)"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 1,000,000 files, 10,000,000 events")
    parser.add_argument("--rebuild", action="store_true", help="generate the database again")
    parser.add_argument("--period-days", type=int, default=365, help="the period of the dated reports")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each reference query")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a report may take")
    parser.add_argument("--only-reference", action="store_true", help="time the reference queries only")
    parser.add_argument("--explain", type=Path, help="a file of SQL statements to EXPLAIN (ANALYZE, BUFFERS)")
    parser.add_argument("--explain-top", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)

    name = args.database or report_data.default_name(args.scale)
    dataset = report_data.ensure(args.admin_url, name, args.scale, args.rebuild)
    dsn = report_data.conninfo(dataset.url)
    today = dataset.end
    start = today - timedelta(days=args.period_days)
    print(
        f"\n{dataset.name}: {dataset.counts['files']:,} files, {dataset.counts['events']:,} events, "
        f"period ending {today} (generated in {dataset.seconds:.0f} s)"
    )
    machine = {**host(), **server(dsn)}
    print("host: " + ", ".join(f"{k} {v}" for k, v in machine.items()))

    before = reference(dsn, args.rounds)
    rows: list[Timing] = []
    if not args.only_reference:
        reports = [
            ("oais report cts (all)", ["cts", "--out", "{out}/cts-all"]),
            (
                f"oais report cts ({args.period_days} days)",
                ["cts", "--out", "{out}/cts-period", "--from", start.isoformat(), "--to", today.isoformat()],
            ),
            ("oais report ndsa", ["ndsa"]),
            (
                f"oais report audit ({args.period_days} days)",
                ["audit", "--from", start.isoformat(), "--to", today.isoformat()],
            ),
        ]
        with environment(dataset.url) as (env, work):
            for what, command in reports:
                command = [a.replace("{out}", str(work / "out")) for a in command]
                print(f"  {what} ...", flush=True)
                rows.append(run_report(what, command, env, work, args.timeout))
    after = reference(dsn, args.rounds)
    count = min(before["count"], after["count"])
    monthly = min(before["monthly"], after["monthly"])
    rows = [
        Timing("reference: count(*) FROM events", count, "ok"),
        Timing("reference: GROUP BY type, outcome, month", monthly, "ok"),
        *rows,
    ]
    spread = abs(before["monthly"] - after["monthly"]) / monthly
    print()
    for line in table(rows, monthly):
        print(line)
    print(
        f"\nx floor: seconds / the GROUP BY reference. Reference before and after the reports differ by "
        f"{spread:.0%} (GROUP BY {before['monthly']:.2f} s, then {after['monthly']:.2f} s)."
    )
    if args.explain:
        explain(dsn, args.explain, args.explain_top, print)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "database": dataset.name,
                    "counts": dataset.counts,
                    "period_end": today.isoformat(),
                    "host": machine,
                    "reference_before": before,
                    "reference_after": after,
                    "results": [asdict(r) for r in rows],
                },
                indent=2,
            )
            + "\n"
        )
    reports_run = [r for r in rows if r.what.startswith("oais report") and r.seconds is not None]
    return 0 if all(r.produced and r.seconds is not None and r.seconds < TARGET for r in reports_run) else 1


if __name__ == "__main__":
    sys.exit(main())
