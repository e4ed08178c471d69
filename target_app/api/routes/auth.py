"""Signing in, and the caller's own profile."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import func, select

from target_app.api.deps import AnyUser, Public, StateDep
from target_app.api.routing import ServiceRoute, json_response
from target_app.core.errors import NotFound, Unauthorized
from target_app.core.problems import responses
from target_app.core.security import DUMMY_HASH, Principal, verify_password
from target_app.models import User
from target_app.schemas import LoginRequest, LoginResponse, UserBrief, UserOut

router = APIRouter(tags=["auth"], route_class=ServiceRoute)


@router.post("/auth/login", response_model=LoginResponse, responses=responses(401))
def login(body: LoginRequest, state: StateDep, _caller: Public) -> Response:
    """Exchange e-mail and password for a bearer token (``Authorization: Bearer <token>``)."""
    with state.db.read_session() as session:
        row = session.execute(
            select(User.id, User.password_hash, User.role, User.tier, User.territory_id).where(
                User.email == body.email.lower()
            )
        ).first()
    # Unknown e-mail: still pay for one hash, so timing does not tell which accounts exist.
    if row is None:
        verify_password(body.password, DUMMY_HASH)
        raise Unauthorized("Wrong e-mail or password.")
    if not verify_password(body.password, row.password_hash):
        raise Unauthorized("Wrong e-mail or password.")
    principal = Principal(row.id, row.role, row.tier, row.territory_id)
    token = state.signer.issue(principal)
    user = UserBrief(id=row.id, role=row.role, tier=row.tier, territory_id=row.territory_id)
    return json_response(
        LoginResponse(access_token=token, expires_in=state.signer.ttl_s, user=user)
    )


@router.get("/me", response_model=UserOut, responses=responses(404))
def me(state: StateDep, caller: AnyUser) -> Response:
    """The caller's own account."""
    with state.db.read_session() as session:
        user = session.get(User, caller.user_id)
        if user is None:
            raise NotFound(f"User {caller.user_id} no longer exists.")
        referrals = session.execute(  # idx_users_referrals
            select(func.count()).select_from(User).where(User.referred_by == user.id)
        ).scalar_one()
        fields = {name: getattr(user, name) for name in UserOut.model_fields if name != "referrals"}
        return json_response(UserOut(**fields, referrals=referrals))
