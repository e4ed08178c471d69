"""The one module through which the service talks to anything but its database.

Today that is the Redis readiness check. Issue 4 adds the in-process fakes of the external
services (payments, SMS, e-mail, storage, AI) and the circuit breakers around them here, so
that fault injection and breakers have a single seam to wrap.
"""

from __future__ import annotations

from target_app.core.config import Settings

CHECK_TIMEOUT_S = 0.5


def check_dependencies(settings: Settings) -> dict[str, str]:
    """State of each dependency: ``ok``, ``not configured`` or ``down: <reason>``."""
    return {"redis": _check_redis(settings.redis_url)}


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
