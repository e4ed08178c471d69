"""``/admin/faults``: inject and clear faults in the fake dependencies while the service runs.

Mounted only when ``ADMIN_TOKEN`` is set (``create_app``), and every call must carry
``Authorization: Bearer <ADMIN_TOKEN>`` (the `Access` rule ``AdminOnly``, compared in constant
time); without the setting the routes do not exist (404), so a production deployment cannot
have them switched on by accident.

::

    GET    /admin/faults                 every dependency's fault, and the breakers' states
    PUT    /admin/faults/{dependency}    {"latency_s": 2, "error_rate": 0.5, "hang": false}
    DELETE /admin/faults/{dependency}    heal one dependency
    DELETE /admin/faults                 heal all

Each answer names the ``pid`` of the worker that applied it; with ``REDIS_URL`` the change is
published to every worker (`SharedFaults`, ``resilience/faults.py``).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from target_app.api.deps import AdminOnly, AppState, StateDep
from target_app.api.routing import ServiceRoute
from target_app.core.config import FAKE_DEPENDENCIES
from target_app.core.problems import responses
from target_app.resilience.faults import Fault

router = APIRouter(
    prefix="/admin/faults",
    tags=["admin"],
    route_class=ServiceRoute,
    # The token may be missing, bodies are checked; a wrong token is rate limited (429).
    responses=responses(400, 401, 413, 422, 429, 500),
)


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


def _faults(state: AppState) -> FaultsOut:
    resilience = state.resilience
    return FaultsOut(
        pid=os.getpid(), faults=resilience.board.snapshot(), breakers=resilience.breakers.snapshot()
    )


async def _changed(state: AppState) -> FaultsOut:
    """Publish this worker's board to the others (when they share Redis); the new state."""
    if state.resilience.shared_faults is not None:
        await state.resilience.shared_faults.publish()
    return _faults(state)


@router.get("", response_model=FaultsOut)
async def list_faults(state: StateDep, _caller: AdminOnly) -> FaultsOut:
    """Every dependency's injected fault and every breaker's state."""
    return _faults(state)


@router.put("/{dependency}", response_model=FaultsOut)
async def set_fault(
    dependency: DependencyName, fault: FaultIn, state: StateDep, _caller: AdminOnly
) -> FaultsOut:
    """Inject a fault (replaces the dependency's previous one)."""
    state.resilience.board.set(dependency, Fault(**fault.model_dump()))
    return await _changed(state)


@router.delete("/{dependency}", response_model=FaultsOut)
async def clear_fault(dependency: DependencyName, state: StateDep, _caller: AdminOnly) -> FaultsOut:
    """Heal one dependency."""
    state.resilience.board.clear(dependency)
    return await _changed(state)


@router.delete("", response_model=FaultsOut)
async def clear_all(state: StateDep, _caller: AdminOnly) -> FaultsOut:
    """Heal every dependency."""
    state.resilience.board.clear()
    return await _changed(state)
