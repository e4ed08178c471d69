"""Count, time and cost every HTTP request, labelled by its route template.

The route template (``/jobs/{job_id}``) is read from ``scope["route"]`` after the router has
matched; requests answered before routing (a 413 from the body limit) are matched here, and
paths no route knows are labelled ``<unmatched>`` so that scanners cannot blow up the label
set. The CPU and database seconds come from the request's `RequestCost` (``core/cost.py``),
which this middleware creates.

A request is counted just before its response's last message goes out, not after: a process
killed in between (a chaos run's SIGKILL; under a CPU quota the gap can last a throttled
period) must never have answered a request it did not count, or the client's count exceeds
the server's and the run cannot reconcile. A request counted whose answer never left is
answered by the balancer with an error, which the client counts too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_app.core.cost import end_request, start_request
from target_app.core.metrics import UNMATCHED_ROUTE, Metrics


class MetricsMiddleware:
    """Record ``http_requests_total`` and friends for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, route_templates: Sequence[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        # Compiled like Starlette's own routes, to label requests that never reached the router.
        self._patterns = [(compile_path(t)[0], t) for t in route_templates]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        cost, token = start_request()
        status = 500  # what the client gets if the app raises before responding
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            elapsed = time.perf_counter() - started
            route = self._route_template(scope)
            self.metrics.observe(route, scope["method"], status, elapsed, cost.cpu_s, cost.db_s)

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # before the last byte leaves (module docstring)
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            end_request(token)
            if not recorded:  # the app raised, or never finished its response
                record()

    def _route_template(self, scope: Scope) -> str:
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        for pattern, template in self._patterns:
            if pattern.match(scope["path"]):
                return template
        return UNMATCHED_ROUTE
