"""The integration seam: error mapping, metrics, lifespan, the database breaker."""

from __future__ import annotations

import asyncio
from collections import Counter

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from harness.run.chaos.fault_proxy import FaultProxy
from target_app.core.config import load_settings
from target_app.core.db import Database
from target_app.core.errors import ConfigError
from target_app.core.problems import install_problem_handlers
from target_app.models import Base
from target_app.resilience.breaker import BreakerState
from target_app.resilience.faults import Fault
from target_app.resilience.identity import anonymous
from target_app.resilience.install import install_resilience
from target_app.resilience.registry import DEFAULT_POLICIES, BreakerRegistry

from .conftest import dev_settings
from .notes_app import Hooks, Note, NotePart, NotesBase, build

pytestmark = pytest.mark.anyio


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://service")


async def test_open_breakers_and_dead_storage_are_503_with_retry_after() -> None:
    app = FastAPI()
    install_problem_handlers(app)  # the service's own: its errors answered with their status
    resilience = install_resilience(app, dev_settings(), anonymous)

    @app.post("/photos")
    async def upload() -> dict[str, str]:
        return {"url": await resilience.store_photo("jobs/1/p.jpg", b"jpeg")}

    resilience.board.set("storage", Fault(error_rate=1.0))
    async with _client(app) as client:
        responses = [await client.post("/photos") for _ in range(7)]
    assert [r.status_code for r in responses] == [503] * 7
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
    assert responses[0].headers["Retry-After"] == "1"
    assert "injected error" in responses[0].json()["detail"]
    assert "circuit open" in responses[-1].json()["detail"]  # 5 failures opened it
    assert responses[-1].headers["Retry-After"] == "30"
    assert resilience.services.storage.calls == 5


def test_breaker_state_is_in_metrics_and_readiness() -> None:
    app = FastAPI()
    registry = CollectorRegistry()
    resilience = install_resilience(app, dev_settings(), anonymous, metrics_registry=registry)
    breaker = resilience.breakers["ai"]
    for _ in range(3):
        with pytest.raises(ConnectionError), breaker.guard():
            raise ConnectionError("down")
    resilience.refresh_metrics()
    text = generate_latest(registry).decode()
    assert 'circuit_breaker_state{dependency="ai"} 2.0' in text
    assert 'circuit_breaker_state{dependency="database"} 0.0' in text
    assert 'circuit_breaker_transitions_total{dependency="ai",to="open"} 1.0' in text
    ready = resilience.readiness()["breakers"]
    assert ready["ai"]["state"] == "open" and ready["ai"]["failures_to_open"] == 3


def test_the_breaker_table_and_its_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {n: (p.failures, p.timeout_s, p.reset_s) for n, p in DEFAULT_POLICIES.items()}
    assert table == {
        "database": (5, 10, 30),
        "ai": (3, 30, 60),
        "payments": (5, 15, 30),
        "sms": (5, 10, 30),
        "email": (5, 10, 30),
        "storage": (5, 15, 30),
        "replica": (3, 2, 10),
        "cache": (3, 0.5, 10),
    }
    defaults = BreakerRegistry.from_settings(dev_settings())
    assert {n: b.policy for n, b in defaults.items()} == DEFAULT_POLICIES
    monkeypatch.setenv("BREAKER_AI", "2/5/7")
    monkeypatch.setenv("BREAKER_HALF_OPEN_CALLS", "1")
    ai = BreakerRegistry.from_settings(dev_settings())["ai"].policy
    assert (ai.failures, ai.timeout_s, ai.reset_s, ai.half_open_calls) == (2, 5, 7, 1)
    monkeypatch.setenv("BREAKER_AI", "3/30")
    with pytest.raises(ConfigError) as info:
        dev_settings()
    assert str(info.value).startswith("Config 'BREAKER_AI' has value '3/30'.")


def test_rate_limit_settings_and_worker_check(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dev_settings().rate_limits() == {
        "anonymous": 60, "authenticated": 200, "pro": 500, "operator": 1000,
    }  # fmt: skip
    monkeypatch.setenv("RATE_LIMIT_PRO", "0")
    with pytest.raises(ConfigError, match="Config 'RATE_LIMIT_PRO' has value '0'"):
        dev_settings()
    monkeypatch.delenv("RATE_LIMIT_PRO")
    monkeypatch.setenv("WORKERS", "3")
    with pytest.raises(ConfigError, match="3 times too high"):
        install_resilience(FastAPI(), dev_settings(), anonymous)
    # Without rate limits nothing would be multiplied: several workers may run without Redis.
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    install_resilience(FastAPI(), dev_settings(), anonymous)


async def test_the_lifespan_runs_the_outbox_worker(database: Database) -> None:
    NotesBase.metadata.create_all(database.engine)
    settings = dev_settings(rate_limit_enabled=False, outbox_poll_s=0.05)
    app, resilience = build(database, settings)
    async with app.router.lifespan_context(app), _client(app) as client:
        for i in range(3):
            assert (await client.post("/notes", json={"text": f"n{i}"})).status_code == 201
        for _ in range(100):
            if len(resilience.services.sms.delivered) == 3:
                break
            await asyncio.sleep(0.05)
    assert len(resilience.services.sms.delivered) == 3
    assert len(resilience.services.email.delivered) == 3


async def test_the_background_loops_can_be_switched_off(database: Database) -> None:
    NotesBase.metadata.create_all(database.engine)
    settings = dev_settings(rate_limit_enabled=False, outbox_poll_s=0.05, resilience_workers=False)
    app, resilience = build(database, settings)
    async with app.router.lifespan_context(app), _client(app) as client:
        assert (await client.post("/notes", json={"text": "queued"})).status_code == 201
        await asyncio.sleep(0.3)
    assert resilience.services.sms.delivered == {}  # nothing delivered, nothing mutated
    assert resilience.outbox is not None and resilience.outbox.pending() == 2


@pytest.mark.postgres
async def test_database_resets_are_503_leave_no_partial_rows_and_open_the_breaker(
    postgres_url: str,
) -> None:
    direct = create_engine(postgres_url)
    Base.metadata.create_all(direct)
    NotesBase.metadata.create_all(direct)
    real = make_url(postgres_url)
    async with FaultProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
        proxied = real.set(port=proxy.port).render_as_string(hide_password=False)
        db = Database(load_settings(database_url=proxied, dev_mode=True, db_pool_min=2))
        settings = dev_settings(
            rate_limit_enabled=False, breaker_database="5/10/0.5", breaker_half_open_calls=1
        )
        hooks = Hooks()
        hooks.between = lambda: anyio.from_thread.run_sync(proxy.reset_connections)
        app, resilience = build(db, settings, hooks)
        breaker = resilience.breakers["database"]
        try:
            async with _client(app) as client:
                assert (await client.post("/notes", json={"text": "ok"})).status_code == 201
                cut = await client.post("/notes", params={"between": 1}, json={"text": "cut"})
                assert cut.status_code == 503 and cut.headers["Retry-After"]
                hooks.between = lambda: None

                proxy.set_reset_peer(True)
                statuses: Counter[int] = Counter()
                for _ in range(6):
                    response = await client.post("/notes", json={"text": "down"})
                    statuses[response.status_code] += 1
                accepted = proxy.accepted
                refused = await client.post("/notes", json={"text": "refused"})
                assert "circuit open" in refused.json()["detail"]
                assert proxy.accepted == accepted  # rejected without touching the database
                assert statuses == {503: 6}
                assert resilience.readiness()["breakers"]["database"]["state"] == "open"

                proxy.clear()
                await asyncio.sleep(0.6)  # the breaker's reset time
                healed = await client.post("/notes", json={"text": "back"})
                assert healed.status_code == 201
                assert breaker.state is BreakerState.closed
        finally:
            db.dispose()
    with direct.connect() as conn:
        texts = sorted(conn.scalars(select(Note.text)))
        parts = conn.scalar(select(func.count()).select_from(NotePart))
    direct.dispose()
    assert texts == ["back", "ok"]  # the cut transaction left nothing behind
    assert parts == 2
    seq = [(a.value, b.value) for a, b in breaker.stats.transitions]
    assert seq == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
