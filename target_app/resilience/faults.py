"""The fault board: which failures are injected into which fake dependency, right now.

A `Fault` describes how a dependency misbehaves: extra ``latency_s`` on every call, an
``error_rate`` (the share of calls that fail), or ``hang`` (calls never answer; the breaker's
timeout cuts them off). The `FaultBoard` holds the current fault of each fake dependency; the
fakes read it on every call, so a fault set through ``/admin/faults`` takes effect on the next
call and clearing it ends the outage at once.

The board is per process. With several workers and ``REDIS_URL`` set, `SharedFaults` keeps the
boards equal: the admin API publishes every change to Redis and each worker pulls it within
half a second. Database faults go through the TCP fault proxy instead, which all workers share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from target_app.core.config import FAKE_DEPENDENCIES

logger = logging.getLogger("target_app.resilience.faults")


@dataclass(frozen=True, slots=True)
class Fault:
    """How one dependency misbehaves. ``Fault()`` is healthy."""

    latency_s: float = 0.0
    """Added to the dependency's own latency on every call."""
    error_rate: float = 0.0
    """Share of calls, 0 to 1, that fail with `InjectedFault` (1.0 is an outage)."""
    hang: bool = False
    """Calls never answer (until the breaker's timeout abandons them)."""

    def __post_init__(self) -> None:
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")

    @property
    def healthy(self) -> bool:
        """True when nothing is injected."""
        return self == Fault()

    def as_dict(self) -> dict[str, Any]:
        """The fault as JSON-ready data."""
        return asdict(self)


class FaultBoard:
    """Current fault per dependency, safe to read and change from any thread."""

    def __init__(self, dependencies: Iterable[str] = FAKE_DEPENDENCIES) -> None:
        self._faults = {name: Fault() for name in dependencies}
        self._lock = threading.Lock()

    @property
    def dependencies(self) -> tuple[str, ...]:
        """Names of the dependencies faults can be injected into."""
        return tuple(self._faults)

    def _check(self, name: str) -> None:
        if name not in self._faults:
            raise KeyError(f"unknown dependency {name!r}; one of {sorted(self._faults)}")

    def get(self, name: str) -> Fault:
        """The fault currently injected into ``name`` (``Fault()`` when healthy)."""
        self._check(name)
        return self._faults[name]

    def set(self, name: str, fault: Fault) -> None:
        """Inject ``fault`` into ``name``, replacing any previous fault."""
        self._check(name)
        with self._lock:
            self._faults[name] = fault

    def clear(self, name: str | None = None) -> None:
        """Heal ``name``, or every dependency when ``name`` is None."""
        with self._lock:
            for key in [name] if name is not None else list(self._faults):
                self._check(key)
                self._faults[key] = Fault()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every dependency's current fault."""
        return {name: fault.as_dict() for name, fault in self._faults.items()}


class SharedFaults:
    """Keeps the fault boards of several worker processes equal, through Redis.

    The admin API answers in whichever worker the request reached; `publish` writes that
    worker's board to a Redis hash and every worker's `run` loop copies the hash into its own
    board every ``poll_s``, so a fault set once reaches all workers within that time.
    """

    def __init__(
        self, board: FaultBoard, redis_url: str, *, key: str = "target_app:faults"
    ) -> None:
        import redis.asyncio

        self.board = board
        self.key = key
        self._redis = redis.asyncio.Redis.from_url(redis_url)

    async def publish(self) -> None:
        """Write this worker's board to Redis (after the admin API changed it)."""
        mapping: Any = {name: json.dumps(f) for name, f in self.board.snapshot().items()}
        await self._redis.hset(self.key, mapping=mapping)

    async def pull(self) -> None:
        """Copy the shared faults into this worker's board."""
        shared = await self._redis.hgetall(self.key)
        for raw_name, raw_fault in shared.items():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            if name in self.board.dependencies:
                self.board.set(name, Fault(**json.loads(raw_fault)))

    async def run(self, stop: asyncio.Event, poll_s: float = 0.5) -> None:
        """Pull every ``poll_s`` until ``stop`` is set; a Redis outage only delays updates."""
        while not stop.is_set():
            try:
                await self.pull()
            except Exception:
                logger.warning("could not read shared faults from Redis", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_s)

    async def close(self) -> None:
        """Close the Redis connection."""
        await self._redis.aclose()
