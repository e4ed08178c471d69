"""SQL shared by several routes: literal predicates, bid counts, locking loads.

Why literals: a partial index (``WHERE status = 'open'``) can serve a query only if the
query's own ``WHERE`` repeats the predicate with the same constant. A bound parameter
(``status = ?``) hides the value from SQLite's planner and from PostgreSQL's generic plans, so
status and boolean filters are rendered inline. Only values from our own enums are inlined,
never user text. A bare boolean column (``.where(Job.urgent)``) already renders as each index
spells it: ``urgent = 1`` on SQLite, ``urgent`` on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from target_app.models import Bid, BidStatus, Job


def is_value(column: InstrumentedAttribute[str], value: StrEnum) -> ColumnElement[bool]:
    """``column = '<value>'`` with the enum value inlined (see the module docstring)."""
    return column == literal_column(f"'{value.value}'")


def bid_counts(session: Session, job_ids: Iterable[int]) -> dict[int, int]:
    """Bids received per job, withdrawn ones excluded (index-only on idx_bids_job_count)."""
    ids = list(job_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Bid.job_id, func.count())
        .where(Bid.job_id.in_(ids), Bid.status != literal_column(f"'{BidStatus.withdrawn.value}'"))
        .group_by(Bid.job_id)
    )
    return {job_id: count for job_id, count in rows}


def load_job(session: Session, job_id: int, *, lock: str | None = None) -> Job | None:
    """The job, optionally locked: ``"update"`` (FOR UPDATE) or ``"share"`` (FOR SHARE).

    Locks matter on PostgreSQL only; SQLite's ``BEGIN IMMEDIATE`` already serializes writers.
    """
    statement = select(Job).where(Job.id == job_id)
    if lock == "update":
        statement = statement.with_for_update()
    elif lock == "share":
        statement = statement.with_for_update(read=True)
    return session.execute(statement).scalar_one_or_none()


def load_bid(session: Session, bid_id: int, *, lock: bool = False) -> Bid | None:
    """The bid, locked FOR UPDATE when asked."""
    statement = select(Bid).where(Bid.id == bid_id)
    if lock:
        statement = statement.with_for_update()
    return session.execute(statement).scalar_one_or_none()
