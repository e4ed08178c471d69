"""``/admin/faults`` (``api/routes/faults.py``): mounted with ``ADMIN_TOKEN`` only, guarded by it,
and shared between workers through Redis."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from target_app.main import create_app
from target_app.resilience.faults import Fault
from target_app.resilience.install import Resilience
from tests.target_app.conftest import make_settings

pytestmark = pytest.mark.anyio

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def _resilience(app: FastAPI) -> Resilience:
    resilience: Resilience = app.state.target_app.resilience
    return resilience


async def test_admin_faults_need_the_setting_and_the_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    async with _client(create_app(make_settings(url))) as client:
        assert (await client.get("/admin/faults")).status_code == 404

    app = create_app(make_settings(url, admin_token=TOKEN))
    resilience = _resilience(app)
    async with _client(app) as client:
        assert (await client.get("/admin/faults")).status_code == 401
        wrong = await client.get("/admin/faults", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        put = await client.put(
            "/admin/faults/payments", json={"error_rate": 1, "latency_s": 2}, headers=AUTH
        )
        assert put.status_code == 200
        assert put.json()["faults"]["payments"] == {"latency_s": 2, "error_rate": 1, "hang": False}
        assert resilience.board.get("payments") == Fault(latency_s=2, error_rate=1)
        bad_name = await client.put("/admin/faults/fax", json={}, headers=AUTH)
        bad_rate = await client.put("/admin/faults/sms", json={"error_rate": 2}, headers=AUTH)
        unknown = await client.put("/admin/faults/sms", json={"explode": True}, headers=AUTH)
        assert (bad_name.status_code, bad_rate.status_code, unknown.status_code) == (422,) * 3
        await client.put("/admin/faults/ai", json={"hang": True}, headers=AUTH)
        cleared = await client.delete("/admin/faults/payments", headers=AUTH)
        assert cleared.json()["faults"]["ai"]["hang"] is True
        assert resilience.board.get("payments").healthy
        everything = await client.delete("/admin/faults", headers=AUTH)
        assert all(f["hang"] is False for f in everything.json()["faults"].values())
        assert everything.json()["breakers"]["database"]["state"] == "closed"


@pytest.mark.redis
async def test_a_fault_set_in_one_worker_reaches_the_others_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'm.db'}",
        admin_token=TOKEN,
        redis_url=redis_url,
        rate_limit_enabled=False,
    )
    worker_a, worker_b = create_app(settings), create_app(settings)
    shared_a, shared_b = _resilience(worker_a).shared_faults, _resilience(worker_b).shared_faults
    assert shared_a is not None and shared_b is not None
    board_b = _resilience(worker_b).board
    async with _client(worker_a) as client:
        put = await client.put("/admin/faults/sms", json={"error_rate": 0.5}, headers=AUTH)
    assert put.status_code == 200
    assert board_b.get("sms").healthy  # not yet: worker B has not pulled
    await shared_b.pull()
    assert board_b.get("sms") == Fault(error_rate=0.5)
    async with _client(worker_a) as client:
        await client.delete("/admin/faults", headers=AUTH)
    await shared_b.pull()
    assert board_b.get("sms").healthy
    await shared_a.close()
    await shared_b.close()
