"""Operational endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from target_app.api.deps import AdminOnly, Public, StateDep
from target_app.api.routing import ServiceRoute, json_response
from target_app.core import external
from target_app.core.problems import ERROR_HEADERS
from target_app.schemas import Health, Readiness

router = APIRouter(tags=["operations"], route_class=ServiceRoute)
logger = logging.getLogger("target_app")


@router.get("/health", response_model=Health)
async def health(_caller: Public) -> Response:
    """Liveness: the process answers. Touches no database, so a slow database never kills it."""
    return json_response(Health())


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={
        503: {
            "description": "Not ready: the database is down.",
            "model": Readiness,
            "headers": ERROR_HEADERS[503],
        }
    },
)
def ready(state: StateDep, _caller: Public) -> Response:
    """Readiness: the database answers ``SELECT 1``; pool state; configured dependencies
    (shown, not required)."""
    pool = state.db.pool
    pool_state = {
        "in_use": pool.in_use,
        "waiting": pool.waiting,
        "size": state.settings.db_pool_min,
        "max": state.settings.db_pool_max,
    }
    try:
        latency_s = state.db.ping()
        database: dict[str, object] = {"ok": True, "latency_ms": round(latency_s * 1000, 3)}
    except Exception as exc:  # any failure means "not ready"; the reason goes to the caller
        logger.warning("readiness: database check failed: %s", exc)
        database = {"ok": False, "error": type(exc).__name__}
    dependencies = external.check_dependencies(state.settings)
    # Redis is shown, not required: every use of it has a fallback (rate limits let calls
    # through, the cache and read-your-writes fall back to the database), and since all
    # instances share it, failing readiness on it would take every instance out at once.
    ok = bool(database["ok"])
    body = Readiness(
        status="ready" if ok else "unavailable",
        database={"backend": state.db.engine.dialect.name, **database},
        pool=pool_state,
        dependencies=dependencies,
        breakers=state.resilience.readiness()["breakers"],
        instance=state.settings.instance_name,
    )
    return json_response(body, 200 if ok else 503, None if ok else {"Retry-After": "1"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format.", "content": {CONTENT_TYPE_LATEST: {}}}
    },
)
def metrics(state: StateDep, _caller: AdminOnly) -> Response:
    """Prometheus metrics, merged over all workers (see ``core/metrics.py``)."""
    state.resilience.refresh_metrics()
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
