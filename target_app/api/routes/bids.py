"""Bids: contractors offer on open jobs; owners and operators read them.

Object-level rules: a bid is private to its contractor, the job's owner and operators; anyone
else gets 404 for it (not 403, which would confirm it exists). A contractor changes or
withdraws only an *active* bid of their own on a job that is still open.

The job board shows each job's bid count (withdrawn bids excluded), so a new bid and a
withdrawal make the cached board of the job's territory stale: both raise its version after
they commit (``resilience/read_cache.py``). A changed amount or message shows on no board.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from target_app.api.deps import (
    AppState,
    BidId,
    ContractorUser,
    IdempotentWriteDep,
    JobId,
    OwnerOrOperator,
    StateDep,
)
from target_app.api.pagination import Cursor, PageSize, cut_page, newest_by_id
from target_app.api.queries import is_value, load_bid, load_job
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.errors import Conflict, Forbidden, NotFound
from target_app.core.problems import responses
from target_app.core.security import Principal
from target_app.models import Bid, BidStatus, Job, JobStatus, Role, utcnow
from target_app.schemas import BidCreate, BidOut, BidUpdate, Page

router = APIRouter(tags=["bids"], route_class=ServiceRoute)


def _out(bid: Bid) -> BidOut:
    return BidOut.model_validate(bid, from_attributes=True)


def _page(bids: list[Bid], page_size: int) -> Page[BidOut]:
    page, next_cursor = cut_page(bids, page_size, lambda bid: (bid.id, bid.id))
    return Page[BidOut](items=[_out(b) for b in page], next_cursor=next_cursor)


@router.post(
    "/jobs/{job_id}/bids", response_model=BidOut, status_code=201, responses=responses(404, 409)
)
def create_bid(
    job_id: JobId,
    body: BidCreate,
    state: StateDep,
    caller: ContractorUser,
    write: IdempotentWriteDep,
) -> Response:
    """Bid on an open job. One active bid per contractor per job: a second one is 409."""
    now = utcnow()
    claim = write.claim(caller.user_id, {"job_id": job_id, **body.model_dump(mode="json")})
    territory: list[int] = []  # the job's, once the bid is written (a replay writes nothing)
    try:
        response = write.run(
            claim,
            lambda session: _insert_bid(session, state, caller, job_id, body, now, territory),
        )
    except IntegrityError:
        # A concurrent request inserted first; the partial unique index caught it.
        raise Conflict(_already_bidding(job_id)) from None
    for territory_id in territory:
        state.board_changed(territory_id)  # the job's bid count went up
    return response


def _already_bidding(job_id: int) -> str:
    return f"You already have an active bid on job {job_id}."


def _insert_bid(
    session: Session,
    state: AppState,
    caller: Principal,
    job_id: int,
    body: BidCreate,
    now: datetime,
    territory: list[int],
) -> Response:
    job = load_job(session, job_id, lock="share")
    if job is None:
        raise NotFound(f"No job {job_id}.")
    if job.status != JobStatus.open:
        raise Conflict(f"Job {job_id} is {job.status}; bids are closed.")
    existing = session.execute(
        select(Bid.id).where(
            Bid.job_id == job_id,
            Bid.contractor_id == caller.user_id,
            is_value(Bid.status, BidStatus.active),
        )
    ).first()
    if existing is not None:
        raise Conflict(_already_bidding(job_id))
    bid_id = session.execute(
        insert(Bid)
        .values(
            job_id=job_id,
            contractor_id=caller.user_id,
            amount=body.amount,
            message=body.message,
            status=BidStatus.active.value,
            created_at=now,
            updated_at=now,
        )
        .returning(Bid.id)
    ).scalar_one()
    bid = load_bid(session, bid_id)
    assert bid is not None
    notice = {"job_id": job_id, "amount": body.amount}
    state.resilience.notify(session, "bid_created", job.homeowner_id, notice)
    territory.append(job.territory_id)
    return json_response(_out(bid), 201, {"Location": f"/bids/{bid_id}"})


@router.get("/jobs/{job_id}/bids", response_model=Page[BidOut], responses=responses(400, 403, 404))
def list_job_bids(
    job_id: JobId,
    state: StateDep,
    caller: OwnerOrOperator,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> Response:
    """The bids on a job, newest first: for the job's owner and for operators."""
    with state.db.read_session() as session:
        job = load_job(session, job_id)
        if job is None:
            raise NotFound(f"No job {job_id}.")
        if caller.role == Role.homeowner and job.homeowner_id != caller.user_id:
            raise Forbidden(f"Job {job_id} is not yours.")
        statement = select(Bid).where(Bid.job_id == job_id)
        bids = list(session.scalars(newest_by_id(statement, Bid.id, page_size, cursor)))
        return json_response(_page(bids, page_size))


@router.get("/me/bids", response_model=Page[BidOut], responses=responses(400))
def my_bids(
    state: StateDep,
    caller: ContractorUser,
    status: Annotated[BidStatus | None, Query(description="Only bids in this status.")] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> Response:
    """The caller's bids, newest first."""
    statement = select(Bid).where(Bid.contractor_id == caller.user_id)
    if status is not None:
        statement = statement.where(is_value(Bid.status, status))
    statement = newest_by_id(statement, Bid.id, page_size, cursor)
    with state.db.read_session() as session:
        bids = list(session.scalars(statement))
        return json_response(_page(bids, page_size))


def _own_active_bid(session: Session, bid_id: int, caller_id: int) -> tuple[Bid, Job]:
    """The caller's active bid and its open job, both locked."""
    bid = load_bid(session, bid_id, lock=True)
    if bid is None or bid.contractor_id != caller_id:
        raise NotFound(f"No bid {bid_id} of yours.")
    job = load_job(session, bid.job_id, lock="share")
    if job is None or job.status != JobStatus.open:
        raise Conflict(f"Job {bid.job_id} is no longer open.")
    if bid.status != BidStatus.active:
        raise Conflict(f"Bid {bid_id} is {bid.status}; only an active bid can change.")
    return bid, job


@router.patch("/bids/{bid_id}", response_model=BidOut, responses=responses(404, 409))
def update_bid(bid_id: BidId, body: BidUpdate, state: StateDep, caller: ContractorUser) -> Response:
    """Change the amount or message of your active bid while the job is open."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    with state.db.write_session() as session, session.begin():
        bid, _job = _own_active_bid(session, bid_id, caller.user_id)
        if "amount" in changes:
            bid.amount = changes["amount"]
        if "message" in changes:
            bid.message = changes["message"]
        bid.updated_at = utcnow()
        session.flush()
        out = _out(bid)
    return json_response(out)


@router.delete("/bids/{bid_id}", response_model=BidOut, responses=responses(404, 409))
def withdraw_bid(bid_id: BidId, state: StateDep, caller: ContractorUser) -> Response:
    """Withdraw your active bid while the job is open (kept, with status ``withdrawn``)."""
    with state.db.write_session() as session, session.begin():
        bid, job = _own_active_bid(session, bid_id, caller.user_id)
        bid.status = BidStatus.withdrawn.value
        bid.updated_at = utcnow()
        session.flush()
        out = _out(bid)
        territory_id = job.territory_id
    state.board_changed(territory_id)  # the job's bid count went down
    return json_response(out)
