"""A read-only SQLite connection for the event loop: the hot listing without the thread pool.

SQLite is a library inside the process, not a server: reading an indexed page of jobs costs
SQLite far less than serving it the usual way costs in overhead: the hop to a thread-pool
thread and back, a pool checkout, SQLAlchemy's execution machinery and a
``BEGIN``/``ROLLBACK`` pair through it (docs/benchmarks.md, "Service"). `LoopReader` is the
short path for the few hot reads that use it (``GET /jobs``):

* one plain ``sqlite3`` connection, used only from the event loop thread (so never by two
  requests at once, and no pool to wait for, which would stall the loop);
* ``PRAGMA query_only``: the connection cannot write, whatever SQL reaches it;
* one statement per read, in autocommit mode: SQLite runs it in its own read transaction (one
  snapshot), which ends when its rows are fetched, so that the WAL can be checkpointed (a read
  that needs two statements in one snapshot would need a BEGIN/COMMIT pair around them; the
  listing needs one statement, ``api/job_search.py``);
* SQL compiled by SQLAlchemy once per statement shape (`compiled`), bound positionally with the
  bind processors SQLAlchemy would have applied;
* each statement's duration is added to the request's database time, like every other
  statement's (``core/db.py``), and the engine's ``before_cursor_execute`` and
  ``after_cursor_execute`` events are fired around it (with no connection or context), so
  that whatever listens to the engine (the EXPLAIN tests) sees these statements too;
* driver errors are re-raised as SQLAlchemy's (``OperationalError`` and friends), so they get
  the same problem responses (503 + ``Retry-After`` for a database that is down).

Used only on SQLite; on PostgreSQL a query is a network round trip, which must not run on the
event loop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from target_app.core.cost import current_cost

#: Applied to the connection after the service's usual SQLite pragmas.
QUERY_ONLY = "PRAGMA query_only=ON"


@dataclass(frozen=True, slots=True)
class CompiledRead:
    """A statement compiled for SQLite once: its SQL and how to bind its parameters."""

    sql: str
    #: (name, bind processor or None, default) per ``?``, in order.
    binds: tuple[tuple[str, Callable[[Any], Any] | None, Any], ...]

    def arguments(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The positional arguments for ``values`` (names missing from it take the default)."""
        out = []
        for name, process, default in self.binds:
            value = values.get(name, default)
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out)


def compiled(statement: ClauseElement, engine: Engine) -> CompiledRead:
    """Compile ``statement`` for ``engine``'s SQLite dialect (cache the result per shape).

    Expanding ``IN`` parameters must already carry their values (``.params(ids=[...])``):
    they are rendered as one ``?`` per value.
    """
    dialect = engine.dialect
    result = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(result, SQLCompiler)
    binds = []
    for name in result.positiontup or ():
        if name in result.binds:
            bind = result.binds[name]
            default = bind.value
        else:  # an expanded IN parameter: ``ids`` became ``ids_1``, ``ids_2``...
            bind = result.binds[name.rpartition("_")[0]]
            default = None
        binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect), default))
    return CompiledRead(result.string, tuple(binds))


class LoopReader:
    """A query-only SQLite connection for synchronous reads on the event loop thread."""

    def __init__(self, engine: Engine, pragmas: Sequence[str]) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError(f"LoopReader is for SQLite only, not {engine.dialect.name}")
        self._engine = engine
        self._pragmas = (*pragmas, QUERY_ONLY)
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        database = self._engine.url.database or ":memory:"
        # check_same_thread off: created by whichever thread asks first (tests drive the loop
        # from several threads in turn), but only ever used by one thread at a time.
        try:
            connection = sqlite3.connect(
                database, isolation_level=None, check_same_thread=False, uri=False
            )
        except sqlite3.Error as exc:  # the file cannot be opened: the database is down
            raise DBAPIError.instance("connect", (), exc, sqlite3.Error) from exc
        try:
            for pragma in self._pragmas:
                connection.execute(pragma)
        except sqlite3.Error as exc:
            connection.close()
            raise DBAPIError.instance("PRAGMA", (), exc, sqlite3.Error) from exc
        return connection

    def read(self, statement: CompiledRead, values: dict[str, Any]) -> list[Any]:
        """All rows of one statement, bound with ``values``, from one snapshot."""
        if self._connection is None:
            self._connection = self._connect()
        arguments = statement.arguments(values)
        cursor = self._connection.cursor()
        dispatch = self._engine.dispatch
        dispatch.before_cursor_execute(None, cursor, statement.sql, arguments, None, False)
        started = time.perf_counter()
        try:
            return cursor.execute(statement.sql, arguments).fetchall()
        except sqlite3.Error as exc:
            # Closed whatever the error: if the connection broke (the file went away, an I/O
            # error), the next read opens a new one; if not, reopening costs a millisecond.
            self.close()
            raise DBAPIError.instance(
                statement.sql, arguments, exc, sqlite3.Error, dialect=self._engine.dialect
            ) from exc
        finally:
            # The engine's timing listener needs an execution context, which raw cursors
            # lack: the database time is added here instead (once).
            cost = current_cost()
            if cost is not None:
                cost.db_s += time.perf_counter() - started
            dispatch.after_cursor_execute(None, cursor, statement.sql, arguments, None, False)

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
