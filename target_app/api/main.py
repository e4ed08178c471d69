"""All routes, in the order they appear in the OpenAPI document.

`create_app` adds `api_routes()` to the application flat (see the comment there), and
`admin_routes()` after them when ``ADMIN_TOKEN`` is set.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from target_app.api.routes import (
    auth,
    bids,
    contractors,
    faults,
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


def _flat(routers: tuple[APIRouter, ...]) -> list[APIRoute]:
    """The routes of ``routers``, flat (FastAPI nests included routers in ``app.routes``,
    which would hide them from the metrics' route templates and the authorization matrix)."""
    return [route for router in routers for route in router.routes if isinstance(route, APIRoute)]


def api_routes() -> list[APIRoute]:
    """Every route of the marketplace API."""
    return _flat(ROUTERS)


def admin_routes() -> list[APIRoute]:
    """The fault-injection routes (``/admin/faults``), for a service with an ``ADMIN_TOKEN``."""
    return _flat((faults.router,))
