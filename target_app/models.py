"""The data model: every table of the service, on one declarative ``Base``.

The marketplace: territories, users, jobs, bids, message threads and messages. The records of
the resilience features (``target_app/resilience/``), which commit in the same transactions as
the marketplace's changes:

* ``outbox_messages``: notifications written with the change that caused them, delivered later
  by the `OutboxWorker` (``resilience/outbox.py``);
* ``idempotency_keys``: the response of each write made with an ``Idempotency-Key``, stored in
  the write's own transaction (``resilience/idempotency.py``);
* ``payment_holds``: one row per award, ``held`` or ``pending`` (the payments provider was
  unavailable; the `PaymentSettler` retries) (``resilience/payments.py``).

Tables are declared with SQLAlchemy 2 typed mappings. The marketplace's indexes live in
``core/schema.py``, not here, because several of them differ by backend (partial indexes,
covering ``INCLUDE``, full-text search) and the seeder creates them *after* its bulk load; the
resilience tables' one index each is declared with the table. Every table has an integer ``id``
primary key (the seeder moves every table's ``id`` sequence past its rows on PostgreSQL);
natural keys are unique constraints.

Money is whole US dollars in integers (budgets and bids are quotes, not ledger entries).
Timestamps are timezone-aware UTC. Status columns are short strings checked by constraints,
so both backends store them the same way and the partial-index predicates stay portable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of time stored)."""
    return datetime.now(UTC)


class Role(enum.StrEnum):
    """What a user is on the marketplace."""

    homeowner = "homeowner"
    contractor = "contractor"
    operator = "operator"


class Tier(enum.StrEnum):
    """Subscription tier; ``pro`` contractors get higher rate limits and ranking."""

    free = "free"
    pro = "pro"


class JobStatus(enum.StrEnum):
    """Life of a job: open for bids, awarded to one bid, or closed without award."""

    open = "open"
    awarded = "awarded"
    closed = "closed"


class BidStatus(enum.StrEnum):
    """Life of a bid: active until withdrawn, accepted (the award) or rejected."""

    active = "active"
    withdrawn = "withdrawn"
    accepted = "accepted"
    rejected = "rejected"


class TZDateTime(TypeDecorator[datetime]):
    """A UTC timestamp that always comes back timezone-aware.

    SQLite has no time zones: values are stored as naive UTC text (whose order is time order,
    which keyset pagination relies on) and get their ``tzinfo`` back when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


#: Channels an outbox notification is delivered on.
CHANNELS = ("sms", "email")
#: States of a payment hold: not placed yet (retried), or placed.
PAYMENT_STATUSES = ("pending", "held")


def _in(column: str, values: Iterable[str]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


def _partial_index(name: str, column: str, where: str) -> Index:
    """An index of the rows ``where`` holds for, on SQLite and PostgreSQL alike."""
    return Index(name, column, sqlite_where=text(where), postgresql_where=text(where))


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Territory(Base):
    """A market area; every user and job belongs to one."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2))


class User(Base):
    """A homeowner, contractor or operator account."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", Role), name="ck_users_role"),
        CheckConstraint(_in("tier", Tier), name="ck_users_tier"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(8), default=Tier.free.value)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territories.id"))
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    """Contractors only: accepting new work."""
    referred_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Job(Base):
    """Work a homeowner wants done, open for bids from contractors."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JobStatus), name="ck_jobs_status"),
        CheckConstraint("budget >= 0", name="ck_jobs_budget"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    homeowner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    territory_id: Mapped[int] = mapped_column(ForeignKey("territories.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    budget: Mapped[int] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.open.value)
    awarded_bid_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Bid(Base):
    """A contractor's offer on a job."""

    __tablename__ = "bids"
    __table_args__ = (
        CheckConstraint(_in("status", BidStatus), name="ck_bids_status"),
        CheckConstraint("amount >= 0", name="ck_bids_amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    contractor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=BidStatus.active.value)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Thread(Base):
    """A conversation between a job's homeowner and one contractor about that job."""

    __tablename__ = "threads"
    __table_args__ = (
        UniqueConstraint("job_id", "contractor_id", name="uq_threads_job_contractor"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"))
    homeowner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    contractor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Message(Base):
    """One message in a thread."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class OutboxMessage(Base):
    """A notification waiting to be (or already) delivered on one channel."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_outbox_channel"),
        # The worker's only query: undelivered messages that are due, oldest first.
        _partial_index("idx_outbox_due", "next_attempt_at", "delivered_at IS NULL"),
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
    # The unique pair is also the lock between concurrent duplicates (resilience/idempotency.py).
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
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="ck_payment_holds_status"),
        _partial_index("idx_payment_holds_pending", "next_attempt_at", "status = 'pending'"),
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
