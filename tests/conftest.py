"""Fixtures shared by every test package: the real PostgreSQL and Redis on loopback.

Tests that need a server ask for ``postgres_url`` or ``redis_url``. When the server is not
there, the test is skipped with the reason on a developer's machine, and fails under CI
(``CI=true``): CI runs on a machine where both servers are started before the session, so a
missing server there is a broken environment, never a reason to pass.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when a server the test needs is not listening."""
    if _port_open(host, port):
        return
    message = (
        f"{name} is not reachable on {host}:{port}. Start it (see README, 'Services') "
        "or set the TEST_*_URL variable."
    )
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} Under CI a missing {name} is a failure, not a skip.")
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards.

    Yields a SQLAlchemy URL (``postgresql+psycopg://``) whose ``search_path`` is the new schema,
    so tests never see each other's tables.
    """
    require_server("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The loopback Redis, on a database number flushed before and after the test."""
    require_server("Redis", "127.0.0.1", 6379)
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
