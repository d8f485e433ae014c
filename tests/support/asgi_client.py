"""A synchronous HTTP client for an ASGI application, in process: httpx over its ASGI transport, on
an event loop in a background thread (as a test client does), with the application's lifespan run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI

BASE_URL = "http://testserver"


class AsgiClient:
    """``client.get(...)``, ``client.post(...)``: every call runs on the portal's event loop."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self._portal = portal
        self._client = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._portal.call(lambda: self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@contextmanager
def asgi_client(app: FastAPI) -> Iterator[AsgiClient]:
    """A client of ``app``; the application starts up before and shuts down after."""
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        with portal.wrap_async_context_manager(app.router.lifespan_context(app)):
            try:
                yield AsgiClient(portal, client)
            finally:
                portal.call(client.aclose)
