"""Migration planning benchmark: ``oais plan migrations`` over a catalog of a million files, in SQLite
and in PostgreSQL, against the goal of an answer in under 10 seconds.

Run: ``bash ops/bench-plan.sh`` (installs what is needed, makes sure PostgreSQL answers, runs this),
or ``.venv/bin/python bench/plan_bench.py [--files N] [--per-aip N] [--risk PCT ...]
[--database sqlite|postgresql ...] [--rounds R] [--quick] [--work DIR] [--json-out FILE]`` with
``OAIS_BENCH_POSTGRES_URL`` naming a PostgreSQL role that may create databases (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).

The catalog: ``--files`` files (default 1,000,000) in AIPs of ``--per-aip`` files (default 100, so
10,000 AIPs), written straight into a new catalog database (a throw-away PostgreSQL database, or a
SQLite file: the embedded default) with ``INSERT ... SELECT`` over a generated series. AIP ids are
UUIDs, as ingest makes them; paths are ``obs-N/img-K.EXT``; sizes from 4 KiB to 16 MiB. A file is at
risk when ``(n * 37) % 100 < PCT`` (n: its number), so every AIP holds the same share of files at
risk, spread over the at-risk PUIDs of ``policies/formats.toml`` (BMP fmt/114-119, GIF fmt/3 and
fmt/4, PostScript x-fmt/406-408, BMP 3.0, GIF 89a and PostScript 3.0 the most common); the others
are preferred formats (FITS, PNG, text, TIFF, PDF/A, CSV) or unidentified. So that the planning
query does its whole work:

- every 20th AIP has a second version (its files reused from version 1): only the newest counts;
- every 200th AIP's second version already holds the migrations of half of its files at risk (a
  row ``derived_from`` the source's path): those are left out of the plan;
- every 1,000th AIP already holds a file under the output name of each of its files at risk (the
  producer sent ``img-3.bmp`` and ``img-3.png``): the plan must choose ``img-3.bmp.png``.

Scenarios: ``--risk`` percentages (default 10 and 100: 100,000 and about a million files in the
plan, the worst case). Each database and scenario gets a catalog of its own, dropped at the end.

Timed, ``--rounds`` times (default 3), in an order that alternates from round to round:

- **the command**, as a user runs it: ``oais plan migrations --out PLAN --json`` in its own process,
  wall time from start to exit (Python start, policy, tools check, query, output names, writing and
  syncing the plan). Goal: median under 10 s. Its result is checked every round, outside the
  timing: the files and bytes it reports must be those the layout above says, and the plan file
  (removed before each run) is read back (it must be there, parse as JSON, list each AIP once, list
  the same number of files, and name the outputs that clash as above): a broken command cannot look
  fast.
- for information, in this process: **the query** alone (``SqlFormatCatalog.candidates``, every row
  fetched) and **the plan lines** (``planned_aips``: the query, the output-name checks and the lines,
  nothing written); the number of statements sent (exactly one candidates query, and at least one
  output-name check when there is something to plan: a query changed beyond recognition stops the
  benchmark rather than count as taking no time) and the time spent executing the output-name
  checks; and per database, the fixed cost of the command on an empty catalog of its own (checked:
  it plans no file).

A command still running after ``--timeout`` seconds (default 120) is killed and counts as missing
the goal; the plan lines are then stopped at that time too, and their time for the whole plan is
estimated at the rate they went. Neither is run again in later rounds.

Also reported: the plan file's size, the peak resident memory of the command (``VmHWM``), and the
plans of the candidates query and of the first output-name check (PostgreSQL: ``EXPLAIN (ANALYZE,
BUFFERS)``, and for the candidates query, streamed through a server-side cursor, also the plan
PostgreSQL makes for that cursor; SQLite: ``EXPLAIN QUERY PLAN``). PostgreSQL tables are vacuumed and
analysed after the fill (the steady state autovacuum reaches); SQLite is not analysed (oais never
does it).

The work directory (default: a temporary one under /var/tmp) and the databases are deleted at the
end, also when the run fails. ``--json-out FILE`` writes every figure as JSON.

When Python runs without writing bytecode (``PYTHONDONTWRITEBYTECODE`` or ``-B``), every command
would compile oais anew, which an installed deployment never does: the benchmark then restarts itself
with a private bytecode cache (removed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    DEFAULT_PG,
    REPO,
    VENV_BIN,
    MiB,
    host,
    indexes_dropped,
    own_bytecode_cache,
    throwaway_postgres,
)

POLICIES = REPO / "policies"
GOAL_S = 10.0

#: Every this many AIPs, one has a second version.
TWO_VERSIONS = 20
#: Every this many AIPs (a multiple of TWO_VERSIONS), one's second version holds migrations.
MIGRATED = 200
#: Every this many AIPs (the first, then one in this many), one holds the output names already.
CLASH = 1000

#: The at-risk formats the files at risk are spread over (repeats make a format more common).
RISK_SLOTS = [
    "fmt/116",
    "fmt/116",
    "fmt/116",
    "fmt/116",
    "fmt/4",
    "fmt/4",
    "fmt/4",
    "x-fmt/408",
    "x-fmt/408",
    "fmt/114",
    "fmt/115",
    "fmt/117",
    "fmt/118",
    "fmt/119",
    "fmt/3",
    "x-fmt/406",
    "x-fmt/407",
]
#: The other files' formats (None: unidentified).
PREFERRED_SLOTS: list[str | None] = [
    "x-fmt/383",
    "x-fmt/383",
    "x-fmt/383",
    "x-fmt/383",
    "x-fmt/383",
    "fmt/11",
    "fmt/11",
    "x-fmt/111",
    "x-fmt/111",
    "fmt/353",
    "fmt/477",
    "x-fmt/18",
    None,
]
EXTENSIONS = {
    "fmt/114": "bmp",
    "fmt/115": "bmp",
    "fmt/116": "bmp",
    "fmt/117": "bmp",
    "fmt/118": "bmp",
    "fmt/119": "bmp",
    "fmt/3": "gif",
    "fmt/4": "gif",
    "x-fmt/406": "ps",
    "x-fmt/407": "ps",
    "x-fmt/408": "ps",
    "x-fmt/383": "fits",
    "fmt/11": "png",
    "x-fmt/111": "txt",
    "fmt/353": "tif",
    "fmt/477": "pdf",
    "x-fmt/18": "csv",
    None: "dat",
}
MIMES = {
    "bmp": "image/bmp",
    "gif": "image/gif",
    "ps": "application/postscript",
    "fits": "application/fits",
    "png": "image/png",
    "txt": "text/plain",
    "tif": "image/tiff",
    "pdf": "application/pdf",
    "csv": "text/csv",
    "dat": "application/octet-stream",
}


# -- the layout: what is in the catalog, and what the plan must say ----------------------------------


@dataclass(frozen=True)
class Layout:
    aips: int
    per: int
    risk_pct: int

    @property
    def files(self) -> int:
        """Files of the first versions (the catalog holds a few more: second versions, migrations)."""
        return self.aips * self.per

    def at_risk(self, n: int) -> bool:
        return (n * 37) % 100 < self.risk_pct

    @staticmethod
    def size(n: int) -> int:
        return 4096 + (n * 7919) % (16 * MiB)

    def expected(self) -> dict[str, int]:
        """What a correct plan holds: files, bytes, AIPs, and outputs renamed for a clash."""
        files = size = aips = clashes = 0
        for a in range(1, self.aips + 1):
            migrated = a % MIGRATED == 0
            clash = a % CLASH == 1
            planned = 0
            for k in range(self.per):
                n = (a - 1) * self.per + k + 1
                if self.at_risk(n) and not (migrated and k % 2 == 0):
                    planned += 1
                    size += self.size(n)
                    clashes += clash
            files += planned
            aips += planned > 0
        return {"files": files, "bytes": size, "aips": aips, "clashes": clashes}


def policy_formats() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """From the format policy: every format's name, and each preservation rule's target and extension."""
    with open(POLICIES / "formats.toml", "rb") as f:
        policy = tomllib.load(f)
    names = {puid: rules["name"] for puid, rules in policy["formats"].items()}
    rules = {puid: r["preservation"] for puid, r in policy["formats"].items() if "preservation" in r}
    return names, rules


# -- filling a catalog -------------------------------------------------------------------------------


class Dialect:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pg = name == "postgresql"

    def series(self, n: str) -> str:
        """A FROM item: the integers 1..n as column ``g`` of ``s``."""
        if self.pg:
            return f"generate_series(CAST(1 AS bigint), CAST({n} AS bigint)) AS s(g)"
        return (
            f"(WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r WHERE g < {n}) "
            "SELECT g FROM r) AS s"
        )

    def uuid(self, n: str) -> str:
        """A UUID-shaped AIP id, the same for the same ``n``."""
        if self.pg:
            return f"CAST(CAST(md5('aip-' || {n}) AS uuid) AS text)"
        # 2654435761 is odd: n -> n * 2654435761 mod 2^32 is one to one, so the ids are unique.
        return (
            f"printf('%08x-%04x-5%03x-%04x-%012x', ({n} * 2654435761) % 4294967296, "
            f"({n} * 40503) % 65536, ({n} * 2246822519) % 4096, 32768 + ({n} * 3266489917) % 16384, "
            f"({n} * 668265263) % 281474976710656)"
        )

    def hex(self, n: str, chars: int, salt: str) -> str:
        """``chars`` (32 or 64) hex digits (a digest's shape)."""
        if self.pg:
            one = f"md5('{salt}' || {n})"
            return one if chars == 32 else f"{one} || md5('{salt}-' || {n})"
        return f"lower(hex(randomblob({chars // 2})))"

    @property
    def created(self) -> str:
        return "2026-01-01 00:00:00+00" if self.pg else "2026-01-01 00:00:00.000000"

    def timestamp(self, param: str) -> str:
        return f"CAST({param} AS timestamptz)" if self.pg else param


def fill(engine: Any, layout: Layout) -> dict[str, int]:
    """Fill an empty catalog (schema at head) with ``layout``: rows written per table."""
    from sqlalchemy import text

    d = Dialect(engine.dialect.name)
    names, rules = policy_formats()
    missing = {p for p in RISK_SLOTS if p not in rules} | {p for p in PREFERRED_SLOTS if p and p in rules}
    if missing:
        raise SystemExit(
            f"bench: the format policy does not rate these as the layout says: {sorted(missing)}"
        )
    formats: list[dict[str, Any]] = []
    for kind, slots in (("risk", RISK_SLOTS), ("pref", PREFERRED_SLOTS)):
        for n, puid in enumerate(slots):
            ext = EXTENSIONS[puid]
            target = rules.get(puid or "")
            tpuid = target["target"] if target else None
            text_ext = target["extension"] if target else None
            formats.append(
                {
                    "kind": kind,
                    "n": n,
                    "puid": puid,
                    "name": names.get(puid or "", "unknown"),
                    "ext": ext,
                    "mime": MIMES[ext],
                    "tpuid": tpuid,
                    "tname": names.get(tpuid or "", ""),
                    "text": text_ext,
                    "tmime": MIMES.get(text_ext or "", ""),
                    # A format that fills several slots: joins by PUID take its first row only.
                    "first": slots.index(puid) == n,
                }
            )
    p = {
        "aips": layout.aips,
        "per": layout.per,
        "files": layout.files,
        "pct": layout.risk_pct,
        "nrisk": len(RISK_SLOTS),
        "npref": len(PREFERRED_SLOTS),
        "two": TWO_VERSIONS,
        "migrated": MIGRATED,
        "clash": CLASH,
        "created": d.created,
    }
    created = d.timestamp(":created")
    columns = (
        "version_id, path, size, sha256, xxh3_128, format_puid, format_name, format_mime, format_basis, "
        "format_tool, format_issues"
    )
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        if d.pg:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        else:
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE bench_formats (kind TEXT, n INTEGER, puid TEXT, name TEXT, ext TEXT, "
                "mime TEXT, tpuid TEXT, tname TEXT, text TEXT, tmime TEXT, first BOOLEAN)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO bench_formats VALUES "
                "(:kind, :n, :puid, :name, :ext, :mime, :tpuid, :tname, :text, :tmime, :first)"
            ),
            formats,
        )
        counts["aips"] = conn.execute(
            text(
                f"INSERT INTO aips (id, title, producer, created) "
                f"SELECT {d.uuid('g')}, 'bench AIP ' || g, 'bench', {created} FROM {d.series(':aips')}"
            ),
            p,
        ).rowcount
        counts["aip_versions"] = conn.execute(
            text(
                "INSERT INTO aip_versions (id, aip_id, version, created, files, bytes, payload_fingerprint, "
                f"location) SELECT g, {d.uuid('g')}, 1, {created}, :per, CAST(:per AS bigint) * 8388608, "
                f"{d.hex('g', 64, 'v')}, 'aips/' || {d.uuid('g')} || '/v1' FROM {d.series(':aips')}"
            ),
            p,
        ).rowcount
        counts["aip_versions"] += conn.execute(
            text(
                "INSERT INTO aip_versions (id, aip_id, version, created, files, bytes, payload_fingerprint, "
                f"location) SELECT :aips + id / :two, aip_id, 2, {created}, files, bytes, "
                f"{d.hex('id', 64, 'w')}, 'aips/' || aip_id || '/v2' FROM aip_versions "
                "WHERE version = 1 AND id % :two = 0"
            ),
            p,
        ).rowcount
        if d.pg:
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('aip_versions', 'id'), max(id)) FROM aip_versions")
            )
        with indexes_dropped(conn, "files"):
            counts["files"] = conn.execute(
                text(
                    f"INSERT INTO files (id, {columns}) "
                    "SELECT s.g, (s.g - 1) / :per + 1, "
                    "'obs-' || ((s.g - 1) % :per / 25) || '/img-' || ((s.g - 1) % :per) || '.' || b.ext, "
                    f"4096 + (s.g * 7919) % 16777216, {d.hex('s.g', 64, 's')}, {d.hex('s.g', 32, 'x')}, "
                    "b.puid, b.name, b.mime, 'signature', 'fido', '[]' "
                    "FROM (SELECT g, CASE WHEN (g * 37) % 100 < :pct THEN 'risk' ELSE 'pref' END AS kind, "
                    "CASE WHEN (g * 37) % 100 < :pct THEN (g / 7) % :nrisk ELSE g % :npref END AS n "
                    f"FROM {d.series(':files')}) AS s "
                    "JOIN bench_formats b ON b.kind = s.kind AND b.n = s.n"
                ),
                p,
            ).rowcount
        if d.pg:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('files', 'id'), max(id)) FROM files"))
        # Second versions: every file reused from version 1 (stored there).
        counts["files"] += conn.execute(
            text(
                f"INSERT INTO files ({columns}, stored_version) "
                "SELECT :aips + version_id / :two, path, size, sha256, xxh3_128, format_puid, format_name, "
                "format_mime, format_basis, format_tool, format_issues, 1 FROM files "
                "WHERE version_id <= :aips AND version_id % :two = 0 ORDER BY id"
            ),
            p,
        ).rowcount
        # Migrations already made in some second versions: half of the files at risk.
        counts["derived"] = conn.execute(
            text(
                f"INSERT INTO files ({columns}, derived_from) "
                "SELECT :aips + f.version_id / :two, "
                "substr(f.path, 1, length(f.path) - length(b.ext)) || b.text, f.size / 2, "
                f"{d.hex('f.id', 64, 'd')}, {d.hex('f.id', 32, 'e')}, b.tpuid, b.tname, b.tmime, "
                "'signature', 'fido', '[]', f.path "
                "FROM files f JOIN bench_formats b ON b.kind = 'risk' AND b.first AND b.puid = f.format_puid "
                "WHERE f.version_id <= :aips AND f.version_id % :migrated = 0 AND (f.id - 1) % :per % 2 = 0 "
                "ORDER BY f.id"
            ),
            p,
        ).rowcount
        # Names the plan would choose, already taken by the producer.
        counts["clashing"] = conn.execute(
            text(
                f"INSERT INTO files ({columns}) "
                "SELECT f.version_id, substr(f.path, 1, length(f.path) - length(b.ext)) || b.text, 1024, "
                f"{d.hex('f.id', 64, 'c')}, {d.hex('f.id', 32, 'y')}, b.tpuid, b.tname, b.tmime, "
                "'signature', 'fido', '[]' "
                "FROM files f JOIN bench_formats b ON b.kind = 'risk' AND b.first AND b.puid = f.format_puid "
                "WHERE f.version_id <= :aips AND f.version_id % :clash = 1 ORDER BY f.id"
            ),
            p,
        ).rowcount
        counts["files"] += counts["derived"] + counts["clashing"]
        conn.execute(text("DROP TABLE bench_formats"))
    if d.pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return counts


# -- catalogs: a throw-away database per scenario ------------------------------------------------------


@contextlib.contextmanager
def catalog(database: str, work: Path, label: str) -> Iterator[str]:
    """A new, empty catalog database (schema at head): its URL; dropped (or deleted) at the end."""
    from oais.adapters.catalog.migrations import upgrade

    if database == "sqlite":
        path = work / f"{label}.sqlite"
        url = f"sqlite:///{path}"
        try:
            upgrade(url)
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin_url = os.environ.get("OAIS_BENCH_POSTGRES_URL", DEFAULT_PG)
    with throwaway_postgres(admin_url, "oais_plan_bench") as url:
        upgrade(url)
        yield url


# -- the command, and the same work in this process ------------------------------------------------------


def oais_env(home: Path, url: str) -> dict[str, str]:
    """The environment of an ``oais`` command on a private home (no OAIS_* of the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAIS_")}
    env.update(OAIS_HOME=str(home), OAIS_DATABASE_URL=url, OAIS_POLICIES=str(POLICIES))
    # The command runs the code of this checkout, as the calls in this process do.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


@dataclass
class Run:
    seconds: float
    result: dict[str, Any]
    peak_rss_mib: float
    timed_out: bool = False


class PeakMemory(threading.Thread):
    """The peak resident memory of a process (``VmHWM``), read every 10 ms while it runs.

    Not ``wait4``'s ``ru_maxrss``: Linux counts in it the memory of the process that started the
    command (this benchmark, which holds a whole plan in memory when it checks one)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.status = Path(f"/proc/{pid}/status")
        self.done = threading.Event()
        self.kib = 0

    def run(self) -> None:
        while not self.done.is_set():
            try:
                text = self.status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
            self.done.wait(0.01)


def plan_command(env: dict[str, str], out: Path, timeout: float) -> Run:
    """``oais plan migrations --out OUT --json``: wall seconds from start to exit, its JSON, and the
    peak resident memory of its process; killed after ``timeout`` seconds."""
    args = [str(VENV_BIN / "oais"), "plan", "migrations", "--out", str(out), "--json"]
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        peak = PeakMemory(proc.pid)
        peak.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
            peak.done.set()
        elapsed = time.perf_counter() - start
        stdout.seek(0)
        stderr.seek(0)
        said, complained = stdout.read().decode(), stderr.read().decode()
    if killed.is_set():
        return Run(elapsed, {}, peak.kib / 1024, timed_out=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: oais plan migrations failed ({proc.returncode}):\n{said}\n{complained}")
    return Run(elapsed, json.loads(said), peak.kib / 1024)


def check_result(result: dict[str, Any], expected: dict[str, int]) -> None:
    got = (result.get("files"), result.get("bytes"))
    if got != (expected["files"], expected["bytes"]):
        raise SystemExit(
            f"bench: the plan says {got[0]} files, {got[1]} bytes; the catalog holds {expected['files']} "
            f"files, {expected['bytes']} bytes to migrate"
        )


def check_plan_file(path: Path, expected: dict[str, int], rules: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Read the plan back: written, JSON, each AIP once, the files and AIPs expected, clashing names
    avoided."""
    size = path.stat().st_size if path.is_file() else 0
    if not size:
        raise SystemExit(f"bench: the command wrote no plan to {path}")
    start = time.perf_counter()
    with open(path, encoding="utf-8") as f:
        plan = json.load(f)
    read_s = time.perf_counter() - start
    aips = plan["aips"]
    ids = {a["aip_id"] for a in aips}
    files = sum(len(a["files"]) for a in aips)
    renamed = sum(
        1
        for a in aips
        for line in a["files"]
        if line["output"] == f"{line['path']}.{rules[line['source_puid']]['extension']}"
    )
    problems = []
    if plan.get("files") != expected["files"] or files != expected["files"]:
        problems.append(
            f"{files} files listed, {plan.get('files')} in the header, {expected['files']} expected"
        )
    if len(ids) != len(aips) or len(aips) != expected["aips"]:
        problems.append(f"{len(aips)} AIP lines, {len(ids)} AIPs, {expected['aips']} expected")
    if renamed != expected["clashes"]:
        problems.append(f"{renamed} outputs renamed for a name already taken, {expected['clashes']} expected")
    if problems:
        raise SystemExit(f"bench: the plan {path} is wrong: " + "; ".join(problems))
    return {"bytes": size, "aips": len(aips), "files": files, "renamed": renamed, "json_load_s": read_s}


class Statements:
    """What one plan sends to the database: per kind (the candidates query, the output-name checks,
    the rest), how many statements, the seconds spent executing them, and the first one with its
    parameters."""

    def __init__(self) -> None:
        self.on = False
        self.first: dict[str, tuple[str, Any]] = {}
        self.count: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    @staticmethod
    def kind(statement: str) -> str:
        if "EXISTS" in statement and "ORDER BY" in statement:
            return "candidates"
        if " IN (" in statement and "EXISTS" not in statement:
            return "output names"
        return "other"

    def before(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if self.on:
            conn.info["bench_started"] = time.perf_counter()

    def after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not self.on:
            return
        kind = self.kind(statement)
        self.first.setdefault(kind, (statement, parameters))
        self.count[kind] = self.count.get(kind, 0) + 1
        started = conn.info.pop("bench_started", time.perf_counter())
        self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - started

    def reset(self) -> None:
        self.first.clear()
        self.count.clear()
        self.seconds.clear()

    def check(self, expect_names: bool) -> None:
        """Stop if the statements of one plan were not recognised as :meth:`kind` expects them (one
        candidates query; output-name checks when there is something to plan): a changed query
        would otherwise be counted as "other", and the time spent on it as 0."""
        candidates, names = self.count.get("candidates", 0), self.count.get("output names", 0)
        if candidates != 1 or (expect_names and names == 0):
            raise SystemExit(
                f"bench: planned_aips sent {candidates} candidates queries (1 expected) and {names} "
                f"output-name checks{' (at least 1 expected)' if expect_names else ''}: "
                f"Statements.kind no longer recognises them ({self.count})"
            )


def explained(engine: Any, statement: str, parameters: Any, timeout: float, cursor: bool = False) -> str:
    """The database's plan of ``statement`` after a short form of it. PostgreSQL: run, with buffers
    (the plan alone if that takes more than ``timeout`` seconds), and with ``cursor`` also the plan
    it gets when streamed through a server-side cursor, as ``candidates`` does (planned for a fast
    start, see ``cursor_tuple_fraction``, and never parallel; it cannot be run with ANALYZE); SQLite:
    the query plan."""
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            how = "EXPLAIN (ANALYZE, BUFFERS)"
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            try:
                lines = [r[0] for r in conn.exec_driver_sql(f"{how} {statement}", parameters)]
            except DBAPIError:
                conn.rollback()
                how = f"EXPLAIN (its ANALYZE cancelled after {timeout:g} s)"
                lines = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
            if cursor:
                declare = "EXPLAIN DECLARE bench_plan NO SCROLL CURSOR FOR"
                lines.append(f"-- {declare} (the plan of the streamed query):")
                lines += [r[0] for r in conn.exec_driver_sql(f"{declare} {statement}", parameters)]
        else:
            how = "EXPLAIN QUERY PLAN"
            rows = conn.exec_driver_sql(f"{how} {statement}", parameters).all()
            lines = [f"{'  ' if r[1] else ''}{r[-1]}" for r in rows]
        conn.rollback()
    plan = "\n".join(line if len(line) <= 300 else line[:300] + " ..." for line in lines)
    shown = " ".join(statement.split())
    if len(shown) > 700:
        shown = shown[:700] + " ..."
    return f"{shown}\n-- {how}:\n{plan}"


@dataclass
class Row:
    """One line of the summary: a database and a scenario."""

    database: str
    scenario: str
    catalog_files: int
    planned: int
    command_s: list[float] = field(default_factory=list)
    query_s: list[float] = field(default_factory=list)
    lines_s: list[float] = field(default_factory=list)
    names_s: list[float] = field(default_factory=list)
    #: The steps stopped at the time limit (they were not run again).
    over: list[str] = field(default_factory=list)
    #: For plan lines stopped at the time limit: their time at the rate they went.
    lines_estimate_s: float | None = None
    peak_rss_mib: list[float] = field(default_factory=list)
    plan_mib: float = 0.0
    statements: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.command_s) if self.command_s else float("inf")

    def met(self) -> bool:
        return "command" not in self.over and self.median < GOAL_S

    def verdict(self) -> str:
        if "command" in self.over:
            return "over the time limit, MISSED"
        return f"median {self.median:.2f} s, {'met' if self.met() else 'MISSED'}"

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "scenario": self.scenario,
            "catalog_files": self.catalog_files,
            "files_planned": self.planned,
            "command_s": self.command_s,
            "median_command_s": self.median if self.command_s else None,
            "goal_s": GOAL_S,
            "met": self.met(),
            "over_time_limit": self.over,
            "query_s": self.query_s,
            "plan_lines_s": self.lines_s,
            "plan_lines_estimate_s": self.lines_estimate_s,
            "output_name_checks_executing_s": self.names_s,
            "statements": self.statements,
            "peak_rss_mib": self.peak_rss_mib,
            "plan_mib": self.plan_mib,
            **self.details,
        }


@dataclass
class Bench:
    work: Path
    rounds: int
    timeout: float
    rows: list[Row] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def rounds_of(
        self, steps: dict[str, Callable[[], float | None]]
    ) -> tuple[dict[str, list[float]], list[str]]:
        """Time every step once per round, in an order that alternates from round to round. A step
        that says None went over the time limit and is not run again. Returns the times of each step,
        and the steps that went over."""
        times: dict[str, list[float]] = {name: [] for name in steps}
        over: list[str] = []
        names = list(steps)
        for n in range(self.rounds):
            order = names if n % 2 == 0 else list(reversed(names))
            said = {}
            for name in order:
                if name in over:
                    continue
                took = steps[name]()
                if took is None:
                    over.append(name)
                    said[name] = f"over {self.timeout:g} s, stopped"
                else:
                    times[name].append(took)
                    said[name] = f"{took:.2f} s"
            print(
                f"    round {n + 1}: " + ", ".join(f"{k} {said[k]}" for k in names if k in said), flush=True
            )
        return times, over


def bench_one(b: Bench, database: str, layout: Layout) -> None:
    from sqlalchemy import event

    from oais.adapters.catalog.engine import make_engine
    from oais.adapters.catalog.formats import SqlFormatCatalog
    from oais.adapters.policy_files import load_format_policy
    from oais.preservation_planning.migration import PlanTotals, planned_aips

    scenario = f"{layout.risk_pct}% at risk"
    label = f"{database}-{layout.risk_pct}"
    print(f"\n{database}, {layout.files:,} files in {layout.aips:,} AIPs, {scenario}", flush=True)
    expected = layout.expected()
    _, rules = policy_formats()
    policy = load_format_policy(POLICIES)
    home = b.work / f"home-{label}"
    out = b.work / f"plan-{label}.json"
    with catalog(database, b.work, label) as url:
        engine = make_engine(url)
        try:
            start = time.perf_counter()
            counts = fill(engine, layout)
            fill_s = time.perf_counter() - start
            print(
                f"  filled in {fill_s:.0f} s: {counts['files']:,} file rows "
                f"({counts['aip_versions']:,} versions, "
                f"{counts['derived']:,} migrated, {counts['clashing']:,} names taken); "
                f"{expected['files']:,} files in {expected['aips']:,} AIPs to plan",
                flush=True,
            )
            row = Row(database, scenario, counts["files"], expected["files"])
            row.details.update(fill_s=fill_s, rows=counts, expected=expected)
            env = oais_env(home, url)
            statements = Statements()
            event.listen(engine, "before_cursor_execute", statements.before)
            event.listen(engine, "after_cursor_execute", statements.after)
            puids = sorted(rules)

            def command() -> float | None:
                out.unlink(missing_ok=True)  # each run must write its own plan
                run = plan_command(env, out, b.timeout)
                if run.timed_out:
                    return None
                check_result(run.result, expected)
                row.peak_rss_mib.append(run.peak_rss_mib)
                row.details["plan_file"] = check_plan_file(out, expected, rules)
                row.plan_mib = row.details["plan_file"]["bytes"] / MiB
                return run.seconds

            def query() -> float:
                start = time.perf_counter()
                n = sum(1 for _ in SqlFormatCatalog(engine).candidates(puids))
                elapsed = time.perf_counter() - start
                if n != expected["files"]:
                    raise SystemExit(
                        f"bench: the candidates query found {n} files, {expected['files']} expected"
                    )
                return elapsed

            def lines() -> float | None:
                statements.reset()
                statements.on = True
                start = time.perf_counter()
                deadline = start + b.timeout
                totals = PlanTotals()
                aips = files = 0
                stopped = False
                for aip in planned_aips(policy, SqlFormatCatalog(engine), totals):
                    aips += 1
                    files += len(aip["files"])  # type: ignore[arg-type]
                    if time.perf_counter() > deadline:
                        stopped = True
                        break
                elapsed = time.perf_counter() - start
                statements.on = False
                statements.check(expect_names=expected["aips"] > 0)
                if stopped:
                    row.lines_estimate_s = elapsed * expected["files"] / files
                    row.names_s.append(statements.seconds.get("output names", 0.0))
                    row.statements = dict(statements.count)
                    print(
                        f"    plan lines: {files:,} files of {expected['files']:,} in {elapsed:.0f} s "
                        f"({statements.count.get('output names', 0)} output-name checks, "
                        f"{statements.seconds.get('output names', 0.0):.0f} s executing them): "
                        f"about {row.lines_estimate_s:.0f} s for the whole plan at that rate",
                        flush=True,
                    )
                    return None
                if (totals.files, aips) != (expected["files"], expected["aips"]):
                    raise SystemExit(
                        f"bench: planned_aips: {totals.files} files in {aips} AIPs, expected {expected}"
                    )
                row.names_s.append(statements.seconds.get("output names", 0.0))
                row.statements = dict(statements.count)
                return elapsed

            times, row.over = b.rounds_of({"command": command, "query": query, "plan lines": lines})
            row.command_s, row.query_s, row.lines_s = times["command"], times["query"], times["plan lines"]
            row.details["explain"] = {
                kind: explained(engine, *statements.first[kind], b.timeout, cursor=kind == "candidates")
                for kind in ("candidates", "output names")
                if kind in statements.first
            }
            print(
                f"  command: {row.verdict()}; plan {row.plan_mib:.0f} MiB, peak RSS "
                f"{max(row.peak_rss_mib, default=0):.0f} MiB; statements {row.statements}, "
                f"output-name checks executing {statistics.median(row.names_s):.2f} s",
                flush=True,
            )
            b.rows.append(row)
        finally:
            engine.dispose()
            out.unlink(missing_ok=True)
            shutil.rmtree(home, ignore_errors=True)


def fixed_cost(b: Bench, database: str) -> None:
    """The command on an empty catalog of ``database``: Python, imports, policy, tools, connecting.
    The first run (the catalog's first use) is not counted; every run must plan no file."""
    print(f"\n{database}, empty catalog", flush=True)
    runs: list[Run] = []
    with catalog(database, b.work, f"empty-{database}") as url:
        env = oais_env(b.work / f"home-empty-{database}", url)
        out = b.work / f"plan-empty-{database}.json"
        for _ in range(1 + max(3, b.rounds)):
            run = plan_command(env, out, b.timeout)
            if run.timed_out:
                raise SystemExit(f"bench: the command on an empty catalog ran over {b.timeout:g} s")
            if run.result.get("files") != 0:
                raise SystemExit(f"bench: the command on an empty catalog says: {run.result}")
            runs.append(run)
    runs = runs[1:]
    b.results.setdefault("empty_catalog", {})[database] = {
        "command_s": [r.seconds for r in runs],
        "peak_rss_mib": max(r.peak_rss_mib for r in runs),
    }
    print(
        f"  the command (fixed cost): median {statistics.median(r.seconds for r in runs):.2f} s",
        flush=True,
    )


# -- main -------------------------------------------------------------------------------------------


def summary(b: Bench) -> None:
    print(
        "\nsummary: oais plan migrations --out PLAN --json, whole command, "
        f"median of {b.rounds} rounds [each round]; goal < {GOAL_S:g} s"
    )
    print(
        f"  {'database':<10} {'scenario':<13} {'planned':>9} {'command':>9} {'':<6}  {'query':>7} "
        f"{'lines':>8} {'names':>7} {'plan':>8} {'RSS':>8}  rounds"
    )

    def secs(values: list[float], over: bool, estimate: float | None = None) -> str:
        if over and estimate is not None:
            return f"~{estimate:.0f}s"
        if over:
            return f">{b.timeout:g}s"
        return f"{statistics.median(values):.2f}s" if values else "-"

    for r in b.rows:
        print(
            f"  {r.database:<10} {r.scenario:<13} {r.planned:>9,} "
            f"{secs(r.command_s, 'command' in r.over):>9} {'met' if r.met() else 'MISSED':<6}  "
            f"{secs(r.query_s, 'query' in r.over):>7} "
            f"{secs(r.lines_s, 'plan lines' in r.over, r.lines_estimate_s):>8} "
            f"{secs(r.names_s, False):>7} {r.plan_mib:4.0f} MiB {max(r.peak_rss_mib, default=0):4.0f} MiB  ["
            + " ".join(f"{x:.2f}" for x in r.command_s)
            + "]"
        )
    print(
        "  command: the whole command (>T: killed at the time limit); query: the candidates query alone,\n"
        "  every row fetched; lines: planned_aips (the query, the output-name checks and the lines, nothing\n"
        "  written; ~T: stopped at the time limit, the whole plan's time at the rate it went); names: time\n"
        "  spent executing the output-name checks within lines; RSS: the command's peak resident memory"
    )
    for database, empty in b.results.get("empty_catalog", {}).items():
        print(
            f"  {database}, the command on an empty catalog (Python, imports, policy, tools, connecting): "
            f"{statistics.median(empty['command_s']):.2f} s"
        )
    for r in b.rows:
        if r.scenario == b.rows[-1].scenario:
            for kind, plan in r.details.get("explain", {}).items():
                print(f"\n  {r.database}, {r.scenario}, {kind}:")
                print("    " + plan.replace("\n", "\n    "))


def main() -> None:
    own_bytecode_cache("plan")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=None, help="files in the catalog (default 1,000,000)")
    parser.add_argument("--per-aip", type=int, default=100, help="files per AIP (default 100)")
    parser.add_argument(
        "--risk",
        type=int,
        action="append",
        help="percent of files at risk, one scenario each (default 10 and 100)",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        action="append",
        help="only this database (repeatable)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds after which a command is killed and a step stopped, not run again (default 120)",
    )
    parser.add_argument("--quick", action="store_true", help="100,000 files (unless --files says otherwise)")
    parser.add_argument(
        "--work", type=Path, default=Path("/var/tmp"), help="where the scratch directory goes"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="write the figures to this JSON file")
    args = parser.parse_args()
    files = args.files or (100_000 if args.quick else 1_000_000)
    if files % args.per_aip or files < args.per_aip:
        raise SystemExit("bench: --files must be a multiple of --per-aip")
    risks = args.risk or [10, 100]
    if any(not 0 < r <= 100 for r in risks):
        raise SystemExit("bench: --risk takes percentages from 1 to 100")
    databases = args.database or ["sqlite", "postgresql"]
    started = datetime.now(UTC)
    args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="oais-plan-bench-", dir=args.work))
    b = Bench(work=work, rounds=args.rounds, timeout=args.timeout)
    print(
        f"plan benchmark: {files:,} files, {args.per_aip} per AIP, {os.cpu_count()} cores, "
        f"{args.rounds} rounds, work in {work}",
        flush=True,
    )

    def save(finished: bool) -> None:
        if args.json_out is None:
            return
        document = {
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat() if finished else None,
            "host": host(),
            "args": {
                "files": files,
                "per_aip": args.per_aip,
                "risk": risks,
                "databases": databases,
                "rounds": args.rounds,
                "timeout_s": args.timeout,
            },
            "layout": {
                "two_versions_every": TWO_VERSIONS,
                "migrated_every": MIGRATED,
                "clash_every": CLASH,
                "risk_formats": RISK_SLOTS,
                "other_formats": PREFERRED_SLOTS,
            },
            "rows": [r.as_json() for r in b.rows],
            "results": b.results,
        }
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(document, indent=2, default=str))

    try:
        for database in databases:
            fixed_cost(b, database)
            for risk in risks:
                bench_one(b, database, Layout(files // args.per_aip, args.per_aip, risk))
                save(finished=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary(b)
    save(finished=True)
    if args.json_out is not None:
        print(f"\nresults: {args.json_out}")


if __name__ == "__main__":
    main()
