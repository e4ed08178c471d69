"""``/admin/faults``: inject and clear faults in the fake dependencies while the service runs.

Mounted only when ``ADMIN_TOKEN`` is set, and every call must carry
``Authorization: Bearer <ADMIN_TOKEN>`` (compared in constant time); without the setting the
routes do not exist (404), so a production deployment cannot have them switched on by accident.

::

    GET    /admin/faults                 every dependency's fault, and the breakers' states
    PUT    /admin/faults/{dependency}    {"latency_s": 2, "error_rate": 0.5, "hang": false}
    DELETE /admin/faults/{dependency}    heal one dependency
    DELETE /admin/faults                 heal all

Each answer names the ``pid`` of the worker that applied it; with ``REDIS_URL`` the change is
published to every worker (`SharedFaults`).
"""

from __future__ import annotations

import hmac
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from target_app.core.problems import responses
from target_app.resilience.faults import Fault, FaultBoard, SharedFaults
from target_app.resilience.registry import BreakerRegistry
from target_app.resilience.settings import FAKE_DEPENDENCIES


class FaultIn(BaseModel):
    """A fault to inject; omitted fields are healthy."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(0.0, ge=0, le=600, description="Extra latency per call, seconds.")
    error_rate: float = Field(0.0, ge=0, le=1, description="Share of calls that fail.")
    hang: bool = Field(False, description="Calls never answer (the breaker times them out).")


class FaultsOut(BaseModel):
    """The state of fault injection in the worker that answered."""

    pid: int
    faults: dict[str, dict[str, Any]]
    breakers: dict[str, dict[str, Any]]


#: A path parameter naming one of the fake dependencies (anything else is 422).
DependencyName = Annotated[str, Path(pattern="^(" + "|".join(FAKE_DEPENDENCIES) + ")$")]


class AdminGuard:
    """A FastAPI dependency: 401 unless ``Authorization: Bearer <admin token>``."""

    def __init__(self, admin_token: str) -> None:
        self._expected = admin_token.encode()

    async def __call__(self, request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), self._expected)
        if not ok:
            raise HTTPException(
                401, "Admin token required.", headers={"WWW-Authenticate": "Bearer"}
            )


def admin_router(
    board: FaultBoard,
    breakers: BreakerRegistry,
    admin_token: str,
    shared: SharedFaults | None = None,
) -> APIRouter:
    """The ``/admin/faults`` routes, guarded by ``admin_token``; changes go to ``shared`` too."""
    if len(admin_token) < 16:
        raise ValueError(f"ADMIN_TOKEN must be at least 16 characters, got {len(admin_token)}")
    guard = AdminGuard(admin_token)
    router = APIRouter(
        prefix="/admin/faults",
        tags=["admin"],
        dependencies=[Depends(guard)],
        # The token may be missing, bodies are checked; a wrong token is rate limited (429).
        responses=responses(400, 401, 413, 422, 429, 500),
    )

    def state() -> FaultsOut:
        return FaultsOut(pid=os.getpid(), faults=board.snapshot(), breakers=breakers.snapshot())

    async def changed() -> FaultsOut:
        if shared is not None:
            await shared.publish()
        return state()

    @router.get("", response_model=FaultsOut)
    async def list_faults() -> FaultsOut:
        """Every dependency's injected fault and every breaker's state."""
        return state()

    @router.put("/{dependency}", response_model=FaultsOut)
    async def set_fault(dependency: DependencyName, fault: FaultIn) -> FaultsOut:
        """Inject a fault (replaces the dependency's previous one)."""
        board.set(dependency, Fault(**fault.model_dump()))
        return await changed()

    @router.delete("/{dependency}", response_model=FaultsOut)
    async def clear_fault(dependency: DependencyName) -> FaultsOut:
        """Heal one dependency."""
        board.clear(dependency)
        return await changed()

    @router.delete("", response_model=FaultsOut)
    async def clear_all() -> FaultsOut:
        """Heal every dependency."""
        board.clear()
        return await changed()

    return router
