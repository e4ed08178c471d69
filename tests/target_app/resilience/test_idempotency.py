"""Idempotency-Key: replays, mismatches, concurrent duplicates, and a cut connection."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from target_app.core.config import load_settings
from target_app.core.db import Database
from target_app.core.errors import IdempotencyInFlight
from target_app.models import Base, IdempotencyRecord, OutboxMessage, utcnow
from target_app.resilience.idempotency import (
    Idempotency,
    IdempotentWrite,
    purge_expired,
    request_hash,
)
from target_app.resilience.outbox import enqueue

from .conftest import dev_settings
from .notes_app import NotesBase, build

pytestmark = pytest.mark.anyio

KEY = "cut-1"
SETTINGS = dev_settings(rate_limit_enabled=False)


@pytest.fixture
def notes_db(database: Database) -> Database:
    NotesBase.metadata.create_all(database.engine)
    return database


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://notes")


async def test_a_retry_returns_the_original_response_and_writes_nothing(notes_db: Database) -> None:
    app, _ = build(notes_db, SETTINGS)
    async with _client(app) as client:
        first = await client.post("/notes", json={"text": "hi"}, headers={"Idempotency-Key": "k1"})
        again = await client.post("/notes", json={"text": "hi"}, headers={"Idempotency-Key": "k1"})
        counts = (await client.get("/notes/count")).json()
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert counts == {"notes": 1, "parts": 1}
    with notes_db.read_session() as session:  # the notification was not duplicated either
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


async def test_same_key_other_payload_is_422_and_keys_are_per_user(notes_db: Database) -> None:
    app, resilience = build(notes_db, SETTINGS)
    async with _client(app) as client:
        await client.post("/notes", json={"text": "hi"}, headers={"Idempotency-Key": "k"})
        other = await client.post("/notes", json={"text": "bye"}, headers={"Idempotency-Key": "k"})
        bob = await client.post(
            "/notes", json={"text": "hi"}, headers={"Idempotency-Key": "k", "X-User": "bob"}
        )
        no_key = [await client.post("/notes", json={"text": "hi"}) for _ in range(2)]
        counts = (await client.get("/notes/count")).json()
    assert other.status_code == 422
    assert resilience.idempotency.in_flight() == 0  # released after the rollback too
    assert other.headers["content-type"] == "application/problem+json"
    assert "different request" in other.json()["detail"]
    assert bob.status_code == 201 and "Idempotent-Replayed" not in bob.headers
    assert [r.status_code for r in no_key] == [201, 201]
    assert counts["notes"] == 4  # alice's first, bob's, and the two without a key


async def test_a_concurrent_duplicate_gets_409(notes_db: Database) -> None:
    app, resilience = build(notes_db, SETTINGS)
    headers = {"Idempotency-Key": "slow"}
    async with _client(app) as client:
        slow = asyncio.create_task(
            client.post("/notes", params={"pause": 1.0}, json={"text": "x"}, headers=headers)
        )
        for _ in range(200):  # until the first request holds the key (bounded: 10 s)
            if resilience.idempotency.in_flight():
                break
            await asyncio.sleep(0.05)
        duplicate = await client.post("/notes", json={"text": "x"}, headers=headers)
        first = await slow
        counts = (await client.get("/notes/count")).json()
    assert first.status_code == 201
    assert duplicate.status_code == 409
    assert resilience.idempotency.in_flight() == 0  # released when the transaction ended
    assert "being processed" in duplicate.json()["detail"]
    assert counts["notes"] == 1


async def test_bad_keys_are_refused(notes_db: Database) -> None:
    app, _ = build(notes_db, SETTINGS)
    async with _client(app) as client:
        too_long = await client.post(
            "/notes", json={"text": "x"}, headers={"Idempotency-Key": "k" * 256}
        )
        control = await client.post(
            "/notes", json={"text": "x"}, headers={"Idempotency-Key": "a\tb"}
        )
    assert too_long.status_code == 422
    assert control.status_code == 400


def test_old_keys_are_purged(notes_db: Database) -> None:
    with notes_db.write_session() as session, session.begin():
        for age_h, key in ((25, "old"), (1, "new")):
            session.add(
                IdempotencyRecord(
                    user_id="u", key=key, request_hash="h", status_code=201,
                    created_at=utcnow() - timedelta(hours=age_h),
                )
            )  # fmt: skip
    with notes_db.write_session() as session, session.begin():
        assert purge_expired(session) == 1
        assert list(session.scalars(select(IdempotencyRecord.key))) == ["new"]


def test_the_fingerprint_ignores_key_order_but_not_values() -> None:
    assert request_hash("POST /jobs", {"a": 1, "b": 2}) == request_hash(
        "POST /jobs", {"b": 2, "a": 1}
    )
    assert request_hash("POST /jobs", {"a": 1}) != request_hash("POST /jobs", {"a": 2})
    assert request_hash("POST /jobs", {"a": 1}) != request_hash("POST /bids", {"a": 1})


@pytest.fixture
def served(notes_db: Database) -> Iterator[tuple[str, Database]]:
    """The notes app under a real uvicorn on port 0, in a thread."""
    app, _ = build(notes_db, SETTINGS)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", notes_db
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def test_a_connection_cut_mid_response_then_a_retry_leaves_one_row(
    served: tuple[str, Database],
) -> None:
    base, db = served
    port = int(base.rsplit(":", 1)[1])
    body = b'{"text": "cut"}'
    request = (
        b"POST /notes?pause=0.3 HTTP/1.1\r\nHost: notes\r\nContent-Type: application/json\r\n"
        b"Idempotency-Key: cut-1\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
    # The client is gone before the answer; it retries until the first attempt has finished.
    statuses = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(50):
            retry = client.post(
                "/notes", json={"text": "cut"}, headers={"Idempotency-Key": "cut-1"}
            )
            statuses.append(retry.status_code)
            if retry.status_code != 409:
                break
            time.sleep(0.1)
        counts = client.get("/notes/count").json()
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert set(statuses[:-1]) <= {409}
    assert counts == {"notes": 1, "parts": 1}
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


@pytest.mark.postgres
def test_duplicates_in_two_processes_meet_at_the_key_row(postgres_url: str, tmp_path: Path) -> None:
    """Two workers (two `Idempotency` objects, no shared memory) and PostgreSQL's locks."""

    db = Database(load_settings(database_url=postgres_url, dev_mode=True))
    Base.metadata.create_all(db.engine)
    worker_a, worker_b = Idempotency(), Idempotency()
    holding = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with (
            worker_a.claim("dup", user_id=7, operation="POST /x", payload={}) as claim,
            db.write_session() as session,
            session.begin(),
        ):
            assert claim.begin(session) is None
            holding.set()
            time.sleep(0.5)  # the second worker arrives while this transaction is open
            from starlette.responses import Response

            claim.complete(session, Response("{}", status_code=201))
        outcome["first"] = "committed"

    def second() -> None:
        holding.wait(5)
        try:
            with (
                worker_b.claim("dup", user_id=7, operation="POST /x", payload={}) as claim,
                db.write_session() as session,
                session.begin(),
            ):
                claim.begin(session)
            outcome["second"] = "replayed"
        except IdempotencyInFlight:
            outcome["second"] = 409

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    db.dispose()
    assert outcome == {"first": "committed", "second": 409}


def test_a_write_wakes_the_outbox_only_when_it_notified_and_a_replay_does_nothing(
    database: Database,
) -> None:
    woken: list[None] = []
    committed: list[Response] = []

    def write_for(key: str) -> IdempotentWrite:
        return IdempotentWrite(
            Idempotency(), key, "POST /x", database.write_session, lambda: woken.append(None)
        )

    def notifying(session: Session) -> Response:
        enqueue(session, event="message_posted", recipient_id=1, payload={"thread_id": 1})
        return Response("notified", status_code=201)

    quiet = write_for("quiet")
    quiet.run(quiet.claim(1, {}), lambda _session: Response("quiet", status_code=201))
    assert woken == []
    loud = write_for("loud")
    loud.run(loud.claim(1, {}), notifying, after_commit=committed.append)
    assert len(woken) == 1 and [r.body for r in committed] == [b"notified"]
    replay = loud.run(loud.claim(1, {}), notifying, after_commit=committed.append)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(woken) == 1 and len(committed) == 1  # neither woken nor called again
