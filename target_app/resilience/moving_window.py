"""An in-process moving-window rate limiter: the rate limits' storage with one worker and no Redis.

It answers the two calls the rate-limit middleware makes of ``limits``' moving-window limiter
(`hit` and `get_window_stats`, the same arguments and results), so the middleware uses either.

Why not ``limits``' own in-memory storage: its asynchronous one schedules an expiry sweep on
every hit whenever none is running, and the sweep walks every key with one hop to a worker
thread per key, so under load a sweep is always running and every request pays for all the
keys (measured on the bundled service at 120 users: 3.9 ms of CPU a request, 2.1 ms with
Redis, 1.7 ms with this; docs/benchmarks.md, "The in-memory rate limiter"). Here a hit costs
the same whatever the number of keys: each key keeps its hit times oldest first, a hit drops
the expired ones from the front (each time is dropped once) and appends its own, and keys idle
for a whole window are forgotten in one pass at most once per window (100,000 keys, half of
them idle: 25 ms, once a minute).

Everything runs on the event loop's thread with no ``await`` inside, so a hit is atomic.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem
from limits.util import WindowStats


class InProcessMovingWindow:
    """Moving-window counts per key for one process (``limits.aio.strategies`` call shape).

    ``clock`` returns seconds (wall clock by default, as ``limits`` uses: ``RateLimit-Reset`` is
    computed against ``time.time()``).
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = clock()
        self._longest_window_s = 0

    @property
    def keys(self) -> int:
        """How many keys are held (the memory this limiter uses grows with it)."""
        return len(self._hits)

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        """Count ``cost`` hits for the caller unless that would pass the limit; True if counted."""
        now = self._clock()
        window_s = item.get_expiry()
        self._longest_window_s = max(self._longest_window_s, window_s)
        self._sweep(now)
        key = item.key_for(*identifiers)
        hits = self._live_hits(key, now, window_s)
        if len(hits) + cost > item.amount:
            return False
        if hits is _EMPTY:
            hits = self._hits[key] = deque()
        hits.extend([now] * cost)
        return True

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """When the oldest counted hit leaves the window, and how many hits are left until then."""
        now = self._clock()
        window_s = item.get_expiry()
        hits = self._live_hits(item.key_for(*identifiers), now, window_s)
        reset_at = hits[0] + window_s if hits else now
        return WindowStats(reset_at, item.amount - len(hits))

    def _live_hits(self, key: str, now: float, window_s: int) -> deque[float]:
        """The key's hits still inside the window (expired ones dropped); an empty one if none."""
        hits = self._hits.get(key)
        if hits is None:
            return _EMPTY
        cutoff = now - window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        """Forget the keys with no hit in the longest window, at most once such a window."""
        if now < self._next_sweep:
            return
        cutoff = now - self._longest_window_s
        for key in [key for key, hits in self._hits.items() if not hits or hits[-1] <= cutoff]:
            del self._hits[key]
        self._next_sweep = now + self._longest_window_s


#: The hits of a key never seen (or forgotten); never mutated.
_EMPTY: deque[float] = deque(maxlen=0)
