"""Fixtures shared by every test package: the real PostgreSQL and Redis on loopback.

Tests that need a server ask for ``postgres_url`` or ``redis_url``. When the server is not
there, the test is skipped with the reason on a developer's machine, and fails under CI
(``CI=true``): CI runs on a machine where both servers are started before the session, so a
missing server there is a broken environment, never a reason to pass.

Under pytest-xdist (``make test`` runs ``-n 3 --dist loadgroup``) the session is split so that
the load runs that measure latency never share the machine's cores with another load run:
every ``slow`` test (real service, real Locust) goes to one group and so runs on one worker,
one at a time. The slow tests that judge only counts, failures and the pipeline form a second
group (``BESIDE_GROUP``), one at a time on another worker; the in-process tests fill the
workers left. Each other module is a group of its own, so its module-scoped fixtures are built
once. Each worker has its own Redis database (``redis_url``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
#: The xdist group of every test marked ``slow``: they run one after another on one worker.
PROCESSES_GROUP = "processes"
#: The slow tests that may run beside that group (they judge counts, failures and the
#: pipeline, never latency): one group too, so that at most two load runs share the cores
#: while the third worker runs in-process tests.
BESIDE_GROUP = "beside-the-processes"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (its own hook of this name)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--dist loadgroup``: the ``slow`` tests in one group, every other module in its
    own (module docstring), unless a module names its own group (slow tests that may run beside
    the others). Without xdist this changes nothing."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        slow = item.get_closest_marker("slow") is not None
        group = PROCESSES_GROUP if slow else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


def redis_database() -> int:
    """The Redis database the tests use: the one ``TEST_REDIS_URL`` names (9 by default), plus
    n on xdist worker ``gwN``, so that one worker's flush never empties a database another
    worker's test is using. Two checkouts tested at once give each its own base."""
    base = int(REDIS_URL.rsplit("/", 1)[1] or 0) if REDIS_URL.count("/") >= 3 else 0
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return base + int(worker.removeprefix("gw") or 0)


def server_address(url: str, default_port: int) -> tuple[str, int]:
    """The host and port a database or cache URL points at (loopback by default)."""
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or default_port


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, url: str, default_port: int) -> None:
    """Skip (or, under CI, fail) when the server ``url`` names is not listening."""
    host, port = server_address(url, default_port)
    if _port_open(host, port):
        return
    message = (
        f"{name} is not reachable on {host}:{port}. Start it (see README, 'Services') "
        "or point TEST_POSTGRES_URL / TEST_REDIS_URL at one."
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
    require_server("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
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
    """The loopback Redis, on a database number (:func:`redis_database`) flushed before and
    after the test."""
    require_server("Redis", REDIS_URL, 6379)
    import redis

    url = REDIS_URL.rsplit("/", 1)[0] + f"/{redis_database()}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
