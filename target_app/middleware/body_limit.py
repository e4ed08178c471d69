"""413 for request bodies over a limit, whether announced by Content-Length or streamed.

A declared ``Content-Length`` over the limit is refused before a byte is read; one within it
needs no counting (the server reads exactly that many bytes), nor does a request without a
body. A chunked body is counted as it arrives; the moment it passes the limit, reading stops
and the client gets the 413 (the application never sees a truncated body, because the error
is raised from ``receive`` inside the application's own body read).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_app.core.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``. An `HTTPException`, because FastAPI turns any other error
    raised while it reads a body into a 400; this one reaches the problem handlers as a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body exceeds {max_bytes} bytes.")


class BodyLimitMiddleware:
    """Reject request bodies larger than ``max_bytes`` with 413 problem+json."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        if not chunked:
            # The body is exactly Content-Length bytes (the server enforces the framing), or
            # there is none: nothing to count. Most requests take this path.
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"Request body exceeds {self.max_bytes} bytes."
        response = problem_response(413, detail, scope.get("path"), {"Connection": "close"})
        await response(scope, receive, send)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (None if absent or invalid) and whether a
    ``Transfer-Encoding`` announces a body of unknown length (RFC 9112, section 6)."""
    declared: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked
