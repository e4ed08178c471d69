"""Who is calling, as far as rate limits care: the seam between the middleware and the app.

The rate-limit middleware runs before routing and authentication, so it cannot use the app's
dependencies. Instead the app hands it an `IdentityResolver`: a plain function from the ASGI
scope to an `Identity` (or ``None`` for an anonymous or invalid caller). The bundled service
uses self-contained signed bearer tokens, so resolving costs one HMAC and no database query::

    resolver = bearer_resolver(signer.verify)   # signer.verify(token) -> Principal

Callers are put in one of four tiers, each with its own limit per minute:

============= ==============================================
tier          who
============= ==============================================
anonymous     no (valid) token; keyed by client address
authenticated a valid token, free tier; keyed by user id
pro           a valid token whose ``tier`` claim is ``pro``
operator      a valid token whose ``role`` claim is operator
============= ==============================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import Scope

TIERS = ("anonymous", "authenticated", "pro", "operator")


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated caller: user id, role and subscription tier."""

    user_id: int | str
    role: str
    tier: str

    @property
    def rate_tier(self) -> str:
        """The rate-limit tier: operator, pro or authenticated."""
        if self.role == "operator":
            return "operator"
        if self.tier == "pro":
            return "pro"
        return "authenticated"


class IdentityResolver(Protocol):
    """``resolve(scope) -> Identity | None``; must not raise and must not block for long."""

    def __call__(self, scope: Scope) -> Identity | None: ...


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = str(value.decode("latin-1")).partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def bearer_resolver(verify: Callable[[str], Any]) -> IdentityResolver:
    """A resolver from a token verifier.

    ``verify(token)`` returns an object with ``user_id``, ``role`` and ``tier`` attributes (the
    service's ``Principal``) and raises on a forged, malformed or expired token, which then
    counts as anonymous: the route itself will answer 401, and that answer is rate limited by
    address like any other anonymous request.
    """

    def resolve(scope: Scope) -> Identity | None:
        token = bearer_token(scope)
        if token is None:
            return None
        try:
            principal = verify(token)
        except Exception:  # any invalid token is simply "not authenticated"
            return None
        return Identity(principal.user_id, str(principal.role), str(principal.tier))

    return resolve


def anonymous(scope: Scope) -> Identity | None:
    """A resolver for apps without authentication: everybody is anonymous."""
    return None
