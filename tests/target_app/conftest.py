"""Fixtures for the service's tests: a seeded database on each backend, an app, a client.

``db_url`` is parametrized over SQLite (a file in ``tmp_path``) and the loopback PostgreSQL
(the shared ``postgres_url`` fixture: skipped locally, a failure under CI when it is down), so
every test that asks for it runs on both. The database is seeded with `SMALL_PLAN`, small
enough to seed in well under a second. Tokens are minted with the app's own signer
(``auth``), which skips the deliberately slow password hash; the login route itself is
tested in test_auth.py.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # starlette asks for the httpx2 package; plain httpx works and is what we have.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from target_app.core.config import Settings, load_settings
from target_app.core.security import Principal
from target_app.main import create_app
from target_app.seed import SeedPlan, seed_database
from tests.conftest import POSTGRES_ADMIN_URL, require_server
from tests.target_app.live import LiveServer, serve_in_thread

SECRET = "test-secret-key-0123456789abcdefghijklmnop"

SMALL_PLAN = SeedPlan(
    homeowners=30,
    contractors=20,
    operators=3,
    territories=4,
    jobs=24,
    bids_per_job=3,
    threads=24,
    messages_per_thread=4,
    seed=7,
)

Auth = Callable[[str, int], dict[str, str]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'marketplace.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A database seeded with `SMALL_PLAN`, on each backend."""
    seed_database(empty_db_url, SMALL_PLAN)
    return empty_db_url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One seeded database per module and backend, for modules whose tests only read.

    Such a module overrides ``db_url`` with this; seeding once instead of per test keeps the
    suite fast (a PostgreSQL schema costs about half a second to create and seed).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('shared') / 'marketplace.db'}"
        seed_database(url, SMALL_PLAN)
        yield url
        return
    require_server("PostgreSQL", POSTGRES_ADMIN_URL, 5432)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        seed_database(url, SMALL_PLAN)
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def make_settings(url: str, **overrides: object) -> Settings:
    """Test settings: a real secret, a small pool that fails fast."""
    values: dict[str, object] = {
        "database_url": url,
        "secret_key": SECRET,
        "db_pool_min": 2,
        "db_pool_max": 8,
        "db_pool_timeout_s": 2.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def app(db_url: str) -> FastAPI:
    """The service on the seeded database."""
    return create_app(make_settings(db_url))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An in-process client (lifespan run)."""
    with TestClient(app) as test_client:
        yield test_client


def account(role: str, n: int, plan: SeedPlan = SMALL_PLAN) -> Principal:
    """The principal of seeded account ``n`` of ``role``."""
    ids = {
        "homeowner": plan.homeowner_id,
        "contractor": plan.contractor_id,
        "operator": plan.operator_id,
    }
    tier = "pro" if role == "contractor" and n % 5 == 0 else "free"
    return Principal(ids[role](n), role, tier, plan.territory_of(n))


@pytest.fixture
def auth(app: FastAPI) -> Auth:
    """``auth("homeowner", 0)``: Authorization headers of seeded account 0 of that role."""

    def headers(role: str, n: int) -> dict[str, str]:
        token = app.state.target_app.signer.issue(account(role, n))
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    """The app under a real uvicorn on a free loopback port (port 0)."""
    with serve_in_thread(app) as server:
        yield server
