"""PgBouncer in transaction mode in front of the lab's PostgreSQL: clients with
``prepare_threshold=None`` run identical queries through it; its pools are sampled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from harness.errors import UsageError
from harness.lab.cleanup import LabLedger
from harness.lab.pgbouncer import PgBouncer, PoolSizing
from harness.lab.postgres import LabPostgres
from harness.lab.programs import INITDB, PGBOUNCER
from tests.harness.lab.conftest import require_programs


@pytest.fixture
def database(ledger: LabLedger) -> Iterator[LabPostgres]:
    require_programs(INITDB, PGBOUNCER)
    with LabPostgres(ledger) as started:
        yield started


@pytest.mark.slow
def test_twenty_identical_queries_run_through_the_pooler_without_prepared_statements(
    ledger: LabLedger, database: LabPostgres
) -> None:
    assert database.primary is not None
    sizing = PoolSizing(default_pool_size=2, min_pool_size=1, max_client_conn=10)
    with PgBouncer(ledger, database.primary.port, sizing) as pooler:
        directory = pooler.directory
        assert directory is not None
        config = (directory / "pgbouncer.ini").read_text()
        for line in ("pool_mode = transaction", "default_pool_size = 2", "max_client_conn = 10"):
            assert line in config
        with psycopg.connect(pooler.url(), autocommit=True, prepare_threshold=None) as conn:
            answers = [conn.execute("SELECT %s::int * 2", (n,)).fetchone() for n in range(20)]
        assert answers == [(n * 2,) for n in range(20)]
        sample = pooler.sample()
    (traffic,) = sample.traffic
    assert traffic.database == "postgres" and traffic.queries >= 20
    (pool,) = sample.pools
    assert (pool.database, pool.user) == ("postgres", "postgres")
    assert pool.servers_active + pool.servers_idle + pool.servers_used >= 1
    assert not directory.exists() and pooler.process is None


@pytest.mark.slow
def test_a_client_waiting_for_the_only_server_connection_shows_in_the_pools(
    ledger: LabLedger, database: LabPostgres
) -> None:
    assert database.primary is not None
    sizing = PoolSizing(default_pool_size=1, max_client_conn=5)
    with (
        PgBouncer(ledger, database.primary.port, sizing) as pooler,
        psycopg.connect(pooler.url(), prepare_threshold=None) as holder,
    ):
        holder.execute("SELECT 1")  # a transaction stays open: it keeps the one server
        finished = threading.Event()

        def wait_for_the_server() -> None:
            with psycopg.connect(pooler.url(), autocommit=True, prepare_threshold=None) as c:
                c.execute("SELECT 2")
            finished.set()

        waiter = threading.Thread(target=wait_for_the_server)
        waiter.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                (pool,) = pooler.sample().pools
                if pool.clients_waiting == 1 and pool.max_wait_s > 0.1:
                    break
                time.sleep(0.05)
            assert (pool.clients_active, pool.clients_waiting, pool.servers_active) == (1, 1, 1)
            assert pool.max_wait_s > 0.1
            assert not finished.is_set()
        finally:
            holder.commit()
            waiter.join(timeout=10)
        assert finished.is_set()


@pytest.mark.parametrize(
    ("sizing", "match"),
    [
        ({"default_pool_size": 0}, "default_pool_size: 0; expected 1 or more"),
        ({"reserve_pool_size": -1}, "reserve_pool_size: -1; expected 0 or more"),
        ({"default_pool_size": 5, "min_pool_size": 6}, r"min_pool_size: 6; expected at most"),
    ],
)
def test_pool_sizes_that_cannot_work_are_refused(sizing: dict[str, int], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        PoolSizing(**sizing)
