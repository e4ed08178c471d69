"""Health, readiness (also with the database down), pool exhaustion, and /metrics counts."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from target_app.main import create_app
from tests.target_app.conftest import Auth, account, make_settings


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``{sorted label pairs: value}`` of the samples called ``name``."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"]["ok"] is True
    assert body["pool"]["max"] == 8
    assert body["dependencies"] == {"redis": "not configured"}
    assert body["instance"] == ""


def test_ready_names_the_instance(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", instance_name="instance_2")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/ready").json()["instance"] == "instance_2"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def down_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":  # a directory that does not exist: every connect fails
        return f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    return "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1


def test_ready_is_503_when_database_is_down(down_url: str) -> None:
    app = create_app(make_settings(down_url, db_pool_timeout_s=1.0))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200  # liveness does not touch the database
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["retry-after"] == "1"
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["database"]["ok"] is False
        jobs = client.get("/territories")
        assert jobs.status_code == 503
        assert jobs.headers["retry-after"] == "1"
        assert jobs.headers["content-type"] == "application/problem+json"


def test_a_dead_database_opens_its_breaker_and_even_the_job_board_fails_fast(
    down_url: str,
) -> None:
    """Every database access goes through the database breaker, ``GET /jobs`` included.

    ``GET /jobs`` reads outside the routes' sessions (through the engine, or on SQLite the
    event loop's own reader), so it is guarded on its own; this pins that down.
    """
    app = create_app(make_settings(down_url, db_pool_timeout_s=1.0))
    token = app.state.target_app.signer.issue(account("homeowner", 0))
    headers = {"Authorization": f"Bearer {token}"}
    breaker = app.state.target_app.db.breaker
    with TestClient(app) as client:
        failed = [
            client.get("/jobs", params={"territory_id": 1}, headers=headers) for _ in range(5)
        ]
        assert [r.status_code for r in failed] == [503] * 5
        assert "database is unavailable" in failed[0].json()["detail"]
        rejected = breaker.stats.rejected
        refused = client.get("/jobs", params={"territory_id": 1}, headers=headers)
        assert refused.status_code == 503 and "circuit open" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 29  # the breaker's 30 s reset time
        assert breaker.stats.rejected == rejected + 1
        ready = client.get("/health/ready").json()
    assert ready["breakers"]["database"]["state"] == "open"


def test_pool_exhausted_is_fast_503(db_url: str, auth: Auth) -> None:
    app = create_app(make_settings(db_url, db_pool_min=1, db_pool_max=1, db_pool_timeout_s=0.3))
    with TestClient(app) as client:
        state = app.state.target_app
        held = state.db.engine.connect()  # take the only connection
        try:
            assert state.db.pool.in_use == 1
            started = time.perf_counter()
            response = client.get("/territories")
            assert time.perf_counter() - started < 0.3 + 1.5  # the timeout, not a hang
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            text = client.get("/metrics").text
            assert samples(text, "db_pool_connections_in_use")[()] == 1
        finally:
            held.close()
        assert client.get("/territories").status_code == 200
        assert state.db.pool.in_use == 0 and state.db.pool.waiting == 0


def test_metrics_count_exactly_the_requests_made(client: TestClient, auth: Auth) -> None:
    made: Counter[tuple[str, str, str]] = Counter()

    def call(method: str, path: str, route: str, **kwargs: object) -> None:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        made[(route, method, str(response.status_code))] += 1

    headers = auth("homeowner", 0)
    for _ in range(3):
        call("GET", "/jobs", "/jobs", headers=headers, params={"territory_id": 1})
    call("GET", "/jobs/1", "/jobs/{job_id}", headers=headers)
    call("GET", "/jobs/2", "/jobs/{job_id}", headers=headers)
    call("GET", "/jobs/999999", "/jobs/{job_id}", headers=headers)
    call("GET", "/jobs/zero", "/jobs/{job_id}", headers=headers)
    call("GET", "/no/such/path", "<unmatched>")
    call("GET", "/health", "/health")
    call("GET", "/health/ready", "/health/ready")
    call("DELETE", "/territories", "/territories")
    call("POST", "/jobs", "/jobs", headers=headers, content=b"x" * (2 * 1024 * 1024))
    text = client.get("/metrics").text
    counted = {
        (labels["route"], labels["method"], labels["status"]): value
        for key, value in samples(text, "http_requests_total").items()
        for labels in [dict(key)]
    }
    assert counted == {key: float(n) for key, n in made.items()}
    assert made[("/jobs/{job_id}", "GET", "404")] == 1 and made[("/jobs", "POST", "413")] == 1
    durations = samples(text, "http_request_duration_seconds_count")
    assert durations[(("method", "GET"), ("route", "/jobs"))] == 3
    cpu = samples(text, "http_request_cpu_seconds_total")[(("method", "GET"), ("route", "/jobs"))]
    db = samples(text, "http_request_db_seconds_total")[(("method", "GET"), ("route", "/jobs"))]
    assert cpu > 0 and db > 0
    assert samples(text, "process_cpu_seconds_total")[()] > 0
    assert samples(text, "db_pool_size")[()] == 8


def test_metrics_need_the_admin_token_when_configured(db_url: str) -> None:
    app = create_app(make_settings(db_url, admin_token="scrape-token-" + "x" * 20))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-" + "x" * 20})
        assert ok.status_code == 200


def test_forwarded_for_believed_only_from_trusted_proxies(db_url: str) -> None:
    from target_app.middleware.proxy_headers import ProxyHeadersMiddleware

    seen: list[object] = []

    async def inner(scope, receive, send):  # a tiny ASGI app that records the client
        seen.append(scope["client"])

    import asyncio

    async def receive() -> dict[str, object]:
        return {}

    async def send(_message: object) -> None:
        pass

    scope = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"203.0.113.9, 127.0.0.1")],
    }
    asyncio.run(ProxyHeadersMiddleware(inner, frozenset({"127.0.0.1"}))(scope, receive, send))
    asyncio.run(ProxyHeadersMiddleware(inner, frozenset())(scope, receive, send))
    untrusted = dict(scope, client=("198.51.100.1", 5000))
    asyncio.run(ProxyHeadersMiddleware(inner, frozenset({"127.0.0.1"}))(untrusted, receive, send))
    assert seen == [("203.0.113.9", 0), ("127.0.0.1", 5000), ("198.51.100.1", 5000)]


@pytest.mark.redis
def test_ready_checks_redis_when_configured(db_url: str, redis_url: str) -> None:
    with TestClient(create_app(make_settings(db_url, redis_url=redis_url))) as client:
        assert client.get("/health/ready").json()["dependencies"] == {"redis": "ok"}
    down = make_settings(db_url, redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(down)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200  # shown, not required: every use of it falls back
        assert ready.json()["dependencies"]["redis"].startswith("down: ")
