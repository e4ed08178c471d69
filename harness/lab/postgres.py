"""The lab's own PostgreSQL: a primary made with ``initdb`` and R streaming read replicas made
with ``pg_basebackup -R``, each in a directory of its own on a free loopback port.

The machine's own cluster (port 5432) is never touched. The primary's ``pg_hba.conf`` trusts
loopback connections, replication included (a lab on loopback, with no password to leak);
each replica streams from a replication slot of its own (``replica_<n>``), so the primary
keeps the WAL a slow replica still needs. Replicas run with ``cluster_name`` set to their name,
which is how the primary's ``pg_stat_replication`` names them.

Servers start with ``pg_ctl start -w`` and stop with ``pg_ctl stop -m fast`` (open
transactions are rolled back, no waiting for clients), replicas before the primary; then the
directories are deleted. As root, every server binary runs as the ``postgres`` OS user
(:func:`harness.lab.programs.server_user`) and the directories belong to it.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psycopg
from psycopg.rows import TupleRow

from harness.errors import UsageError
from harness.lab.cleanup import LabLedger
from harness.lab.part import LabPart
from harness.lab.processes import (
    PartFailed,
    ProcessIdentity,
    identify,
    run_program,
    stop_process,
    wait_until,
)
from harness.lab.programs import ServerUser, hand_over, postgres_bindir, server_user
from harness.run.service import free_port

SUPERUSER = "postgres"
CONNECT_TIMEOUT_S = 5
PG_HBA = """\
# The lab's PostgreSQL listens on loopback only and trusts it, replication included.
local   all           all                  trust
host    all           all    127.0.0.1/32  trust
host    replication   all    127.0.0.1/32  trust
"""


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    replicas: int = 0
    max_connections: int = 100
    cpus: frozenset[int] | None = None
    """Cores the servers (and every backend they fork) run on; None: any."""
    settings: tuple[tuple[str, str], ...] = ()
    """Further ``postgresql.conf`` settings, as (name, value) pairs written verbatim."""
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise UsageError(f"read replicas: {self.replicas}; expected 0 or more")
        if self.max_connections < 1:
            raise UsageError(f"max_connections: {self.max_connections}; expected 1 or more")


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """One running server of the lab."""

    name: str
    """``primary`` or ``replica_<n>`` (also its ``cluster_name``)."""
    data_dir: Path
    port: int
    log_path: Path
    process: ProcessIdentity
    """The postmaster."""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class ReplicaLag:
    """How far a replica is behind the primary, as the primary sees it."""

    at: float
    """Unix time of the reading."""
    replica: str
    state: str
    """``streaming`` once caught up with the backup; ``catchup`` or ``startup`` before."""
    lag_bytes: int | None
    """WAL the primary wrote that the replica has not replayed (None before its first
    report)."""
    lag_s: float | None
    """The primary's ``replay_lag``: how long its latest commits took to be replayed there.
    PostgreSQL reports none once an idle replica has caught up; that is 0.0 here."""


class LabPostgres(LabPart):
    """A primary and ``settings.replicas`` replicas (see the module docstring)::

    with LabPostgres(ledger, PostgresSettings(replicas=2)) as database:
        database.primary.url()
        database.replication_lag()
    """

    def __init__(self, ledger: LabLedger, settings: PostgresSettings | None = None) -> None:
        self.ledger = ledger
        self.settings = settings or PostgresSettings()
        self.bindir = postgres_bindir()
        self.user: ServerUser | None = server_user()
        self.directory: Path | None = None
        self.primary: PostgresServer | None = None
        self.replicas: list[PostgresServer] = []

    def _run(self, program: str, *arguments: str, timeout_s: float) -> str:
        return run_program(
            [str(self.bindir / program), *arguments],
            timeout_s,
            user=self.user,
            cpus=self.settings.cpus,
        )

    def start(self) -> Self:
        """Create and start the primary, then each replica, and wait until all stream."""
        try:
            self.directory = self.ledger.new_directory("postgres")
            hand_over(self.directory, self.user)
            self.primary = self._start_primary()
            for number in range(1, self.settings.replicas + 1):
                self.replicas.append(self._start_replica(number))
            self.wait_streaming()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_primary(self) -> PostgresServer:
        assert self.directory is not None
        data_dir = self.directory / "primary"
        timeout = self.settings.start_timeout_s
        self._run(
            "initdb",
            *("-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"),
            *("--no-sync", "--no-instructions"),
            timeout_s=timeout,
        )
        port = free_port()
        replicas = self.settings.replicas
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": "''",  # loopback TCP only: no socket in /var/run
            "max_connections": str(self.settings.max_connections),
            "wal_level": "replica",
            "max_wal_senders": str(replicas + 2),
            "max_replication_slots": str(replicas + 2),
            "hot_standby": "on",
            "cluster_name": "'primary'",
            **dict(self.settings.settings),
        }
        _append_settings(data_dir / "postgresql.conf", settings)
        (data_dir / "pg_hba.conf").write_text(PG_HBA)
        return self._start_server("primary", data_dir, port)

    def _start_replica(self, number: int) -> PostgresServer:
        assert self.directory is not None and self.primary is not None
        name = f"replica_{number}"
        data_dir = self.directory / name
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(self.primary.port), "-U", SUPERUSER),
            *("-D", str(data_dir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            *("--create-slot", "--slot", name),
            timeout_s=self.settings.start_timeout_s,
        )
        port = free_port()
        # postgresql.auto.conf is read last: it overrides what the copy of the primary's
        # postgresql.conf says, and -R has written primary_conninfo there.
        _append_settings(
            data_dir / "postgresql.auto.conf", {"port": str(port), "cluster_name": f"'{name}'"}
        )
        return self._start_server(name, data_dir, port)

    def _start_server(self, name: str, data_dir: Path, port: int) -> PostgresServer:
        assert self.directory is not None
        log_path = self.directory / f"{name}.log"
        timeout = self.settings.start_timeout_s
        self._run(
            "pg_ctl",
            *("-D", str(data_dir), "-l", str(log_path), "-w", "-t", f"{timeout:.0f}", "start"),
            timeout_s=timeout + 5.0,
        )
        postmaster = identify(int((data_dir / "postmaster.pid").read_text().split()[0]))
        # SIGINT is PostgreSQL's fast shutdown: what a cleanup sends when pg_ctl cannot run.
        self.ledger.record_process(postmaster, f"postgres {name}", signal.SIGINT)
        return PostgresServer(name, data_dir, port, log_path, postmaster)

    def wait_streaming(self, timeout_s: float | None = None) -> None:
        """Wait until every replica streams from the primary and has reported how far it
        replayed (a replica is ``streaming`` a moment before its first report, when its lag
        is still unknown); PartFailed after the timeout."""
        if not self.replicas:
            return
        assert self.primary is not None
        expected = {replica.name for replica in self.replicas}

        def streaming() -> bool:
            lags = self.replication_lag()
            reporting = {
                lag.replica
                for lag in lags
                if lag.state == "streaming" and lag.lag_bytes is not None
            }
            return expected <= reporting

        wait_until(
            streaming,
            timeout_s or self.settings.start_timeout_s,
            f"streaming replication to {sorted(expected)}",
            self.replicas[-1].log_path,
        )

    def replication_lag(self) -> list[ReplicaLag]:
        """One reading per replica connected to the primary (see :class:`ReplicaLag`)."""
        assert self.primary is not None
        with self.primary.connect() as conn:
            rows = conn.execute(
                "SELECT application_name, state,"
                " pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,"
                " extract(epoch FROM replay_lag)::float8"
                " FROM pg_stat_replication ORDER BY application_name"
            ).fetchall()
        now = time.time()
        return [
            ReplicaLag(
                now,
                name,
                state,
                lag_bytes,
                lag_s if lag_s is not None or lag_bytes != 0 else 0.0,
            )
            for name, state, lag_bytes, lag_s in rows
        ]

    def stop(self) -> None:
        """Stop the replicas, then the primary (``pg_ctl stop -m fast``), and delete the
        directories. Safe to call again."""
        for server in [*reversed(self.replicas), self.primary]:
            if server is not None and server.process.alive():
                self._stop_server(server)
        self.replicas, self.primary = [], None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def crash_replica(self, index: int = 0) -> str:
        """Stop replica ``index`` the way a crash does (``pg_ctl stop -m immediate``: every
        backend quits at once, no checkpoint, its clients' connections drop and new ones are
        refused); what was done. :meth:`restart_replica` brings it back."""
        server = self.replicas[index]
        timeout = self.settings.stop_timeout_s
        self._run(
            "pg_ctl",
            *("-D", str(server.data_dir), "-m", "immediate", "-w", "-t", f"{timeout:.0f}"),
            "stop",
            timeout_s=timeout + 5.0,
        )
        return f"{server.name} (port {server.port}) stopped: pg_ctl stop -m immediate"

    def restart_replica(self, index: int = 0) -> str:
        """Start a crashed replica again on its port (crash recovery, then it streams again
        from its slot); what was done. Its new postmaster is recorded in the ledger."""
        server = self.replicas[index]
        self.replicas[index] = self._start_server(server.name, server.data_dir, server.port)
        return f"{server.name} started again on port {server.port}"

    def streaming(self, name: str) -> bool:
        """True when replica ``name`` streams from the primary and has reported its replay."""
        return any(
            lag.replica == name and lag.state == "streaming" and lag.lag_bytes is not None
            for lag in self.replication_lag()
        )

    def _stop_server(self, server: PostgresServer) -> None:
        timeout = self.settings.stop_timeout_s
        try:
            self._run(
                "pg_ctl",
                *("-D", str(server.data_dir), "-m", "fast", "-w", "-t", f"{timeout:.0f}", "stop"),
                timeout_s=timeout + 5.0,
            )
        except PartFailed:
            # pg_ctl could not stop it (its postmaster.pid gone, say): signal it ourselves.
            stop_process(server.process, signal.SIGINT, timeout)


def _append_settings(path: Path, settings: dict[str, str]) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write("\n# The lab's settings (harness/lab/postgres.py)\n")
        for name, value in settings.items():
            file.write(f"{name} = {value}\n")
