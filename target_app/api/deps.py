"""Dependencies the routes use: the application state, who may call, idempotent writes.

Every route declares its audience with exactly one `Access` dependency (a test walks the
routes to make sure): the roles it admits, ``anonymous`` for public routes, or ``admin`` for
``/metrics``. Token verification is pure computation (an HMAC, no database), run on the event
loop and counted into the request's CPU time.

A write that takes an ``Idempotency-Key`` declares ``write: IdempotentWriteDep`` and runs
through it (``resilience/idempotency.py``).

Database sessions are *not* a dependency: a synchronous generator dependency costs two extra
thread-pool hops per request (enter and exit run in separate threads), which a cheap request
feels. Each endpoint opens its session in its own thread instead (``with
state.db.read_session() as session:``), which also keeps the session's whole life inside the
CPU measurement of that one thread.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from target_app.core.config import Settings
from target_app.core.cost import cpu_segment
from target_app.core.db import Database
from target_app.core.errors import Forbidden, InvalidToken, Unauthorized
from target_app.core.metrics import Metrics
from target_app.core.security import Principal, TokenSigner
from target_app.models import Role
from target_app.resilience.database import GuardedDatabase
from target_app.resilience.idempotency import IdempotencyKeyHeader, IdempotentWrite
from target_app.resilience.install import Resilience
from target_app.resilience.read_cache import ReadCache
from target_app.resilience.read_routing import ReadRouter
from target_app.schemas import MAX_INT

#: Methods that never write: their callers are not marked as recent writers.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class AppState:
    """What the routes need from the application, built once by `create_app`."""

    settings: Settings
    db: Database | GuardedDatabase
    signer: TokenSigner
    metrics: Metrics
    resilience: Resilience
    reads: ReadRouter
    """Where reads go: the primary or a replica."""
    cache: ReadCache | None = None
    """The hot reads' cache, with ``CACHE_ENABLED``."""

    def board_changed(self, territory_id: int) -> None:
        """After a committed write that changed what a territory's board shows (which jobs it
        lists, or a listed job's bid count): its cached pages are stale from now on."""
        if self.cache is not None:
            self.cache.invalidate(territory_id)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.target_app
    return state


async def get_state(request: Request) -> AppState:
    """The `AppState` of the application serving ``request``.

    ``async`` on purpose: a plain ``def`` dependency would cost a thread-pool hop.
    """
    return _state(request)


StateDep = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="A token from POST /auth/login.")


class Access:
    """A route's audience: which roles may call it (``anonymous`` and ``admin`` for the others).

    Used as a dependency; returns the caller's `Principal` (None for anonymous callers of a
    public route). Wrong role: 403. No or bad token where one is required: 401.
    """

    def __init__(self, *roles: Role, anonymous: bool = False, admin: bool = False) -> None:
        self.roles = frozenset(roles)
        self.anonymous = anonymous
        self.admin = admin

    def __repr__(self) -> str:
        roles = ",".join(sorted(self.roles)) or "-"
        return f"Access(roles={roles}, anonymous={self.anonymous}, admin={self.admin})"

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Principal | None:
        state = _state(request)
        principal = self._principal(state, credentials)
        if principal is not None and request.method not in SAFE_METHODS and state.reads.routing:
            # Before the write runs: from here on this user reads the primary (read-your-writes).
            await state.reads.recent.note(principal.user_id)
        return principal

    def _principal(
        self, state: AppState, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal | None:
        with cpu_segment():
            if self.admin:
                return self._check_admin(state, credentials)
            if credentials is None:
                if self.anonymous:
                    return None
                raise Unauthorized("A bearer token is required.")
            try:
                principal = state.signer.verify(credentials.credentials)
            except InvalidToken as exc:
                if self.anonymous:
                    # A stale token must not lock a client out of logging in again.
                    return None
                raise Unauthorized(f"Invalid token: {exc.reason}.") from None
            if not self.anonymous and principal.role not in self.roles:
                allowed = " or ".join(sorted(self.roles))
                raise Forbidden(f"This needs the role {allowed}; you are {principal.role}.")
            return principal

    @staticmethod
    def _check_admin(
        state: AppState, credentials: HTTPAuthorizationCredentials | None
    ) -> Principal | None:
        expected = state.settings.admin_token
        if expected is None:
            return None  # no ADMIN_TOKEN configured: open (loopback and test use)
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise Unauthorized("This needs the ADMIN_TOKEN bearer token.")
        return None


_ALL = (Role.homeowner, Role.contractor, Role.operator)

Public = Annotated[Principal | None, Depends(Access(anonymous=True))]
"""Anyone; an invalid or expired token is ignored (the caller is then anonymous)."""
AdminOnly = Annotated[Principal | None, Depends(Access(admin=True))]
"""``ADMIN_TOKEN`` holders when one is configured, otherwise anyone."""
AnyUser = Annotated[Principal, Depends(Access(*_ALL))]
"""Any signed-in user."""
HomeownerUser = Annotated[Principal, Depends(Access(Role.homeowner))]
ContractorUser = Annotated[Principal, Depends(Access(Role.contractor))]
OperatorUser = Annotated[Principal, Depends(Access(Role.operator))]
ParticipantUser = Annotated[Principal, Depends(Access(Role.homeowner, Role.contractor))]
"""Homeowners and contractors: the two sides of a message thread."""
OwnerOrOperator = Annotated[Principal, Depends(Access(Role.homeowner, Role.operator))]
"""A job's owner (checked per object) or an operator."""


async def get_idempotent_write(
    request: Request, key: IdempotencyKeyHeader = None
) -> IdempotentWrite:
    """The request's `IdempotentWrite`: its ``Idempotency-Key`` and its operation, the method
    and route template (``POST /jobs/{job_id}/bids``), which the key's fingerprint includes.

    The key is checked when the route claims it, after FastAPI's own checks: a request with no
    token, or an invalid body, is answered 401 or 422 whatever its key.
    """
    route: APIRoute = request.scope["route"]
    operation = f"{request.method} {route.path}"
    return _state(request).resilience.idempotent_write(key, operation)


IdempotentWriteDep = Annotated[IdempotentWrite, Depends(get_idempotent_write)]
"""A write made safe to retry by its ``Idempotency-Key`` header (documented in OpenAPI)."""

JobId = Annotated[int, Path(ge=1, le=MAX_INT, description="Job id.")]
BidId = Annotated[int, Path(ge=1, le=MAX_INT, description="Bid id.")]
ThreadId = Annotated[int, Path(ge=1, le=MAX_INT, description="Thread id.")]
TerritoryId = Annotated[int, Path(ge=1, le=MAX_INT, description="Territory id.")]
