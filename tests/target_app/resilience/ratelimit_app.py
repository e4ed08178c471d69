"""A tiny ASGI app wrapped by the rate-limit middleware, for in-process and uvicorn tests.

Callers identify themselves with ``Authorization: Bearer <user_id>:<role>:<tier>``; every
response says which worker process answered (``X-Worker-Pid``), so a multi-worker test can
prove that both workers took part. ``create_app`` reads the same environment variables as the
service (``RATE_LIMIT_*``, ``REDIS_URL``, ``WEB_CONCURRENCY``, ``TRUSTED_PROXIES``), so uvicorn
can start it with ``--factory`` in worker processes.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_app.core.config import Settings, load_settings
from target_app.resilience.identity import Identity, bearer_token
from target_app.resilience.ratelimit import RateLimitMiddleware


def resolve(scope: Scope) -> Identity | None:
    """Test tokens are ``user_id:role:tier`` in clear text."""
    token = bearer_token(scope)
    if token is None or token.count(":") != 2:
        return None
    user_id, role, tier = token.split(":")
    return Identity(user_id, role, tier)


async def thing(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"client": client})


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class WorkerPid:
    """Adds ``X-Worker-Pid`` to every response, 429s included (it sits outside the limiter)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = str(os.getpid())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Worker-Pid"] = self.pid
            await send(message)

        await self.app(scope, receive, tagged)


def build(settings: Settings, admin_token: str | None = None) -> ASGIApp:
    """The test app with the middleware configured from ``settings``."""
    app = Starlette(routes=[Route("/things", thing), Route("/health", health)])
    limited = RateLimitMiddleware(
        app,
        limits=settings.rate_limits(),
        resolver=resolve,
        trusted_proxies=settings.trusted_proxy_set,
        storage_uri=settings.redis_url or "memory://",
        workers=settings.web_concurrency,
        admin_token=admin_token,
    )
    return WorkerPid(limited)


def create_app() -> ASGIApp:
    """uvicorn ``--factory`` entry point: settings from the environment."""
    return build(load_settings(dev_mode=True))  # the app signs no tokens
