"""Believe ``X-Forwarded-For`` only from trusted proxies (``TRUSTED_PROXIES``).

All load from one machine arrives from 127.0.0.1, so per-client limits would apply to the
whole swarm at once; a load generator (or a real reverse proxy) can pass the simulated client
address in ``X-Forwarded-For``. Believing that header from anyone would let every client pick
its own address, so it is honoured only when the direct peer is listed in ``TRUSTED_PROXIES``,
and then the right-most address not itself a trusted proxy is the client.

uvicorn has its own proxy-header handling, trusting 127.0.0.1 by default; ``serve`` turns it
off so that this setting is the only one that decides.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class ProxyHeadersMiddleware:
    """Replace ``scope["client"]`` with the forwarded address when the peer is trusted."""

    def __init__(self, app: ASGIApp, trusted: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] == "http":
            client = scope.get("client")
            if client and client[0] in self.trusted:
                forwarded = _header(scope, b"x-forwarded-for")
                if forwarded:
                    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
                    real = next((h for h in reversed(hops) if h not in self.trusted), None)
                    if real:
                        scope = dict(scope, client=(real, 0))
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
