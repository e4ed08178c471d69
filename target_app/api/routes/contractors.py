"""Contractor discovery: who works in a territory, and who is taking work now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from target_app.api.deps import AnyUser, StateDep
from target_app.api.pagination import Cursor, PageSize, cut_page, decode_id_cursor
from target_app.api.queries import is_value
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.problems import responses
from target_app.models import Role, User
from target_app.schemas import MAX_INT, ContractorOut, Page

router = APIRouter(tags=["contractors"], route_class=ServiceRoute)


@router.get("/contractors", response_model=Page[ContractorOut], responses=responses(400))
def list_contractors(
    state: StateDep,
    caller: AnyUser,
    territory_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    available: Annotated[bool | None, Query(description="Only those taking work.")] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> Response:
    """Contractors, by id (idx_users_available_contractors, idx_users_role_territory)."""
    statement = select(
        User.id, User.display_name, User.tier, User.territory_id, User.available
    ).where(is_value(User.role, Role.contractor))
    if territory_id is not None:
        statement = statement.where(User.territory_id == territory_id)
    if available is not None:
        statement = statement.where(User.available if available else ~User.available)
    if cursor is not None:
        statement = statement.where(User.id > decode_id_cursor(cursor))
    statement = statement.order_by(User.id).limit(page_size + 1)
    rows = state.reads.session(
        "GET /contractors", caller.user_id, lambda session: session.execute(statement).all()
    )
    page, next_cursor = cut_page(rows, page_size, lambda row: (row.id, row.id))
    items = [ContractorOut(**row._mapping) for row in page]
    return json_response(Page[ContractorOut](items=items, next_cursor=next_cursor))
