"""The outbox: written with the change, delivered after any outage, never twice."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from target_app.core.db import Database
from target_app.models import OutboxMessage
from target_app.resilience.breaker import BreakerPolicy
from target_app.resilience.fakes import FakeServices
from target_app.resilience.faults import Fault
from target_app.resilience.outbox import OutboxWorker, enqueue
from target_app.resilience.registry import BreakerRegistry

from .clock import FakeClock

pytestmark = pytest.mark.anyio


class WallClock:
    """A settable UTC clock for the outbox's retry schedule."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # rows written now are due

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _setup(database: Database) -> tuple[FakeServices, BreakerRegistry, FakeClock, WallClock]:
    services = FakeServices.create()
    clock = FakeClock()
    breakers = BreakerRegistry(
        {
            "sms": BreakerPolicy(5, 10, 30, half_open_calls=2),
            "email": BreakerPolicy(5, 10, 30, half_open_calls=2),
        },
        clock=clock,
    )
    return services, breakers, clock, WallClock()


def _worker(
    database: Database, services: FakeServices, breakers: BreakerRegistry, wall: WallClock
) -> OutboxWorker:
    return OutboxWorker(
        database.write_session,
        {"sms": services.sms.send, "email": services.email.send},
        breakers,
        batch_size=25,
        backoff_base_s=1,
        backoff_max_s=60,
        now=wall,
    )


def _notify(database: Database, n: int) -> None:
    for i in range(n):
        with database.write_session() as session, session.begin():
            enqueue(
                session,
                event="bid_created",
                recipient_id=1000 + i,
                payload={"job_id": i, "amount": 100 + i},
            )


def _ids(database: Database, channel: str) -> set[str]:
    with database.read_session() as session:
        rows = session.scalars(select(OutboxMessage.id).where(OutboxMessage.channel == channel))
        return {f"outbox-{i}" for i in rows}


async def test_every_notification_is_delivered_once_after_an_outage(database: Database) -> None:
    services, breakers, clock, wall = _setup(database)
    worker = _worker(database, services, breakers, wall)
    services.board.set("sms", Fault(error_rate=1.0))
    services.board.set("email", Fault(error_rate=1.0))
    _notify(database, 30)
    assert worker.pending() == 60

    # The outage: several rounds, every attempt fails or is refused by the open breakers.
    for _ in range(5):
        await worker.run_once()
        wall.advance(120)
    assert services.sms.delivered == {} and services.email.delivered == {}
    assert breakers["sms"].stats.rejected > 0  # the breaker spared the dead provider
    assert services.sms.calls == 5  # exactly the failures it took to open
    assert worker.pending() == 60

    # Recovery: faults cleared, breakers' reset time passes, the backlog drains.
    services.board.clear()
    clock.advance(30)
    rounds = 0
    while worker.pending() and rounds < 20:
        await worker.run_once()
        wall.advance(120)
        clock.advance(30)
        rounds += 1
    assert worker.pending() == 0
    assert set(services.sms.delivered) == _ids(database, "sms")
    assert set(services.email.delivered) == _ids(database, "email")
    assert len(services.sms.delivered) == 30 and services.sms.duplicates == 0
    texts = {d.text for d in services.email.delivered.values()}
    assert "New bid of $107 on your job 7." in texts


async def test_backoff_doubles_and_is_capped(database: Database) -> None:
    services, breakers, _clock, wall = _setup(database)
    worker = _worker(database, services, breakers, wall)
    assert [worker.backoff_s(n) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]
    services.board.set("sms", Fault(error_rate=1.0))
    _notify(database, 1)
    await worker.run_once()  # sms fails, email is delivered
    with database.read_session() as session:
        sms = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "sms")).one()
    assert sms.attempts == 1 and sms.delivered_at is None
    assert sms.next_attempt_at == wall.now + timedelta(seconds=1)
    assert "InjectedFault" in (sms.last_error or "")
    assert await worker.run_once() == []  # not due yet: nothing is tried
    wall.advance(1)
    assert len(await worker.run_once()) == 1


def test_a_rolled_back_change_leaves_no_notification(database: Database) -> None:
    with pytest.raises(RuntimeError), database.write_session() as session, session.begin():
        enqueue(session, event="job_awarded", recipient_id=5, payload={"job_id": 1, "bid_id": 2})
        raise RuntimeError("the award failed")
    with database.read_session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_enqueue_names_bad_input(database: Database) -> None:
    with database.write_session() as session:
        with pytest.raises(ValueError, match="unknown event 'bid_deleted'"):
            enqueue(session, event="bid_deleted", recipient_id=1, payload={})
        with pytest.raises(KeyError):
            enqueue(session, event="bid_created", recipient_id=1, payload={"job_id": 1})
        with pytest.raises(ValueError, match="unknown channel 'fax'"):
            enqueue(
                session,
                event="message_posted",
                recipient_id=1,
                payload={"thread_id": 3},
                channels=("fax",),
            )


async def test_two_workers_never_deliver_the_same_message(database: Database) -> None:
    services, breakers, _clock, wall = _setup(database)
    first = _worker(database, services, breakers, wall)
    second = _worker(database, services, breakers, wall)
    _notify(database, 20)
    for _ in range(4):
        await asyncio.gather(first.run_once(), second.run_once())
    assert first.pending() == 0
    assert services.sms.duplicates == 0 and services.email.duplicates == 0
    assert services.sms.calls + services.email.calls == 40
    assert first.delivered_total > 0 and second.delivered_total > 0


async def test_the_loop_runs_until_stopped_and_payloads_are_json(database: Database) -> None:
    services, breakers, _clock, _wall = _setup(database)
    worker = OutboxWorker(
        database.write_session,
        {"sms": services.sms.send, "email": services.email.send},
        breakers,
        poll_s=0.02,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    _notify(database, 3)
    worker.nudge()
    for _ in range(200):
        if len(services.email.delivered) == 3:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(services.email.delivered) == 3
    with database.read_session() as session:
        payloads = [json.loads(p) for p in session.scalars(select(OutboxMessage.payload))]
    assert {"amount": 100, "job_id": 0} in payloads
