"""The service through a real PgBouncer in transaction mode (``DB_POOLER``): many client
connections share one server connection, so a statement prepared by one client would be
missing, or named twice, on the server the next transaction gets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.lab.pgbouncer import PgBouncer, PoolSizing
from harness.lab.programs import PGBOUNCER
from target_app.main import create_app
from tests.harness.lab.conftest import require_programs
from tests.target_app.conftest import make_settings
from tests.target_app.lab.conftest import LabDatabase, bearer, seeded_lab
from tests.target_app.live import serve_in_thread

#: Each statement runs well past psycopg's default prepare threshold (5 executions).
REQUESTS = 120
CLIENTS = 4
JOB = {"title": "", "description": "Pooled.", "category": "plumbing", "budget": 90}


@pytest.fixture(scope="module")
def pooled() -> Iterator[tuple[LabDatabase, str]]:
    """A seeded primary and PgBouncer before it with ONE server connection."""
    require_programs(PGBOUNCER)
    with seeded_lab(replicas=0) as lab:
        sizing = PoolSizing(default_pool_size=1, min_pool_size=1, max_client_conn=20)
        with PgBouncer(lab.ledger, lab.primary.port, sizing) as pooler:
            yield lab, pooler.url().replace("postgresql://", "postgresql+psycopg://", 1)


def _statuses(database_url: str, pooler: bool) -> Counter[int]:
    """Statuses of `REQUESTS` calls from `CLIENTS` threads: job posts (one transaction each,
    committed: psycopg counts their statements towards preparing them) between reads."""
    settings = make_settings(
        database_url,
        db_pooler=pooler,
        db_pool_min=CLIENTS,
        db_pool_max=CLIENTS,
        rate_limit_enabled=False,
        resilience_workers=False,
        fake_latency_ms="ai=0",
    )
    app = create_app(settings)
    owners = [bearer(app, "homeowner", n) for n in range(CLIENTS)]
    reader = bearer(app, "contractor", 1)
    with serve_in_thread(app) as server, httpx.Client(base_url=server.url, timeout=10) as http:

        def call(n: int) -> int:
            if n % 4 == 3:
                return http.get("/jobs?territory_id=1", headers=reader).status_code
            job = JOB | {"title": f"Job number {n} of the pooler test"}
            return http.post("/jobs", json=job, headers=owners[n % CLIENTS]).status_code

        with ThreadPoolExecutor(CLIENTS) as pool:
            return Counter(pool.map(call, range(REQUESTS)))


def test_with_db_pooler_every_request_succeeds_through_transaction_pooling(
    pooled: tuple[LabDatabase, str],
) -> None:
    _lab, url = pooled
    reads = REQUESTS // 4
    assert _statuses(url, pooler=True) == Counter({201: REQUESTS - reads, 200: reads})


def test_without_it_prepared_statements_break_behind_the_same_pooler(
    pooled: tuple[LabDatabase, str],
) -> None:
    # The control: proves the test above would catch prepared statements reaching PgBouncer.
    _lab, url = pooled
    statuses = _statuses(url, pooler=False)
    assert statuses[500] > 0, statuses
