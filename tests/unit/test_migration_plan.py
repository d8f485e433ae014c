"""Migration plans: output names, the plan file written streaming and read back, bad plan files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oais.adapters.plan_files import read_plan, write_plan
from oais.domain.errors import PlanInvalid
from oais.domain.migration import MigrationPlan, output_path


def test_an_output_goes_beside_its_source_with_the_targets_extension() -> None:
    assert output_path("maps/a.bmp", "png", set()) == "maps/a.png"
    assert output_path("a.tar.gz", "png", set()) == "a.tar.png"
    assert output_path("no-extension", "pdf", set()) == "no-extension.pdf"
    assert output_path(".hidden", "png", set()) == ".hidden.png"
    assert output_path("dir.v2/file", "png", set()) == "dir.v2/file.png"
    # A name already taken (a file of the AIP, or another output of the plan) is not reused.
    assert output_path("maps/a.bmp", "png", {"maps/a.png"}) == "maps/a.bmp.png"
    assert output_path("maps/a.bmp", "png", {"maps/a.png", "maps/a.bmp.png"}) == "maps/a-2.png"
    assert output_path("a.png", "png", set()) == "a.png.png"  # never the source itself


def _aip(n: int) -> dict[str, object]:
    line = {
        "path": f"scans/{n}.bmp",
        "sha256": f"{n:064x}",
        "bytes": 100 + n,
        "source_puid": "fmt/116",
        "source_name": "Windows Bitmap 3.0",
        "action": "migrate",
        "tool": "pillow",
        "target_puid": "fmt/11",
        "output": f"scans/{n}.png",
    }
    return {"aip_id": f"aip-{n}", "version": 1, "files": [line]}


def test_a_plan_is_written_whole_with_its_totals_first_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    seen = []

    def aips():  # type: ignore[no-untyped-def]
        for n in range(3):
            seen.append(n)
            yield _aip(n)

    def header() -> MigrationPlan:
        assert seen == [0, 1, 2]  # the totals are asked for once every AIP was written
        return MigrationPlan(
            created=datetime(2026, 11, 21, tzinfo=UTC), policy="formats@2", files=3, bytes=303
        )

    write_plan(path, aips(), header)
    text = path.read_text(encoding="utf-8")
    assert text.index('"files": 3') < text.index('"aips"')
    assert len([ln for ln in text.splitlines() if ln.startswith('  {"aip_id"')]) == 3  # one AIP per line
    plan = read_plan(path)
    assert [a.aip_id for a in plan.aips] == ["aip-0", "aip-1", "aip-2"]
    assert plan.aips[2].files[0].output == "scans/2.png"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left


def test_a_failed_write_leaves_no_plan_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"

    def aips():  # type: ignore[no-untyped-def]
        yield _aip(0)
        raise RuntimeError("catalog went away")

    with pytest.raises(RuntimeError):
        write_plan(path, aips(), lambda: MigrationPlan(created=datetime.now(UTC), policy="formats@2"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "Invalid JSON"),
        (json.dumps({"kind": "something else", "created": "2026-11-21T00:00:00Z", "policy": "p"}), "kind"),
        (json.dumps({"created": "2026-11-21T00:00:00Z"}), "policy: Field required"),
        (
            json.dumps(
                {"created": "2026-11-21T00:00:00Z", "policy": "p", "aips": [{"aip_id": "a", "version": 0}]}
            ),
            "aips[0].version",
        ),
    ],
)
def test_a_bad_plan_file_is_plan_e001_naming_the_file_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanInvalid) as caught:
        read_plan(path)
    assert {i.code for i in caught.value.issues} == {"PLAN-E001"}
    assert all(i.path == str(path) for i in caught.value.issues)
    assert any(expected in i.message for i in caught.value.issues), caught.value.issues


def test_a_missing_plan_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    with pytest.raises(PlanInvalid, match=r"plan\.json") as caught:
        read_plan(path)
    assert str(caught.value) == f"{path}: cannot read the plan"
    assert [i.code for i in caught.value.issues] == ["PLAN-E001"]
    assert caught.value.issues[0].path == str(path)
    assert "No such file" in caught.value.issues[0].message, caught.value.issues
