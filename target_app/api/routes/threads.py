"""Message threads between a job's homeowner and a contractor, and their messages.

Only the two participants see a thread; to anyone else it does not exist (404).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from target_app.api.deps import AppState, IdempotentWriteDep, ParticipantUser, StateDep, ThreadId
from target_app.api.pagination import (
    Cursor,
    PageSize,
    cut_page,
    decode_time_cursor,
    newest_by_id,
)
from target_app.api.queries import load_job
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.errors import BadRequest, Forbidden, NotFound
from target_app.core.problems import responses
from target_app.core.security import Principal
from target_app.models import Message, Role, Thread, User, utcnow
from target_app.schemas import MessageCreate, MessageOut, Page, ThreadCreate, ThreadOut

router = APIRouter(tags=["threads"], route_class=ServiceRoute)


def _thread_out(thread: Thread) -> ThreadOut:
    return ThreadOut.model_validate(thread, from_attributes=True)


def _participant_thread(session: Session, thread_id: int, caller: Principal) -> Thread:
    thread = session.get(Thread, thread_id)
    if thread is None or caller.user_id not in (thread.homeowner_id, thread.contractor_id):
        raise NotFound(f"No thread {thread_id} of yours.")
    return thread


@router.get("/threads", response_model=Page[ThreadOut], responses=responses(400))
def list_threads(
    state: StateDep, caller: ParticipantUser, page_size: PageSize = 20, cursor: Cursor = None
) -> Response:
    """The caller's threads, most recently active first."""
    side = Thread.homeowner_id if caller.role == Role.homeowner else Thread.contractor_id
    statement = select(Thread).where(side == caller.user_id)
    if cursor is not None:
        after_time, after_id = decode_time_cursor(cursor)
        statement = statement.where(
            tuple_(Thread.last_message_at, Thread.id) < tuple_(after_time, after_id)
        )
    statement = statement.order_by(Thread.last_message_at.desc(), Thread.id.desc())
    threads = state.reads.session(
        "GET /threads",
        caller.user_id,
        lambda session: list(session.execute(statement.limit(page_size + 1)).scalars()),
    )
    page, next_cursor = cut_page(threads, page_size, lambda t: (t.last_message_at, t.id))
    return json_response(
        Page[ThreadOut](items=[_thread_out(t) for t in page], next_cursor=next_cursor)
    )


@router.post(
    "/threads",
    response_model=ThreadOut,
    status_code=201,
    responses={
        200: {"description": "The thread already existed.", "model": ThreadOut},
        **responses(400, 403, 404, 409),
    },
)
def open_thread(body: ThreadCreate, state: StateDep, caller: ParticipantUser) -> Response:
    """Open (or find) the thread about a job between its homeowner and a contractor.

    A contractor names the job only; the job's owner names the contractor as well. 201 when
    created, 200 with the existing thread when there already is one.
    """
    with state.db.write_session() as session:
        job = load_job(session, body.job_id)
        if job is None:
            raise NotFound(f"No job {body.job_id}.")
        if caller.role == Role.contractor:
            if body.contractor_id not in (None, caller.user_id):
                raise Forbidden("A contractor opens threads for themselves only.")
            contractor_id = caller.user_id
        else:
            if job.homeowner_id != caller.user_id:
                raise Forbidden(f"Job {job.id} is not yours.")
            if body.contractor_id is None:
                raise BadRequest("Name the `contractor_id` to talk to.")
            contractor = session.get(User, body.contractor_id)
            if contractor is None or contractor.role != Role.contractor:
                raise NotFound(f"No contractor {body.contractor_id}.")
            contractor_id = contractor.id
        key = (Thread.job_id == job.id, Thread.contractor_id == contractor_id)
        existing = session.execute(select(Thread).where(*key)).scalar_one_or_none()
        if existing is not None:
            return json_response(_thread_out(existing), 200)
        now = utcnow()
        try:
            # A savepoint, so that losing a race leaves the transaction usable (PostgreSQL).
            with session.begin_nested():
                thread_id = session.execute(
                    insert(Thread)
                    .values(
                        job_id=job.id,
                        homeowner_id=job.homeowner_id,
                        contractor_id=contractor_id,
                        created_at=now,
                        last_message_at=now,
                    )
                    .returning(Thread.id)
                ).scalar_one()
        except IntegrityError:
            existing = session.execute(select(Thread).where(*key)).scalar_one_or_none()
            if existing is None:
                # Not a lost race: a row the thread refers to is gone (a deleted account's
                # token still being valid). The handler answers 409.
                raise
            return json_response(_thread_out(existing), 200)
        session.commit()
        thread = session.get(Thread, thread_id)
        assert thread is not None
        return json_response(_thread_out(thread), 201, {"Location": f"/threads/{thread_id}"})


@router.get(
    "/threads/{thread_id}/messages", response_model=Page[MessageOut], responses=responses(400, 404)
)
def list_messages(
    thread_id: ThreadId,
    state: StateDep,
    caller: ParticipantUser,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> Response:
    """A thread's messages, newest first (participants only)."""
    with state.db.read_session() as session:
        _participant_thread(session, thread_id, caller)
        statement = select(Message).where(Message.thread_id == thread_id)
        rows = list(session.scalars(newest_by_id(statement, Message.id, page_size, cursor)))
        page, next_cursor = cut_page(rows, page_size, lambda message: (message.id, message.id))
        items = [MessageOut.model_validate(m, from_attributes=True) for m in page]
    return json_response(Page[MessageOut](items=items, next_cursor=next_cursor))


@router.post(
    "/threads/{thread_id}/messages",
    response_model=MessageOut,
    status_code=201,
    responses=responses(404),
)
def post_message(
    thread_id: ThreadId,
    body: MessageCreate,
    state: StateDep,
    caller: ParticipantUser,
    write: IdempotentWriteDep,
) -> Response:
    """Post a message to a thread you take part in."""
    now = utcnow()
    claim = write.claim(caller.user_id, {"thread_id": thread_id, **body.model_dump(mode="json")})
    return write.run(
        claim, lambda session: _insert_message(session, state, caller, thread_id, body, now)
    )


def _insert_message(
    session: Session,
    state: AppState,
    caller: Principal,
    thread_id: int,
    body: MessageCreate,
    now: datetime,
) -> Response:
    thread = _participant_thread(session, thread_id, caller)
    message_id = session.execute(
        insert(Message)
        .values(thread_id=thread_id, sender_id=caller.user_id, body=body.body, created_at=now)
        .returning(Message.id)
    ).scalar_one()
    session.execute(update(Thread).where(Thread.id == thread_id).values(last_message_at=now))
    out = MessageOut(
        id=message_id, thread_id=thread_id, sender_id=caller.user_id, body=body.body, created_at=now
    )
    to = thread.contractor_id if caller.user_id == thread.homeowner_id else thread.homeowner_id
    state.resilience.notify(session, "message_posted", to, {"thread_id": thread_id})
    return json_response(out, 201)
