"""PgBouncer in transaction mode between the lab's clients and a PostgreSQL.

In transaction mode a server connection belongs to a client for one transaction only, so a few
server connections serve many clients: the server pool is sized by :class:`PoolSizing`
(``default_pool_size`` per database and user, ``min_pool_size`` kept open, ``reserve_pool_size``
more after a client has waited ``reserve_pool_timeout``, ``max_client_conn`` clients at most).
It listens on a free loopback port and trusts loopback, like the lab's PostgreSQL; any
database name is passed through to the server (``* = host=... port=...``).

**Prepared statements.** PgBouncer 1.18 in transaction mode does not carry server-side prepared
statements from one transaction to the next server connection, and psycopg 3 prepares a query
on the server after its fifth execution by default. Every client must therefore connect with
``prepare_threshold=None`` (psycopg) or the driver's equivalent; :meth:`PgBouncer.url` says it
for a SQLAlchemy URL.

The admin console (database ``pgbouncer``, user :data:`ADMIN_USER`) answers ``SHOW POOLS`` and
``SHOW STATS``; :meth:`PgBouncer.sample` turns them into records. PgBouncer refuses to run as
root: as root it runs as the ``postgres`` OS user, like the lab's PostgreSQL.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from harness.errors import UsageError
from harness.lab.cleanup import LabLedger
from harness.lab.part import LabServer
from harness.lab.programs import PGBOUNCER, ServerUser, find_program, hand_over, server_user

ADMIN_USER = "lab_admin"
ADMIN_DATABASE = "pgbouncer"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class PoolSizing:
    """PgBouncer's pool settings of the same names (see the module docstring)."""

    default_pool_size: int = 20
    min_pool_size: int = 0
    reserve_pool_size: int = 0
    reserve_pool_timeout_s: float = 5.0
    max_client_conn: int = 100

    def __post_init__(self) -> None:
        for name in ("default_pool_size", "max_client_conn"):
            if getattr(self, name) < 1:
                raise UsageError(f"pgbouncer {name}: {getattr(self, name)}; expected 1 or more")
        for name in ("min_pool_size", "reserve_pool_size"):
            if getattr(self, name) < 0:
                raise UsageError(f"pgbouncer {name}: {getattr(self, name)}; expected 0 or more")
        if self.min_pool_size > self.default_pool_size:
            raise UsageError(
                f"pgbouncer min_pool_size: {self.min_pool_size}; expected at most "
                f"default_pool_size ({self.default_pool_size})"
            )

    @property
    def server_connections(self) -> int:
        """The most server connections one database and user pair can open."""
        return self.default_pool_size + self.reserve_pool_size


@dataclass(frozen=True, slots=True)
class PoolSample:
    """One pool (database and user) from ``SHOW POOLS``."""

    at: float
    database: str
    user: str
    clients_active: int
    """Clients linked to a server connection or idle with nothing to run."""
    clients_waiting: int
    """Clients that sent a query and wait for a server connection."""
    servers_active: int
    servers_idle: int
    servers_used: int
    """Idle server connections not yet checked after a client released them."""
    max_wait_s: float
    """How long the oldest waiting client has waited."""


@dataclass(frozen=True, slots=True)
class TrafficSample:
    """One database's totals from ``SHOW STATS``, since PgBouncer started."""

    at: float
    database: str
    transactions: int
    queries: int
    wait_s: float
    """Time clients spent waiting for a server connection, summed."""
    transaction_s: float = 0.0
    """Time server connections spent linked to a client for a transaction, summed
    (``total_xact_time``): with ``transactions``, the mean hold the pooler station needs."""


@dataclass(frozen=True, slots=True)
class PoolerSample:
    pools: tuple[PoolSample, ...]
    traffic: tuple[TrafficSample, ...]


def _config(
    directory: Path, server_port: int, port: int, sizing: PoolSizing, server_host: str
) -> str:
    return f"""\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
admin_users = {ADMIN_USER}
stats_users = {ADMIN_USER}
pool_mode = transaction
default_pool_size = {sizing.default_pool_size}
min_pool_size = {sizing.min_pool_size}
reserve_pool_size = {sizing.reserve_pool_size}
reserve_pool_timeout = {sizing.reserve_pool_timeout_s:g}
max_client_conn = {sizing.max_client_conn}
ignore_startup_parameters = extra_float_digits
pidfile = {directory / "pgbouncer.pid"}
"""


class PgBouncer(LabServer):
    """A running PgBouncer (see the module docstring); a context manager."""

    label = "pgbouncer"
    stop_signal = signal.SIGINT
    """PgBouncer's safe shutdown: the queries under way finish first."""

    def __init__(
        self,
        ledger: LabLedger,
        server_port: int,
        sizing: PoolSizing | None = None,
        *,
        users: tuple[str, ...] = ("postgres",),
        server_host: str = "127.0.0.1",
        cpus: frozenset[int] | None = None,
        start_timeout_s: float = 15.0,
    ) -> None:
        super().__init__(ledger, cpus, start_timeout_s)
        self.server_port = server_port
        self.server_host = server_host
        self.sizing = sizing or PoolSizing()
        self.users = users

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """A client URL for ``database`` through the pooler. psycopg's ``prepare_threshold``
        is not a libpq parameter: pass ``prepare_threshold=None`` when connecting (see the
        module docstring)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def prepare(self, directory: Path) -> tuple[list[str], ServerUser | None]:
        config = directory / "pgbouncer.ini"
        config.write_text(
            _config(directory, self.server_port, self.port, self.sizing, self.server_host)
        )
        users = (*self.users, ADMIN_USER)
        (directory / "users.txt").write_text("".join(f'"{name}" ""\n' for name in users))
        user = server_user()
        hand_over(directory, user)
        return [str(find_program(PGBOUNCER)), str(config)], user

    def _admin(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=ADMIN_DATABASE,
            user=ADMIN_USER,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            prepare_threshold=None,
            row_factory=dict_row,
        )

    def sample(self) -> PoolerSample:
        """``SHOW POOLS`` and ``SHOW STATS`` now, without the admin console's own database.
        The console answers counters as numerics (Decimal in Python): each is made an int."""
        with self._admin() as admin:
            pools = admin.execute("SHOW POOLS").fetchall()
            stats = admin.execute("SHOW STATS").fetchall()
        now = time.time()
        return PoolerSample(
            tuple(
                PoolSample(
                    now,
                    row["database"],
                    row["user"],
                    int(row["cl_active"]),
                    int(row["cl_waiting"]),
                    int(row["sv_active"]),
                    int(row["sv_idle"]),
                    int(row["sv_used"]),
                    int(row["maxwait"]) + int(row["maxwait_us"]) / 1e6,
                )
                for row in pools
                if row["database"] != ADMIN_DATABASE
            ),
            tuple(
                TrafficSample(
                    now,
                    row["database"],
                    int(row["total_xact_count"]),
                    int(row["total_query_count"]),
                    int(row["total_wait_time"]) / 1e6,  # microseconds
                    int(row["total_xact_time"]) / 1e6,
                )
                for row in stats
                if row["database"] != ADMIN_DATABASE
            ),
        )
