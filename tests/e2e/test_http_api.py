"""The HTTP API end to end: tokens made, listed and revoked with ``oais token``, the API served by
``oais serve`` on a real socket, used with a token, refused without one or after revocation, and
stopped by SIGTERM."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Oais


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_tokens_are_made_listed_and_revoked_from_the_command_line(oais: Oais) -> None:
    made = oais("token", "add", "ias pipeline", "--role", "producer", "--producer", "IAS", "--json")
    assert made.code == 0, made.stderr
    token = made.json["token"]
    assert token.startswith("oais_")
    assert (made.json["name"], made.json["role"], made.json["producer"], made.json["revoked"]) == (
        "ias pipeline",
        "producer",
        "IAS",
        None,
    )
    shown = oais("token", "add", "auditor", "--role", "auditor")
    assert shown.code == 0
    assert shown.stdout.startswith("TOKEN for 'auditor' (auditor):\noais_")
    assert "shown this once" in shown.stderr

    # Wrong combinations are usage errors; a name is never reused.
    assert oais("token", "add", "x", "--role", "producer").code == 2
    assert oais("token", "add", "x", "--role", "auditor", "--producer", "IAS").code == 2
    assert oais("token", "add", "x", "--role", "owner").code == 2
    again = oais("token", "add", "auditor", "--role", "admin")
    assert again.code == 4
    assert "a token named 'auditor' already exists" in again.stderr

    listed = oais("token", "list", "--json")
    assert [(t["name"], t["role"]) for t in listed.json["tokens"]] == [
        ("ias pipeline", "producer"),
        ("auditor", "auditor"),
    ]
    assert token not in listed.stdout
    assert oais("token", "revoke", "nobody").code == 3
    revoked = oais("token", "revoke", "ias pipeline", "--json")
    assert revoked.code == 0 and revoked.json["revoked"] is not None
    assert "REVOKED" in oais("token", "list").stdout


@pytest.fixture
def served(oais: Oais, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """``oais serve`` on a free port; its log is the third item. Stopped with SIGTERM at the end."""
    port = _free_port()
    log = tmp_path / "serve.log"
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
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"oais serve did not answer:\n{log.read_text()}"
            time.sleep(0.1)
        yield base, server, log
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_the_api_is_served_with_tokens_and_stops_on_sigterm(
    oais: Oais, served: tuple[str, subprocess.Popen[str], Path]
) -> None:
    base, server, log = served
    producer = oais("token", "add", "ias pipeline", "--role", "producer", "--producer", "IAS", "--json")
    token = producer.json["token"]
    auth = {"Authorization": f"Bearer {token}"}

    assert httpx.get(f"{base}/aips").status_code == 401
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "oais"
    submitted = httpx.post(
        f"{base}/sips?title=Served",
        content=_zip({"a.txt": b"served over HTTP\n"}),
        headers={**auth, "Content-Type": "application/zip"},
        timeout=120,
    )
    assert submitted.status_code == 201, submitted.text
    aip_id = submitted.json()["aip_id"]
    found = httpx.get(f"{base}/aips?title=served", headers=auth).json()
    assert [r["aip_id"] for r in found["results"]] == [aip_id]
    # The command line sees what the API stored.
    shown = oais("show", aip_id, "--json")
    assert shown.code == 0 and shown.json["aip"]["producer"] == "IAS"

    # Revocation takes effect at once, on a running server.
    assert oais("token", "revoke", "ias pipeline").code == 0
    refused = httpx.get(f"{base}/aips", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    os.kill(server.pid, signal.SIGTERM)
    code = server.wait(timeout=30)
    assert code in (0, -signal.SIGTERM)  # uvicorn stops cleanly, then exits on the signal it got
    text = log.read_text()
    assert "ias pipeline POST /sips -> 201" in text
    assert "- GET /aips -> 401" in text
    assert "Traceback" not in text
