"""Deaccession end to end: without an approval, nothing can delete an AIP (every path is tried); with
one, every object of every version goes at every location, a tombstone stays on storage and in the
catalog, and a PREMIS deletion event is recorded in the catalog and every event log.

The archive is the real one: the ``oais`` command and ``oais serve`` in subprocesses, on two local
locations with SQLite (and PostgreSQL), and on Ceph RGW buckets with Object Lock in GOVERNANCE and
COMPLIANCE modes. Tests act behind the command's back only as an intruder would: raw SQL on the
catalog, plain boto3 on the buckets.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from oais.bootstrap import build, deaccession_service
from oais.config import load_settings
from oais.domain.access_control import Role
from oais.domain.actions import Actor, Basis
from oais.domain.errors import ConflictError
from tests.conftest import S3Service
from tests.e2e.audit_deployment import Deployment, deployment
from tests.e2e.conftest import REPO, Oais, Run, tree_snapshot
from tests.e2e.test_migration import make_sip
from tests.e2e.test_s3_storage import Archive
from tests.e2e.test_s3_storage import _archive as s3_archive

PRODUCER = "IAS / OMEGA team"


def _ok(run: Run) -> Any:
    assert run.code == 0, f"exit {run.code}\n{run.stdout}\n{run.stderr}"
    return run.json if run.stdout.startswith("{") else run


def _refused(run: Run, code: int, *said: str) -> None:
    assert run.code == code, f"exit {run.code}, not {code}\n{run.stdout}\n{run.stderr}"
    for phrase in said:
        assert phrase in run.stdout + run.stderr, f"{phrase!r} not said:\n{run.stdout}\n{run.stderr}"


@dataclass
class Team:
    """The people of an archive: admins alice and bob (and carol), auditor audra, producer pat; eve's
    admin token is revoked."""

    oais: Oais
    tokens: dict[str, str]

    def as_(self, name: str | None) -> Oais:
        """The ``oais`` command run with ``name``'s token in OAIS_TOKEN (None: as the OS user)."""
        env = {k: v for k, v in self.oais.env.items() if k != "OAIS_TOKEN"}
        if name is not None:
            env["OAIS_TOKEN"] = self.tokens[name]
        return Oais(home=self.oais.home, env=env)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def _team(oais: Oais) -> Team:
    tokens = {}
    for name, role in (
        ("alice", "admin"),
        ("bob", "admin"),
        ("carol", "admin"),
        ("eve", "admin"),
        ("audra", "auditor"),
    ):
        tokens[name] = _ok(oais("token", "add", name, "--role", role, "--json"))["token"]
    tokens["pat"] = _ok(oais("token", "add", "pat", "--role", "producer", "--producer", PRODUCER, "--json"))[
        "token"
    ]
    _ok(oais("token", "revoke", "eve"))
    return Team(oais, tokens)


def _small_sip(base: Path, content: str) -> Path:
    sip = base / f"sip-{hashlib.sha256(content.encode()).hexdigest()[:8]}"
    sip.mkdir(parents=True)
    (sip / "notes.txt").write_text(content, encoding="utf-8")
    return sip


def _ingest(oais: Oais, sip: Path, title: str) -> str:
    result = _ok(oais("ingest", sip, "--producer", PRODUCER, "--title", title, "--json"))
    aip_id: str = result["aip_id"]
    return aip_id


def _snapshot(dep: Deployment, aip_id: str) -> dict[str, dict[bytes, tuple[int, int, str]]]:
    return {name: tree_snapshot(root / "aips" / aip_id) for name, root in dep.roots.items()}


def _verified(oais: Oais, aip_id: str) -> set[str]:
    """Re-read every file of every copy of the AIP, as ``oais storage verify`` does (in this process:
    the same services, without a command's start-up), and the locations whose copies are whole."""
    credentials = {k: v for k, v in oais.env.items() if k.startswith("OAIS_LOCATION_")}
    with mock.patch.dict(os.environ, credentials):  # S3 credentials come from the environment
        services = build(load_settings(oais.env))
        try:
            checks = services.storage.verify(aip_id)
        finally:
            services.close()
    assert all(c.ok for c in checks), [c.bad or c.problem for c in checks]
    return {c.location for c in checks}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def _served(oais: Oais, log: Path) -> Iterator[str]:
    """``oais serve`` on a free port (its base URL), stopped with SIGTERM at the end."""
    port = _free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "oais", "serve", "--port", str(port)],
            env=oais.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"oais serve did not answer:\n{log.read_text()}"
            time.sleep(0.1)
        yield base
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _events_logged(root: Path) -> list[dict[str, Any]]:
    """Every event line of a local location's event log."""
    found = []
    for segment in sorted((root / "events").glob("*.jsonl")):
        for line in segment.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "event" in record:
                found.append(record)
    return found


# --- nothing deletes an AIP without an approval --------------------------------------------------


def test_the_deletion_method_is_called_by_the_deaccession_service_alone() -> None:
    """An AST search over oais/: ``delete_prefix`` is called in oais/administration/deaccession.py
    and nowhere else (the stores define it; S3's own deletion calls stay inside the adapter)."""
    callers: dict[str, list[int]] = {}
    for path in sorted((REPO / "oais").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if called and node.func.attr == "delete_prefix":  # type: ignore[attr-defined]
                callers.setdefault(str(path.relative_to(REPO)), []).append(node.lineno)
    assert list(callers) == ["oais/administration/deaccession.py"], callers
    # No other way to delete objects is offered to services: the port has plan_deletion and
    # delete_prefix only, and the other deletions (DIP clean-up, the fake's damage helpers) are named.
    ports = ast.parse((REPO / "oais" / "domain" / "ports.py").read_text(encoding="utf-8"))
    (port,) = [c for c in ports.body if isinstance(c, ast.ClassDef) and c.name == "ObjectStore"]
    methods = {f.name for f in port.body if isinstance(f, ast.FunctionDef)}
    words = ("delete", "remove", "purge", "unlink", "erase", "drop")
    assert {m for m in methods if any(w in m for w in words)} == {"delete_prefix"}


def test_without_an_approval_nothing_can_delete_an_aip(tmp_path: Path, sample_sip: Path) -> None:
    dep = deployment(tmp_path)
    oais = dep.oais
    aip = _ingest(oais, sample_sip, "OMEGA cubes, orbit 0042")
    other = _ingest(oais, _small_sip(tmp_path, "another AIP"), "Another")
    team = _team(oais)
    before = _snapshot(dep, aip)
    assert all(before.values())

    def intact(verify: bool = True) -> None:
        assert _snapshot(dep, aip) == before
        if verify:
            assert _verified(oais, aip) == {"a", "b"}

    # Asking: an admin token only, a known AIP, a reason.
    _refused(
        team.as_(None)("deaccession", "request", aip, "--reason", "x"), 10, "proves no role", "OAIS_TOKEN"
    )
    _refused(
        team.as_("audra")("deaccession", "request", aip, "--reason", "x"),
        10,
        "token 'audra' has the role auditor",
    )
    _refused(team.as_("pat")("deaccession", "request", aip, "--reason", "x"), 10, "has the role producer")
    _refused(team.as_("eve")("deaccession", "request", aip, "--reason", "x"), 10, "holds no valid API token")
    _refused(
        team.as_("alice")("deaccession", "request", "no-such-aip", "--reason", "x"),
        3,
        "AIP no-such-aip is not in",
    )
    _refused(
        team.as_("alice")("deaccession", "request", aip, "--reason", "  "),
        1,
        "DEA-E001",
        "the reason cannot be kept",
    )
    _refused(team.as_("alice")("deaccession", "request", aip), 2, "--reason")
    intact(verify=False)

    first = _ok(team.as_("alice")("deaccession", "request", aip, "--reason", "ingested twice", "--json"))
    r1 = first["id"]
    assert (first["status"], first["requested_by"], first["aip_id"]) == ("requested", "alice", aip)
    _refused(
        team.as_("bob")("deaccession", "request", aip, "--reason", "me too"),
        4,
        f"open deaccession request, {r1}",
    )

    # A request alone deletes nothing, whoever runs the due deletions.
    assert "nothing due" in _ok(team.as_(None)("deaccession", "run")).stdout
    assert "nothing due" in _ok(team.as_("bob")("deaccession", "run")).stdout
    _refused(team.as_("audra")("deaccession", "run"), 10, "needs an administrator")
    intact()

    # Approving: not the requester, not a non-admin, not without a token, not an unknown request.
    _refused(team.as_("alice")("deaccession", "approve", r1), 10, "was asked for by 'alice'", "four eyes")
    _refused(team.as_("audra")("deaccession", "approve", r1), 10, "has the role auditor")
    _refused(team.as_("pat")("deaccession", "approve", r1), 10, "has the role producer")
    _refused(team.as_(None)("deaccession", "approve", r1), 10, "proves no role")
    _refused(team.as_("eve")("deaccession", "approve", r1), 10, "holds no valid API token")
    _refused(
        team.as_("bob")("deaccession", "approve", "dea-000000000000"),
        3,
        "no deaccession request dea-000000000000",
    )
    intact()

    # Rejecting needs a reason; a rejected request stays rejected.
    _refused(team.as_("bob")("deaccession", "reject", r1), 2, "--note")
    _refused(team.as_("bob")("deaccession", "reject", r1, "--note", ""), 1, "DEA-E001")
    _refused(team.as_("alice")("deaccession", "reject", r1, "--note", "changed my mind"), 10, "four eyes")
    rejected = _ok(team.as_("bob")("deaccession", "reject", r1, "--note", "still cited by a paper", "--json"))
    assert rejected["state"] == "rejected" and rejected["request"]["decided_by"] == "bob"
    _refused(
        team.as_("carol")("deaccession", "approve", r1),
        4,
        f"deaccession request {r1}",
        "already rejected by bob",
    )
    _refused(team.as_("bob")("deaccession", "approve", r1), 4, "already rejected")
    assert "nothing due" in _ok(team.as_(None)("deaccession", "run")).stdout
    intact()

    # The service's own execution refuses a request that is not approved.
    r2 = _ok(team.as_("alice")("deaccession", "request", aip, "--reason", "ingested twice", "--json"))["id"]
    services = build(load_settings(oais.env))
    try:
        service = deaccession_service(services)
        bob = Actor(name="bob", basis=Basis.TOKEN, role=Role.ADMIN)
        with pytest.raises(
            ConflictError, match=f"cannot carry out deaccession request {r2}: it has not been approved"
        ):
            service.execute(r2, bob)
        with pytest.raises(
            ConflictError, match=f"cannot carry out deaccession request {r1} .* already rejected"
        ):
            service.execute(r1, bob)
        assert service.run_due(bob) == []
    finally:
        services.close()
    intact()

    # The database refuses a hand-made approval by the requester, or an execution without its event.
    for statement in (
        "UPDATE deaccession_requests SET status = 'approved', decided_by = requested_by, "
        "decided_at = requested_at WHERE id = :id",
        "UPDATE deaccession_requests SET status = 'executed', decided_by = 'mallory', "
        "decided_at = requested_at, executed_at = requested_at WHERE id = :id",
    ):
        with pytest.raises(IntegrityError):
            dep.query(statement, id=r2)
    assert "nothing due" in _ok(team.as_(None)("deaccession", "run")).stdout
    intact()

    # The HTTP API: every route, every role, and no DELETE anywhere.
    with _served(oais, tmp_path / "serve.log") as base:
        deaccession = f"{base}/aips/{aip}/deaccession"
        approve = f"{base}/deaccessions/{r2}/approve"
        assert httpx.post(deaccession, json={"reason": "x"}).status_code == 401
        assert httpx.post(deaccession, json={"reason": "x"}, headers=team.auth("pat")).status_code == 403
        assert httpx.post(deaccession, json={"reason": "x"}, headers=team.auth("audra")).status_code == 403
        assert httpx.post(deaccession, json={"reason": "x"}, headers=team.auth("eve")).status_code == 401
        taken = httpx.post(deaccession, json={"reason": "x"}, headers=team.auth("carol"))
        assert taken.status_code == 409 and r2 in taken.json()["detail"]
        assert httpx.post(deaccession, json={"reason": ""}, headers=team.auth("carol")).status_code == 422
        assert httpx.post(approve).status_code == 401
        for name, refusal in (("pat", 403), ("audra", 403), ("eve", 401)):
            assert httpx.post(approve, headers=team.auth(name)).status_code == refusal, name
        same = httpx.post(approve, json={"note": "mine"}, headers=team.auth("alice"))
        assert same.status_code == 403 and "four eyes" in same.json()["detail"]
        reject = f"{base}/deaccessions/{r2}/reject"
        assert httpx.post(reject, json={"note": "no"}, headers=team.auth("audra")).status_code == 403
        assert httpx.post(reject, json={"note": ""}, headers=team.auth("bob")).status_code == 422
        assert (
            httpx.post(f"{base}/deaccessions/dea-000000000000/approve", headers=team.auth("bob")).status_code
            == 404
        )
        for path in (
            f"/aips/{aip}",
            f"/aips/{aip}/deaccession",
            f"/deaccessions/{r2}",
            f"/aips/{aip}/events",
            "/aips",
        ):
            assert httpx.delete(f"{base}{path}", headers=team.auth("bob")).status_code == 405, path
        document = httpx.get(f"{base}/openapi.json").json()
        assert [(p, m) for p, ops in document["paths"].items() for m in ops if m == "delete"] == []
        listed = httpx.get(f"{base}/deaccessions", headers=team.auth("audra"))
        assert listed.status_code == 200
        assert [(r["id"], r["status"]) for r in listed.json()["requests"]] == [
            (r1, "rejected"),
            (r2, "requested"),
        ]
        assert httpx.get(f"{base}/deaccessions", headers=team.auth("pat")).status_code == 403
        assert httpx.get(f"{base}/deaccessions/{r2}", headers=team.auth("audra")).json()["tombstone"] is None
        refused = httpx.post(reject, json={"note": "keep it: still cited"}, headers=team.auth("bob"))
        assert refused.status_code == 200 and refused.json()["state"] == "rejected"
        again = httpx.post(approve, headers=team.auth("carol"))
        assert again.status_code == 409 and "already rejected by bob" in again.json()["detail"]
        assert httpx.get(f"{base}/aips/{aip}", headers=team.auth("audra")).status_code == 200

    intact()
    assert "nothing due" in _ok(team.as_(None)("deaccession", "run")).stdout
    assert _ok(oais("events", "verify", "--json"))["ok"]
    assert _ok(oais("storage", "verify", other, "--json"))["ok"]
    shown = _ok(oais("show", aip, "--json"))
    assert shown["deaccession"] is None
    assert [e for e in shown["events"] if e["type"] == "deletion"] == []
    listed = _ok(oais("deaccession", "list", "--json"))["requests"]
    assert [(r["id"], r["status"], r["decided_by"]) for r in listed] == [
        (r1, "rejected", "bob"),
        (r2, "rejected", "bob"),
    ]


# --- an approved deaccession ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str | None]:
    """Makes catalog databases: None for the default SQLite file, else fresh PostgreSQL databases."""
    if request.param == "sqlite":
        count = iter(range(100))
        return lambda: f"sqlite:///{tmp_path / f'catalog-{next(count)}.sqlite'}"
    make: Callable[[], str] = request.getfixturevalue("new_postgres_database")
    return make


@pytest.mark.slow
def test_an_approved_deaccession_deletes_every_version_and_leaves_a_tombstone(
    tmp_path: Path, sample_sip: Path, database: Callable[[], str | None]
) -> None:
    dep = deployment(tmp_path / "archive", database())
    oais = dep.oais
    sip = make_sip(tmp_path / "sip")
    aip = _ingest(oais, sip, "Orbit 0042 plates")
    # A second version by migration (payload reused from v1 through fetch.txt).
    plan = tmp_path / "plan.json"
    _ok(oais("plan", "migrations", "--out", plan, "--json"))
    applied = _ok(oais("migrate", "apply", plan, "--json"))
    assert applied["aips"][0]["version"] == 2
    other = _ingest(oais, sample_sip, "OMEGA cubes, orbit 0042")
    team = _team(oais)
    stored = {name: sorted((root / "aips" / aip).rglob("*")) for name, root in dep.roots.items()}
    objects = {name: [p for p in paths if p.is_file()] for name, paths in stored.items()}
    sizes = {name: sum(p.stat().st_size for p in found) for name, found in objects.items()}
    assert {
        name: sorted({p.relative_to(dep.roots[name] / "aips" / aip).parts[0] for p in o})
        for name, o in objects.items()
    } == {
        "a": ["v1", "v2"],
        "b": ["v1", "v2"],
    }
    records = {n: _ok(oais("show", aip, "--version", str(n), "--json")) for n in (1, 2)}
    other_before = _snapshot(dep, other)

    request = _ok(
        team.as_("alice")(
            "deaccession", "request", aip, "--reason", "superseded: the producer withdrew it", "--json"
        )
    )
    approved = _ok(
        team.as_("bob")("deaccession", "approve", request["id"], "--note", "agreed at the board", "--json")
    )

    assert approved["state"] == "executed" and approved["problems"] == []
    r = approved["request"]
    assert (r["status"], r["requested_by"], r["decided_by"], r["decision_note"]) == (
        "executed",
        "alice",
        "bob",
        "agreed at the board",
    )
    # Every object of every version is gone at every location; the tombstone alone stays.
    for name, root in dep.roots.items():
        left = sorted(p.relative_to(root) for p in (root / "aips" / aip).rglob("*"))
        assert left == [Path("aips", aip, "tombstone.json")], name
    tombstones = {
        name: (root / "aips" / aip / "tombstone.json").read_bytes() for name, root in dep.roots.items()
    }
    assert tombstones["a"] == tombstones["b"]
    tombstone = json.loads(tombstones["a"])
    assert list(tombstone) == sorted(tombstone) and tombstones["a"].endswith(b"}\n")
    assert tombstone["kind"] == "oais deaccession tombstone" and tombstone["format"] == 1
    assert (tombstone["aip_id"], tombstone["title"], tombstone["producer"]) == (
        aip,
        "Orbit 0042 plates",
        PRODUCER,
    )
    assert tombstone["reason"] == "superseded: the producer withdrew it"
    assert (tombstone["request_id"], tombstone["requested_by"], tombstone["approved_by"]) == (
        request["id"],
        "alice",
        "bob",
    )
    assert tombstone["approval_note"] == "agreed at the board"
    assert tombstone["policy"] == "storage@2" and tombstone["software"].startswith("oais ")
    assert [(v["version"], v["files"], v["bytes"]) for v in tombstone["versions"]] == [
        (n, records[n]["version"]["files"], records[n]["version"]["bytes"]) for n in (1, 2)
    ]
    assert {loc["location"]: loc["objects"] for loc in tombstone["locations"]} == {
        n: len(o) for n, o in objects.items()
    }
    assert {loc["location"]: loc["bytes"] for loc in tombstone["locations"]} == sizes
    deleted = datetime.fromisoformat(tombstone["deleted"])
    assert datetime.fromisoformat(tombstone["approved_at"]) <= deleted <= datetime.now(UTC)
    # ... and in the catalog.
    shown = _ok(oais("deaccession", "show", request["id"], "--json"))
    assert shown["tombstone"] == tombstone and shown["request"]["event_id"] == tombstone["event_id"]
    record = _ok(oais("show", aip, "--json"))
    assert record["deaccession"]["tombstone"] == tombstone and record["copies"] == []
    deletion = [e for e in record["events"] if e["type"] == "deletion"]
    assert [e["identifier"] for e in deletion] == [tombstone["event_id"]]
    assert {(link["agent"], link["role"]) for link in deletion[0]["agents"]} >= {
        ("person:alice", "implementer"),
        ("person:bob", "authorizer"),
    }
    assert deletion[0]["policy"] == "storage@2" and "superseded" in deletion[0]["outcome_detail"]
    shown_text = _ok(oais("show", aip)).stdout
    assert f"DEACCESSIONED: AIP {aip} was deaccessioned on" in shown_text and request["id"] in shown_text
    # The deletion event is in the event log of every location, whose chains are whole.
    for name, root in dep.roots.items():
        logged = [e for e in _events_logged(root) if e["event"]["identifier"] == tombstone["event_id"]]
        assert len(logged) == 1 and logged[0]["aip"] == aip and logged[0]["version"] == 2, name
        assert logged[0]["event"]["type"] == "deletion"
    verified = _ok(oais("events", "verify", "--json"))
    assert verified["ok"] and set(verified["locations"]) == {"a", "b"}

    # Commands that need the objects say clearly why they are not there.
    gone = f"AIP {aip} was deaccessioned on"
    _refused(oais("storage", "verify", aip), 3, gone, request["id"], "superseded")
    _refused(oais("export", aip, tmp_path / "export"), 3, gone)
    _refused(oais("dip", aip, "--out", tmp_path / "dip"), 3, gone)
    assert not (tmp_path / "export").exists() and not (tmp_path / "dip").exists()
    _refused(team.as_("carol")("deaccession", "approve", request["id"]), 4, "already executed")
    _refused(
        team.as_("carol")("deaccession", "request", aip, "--reason", "again"), 4, "already deaccessioned"
    )
    _refused(oais("ingest", sip, "--producer", PRODUCER, "--title", "again"), 1, "AIP-E003", gone)
    # The other AIP is untouched and whole; audits and replication find nothing to do or flag.
    assert _snapshot(dep, other) == other_before
    assert _ok(oais("storage", "verify", other, "--json"))["ok"]
    audit = _ok(oais("audit", "run", "--all", "--json"))
    assert audit["ok"] and audit["unexpected"] == [] and audit["failed"] == []
    status = _ok(oais("storage", "status", "--json"))
    assert all(loc["lacking"] == [] and loc["aips"] == 1 for loc in status["locations"])
    assert _ok(oais("storage", "replicate", "--json"))["replicated"] == []
    with _served(oais, tmp_path / "serve.log") as base:
        answer = httpx.get(f"{base}/aips/{aip}", headers=team.auth("audra"))
        assert answer.status_code == 410 and answer.json()["deaccession"]["tombstone"] == tombstone
        assert gone in answer.json()["detail"]
        dip = httpx.post(f"{base}/aips/{aip}/dips", json={}, headers=team.auth("bob"))
        assert dip.status_code == 410
        events = httpx.get(f"{base}/aips/{aip}/events", headers=team.auth("audra"))
        assert events.status_code == 200 and events.json()["events"][-1]["type"] == "deletion"

    # A catalog rebuilt from storage alone has the tombstone and the request back.
    rebuilt_url = database()
    rebuilt = Oais(home=oais.home, env={**oais.env, "OAIS_DATABASE_URL": rebuilt_url or ""})
    result = _ok(rebuilt("catalog", "rebuild", "--from", "a", "--json"))
    assert result["tombstones"] == 1 and result["aips"] == 1
    again = _ok(rebuilt("deaccession", "show", request["id"], "--json"))
    assert again["tombstone"] == tombstone
    assert (again["request"]["status"], again["request"]["reason"]) == ("executed", tombstone["reason"])
    record = _ok(rebuilt("show", aip, "--json"))
    assert record["deaccession"]["tombstone"] == tombstone
    assert [e["identifier"] for e in record["events"] if e["type"] == "deletion"] == [tombstone["event_id"]]
    assert _ok(rebuilt("events", "verify", "--json"))["ok"]
    assert _ok(rebuilt("storage", "verify", other, "--json"))["ok"]
    _refused(rebuilt("storage", "verify", aip), 3, gone)
    rebuilt_audit = _ok(rebuilt("audit", "run", "--all", "--json"))
    assert rebuilt_audit["ok"] and rebuilt_audit["unexpected"] == []


# --- Ceph RGW with Object Lock -------------------------------------------------------------------


def _locked_archive(s3: S3Service, tmp_path: Path, mode: str, bypass: bool) -> Archive:
    archive = s3_archive(s3, tmp_path)
    (archive.policies / "storage.toml").write_text(
        'id = "storage"\nversion = "test"\nlocations = ["ceph-a", "ceph-b"]\n'
        f'[retention]\nmode = "{mode}"\ndays = 1\n'
        f"[deaccession]\ngovernance_bypass = {str(bypass).lower()}\n"
    )
    return archive


def _versions(archive: Archive, location: str, prefix: str) -> list[tuple[str, str, bool]]:
    """(key, version id, is delete marker) of every version under ``prefix``, as RGW lists them."""
    response = archive.s3.client().list_object_versions(Bucket=archive.buckets[location], Prefix=prefix)
    found = [(v["Key"], v["VersionId"], False) for v in response.get("Versions", [])]
    found += [(m["Key"], m["VersionId"], True) for m in response.get("DeleteMarkers", [])]
    return sorted(found)


@pytest.mark.s3
@pytest.mark.slow
def test_on_rgw_governance_retention_is_lifted_when_the_policy_allows_it(
    s3: S3Service, tmp_path: Path, sample_sip: Path
) -> None:
    archive = _locked_archive(s3, tmp_path, "GOVERNANCE", bypass=True)
    oais = archive.oais
    aip = _ingest(oais, sample_sip, "OMEGA cubes, orbit 0042")
    other = _ingest(oais, _small_sip(tmp_path, "kept"), "Kept")
    team = _team(oais)
    prefix = f"archive/aips/{aip}/"
    before = {name: _versions(archive, name, prefix) for name in archive.buckets}
    head = archive.s3.client().head_object(Bucket=archive.buckets["ceph-a"], Key=f"{prefix}v1/bagit.txt")
    assert head["ObjectLockMode"] == "GOVERNANCE"

    request = _ok(team.as_("alice")("deaccession", "request", aip, "--reason", "duplicate", "--json"))
    outcome = _ok(team.as_("bob")("deaccession", "approve", request["id"], "--json"))

    assert outcome["state"] == "executed", outcome
    tombstone = outcome["tombstone"]
    assert {loc["location"]: loc["objects"] for loc in tombstone["locations"]} == {
        name: len(v) for name, v in before.items()
    }
    for name in archive.buckets:
        left = _versions(archive, name, prefix)
        assert [(k, marker) for k, _, marker in left] == [(f"{prefix}tombstone.json", False)], name
    locked = archive.s3.client().head_object(Bucket=archive.buckets["ceph-a"], Key=f"{prefix}tombstone.json")
    assert locked["ObjectLockMode"] == "GOVERNANCE"  # the tombstone is retained as the policy says
    assert _ok(oais("events", "verify", "--json"))["ok"]
    assert _ok(oais("storage", "verify", other, "--json"))["ok"]
    _refused(oais("storage", "verify", aip), 3, f"AIP {aip} was deaccessioned on")


@pytest.mark.s3
@pytest.mark.slow
def test_on_rgw_compliance_retention_makes_the_approved_deletion_wait(
    s3: S3Service, tmp_path: Path, sample_sip: Path
) -> None:
    archive = _locked_archive(s3, tmp_path, "COMPLIANCE", bypass=True)
    oais = archive.oais
    aip = _ingest(oais, sample_sip, "OMEGA cubes, orbit 0042")
    team = _team(oais)
    prefix = f"archive/aips/{aip}/"
    before = {name: _versions(archive, name, prefix) for name in archive.buckets}

    def intact() -> None:
        assert {name: _versions(archive, name, prefix) for name in archive.buckets} == before
        assert _verified(oais, aip) == {"ceph-a", "ceph-b"}

    request = _ok(team.as_("alice")("deaccession", "request", aip, "--reason", "withdrawn", "--json"))
    waiting = _ok(team.as_("bob")("deaccession", "approve", request["id"], "--json"))

    assert waiting["state"] == "waiting"
    r = waiting["request"]
    assert r["status"] == "approved" and r["started"] is None
    assert "waiting for retention until" in r["detail"] and "(COMPLIANCE)" in r["detail"]
    assert "nothing was deleted" in r["detail"]
    due = datetime.fromisoformat(r["retry_after"])
    assert timedelta(hours=23) < due - datetime.now(UTC) <= timedelta(days=1, minutes=5)
    # Nothing is deleted, not even at the location without Object Lock.
    intact()
    assert "nothing due" in _ok(team.as_(None)("deaccession", "run")).stdout
    intact()
    # Made due by hand (a clock set wrong, an operator's mistake): RGW's retention still holds it.
    engine = create_engine(load_settings(oais.env).database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE deaccession_requests SET retry_after = :past WHERE id = :id"),
                {"past": datetime(2000, 1, 1), "id": request["id"]},
            )
    finally:
        engine.dispose()
    again = _ok(team.as_(None)("deaccession", "run", "--json"))
    assert [o["state"] for o in again["requests"]] == ["waiting"]
    intact()
    # And nobody can delete a COMPLIANCE version behind the archive's back, bypass or not.
    key, version, _ = next(v for v in before["ceph-a"] if v[0].endswith("bagit.txt"))
    for bypass in (False, True):
        with pytest.raises(ClientError) as refused:
            archive.s3.client().delete_object(
                Bucket=archive.buckets["ceph-a"], Key=key, VersionId=version, BypassGovernanceRetention=bypass
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    intact()
    shown = _ok(oais("deaccession", "show", request["id"], "--json"))
    assert shown["request"]["status"] == "approved" and shown["tombstone"] is None
    # Still kept (and audited) meanwhile; `oais show` says what is pending.
    pending = _ok(oais("show", aip, "--json"))["deaccession"]
    assert pending["request"]["status"] == "approved" and pending["tombstone"] is None
    assert "waiting for retention until" in _ok(oais("show", aip)).stdout
