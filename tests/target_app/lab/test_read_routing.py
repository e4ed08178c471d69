"""Reads and writes against a real primary and streaming replica (``resilience/read_routing``):
lag-tolerant reads on the replica, read-your-writes on the primary (in the process and across
instances through Redis), and a replica stopped mid-way costing no request."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import warnings
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.lab.processes import children_of, stop_process
from target_app.main import create_app
from target_app.resilience.read_routing import READ_REPLICA_ENDPOINTS
from tests.target_app.conftest import make_settings
from tests.target_app.lab.conftest import LabDatabase, bearer, counter

JOB = {
    "title": "Fix the leaking kitchen tap",
    "description": "Drips all night.",
    "category": "plumbing",
    "budget": 120,
}


def _app(lab: LabDatabase, **overrides: object) -> FastAPI:
    values: dict[str, object] = {
        "read_replica_urls": lab.replica_url,
        "rate_limit_enabled": False,
        "resilience_workers": False,
    }
    values.update(overrides)
    return create_app(make_settings(lab.primary_url, **values))


@pytest.fixture
def client(lab_database: LabDatabase) -> Iterator[TestClient]:
    with TestClient(_app(lab_database)) as test_client:
        yield test_client


def _reads(client: TestClient, route: str) -> tuple[float, float]:
    """(primary, replica) reads of ``route`` so far."""
    return (
        counter(client, "db_reads", route=route, target="primary"),
        counter(client, "db_reads", route=route, target="replica"),
    )


def _replica_connections(lab: LabDatabase) -> int:
    with psycopg.connect(lab.replica.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'target_app'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_every_lag_tolerant_read_goes_to_the_replica(
    client: TestClient, lab_database: LabDatabase
) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    homeowner, operator = bearer(app, "homeowner", 0), bearer(app, "operator", 0)
    calls = {
        "/territories": ({}, "/territories"),
        "/jobs": (bearer(app, "contractor", 0), "/jobs?territory_id=1"),
        "/threads": (homeowner, "/threads"),
        "/contractors": (homeowner, "/contractors?territory_id=1"),
        "/operator/dashboard": (operator, "/operator/dashboard"),
        "/operator/territories/{territory_id}/metrics": (
            operator,
            "/operator/territories/1/metrics",
        ),
    }
    assert {f"GET {route}" for route in calls} == READ_REPLICA_ENDPOINTS
    for route, (headers, path) in calls.items():
        assert client.get(path, headers=headers).status_code == 200, path
        assert _reads(client, route) == (0, 1), route
    assert client.get("/jobs/1", headers=homeowner).status_code == 200
    assert _reads(client, "/jobs/{job_id}") == (0, 0)  # a job's page: not a routed read
    assert _replica_connections(lab_database) >= 1


def test_a_user_who_just_wrote_reads_the_primary_until_the_window_ends(
    lab_database: LabDatabase,
) -> None:
    app = _app(lab_database, read_your_writes_s=1.0)
    owner, other = bearer(app, "homeowner", 1), bearer(app, "homeowner", 2)
    with TestClient(app) as client:
        assert client.get("/jobs?mine=true", headers=owner).status_code == 200
        assert _reads(client, "/jobs") == (0, 1)
        posted = client.post("/jobs", json=JOB, headers=owner)
        assert posted.status_code == 201
        mine = client.get("/jobs?mine=true", headers=owner).json()["items"]
        assert posted.json()["id"] in {job["id"] for job in mine}
        assert _reads(client, "/jobs") == (1, 1)  # the writer: the primary
        assert client.get("/jobs?mine=true", headers=other).status_code == 200
        assert _reads(client, "/jobs") == (1, 2)  # everyone else: the replica
        time.sleep(1.1)
        assert client.get("/jobs?mine=true", headers=owner).status_code == 200
        assert _reads(client, "/jobs") == (1, 3)  # the window has passed


def test_the_writers_mark_holds_across_instances_through_redis(
    lab_database: LabDatabase, redis_url: str
) -> None:
    first = _app(lab_database, redis_url=redis_url)
    second = _app(lab_database, redis_url=redis_url)
    owner = bearer(first, "homeowner", 3)
    with TestClient(first) as one, TestClient(second) as two:
        assert one.post("/jobs", json=JOB, headers=owner).status_code == 201
        assert two.get("/threads", headers=owner).status_code == 200
        assert _reads(two, "/threads") == (1, 0)
        assert two.get("/threads", headers=bearer(second, "homeowner", 4)).status_code == 200
        assert _reads(two, "/threads") == (1, 1)


def test_cached_board_pages_are_filled_from_the_primary_and_searches_read_the_replica(
    lab_database: LabDatabase, redis_url: str
) -> None:
    # A lagging replica could fill a freshly invalidated version with the page before the
    # write, for a whole TTL; the primary holds every write the version counts.
    app = _app(lab_database, redis_url=redis_url, cache_enabled=True)
    contractor = bearer(app, "contractor", 2)
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/jobs?territory_id=3", headers=contractor).status_code == 200
        assert _reads(client, "/jobs") == (1, 0)  # one miss, filled from the primary; a hit
        assert client.get("/jobs?q=kitchen", headers=contractor).status_code == 200
        assert _reads(client, "/jobs") == (1, 1)  # not cacheable: routed to the replica


def test_a_replica_stopped_mid_way_sends_reads_to_the_primary_without_an_error(
    own_lab_database: LabDatabase,
) -> None:
    lab = own_lab_database
    app = _app(lab)
    contractor = bearer(app, "contractor", 1)
    with TestClient(app) as client:
        for _ in range(3):
            assert client.get("/jobs?territory_id=2", headers=contractor).status_code == 200
        assert _reads(client, "/jobs") == (0, 3)
        stop_process(lab.replica.process, signal.SIGINT, 10.0)
        statuses = [
            client.get(path, headers=contractor).status_code
            for _ in range(6)
            for path in ("/jobs?territory_id=2", "/territories", "/contractors")
        ]
        assert statuses == [200] * 18
        primary, replica = _reads(client, "/jobs")
        assert (primary, replica) == (6, 3)
        ready = client.get("/health/ready").json()
        assert ready["status"] == "ready"  # a replica down is no reason to leave the pool
        assert ready["breakers"]["replica"]["state"] == "open"


def test_a_frozen_replica_is_cut_off_at_the_deadline_and_opens_the_breaker(
    own_lab_database: LabDatabase,
) -> None:
    """SIGSTOP the replica (its postmaster and every backend): its connections stay open and
    answer nothing. A read waits ``REPLICA_TIMEOUT_S`` on its pooled connection (the socket is
    then shut down), the next ones a connect timeout each, and after three failures the breaker
    sends every read to the primary at once; no request fails."""
    lab = own_lab_database
    app = _app(lab, replica_timeout_s=0.4)
    contractor = bearer(app, "contractor", 1)
    with TestClient(app) as client:
        for _ in range(2):
            assert client.get("/jobs?territory_id=2", headers=contractor).status_code == 200
        assert _reads(client, "/jobs") == (0, 2)  # a pooled connection to the replica
        postmaster = lab.replica.process.pid
        frozen = [postmaster, *children_of(postmaster)]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            statuses = [
                client.get("/jobs?territory_id=2", headers=contractor).status_code for _ in range(6)
            ]
            waited = time.monotonic() - started
            breaker = client.get("/health/ready").json()["breakers"]["replica"]["state"]
        finally:
            for pid in frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        assert statuses == [200] * 6
        assert _reads(client, "/jobs") == (6, 2)
        assert breaker == "open"
        state = app.state.target_app
        assert state.reads.deadlines.cut == 1  # the pooled connection's statement
        # 0.4 s on the pooled connection, then two connect timeouts (libpq: 2 s at least),
        # then the breaker: never the request timeout, never forever
        assert waited < 6.5, waited
