"""All routes, in the order they appear in the OpenAPI document.

`create_app` adds `api_routes()` to the application flat (see the comment there).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from target_app.api.routes import (
    auth,
    bids,
    contractors,
    jobs,
    operator,
    ops,
    photos,
    territories,
    threads,
)

ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (auth, territories, jobs, photos, bids, threads, contractors, operator, ops)
)


def api_routes() -> list[APIRoute]:
    """Every API route, flat (FastAPI nests included routers in ``app.routes``)."""
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
