"""Every state-changing command records who did it: the OS user, or the API token in OAIS_TOKEN."""

from __future__ import annotations

import getpass
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Oais


def _rows(oais: Oais, query: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(oais.home / "catalog.sqlite")
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(query)]
    finally:
        connection.close()


def _actions(oais: Oais) -> list[dict[str, Any]]:
    return _rows(oais, "SELECT * FROM action_log ORDER BY id")


def test_commands_record_the_os_user_or_the_token_holder(oais: Oais, sample_sip: Path) -> None:
    accepted = oais.ingest(sample_sip)
    assert accepted.code == 0, accepted.stderr
    aip_id = accepted.json["aip_id"]

    (ingest,) = _actions(oais)
    assert (ingest["action"], ingest["outcome"], ingest["target"]) == ("ingest", "ok", aip_id)
    assert (ingest["actor"], ingest["authenticated_by"], ingest["role"], ingest["channel"]) == (
        getpass.getuser(),
        "os-user",
        "admin",
        "cli",
    )
    assert json.loads(ingest["arguments"])["producer"] == "IAS / OMEGA team"
    assert ingest["finished"] >= ingest["started"]
    # The policies the ingest acted under are registered, first seen by it.
    registered = _rows(oais, "SELECT policy_id, version, first_seen_by, action_id FROM policy_log")
    assert {r["policy_id"] for r in registered} >= {"ingest", "storage", "formats", "audit", "access"}
    assert {(r["first_seen_by"], r["action_id"]) for r in registered} == {(getpass.getuser(), ingest["id"])}

    made = oais("token", "add", "Carla Ruiz", "--role", "admin", "--json")
    assert made.code == 0, made.stderr
    secret = made.json["token"]
    oais.env["OAIS_TOKEN"] = secret
    verified = oais("storage", "verify", aip_id, "--json")
    assert verified.code == 0, verified.stderr

    token_add, verify = _actions(oais)[1:]
    assert (token_add["action"], token_add["target"], json.loads(token_add["arguments"])["role"]) == (
        "token add",
        "Carla Ruiz",
        "admin",
    )
    assert (verify["action"], verify["actor"], verify["authenticated_by"], verify["role"]) == (
        "storage verify",
        "Carla Ruiz",
        "token",
        "admin",
    )
    assert secret not in json.dumps(_actions(oais))  # a token is never recorded


def test_a_wrong_token_is_refused_and_recorded_as_an_authentication_failure(
    oais: Oais, sample_sip: Path
) -> None:
    oais.env["OAIS_TOKEN"] = "oais_not-a-token"
    refused = oais.ingest(sample_sip)

    assert refused.code == 10
    assert "OAIS_TOKEN holds no valid API token" in refused.json["error"]
    assert _actions(oais) == []  # nothing done, nothing recorded under a name nobody proved
    assert not oais.store.exists() or not list(oais.store.glob("aips/*"))
    (failure,) = _rows(oais, "SELECT token, method, path, status FROM api_access_log")
    assert failure == {"token": None, "method": "CLI", "path": "ingest", "status": 401}


def test_refusals_failures_and_policy_changes_are_recorded(
    oais: Oais, sample_sip: Path, tmp_path: Path
) -> None:
    missing = oais("dip", "no-such-aip", "--out", tmp_path / "dip")
    assert missing.code == 3
    assert oais.ingest(sample_sip).code == 0

    policies = tmp_path / "policies"
    shutil.copytree(Path(__file__).parents[2] / "policies", policies)
    audit = policies / "audit.toml"
    audit.write_text(audit.read_text().replace('version = "1"', 'version = "2"'))
    oais.env["OAIS_POLICIES"] = str(policies)
    assert oais("storage", "verify", "no-such-aip").code == 3

    dip, ingest, verify = _actions(oais)
    assert (dip["action"], dip["outcome"], dip["target"]) == ("dip", "refused", "no-such-aip")
    assert "AipNotFound" in dip["detail"]
    assert ingest["outcome"] == "ok"
    assert (verify["outcome"], verify["target"]) == ("refused", "no-such-aip")
    changes = _rows(oais, "SELECT policy_id, version, action_id FROM policy_log ORDER BY id")
    assert [(c["version"], c["action_id"]) for c in changes if c["policy_id"] == "audit"] == [
        ("1", dip["id"]),
        ("2", verify["id"]),
    ]
