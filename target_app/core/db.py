"""The database engine: SQLite (WAL) or PostgreSQL, an instrumented pool, write transactions.

``Database`` owns one SQLAlchemy engine per application and hands out sessions:

* ``read_session()`` for requests that only read.
* ``write_session()`` for requests that write. On SQLite it begins with ``BEGIN IMMEDIATE``:
  SQLite has one writer, and a deferred transaction that reads first and writes later can fail
  with "database is locked" when another writer got in between, *despite* ``busy_timeout``
  (the upgrade from a read lock cannot wait). Taking the write lock at ``BEGIN`` makes writers
  queue on ``busy_timeout`` instead. On PostgreSQL the option is ignored; writes lock the rows
  they depend on (``SELECT ... FOR UPDATE``) instead.

With ``DB_POOLER`` (PgBouncer in transaction mode in front) no statement is prepared on the
server and pooled connections are pinged before use.

The pool is sized from ``DB_POOL_MIN``/``DB_POOL_MAX`` (``pool_size`` plus overflow) and gives
up after ``DB_POOL_TIMEOUT_S``; the resulting ``sqlalchemy.exc.TimeoutError`` becomes a 503
with ``Retry-After`` (see ``core/problems.py``), so an exhausted pool sheds load instead of
hanging. Connections in use and threads waiting feed the pool gauges.

Every statement's duration is added to the current request's database time (``core/cost.py``).
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from target_app.core.config import Settings
from target_app.core.cost import current_cost
from target_app.core.loop_reader import LoopReader
from target_app.core.metrics import Metrics

#: Execution option that marks an engine whose transactions take SQLite's write lock at BEGIN.
WRITE_OPTION = "target_app_write"

#: SQLite pragmas applied to every new connection, each with its reason.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never block the writer, nor the writer readers
    "PRAGMA synchronous=NORMAL",  # durable at checkpoints; safe with WAL, far fewer fsyncs
    "PRAGMA busy_timeout=5000",  # a writer waits up to 5 s for the lock instead of failing
    "PRAGMA foreign_keys=ON",  # SQLite leaves them off by default
    "PRAGMA cache_size=-16000",  # 16 MB page cache per connection
    "PRAGMA temp_store=MEMORY",  # sorts and temporary b-trees stay off the disk
    "PRAGMA mmap_size=268435456",  # read pages through the OS page cache, no copy
)


class InstrumentedPool(QueuePool):
    """A `QueuePool` that counts connections in use and threads waiting for one."""

    gauges: Metrics | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._count_lock = threading.Lock()
        self.in_use = 0
        self.waiting = 0

    def connect(self) -> PoolProxiedConnection:
        self._adjust(waiting=1)
        try:
            return super().connect()
        finally:
            self._adjust(waiting=-1)

    def _adjust(self, *, in_use: int = 0, waiting: int = 0) -> None:
        with self._count_lock:
            self.in_use += in_use
            self.waiting += waiting
            if self.gauges is not None:
                self.gauges.pool_in_use.set(self.in_use)
                self.gauges.pool_waiting.set(self.waiting)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _before_cursor(
    _conn: Any, _cursor: Any, _stmt: Any, _params: Any, context: Any, _m: Any
) -> None:
    if context is not None:
        context._target_app_started = time.perf_counter()


def _after_cursor(
    _conn: Any, _cursor: Any, _stmt: Any, _params: Any, context: Any, _m: Any
) -> None:
    cost = current_cost()
    started = getattr(context, "_target_app_started", None)
    if cost is not None and started is not None:
        cost.db_s += time.perf_counter() - started


def _connect_args(settings: Settings, sqlite: bool, connect_timeout_s: float) -> dict[str, Any]:
    if sqlite:
        # Connections move between the thread-pool threads; the pool guarantees one user at a time.
        return {"check_same_thread": False}
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, int(connect_timeout_s)),
        "application_name": "target_app",
    }
    if settings.db_pooler:
        # PgBouncer in transaction mode hands each transaction whichever server connection is
        # free: a statement psycopg prepared on one server is unknown on the next.
        connect_args["prepare_threshold"] = None
    return connect_args


def build_engine(
    settings: Settings,
    metrics: Metrics | None = None,
    *,
    url: str | None = None,
    connect_timeout_s: float | None = None,
    pre_ping: bool | None = None,
) -> Engine:
    """Create the engine for ``url`` (default ``settings.database_url``) with the pool the
    settings ask for; ``metrics`` gets its pool gauges (the primary's only). ``pre_ping``:
    test a pooled connection before use (None: behind a pooler, ``DB_POOLER``)."""
    parsed = make_url(url or settings.database_url)
    sqlite = parsed.get_backend_name() == "sqlite"
    timeout_s = settings.db_pool_timeout_s if connect_timeout_s is None else connect_timeout_s
    engine = create_engine(
        parsed,
        poolclass=InstrumentedPool,
        pool_size=settings.db_pool_min,
        max_overflow=settings.db_pool_max - settings.db_pool_min,
        pool_timeout=settings.db_pool_timeout_s,
        pool_recycle=1800,
        # Behind a pooler a client connection can outlive its server's: test it before use.
        pool_pre_ping=settings.db_pooler if pre_ping is None else pre_ping,
        connect_args=_connect_args(settings, sqlite, timeout_s),
    )
    pool = engine.pool
    assert isinstance(pool, InstrumentedPool)
    if metrics is not None:
        pool.gauges = metrics
        metrics.pool_size.set(settings.db_pool_max)

    # "checkin" fires for every connection that leaves the caller, invalidated ones included.
    event.listen(pool, "checkout", lambda *_: pool._adjust(in_use=1))
    event.listen(pool, "checkin", lambda *_: pool._adjust(in_use=-1))
    if sqlite:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "before_cursor_execute", _before_cursor)
    event.listen(engine, "after_cursor_execute", _after_cursor)
    return engine


class Database:
    """One engine and the two kinds of session the routes use."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.engine = build_engine(settings, metrics)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        #: SQLite only: the event loop's own read-only connection (``core/loop_reader.py``).
        self.loop_reader = LoopReader(self.engine, SQLITE_PRAGMAS) if self.is_sqlite else None

    @property
    def pool(self) -> InstrumentedPool:
        """The instrumented connection pool."""
        pool = self.engine.pool
        assert isinstance(pool, InstrumentedPool)
        return pool

    def read_session(self) -> Session:
        """A session for reading (a deferred transaction on SQLite)."""
        return self._read()

    def write_session(self) -> Session:
        """A session whose transaction takes the write lock first (SQLite ``BEGIN IMMEDIATE``)."""
        return self._write()

    def guard(self) -> AbstractContextManager[None]:
        """Nothing here; the resilience layer's ``GuardedDatabase`` puts its breaker in."""
        return nullcontext()

    def ping(self) -> float:
        """Run ``SELECT 1``; return its duration in seconds. Raises when the database is down."""
        started = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return time.perf_counter() - started

    def dispose(self) -> None:
        """Close every pooled connection (and the loop's reader)."""
        if self.loop_reader is not None:
            self.loop_reader.close()
        self.engine.dispose()
