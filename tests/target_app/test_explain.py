"""The hot queries use the indexes the launch plan names, on both backends.

The statements are not rewritten by hand: each request below runs through the app while an
engine event records the SQL it sends, and that exact SQL (with its parameters) is EXPLAINed.
Which of two suitable indexes a planner picks depends on table statistics (on a toy database
PostgreSQL scans sequentially, and two indexes that both fit tie), so the first test asks the
deterministic question: with the other indexes dropped inside a rolled-back transaction (and
sequential scans off on PostgreSQL), does the query use its named index? The second checks
that SQLite's own choice, with every index present, never scans a whole big table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from target_app.core.schema import INDEXES
from target_app.main import create_app
from target_app.seed import seed_database
from tests.target_app.conftest import SMALL_PLAN, Auth, account, make_settings

Statement = tuple[str, Any]

CASES = [
    ("homeowner", "/jobs", {"territory_id": 1}, "idx_jobs_territory_status_created"),
    (
        "homeowner",
        "/jobs",
        {"territory_id": 1, "category": "plumbing"},
        "idx_jobs_composite_search",
    ),
    ("homeowner", "/jobs", {"territory_id": 1, "urgent": True}, "idx_jobs_urgent"),
    ("homeowner", "/jobs", {}, "idx_jobs_listing_cover"),
    ("homeowner", "/jobs", {"q": "roof"}, "idx_jobs_fulltext_search"),
    ("homeowner", "/jobs", {}, "idx_bids_job_count"),
    ("contractor", "/me/bids", {"status": "active"}, "idx_bids_contractor_active"),
    (
        "homeowner",
        "/contractors",
        {"territory_id": 1, "available": True},
        "idx_users_available_contractors",
    ),
    ("homeowner", "/contractors", {"territory_id": 1}, "idx_users_role_territory"),
    ("homeowner", "/me", {}, "idx_users_referrals"),
    ("operator", "/operator/dashboard", {}, "idx_jobs_recent_activity"),
    ("operator", "/operator/territories/1/metrics", {}, "idx_jobs_territory_metrics"),
    ("operator", "/operator/territories/1/metrics", {}, "idx_bids_response_time"),
    ("operator", "/operator/territories/1/metrics", {}, "idx_users_pro"),
]
REQUESTS = list({repr(c[:3]): c[:3] for c in CASES}.values())


@pytest.fixture
def db_url(shared_db_url: str) -> str:
    """This module's tests only read (or add rows nobody counts): one database per module."""
    return shared_db_url


@contextmanager
def recorded(engine: Any) -> Iterator[list[Statement]]:
    statements: list[Statement] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def plan_with_only(engine: Any, statement: str, parameters: Any, keep: str) -> str:
    """The plan when ``keep`` is the only secondary index (the others dropped, rolled back).

    Both backends have transactional DDL, so the drop is invisible outside this connection
    and undone at the end. What remains shows whether the query *can* use ``keep``: a
    partial-index predicate the query does not repeat, or a bound parameter where the index
    wants a constant, would leave a table scan.
    """
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            for spec in INDEXES:
                if spec.name not in {keep, "idx_jobs_fulltext_search"}:
                    conn.exec_driver_sql(f"DROP INDEX {spec.name}")
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                return "\n".join(str(row[-1]) for row in rows)
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
            return "\n".join(str(row[0]) for row in rows)
        finally:
            transaction.rollback()


@pytest.mark.parametrize(("role", "path", "query", "index"), CASES, ids=[c[3] for c in CASES])
def test_hot_query_can_use_its_named_index(
    client: TestClient, auth: Auth, role: str, path: str, query: dict[str, Any], index: str
) -> None:
    engine = client.app.state.target_app.db.engine  # type: ignore[attr-defined]
    with recorded(engine) as statements:
        assert client.get(path, params=query, headers=auth(role, 0)).status_code == 200
    plans = [plan_with_only(engine, s, p, index) for s, p in statements]
    assert any(index in p for p in plans), f"{index} not used:\n" + "\n---\n".join(plans)


@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The service on its own seeded SQLite database (the scan check is SQLite's)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('scan') / 'marketplace.db'}"
    seed_database(url, SMALL_PLAN)
    with TestClient(create_app(make_settings(url))) as test_client:
        yield test_client


@pytest.mark.parametrize(("role", "path", "query"), REQUESTS)
def test_hot_queries_never_scan_a_big_table(
    sqlite_client: TestClient, role: str, path: str, query: dict[str, Any]
) -> None:
    """With every index present, SQLite's own choice avoids full table scans.

    SQLite only: PostgreSQL rightly scans tables of a few rows sequentially, so on a test-sized
    database the check says nothing there; its index use is covered above.
    """
    engine = sqlite_client.app.state.target_app.db.engine  # type: ignore[attr-defined]
    assert engine.dialect.name == "sqlite"
    state = sqlite_client.app.state.target_app  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {state.signer.issue(account(role, 0))}"}
    with recorded(engine) as statements:
        assert sqlite_client.get(path, params=query, headers=headers).status_code == 200
    for statement, parameters in statements:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        details = [str(row[-1]) for row in rows]
        scans = [
            d
            for d in details
            if d.split()[:2]
            in (["SCAN", "jobs"], ["SCAN", "bids"], ["SCAN", "users"], ["SCAN", "messages"])
        ]
        if path == "/operator/dashboard":
            continue  # counts over everything recent are meant to read whole index ranges
        assert not scans, f"full scan for {path} {query}: {details}"
