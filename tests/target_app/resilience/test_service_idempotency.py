"""Idempotency-Key on the service's four idempotent routes, on both backends.

``test_idempotency.py`` proves the mechanism on a one-route test app; here it is the
marketplace's own writes: ``POST /jobs``, ``POST /jobs/{job_id}/bids``,
``POST /jobs/{job_id}/award`` and ``POST /threads/{thread_id}/messages``. A retry with the
same key and body answers the original response and writes nothing (no row in any table, no
second notification, no second payment hold); a different body is 422; keys are per user; a
duplicate that arrives while the first is still writing is 409; and a client that vanishes
mid-request and retries ends with exactly one row. The last two run through a real uvicorn.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select
from starlette.testclient import TestClient

from target_app.models import (
    Bid,
    IdempotencyRecord,
    Job,
    Message,
    OutboxMessage,
    PaymentHold,
)
from tests.target_app.conftest import Auth
from tests.target_app.live import LiveServer

JOB = {"title": "Fix roof leak", "description": "Shingles gone.", "category": "roofing",
       "budget": 900}  # fmt: skip
ROUTES = [
    "POST /jobs",
    "POST /jobs/{job_id}/bids",
    "POST /jobs/{job_id}/award",
    "POST /threads/{thread_id}/messages",
]


@dataclass(frozen=True, slots=True)
class Write:
    """One idempotent write ready to send: where, as whom, a body and a different body."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    other: dict[str, Any]


def _write(client: TestClient, auth: Auth, route: str) -> Write:
    owner = auth("homeowner", 0)
    if route == "POST /jobs":
        return Write("/jobs", owner, JOB, {**JOB, "budget": 901})
    if route == "POST /threads/{thread_id}/messages":
        thread_id = client.get("/threads", headers=owner).json()["items"][0]["id"]
        path = f"/threads/{thread_id}/messages"
        return Write(path, owner, {"body": "When can you start?"}, {"body": "Next week?"})
    job_id = client.post("/jobs", json=JOB, headers=owner).json()["id"]
    if route == "POST /jobs/{job_id}/bids":
        bidder = auth("contractor", 2)
        return Write(f"/jobs/{job_id}/bids", bidder, {"amount": 700}, {"amount": 701})
    bids = [
        client.post(
            f"/jobs/{job_id}/bids", json={"amount": 800 + n}, headers=auth("contractor", n)
        ).json()["id"]
        for n in (1, 2)
    ]
    return Write(f"/jobs/{job_id}/award", owner, {"bid_id": bids[0]}, {"bid_id": bids[1]})


def _snapshot(app: FastAPI) -> dict[str, int]:
    """Row counts of every table a write touches, and how many bids and jobs changed state."""
    engine = app.state.target_app.db.engine
    counted: dict[str, Any] = {
        "jobs": select(func.count()).select_from(Job),
        "bids": select(func.count()).select_from(Bid),
        "messages": select(func.count()).select_from(Message),
        "outbox": select(func.count()).select_from(OutboxMessage),
        "payment holds": select(func.count()).select_from(PaymentHold),
        "keys": select(func.count()).select_from(IdempotencyRecord),
        "accepted bids": select(func.count()).where(Bid.status == "accepted"),
        "awarded jobs": select(func.count()).where(Job.status == "awarded"),
    }
    with engine.connect() as conn:
        return {name: int(conn.scalar(query) or 0) for name, query in counted.items()}


@pytest.mark.parametrize("route", ROUTES)
def test_a_retry_replays_and_a_different_body_is_422(
    app: FastAPI, client: TestClient, auth: Auth, route: str
) -> None:
    write = _write(client, auth, route)
    headers = {**write.headers, "Idempotency-Key": f"retry-{route}"}
    before = _snapshot(app)
    first = client.post(write.path, json=write.body, headers=headers)
    assert first.status_code in (200, 201), first.text
    after = _snapshot(app)
    assert after["keys"] == before["keys"] + 1 and after != before

    again = client.post(write.path, json=write.body, headers=headers)
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers.get("Location") == first.headers.get("Location")
    assert _snapshot(app) == after  # nothing written, nothing notified twice

    other = client.post(write.path, json=write.other, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert "different request" in other.json()["detail"]
    assert _snapshot(app) == after


def test_keys_are_scoped_per_user(app: FastAPI, client: TestClient, auth: Auth) -> None:
    key = {"Idempotency-Key": "same-key"}
    mine = client.post("/jobs", json=JOB, headers={**auth("homeowner", 0), **key})
    theirs = client.post("/jobs", json=JOB, headers={**auth("homeowner", 1), **key})
    theirs_again = client.post("/jobs", json=JOB, headers={**auth("homeowner", 1), **key})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs_again.json()["id"] == theirs.json()["id"]
    assert theirs_again.headers["Idempotent-Replayed"] == "true"


@contextmanager
def slow_inserts(app: FastAPI, table: str, seconds: float) -> Iterator[None]:
    """Hold every ``INSERT INTO table`` for ``seconds``: the write's transaction stays open."""
    engine = app.state.target_app.db.engine
    prefix = f"INSERT INTO {table.upper()} "

    def pause(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith(prefix):
            time.sleep(seconds)

    event.listen(engine, "before_cursor_execute", pause)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", pause)


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def _jobs_titled(app: FastAPI, title: str) -> int:
    with app.state.target_app.db.engine.connect() as conn:
        query = select(func.count()).select_from(Job).where(Job.title == title)
        return int(conn.scalar(query) or 0)


def test_a_concurrent_duplicate_is_409(app: FastAPI, live_server: LiveServer, auth: Auth) -> None:
    title = "Posted twice at once"
    body = {**JOB, "title": title}
    headers = {**auth("homeowner", 0), "Idempotency-Key": "dup-1"}
    keys = app.state.target_app.resilience.idempotency
    with (
        slow_inserts(app, "jobs", 0.5),
        httpx.Client(base_url=live_server.url, timeout=30) as http,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        first = pool.submit(http.post, "/jobs", json=body, headers=headers)
        _wait_until(lambda: keys.in_flight() == 1)  # the first holds the key, mid-write
        duplicate = http.post("/jobs", json=body, headers=headers)
        original = first.result(timeout=30)
        replay = http.post("/jobs", json=body, headers=headers)
    assert original.status_code == 201
    assert duplicate.status_code == 409
    assert "being processed" in duplicate.json()["detail"]
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == original.json()["id"]
    assert _jobs_titled(app, title) == 1


def test_a_connection_cut_mid_request_then_a_retry_leaves_one_row(
    app: FastAPI, live_server: LiveServer, auth: Auth
) -> None:
    title = "Client vanished mid-write"
    body = {**JOB, "title": title}
    headers = {**auth("homeowner", 0), "Idempotency-Key": "cut-1"}
    payload = json.dumps(body).encode()
    raw = (
        b"POST /jobs HTTP/1.1\r\nHost: service\r\nContent-Type: application/json\r\n"
        + f"Authorization: {headers['Authorization']}\r\n".encode()
        + b"Idempotency-Key: cut-1\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    host, port = live_server.url.removeprefix("http://").split(":")
    keys = app.state.target_app.resilience.idempotency
    statuses = []
    with slow_inserts(app, "jobs", 0.3):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(raw)
            _wait_until(lambda: keys.in_flight() == 1)  # the server is mid-write
        # The client is gone before any answer; it retries until the first attempt is done.
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            for _ in range(100):
                retry = http.post("/jobs", json=body, headers=headers)
                statuses.append(retry.status_code)
                if retry.status_code != 409:
                    break
                time.sleep(0.05)
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"
    assert set(statuses[:-1]) <= {409}
    assert _jobs_titled(app, title) == 1
