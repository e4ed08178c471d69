"""Rate limits and breakers inside the marketplace service itself, with its own tokens.

``test_ratelimit.py`` proves the middleware on a small test app with clear-text test tokens;
here the service's real wiring is under test: its signed bearer tokens resolved to tiers
(``bearer_resolver``: a pro contractor gets the pro limit, an operator the operator limit), its
proxy-headers middleware in front of the limiter, its ``/metrics`` and its start-up check.
The limits are lowered in the app's settings so that each tier's burst (limit + 50
concurrent requests from one identity) stays small.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from target_app.cli import main as cli_main
from target_app.core.config import DEPENDENCIES
from target_app.main import create_app
from tests.target_app.conftest import SECRET, account, make_settings

pytestmark = pytest.mark.anyio

LIMITS = {"anonymous": 7, "authenticated": 9, "pro": 11, "operator": 13}
#: The seeded account behind each signed-in tier (contractor 0 is pro: n % 5 == 0).
CALLERS = {"authenticated": ("homeowner", 3), "pro": ("contractor", 0), "operator": ("operator", 1)}
TRUSTED = "10.0.0.1"


@pytest.fixture
def db_url(shared_db_url: str) -> str:
    """These tests only read: one seeded database per module and backend."""
    return shared_db_url


@pytest.fixture
def limited_app(db_url: str) -> Iterator[FastAPI]:
    """The service with small limits per tier, trusting forwarded addresses from 10.0.0.1."""
    limits = {f"rate_limit_{tier}": per_minute for tier, per_minute in LIMITS.items()}
    app = create_app(make_settings(db_url, trusted_proxies=TRUSTED, **limits))
    yield app
    app.state.target_app.db.dispose()  # no lifespan ran (ASGITransport): close the pool here


def _client(app: FastAPI, peer: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://service")


def _headers(app: FastAPI, tier: str) -> dict[str, str]:
    if tier == "anonymous":
        return {}
    role, n = CALLERS[tier]
    token = app.state.target_app.signer.issue(account(role, n))
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("tier", list(LIMITS))
async def test_each_tier_of_service_callers_gets_exactly_its_limit(
    limited_app: FastAPI, tier: str
) -> None:
    limit = LIMITS[tier]
    path = "/territories" if tier == "anonymous" else "/jobs"  # a route each tier may call
    headers = _headers(limited_app, tier)
    async with _client(limited_app) as client:
        responses = await asyncio.gather(
            *(client.get(path, headers=headers) for _ in range(limit + 50))
        )
    assert Counter(r.status_code for r in responses) == {200: limit, 429: 50}
    assert {r.headers["RateLimit-Limit"] for r in responses} == {str(limit)}
    rejected = [r for r in responses if r.status_code == 429]
    assert all(int(r.headers["Retry-After"]) >= 1 for r in rejected)
    assert all(r.headers["content-type"] == "application/problem+json" for r in rejected)
    assert f"for the {tier} tier" in rejected[0].json()["detail"]


async def test_a_forwarded_header_from_an_untrusted_peer_changes_nothing(
    limited_app: FastAPI,
) -> None:
    limit = LIMITS["anonymous"]
    async with _client(limited_app, peer="203.0.113.7") as client:
        spoofed = await asyncio.gather(
            *(
                client.get("/territories", headers={"X-Forwarded-For": f"198.51.100.{i}"})
                for i in range(limit + 20)
            )
        )
    assert Counter(r.status_code for r in spoofed) == {200: limit, 429: 20}
    # From the trusted proxy, each forwarded client has a count of its own.
    async with _client(limited_app, peer=TRUSTED) as client:
        for i in range(3):
            burst = await asyncio.gather(
                *(
                    client.get("/territories", headers={"X-Forwarded-For": f"198.51.100.{i}"})
                    for _ in range(limit + 2)
                )
            )
            assert Counter(r.status_code for r in burst) == {200: limit, 429: 2}


async def test_the_services_metrics_show_every_breaker(limited_app: FastAPI) -> None:
    async with _client(limited_app) as client:
        text = (await client.get("/metrics")).text
    for name in DEPENDENCIES:
        assert f'circuit_breaker_state{{dependency="{name}"}} 0.0' in text


def test_serve_refuses_two_workers_without_redis_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `serve` writes these into the environment; setting them here lets monkeypatch undo it.
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RATE_LIMIT_ENABLED", raising=False)
    assert cli_main(["serve", "--port", "0", "--workers", "2"]) == 2
    error = capsys.readouterr().err
    assert "Config 'WEB_CONCURRENCY' has value 2" in error
    assert "REDIS_URL" in error and "2 times too high" in error
    assert not (tmp_path / "x.db").exists()  # refused before touching the database
