"""Resilience inside the service: rate limits, circuit breakers, fakes, outbox, idempotency.

The app factory calls one function, `install_resilience`, and the routes use the `Resilience`
object it returns (see ``docs/resilience.md`` for what each part does and how to inject a
fault). The package's settings are fields of the service's `Settings` (``core/config.py``),
its errors are in the service's exception tree (``core/errors.py``) and its tables are in
``models.py``, beside the marketplace's; they are exported here too, for the package's users.
"""

from target_app.core.errors import (
    CallTimeoutError,
    CircuitOpenError,
    DependencyUnavailable,
    IdempotencyError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InjectedFault,
    InvalidIdempotencyKey,
    ResilienceError,
)
from target_app.models import IdempotencyRecord, OutboxMessage, PaymentHold
from target_app.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from target_app.resilience.faults import Fault, FaultBoard
from target_app.resilience.idempotency import Idempotency, IdempotencyKeyHeader, IdempotentWrite
from target_app.resilience.identity import Identity, IdentityResolver, bearer_resolver
from target_app.resilience.install import Resilience, install_resilience
from target_app.resilience.ratelimit import RateLimitMiddleware
from target_app.resilience.registry import DEFAULT_POLICIES, BreakerRegistry

__all__ = [
    "DEFAULT_POLICIES",
    "BreakerPolicy",
    "BreakerRegistry",
    "BreakerState",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitOpenError",
    "DependencyUnavailable",
    "Fault",
    "FaultBoard",
    "Idempotency",
    "IdempotencyError",
    "IdempotencyInFlight",
    "IdempotencyKeyHeader",
    "IdempotencyKeyReused",
    "IdempotencyRecord",
    "IdempotentWrite",
    "Identity",
    "IdentityResolver",
    "InjectedFault",
    "InvalidIdempotencyKey",
    "OutboxMessage",
    "PaymentHold",
    "RateLimitMiddleware",
    "Resilience",
    "ResilienceError",
    "bearer_resolver",
    "install_resilience",
]
