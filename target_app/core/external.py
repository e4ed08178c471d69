"""Readiness of the dependencies the service reaches over the network besides its database:
Redis, when ``REDIS_URL`` is set, and the cache's own Redis when ``CACHE_REDIS_URL`` names
another.

The external services (payments, SMS, e-mail, storage, AI) are in-process fakes behind circuit
breakers (``target_app/resilience/``); their state is in ``/health/ready`` as the breakers'.
"""

from __future__ import annotations

from target_app.core.config import Settings

CHECK_TIMEOUT_S = 0.5


def check_dependencies(settings: Settings) -> dict[str, str]:
    """State of each dependency: ``ok``, ``not configured`` or ``down: <reason>``."""
    found = {"redis": _check_redis(settings.redis_url)}
    if settings.cache_redis_url and settings.cache_redis_url != settings.redis_url:
        found["cache_redis"] = _check_redis(settings.cache_redis_url)
    return found


def _check_redis(url: str | None) -> str:
    if not url:
        return "not configured"
    import redis  # imported here: deployments without Redis never load the client

    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"down: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"
