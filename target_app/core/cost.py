"""Per-request service demand: the CPU time and database time one request consumed.

The capacity model needs, per endpoint, how many CPU-seconds and database-seconds a request
costs (its *service demand*). Wall-clock latency is no substitute: under load it includes
queueing, which is exactly what the model is supposed to predict.

How the numbers are made exact:

* Endpoints are synchronous, so Starlette runs each one in a thread-pool thread, start to end,
  without sharing that thread with another request. ``time.thread_time()`` (the calling
  thread's CPU clock) read before and after is therefore this request's CPU, and nobody
  else's. The same holds for every synchronous *segment* on the event loop (a stretch of code
  with no ``await`` in it), such as token verification.
* Database time is summed by SQLAlchemy cursor events around each statement.

Both land in a `RequestCost` held by a context variable. The metrics middleware creates one
per request; thread-pool calls copy the context, and the copy refers to the same object, so
work done in worker threads adds to the request that caused it.

What is *not* attributed to a route: uvicorn's HTTP parsing and Starlette's routing on the
event loop. That framework overhead shows up in ``process_cpu_seconds_total`` only; the
difference between the two is a per-request constant the calibration can fit.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(slots=True)
class RequestCost:
    """CPU and database seconds consumed by one request so far."""

    cpu_s: float = 0.0
    db_s: float = 0.0


_current: ContextVar[RequestCost | None] = ContextVar("target_app_request_cost", default=None)


def current_cost() -> RequestCost | None:
    """The cost record of the request being served, or None outside a request."""
    return _current.get()


def start_request() -> tuple[RequestCost, object]:
    """Begin accounting for a new request; returns the record and a token for `end_request`."""
    cost = RequestCost()
    return cost, _current.set(cost)


def end_request(token: object) -> None:
    """Stop accounting (restores the previous context value)."""
    _current.reset(token)  # type: ignore[arg-type]


class cpu_segment:
    """Add the CPU time of the enclosed code, which must not ``await``, to the request.

    A small class rather than a ``@contextmanager`` generator: it runs twice on every request's
    hot path, and the generator machinery costs more than the two clock reads.
    """

    __slots__ = ("_cost", "_start")

    def __enter__(self) -> None:
        self._cost = _current.get()
        self._start = time.thread_time() if self._cost is not None else 0.0

    def __exit__(self, *_exc: object) -> None:
        if self._cost is not None:
            self._cost.cpu_s += time.thread_time() - self._start


def cpu_accounted(function: Callable[P, R]) -> Callable[P, R]:
    """Wrap a synchronous endpoint so its whole run (in its own thread) counts as its CPU."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with cpu_segment():
            return function(*args, **kwargs)

    return wrapper
