"""Tiered rate limits as a plain ASGI middleware, on the ``limits`` library's moving window.

Every request is counted against one key for one minute (a *moving* window: the last 60 s at
any instant, so there is no burst of twice the limit at a fixed window's boundary):

* the user id when the `IdentityResolver` recognises the caller, with that tier's limit;
* else the client address with the anonymous limit. The address is the direct peer, or the
  ``X-Forwarded-For`` client when (and only when) the direct peer is in ``TRUSTED_PROXIES``:
  a load generator on one machine may then present one address per simulated user, as
  production traffic behind a load balancer would, while nobody else can pick an address.

Storage is in-process memory with one worker (`InProcessMovingWindow`, whose cost per request
does not grow with the number of callers) and Redis (``REDIS_URL``, through ``limits``)
otherwise: each worker counting alone would multiply every limit by the number of workers, so
the middleware refuses to start with more than one worker and no Redis (`check_shared_storage`).

Responses carry ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds
until the window frees a slot; IETF draft header names). A rejected request gets 429, a
``Retry-After`` and an RFC 9457 problem body. Health and metrics paths are exempt: a monitor
must never be locked out of seeing the overload it is there to see. So are calls that carry the
``ADMIN_TOKEN`` (the operator injecting and healing faults during a chaos run must never be
locked out of healing); a wrong token is limited like any anonymous caller.

If the rate-limit storage fails (Redis down), requests are let through and the failure logged:
losing rate limiting for a while is better than losing the service.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from limits.util import WindowStats
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_app.core.errors import ConfigError
from target_app.resilience.identity import TIERS, IdentityResolver, anonymous
from target_app.resilience.moving_window import InProcessMovingWindow

logger = logging.getLogger("target_app.resilience.ratelimit")

#: Paths never limited: liveness, readiness and the metrics scrape.
EXEMPT_PATHS = frozenset({"/health", "/health/ready", "/metrics"})


class MovingWindowLimiter(Protocol):
    """The two calls the middleware makes (``limits.aio.strategies``' shape)."""

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool: ...

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


def check_shared_storage(workers: int, redis_url: str | None) -> None:
    """Refuse a configuration where the limits would silently be multiplied."""
    if workers > 1 and not redis_url:
        raise ConfigError(
            "WEB_CONCURRENCY",
            workers,
            "With more than one worker and no REDIS_URL every worker would count requests on "
            f"its own, so each rate limit would be {workers} times too high. Set REDIS_URL "
            "(shared counts) or run a single worker.",
        )


def client_address(scope: Scope, trusted: frozenset[str]) -> str:
    """The caller's address: the peer, or the forwarded client when the peer is trusted.

    The right-most ``X-Forwarded-For`` hop that is not itself a trusted proxy is the client
    (hops to its left were written by the client and prove nothing).
    """
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if peer not in trusted:
        return str(peer)
    forwarded = ",".join(
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    )
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    return next((hop for hop in reversed(hops) if hop not in trusted), str(peer))


class RateLimitMiddleware:
    """Count each request against its caller's tier limit; answer 429 past the limit.

    ``limits`` maps each tier in `TIERS` to requests per minute. ``storage_uri`` is
    ``memory://`` or a ``redis://`` URL.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Mapping[str, int],
        resolver: IdentityResolver = anonymous,
        trusted_proxies: Iterable[str] = (),
        storage_uri: str = "memory://",
        workers: int = 1,
        exempt_paths: Iterable[str] = EXEMPT_PATHS,
        admin_token: str | None = None,
    ) -> None:
        missing = [tier for tier in TIERS if tier not in limits]
        if missing:
            raise ConfigError("RATE_LIMIT_*", dict(limits), f"No limit for {missing}.")
        for tier, per_minute in limits.items():
            if per_minute < 1:
                raise ConfigError(
                    f"RATE_LIMIT_{tier.upper()}", per_minute, "Must be at least 1 per minute."
                )
        shared = storage_uri.startswith(("redis://", "rediss://"))
        check_shared_storage(workers, storage_uri if shared else None)
        self.app = app
        self.items = {tier: RateLimitItemPerMinute(n) for tier, n in limits.items()}
        self.resolver = resolver
        self.trusted = frozenset(trusted_proxies)
        self.exempt = frozenset(exempt_paths)
        self._admin = f"bearer {admin_token}".encode() if admin_token else None
        self.limiter: MovingWindowLimiter
        if shared:
            # coredis is limits' default async Redis client; redis-py is the one installed.
            storage = storage_from_string(f"async+{storage_uri}", implementation="redispy")
            self.limiter = MovingWindowRateLimiter(storage)
        else:
            self.limiter = InProcessMovingWindow()

    def key_for(self, scope: Scope) -> tuple[str, str]:
        """(tier, key) the request is counted against."""
        identity = self.resolver(scope)
        if identity is not None:
            return identity.rate_tier, f"user:{identity.user_id}"
        return "anonymous", f"addr:{client_address(scope, self.trusted)}"

    def _is_admin(self, scope: Scope) -> bool:
        """The request carries the admin token (compared in constant time)."""
        if self._admin is None:
            return False
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return hmac.compare_digest(value.lower()[:7] + value[7:], self._admin)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or self._is_admin(scope):
            await self.app(scope, receive, send)
            return
        tier, key = self.key_for(scope)
        item = self.items[tier]
        try:
            allowed = await self.limiter.hit(item, tier, key)
            reset_at, remaining = await self.limiter.get_window_stats(item, tier, key)
        except Exception:
            logger.warning("rate-limit storage failed; letting %s through", key, exc_info=True)
            await self.app(scope, receive, send)
            return
        reset_s = max(0, math.ceil(reset_at - time.time()))
        headers = {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(reset_s),
        }
        if not allowed:
            await self._reject(scope, send, tier, item.amount, max(1, reset_s), headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _reject(
        self,
        scope: Scope,
        send: Send,
        tier: str,
        limit: int,
        retry_after_s: int,
        headers: dict[str, str],
    ) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": (
                    f"Rate limit of {limit} requests per minute for the {tier} tier exceeded; "
                    f"retry in {retry_after_s} s."
                ),
                "instance": scope["path"],
            }
        ).encode()
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        raw += [
            (b"retry-after", str(retry_after_s).encode()),
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": raw})
        await send({"type": "http.response.body", "body": body})
