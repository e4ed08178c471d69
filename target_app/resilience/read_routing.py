"""Which database a read goes to: the primary or one of the streaming replicas.

The rule (docs/lab.md, "Reads and writes"):

* Writes, and every read outside `READ_REPLICA_ENDPOINTS`, use the primary (``DATABASE_URL``).
* A read of `READ_REPLICA_ENDPOINTS` (the job board, territories, threads, contractors, the
  operator's views: pages where a second of lag is harmless) goes to the next replica of
  ``READ_REPLICA_URLS`` in turn, unless its user wrote within ``READ_YOUR_WRITES_S``
  (`RecentWriters`); that user reads the primary and so sees their own write.
* A replica that fails (refused or lost connection, a pool timeout, no answer within
  ``REPLICA_TIMEOUT_S``: ``replica_deadline.py``) or whose ``replica`` breaker is open is
  skipped: the same read runs on the primary, and the client never sees the replica's
  trouble. Reads are safe to run twice.

``db_reads_total{route,target}`` counts where routed reads went (with replicas configured).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from target_app.core.config import Settings
from target_app.core.db import build_engine
from target_app.core.errors import CircuitOpenError
from target_app.core.metrics import Metrics
from target_app.resilience.breaker import BreakerState, CircuitBreaker
from target_app.resilience.recent_writes import RecentWriters
from target_app.resilience.replica_deadline import SocketDeadlines

logger = logging.getLogger("target_app")

T = TypeVar("T")
T_source = TypeVar("T_source", Session, Connection)

#: Reads that tolerate a replica's lag; a test keeps this equal to the capacity model's list.
READ_REPLICA_ENDPOINTS: frozenset[str] = frozenset(
    {
        "GET /jobs",
        "GET /territories",
        "GET /threads",
        "GET /contractors",
        "GET /operator/dashboard",
        "GET /operator/territories/{territory_id}/metrics",
    }
)


class PrimaryReads(Protocol):
    """What the router needs of the primary (the service's guarded ``Database``)."""

    engine: Engine

    def read_session(self) -> AbstractContextManager[Session]: ...

    def guard(self) -> AbstractContextManager[None]: ...


class ReadRouter:
    """Runs a read on a replica or on the primary by the rule of the module docstring."""

    def __init__(
        self,
        settings: Settings,
        primary: PrimaryReads,
        breaker: CircuitBreaker,
        recent: RecentWriters,
        metrics: Metrics | None = None,
    ) -> None:
        self._primary = primary
        self._breaker = breaker
        self._metrics = metrics
        self.recent = recent
        timeout = settings.replica_timeout_s
        self.replicas: list[Engine] = [
            build_engine(settings, url=url, connect_timeout_s=timeout)
            for url in settings.replica_urls
        ]
        self.deadlines = SocketDeadlines(timeout)
        for engine in self.replicas:
            self.deadlines.watch(engine)
        self._turn = itertools.count()

    @property
    def routing(self) -> bool:
        """True when there are replicas to route to."""
        return bool(self.replicas)

    def session(self, endpoint: str, user_id: int | None, work: Callable[[Session], T]) -> T:
        """``work(session)`` on the database the rule picks for ``endpoint`` and ``user_id``."""
        return self._route(endpoint, user_id, work, _replica_session, self._primary_session)

    def connection(self, endpoint: str, user_id: int | None, work: Callable[[Connection], T]) -> T:
        """``work(connection)``: `session` for reads written against a Core connection."""
        return self._route(endpoint, user_id, work, _replica_connection, self._primary_connection)

    def on_primary(self, endpoint: str, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` on the primary, counted as a routed read (cache fills)."""
        with self._primary_connection() as conn:
            result = work(conn)
        self._count(endpoint, "primary")
        return result

    def _route(
        self,
        endpoint: str,
        user_id: int | None,
        work: Callable[[T_source], T],
        replica: Callable[[Engine], AbstractContextManager[T_source]],
        primary: Callable[[], AbstractContextManager[T_source]],
    ) -> T:
        if not self.replicas:
            with primary() as source:
                return work(source)
        if (
            endpoint in READ_REPLICA_ENDPOINTS
            # An open breaker first: it answers without the Redis round trip of the mark.
            and self._breaker.state is not BreakerState.open
            and not (user_id is not None and self.recent.wrote_recently(user_id))
        ):
            engine = self.replicas[next(self._turn) % len(self.replicas)]
            try:
                with self._breaker.guard(), replica(engine) as source:
                    result = work(source)
            except CircuitOpenError:
                pass  # the replicas failed lately: straight to the primary
            except (DBAPIError, PoolTimeoutError) as exc:
                if isinstance(exc, DBAPIError) and not _replica_trouble(exc):
                    raise
                logger.warning("replica read of %s failed, using the primary: %s", endpoint, exc)
            else:
                self._count(endpoint, "replica")
                return result
        with primary() as source:
            result = work(source)
        self._count(endpoint, "primary")
        return result

    def _count(self, endpoint: str, target: str) -> None:
        # Only with replicas: without them every read is the primary's, nothing to tell apart.
        if self._metrics is not None and self.replicas:
            self._metrics.db_reads.labels(endpoint.split(" ", 1)[1], target).inc()

    def _primary_session(self) -> AbstractContextManager[Session]:
        return self._primary.read_session()

    @contextmanager
    def _primary_connection(self) -> Iterator[Connection]:
        with self._primary.guard(), self._primary.engine.connect() as conn:
            yield conn

    def dispose(self) -> None:
        """Close the replicas' pooled connections."""
        for engine in self.replicas:
            engine.dispose()


def _replica_trouble(exc: DBAPIError) -> bool:
    """A replica's own failure (its connection), not the statement's (a bad parameter)."""
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


@contextmanager
def _replica_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def _replica_connection(engine: Engine) -> AbstractContextManager[Connection]:
    return engine.connect()
