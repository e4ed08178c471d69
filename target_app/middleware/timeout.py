"""A deadline per request (``REQUEST_TIMEOUT_S``): past it, 503 + ``Retry-After`` at once.

A client (or a load balancer) gives up after some seconds anyway; answering at the deadline
tells it to retry, frees its connection, and counts the request as an error in
``http_requests_total`` (this middleware sits just inside the metrics middleware).

The request's work is cancelled, but a synchronous endpoint's thread cannot be interrupted:
it runs to its end in the background and whatever it then sends is dropped (a write may
still commit: the client was told to retry, and an ``Idempotency-Key`` makes that safe).
A response that had started before the deadline is let finish (its status is on the wire).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_app.core.errors import RETRY_AFTER_S
from target_app.core.problems import problem_response

logger = logging.getLogger("target_app")


class RequestTimeoutMiddleware:
    """Answer 503 to an HTTP request not answered within ``timeout_s`` seconds."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._abandoned: set[asyncio.Future[None]] = set()  # referenced until they end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        late = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if late:
                return  # the client already has its 503
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if task in done or started:
            await task  # finished (or raised), or already answering: let it end
            return
        late = True
        task.cancel()
        detail = f"The request took longer than {self.timeout_s:g} s; retry shortly."
        response = problem_response(
            503, detail, scope.get("path"), {"Retry-After": str(RETRY_AFTER_S)}
        )
        await response(scope, receive, send)
        # Not awaited: a thread-pool endpoint ends only with its thread, and the request's
        # time on the metrics is the time to its answer.
        self._abandoned.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Future[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("a request past its deadline failed: %r", task.exception())
