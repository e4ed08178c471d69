"""Operator views: the marketplace dashboard and one territory's metrics (last 30 days)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from target_app.api.deps import OperatorUser, StateDep, TerritoryId
from target_app.api.queries import is_value
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.errors import NotFound
from target_app.core.problems import responses
from target_app.models import Bid, Job, Role, Territory, Tier, User, utcnow
from target_app.schemas import Dashboard, TerritoryMetrics

router = APIRouter(prefix="/operator", tags=["operator"], route_class=ServiceRoute)

WINDOW_DAYS = 30
_BUCKETS = ("0", "1", "2", "3", "4", "5+")


@router.get("/dashboard", response_model=Dashboard)
def dashboard(state: StateDep, caller: OperatorUser) -> Response:
    """Users by role; jobs posted in the last 30 days by status, their bids; busiest territories."""
    return state.reads.session("GET /operator/dashboard", caller.user_id, _dashboard)


def _dashboard(session: Session) -> Response:
    since = utcnow() - timedelta(days=WINDOW_DAYS)
    recent = Job.created_at >= since
    users = dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())
    jobs = dict(
        session.execute(select(Job.status, func.count()).where(recent).group_by(Job.status)).all()
    )
    bids = session.execute(
        select(func.count()).select_from(Bid).join(Job, Bid.job_id == Job.id).where(recent)
    ).scalar_one()
    busiest = session.execute(
        select(Job.territory_id, func.count().label("jobs"))
        .where(recent)
        .group_by(Job.territory_id)
        .order_by(func.count().desc(), Job.territory_id)
        .limit(5)
    ).all()
    return json_response(
        Dashboard(
            days=WINDOW_DAYS,
            users_by_role={role.value: users.get(role.value, 0) for role in Role},
            jobs_by_status=jobs,
            jobs_posted=sum(jobs.values()),
            bids=bids,
            busiest_territories=[{"territory_id": t, "jobs": n} for t, n in busiest],
        )
    )


@router.get(
    "/territories/{territory_id}/metrics", response_model=TerritoryMetrics, responses=responses(404)
)
def territory_metrics(territory_id: TerritoryId, state: StateDep, caller: OperatorUser) -> Response:
    """Jobs, bids, bids per job and the median time to a first bid in one territory."""
    endpoint = "GET /operator/territories/{territory_id}/metrics"
    return state.reads.session(
        endpoint, caller.user_id, lambda session: _territory_metrics(session, territory_id)
    )


def _territory_metrics(session: Session, territory_id: int) -> Response:
    since = utcnow() - timedelta(days=WINDOW_DAYS)
    if session.get(Territory, territory_id) is None:
        raise NotFound(f"No territory {territory_id}.")
    jobs = session.execute(
        select(Job.id, Job.status, Job.created_at).where(
            Job.territory_id == territory_id, Job.created_at >= since
        )
    ).all()
    job_ids = select(Job.id).where(Job.territory_id == territory_id, Job.created_at >= since)
    per_job = session.execute(
        select(Bid.job_id, func.count(), func.min(Bid.created_at))
        .where(Bid.job_id.in_(job_ids))
        .group_by(Bid.job_id)
    ).all()
    in_territory = (is_value(User.role, Role.contractor), User.territory_id == territory_id)
    contractors = session.execute(
        select(func.count()).select_from(User).where(*in_territory)
    ).scalar_one()
    available = session.execute(
        select(func.count()).select_from(User).where(*in_territory, User.available)
    ).scalar_one()
    pro = session.execute(
        select(func.count())
        .select_from(User)
        .where(User.territory_id == territory_id, is_value(User.tier, Tier.pro))
    ).scalar_one()
    created = {job.id: job.created_at for job in jobs}
    counts = {job_id: count for job_id, count, _ in per_job}
    waits = [(first - created[job_id]).total_seconds() for job_id, _, first in per_job]
    distribution = Counter(_BUCKETS[min(counts.get(job_id, 0), 5)] for job_id in created)
    by_status = Counter(job.status for job in jobs)
    total_bids = sum(counts.values())
    return json_response(
        TerritoryMetrics(
            territory_id=territory_id,
            days=WINDOW_DAYS,
            jobs_by_status=dict(by_status),
            jobs_posted=len(jobs),
            bids=total_bids,
            bids_per_job=round(total_bids / len(jobs), 3) if jobs else 0.0,
            bid_count_distribution={bucket: distribution.get(bucket, 0) for bucket in _BUCKETS},
            median_time_to_first_bid_s=statistics.median(waits) if waits else None,
            contractors=contractors,
            available_contractors=available,
            pro_contractors=pro,
        )
    )
