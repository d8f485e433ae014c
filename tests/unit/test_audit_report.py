"""The audit report built from a period's trail: figures count everything, tables are cut at the
limit and say how much was left out, and what an auditor must see is a finding."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from oais.administration.audit_report import build_report, period_bounds
from oais.domain.actions import PolicyChange
from oais.domain.audit_trail import Acting, AuditTrail, Failure, Repair, TypeCount
from oais.domain.reports import Level, Period

START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
DAEMON = Acting(
    id=7, action="daemon", actor="archivist", basis="os-user", role="admin", channel="cli", started=START
)


def failure(n: int, **extra: object) -> Failure:
    values: dict[str, object] = {
        "detected": START + timedelta(days=n),
        "location": "a",
        "key": f"aips/x/v1/data/objects/f{n}",
        "kind": "altered",
        "aip_id": "x",
        "version": 1,
        "path": f"f{n}",
        "agents": ["oais 1.0 (software, executing program)"],
        "acting": DAEMON,
    }
    values.update(extra)
    return Failure.model_validate(values)


def change(policy: str, version: str, before: str | None, same: bool = False) -> PolicyChange:
    return PolicyChange(
        policy_id=policy,
        version=version,
        sha256="c" * 64,
        title=policy,
        first_seen=START + timedelta(days=3),
        first_seen_by="curator",
        action_id=12,
        previous_version=before,
        same_version_new_text=same,
    )


def test_period_bounds_include_both_days() -> None:
    assert period_bounds(date(2025, 3, 1), date(2025, 3, 31)) == (START, END)
    assert period_bounds(date(2025, 3, 1), date(2025, 3, 1)) == (START, START + timedelta(days=1))
    with pytest.raises(ValueError, match="ends"):
        period_bounds(date(2025, 3, 2), date(2025, 3, 1))


def test_tables_are_cut_and_figures_count_everything() -> None:
    trail = AuditTrail(
        start=START,
        end=END,
        limit=2,
        events=[
            TypeCount(type="fixity check", outcome="success", count=90),
            TypeCount(type="fixity check", outcome="failure", count=5),
            TypeCount(type="recovery", outcome="success", count=1),
        ],
        failures=[failure(1, resolved=START + timedelta(days=2), repaired_from="b"), failure(2)],
        failures_total=5,
        repairs=[
            Repair(
                when=START + timedelta(days=2),
                location="a",
                source="b",
                key="aips/x/v1/data/objects/f1",
                kind="altered",
                detected=START + timedelta(days=1),
                acting=DAEMON,
            )
        ],
        repairs_total=1,
        unresolved=[failure(2, unrecoverable=True)],
        unresolved_total=4,
        unrecoverable_total=1,
    )
    changes = [change("audit", "1", None), change("audit", "2", "1"), change("access", "1", "1", same=True)]
    report = build_report(
        trail,
        changes,
        Period(start=START.date(), end=(END - timedelta(days=1)).date()),
        generated=END,
        archive="test",
        software="oais 1.0",
        policies=[],
    )
    assert [s.key for s in report.sections] == [
        "summary",
        "fixity-failures",
        "repairs",
        "deletions",
        "policy-changes",
        "unresolved",
    ]
    sections = {s.key: s for s in report.sections}
    figures = {f.key: f.value for f in sections["summary"].figures}
    assert (figures["fixity_checks"], figures["fixity_checks_failed"], figures["failures"]) == (95, 5, 5)
    assert (figures["policy_changes"], figures["policy_same_version_changes"]) == (3, 1)
    [failures, _] = sections["fixity-failures"].tables
    assert len(failures.rows) == 2 and failures.truncated == 3
    first = dict(zip(failures.columns, failures.rows[0], strict=True))
    assert first["Resolution"] == "repaired from 'b'"
    assert first["Under action"] == "'daemon' by archivist (os-user, cli), action 7"
    [open_] = sections["unresolved"].tables
    assert open_.truncated == 3
    problems = [f.text for s in report.sections for f in s.findings if f.level is Level.PROBLEM]
    assert any("no good copy left" in p for p in problems)
    assert any("'access' changed its text without a new version" in p for p in problems)
    [changed] = sections["policy-changes"].tables
    assert [(r[0], r[1], r[2], r[3]) for r in changed.rows] == [
        ("audit", None, "1", False),
        ("audit", "1", "2", False),
        ("access", "1", "1", True),
    ]
