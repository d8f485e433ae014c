"""`oais bag validate` on the Library of Congress BagIt conformance suite, through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, Oais

SUITE = REPO.parent / "shared" / "conformance" / "bagit-conformance-suite"
EXPECT = {"valid": 0, "warning": 0, "invalid": 1, "linux-only": 1}


def _cases() -> list[tuple[str, Path]]:
    if not SUITE.is_dir():
        return []
    return [
        (kind, bag)
        for version in sorted(SUITE.iterdir())
        if version.is_dir()
        for kind_dir in sorted(version.iterdir())
        if (kind := kind_dir.name) in EXPECT
        for bag in sorted(kind_dir.iterdir())
        if bag.is_dir()
    ]


def test_the_conformance_suite_is_beside_the_checkout() -> None:
    assert len(_cases()) > 40, f"BagIt conformance suite not found at {SUITE}"


@pytest.mark.parametrize(
    ("kind", "bag"), _cases(), ids=lambda v: v if isinstance(v, str) else f"{v.parent.parent.name}/{v.name}"
)
def test_conformance_bag(kind: str, bag: Path, oais: Oais) -> None:
    run = oais("bag", "validate", bag, "--json")
    assert run.code == EXPECT[kind], run.stdout + run.stderr
    report = run.json
    assert report["valid"] is (EXPECT[kind] == 0)
    if kind in ("invalid", "linux-only"):
        errors = [i for i in report["issues"] if i["severity"] == "error"]
        assert errors and all(i["message"].strip() for i in errors)
    if kind == "warning":
        assert any(i["severity"] == "warning" for i in report["issues"]), report


def test_human_output_lists_every_problem(oais: Oais, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    (bag / "data").mkdir(parents=True)
    (bag / "data" / "a.txt").write_text("a")
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "manifest-sha256.txt").write_text("0" * 64 + "  data/a.txt\n" + "1" * 64 + "  data/missing.txt\n")
    run = oais("bag", "validate", bag)
    assert run.code == 1
    assert "BAG-E008" in run.stderr and "data/a.txt" in run.stderr
    assert "BAG-E006" in run.stderr and "data/missing.txt" in run.stderr


def test_a_missing_bag_is_reported(oais: Oais, tmp_path: Path) -> None:
    run = oais("bag", "validate", tmp_path / "nope")
    assert run.code == 1 and "nope" in run.stderr
