"""The single seam: ``install_resilience(app, settings, identity_resolver)``.

Called once by the app factory, it builds every resilience part from the settings, wires them
into the FastAPI app and returns the `Resilience` object the routes use::

    resilience = install_resilience(app, settings, bearer_resolver(signer.verify))

What it does to ``app``:

* adds the rate-limit middleware (`RateLimitMiddleware`); refuses to start with more than one
  worker and no ``REDIS_URL``;
* runs the outbox worker and the payment retry loop for the app's lifetime (wrapping the
  app's own lifespan), once `Resilience.attach_database` has given them the database;
* stores itself as ``app.state.resilience``.

The package's errors are `ServiceError`s with their HTTP status (``core/errors.py``): the
service's problem handlers (``core/problems.py``, installed by the app factory) answer a
`DependencyUnavailable` with 503 + ``Retry-After`` and the Idempotency-Key errors with
400 / 409 / 422. The ``/admin/faults`` routes that change the fault board are API routes
(``api/routes/faults.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio.from_thread
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session

from target_app.core.config import Settings
from target_app.core.errors import ConfigError
from target_app.core.metrics import Metrics
from target_app.resilience.database import GuardedDatabase, SessionSource, is_database_failure
from target_app.resilience.fakes import FakeServices
from target_app.resilience.fallbacks import Categorization, categorize_job, store_photo
from target_app.resilience.faults import SharedFaults
from target_app.resilience.idempotency import Idempotency, IdempotentWrite
from target_app.resilience.identity import IdentityResolver
from target_app.resilience.outbox import OutboxWorker, enqueue
from target_app.resilience.payments import PaymentSettler, record_award
from target_app.resilience.ratelimit import RateLimitMiddleware, check_shared_storage
from target_app.resilience.read_cache import ReadCache
from target_app.resilience.read_routing import PrimaryReads, ReadRouter
from target_app.resilience.recent_writes import RecentWriters
from target_app.resilience.registry import BreakerMetrics, BreakerRegistry


class Resilience:
    """Everything the routes need: breakers, fakes, fallbacks, outbox, idempotency."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.breakers = BreakerRegistry.from_settings(
            settings, is_failure={"database": is_database_failure, "replica": is_database_failure}
        )
        self.services = FakeServices.create(settings.fake_latencies_s())
        self.board = self.services.board
        self.idempotency = Idempotency()
        self.metrics: BreakerMetrics | None = None
        self.outbox: OutboxWorker | None = None
        self.payments: PaymentSettler | None = None
        self.database: GuardedDatabase | None = None
        self.shared_faults = (
            SharedFaults(self.board, settings.redis_url) if settings.redis_url else None
        )

    # --- wiring --------------------------------------------------------------------------------

    def attach_database(self, db: SessionSource) -> GuardedDatabase:
        """Guard ``db`` with the database breaker and start using it for outbox and payments.

        Returns the guarded database, to be used by the routes in place of ``db``.
        """
        guarded = GuardedDatabase(db, self.breakers["database"])
        self.database = guarded
        self.outbox = OutboxWorker(
            guarded.write_session,
            {"sms": self.services.sms.send, "email": self.services.email.send},
            self.breakers,
            poll_s=self.settings.outbox_poll_s,
            backoff_max_s=self.settings.outbox_backoff_max_s,
        )
        self.payments = PaymentSettler(
            guarded.write_session,
            self.services.payments.hold,
            self.breakers["payments"],
            retry_s=self.settings.payment_retry_s,
        )
        return guarded

    def read_router(self, primary: PrimaryReads, metrics: Metrics | None) -> ReadRouter:
        """The router of reads between ``primary`` and the replicas (``READ_REPLICA_URLS``),
        through the ``replica`` breaker, with the read-your-writes marks."""
        settings = self.settings
        recent = RecentWriters(
            settings.read_your_writes_s if settings.replica_urls else 0.0,
            settings.read_path_redis_url,  # the cache's Redis: one server per breaker
            self.breakers["cache"],
        )
        return ReadRouter(settings, primary, self.breakers["replica"], recent, metrics)

    def read_cache(self, metrics: Metrics) -> ReadCache | None:
        """The hot reads' cache through the ``cache`` breaker (None unless ``CACHE_ENABLED``)."""
        if not self.settings.cache_enabled:
            return None
        return ReadCache(self.settings, self.breakers["cache"], metrics)

    @staticmethod
    async def close_read_path(reads: ReadRouter | None, cache: ReadCache | None) -> None:
        """Close the replicas' pools and the read path's Redis connections (at shutdown)."""
        if reads is not None:
            reads.dispose()
            await reads.recent.close()
        if cache is not None:
            cache.close()

    def attach_metrics(self, registry: CollectorRegistry | None) -> None:
        """Publish breaker state in ``registry`` (call `refresh_metrics` before each scrape)."""
        self.metrics = BreakerMetrics(self.breakers, registry)

    def refresh_metrics(self) -> None:
        """Bring the breaker gauges up to date; cheap, call it in the ``/metrics`` handler."""
        if self.metrics is not None:
            self.metrics.refresh()

    def readiness(self) -> dict[str, Any]:
        """Breaker states for ``/health/ready``."""
        return {"breakers": self.breakers.snapshot()}

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the outbox worker, the payment retry loop and the fault sync while open."""
        stop = asyncio.Event()
        tasks = []
        workers = self.settings.resilience_workers
        if self.outbox is not None and workers:
            tasks.append(asyncio.create_task(self.outbox.run(stop), name="outbox"))
        if self.payments is not None and workers:
            tasks.append(asyncio.create_task(self.payments.run(stop), name="payments"))
        if self.shared_faults is not None:
            tasks.append(asyncio.create_task(self.shared_faults.run(stop), name="faults"))
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.shared_faults is not None:
                await self.shared_faults.close()

    # --- what routes call ------------------------------------------------------------------------

    async def categorize(self, title: str, description: str, declared: str) -> Categorization:
        """A new job's category from the AI service, or by keyword rules when it is down."""
        return await categorize_job(
            self.services.ai, self.breakers["ai"], title, description, declared
        )

    def categorize_from_thread(self, title: str, description: str, declared: str) -> Categorization:
        """`categorize` for synchronous routes (they run in the thread pool)."""
        return anyio.from_thread.run(self.categorize, title, description, declared)

    async def store_photo(self, key: str, data: bytes) -> str:
        """Store a job photo; 503 + Retry-After (via the handler) when storage is down."""
        return await store_photo(self.services.storage, self.breakers["storage"], key, data)

    def store_photo_from_thread(self, key: str, data: bytes) -> str:
        """`store_photo` for synchronous routes (they run in the thread pool)."""
        return anyio.from_thread.run(self.store_photo, key, data)

    def notify(
        self, session: Session, event: str, recipient_id: int, payload: Mapping[str, Any]
    ) -> None:
        """Write a notification into the outbox, in ``session``'s transaction."""
        enqueue(session, event=event, recipient_id=recipient_id, payload=payload)

    def record_award(self, session: Session, *, job_id: int, bid_id: int, amount: int) -> None:
        """Record the award's payment hold as pending, in ``session``'s transaction."""
        record_award(session, job_id=job_id, bid_id=bid_id, amount=amount)

    def idempotent_write(self, key: str | None, operation: str) -> IdempotentWrite:
        """The write of one request with ``Idempotency-Key: key`` (None: none) to
        ``operation`` (``"POST /jobs"``), in sessions guarded by the database breaker."""
        if self.database is None:
            raise RuntimeError("attach_database() first")
        return IdempotentWrite(
            self.idempotency, key, operation, self.database.write_session, self.committed
        )

    def settle_payment_from_thread(self, job_id: int) -> str:
        """After the award committed: try the hold once; ``held`` or ``pending`` (retried)."""
        if self.payments is None:
            raise RuntimeError("attach_database() first")
        return anyio.from_thread.run(self.payments.settle, job_id)

    def committed(self) -> None:
        """Tell the outbox worker that a transaction with notifications committed."""
        if self.outbox is not None:
            self.outbox.nudge()


def check_deployment(settings: Settings) -> None:
    """Refuse a deployment the resilience features cannot serve correctly.

    Several workers but no shared Redis, with rate limits on (each worker would count alone,
    multiplying every limit) or with read replicas (a worker would not know that the user
    wrote through another, and read-your-writes would break). Call it before starting
    workers for one clear message.
    """
    if settings.rate_limit_enabled:
        check_shared_storage(settings.web_concurrency, settings.redis_url)
    workers = settings.web_concurrency
    marks = settings.replica_urls and settings.read_your_writes_s > 0
    if marks and workers > 1 and not settings.read_path_redis_url:
        raise ConfigError(
            "WEB_CONCURRENCY",
            workers,
            "With read replicas, more than one worker and no REDIS_URL, a user's next read "
            "may reach a worker that never saw their write and read a lagging replica. Set "
            "REDIS_URL or CACHE_REDIS_URL (shared read-your-writes marks) or run a single "
            "worker.",
        )


def install_resilience(
    app: FastAPI,
    settings: Settings,
    identity_resolver: IdentityResolver,
    *,
    database: SessionSource | None = None,
    metrics_registry: CollectorRegistry | None = None,
    resilience: Resilience | None = None,
) -> Resilience:
    """Wire the resilience features into ``app`` (see the module docstring).

    ``database`` is guarded by the database breaker (`Resilience.attach_database`) and used by
    the outbox and payment workers. Pass ``resilience`` when it had to be built before the app
    (the app's state refers to it); it must have been built from ``settings``.
    """
    check_deployment(settings)
    if resilience is None:
        resilience = Resilience(settings)
    elif resilience.settings is not settings:
        raise ValueError("install_resilience: `resilience` was built from other settings")
    if database is not None:
        resilience.attach_database(database)
    resilience.attach_metrics(metrics_registry)
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limits=settings.rate_limits(),
            resolver=identity_resolver,
            trusted_proxies=settings.trusted_proxy_set,
            storage_uri=settings.redis_url or "memory://",
            workers=settings.web_concurrency,
            admin_token=(
                settings.admin_token.get_secret_value()
                if settings.admin_token is not None
                else None
            ),
        )

    original: Callable[[Any], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running_app: Any) -> AsyncIterator[Any]:
        async with original(running_app) as state, resilience.running():
            yield state

    app.router.lifespan_context = lifespan
    app.state.resilience = resilience
    return resilience
