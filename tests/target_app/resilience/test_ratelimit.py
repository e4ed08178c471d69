"""Tiered rate limits: exact counts per tier, shared counts across workers, no spoofing."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from target_app.core.errors import ConfigError
from target_app.resilience.ratelimit import RateLimitMiddleware, check_shared_storage

from .conftest import dev_settings
from .ratelimit_app import build

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]

TOKENS = {
    "anonymous": None,
    "authenticated": "41:homeowner:free",
    "pro": "42:contractor:pro",
    "operator": "43:operator:free",
}
LIMITS = {"anonymous": 60, "authenticated": 200, "pro": 500, "operator": 1000}


async def _burst(
    client: httpx.AsyncClient, n: int, headers: dict[str, str]
) -> list[httpx.Response]:
    return await asyncio.gather(*(client.get("/things", headers=headers) for _ in range(n)))


def _client(app: object, peer: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://service")


@pytest.mark.parametrize("tier", list(LIMITS))
async def test_each_tier_gets_exactly_its_limit(tier: str) -> None:
    app = build(dev_settings())
    token = TOKENS[tier]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limit = LIMITS[tier]
    async with _client(app) as client:
        responses = await _burst(client, limit + 50, headers)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: limit, 429: 50}
    for response in responses:
        assert response.headers["RateLimit-Limit"] == str(limit)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.headers["RateLimit-Remaining"] == "0"
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
            assert f"{limit} requests per minute" in problem["detail"]
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses)
    assert remaining[-1] <= limit - 1
    assert all(0 <= int(r.headers["RateLimit-Reset"]) <= 60 for r in responses)


async def test_identities_are_counted_separately_and_health_is_exempt() -> None:
    app = build(dev_settings(rate_limit_authenticated=5))
    async with _client(app) as client:
        a = await _burst(client, 6, {"Authorization": "Bearer 1:homeowner:free"})
        b = await _burst(client, 6, {"Authorization": "Bearer 2:homeowner:free"})
        health = [await client.get("/health") for _ in range(100)]
    assert [r.status_code for r in a].count(200) == 5
    assert [r.status_code for r in b].count(200) == 5
    assert {r.status_code for r in health} == {200}
    assert "RateLimit-Limit" not in health[0].headers


async def test_the_admin_token_is_never_limited_and_a_wrong_one_is_anonymous() -> None:
    # A chaos run heals its fault through /admin/faults: a 429 there would leave it broken.
    token = "a" * 24
    app = build(dev_settings(rate_limit_anonymous=5), admin_token=token)
    async with _client(app) as client:
        admin = await _burst(client, 40, {"Authorization": f"Bearer {token}"})
        lower = await _burst(client, 5, {"Authorization": f"bearer {token}"})
        wrong = await _burst(client, 8, {"Authorization": f"Bearer {'b' * 24}"})
    assert {r.status_code for r in admin + lower} == {200}
    assert "RateLimit-Limit" not in admin[0].headers
    assert Counter(r.status_code for r in wrong) == {200: 5, 429: 3}


async def test_a_forwarded_header_from_an_untrusted_peer_changes_nothing() -> None:
    settings = dev_settings(rate_limit_anonymous=10, trusted_proxies="10.0.0.1")
    app = build(settings)
    async with _client(app, peer="203.0.113.7") as client:
        spoofed = await asyncio.gather(
            *(
                client.get("/things", headers={"X-Forwarded-For": f"198.51.100.{i}"})
                for i in range(30)
            )
        )
    assert Counter(r.status_code for r in spoofed) == {200: 10, 429: 20}
    assert {r.json()["client"] for r in spoofed if r.status_code == 200} == {"203.0.113.7"}


async def test_a_trusted_proxy_gives_each_forwarded_client_its_own_limit() -> None:
    settings = dev_settings(rate_limit_anonymous=3, trusted_proxies="10.0.0.1")
    app = build(settings)
    async with _client(app, peer="10.0.0.1") as client:
        per_client = [
            await _burst(client, 5, {"X-Forwarded-For": f"1.2.3.4, 198.51.100.{i}"})
            for i in range(4)
        ]
    for responses in per_client:
        assert [r.status_code for r in responses].count(200) == 3


def test_more_than_one_worker_without_redis_refuses_to_start() -> None:
    with pytest.raises(ConfigError) as info:
        check_shared_storage(2, None)
    message = str(info.value)
    assert "WEB_CONCURRENCY" in message and "REDIS_URL" in message and "2 times" in message
    with pytest.raises(ConfigError):
        RateLimitMiddleware(
            build(dev_settings()), limits=LIMITS, storage_uri="memory://", workers=4
        )
    check_shared_storage(2, "redis://127.0.0.1:6379/0")  # fine with shared storage


def test_the_service_process_exits_with_the_reason() -> None:
    env = dict(os.environ, WEB_CONCURRENCY="2")
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", "from tests.target_app.resilience.ratelimit_app import create_app;"
         "create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Config 'WEB_CONCURRENCY' has value 2" in result.stderr
    assert "REDIS_URL" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_workers(redis_url: str) -> Iterator[str]:
    """The test app under uvicorn with two worker processes sharing ``redis_url``."""
    port = _free_port()
    env = dict(os.environ, REDIS_URL=redis_url, WEB_CONCURRENCY="2", RATE_LIMIT_ANONYMOUS="60")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory",
         "tests.target_app.resilience.ratelimit_app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
         "--no-proxy-headers"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        pids: set[str] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            try:  # /health is exempt, so warming up costs no quota
                with httpx.Client(base_url=base, timeout=2) as client:
                    pids.add(client.get("/health").headers["X-Worker-Pid"])
            except httpx.TransportError:
                time.sleep(0.1)
        assert len(pids) == 2, f"both workers should answer within 30 s, saw {pids}"
        yield base
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
        assert "Traceback" not in output, output


@pytest.mark.redis
@pytest.mark.slow
async def test_two_workers_share_one_count_through_redis(two_workers: str) -> None:
    limits = httpx.Limits(max_connections=110, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=two_workers, timeout=30, limits=limits) as client:
        responses = await _burst(client, 110, {})
    assert Counter(r.status_code for r in responses) == {200: 60, 429: 50}
    assert len({r.headers["X-Worker-Pid"] for r in responses}) == 2
    assert all("Retry-After" in r.headers for r in responses if r.status_code == 429)


async def test_a_dead_rate_limit_store_lets_requests_through() -> None:
    port = _free_port()  # nothing listens there
    app = RateLimitMiddleware(
        build(dev_settings()),
        limits=LIMITS,
        storage_uri=f"redis://127.0.0.1:{port}/0",
        workers=2,
    )
    async with _client(app) as client:
        responses = [await client.get("/things") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
