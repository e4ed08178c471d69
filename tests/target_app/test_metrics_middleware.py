"""The metrics middleware counts a request before its answer's last message leaves, so that a
process killed in between has never answered a request it did not count."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message, Receive, Scope, Send

from target_app.core.metrics import Metrics
from target_app.middleware.metrics import MetricsMiddleware


def _counted(metrics: Metrics, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "http_requests_total", {"route": "/jobs", "method": "GET", "status": status}
    )
    return value or 0.0


def _scope() -> Scope:
    return {"type": "http", "method": "GET", "path": "/jobs", "headers": []}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_the_request_is_counted_before_the_last_body_message_is_sent() -> None:
    metrics = Metrics(None)
    counted_when_sent: list[tuple[str, bool, float]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[", "more_body": True})
        await send({"type": "http.response.body", "body": b"]"})

    async def downstream(message: Message) -> None:
        more = bool(message.get("more_body", False))
        counted_when_sent.append((message["type"], more, _counted(metrics, "200")))

    middleware = MetricsMiddleware(app, metrics, route_templates=["/jobs"])
    asyncio.run(middleware(_scope(), _receive, downstream))

    assert counted_when_sent == [
        ("http.response.start", False, 0.0),
        ("http.response.body", True, 0.0),  # a streamed part: not the end yet
        ("http.response.body", False, 1.0),  # counted before the last part leaves
    ]
    assert _counted(metrics, "200") == 1.0  # once, not again when the app returns


def test_an_app_that_raises_before_answering_is_counted_once_as_a_500() -> None:
    metrics = Metrics(None)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def downstream(message: Message) -> None:
        raise AssertionError("nothing is sent")

    middleware = MetricsMiddleware(app, metrics, route_templates=["/jobs"])
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(middleware(_scope(), _receive, downstream))
    assert _counted(metrics, "500") == 1.0
