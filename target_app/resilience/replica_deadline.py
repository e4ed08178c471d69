"""A deadline on every statement a replica runs: a frozen replica is cut off, not waited for.

A replica that stops without closing anything (SIGSTOP, a hung host, a partition that drops
nothing) keeps its TCP connections open, and its kernel still acknowledges what is sent, so a
client waits for an answer that never comes. TCP keepalives and ``tcp_user_timeout`` do not
notice (the kernel answers them), ``statement_timeout`` is the server's own clock (frozen with
it), and a cancel request goes to the same frozen server. So the client keeps its own clock,
``REPLICA_TIMEOUT_S``:

* a new connection gives up after ``connect_timeout`` (libpq's rule: whole seconds);
* a statement (with the ``BEGIN`` psycopg sends before it, and its rows) or the rollback that
  returns a connection to its pool, still waiting ``REPLICA_TIMEOUT_S`` after it started, has
  its socket shut down (``shutdown(SHUT_RDWR)``) by a watchdog thread: the waiting read returns
  at once ("server closed the connection unexpectedly"), SQLAlchemy drops the connection from
  its pool, and the read router (``read_routing.py``) reruns the read on the primary and counts
  a failure on the ``replica`` breaker, which opens after three.

The replicas' pools do not ping a connection before use (the primary's does behind a pooler):
a ping runs before any event could arm the deadline, and a connection whose replica went away
fails its first statement instead, which the router reruns on the primary all the same.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy import Engine, event

Key = int
"""A connection's key while armed: the ``id`` of its DBAPI connection."""


class SocketDeadlines:
    """Watches the statements of the engines given to :meth:`watch` (module docstring)."""

    def __init__(self, timeout_s: float) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.cut = 0
        """Connections whose socket was shut down at their deadline."""
        self._armed: dict[Key, tuple[float, int]] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, engine: Engine) -> None:
        """Put every statement of ``engine`` (and its pool's rollbacks) under the deadline."""
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "after_cursor_execute", self._after_execute)
        event.listen(engine, "handle_error", self._on_error)
        event.listen(engine.pool, "reset", self._on_reset)
        event.listen(engine.pool, "checkin", self._on_checkin)
        event.listen(engine.pool, "invalidate", self._on_invalidate)

    # --- arming ------------------------------------------------------------------------------

    def arm(self, dbapi_connection: Any) -> None:
        """Start the clock of one connection (a psycopg connection; others are ignored)."""
        pgconn = getattr(dbapi_connection, "pgconn", None)
        if pgconn is None:
            return
        try:
            fd = int(pgconn.socket)
        except Exception:  # already closed: nothing to wait on
            return
        with self._wake:
            self._armed[id(dbapi_connection)] = (time.monotonic() + self.timeout_s, fd)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="replica-deadlines", daemon=True
                )
                self._thread.start()
            if len(self._armed) == 1:
                # The watchdog was idle. Otherwise it already waits for an earlier deadline
                # (every deadline is ``timeout_s`` after its arming): no wake-up per statement.
                self._wake.notify()

    def disarm(self, dbapi_connection: Any) -> None:
        """Stop the clock; after this returns its socket is never shut down by the watchdog
        (so a closed and reused file descriptor is never touched)."""
        with self._wake:
            self._armed.pop(id(dbapi_connection), None)

    # --- SQLAlchemy's events ---------------------------------------------------------------

    # A DBAPI cursor knows its connection (psycopg's ``cursor.connection``): asking
    # SQLAlchemy's Connection instead could reconnect one that an error invalidated.

    def _before_execute(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        self.arm(getattr(cursor, "connection", None))

    def _after_execute(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        self.disarm(getattr(cursor, "connection", None))

    def _on_error(self, context: Any) -> None:
        # called before SQLAlchemy invalidates (closes) the connection
        cursor = getattr(context.execution_context, "cursor", None)
        self.disarm(getattr(cursor, "connection", None))

    def _on_reset(self, dbapi_connection: Any, _record: Any, _state: Any) -> None:
        self.arm(dbapi_connection)  # the rollback that returns it to the pool

    def _on_checkin(self, dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            self.disarm(dbapi_connection)

    def _on_invalidate(self, dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        if dbapi_connection is not None:
            self.disarm(dbapi_connection)  # before it is closed

    # --- the watchdog ------------------------------------------------------------------------

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for key, (deadline, fd) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[key]
                        _shut_down(fd)
                        self.cut += 1
                upcoming = [deadline for deadline, _ in self._armed.values()]
                self._wake.wait(min(upcoming) - now if upcoming else None)


def _shut_down(fd: int) -> None:
    """Shut the socket behind ``fd`` down in both directions (its owner's blocked read returns
    at once); the owner keeps its descriptor and closes it as usual."""
    try:
        duplicate = os.dup(fd)
    except OSError:
        return
    with socket.socket(fileno=duplicate) as sock, contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
