"""Roles, tokens and the permission matrix (pure domain), and the page that documents them."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oais.domain.access_control import PERMISSIONS, Action, ApiToken, Role, Scope, token_digest, token_problem

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"

PRODUCER = ApiToken(name="ias pipeline", role=Role.PRODUCER, producer="IAS", created=T0)
AUDITOR = ApiToken(name="auditor", role=Role.AUDITOR, created=T0)
ADMIN = ApiToken(name="alice", role=Role.ADMIN, created=T0)


def test_a_producer_acts_on_its_own_only() -> None:
    for action in (Action.SEARCH, Action.READ, Action.SUBMIT, Action.REQUEST_DIP):
        assert PRODUCER.sees(action, "IAS")
        assert not PRODUCER.sees(action, "LESIA")
        assert not PRODUCER.sees(action, "ias")  # exactly its producer name
    assert not PRODUCER.may(Action.OVERRIDE)
    assert PRODUCER.owns_dip(Action.DOWNLOAD_DIP, "ias pipeline")
    assert not PRODUCER.owns_dip(Action.DOWNLOAD_DIP, "alice")


def test_an_auditor_reads_everything_and_changes_nothing() -> None:
    assert AUDITOR.sees(Action.READ, "LESIA") and AUDITOR.sees(Action.SEARCH, "IAS")
    assert AUDITOR.sees(Action.REQUEST_DIP, "IAS")
    assert AUDITOR.owns_dip(Action.DOWNLOAD_DIP, "alice")
    assert not AUDITOR.may(Action.SUBMIT)
    assert not AUDITOR.may(Action.OVERRIDE)
    assert not AUDITOR.sees(Action.SUBMIT, "IAS")


def test_an_admin_may_do_everything() -> None:
    assert all(ADMIN.scope(action) is Scope.ALL for action in Action)
    assert ADMIN.sees(Action.SUBMIT, "anyone") and ADMIN.owns_dip(Action.DOWNLOAD_DIP, "anyone")


@pytest.mark.parametrize(
    ("name", "role", "producer", "problem"),
    [
        ("ias pipeline", Role.PRODUCER, "IAS", None),
        ("alice@example.org", Role.ADMIN, None, None),
        ("", Role.ADMIN, None, "token name '' is not allowed"),
        (" leading", Role.ADMIN, None, "is not allowed"),
        ("tab\there", Role.ADMIN, None, "is not allowed"),
        ("x" * 129, Role.ADMIN, None, "is not allowed"),
        ("p", Role.PRODUCER, None, "a producer token needs the producer name"),
        ("p", Role.PRODUCER, "  ", "a producer token needs the producer name"),
        ("a", Role.AUDITOR, "IAS", "only a producer token is bound to a producer"),
    ],
)
def test_which_tokens_can_be_made(name: str, role: Role, producer: str | None, problem: str | None) -> None:
    found = token_problem(name, role, producer)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_a_token_is_kept_as_its_sha256() -> None:
    assert token_digest("oais_abc") == hashlib.sha256(b"oais_abc").hexdigest()


def test_the_documented_role_table_is_the_permission_matrix() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Roles", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    order = {
        "search the catalog": Action.SEARCH,
        "read an AIP and its events": Action.READ,
        "submit a SIP": Action.SUBMIT,
        "request a DIP": Action.REQUEST_DIP,
        "override an embargo or restriction": Action.OVERRIDE,
        "download a DIP": Action.DOWNLOAD_DIP,
        "request a deaccession": Action.REQUEST_DEACCESSION,
        "approve or reject a deaccession": Action.DECIDE_DEACCESSION,
        "read deaccession requests": Action.READ_DEACCESSIONS,
    }
    documented: dict[Action, list[str]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        what = re.sub(r"\s*\(.*\)$", "", cells[0])
        documented[order[what]] = cells[1:]
    assert documented == {action: [PERMISSIONS[role][action].value for role in Role] for action in Action}
