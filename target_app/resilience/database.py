"""The database breaker around the service's sessions.

`GuardedDatabase` wraps the service's ``Database`` so that every ``with db.read_session()`` /
``with db.write_session()`` block runs through the ``database`` circuit breaker: when the
database has failed five times in a row (or blocks took longer than 10 s), requests get 503 +
``Retry-After`` at once for 30 s instead of each waiting on a dead connection; then a few
trial requests probe it. Only failures that are the database's fault count: lost
connections and operational errors, not constraint violations or the route's own 404/409.

Database work done outside a session (``GET /jobs`` reads through the engine, or on SQLite
through the event loop's own reader) runs inside ``with db.guard():``, the same breaker.
Everything else (``engine``, ``pool``, ``ping``, ``dispose``, ``is_sqlite``) is delegated;
``ping`` deliberately bypasses the breaker, so readiness always probes the database itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from target_app.resilience.breaker import CircuitBreaker

#: ``with factory() as session:`` (``GuardedDatabase.write_session`` or a sessionmaker).
SessionFactory = Callable[[], AbstractContextManager[Session]]


class SessionSource(Protocol):
    """What the service's ``Database`` offers (``core/db.py``)."""

    def read_session(self) -> Session: ...

    def write_session(self) -> Session: ...


def is_database_failure(exc: BaseException) -> bool:
    """True for errors that mean the database (not the request) is in trouble.

    Pool timeouts do not count: they mean the service is saturated, which the pool already
    answers with a fast 503; opening the breaker would turn a busy minute into 30 s of refusals.
    """
    if isinstance(exc, PoolTimeoutError):
        return False
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class GuardedDatabase:
    """A ``Database`` whose sessions run through a circuit breaker."""

    def __init__(self, db: SessionSource, breaker: CircuitBreaker) -> None:
        self._db = db
        self.breaker = breaker

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """``with db.read_session() as session:`` through the breaker."""
        with self.breaker.guard(), self._db.read_session() as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """``with db.write_session() as session, session.begin():`` through the breaker."""
        with self.breaker.guard(), self._db.write_session() as session:
            yield session

    def guard(self) -> AbstractContextManager[None]:
        """``with db.guard():`` around database work that does not use a session."""
        return self.breaker.guard()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)
