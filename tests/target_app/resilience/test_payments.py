"""Payments on award: held when the provider answers, pending and retried when it does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from target_app.core.db import Database
from target_app.models import PaymentHold
from target_app.resilience.breaker import BreakerPolicy, CircuitBreaker
from target_app.resilience.fakes import FakeServices
from target_app.resilience.faults import Fault
from target_app.resilience.payments import PaymentSettler, record_award

from .clock import FakeClock

pytestmark = pytest.mark.anyio


def _award(database: Database, job_id: int) -> None:
    with database.write_session() as session, session.begin():
        record_award(session, job_id=job_id, bid_id=job_id * 10, amount=500)


async def test_an_outage_leaves_awards_pending_until_the_retry_succeeds(database: Database) -> None:
    services = FakeServices.create()
    clock = FakeClock()
    breaker = CircuitBreaker("payments", BreakerPolicy(5, 15, 30, half_open_calls=1), clock=clock)
    wall = [datetime.now(UTC) + timedelta(seconds=1)]
    settler = PaymentSettler(
        database.write_session, services.payments.hold, breaker, retry_s=30, now=lambda: wall[0]
    )
    services.board.set("payments", Fault(error_rate=1.0))
    for job_id in range(1, 8):
        _award(database, job_id)
        assert await settler.settle(job_id) == "pending"
    assert settler.pending() == 7
    assert services.payments.calls == 5 and services.payments.holds == {}  # then the breaker

    assert await settler.run_once() == {}  # nothing due before the retry time
    services.board.clear()
    wall[0] += timedelta(seconds=30)
    clock.advance(30)
    first = await settler.run_once()
    assert list(first.values()).count("held") >= 1  # the trial closed the breaker...
    wall[0] += timedelta(seconds=30)
    await settler.run_once()  # ...and the rest follow
    assert settler.pending() == 0
    assert sorted(services.payments.holds) == list(range(1, 8))
    with database.read_session() as session:
        hold = session.scalars(select(PaymentHold).where(PaymentHold.job_id == 3)).one()
        assert hold is not None and hold.status == "held" and hold.hold_id == "hold_3_30"
        assert hold.attempts >= 2 and hold.last_error is None


async def test_a_healthy_provider_holds_at_once(database: Database) -> None:
    services = FakeServices.create()
    settler = PaymentSettler(
        database.write_session,
        services.payments.hold,
        CircuitBreaker("payments", BreakerPolicy(5, 15, 30)),
    )
    _award(database, 42)
    assert await settler.settle(42) == "held"
    assert await settler.settle(42) == "held"
    assert services.payments.calls == 1
    with pytest.raises(KeyError, match="no payment hold recorded for job 43"):
        await settler.settle(43)
