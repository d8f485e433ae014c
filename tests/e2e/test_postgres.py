"""The command line on a PostgreSQL catalog, as in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Oais


@pytest.mark.postgres
def test_ingest_show_and_rejections_on_postgresql(
    oais: Oais, sample_sip: Path, tmp_path: Path, fresh_postgres_url: str
) -> None:
    oais.env["OAIS_DATABASE_URL"] = fresh_postgres_url
    run = oais.ingest(sample_sip)
    assert run.code == 0, run.stderr
    aip_id = run.json["aip_id"]
    assert not (oais.home / "catalog.sqlite").exists()  # the catalog is PostgreSQL, not the default
    shown = oais("show", aip_id, "--json").json
    assert len(shown["files"]) == 8 and len(shown["events"]) == 5
    assert oais.ingest(sample_sip).json["status"] == "already-held"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert oais.ingest(empty).code == 1
    [rejection] = oais("rejections", "--json").json["rejections"]
    assert rejection["issues"][0]["code"] == "SIP-E007"
