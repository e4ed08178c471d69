"""Datasette (an open-source application nobody here wrote) with Prometheus metrics of its own.

Run by the tests as ``python -m uvicorn tests.harness.datasette_target:app --port P`` with
``DATASETTE_DB`` naming a SQLite file. Datasette exposes no metrics, so this small ASGI
wrapper adds ``/metrics`` with label names unlike the bundled service's::

    ds_requests_total{path_template, verb, code}       requests answered
    ds_request_cpu_seconds_total{path_template, verb}  CPU spent answering them
    process_cpu_seconds_total                          the process (prometheus_client's own)

Datasette runs its SQL on the event loop (``num_sql_threads = 0``) and the wrapper lets one
request through at a time, so the loop thread's CPU clock across a request is that request's
own CPU: what calibration divides by requests.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from datasette.app import Datasette
from prometheus_client import CollectorRegistry, Counter, ProcessCollector, generate_latest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REQUESTS = Counter(
    "ds_requests", "requests answered", ["path_template", "verb", "code"], registry=REGISTRY
)
CPU = Counter(
    "ds_request_cpu_seconds", "CPU per route", ["path_template", "verb"], registry=REGISTRY
)
_ROW = re.compile(r"^/([^/]+)/([^/]+)/[^/]+\.json$")


def template(path: str) -> str:
    """The route template of a path: a row's page is one route, whatever its key."""
    match = _ROW.match(path)
    return f"/{match.group(1)}/{match.group(2)}/{{id}}.json" if match else path


def _datasette() -> Any:
    database = os.environ["DATASETTE_DB"]
    return Datasette(files=[database], settings={"num_sql_threads": 0}).app()


class Metered:
    """The wrapper: one request at a time, counted and timed; ``/metrics`` answered here."""

    def __init__(self) -> None:
        self.inner = _datasette()
        self.one_at_a_time = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        if scope["path"] == "/metrics":
            await _metrics(send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        route, verb = template(scope["path"]), scope["method"].lower()
        async with self.one_at_a_time:
            started = time.thread_time()
            try:
                await self.inner(scope, receive, recording_send)
            finally:
                CPU.labels(route, verb).inc(time.thread_time() - started)
                REQUESTS.labels(route, verb, str(status)).inc()


async def _metrics(send: Send) -> None:
    body = generate_latest(REGISTRY)
    headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = Metered()
