"""Fixtures for the security tests: callers of every kind, a database checksum, the outcome log.

The service under test is the real app on a seeded database (``shared_db_url`` from the
service's own test fixtures: one database per module and backend, SQLite and PostgreSQL).

* `Actors` holds the bearer tokens of the six kinds of caller the authorization matrix tries:
  the job's owner, another homeowner, the contractor who bid, a pro contractor who did not,
  an operator, nobody, and the holder of ``ADMIN_TOKEN``.
* `table_fingerprint` is the "nothing changed" witness: row count and a SHA-256 over every
  row of every table, taken before and after a request that must be refused.
* `record_outcome` notes each bad input or forbidden call, what was expected and what
  happened. With ``RELIABILITY_RESULTS_DIR`` set, the rows are written there as JSON at the end
  of the session, and ``scripts/reliability_table.py`` turns them into docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, MetaData, select

from target_app.core.security import Principal
from target_app.main import create_app
from tests.target_app.conftest import account, make_settings, shared_db_url

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette asks for httpx2; plain httpx works
    from starlette.testclient import TestClient

__all__ = ["shared_db_url"]  # re-exported as a fixture of this package

#: Gives ``/metrics`` (and ``/admin/*`` once mounted) a real guard in these tests.
ADMIN_TOKEN = "security-admin-token-0123456789abcdef"
RESULTS_ENV = "RELIABILITY_RESULTS_DIR"

#: Who calls, in the order of the matrix's columns.
ACTORS = ("anonymous", "owner", "bidder", "pro", "operator", "other_owner", "admin")

#: Seeded accounts behind each actor (contractor 0 is pro, contractor 1 is not: n % 5 == 0).
ACCOUNTS: dict[str, tuple[str, int]] = {
    "owner": ("homeowner", 1),
    "other_owner": ("homeowner", 2),
    "bidder": ("contractor", 1),
    "pro": ("contractor", 0),
    "operator": ("operator", 0),
}

#: A valid new job.
NEW_JOB = {
    "title": "Fix fence",
    "description": "Two posts.",
    "category": "carpentry",
    "budget": 300,
}

_OUTCOMES: list[dict[str, object]] = []


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgres``, for outcome rows and messages."""
    return "sqlite" if url.startswith("sqlite") else "postgres"


def record_outcome(
    area: str,
    case: str,
    expected: object,
    happened: object,
    backend: str = "sqlite",
    *,
    requests: int = 1,
    detail: str = "",
) -> None:
    """Note one bad input or forbidden call for docs/reliability.md (see the module docstring).

    ``requests`` is how many requests the row stands for (a fuzzing row: all its examples),
    ``detail`` anything worth a reader's eye (the statuses a fuzzer saw).
    """
    _OUTCOMES.append(
        {
            "area": area,
            "case": case,
            "backend": backend,
            "expected": str(expected),
            "happened": str(happened),
            "ok": str(expected) == str(happened),
            "requests": requests,
            "detail": detail,
        }
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the outcome rows when ``RELIABILITY_RESULTS_DIR`` names a directory."""
    target = os.environ.get(RESULTS_ENV)
    if not target or not _OUTCOMES:
        return
    directory = Path(target)
    directory.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = directory / f"security-{worker}.json"
    path.write_text(json.dumps(_OUTCOMES, indent=1, sort_keys=True) + "\n")


@dataclass(frozen=True, slots=True)
class Actors:
    """Authorization headers of each actor (``anonymous`` has none)."""

    headers: dict[str, dict[str, str]]
    principals: dict[str, Principal]

    def __call__(self, actor: str) -> dict[str, str]:
        return self.headers[actor]


def make_actors(app: FastAPI) -> Actors:
    """Tokens for every actor, minted with the app's own signer."""
    signer = app.state.target_app.signer
    principals = {actor: account(role, n) for actor, (role, n) in ACCOUNTS.items()}
    headers = {
        actor: {"Authorization": f"Bearer {signer.issue(p)}"} for actor, p in principals.items()
    }
    headers["anonymous"] = {}
    headers["admin"] = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return Actors(headers, principals)


@dataclass(frozen=True, slots=True)
class World:
    """The objects a route is tried on, made fresh for each route."""

    job_id: int
    bid_id: int
    thread_id: int
    message_id: int
    territory_id: int
    bidder_id: int

    def path(self, template: str) -> str:
        """``template`` with this world's ids (and a fake dependency's name) filled in."""
        return template.format(
            job_id=self.job_id,
            bid_id=self.bid_id,
            thread_id=self.thread_id,
            territory_id=self.territory_id,
            dependency="payments",
        )


def make_world(client: TestClient, actors: Actors) -> World:
    """A job of ``owner`` with a bid of ``bidder``, their thread and one message (via the API)."""
    job = client.post("/jobs", json=NEW_JOB, headers=actors("owner"))
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    bid = client.post(
        f"/jobs/{job_id}/bids", json={"amount": 250, "message": "Hi"}, headers=actors("bidder")
    )
    assert bid.status_code == 201, bid.text
    thread = client.post("/threads", json={"job_id": job_id}, headers=actors("bidder"))
    assert thread.status_code == 201, thread.text
    thread_id = thread.json()["id"]
    message = client.post(
        f"/threads/{thread_id}/messages", json={"body": "Hello"}, headers=actors("bidder")
    )
    assert message.status_code == 201, message.text
    return World(
        job_id=job_id,
        bid_id=bid.json()["id"],
        thread_id=thread_id,
        message_id=message.json()["id"],
        territory_id=job.json()["territory_id"],
        bidder_id=actors.principals["bidder"].user_id,
    )


_REFLECTED: dict[str, MetaData] = {}


def table_fingerprint(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and a SHA-256 of its rows in primary-key order."""
    key = engine.url.render_as_string()
    metadata = _REFLECTED.get(key)
    if metadata is None:  # reflecting costs a dozen queries; the schema is fixed per database
        metadata = _REFLECTED[key] = MetaData()
        metadata.reflect(engine)
    result: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            digest = hashlib.sha256()
            count = 0
            for row in conn.execute(select(table).order_by(*order)):
                digest.update(repr(tuple(row)).encode())
                count += 1
            result[table.name] = (count, digest.hexdigest())
    return result


def build_app(url: str) -> FastAPI:
    """The service on ``url`` with ``ADMIN_TOKEN`` set (so ``/admin/faults`` exists and the
    matrix sees it) and rate limits off: these tests send hundreds of requests from one
    address and must see the service's answer, not the limiter's 429 (the limiter has its own
    tests). The background loops are off too: the outbox worker marks rows delivered, which
    would move the table fingerprints that prove a denied call changed nothing.
    """
    return create_app(
        make_settings(
            url, admin_token=ADMIN_TOKEN, rate_limit_enabled=False, resilience_workers=False
        )
    )


@pytest.fixture(scope="module")
def security_app(shared_db_url: str) -> FastAPI:
    """The service on this module's seeded database (`build_app`)."""
    return build_app(shared_db_url)


@pytest.fixture(scope="module")
def security_client(security_app: FastAPI) -> Iterator[TestClient]:
    """An in-process client of `security_app` (lifespan run once per module)."""
    with TestClient(security_app) as client:
        yield client


@pytest.fixture(scope="module")
def actors(security_app: FastAPI) -> Actors:
    """The tokens of every actor for `security_app`."""
    return make_actors(security_app)


@pytest.fixture(scope="module")
def backend(shared_db_url: str) -> str:
    """The backend of this module's database."""
    return backend_of(shared_db_url)
