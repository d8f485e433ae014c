"""The HTTP API on a real archive (SQLite catalog, local storage, real ingest of SIPs made here):
each role may do exactly what it should, a refused write changes nothing, searches find what they
should, SIPs are accepted or refused with their codes, DIPs are made and downloaded as valid bags."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import bagit
import httpx
import pytest
from fastapi import FastAPI

from oais.adapters.catalog.tokens import SqlTokenStore
from oais.bootstrap import Services, build, token_store
from oais.config import load_settings
from oais.domain.access_control import PERMISSIONS, Action, Role, Scope
from oais.domain.descriptive import DescriptiveMetadata
from oais.entrypoints.http import create_app
from tests.support.asgi_client import AsgiClient, asgi_client
from tests.support.fits_files import primary_image
from tests.support.sip_fixtures import sip_e001_zip_slip

IAS = "IAS / OMEGA team"
LESIA = "LESIA radio"
DOI = "10.5072/lesia-jupiter-2024"
ZIP = {"Content-Type": "application/zip"}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def b64(metadata: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(metadata).encode()).decode()


@dataclass
class Archive:
    """A running API over a private archive, its tokens and the AIPs and DIPs made at the start."""

    services: Services
    store: SqlTokenStore
    app: FastAPI
    client: AsgiClient
    secrets: dict[str, str]
    aips: dict[str, str] = field(default_factory=dict)
    dips: dict[str, str] = field(default_factory=dict)
    made: int = 0

    @property
    def spool(self) -> Path:
        return self.services.settings.home / "dips"

    def auth(self, who: str) -> dict[str, str]:
        """The headers of principal ``who`` (none, wrong, revoked, producer, other, auditor, admin)."""
        if who == "none":
            return {}
        if who == "wrong":
            return {"Authorization": "Bearer oais_" + "x" * 43}
        return {"Authorization": f"Bearer {self.secrets[who]}"}

    def new_sip(self) -> bytes:
        """A SIP whose content no other SIP of this module has (so that it makes a new AIP)."""
        self.made += 1
        return zipped({"readme.txt": f"SIP number {self.made}\n".encode(), "cube.fits": primary_image()})

    def state(self) -> dict[str, Any]:
        """What a write would change: AIPs, versions, rejections, events per AIP, DIP files, staging."""
        with self.services.catalog() as uow:
            listed = uow.aips.list()
            events = {aip.aip_id: len(uow.aips.get(aip.aip_id).events) for aip, _ in listed}  # type: ignore[union-attr]
            rejections = len(uow.aips.rejections())
        staging = self.services.settings.staging
        return {
            "aips": [(aip.aip_id, aip.producer, newest) for aip, newest in listed],
            "events": events,
            "rejections": rejections,
            "dips": sorted(p.name for p in self.spool.iterdir()) if self.spool.exists() else [],
            "staging": sorted(p.name for p in staging.iterdir()) if staging.exists() else [],
        }


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    home = tmp_path_factory.mktemp("http-api") / "home"
    settings = load_settings({"OAIS_HOME": str(home), "OAIS_WORKERS": "2"})
    services = build(settings)
    store = token_store(settings)
    secrets = {
        "producer": store.add("ias pipeline", Role.PRODUCER, IAS).secret,
        "other": store.add("lesia pipeline", Role.PRODUCER, LESIA).secret,
        "auditor": store.add("auditor", Role.AUDITOR).secret,
        "admin": store.add("admin", Role.ADMIN).secret,
        "revoked": store.add("former admin", Role.ADMIN).secret,
    }
    store.revoke("former admin")
    try:
        app = create_app(services)
        with asgi_client(app) as client:
            api = Archive(services=services, store=store, app=app, client=client, secrets=secrets)
            own = client.post(
                "/sips?title=OMEGA cubes, orbit 0042",
                content=api.new_sip(),
                headers={**ZIP, **api.auth("producer")},
            )
            assert own.status_code == 201, own.text
            other = client.post(
                "/sips",
                content=zipped({"jupiter.txt": b"decametric emission\n"}),
                headers={
                    **ZIP,
                    **api.auth("other"),
                    "X-Oais-Metadata": b64(
                        {
                            "title": "Émission décamétrique de Jupiter",
                            "identifiers": [{"type": "DOI", "value": DOI}],
                        }
                    ),
                },
            )
            assert other.status_code == 201, other.text
            embargoed = client.post(
                "/sips",
                content=zipped({"secret.txt": b"not yet\n"}),
                headers={
                    **ZIP,
                    **api.auth("producer"),
                    "X-Oais-Metadata": b64(
                        {
                            "title": "Embargoed OMEGA darks",
                            "access": {
                                "status": "embargoed",
                                "embargo_until": "2999-01-01",
                                "note": "PI period",
                            },
                        }
                    ),
                },
            )
            assert embargoed.status_code == 201, embargoed.text
            api.aips = {
                "own": own.json()["aip_id"],
                "other's": other.json()["aip_id"],
                "embargoed": embargoed.json()["aip_id"],
            }
            for who, aip in (("admin", "other's"), ("producer", "own")):
                made = client.post(
                    f"/aips/{api.aips[aip]}/dips", json={"purpose": "original"}, headers=api.auth(who)
                )
                assert made.status_code == 201, made.text
                api.dips[who] = made.json()["dip_id"]
            yield api
    finally:
        store.dispose()
        services.close()


# --- The role matrix ---------------------------------------------------------------------------

PRINCIPALS = ("none", "wrong", "revoked", "producer", "auditor", "admin")
REFUSED = {"none": 401, "wrong": 401, "revoked": 401}


@dataclass(frozen=True)
class Case:
    """One request, and the status each principal gets."""

    method: str
    path: str  # {own}, {other's}, {embargoed}: AIP ids; {admin's dip}, {producer's dip}: DIP ids
    statuses: dict[str, int]
    body: str | None = None  # "sip", "dip", "override", "dip of embargoed"
    query: str = ""

    @property
    def writes(self) -> bool:
        return self.method == "POST"


CASES = {
    "search": Case("GET", "/aips", {"producer": 200, "auditor": 200, "admin": 200}),
    "read own AIP": Case("GET", "/aips/{own}", {"producer": 200, "auditor": 200, "admin": 200}),
    "read another producer's AIP": Case(
        "GET", "/aips/{other's}", {"producer": 404, "auditor": 200, "admin": 200}
    ),
    "read a missing AIP": Case("GET", "/aips/no-such-aip", {"producer": 404, "auditor": 404, "admin": 404}),
    "events of own AIP": Case("GET", "/aips/{own}/events", {"producer": 200, "auditor": 200, "admin": 200}),
    "events of another producer's AIP": Case(
        "GET", "/aips/{other's}/events", {"producer": 404, "auditor": 200, "admin": 200}
    ),
    "submit a SIP": Case("POST", "/sips", {"producer": 201, "auditor": 403, "admin": 201}, body="sip"),
    "submit for another producer": Case(
        "POST",
        "/sips",
        {"producer": 403, "auditor": 403, "admin": 201},
        body="sip",
        query=f"producer={LESIA}",
    ),
    "request a DIP of own AIP": Case(
        "POST", "/aips/{own}/dips", {"producer": 201, "auditor": 201, "admin": 201}, body="dip"
    ),
    "request a DIP of another producer's AIP": Case(
        "POST", "/aips/{other's}/dips", {"producer": 404, "auditor": 201, "admin": 201}, body="dip"
    ),
    "request a DIP of embargoed content": Case(
        "POST", "/aips/{embargoed}/dips", {"producer": 403, "auditor": 403, "admin": 403}, body="dip"
    ),
    "override an embargo": Case(
        "POST", "/aips/{embargoed}/dips", {"producer": 403, "auditor": 403, "admin": 201}, body="override"
    ),
    "download a DIP the admin requested": Case(
        "GET", "/dips/{admin's dip}", {"producer": 404, "auditor": 200, "admin": 200}
    ),
    "download the producer's own DIP": Case(
        "GET", "/dips/{producer's dip}", {"producer": 200, "auditor": 200, "admin": 200}
    ),
    "download a missing DIP": Case(
        "GET", "/dips/urn:uuid:nothing", {"producer": 404, "auditor": 404, "admin": 404}
    ),
    # Deaccession: requests and decisions are the admins' (the workflow is in tests/e2e), reading
    # them the auditors' too; a producer is told nothing.
    "ask for the deaccession of a missing AIP": Case(
        "POST",
        "/aips/no-such-aip/deaccession",
        {"producer": 403, "auditor": 403, "admin": 404},
        body="reason",
    ),
    "approve a missing deaccession request": Case(
        "POST", "/deaccessions/dea-000000000000/approve", {"producer": 403, "auditor": 403, "admin": 404}
    ),
    "reject a missing deaccession request": Case(
        "POST",
        "/deaccessions/dea-000000000000/reject",
        {"producer": 403, "auditor": 403, "admin": 404},
        body="note",
    ),
    "list deaccession requests": Case(
        "GET", "/deaccessions", {"producer": 403, "auditor": 200, "admin": 200}
    ),
    "read a missing deaccession request": Case(
        "GET", "/deaccessions/dea-000000000000", {"producer": 403, "auditor": 404, "admin": 404}
    ),
}


def _send(api: Archive, case: Case, who: str) -> httpx.Response:
    path = case.path.format(
        **{name: api.aips[name] for name in ("own", "other's", "embargoed")},
        **{"admin's dip": api.dips["admin"], "producer's dip": api.dips["producer"]},
    )
    query = case.query
    if case.body == "sip":
        if who == "admin" and not query:
            query = f"producer={IAS}"
        return api.client.post(
            f"{path}?title=From the matrix&{query}", content=api.new_sip(), headers={**ZIP, **api.auth(who)}
        )
    if case.body in ("reason", "note"):
        return api.client.post(path, json={case.body: "from the matrix"}, headers=api.auth(who))
    if case.body is not None:
        order: dict[str, Any] = {"purpose": "original"}
        if case.body == "override":
            order["override_reason"] = "the PI asked for a copy"
        return api.client.post(path, json=order, headers=api.auth(who))
    return api.client.request(case.method, path + (f"?{query}" if query else ""), headers=api.auth(who))


@pytest.mark.parametrize("who", PRINCIPALS)
@pytest.mark.parametrize("name", list(CASES))
def test_each_role_may_do_exactly_what_it_should(archive: Archive, name: str, who: str) -> None:
    case = CASES[name]
    expected = REFUSED.get(who) or case.statuses[who]
    before = archive.state()

    response = _send(archive, case, who)

    assert response.status_code == expected, response.text
    after = archive.state()
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if expected >= 400 or not case.writes:
        assert after == before  # nothing written: no AIP, no rejection, no event, no DIP file
        return
    if case.body == "sip":
        aip_id = response.json()["aip_id"]
        new = [a for a in after["aips"] if a not in before["aips"]]
        producer = LESIA if case.query else IAS
        assert new == [(aip_id, producer, 1)]
    else:
        assert len(after["dips"]) == len(before["dips"]) + 2  # the zip and what the spool knows of it
        aip_id = response.json()["aip_id"]
        assert after["events"][aip_id] == before["events"][aip_id] + 1  # the dissemination event


def test_the_matrix_tested_is_the_permission_matrix() -> None:
    """The statuses above follow from :data:`PERMISSIONS` (so a change there must change them)."""
    assert PERMISSIONS[Role.PRODUCER][Action.SEARCH] is Scope.OWN
    assert {r: PERMISSIONS[r][Action.SUBMIT] for r in Role} == {
        Role.PRODUCER: Scope.OWN,
        Role.AUDITOR: Scope.NONE,
        Role.ADMIN: Scope.ALL,
    }
    assert {r: PERMISSIONS[r][Action.OVERRIDE] for r in Role} == {
        Role.PRODUCER: Scope.NONE,
        Role.AUDITOR: Scope.NONE,
        Role.ADMIN: Scope.ALL,
    }
    for action in (Action.REQUEST_DEACCESSION, Action.DECIDE_DEACCESSION):
        assert {r: PERMISSIONS[r][action] for r in Role} == {
            Role.PRODUCER: Scope.NONE,
            Role.AUDITOR: Scope.NONE,
            Role.ADMIN: Scope.ALL,
        }
    assert {r: PERMISSIONS[r][Action.READ_DEACCESSIONS] for r in Role} == {
        Role.PRODUCER: Scope.NONE,
        Role.AUDITOR: Scope.ALL,
        Role.ADMIN: Scope.ALL,
    }
    assert {r: PERMISSIONS[r][Action.DOWNLOAD_DIP] for r in Role} == {
        Role.PRODUCER: Scope.OWN,
        Role.AUDITOR: Scope.ALL,
        Role.ADMIN: Scope.ALL,
    }


def test_only_the_public_paths_answer_without_a_token(archive: Archive) -> None:
    assert archive.client.get("/health").json() == {"status": "ok"}
    schema = archive.client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert archive.client.get("/docs").status_code == 200
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            guarded = path != "/health"
            assert bool(operation.get("security")) == guarded, f"{method.upper()} {path}"
    # A token sent another way than as a bearer token is no token.
    basic = archive.client.get("/aips", headers={"Authorization": f"Basic {archive.secrets['admin']}"})
    assert basic.status_code == 401
    assert archive.client.get("/aips", headers={"Authorization": "Bearer"}).status_code == 401
    # Without a token nothing else is told: not whether a path exists, nor what is wrong with a body.
    assert archive.client.get("/no/such/path").status_code == 401
    assert archive.client.get("/no/such/path", headers=archive.auth("auditor")).status_code == 404
    broken = archive.client.post(
        f"/aips/{archive.aips['own']}/dips",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert broken.status_code == 401


def test_every_request_is_in_the_access_log_failures_included(archive: Archive) -> None:
    started = datetime.now(UTC)
    theirs = archive.aips["other's"]
    archive.client.get("/aips", headers=archive.auth("wrong"))
    archive.client.get("/aips", headers=archive.auth("revoked"))
    archive.client.get(f"/aips/{theirs}", headers=archive.auth("producer"))
    archive.client.get("/health")

    logged = [(e.token, e.method, e.path, e.status) for e in archive.store.access_log(since=started)]

    assert logged == [
        (None, "GET", "/aips", 401),
        (None, "GET", "/aips", 401),
        ("ias pipeline", "GET", f"/aips/{theirs}", 404),
    ]


# --- Search --------------------------------------------------------------------------------------


def _found(api: Archive, who: str, **criteria: str) -> list[str]:
    response = api.client.get("/aips", params=criteria, headers=api.auth(who))
    assert response.status_code == 200, response.text
    return [r["aip_id"] for r in response.json()["results"]]


def test_search_by_each_criterion(archive: Archive) -> None:
    own, other, embargoed = (archive.aips[k] for k in ("own", "other's", "embargoed"))
    fits = archive.client.get(f"/aips/{own}", headers=archive.auth("admin")).json()
    puid = next(f["format"]["puid"] for f in fits["files"] if f["path"] == "cube.fits")
    assert puid is not None

    assert _found(archive, "auditor", title="orbit 0042") == [own]
    assert _found(archive, "auditor", title="ÉMISSION DÉCAMÉTRIQUE") == [other]
    assert _found(archive, "auditor", producer="lesia", title="jupiter") == [other]
    assert _found(archive, "auditor", producer_exact=IAS, title="embargoed") == [embargoed]
    assert _found(archive, "auditor", identifier=DOI) == [other]
    assert _found(archive, "auditor", identifier=own) == [own]
    assert own in _found(archive, "auditor", format=puid)
    assert other not in _found(archive, "auditor", format=puid)
    created = fits["created"]
    assert _found(archive, "auditor", created_from=created, created_to=created) == [own]
    assert _found(archive, "auditor", created_to="2000-01-01") == []
    assert _found(archive, "auditor", created_to="2000-01-01T00:00:00") == []  # no zone: UTC
    page = archive.client.get("/aips?limit=1&offset=1", headers=archive.auth("auditor")).json()
    assert page["limit"] == 1 and page["offset"] == 1 and page["total"] >= 3
    assert [r["aip_id"] for r in page["results"]] == [other]
    shown = archive.client.get(f"/aips?identifier={embargoed}", headers=archive.auth("admin")).json()[
        "results"
    ]
    assert [(r["access"], r["embargo_until"]) for r in shown] == [("embargoed", "2999-01-01")]
    # Bad criteria are refused, not ignored.
    for bad in ("limit=0", "limit=100000", "offset=-1", "created_from=yesterday"):
        assert archive.client.get(f"/aips?{bad}", headers=archive.auth("auditor")).status_code == 422, bad


def test_a_producer_sees_only_its_own_aips(archive: Archive) -> None:
    mine = _found(archive, "producer")
    everyone = _found(archive, "admin")
    assert archive.aips["own"] in mine and archive.aips["embargoed"] in mine
    assert archive.aips["other's"] not in mine
    assert set(mine) < set(everyone)
    assert _found(archive, "producer", identifier=DOI) == []
    assert _found(archive, "producer", producer_exact=LESIA) == []
    for who, producer in (("producer", IAS), ("other", LESIA)):
        page = archive.client.get("/aips?limit=500", headers=archive.auth(who)).json()
        assert {r["producer"] for r in page["results"]} == {producer}
        assert page["total"] == len(page["results"])
    assert archive.aips["other's"] in _found(archive, "other")


# --- AIP metadata and events ---------------------------------------------------------------------


def test_aip_metadata_and_events(archive: Archive) -> None:
    other = archive.aips["other's"]
    shown = archive.client.get(f"/aips/{other}", headers=archive.auth("auditor")).json()
    assert (shown["title"], shown["producer"], shown["version"], shown["versions"]) == (
        "Émission décamétrique de Jupiter",
        LESIA,
        1,
        [1],
    )
    assert [(f["path"], f["size"]) for f in shown["files"]] == [("jupiter.txt", 20)]
    assert len(shown["files"][0]["sha256"]) == 64
    assert [c["location"] for c in shown["copies"]] == ["local"]
    assert shown["access"] == "open"
    assert DescriptiveMetadata.model_validate(shown["metadata"]).doi == DOI
    assert archive.client.get(f"/aips/{other}?version=2", headers=archive.auth("auditor")).status_code == 404

    events = archive.client.get(f"/aips/{other}/events", headers=archive.auth("auditor")).json()
    types = [e["type"] for e in events["events"]]
    assert types[0] == "ingestion" and "dissemination" in types  # the admin's DIP made at the start
    dissemination = next(e for e in events["events"] if e["type"] == "dissemination")
    assert dissemination["outcome"] == "success"
    assert any(a["name"] == "oais" and a["type"] == "software" for a in dissemination["agents"])


# --- Submission ----------------------------------------------------------------------------------


def test_a_producer_submits_under_its_own_name(archive: Archive) -> None:
    sip = archive.new_sip()
    first = archive.client.post("/sips?title=Mine", content=sip, headers={**ZIP, **archive.auth("producer")})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "stored" and body["version"] == 1 and body["files"] == 2
    shown = archive.client.get(f"/aips/{body['aip_id']}", headers=archive.auth("producer")).json()
    assert shown["producer"] == IAS

    again = archive.client.post("/sips?title=Mine", content=sip, headers={**ZIP, **archive.auth("producer")})
    assert again.status_code == 200
    assert again.json()["status"] == "already-held" and again.json()["aip_id"] == body["aip_id"]

    # The same content from another producer: nothing stored, and the AIP is not named.
    before = archive.state()
    theirs = archive.client.post("/sips?title=Copy", content=sip, headers={**ZIP, **archive.auth("other")})
    assert theirs.status_code == 409
    assert body["aip_id"] not in theirs.text
    assert archive.state() == before


def test_a_bad_sip_is_refused_with_every_coded_problem(archive: Archive, tmp_path: Path) -> None:
    bad = sip_e001_zip_slip(tmp_path).read_bytes()
    before = archive.state()

    refused = archive.client.post(
        "/sips?title=Escape", content=bad, headers={**ZIP, **archive.auth("producer")}
    )

    assert refused.status_code == 422
    issues = refused.json()["issues"]
    assert {i["code"] for i in issues} == {"SIP-E001"}
    assert {i["severity"] for i in issues} == {"error"}
    assert {"../../evil", "/etc/passwd"} <= {i["path"] for i in issues}
    assert str(archive.services.settings.home) not in refused.text  # no server path is shown
    after = archive.state()
    assert after["rejections"] == before["rejections"] + 1  # recorded in the catalog
    assert {k: v for k, v in after.items() if k != "rejections"} == {
        k: v for k, v in before.items() if k != "rejections"
    }


@pytest.mark.parametrize(
    ("headers", "query", "status", "detail"),
    [
        ({"Content-Type": "text/plain"}, "title=x", 415, "a SIP is sent as one of application/zip"),
        ({}, "title=x", 415, "not no type"),
        (
            {**ZIP, "X-Oais-Metadata": "not base64!"},
            "",
            422,
            "X-Oais-Metadata is not valid descriptive metadata",
        ),
        ({**ZIP, "X-Oais-Metadata": b64({"title": ""})}, "", 422, "X-Oais-Metadata is not valid"),
        ({**ZIP, "X-Oais-Metadata": b64({"title": "t", "colour": "red"})}, "", 422, "colour"),
    ],
)
def test_a_badly_sent_sip_is_refused_before_anything_is_read(
    archive: Archive, headers: dict[str, str], query: str, status: int, detail: str
) -> None:
    before = archive.state()
    refused = archive.client.post(
        f"/sips?{query}", content=archive.new_sip(), headers={**headers, **archive.auth("producer")}
    )
    assert refused.status_code == status, refused.text
    assert detail in refused.json()["detail"]
    assert archive.state() == before


def test_a_body_that_is_no_archive_is_refused_as_the_request_body(archive: Archive) -> None:
    refused = archive.client.post(
        "/sips?title=x", content=b"not a zip at all", headers={**ZIP, **archive.auth("producer")}
    )
    assert refused.status_code == 422
    (issue,) = refused.json()["issues"]
    assert (issue["code"], issue["path"], issue["severity"]) == ("SIP-E008", "request body", "error")
    assert issue["message"].startswith("request body: corrupt zip archive")


def test_a_sip_cut_short_by_the_client_is_dropped(archive: Archive) -> None:
    sip = archive.new_sip()
    messages = [
        {"type": "http.request", "body": sip[:100], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = {**ZIP, **archive.auth("producer")}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/sips",
        "raw_path": b"/sips",
        "root_path": "",
        "query_string": b"title=cut",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    before = archive.state()

    anyio.run(archive.app, scope, receive, send)

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert json.loads(sent[1]["body"]) == {"detail": "the SIP was not received whole"}
    assert archive.state() == before  # nothing ingested, nothing left in the staging area


def test_an_admin_names_the_producer(archive: Archive) -> None:
    refused = archive.client.post(
        "/sips?title=x", content=archive.new_sip(), headers={**ZIP, **archive.auth("admin")}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == "producer is needed (?producer=...) with this token"


# --- DIPs ------------------------------------------------------------------------------------------


def test_a_dip_is_requested_downloaded_and_is_a_valid_bag(archive: Archive, tmp_path: Path) -> None:
    own = archive.aips["own"]
    made = archive.client.post(
        f"/aips/{own}/dips", json={"purpose": "original", "files": "*.fits"}, headers=archive.auth("producer")
    )
    assert made.status_code == 201, made.text
    dip = made.json()
    assert (dip["aip_id"], dip["version"], dip["files"]) == (own, 1, 1)
    assert dip["download_url"].endswith(f"/dips/{dip['dip_id']}")

    downloaded = archive.client.get(dip["download_url"], headers=archive.auth("producer"))

    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/zip"
    assert f'filename="dip-{own}-v1.zip"' in downloaded.headers["content-disposition"]
    dip_zip = tmp_path / "dip.zip"
    dip_zip.write_bytes(downloaded.content)
    with zipfile.ZipFile(dip_zip) as opened:
        opened.extractall(tmp_path / "dip")
    (bag_dir,) = (p.parent for p in (tmp_path / "dip").rglob("bagit.txt"))
    bag = bagit.Bag(str(bag_dir))
    assert bag.is_valid()
    assert sorted(bag.payload_files()) == ["data/cube.fits"]
    assert (bag_dir / "data" / "cube.fits").read_bytes() == primary_image()
    assert archive.services.bag_validator.validate(dip_zip) == []


def test_an_override_is_an_admins_and_is_recorded(archive: Archive) -> None:
    embargoed = archive.aips["embargoed"]
    refused = archive.client.post(f"/aips/{embargoed}/dips", json={}, headers=archive.auth("auditor"))
    assert refused.status_code == 403
    assert "under embargo until 2999-01-01" in refused.json()["detail"]

    made = archive.client.post(
        f"/aips/{embargoed}/dips", json={"override_reason": "court order 42"}, headers=archive.auth("admin")
    )

    assert made.status_code == 201, made.text
    events = archive.client.get(f"/aips/{embargoed}/events", headers=archive.auth("admin")).json()["events"]
    dissemination = [e for e in events if e["type"] == "dissemination"][-1]
    assert "court order 42" in json.dumps(dissemination)
    assert "admin" in json.dumps(dissemination)


@pytest.mark.parametrize(
    ("order", "status"),
    [
        ({"version": 0}, 422),
        ({"purpose": "everything"}, 422),
        ({"portal": "nowhere"}, 422),
        ({"colour": "red"}, 422),
        ({"override_reason": ""}, 422),
        ({"version": 9}, 404),
        ({"files": "no/such/*.file"}, 404),
    ],
)
def test_a_bad_dip_request_writes_nothing(archive: Archive, order: dict[str, Any], status: int) -> None:
    before = archive.state()
    response = archive.client.post(
        f"/aips/{archive.aips['own']}/dips", json=order, headers=archive.auth("admin")
    )
    assert response.status_code == status, response.text
    assert archive.state() == before


def test_a_dip_removed_from_the_spool_is_gone(archive: Archive) -> None:
    made = archive.client.post(
        f"/aips/{archive.aips['own']}/dips", json={}, headers=archive.auth("admin")
    ).json()
    # What the spool keeps beside each DIP names its file (an operator's clean-up removes both, or this).
    record = archive.spool / f"{hashlib.sha256(made['dip_id'].encode()).hexdigest()}.json"
    (archive.spool / json.loads(record.read_text())["file"]).unlink()
    gone = archive.client.get(made["download_url"], headers=archive.auth("admin"))
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"DIP {made['dip_id']} is no longer held"


def test_a_title_xml_cannot_hold_is_refused_with_its_reason_not_a_server_error(archive: Archive) -> None:
    before = archive.state()

    refused = archive.client.post(
        "/sips",
        params={"title": "orbit\x02\x00 0042"},
        content=archive.new_sip(),
        headers={**ZIP, **archive.auth("producer")},
    )

    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["issues"]
    assert problem["code"] == "SIP-E008"
    assert "U+0002, which XML 1.0 (PREMIS) cannot hold" in problem["message"]
    after = archive.state()
    assert after["rejections"] == before["rejections"] + 1
    assert {k: v for k, v in after.items() if k != "rejections"} == {
        k: v for k, v in before.items() if k != "rejections"
    }
