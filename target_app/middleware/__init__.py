"""The service's ASGI middleware, registered in one place: `install_middleware`.

Order matters; the first listed is the outermost::

    MetricsMiddleware        counts and times every request, including the rejected ones
    RequestTimeoutMiddleware 503 + Retry-After past REQUEST_TIMEOUT_S (when set), counted above
    ProxyHeadersMiddleware   the client address, from X-Forwarded-For of trusted proxies only
    BodyLimitMiddleware      413 for bodies over 1 MiB, before anything reads them
    RateLimitMiddleware      429 past the caller's tier limit (``resilience/ratelimit.py``,
                             added by ``install_resilience`` before these, so innermost: it
                             sees the client address the proxy-headers middleware settled)

Each middleware is a small plain ASGI class in its own module, in the manner of Starlette's.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI

from target_app.core.config import Settings
from target_app.core.metrics import Metrics
from target_app.middleware.body_limit import MAX_BODY_BYTES, BodyLimitMiddleware
from target_app.middleware.metrics import MetricsMiddleware
from target_app.middleware.proxy_headers import ProxyHeadersMiddleware
from target_app.middleware.timeout import RequestTimeoutMiddleware

__all__ = ["MAX_BODY_BYTES", "install_middleware"]


def install_middleware(
    app: FastAPI, settings: Settings, metrics: Metrics, route_templates: Sequence[str]
) -> None:
    """Add the middleware stack to ``app`` (Starlette wraps the last added outermost).

    ``route_templates`` lets the metrics label requests answered before routing.
    """
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(ProxyHeadersMiddleware, trusted=settings.trusted_proxy_set)
    if settings.request_timeout_s > 0:
        app.add_middleware(RequestTimeoutMiddleware, timeout_s=settings.request_timeout_s)
    app.add_middleware(MetricsMiddleware, metrics=metrics, route_templates=route_templates)
