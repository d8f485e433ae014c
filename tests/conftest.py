"""Shared fixtures.

PostgreSQL: tests marked ``postgres`` use the server on 127.0.0.1:5432, which CI always provides,
through the role in ``OAIS_TEST_POSTGRES_ADMIN_URL`` (set by ops/test.sh; by default user postgres with
trust authentication). If it cannot be reached they fail, so that a missing server is never mistaken
for a pass; set ``OAIS_TEST_POSTGRES=skip`` to skip them instead on a machine without one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> URL:
    return make_url(os.environ.get("OAIS_TEST_POSTGRES_ADMIN_URL") or DEFAULT_ADMIN_URL)


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    url = _admin_url()
    try:
        return psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is not reachable as {url.render_as_string(hide_password=True)} ({exc}). "
            "Start it (bash ops/postgres.sh), or set OAIS_TEST_POSTGRES=skip to skip the tests that need it."
        )
        if os.environ.get("OAIS_TEST_POSTGRES") == "skip":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)


def _fresh_database() -> Iterator[str]:
    name = f"oais_test_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _admin_url().set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped afterwards.

    Yields:
        Its SQLAlchemy URL (``postgresql+psycopg://...``).
    """
    yield from _fresh_database()


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    yield from _fresh_database()
