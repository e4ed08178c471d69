"""Database plumbing: write transactions take SQLite's lock first; cost accounting is exact."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import event, text

from target_app.core.cost import cpu_accounted, end_request, start_request
from target_app.core.db import Database
from tests.target_app.conftest import Auth, make_settings
from tests.target_app.live import LiveServer


def test_sqlite_write_sessions_begin_immediate(tmp_path: Any) -> None:
    db = Database(make_settings(f"sqlite:///{tmp_path / 'x.db'}"))
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    with db.write_session() as session, session.begin():
        session.execute(text("SELECT 1"))
    with db.read_session() as session:
        session.execute(text("SELECT 1"))
    db.dispose()
    assert seen == ["BEGIN IMMEDIATE", "SELECT 1", "BEGIN", "SELECT 1"]


def test_concurrent_writers_never_see_database_locked(live_server: LiveServer, auth: Auth) -> None:
    body = {"title": "Hang shelves", "description": "Three.", "category": "carpentry", "budget": 80}

    def post(n: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            headers = auth("homeowner", n % 10)
            return http.post("/jobs", json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(post, range(48)))
    assert codes == [201] * 48


def test_cpu_accounting_counts_only_the_calling_thread() -> None:
    @cpu_accounted
    def burn(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    cost, token = start_request()
    try:
        with ThreadPoolExecutor(max_workers=1) as other:
            other.submit(time.sleep, 0.05).result()  # wall time elsewhere: not CPU of ours
        burn(0.05)
    finally:
        end_request(token)
    assert 0.05 <= cost.cpu_s < 0.08


def test_postgresql_reads_run_outside_a_transaction_and_writes_inside_one(
    postgres_url: str,
) -> None:
    """A read session sends its statement alone (no BEGIN, no ROLLBACK at return): under READ
    COMMITTED each statement has its own snapshot anyway, and behind PgBouncer each of those
    round trips costs the pooler CPU. A write session keeps its transaction."""
    from psycopg.pq import TransactionStatus

    db = Database(make_settings(postgres_url))
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.IDLE  # no BEGIN was sent
        with db.write_session() as session, session.begin():
            session.execute(text("SELECT 1"))
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.INTRANS
        # the pool hands the same connection to a write after a read: back in a transaction
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
            raw = session.connection().connection.dbapi_connection
            assert raw is not None and raw.info.transaction_status == TransactionStatus.IDLE
    finally:
        db.dispose()
