"""Jobs: the job board (search, filters, pages), posting, editing and awarding."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import Connection, insert, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from target_app.api.deps import (
    AnyUser,
    AppState,
    HomeownerUser,
    IdempotentWriteDep,
    JobId,
    StateDep,
)
from target_app.api.direct_route import DirectRoute
from target_app.api.job_search import (
    JobQuery,
    Shape,
    fts_query,
    search_page,
    search_page_on_loop,
    search_terms,
)
from target_app.api.pagination import decode_time_cursor
from target_app.api.queries import bid_counts, is_value, load_bid, load_job
from target_app.api.routing import JSON, ServiceRoute, json_response
from target_app.core.cost import cpu_accounted, cpu_segment
from target_app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from target_app.core.loop_reader import LoopReader
from target_app.core.problems import responses
from target_app.core.security import Principal
from target_app.models import Bid, BidStatus, Job, JobStatus, Role, utcnow
from target_app.resilience.read_cache import ALL_SCOPE
from target_app.schemas import (
    AwardRequest,
    Category,
    JobCreate,
    JobDetail,
    JobSummary,
    JobUpdate,
    Page,
)

router = APIRouter(tags=["jobs"], route_class=ServiceRoute)
BOARD = "GET /jobs"


async def list_jobs(
    state: StateDep, caller: AnyUser, query: Annotated[JobQuery, Query()]
) -> Response:
    """Jobs, newest first, filtered; keyset-paginated (pass `next_cursor` back as `cursor`)."""
    reader = state.db.loop_reader
    if reader is not None and query.q is None and state.cache is None and not state.reads.routing:
        # SQLite is a library, not a server: a filtered page is one covering-index range read,
        # cheaper than the hop to a pool thread and back (and the GIL hand-offs it causes). So
        # it runs here, on the event loop, as one measured segment. Full-text searches can take
        # longer and go to the thread pool, as does everything on PostgreSQL, where a query is
        # a network round trip that must not stall the loop. Benchmarks: docs/benchmarks.md,
        # "Service (target_app)".
        with cpu_segment():
            body = _job_page(state, caller, query, reader)
    else:
        body = await run_in_threadpool(cpu_accounted(_job_page), state, caller, query)
    return Response(body, media_type=JSON)


# Registered by hand for its route class: FastAPI's per-request dependency resolution costs
# several times the work it resolves on this, the hottest request (see api/direct_route.py).
router.add_api_route(
    "/jobs",
    list_jobs,
    methods=["GET"],
    response_model=Page[JobSummary],
    responses=responses(400, 503),
    route_class_override=DirectRoute,
)


def _job_page(
    state: AppState, caller: Principal, query: JobQuery, reader: LoopReader | None = None
) -> bytes:
    """The body of ``GET /jobs``: validate the filter combination, run the search."""
    min_budget, max_budget, mine = query.min_budget, query.max_budget, query.mine
    if min_budget is not None and max_budget is not None and min_budget > max_budget:
        raise BadRequest(f"min_budget {min_budget} exceeds max_budget {max_budget}.")
    if mine and caller.role != Role.homeowner:
        raise Forbidden("Only homeowners have jobs of their own (`mine=true`).")
    status = query.status
    if status is None and not mine:
        status = JobStatus.open
    territory_id, category, q, cursor = query.territory_id, query.category, query.q, query.cursor
    sqlite = state.db.is_sqlite
    shape = Shape(
        mine=mine,
        territory=territory_id is not None,
        status=status,
        category=category is not None,
        urgent=query.urgent,
        min_budget=min_budget is not None,
        max_budget=max_budget is not None,
        search=q is not None,
        cursor=cursor is not None,
    )
    params: dict[str, object] = {
        "owner": caller.user_id if mine else None,
        "territory": territory_id,
        "category": category.value if category is not None else None,
        "min_budget": min_budget,
        "max_budget": max_budget,
    }
    if q is not None:
        params["fts"] = fts_query(search_terms(q), sqlite)
    if cursor is not None:
        params["after_time"], params["after_id"] = decode_time_cursor(cursor)
    statement_params = {k: v for k, v in params.items() if v is not None}
    if reader is not None:
        # Through the database breaker like every session: refused at once while it is open.
        with state.db.guard():
            engine = state.db.engine
            return search_page_on_loop(reader, engine, shape, statement_params, query.page_size)

    def page(conn: Connection) -> bytes:
        return search_page(conn, shape, statement_params, query.page_size, sqlite)

    reads = state.reads
    if state.cache is not None and not mine and q is None and cursor is None:
        # A first page every caller sees alike: cached per territory (read_cache.py).
        scope = str(territory_id) if territory_id is not None else ALL_SCOPE
        key = f"{status}|{category}|{query.urgent}|{min_budget}|{max_budget}|{query.page_size}"
        return state.cache.page(BOARD, scope, key, lambda: reads.on_primary(BOARD, page))
    return reads.connection(BOARD, caller.user_id, page)


def _detail(session: Session, job: Job) -> JobDetail:
    count = bid_counts(session, [job.id]).get(job.id, 0)
    return JobDetail(
        id=job.id,
        title=job.title,
        category=job.category,
        budget=job.budget,
        urgent=job.urgent,
        status=JobStatus(job.status),
        territory_id=job.territory_id,
        homeowner_id=job.homeowner_id,
        created_at=job.created_at,
        bid_count=count,
        description=job.description,
        awarded_bid_id=job.awarded_bid_id,
        updated_at=job.updated_at,
    )


@router.get("/jobs/{job_id}", response_model=JobDetail, responses=responses(404))
def get_job(job_id: JobId, state: StateDep, _caller: AnyUser) -> Response:
    """One job, with its description and bid count."""
    with state.db.read_session() as session:
        job = load_job(session, job_id)
        if job is None:
            raise NotFound(f"No job {job_id}.")
        return json_response(_detail(session, job))


@router.post("/jobs", response_model=JobDetail, status_code=201)
def create_job(
    body: JobCreate, state: StateDep, caller: HomeownerUser, write: IdempotentWriteDep
) -> Response:
    """Post a job in the caller's territory. 201 with the job and a Location header."""
    now = utcnow()
    claim = write.claim(caller.user_id, body.model_dump(mode="json"))
    # Before the transaction, so that the AI's latency never holds the write lock.
    category = state.resilience.categorize_from_thread(
        body.title, body.description, body.category.value
    )
    response = write.run(
        claim, lambda session: _insert_job(session, caller, body, category.category, now)
    )
    state.board_changed(caller.territory_id)
    return response


def _insert_job(
    session: Session, caller: Principal, body: JobCreate, category: str, now: datetime
) -> Response:
    job_id = session.execute(
        insert(Job)
        .values(
            homeowner_id=caller.user_id,
            territory_id=caller.territory_id,
            title=body.title,
            description=body.description,
            category=category,
            budget=body.budget,
            urgent=body.urgent,
            status=JobStatus.open.value,
            created_at=now,
            updated_at=now,
        )
        .returning(Job.id)
    ).scalar_one()
    job = load_job(session, job_id)
    assert job is not None
    return json_response(_detail(session, job), 201, {"Location": f"/jobs/{job_id}"})


def _owned_open_job(session: Session, job_id: int, caller_id: int) -> Job:
    job = load_job(session, job_id, lock="update")
    if job is None:
        raise NotFound(f"No job {job_id}.")
    if job.homeowner_id != caller_id:
        raise Forbidden(f"Job {job_id} is not yours.")
    if job.status != JobStatus.open:
        raise Conflict(f"Job {job_id} is {job.status}; only open jobs can change.")
    return job


@router.patch("/jobs/{job_id}", response_model=JobDetail, responses=responses(403, 404, 409))
def update_job(job_id: JobId, body: JobUpdate, state: StateDep, caller: HomeownerUser) -> Response:
    """Edit an open job you own; ``status: "closed"`` cancels it (its active bids are rejected)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    now = utcnow()
    with state.db.write_session() as session, session.begin():
        job = _owned_open_job(session, job_id, caller.user_id)
        for field in ("title", "description", "budget", "urgent"):
            if field in changes:
                setattr(job, field, changes[field])
        if "category" in changes:
            job.category = Category(changes["category"]).value
        if changes.get("status") == JobStatus.closed:
            job.status = JobStatus.closed.value
            _reject_active_bids(session, job_id, now)
        job.updated_at = now
        session.flush()
        detail = _detail(session, job)
    state.board_changed(detail.territory_id)
    return json_response(detail)


def _reject_active_bids(
    session: Session, job_id: int, now: datetime, keep: int | None = None
) -> None:
    statement = update(Bid).where(Bid.job_id == job_id, is_value(Bid.status, BidStatus.active))
    if keep is not None:
        statement = statement.where(Bid.id != keep)
    session.execute(statement.values(status=BidStatus.rejected.value, updated_at=now))


@router.post("/jobs/{job_id}/award", response_model=JobDetail, responses=responses(403, 404, 409))
def award_job(
    job_id: JobId,
    body: AwardRequest,
    state: StateDep,
    caller: HomeownerUser,
    write: IdempotentWriteDep,
) -> Response:
    """Accept one active bid on your open job; every other active bid becomes rejected.

    One transaction: the job row is locked first (``FOR UPDATE``; SQLite's ``BEGIN
    IMMEDIATE``), so of two concurrent awards exactly one succeeds and the other gets 409.
    """
    now = utcnow()
    claim = write.claim(caller.user_id, {"job_id": job_id, **body.model_dump(mode="json")})

    def settle_payment(response: Response) -> None:
        # Once committed, try the payment hold; if the provider is down it stays pending.
        response.headers["Payment-Status"] = state.resilience.settle_payment_from_thread(job_id)

    response = write.run(
        claim,
        lambda session: _award(session, state, caller, job_id, body.bid_id, now),
        after_commit=settle_payment,
    )
    # The owner's job is in the owner's territory (POST /jobs puts it there).
    state.board_changed(caller.territory_id)
    return response


def _award(
    session: Session, state: AppState, caller: Principal, job_id: int, bid_id: int, now: datetime
) -> Response:
    job = _owned_open_job(session, job_id, caller.user_id)
    bid = load_bid(session, bid_id, lock=True)
    if bid is None or bid.job_id != job_id:
        raise NotFound(f"No bid {bid_id} on job {job_id}.")
    if bid.status != BidStatus.active:
        raise Conflict(f"Bid {bid.id} is {bid.status}; only an active bid can win.")
    bid.status = BidStatus.accepted.value
    bid.updated_at = now
    session.flush()
    _reject_active_bids(session, job_id, now, keep=bid.id)
    job.status = JobStatus.awarded.value
    job.awarded_bid_id = bid.id
    job.updated_at = now
    session.flush()
    state.resilience.record_award(session, job_id=job_id, bid_id=bid.id, amount=bid.amount)
    award = {"job_id": job_id, "bid_id": bid.id}
    state.resilience.notify(session, "job_awarded", bid.contractor_id, award)
    return json_response(_detail(session, job))
