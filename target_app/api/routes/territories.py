"""Territories: the market areas every user and job belongs to."""

from __future__ import annotations

import functools

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from target_app.api.deps import Public, StateDep
from target_app.api.routing import JSON, ServiceRoute
from target_app.models import Territory
from target_app.resilience.read_cache import STATIC_SCOPE
from target_app.schemas import TerritoryOut

router = APIRouter(tags=["territories"], route_class=ServiceRoute)
_LIST = TypeAdapter(list[TerritoryOut])


ENDPOINT = "GET /territories"


@router.get("/territories", response_model=list[TerritoryOut])
def list_territories(state: StateDep, caller: Public) -> Response:
    """Every territory (a short, public list)."""
    if state.cache is not None:
        # No request changes the territories: the cached list only expires.
        fill = functools.partial(state.reads.session, ENDPOINT, None, _territories)
        body = state.cache.page(ENDPOINT, STATIC_SCOPE, "", fill)
    else:
        user_id = caller.user_id if caller is not None else None
        body = state.reads.session(ENDPOINT, user_id, _territories)
    return Response(body, media_type=JSON)


def _territories(session: Session) -> bytes:
    rows = session.execute(select(Territory).order_by(Territory.id)).scalars().all()
    return _LIST.dump_json([TerritoryOut.model_validate(t, from_attributes=True) for t in rows])
