"""Database faults under the marketplace service: PostgreSQL behind the TCP fault proxy.

The award is the service's biggest transaction (the winning bid accepted, the others rejected,
the job awarded, a payment hold, two notifications, the idempotency key). Its connection is
reset in the middle, after the first ``UPDATE bids``: the client must get 503 with
``Retry-After`` (never 500) and the database must hold none of it; the retry with the same
``Idempotency-Key`` then awards once. With every connection refused, five failures open the
database breaker, after which even the job board (``GET /jobs``, which reads outside the
routes' sessions) is refused without a connection attempt, until trial requests find the
database back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import make_url

from harness.run.chaos.fault_proxy import FaultProxy
from target_app.main import create_app
from target_app.models import Bid, IdempotencyRecord, Job, OutboxMessage, PaymentHold
from target_app.resilience.breaker import CircuitBreaker
from target_app.resilience.database import GuardedDatabase
from target_app.seed import seed_database
from tests.target_app.conftest import SMALL_PLAN, account, make_settings

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

JOB = {"title": "Replace gutters", "description": "Both sides.", "category": "roofing",
       "budget": 1200}  # fmt: skip


def _client(app: FastAPI) -> httpx.AsyncClient:
    # Exceptions the app does not turn into a response (a 500) are raised here, failing the test.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def _headers(app: FastAPI, role: str, n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.state.target_app.signer.issue(account(role, n))}"}


def _state(breaker: CircuitBreaker) -> str:
    """The breaker's state now (a call, so the checker does not carry one answer to the next)."""
    return breaker.state.value


def _reset_after_first(statement_prefix: str, reset: Callable[[], object]) -> Callable[..., None]:
    armed = [True]

    def hook(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if armed[0] and statement.lstrip().upper().startswith(statement_prefix):
            armed[0] = False
            anyio.from_thread.run_sync(reset)  # on the event loop that runs the proxy

    return hook


async def test_a_reset_mid_award_is_503_leaves_nothing_and_the_breaker_opens_and_heals(
    postgres_url: str,
) -> None:
    seed_database(postgres_url, SMALL_PLAN)
    real = make_url(postgres_url)
    direct = create_engine(postgres_url)
    async with FaultProxy(real.host or "127.0.0.1", real.port or 5432) as proxy:
        proxied = real.set(port=proxy.port).render_as_string(hide_password=False)
        app = create_app(
            make_settings(
                proxied,
                resilience_workers=False,  # no background writes to the tables
                breaker_database="5/10/0.5",  # a short reset time
                breaker_half_open_calls=1,
            )
        )
        state = app.state.target_app
        owner = _headers(app, "homeowner", 0)
        try:
            async with _client(app) as client:
                job = await client.post("/jobs", json=JOB, headers=owner)
                job_id = job.json()["id"]
                bids = [
                    (
                        await client.post(
                            f"/jobs/{job_id}/bids",
                            json={"amount": 1000 + n},
                            headers=_headers(app, "contractor", n),
                        )
                    ).json()["id"]
                    for n in (1, 2, 3)
                ]
                award = {"bid_id": bids[1]}
                keyed = {**owner, "Idempotency-Key": "award-1"}

                hook = _reset_after_first("UPDATE BIDS ", proxy.reset_connections)
                event.listen(state.db.engine, "after_cursor_execute", hook)
                try:
                    cut = await client.post(f"/jobs/{job_id}/award", json=award, headers=keyed)
                finally:
                    event.remove(state.db.engine, "after_cursor_execute", hook)
                assert cut.status_code == 503, cut.text
                assert cut.headers["Retry-After"] == "1"
                assert cut.headers["content-type"] == "application/problem+json"

                with direct.connect() as conn:  # not through the proxy
                    assert conn.scalar(select(Job.status).where(Job.id == job_id)) == "open"
                    statuses = conn.scalars(select(Bid.status).where(Bid.job_id == job_id))
                    assert sorted(statuses) == ["active"] * 3
                    for model, where in (
                        (PaymentHold, PaymentHold.job_id == job_id),
                        (OutboxMessage, OutboxMessage.event == "job_awarded"),
                        (IdempotencyRecord, IdempotencyRecord.key == "award-1"),
                    ):
                        count = select(func.count()).select_from(model).where(where)
                        assert conn.scalar(count) == 0, model.__tablename__

                retried = await client.post(f"/jobs/{job_id}/award", json=award, headers=keyed)
                assert retried.status_code == 200, retried.text
                assert retried.json()["awarded_bid_id"] == bids[1]
                with direct.connect() as conn:
                    statuses = conn.scalars(select(Bid.status).where(Bid.job_id == job_id))
                    assert sorted(statuses) == ["accepted", "rejected", "rejected"]
                    holds = select(func.count()).where(PaymentHold.job_id == job_id)
                    assert conn.scalar(holds) == 1

                # Every connection refused: five failures open the breaker; then even the job
                # board is refused at once, without the proxy seeing a connection.
                assert isinstance(state.db, GuardedDatabase)
                breaker = state.db.breaker
                assert _state(breaker) == "closed"  # one failure is not five
                proxy.reset_connections()
                proxy.set_reset_peer(True)
                jobs = {"territory_id": 1}
                down = [await client.get("/jobs", params=jobs, headers=owner) for _ in range(5)]
                assert [r.status_code for r in down] == [503] * 5
                assert _state(breaker) == "open"
                accepted = proxy.accepted
                refused = await client.get("/jobs", params=jobs, headers=owner)
                assert refused.status_code == 503 and "circuit open" in refused.json()["detail"]
                assert proxy.accepted == accepted

                proxy.clear()
                await asyncio.sleep(0.6)  # the breaker's reset time
                healed = await client.get("/jobs", params=jobs, headers=owner)
                assert healed.status_code == 200
                assert _state(breaker) == "closed"
        finally:
            state.db.dispose()
            direct.dispose()
    seq = [(a.value, b.value) for a, b in breaker.stats.transitions]
    assert seq == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
