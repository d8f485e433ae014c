"""Which command lines start the fork server before the command line module is imported."""

from __future__ import annotations

import pytest

from oais.entrypoints.launch import pools_locally


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["audit", "run"], True),
        (["audit", "run", "--all", "--workers", "2"], True),
        (["audit", "run", "--executor", "process:4"], True),
        (["audit", "run", "--executor=process"], True),
        (["daemon", "--name", "night"], True),
        (["audit", "run", "--executor", "dask://scheduler:8786"], False),
        (["daemon", "--executor=tcp://scheduler:8786"], False),
        (["audit", "run", "--help"], False),
        (["audit", "status"], False),
        (["ingest", "sip/"], False),
        ([], False),
    ],
)
def test_only_commands_that_hash_in_a_local_pool_start_the_fork_server_early(
    args: list[str], expected: bool
) -> None:
    assert pools_locally(args) is expected
