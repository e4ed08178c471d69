"""Payment holds on award, with the fallback the launch plan asks for: pending and retried.

An award must not fail because the payments provider is down, and it must not hold a database
transaction open while a provider call takes up to its 15 s timeout. So the award transaction
only records ``payment_holds(status='pending')`` (`record_award`), next to the award itself;
after the commit the route asks the `PaymentSettler` to try the hold once right away
(`settle`). If the provider answers, the row becomes ``held`` and the response can say so; if
not (error, timeout, breaker open), the award stands as *payment pending* and the settler's
background loop retries every ``retry_s`` until the hold is placed. The provider dedupes on
the job id, so a retry after a lost answer never holds twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from target_app.models import PaymentHold, utcnow
from target_app.resilience.breaker import CircuitBreaker
from target_app.resilience.database import SessionFactory
from target_app.resilience.outbox import Now

logger = logging.getLogger("target_app.resilience.payments")

#: ``hold(job_id, bid_id, amount) -> hold id``: the payments provider (idempotent per job).
HoldFn = Callable[[int, int, int], Awaitable[str]]


def record_award(session: Session, *, job_id: int, bid_id: int, amount: int) -> PaymentHold:
    """Add the award's pending payment hold to the caller's transaction (no commit here)."""
    now = utcnow()
    hold = PaymentHold(
        job_id=job_id,
        bid_id=bid_id,
        amount=amount,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(hold)
    return hold


def _hold_of(session: Session, job_id: int) -> PaymentHold | None:
    return session.scalars(select(PaymentHold).where(PaymentHold.job_id == job_id)).one_or_none()


class PaymentSettler:
    """Places pending holds: once right after an award, then in a retry loop."""

    def __init__(
        self,
        session_factory: SessionFactory,
        hold: HoldFn,
        breaker: CircuitBreaker,
        *,
        retry_s: float = 30.0,
        batch_size: int = 50,
        now: Now = utcnow,
    ) -> None:
        if retry_s <= 0 or batch_size < 1:
            raise ValueError(f"retry_s={retry_s} and batch_size={batch_size} must be positive")
        self._sessions = session_factory
        self._hold = hold
        self._breaker = breaker
        self.retry_s = retry_s
        self.batch_size = batch_size
        self._now = now

    def _load(self, job_id: int) -> PaymentHold | None:
        with self._sessions() as session:
            return _hold_of(session, job_id)

    def _due(self) -> list[int]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(PaymentHold.job_id)
                    .where(
                        PaymentHold.status == "pending", PaymentHold.next_attempt_at <= self._now()
                    )
                    .order_by(PaymentHold.next_attempt_at)
                    .limit(self.batch_size)
                )
            )

    def _save(self, job_id: int, hold_id: str | None, error: str | None) -> None:
        now = self._now()
        with self._sessions() as session, session.begin():
            current = _hold_of(session, job_id)
            if current is None or current.status == "held":
                return  # another worker placed it meanwhile
            current.attempts += 1
            current.updated_at = now
            if hold_id is not None:
                current.status, current.hold_id, current.last_error = "held", hold_id, None
            else:
                current.next_attempt_at = now + timedelta(seconds=self.retry_s)
                current.last_error = (error or "")[:300]

    async def settle(self, job_id: int) -> str:
        """Try to place the hold of ``job_id`` now; returns its status, ``held`` or ``pending``."""
        hold = await asyncio.to_thread(self._load, job_id)
        if hold is None:
            raise KeyError(f"no payment hold recorded for job {job_id}")
        if hold.status == "held":
            return "held"
        try:
            hold_id = await self._breaker.call(self._hold, hold.job_id, hold.bid_id, hold.amount)
        except Exception as exc:  # any failure leaves the award payment-pending, retried later
            await asyncio.to_thread(self._save, job_id, None, f"{type(exc).__name__}: {exc}")
            return "pending"
        await asyncio.to_thread(self._save, job_id, hold_id, None)
        return "held"

    async def run_once(self) -> dict[int, str]:
        """Retry every due pending hold once; returns job id -> resulting status."""
        due = await asyncio.to_thread(self._due)
        return {job_id: await self.settle(job_id) for job_id in due}

    def pending(self) -> int:
        """Awards whose payment hold is not placed yet."""
        with self._sessions() as session:
            count = session.scalar(select(func.count()).where(PaymentHold.status == "pending"))
            return int(count or 0)

    async def run(self, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Retry due holds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.warning("payment retry round failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)
