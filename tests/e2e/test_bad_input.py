"""Every quality-assurance code, triggered through the command line by the fixture named after it.

Each bad SIP is rejected with exit code 1, its issue names the code and the offending path, nothing is
published, no staging is left, the SIP is unchanged, and the rejection is recorded.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from oais.domain.issues import CODES
from tests.e2e.conftest import Oais
from tests.support import sip_fixtures

BUILDERS: dict[str, Callable[[Path], Path]] = {
    name: fn
    for name, fn in inspect.getmembers(sip_fixtures, inspect.isfunction)
    if re.fullmatch(r"sip_[ew]\d{3}_\w+", name)
}


def _code(name: str) -> str:
    return "SIP-" + name.split("_")[1].upper()


def test_every_sip_code_has_a_bad_input_fixture() -> None:
    covered = {_code(n) for n in BUILDERS}
    # SIP-E011 (a file changing while it is read) needs a race: it is tested on the copier itself.
    expected = {c for c in CODES if c.startswith("SIP-")} - {"SIP-E011"}
    assert expected <= covered, f"no bad-input fixture for {sorted(expected - covered)}"


@pytest.mark.parametrize("name", sorted(n for n in BUILDERS if "_e" in n[:5]))
def test_bad_sip_is_rejected_with_its_code(
    name: str, oais: Oais, tmp_path: Path, unchanged: Callable[[Path], None]
) -> None:
    (tmp_path / "sips").mkdir()
    sip = BUILDERS[name](tmp_path / "sips")
    unchanged(sip)
    run = oais.ingest(sip)
    assert run.code == 1, run.stdout + run.stderr
    result = run.json
    assert result["accepted"] is False
    code = _code(name)
    hits = [i for i in result["issues"] if i["code"] == code]
    assert hits, f"{code} not among {result['issues']}"
    for hit in hits:
        assert hit["message"].strip()
        # The issue names what is wrong: a path inside the SIP, or the SIP itself.
        assert hit["path"]
    assert oais.published() == []
    assert oais.staging_left() == []
    recorded = oais("rejections", "--json").json["rejections"]
    assert [i["code"] for i in recorded[-1]["issues"]] == [i["code"] for i in result["issues"]]


@pytest.mark.parametrize("name", sorted(n for n in BUILDERS if "_w" in n[:5]))
def test_warned_sip_is_accepted_with_its_warning(name: str, oais: Oais, tmp_path: Path) -> None:
    (tmp_path / "sips").mkdir()
    sip = BUILDERS[name](tmp_path / "sips")
    run = oais.ingest(sip)
    assert run.code == 0, run.stdout + run.stderr
    assert _code(name) in {w["code"] for w in run.json["warnings"]}
    assert len(oais.published()) == 1
