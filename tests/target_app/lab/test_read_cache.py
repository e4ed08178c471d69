"""The hot reads' cache in a real Redis (``resilience/read_cache.py``): hits and misses
counted, the board showing a write at once, and a Redis killed mid-way costing no request."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from harness.lab.programs import REDIS_SERVER, find_program
from target_app.main import create_app
from target_app.seed import seed_database
from tests.harness.lab.conftest import require_programs
from tests.target_app.conftest import SMALL_PLAN, make_settings
from tests.target_app.lab.conftest import bearer, counter

JOB = {
    "title": "Paint the garden fence",
    "description": "Twenty metres of it.",
    "category": "painting",
    "budget": 300,
}
#: Homeowner 0's territory, and a contractor of the same territory.
TERRITORY = SMALL_PLAN.territory_of(0)
NEIGHBOUR = next(
    n for n in range(SMALL_PLAN.contractors) if SMALL_PLAN.territory_of(n) == TERRITORY
)
REDIS_START_TIMEOUT_S = 10.0


@pytest.fixture
def seeded_url(postgres_url: str) -> str:
    seed_database(postgres_url, SMALL_PLAN)
    return postgres_url


def _app(database_url: str, redis_url: str, **overrides: object) -> FastAPI:
    values: dict[str, object] = {
        "redis_url": redis_url,
        "cache_enabled": True,
        "rate_limit_enabled": False,
        "resilience_workers": False,
    }
    values.update(overrides)
    return create_app(make_settings(database_url, **values))


def _lookups(client: TestClient, route: str) -> tuple[float, float]:
    """(hits, misses) of ``route`` so far."""
    return (
        counter(client, "cache_requests", route=route, result="hit"),
        counter(client, "cache_requests", route=route, result="miss"),
    )


def _board(client: TestClient, headers: dict[str, str], territory: int | None) -> set[int]:
    path = "/jobs" if territory is None else f"/jobs?territory_id={territory}"
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return {job["id"] for job in response.json()["items"]}


def test_first_pages_and_territories_are_cached_and_the_rest_is_not(
    seeded_url: str, redis_url: str
) -> None:
    app = _app(seeded_url, redis_url)
    contractor, homeowner = bearer(app, "contractor", NEIGHBOUR), bearer(app, "homeowner", 0)
    with TestClient(app) as client:
        first = client.get(f"/jobs?territory_id={TERRITORY}", headers=contractor)
        second = client.get(f"/jobs?territory_id={TERRITORY}", headers=contractor)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content
        assert _lookups(client, "/jobs") == (1, 1)
        board = f"/jobs?territory_id={TERRITORY}"
        one = client.get(f"{board}&page_size=1", headers=contractor)
        assert one.status_code == 200
        assert _lookups(client, "/jobs") == (1, 2)  # another filter, another page
        assert client.get("/territories").content == client.get("/territories").content
        assert _lookups(client, "/territories") == (1, 1)
        cursor = one.json()["next_cursor"]
        assert cursor is not None
        for uncached in ("/jobs?mine=true", "/jobs?q=kitchen", f"{board}&cursor={cursor}"):
            assert client.get(uncached, headers=homeowner).status_code == 200, uncached
        assert _lookups(client, "/jobs") == (1, 2)
        inverted = client.get(f"{board}&min_budget=9&max_budget=1", headers=contractor)
        assert inverted.status_code == 400  # checked before the cache is asked


def test_a_new_job_an_award_and_a_withdrawal_show_on_the_cached_boards_at_once(
    seeded_url: str, redis_url: str
) -> None:
    app = _app(seeded_url, redis_url)
    contractor, owner = bearer(app, "contractor", NEIGHBOUR), bearer(app, "homeowner", 0)
    with TestClient(app) as client:
        before, everywhere = _board(client, contractor, TERRITORY), _board(client, contractor, None)
        posted = client.post("/jobs", json=JOB, headers=owner).json()["id"]
        assert posted not in before
        assert posted in _board(client, contractor, TERRITORY)
        assert posted in _board(client, contractor, None)
        assert everywhere - {posted}  # the board of every territory was cached before
        bid = client.post(f"/jobs/{posted}/bids", json={"amount": 280}, headers=contractor)
        assert bid.status_code == 201
        award = {"bid_id": bid.json()["id"]}
        assert client.post(f"/jobs/{posted}/award", json=award, headers=owner).status_code == 200
        assert posted not in _board(client, contractor, TERRITORY)  # no longer open
        second = client.post("/jobs", json=JOB, headers=owner).json()["id"]
        assert second in _board(client, contractor, TERRITORY)
        closed = client.patch(f"/jobs/{second}", json={"status": "closed"}, headers=owner)
        assert closed.status_code == 200
        assert second not in _board(client, contractor, TERRITORY)
        assert second not in _board(client, contractor, None)


def _bid_counts(
    client: TestClient, headers: dict[str, str], territory: int | None
) -> dict[int, int]:
    path = "/jobs" if territory is None else f"/jobs?territory_id={territory}"
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return {job["id"]: job["bid_count"] for job in response.json()["items"]}


def test_a_bid_and_its_withdrawal_show_in_the_cached_boards_bid_count_at_once(
    seeded_url: str, redis_url: str
) -> None:
    """The board shows each job's bid count: a new bid and a withdrawal raise the version of
    the job's territory and of the board of every territory, so the next reads miss and count
    again; a changed amount shows on no board and invalidates nothing."""
    app = _app(seeded_url, redis_url)
    contractor, owner = bearer(app, "contractor", NEIGHBOUR), bearer(app, "homeowner", 0)
    with TestClient(app) as client:
        job = client.post("/jobs", json=JOB, headers=owner).json()["id"]
        for board in (TERRITORY, None):  # each cached: a miss, then a hit
            assert _bid_counts(client, contractor, board)[job] == 0
            assert _bid_counts(client, contractor, board)[job] == 0
        assert _lookups(client, "/jobs") == (2, 2)
        bid = client.post(f"/jobs/{job}/bids", json={"amount": 250}, headers=contractor)
        assert bid.status_code == 201
        for board in (TERRITORY, None):
            assert _bid_counts(client, contractor, board)[job] == 1
        assert _lookups(client, "/jobs") == (2, 4)
        bid_path = f"/bids/{bid.json()['id']}"
        changed = client.patch(bid_path, json={"amount": 240}, headers=contractor)
        assert changed.status_code == 200
        assert _bid_counts(client, contractor, TERRITORY)[job] == 1
        assert _lookups(client, "/jobs") == (3, 4)  # still cached
        assert client.delete(bid_path, headers=contractor).status_code == 200
        for board in (TERRITORY, None):
            assert _bid_counts(client, contractor, board)[job] == 0
        assert _lookups(client, "/jobs") == (3, 6)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of the test's own on a free port (it kills it), no persistence."""
    require_programs(REDIS_SERVER)  # skipped with the reason, or failed under CI
    binary = str(find_program(REDIS_SERVER))
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    client.close()
    try:
        yield process, url
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def test_the_caches_own_redis_killed_mid_way_costs_no_request(
    seeded_url: str, redis_url: str, own_redis: tuple[subprocess.Popen[bytes], str]
) -> None:
    """The cache in a Redis of its own (``CACHE_REDIS_URL``), the shared one (``REDIS_URL``)
    left alone: killing the cache's costs no request, and readiness tells the two apart."""
    process, url = own_redis
    app = _app(seeded_url, redis_url, cache_redis_url=url)
    contractor, owner = bearer(app, "contractor", NEIGHBOUR), bearer(app, "homeowner", 0)
    with TestClient(app) as client:
        _board(client, contractor, TERRITORY)
        _board(client, contractor, TERRITORY)
        assert _lookups(client, "/jobs") == (1, 1)
        process.kill()
        process.wait(timeout=10)
        for _ in range(4):
            _board(client, contractor, TERRITORY)
            assert client.get("/territories").status_code == 200
        posted = client.post("/jobs", json=JOB, headers=owner)
        assert posted.status_code == 201  # its invalidation is lost, the write is not
        assert posted.json()["id"] in _board(client, contractor, TERRITORY)
        hits, misses = _lookups(client, "/jobs")
        assert (hits, misses) == (1, 6)
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["breakers"]["cache"]["state"] == "open"
        assert ready.json()["dependencies"]["cache_redis"].startswith("down: ")
        assert ready.json()["dependencies"]["redis"] == "ok"
    assert not redis.Redis.from_url(redis_url).keys("target_app:cache:*")  # never used
