"""The served OpenAPI document, checked by schemathesis: requests generated from it (valid ones and
invalid ones), with an admin token and with none, never get a server error (5xx), and without a
token every one but /health is refused with 401.

A bounded number of examples per operation and mode, so that the run takes well under a minute.
(Schemathesis' ``from_fixture`` does not run under pytest 9; each operation's strategy is run with
Hypothesis here instead, one test per operation, mode and principal.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from oais.bootstrap import build, token_store
from oais.config import load_settings
from oais.domain.access_control import Role
from oais.entrypoints.http import SIP_MEDIA_TYPES, create_app
from tests.integration.test_catalog_contract import reset_postgres
from tests.integration.test_http_api import ZIP, zipped
from tests.support.asgi_client import asgi_client

EXAMPLES = 30

# A SIP is sent as raw bytes: the archive media types are serialised as application/octet-stream is.
schemathesis.serializer.alias(list(SIP_MEDIA_TYPES), "application/octet-stream")

#: Every operation of the API (a test below checks the served document lists exactly these).
OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/aips"),
    ("GET", "/aips/{aip_id}"),
    ("GET", "/aips/{aip_id}/events"),
    ("POST", "/sips"),
    ("POST", "/aips/{aip_id}/dips"),
    ("GET", "/dips/{dip_id}"),
    ("POST", "/aips/{aip_id}/deaccession"),
    ("POST", "/deaccessions/{request_id}/approve"),
    ("POST", "/deaccessions/{request_id}/reject"),
    ("GET", "/deaccessions"),
    ("GET", "/deaccessions/{request_id}"),
]


@dataclass(frozen=True)
class Served:
    app: FastAPI
    schema: schemathesis.BaseSchema
    admin: str


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API over a private archive holding one AIP (its catalog on SQLite, then on PostgreSQL),
    its OpenAPI document, and an admin token."""
    home = tmp_path_factory.mktemp("openapi") / "home"
    environ = {"OAIS_HOME": str(home), "OAIS_WORKERS": "2"}
    if request.param == "postgres":
        environ["OAIS_DATABASE_URL"] = reset_postgres(request.getfixturevalue("postgres_url"))
    config = load_settings(environ)
    services = build(config)
    store = token_store(config)
    try:
        admin = store.add("admin", Role.ADMIN).secret
        app = create_app(services)
        with asgi_client(app) as client:
            made = client.post(
                "/sips?title=One AIP&producer=IAS",
                content=zipped({"a.txt": b"a\n"}),
                headers={**ZIP, "Authorization": f"Bearer {admin}"},
            )
            assert made.status_code == 201, made.text
        yield Served(app, schemathesis.openapi.from_asgi("/openapi.json", app), admin)
    finally:
        store.dispose()
        services.close()


def test_the_document_lists_every_operation(served: Served) -> None:
    listed = [
        (operation.ok().method.upper(), operation.ok().path)
        for operation in served.schema.get_all_operations()
    ]
    assert sorted(listed) == sorted(OPERATIONS)


@pytest.mark.parametrize("who", ["admin", "no token"])
@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [
        (method, path, mode)
        for method, path in OPERATIONS
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if path != "/health" or mode is GenerationMode.POSITIVE  # no input there to make invalid
    ],
)
def test_no_server_error(served: Served, method: str, path: str, who: str, mode: GenerationMode) -> None:
    operation = served.schema[path][method]
    headers = {"Authorization": f"Bearer {served.admin}"} if who == "admin" else {}

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def requests(case: schemathesis.Case) -> None:
        if case.headers:
            case.headers.pop("Authorization", None)
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        statuses.add(response.status_code)
        if who == "no token" and path != "/health":
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"][0].startswith("Bearer")

    statuses: set[int] = set()
    requests()
    if who == "admin":
        # The requests went through the door: they were answered by the operation itself.
        assert statuses - {401, 403}, statuses
