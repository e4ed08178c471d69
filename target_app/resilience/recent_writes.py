"""Who wrote in the last ``READ_YOUR_WRITES_S`` seconds: those users read from the primary.

A replica replays the primary's changes a little later (its lag), so a user who posts a job
and then opens the board on a replica could miss the job they just posted. The rule: a
signed-in user's write (any request other than GET/HEAD/OPTIONS, marked when it is
authorised, before it runs) sends that user's routed reads to the primary for the window.

With a Redis (the read path's: ``CACHE_REDIS_URL``, else ``REDIS_URL``) the mark is a key
with the window as its expiry (``target_app:wrote:<user id>``), so it holds across workers
and instances, whichever one the load balancer picks next; without one, a dictionary of this
process (right for one worker). Redis calls go through the ``cache`` breaker, the breaker of
the read path's Redis. When
Redis cannot answer, the user is treated as a recent writer: the primary is always right,
a replica only when the user has not written.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from target_app.resilience.breaker import CircuitBreaker

logger = logging.getLogger("target_app")

#: Redis calls of the read path give up after this long: a slow Redis is skipped, not awaited.
REDIS_TIMEOUT_S = 0.25
KEY_PREFIX = "target_app:wrote:"
#: In-process marks are dropped when read after their window; past this many, expired ones go.
LOCAL_PURGE_AT = 10_000


class RecentWriters:
    """Marks writers and answers whether a user wrote within the window."""

    def __init__(self, window_s: float, redis_url: str | None, breaker: CircuitBreaker) -> None:
        self.window_s = window_s
        self._breaker = breaker
        self._lock = threading.Lock()
        self._local: dict[int, float] = {}
        self._redis: Any = None
        self._async_redis: Any = None
        if redis_url and window_s > 0:
            import redis
            import redis.asyncio

            timeout = REDIS_TIMEOUT_S
            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._async_redis = redis.asyncio.Redis.from_url(
                redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )

    async def note(self, user_id: int) -> None:
        """Record that ``user_id`` writes now (called on the event loop)."""
        if self.window_s <= 0:
            return
        if self._async_redis is None:
            now = time.monotonic()
            with self._lock:
                if len(self._local) >= LOCAL_PURGE_AT:  # users who never read again
                    self._local = {u: t for u, t in self._local.items() if t > now}
                self._local[user_id] = now + self.window_s
            return
        window_ms = max(1, int(self.window_s * 1000))
        try:
            key = KEY_PREFIX + str(user_id)
            await self._breaker.call(self._async_redis.set, key, 1, px=window_ms)
        except Exception as exc:  # a lost mark only sends the reads to the primary
            logger.debug("recent-writer mark of user %s not stored: %s", user_id, exc)

    def wrote_recently(self, user_id: int) -> bool:
        """True when ``user_id`` wrote within the window, or when that cannot be known."""
        if self.window_s <= 0:
            return False
        if self._redis is None:
            with self._lock:
                until = self._local.get(user_id)
                if until is not None and until <= time.monotonic():
                    del self._local[user_id]
                    until = None
            return until is not None
        try:
            with self._breaker.guard():
                return bool(self._redis.exists(KEY_PREFIX + str(user_id)))
        except Exception:  # unknown: the primary is the safe answer
            return True

    async def close(self) -> None:
        """Close the Redis connections."""
        if self._redis is not None:
            self._redis.close()
        if self._async_redis is not None:
            await self._async_redis.aclose()
