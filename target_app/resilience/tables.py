"""The tables of the resilience features, on the service's declarative ``Base``.

Importing this module registers them in ``Base.metadata``, so the service's
``Base.metadata.create_all`` (``core/schema.py``) creates them with everything else. Like the
service's tables each has an integer ``id`` primary key (the seeder resets every table's
``id`` sequence on PostgreSQL); the natural keys are unique constraints.

* ``outbox_messages``: notifications written in the same transaction as the change that caused
  them, delivered later by the `OutboxWorker` (``outbox.py``).
* ``idempotency_keys``: the response of each write made with an ``Idempotency-Key``, stored
  in the write's own transaction (``idempotency.py``).
* ``payment_holds``: one row per award, ``held`` or ``pending`` (the payments provider was
  unavailable; the `PaymentSettler` retries) (``payments.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from target_app.models import Base, TZDateTime, utcnow

CHANNELS = ("sms", "email")
PAYMENT_STATUSES = ("pending", "held")


class OutboxMessage(Base):
    """A notification waiting to be (or already) delivered on one channel."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'email')", name="ck_outbox_channel"),
        # The worker's only query: undelivered messages that are due, oldest first.
        Index(
            "idx_outbox_due",
            "next_attempt_at",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    event: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)
    """JSON object describing the event (ids and amounts, never free text from users)."""
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    """A worker that claimed the message owns it until then (then anyone may retry)."""
    delivered_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)


class IdempotencyRecord(Base):
    """The stored outcome of one write made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"
    # The unique pair is also the lock between concurrent duplicates (see idempotency.py).
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the operation and its canonical JSON payload."""
    status_code: Mapped[int] = mapped_column(Integer)
    """0 while the write is in progress (only ever visible inside its own transaction)."""
    headers: Mapped[str] = mapped_column(Text, default="{}")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class PaymentHold(Base):
    """The payment hold of one awarded job."""

    __tablename__ = "payment_holds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'held')", name="ck_payment_holds_status"),
        Index(
            "idx_payment_holds_pending",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(Integer, unique=True)
    bid_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    hold_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
