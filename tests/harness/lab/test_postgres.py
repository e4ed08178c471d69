"""The lab's PostgreSQL: a real primary from initdb and a streaming replica from
pg_basebackup, on their own ports, removed on stop."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from harness.errors import UsageError
from harness.lab import programs
from harness.lab.cleanup import LabLedger
from harness.lab.postgres import LabPostgres, PostgresServer, PostgresSettings, ReplicaLag
from harness.lab.processes import ProcessIdentity, children_of, identify
from tests.harness.lab.conftest import require_programs

MACHINE_CLUSTER_PORT = 5432


@pytest.mark.slow
def test_a_primary_and_a_replica_stream_report_lag_and_leave_nothing(ledger: LabLedger) -> None:
    require_programs(programs.INITDB)
    database = LabPostgres(ledger, PostgresSettings(replicas=1, max_connections=30))
    with database:
        primary, (replica,) = database.primary, database.replicas
        assert primary is not None
        ports = {primary.port, replica.port}
        assert len(ports) == 2 and MACHINE_CLUSTER_PORT not in ports
        with primary.connect() as conn:
            assert conn.execute("SHOW max_connections").fetchone() == ("30",)
            assert (
                "host    replication   all    127.0.0.1/32  trust"
                in (primary.data_dir / "pg_hba.conf").read_text()
            )
            conn.execute("CREATE TABLE launch (id int)")
            conn.execute("INSERT INTO launch SELECT generate_series(1, 20000)")
        written = database.replication_lag()
        assert [lag.replica for lag in written] == ["replica_1"]
        assert written[0].state == "streaming"
        assert written[0].lag_bytes is not None and written[0].lag_bytes >= 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            (lag,) = database.replication_lag()
            if lag.lag_bytes == 0:
                break
            time.sleep(0.05)
        assert lag.lag_bytes == 0 and lag.lag_s is not None and lag.lag_s >= 0
        with replica.connect() as conn:
            assert conn.execute("SELECT count(*) FROM launch").fetchone() == (20000,)
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("INSERT INTO launch VALUES (1)")
        postmasters = [primary.process, replica.process]
        backends = [identify(pid) for server in postmasters for pid in children_of(server.pid)]
        directory = database.directory
        assert directory is not None and backends
    assert not any(process.alive() for process in postmasters)
    assert not any(backend.alive() for backend in backends)
    assert not directory.exists()


def test_as_root_without_the_postgres_user_the_error_says_how_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("harness.lab.programs.os.geteuid", lambda: 0)
    monkeypatch.setattr(programs, "SERVER_USER_NAME", "no-such-user-for-the-lab")
    with pytest.raises(UsageError) as raised:
        programs.server_user()
    message = str(raised.value)
    assert "'no-such-user-for-the-lab'" in message
    assert "refuse root" in message and "useradd --system" in message


def test_a_negative_replica_count_is_refused() -> None:
    with pytest.raises(UsageError, match="read replicas: -1; expected 0 or more"):
        PostgresSettings(replicas=-1)


def test_a_replica_counts_as_streaming_only_once_it_reported_its_replay_position(
    ledger: LabLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load a replica shows state 'streaming' before its first report, lag unknown.
    require_programs(programs.INITDB)
    database = LabPostgres(ledger, PostgresSettings(replicas=1))
    server = PostgresServer(
        "replica_1", Path("/nonexistent"), 1, ledger.path, ProcessIdentity(0, 0)
    )
    database.primary, database.replicas = server, [server]
    readings = iter([None, None, 0])
    monkeypatch.setattr(
        database,
        "replication_lag",
        lambda: [ReplicaLag(0.0, "replica_1", "streaming", next(readings), None)],
    )
    database.wait_streaming(timeout_s=5)
    assert next(readings, "used up") == "used up", "waited for the third reading"
