"""The transactional outbox: notifications that survive any outage of SMS or e-mail.

Sending an SMS inside a request couples the request to the SMS provider: if it is down the
write fails (or the notification is lost if the write goes ahead). Instead, a route *writes*
the notification into ``outbox_messages`` in the same database transaction as the change
(``enqueue(session, ...)``): both commit together or neither does. A background
`OutboxWorker` delivers what is due, through the channel's circuit breaker, and on failure
retries later with exponential backoff (1 s, 2 s, 4 s ... capped at ``backoff_max_s``), forever:
nothing is dropped, an outage only delays.

Several workers (processes) may run: each claims a batch by writing a lease (owner + expiry)
with a conditional ``UPDATE``, so no message is handed to two workers at once; a worker that
dies mid-batch simply lets its leases expire. Delivery is at-least-once; the providers dedupe
on the outbox id passed as the idempotency key, so a retry after a lost acknowledgement never
notifies twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from target_app.models import CHANNELS, OutboxMessage, utcnow
from target_app.resilience.breaker import CircuitBreaker
from target_app.resilience.database import SessionFactory

logger = logging.getLogger("target_app.resilience.outbox")

#: ``send(key, to, text)``: deliver one message; ``key`` makes retries idempotent.
Sender = Callable[[str, str, str], Awaitable[object]]
Now = Callable[[], datetime]

#: ``session.info`` key `enqueue` sets, for `enqueued`.
_ENQUEUED = "target_app.outbox.enqueued"

#: What each event says. Payloads hold ids and amounts only (never user-written text).
TEMPLATES: Mapping[str, str] = {
    "bid_created": "New bid of ${amount} on your job {job_id}.",
    "job_awarded": "You won job {job_id} (bid {bid_id}).",
    "message_posted": "New message in thread {thread_id}.",
}


def enqueue(
    session: Session,
    *,
    event: str,
    recipient_id: int,
    payload: Mapping[str, Any],
    channels: Iterable[str] = CHANNELS,
) -> list[OutboxMessage]:
    """Add a notification to the caller's transaction (one row per channel); no commit here."""
    if event not in TEMPLATES:
        raise ValueError(f"unknown event {event!r}; one of {sorted(TEMPLATES)}")
    TEMPLATES[event].format(**payload)  # fail now, in the request, not later in the worker
    rows = []
    now = utcnow()
    for channel in channels:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; one of {CHANNELS}")
        rows.append(
            OutboxMessage(
                channel=channel,
                event=event,
                recipient_id=recipient_id,
                payload=json.dumps(dict(payload), sort_keys=True),
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
    session.add_all(rows)
    session.info[_ENQUEUED] = True
    return rows


def enqueued(session: Session) -> bool:
    """True when `enqueue` added notifications to ``session`` (so its commit has some due)."""
    return bool(session.info.get(_ENQUEUED))


def render(message: OutboxMessage) -> str:
    """The text of a message."""
    return TEMPLATES[message.event].format(**json.loads(message.payload))


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one delivery attempt."""

    message_id: int
    delivered: bool
    error: str | None = None


class OutboxWorker:
    """Delivers due outbox messages; `run` loops until stopped, `run_once` does one batch."""

    def __init__(
        self,
        session_factory: SessionFactory,
        senders: Mapping[str, Sender],
        breakers: Mapping[str, CircuitBreaker],
        *,
        batch_size: int = 100,
        poll_s: float = 0.5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        lease_s: float = 60.0,
        now: Now = utcnow,
    ) -> None:
        missing = [c for c in CHANNELS if c not in senders or c not in breakers]
        if missing:
            raise ValueError(f"no sender or breaker for channels {missing}")
        if batch_size < 1 or poll_s <= 0 or backoff_base_s <= 0 or lease_s <= 0:
            raise ValueError(
                f"batch_size={batch_size}, poll_s={poll_s}, backoff_base_s={backoff_base_s}, "
                f"lease_s={lease_s}: all must be positive"
            )
        self._sessions = session_factory
        self._senders = senders
        self._breakers = breakers
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self._now = now
        self._owner = secrets.token_hex(8)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivered_total = 0
        self.failed_total = 0

    def backoff_s(self, attempts: int) -> float:
        """Wait before attempt ``attempts + 1``: doubling from ``backoff_base_s``, capped."""
        return float(min(self.backoff_max_s, self.backoff_base_s * 2 ** max(0, attempts - 1)))

    # --- database work (runs in a thread) ------------------------------------------------------

    def _claim(self) -> list[OutboxMessage]:
        now = self._now()
        due = (
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        with self._sessions() as session, session.begin():
            ids = list(
                session.scalars(
                    select(OutboxMessage.id)
                    .where(*due)
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(self.batch_size)
                )
            )
            if not ids:
                return []
            # Re-checking the condition in the UPDATE makes the claim safe against a worker
            # that selected the same ids a moment earlier: only one of them gets each row.
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), *due)
                .values(lease_owner=self._owner, lease_until=now + timedelta(seconds=self.lease_s))
            )
        with self._sessions() as session:
            claimed = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.id.in_(ids), OutboxMessage.lease_owner == self._owner
                )
            )
            return list(claimed)

    def _finish(self, messages: Sequence[OutboxMessage], attempts: Sequence[Attempt]) -> None:
        now = self._now()
        by_id = {m.id: m for m in messages}
        with self._sessions() as session, session.begin():
            for attempt in attempts:
                tried = by_id[attempt.message_id].attempts + 1
                values: dict[str, Any] = {
                    "attempts": tried,
                    "lease_owner": None,
                    "lease_until": None,
                }
                if attempt.delivered:
                    values.update(delivered_at=now, last_error=None)
                else:
                    retry_at = now + timedelta(seconds=self.backoff_s(tried))
                    values.update(next_attempt_at=retry_at, last_error=(attempt.error or "")[:300])
                session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == attempt.message_id,
                        OutboxMessage.lease_owner == self._owner,
                    )
                    .values(**values)
                )

    def pending(self) -> int:
        """Messages not yet delivered (for ``/health/ready`` and tests)."""
        with self._sessions() as session:
            count = session.scalar(select(func.count()).where(OutboxMessage.delivered_at.is_(None)))
            return int(count or 0)

    # --- delivery ------------------------------------------------------------------------------

    async def _deliver(self, message: OutboxMessage) -> Attempt:
        breaker = self._breakers[message.channel]
        sender = self._senders[message.channel]
        try:
            await breaker.call(
                sender, f"outbox-{message.id}", f"user:{message.recipient_id}", render(message)
            )
        except Exception as exc:  # every failure is retried later; the reason is kept
            return Attempt(message.id, False, f"{type(exc).__name__}: {exc}")
        return Attempt(message.id, True)

    async def run_once(self) -> list[Attempt]:
        """Claim one batch of due messages, try each, record the outcomes."""
        messages = await asyncio.to_thread(self._claim)
        if not messages:
            return []
        attempts = await asyncio.gather(*(self._deliver(m) for m in messages))
        await asyncio.to_thread(self._finish, messages, attempts)
        delivered = sum(a.delivered for a in attempts)
        self.delivered_total += delivered
        self.failed_total += len(attempts) - delivered
        return list(attempts)

    def nudge(self) -> None:
        """Wake the loop now (after a commit that enqueued something), instead of at the poll.

        Safe to call from any thread, such as the thread-pool threads synchronous routes run in.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a failing database only delays the next round."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                attempts = await self.run_once()
            except Exception:
                logger.warning(
                    "outbox round failed; retrying in %.1f s", self.poll_s, exc_info=True
                )
                attempts = []
            if len(attempts) >= self.batch_size:
                continue  # more may be due right now
            self._wake.clear()
            waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
