"""Territories: the market areas every user and job belongs to."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy import select

from target_app.api.deps import Public, StateDep
from target_app.api.routing import JSON, ServiceRoute
from target_app.models import Territory
from target_app.schemas import TerritoryOut

router = APIRouter(tags=["territories"], route_class=ServiceRoute)
_LIST = TypeAdapter(list[TerritoryOut])


@router.get("/territories", response_model=list[TerritoryOut])
def list_territories(state: StateDep, _caller: Public) -> Response:
    """Every territory (a short, public list)."""
    with state.db.read_session() as session:
        rows = session.execute(select(Territory).order_by(Territory.id)).scalars().all()
        items = [TerritoryOut.model_validate(t, from_attributes=True) for t in rows]
    return Response(_LIST.dump_json(items), media_type=JSON)
