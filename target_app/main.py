"""The application factory: ``create_app(settings)`` builds the FastAPI app.

uvicorn calls it once per worker (``uvicorn --factory target_app.main:create_app``), so every
worker has its own engine and pool. The pieces are built here and handed to the routes through
``app.state.target_app`` (an `AppState`), never through module globals, so that tests can run
several independent apps in one process. Every part, the resilience features included, is
configured by the one `Settings` given (by default read from the environment), so a test can
build an app with any setting without touching ``os.environ``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from target_app.api.deps import AppState
from target_app.api.main import admin_routes, api_routes
from target_app.core.config import Settings, load_settings
from target_app.core.db import Database
from target_app.core.metrics import Metrics
from target_app.core.problems import install_problem_handlers
from target_app.core.schema import ensure_schema
from target_app.core.security import TokenSigner
from target_app.middleware import install_middleware
from target_app.resilience import Resilience, bearer_resolver, install_resilience

logger = logging.getLogger("target_app")

DESCRIPTION = """\
The bundled marketplace: homeowners post jobs, contractors bid, operators watch territories.
Errors are RFC 9457 problem details (`application/problem+json`). See docs/api.md.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service. ``settings`` defaults to the environment (`load_settings`)."""
    settings = settings or load_settings()
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    else:  # DEV_MODE without a key: tokens die with the process, which is fine in development
        secret = secrets.token_urlsafe(48)
        logger.warning("DEV_MODE: no SECRET_KEY, using a random one for this process")
    metrics = Metrics(settings.prometheus_multiproc_dir)
    db = Database(settings, metrics)
    resilience = Resilience(settings)
    guarded = resilience.attach_database(db)  # every session goes through the database breaker
    state = AppState(
        settings=settings,
        db=guarded,
        signer=TokenSigner(secret, settings.token_ttl_s),
        metrics=metrics,
        resilience=resilience,
        reads=resilience.read_router(guarded, metrics),
        cache=resilience.read_cache(metrics),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            if ensure_schema(db.engine):
                logger.info("created or migrated the database schema")
        except SQLAlchemyError as exc:
            # Start anyway: /health/ready reports the database as down until it is back.
            logger.warning("database not reachable at start-up: %s", exc)
        yield
        await resilience.close_read_path(state.reads, state.cache)
        db.dispose()
        metrics.worker_exiting()

    app = FastAPI(
        title="Marketplace (target_app)",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # None keeps FastAPI's defaults (the global providers); off, it skips them entirely.
        telemetry=None
        if settings.otel_telemetry
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.target_app = state
    install_problem_handlers(app)
    # Before install_middleware: the metrics middleware must stay outermost and count 429s too.
    install_resilience(
        app,
        settings,
        bearer_resolver(state.signer.verify),
        resilience=resilience,
        metrics_registry=metrics.registry,
    )
    # Added flat rather than with include_router: FastAPI nests included routers, and every
    # request would match its way through the nesting (docs/benchmarks.md, "Service").
    # The API first, the rarely requested pages after it (FastAPI's documentation, and
    # /admin/faults when mounted): Starlette tries routes in order, so an API request is never
    # matched against those pages first.
    documentation = list(app.router.routes)
    admin = admin_routes() if settings.admin_token is not None else []
    app.router.routes[:] = [*api_routes(), *documentation, *admin]
    install_middleware(app, settings, metrics, [route.path for route in api_routes()])
    return app
