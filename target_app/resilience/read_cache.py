"""The cache of hot reads in Redis (``CACHE_ENABLED``, ``CACHE_TTL_S``; the Redis of
``CACHE_REDIS_URL``, else ``REDIS_URL``).

What is cached (`CACHEABLE_ENDPOINTS`): the first page of the job board per territory (or of
all territories), status, category and the other filters, and the list of territories.
Searches (``q``), later pages (``cursor``) and a homeowner's own jobs (``mine``) are not.

Invalidation is one round trip: every cached page belongs to a *scope* (a territory, ``all``
for the board of every territory, ``static`` for the territories), and its key ends with the
scope's version number. A write that changes a territory's board (a new job, an award, an
edit or withdrawal of a job by its owner, a new or withdrawn bid, which changes the page's
bid count) increments that territory's version and the ``all`` version after it committed;
later lookups build the new key and miss, and the old entries expire on their own.

A board page is filled from the primary, never a replica: the version a lookup read was
raised after its write committed on the primary, so the primary holds that write, while a
lagging replica might not, and would fill the new version with the old page for a whole TTL.
(The territories, which no request changes, are filled wherever the read routing sends them.)

Every Redis call goes through the ``cache`` breaker with a short socket timeout: when Redis
is down or slow, reads go to the database (counted as misses) and writes skip the
invalidation (a page then lives at most ``CACHE_TTL_S`` past the write); never a 5xx.
``cache_requests_total{route,result}`` counts hits and misses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from target_app.core.config import Settings
from target_app.core.metrics import Metrics
from target_app.resilience.breaker import CircuitBreaker
from target_app.resilience.recent_writes import REDIS_TIMEOUT_S

logger = logging.getLogger("target_app")

#: The reads the cache serves; a test keeps this equal to the capacity model's list.
CACHEABLE_ENDPOINTS: frozenset[str] = frozenset({"GET /jobs", "GET /territories"})

PREFIX = "target_app:cache:"
#: The scope of the board of every territory, and of what no write changes.
ALL_SCOPE = "all"
STATIC_SCOPE = "static"

#: One round trip: the scope's version (0 until first raised), then the entry of that version.
_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version)}
"""


class ReadCache:
    """Cached pages of `CACHEABLE_ENDPOINTS` in Redis (see the module docstring)."""

    def __init__(self, settings: Settings, breaker: CircuitBreaker, metrics: Metrics) -> None:
        url = settings.read_path_redis_url
        if not url:
            raise ValueError("the cache needs CACHE_REDIS_URL or REDIS_URL")
        import redis

        self._redis: Any = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self._lookup: Any = self._redis.register_script(_LOOKUP)
        self._ttl_ms = max(1, int(settings.cache_ttl_s * 1000))
        self._breaker = breaker
        self._metrics = metrics

    def page(self, endpoint: str, scope: str, params: str, fill: Callable[[], bytes]) -> bytes:
        """The cached body of ``endpoint`` for ``scope`` and ``params``, or ``fill()``'s,
        which is then cached under the scope's current version."""
        route = endpoint.split(" ", 1)[1]
        prefix = f"{PREFIX}e:{endpoint}:{scope}:{params}:v"
        try:
            with self._breaker.guard():
                version, cached = self._lookup(keys=[f"{PREFIX}v:{scope}"], args=[prefix])
        except Exception as exc:  # Redis down: the database answers
            logger.debug("cache lookup of %s skipped: %s", endpoint, exc)
            self._count(route, "miss")
            return fill()
        if cached is not None:
            self._count(route, "hit")
            return bytes(cached)
        self._count(route, "miss")
        body = fill()
        key = prefix + (version.decode() if isinstance(version, bytes) else str(version))
        try:
            with self._breaker.guard():
                self._redis.set(key, body, px=self._ttl_ms)
        except Exception as exc:  # not cached this time; the answer stands
            logger.debug("cache fill of %s skipped: %s", endpoint, exc)
        return body

    def invalidate(self, territory_id: int) -> None:
        """After a committed write that changed ``territory_id``'s board: raise its version
        and the version of the board of every territory."""
        try:
            with self._breaker.guard():
                pipe = self._redis.pipeline(transaction=False)
                pipe.incr(f"{PREFIX}v:{territory_id}")
                pipe.incr(f"{PREFIX}v:{ALL_SCOPE}")
                pipe.execute()
        except Exception as exc:  # the page then expires with its TTL
            logger.warning("cache invalidation of territory %s lost: %s", territory_id, exc)

    def _count(self, route: str, result: str) -> None:
        self._metrics.cache_requests.labels(route, result).inc()

    def close(self) -> None:
        """Close the Redis connections."""
        self._redis.close()
