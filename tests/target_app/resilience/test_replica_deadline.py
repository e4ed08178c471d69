"""The replicas' statement deadline (``resilience/replica_deadline.py``) on a real PostgreSQL: a
statement still waiting at the deadline has its socket shut down and fails at once as a lost
connection; a quick one, and a connection idle in its pool, are never touched. (A SIGSTOPped
replica, where nothing else could cut the wait, is tests/target_app/lab/test_read_routing.py.)
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from target_app.core.db import build_engine
from target_app.resilience.replica_deadline import SocketDeadlines
from tests.target_app.conftest import make_settings


def test_a_statement_past_the_deadline_is_cut_and_a_quick_or_idle_one_is_not(
    postgres_url: str,
) -> None:
    engine = build_engine(make_settings(postgres_url))
    deadlines = SocketDeadlines(0.3)
    deadlines.watch(engine)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        time.sleep(0.5)  # idle in the pool past the deadline: disarmed, left alone
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 2")).scalar_one() == 2
        assert deadlines.cut == 0
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught, engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        waited = time.monotonic() - started
        assert caught.value.connection_invalidated  # dropped from the pool, not reused
        assert deadlines.cut == 1 and 0.3 <= waited < 1.5, waited
        with engine.connect() as conn:  # a new connection serves the next read
            assert conn.execute(text("SELECT 3")).scalar_one() == 3
    finally:
        engine.dispose()


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        SocketDeadlines(0.0)
