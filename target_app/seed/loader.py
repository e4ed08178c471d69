"""Fill an empty database from a `SeedPlan`, fast and deterministically.

Rows are generated in order by pure functions of the plan and its random seed, and written
with SQLAlchemy Core ``executemany`` in batches, inside one transaction. Secondary indexes
(and the full-text table) are built *after* the load: maintaining 20 indexes row by row costs
several times more than building each once from sorted data.

Timestamps are relative to ``now`` (default: the moment seeding starts), so "the last 30
days" always has data; everything else is identical for the same plan and seed.

One precomputed scrypt hash of ``launch-day-password`` (with a salt derived from the seed) is
shared by every synthetic account: hashing 400,000 passwords would take hours, and every
account still goes through the real verification at login.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, Table, create_engine, event, insert, text
from sqlalchemy.engine import Engine

from target_app.core.errors import SeedError
from target_app.core.schema import create_indexes, create_tables, current_version
from target_app.core.security import hash_password
from target_app.models import Base, BidStatus, JobStatus, Role, Tier
from target_app.seed.content import MESSAGES, METROS, display_name, job_text
from target_app.seed.plan import SEED_PASSWORD, SeedPlan, seed_email

BATCH = 20_000
MAX_BID_SPAN = timedelta(days=2)
Row = dict[str, Any]


@dataclass(slots=True)
class SeedReport:
    """What a seeding run wrote and how long it took."""

    plan: SeedPlan
    rows: dict[str, int] = field(default_factory=dict)
    load_s: float = 0.0
    index_s: float = 0.0

    @property
    def total_s(self) -> float:
        """Loading plus indexing, seconds."""
        return self.load_s + self.index_s


def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # A failed seed is simply rerun, so durability during the load buys nothing.
    for pragma in (
        "journal_mode=WAL",
        "synchronous=OFF",
        "cache_size=-262144",
        "temp_store=MEMORY",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _bulk_pragmas)
    return engine


def seed_database(
    url: str, plan: SeedPlan, *, now: datetime | None = None, reset: bool = False
) -> SeedReport:
    """Create the schema at ``url`` and fill it as ``plan`` says. Returns a `SeedReport`.

    The database must be empty (or ``reset=True``, which drops every table of ours first).
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    report = SeedReport(plan)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if current_version(conn) is not None:
                if not reset:
                    raise SeedError(repr(engine.url), "already has a schema; pass reset=True")
                _drop_all(conn)
        started = time.perf_counter()
        with engine.begin() as conn:
            create_tables(conn)
            _load(conn, plan, now, report)
        report.load_s = time.perf_counter() - started
        started = time.perf_counter()
        with engine.begin() as conn:
            create_indexes(conn)
            if conn.dialect.name == "postgresql":
                _advance_sequences(conn)
        report.index_s = time.perf_counter() - started
    finally:
        engine.dispose()
    return report


def _drop_all(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in ("jobs_fts_insert", "jobs_fts_delete", "jobs_fts_update"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    conn.execute(text("DROP TABLE IF EXISTS idx_jobs_fulltext_search"))
    conn.execute(text("DROP TABLE IF EXISTS schema_version"))
    Base.metadata.drop_all(conn)


def _advance_sequences(conn: Connection) -> None:
    # Ids were given explicitly; move each serial sequence past them for later inserts.
    # (Table names come from our own metadata, never from input.)
    for name in (table.name for table in Base.metadata.sorted_tables):
        highest = f"coalesce((SELECT max(id) FROM {name}), 0) + 1"  # noqa: S608
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {highest}, false)")
        )


def _write(conn: Connection, table: Table, rows: Iterator[Row], report: SeedReport) -> None:
    batch: list[Row] = []
    written = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            conn.execute(insert(table), batch)
            written += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        written += len(batch)
    report.rows[table.name] = written


def _load(conn: Connection, plan: SeedPlan, now: datetime, report: SeedReport) -> None:
    tables = Base.metadata.tables
    salt = sha256(f"target_app-seed-{plan.seed}".encode()).digest()[:16]
    password_hash = hash_password(SEED_PASSWORD, salt=salt)
    _write(conn, tables["territories"], _territories(plan), report)
    _write(conn, tables["users"], _users(plan, now, password_hash), report)
    jobs: list[tuple[datetime, int]] = []  # (created_at, budget) per job, reused below
    _write(conn, tables["jobs"], _jobs(plan, now, jobs), report)
    bid_times: dict[tuple[int, int], datetime] = {}
    _write(conn, tables["bids"], _bids(plan, now, jobs, bid_times), report)
    _write(conn, tables["threads"], _threads(plan, now, bid_times), report)
    _write(conn, tables["messages"], _messages(plan, now, bid_times), report)


def _territories(plan: SeedPlan) -> Iterator[Row]:
    for i in range(plan.territories):
        city, state = METROS[i % len(METROS)]
        suffix = f" {i // len(METROS) + 1}" if i >= len(METROS) else ""
        yield {"id": i + 1, "code": f"T{i + 1:03d}", "name": city + suffix, "state": state}


def _users(plan: SeedPlan, now: datetime, password_hash: str) -> Iterator[Row]:
    rng = random.Random(f"{plan.seed}-users")
    blocks = (
        (Role.homeowner, plan.homeowners, plan.homeowner_id),
        (Role.contractor, plan.contractors, plan.contractor_id),
        (Role.operator, plan.operators, plan.operator_id),
    )
    for role, count, id_of in blocks:
        for n in range(count):
            contractor = role == Role.contractor
            referred = id_of(n // 10) if role != Role.operator and n >= 10 and n % 10 == 3 else None
            yield {
                "id": id_of(n),
                "email": seed_email(role.value, n),
                "password_hash": password_hash,
                "display_name": display_name(rng),
                "role": role.value,
                "tier": (Tier.pro if contractor and n % 5 == 0 else Tier.free).value,
                "territory_id": plan.territory_of(n),
                "available": contractor and n % 3 != 2,
                "referred_by": referred,
                "created_at": now - timedelta(days=30 + rng.random() * 335),
            }


def _jobs(plan: SeedPlan, now: datetime, out: list[tuple[datetime, int]]) -> Iterator[Row]:
    rng = random.Random(f"{plan.seed}-jobs")
    spacing = timedelta(days=30) / max(plan.jobs, 1)
    for j in range(plan.jobs):
        category, title, description, budget = job_text(rng)
        created = now - spacing * (j + rng.random())
        owner = plan.job_owner(j)
        status = (
            JobStatus.open
            if plan.job_is_open(j)
            else (JobStatus.closed if j % 3 == 0 else JobStatus.awarded)
        )
        if status == JobStatus.awarded and plan.bids_per_job == 0:
            status = JobStatus.closed  # nothing to award without bids
        awarded = status == JobStatus.awarded
        out.append((created, budget))
        yield {
            "id": j + 1,
            "homeowner_id": plan.homeowner_id(owner),
            "territory_id": plan.territory_of(owner),
            "title": title,
            "description": description,
            "category": category.value,
            "budget": budget,
            "urgent": j % 7 == 0,
            "status": status.value,
            "awarded_bid_id": j * plan.bids_per_job + 1 if awarded else None,
            "created_at": created,
            "updated_at": created,
        }


def _bid_status(plan: SeedPlan, j: int, k: int) -> BidStatus:
    if plan.job_is_open(j):
        last = k == plan.bids_per_job - 1 and j % 4 == 1
        return BidStatus.withdrawn if last else BidStatus.active
    if j % 3 == 0:  # closed without award
        return BidStatus.rejected
    return BidStatus.accepted if k == 0 else BidStatus.rejected


def _bids(
    plan: SeedPlan,
    now: datetime,
    jobs: list[tuple[datetime, int]],
    times: dict[tuple[int, int], datetime],
) -> Iterator[Row]:
    rng = random.Random(f"{plan.seed}-bids")
    per_job = plan.bids_per_job
    for j, (created, budget) in enumerate(jobs):
        span = min(now - created, MAX_BID_SPAN)
        for k in range(per_job):
            at = created + span * ((k + rng.random()) / (per_job + 1))
            if j * per_job + k < plan.threads or k == 0:
                times[(j, k)] = at
            yield {
                "id": j * per_job + k + 1,
                "job_id": j + 1,
                "contractor_id": plan.contractor_id(plan.bidder(j, k)),
                "amount": max(0, round(budget * rng.uniform(0.7, 1.3))),
                "message": "I can start next week." if k % 2 else "Licensed and insured.",
                "status": _bid_status(plan, j, k).value,
                "created_at": at,
                "updated_at": at,
            }


@dataclass(frozen=True, slots=True)
class _Conversation:
    """Seeded thread ``t`` (0-based): about job ``job`` (0-based), between its owner and one
    of its bidders, opened when that bid was made."""

    t: int
    job: int
    homeowner_id: int
    contractor_id: int
    opened: datetime


def _conversations(
    plan: SeedPlan, bid_times: dict[tuple[int, int], datetime]
) -> Iterator[_Conversation]:
    """Every seeded thread: thread t is about job t % jobs with that job's bidder t // jobs."""
    for t in range(plan.threads):
        j, k = t % plan.jobs, t // plan.jobs
        homeowner = plan.homeowner_id(plan.job_owner(j))
        contractor = plan.contractor_id(plan.bidder(j, k))
        yield _Conversation(t, j, homeowner, contractor, bid_times[(j, k)])


def _threads(
    plan: SeedPlan, now: datetime, bid_times: dict[tuple[int, int], datetime]
) -> Iterator[Row]:
    per = plan.messages_per_thread
    for talk in _conversations(plan, bid_times):
        opened = talk.opened
        yield {
            "id": talk.t + 1,
            "job_id": talk.job + 1,
            "homeowner_id": talk.homeowner_id,
            "contractor_id": talk.contractor_id,
            "created_at": opened,
            "last_message_at": opened + (now - opened) * (per / (per + 1)) if per else opened,
        }


def _messages(
    plan: SeedPlan, now: datetime, bid_times: dict[tuple[int, int], datetime]
) -> Iterator[Row]:
    per = plan.messages_per_thread
    for talk in _conversations(plan, bid_times):
        for m in range(per):
            yield {
                "id": talk.t * per + m + 1,
                "thread_id": talk.t + 1,
                "sender_id": talk.contractor_id if m % 2 == 0 else talk.homeowner_id,
                "body": MESSAGES[m % len(MESSAGES)],
                "created_at": talk.opened + (now - talk.opened) * ((m + 1) / (per + 1)),
            }
