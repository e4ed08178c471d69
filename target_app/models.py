"""The data model: territories, users, jobs, bids, message threads and messages.

Tables are declared with SQLAlchemy 2 typed mappings. Indexes live in ``core/schema.py``,
not here, because several of them differ by backend (partial indexes, covering ``INCLUDE``,
full-text search) and the seeder creates them *after* its bulk load.

Money is whole US dollars in integers (budgets and bids are quotes, not ledger entries).
Timestamps are timezone-aware UTC. Status columns are short strings checked by constraints,
so both backends store them the same way and the partial-index predicates stay portable.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
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


def _in(column: str, enum_type: type[enum.StrEnum]) -> str:
    values = ", ".join(f"'{member.value}'" for member in enum_type)
    return f"{column} IN ({values})"


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
