"""Resilience inside the service: rate limits, circuit breakers, fakes, outbox, idempotency.

The app factory calls one function, `install_resilience`, and the routes use the `Resilience`
object it returns (see ``docs/resilience.md`` for what each part does and how to inject a
fault). Importing the package registers its tables (outbox, idempotency keys, payment holds)
on the service's ``Base.metadata``.
"""

from target_app.resilience.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from target_app.resilience.errors import (
    CallTimeoutError,
    CircuitOpenError,
    DependencyUnavailable,
    IdempotencyError,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InjectedFault,
    InvalidIdempotencyKey,
    ResilienceConfigError,
    ResilienceError,
)
from target_app.resilience.faults import Fault, FaultBoard
from target_app.resilience.idempotency import Idempotency, IdempotencyKeyHeader
from target_app.resilience.identity import Identity, IdentityResolver, bearer_resolver
from target_app.resilience.install import Resilience, install_resilience
from target_app.resilience.ratelimit import RateLimitMiddleware
from target_app.resilience.registry import DEFAULT_POLICIES, BreakerRegistry
from target_app.resilience.settings import ResilienceSettings, load_resilience_settings
from target_app.resilience.tables import IdempotencyRecord, OutboxMessage, PaymentHold

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
    "Identity",
    "IdentityResolver",
    "InjectedFault",
    "InvalidIdempotencyKey",
    "OutboxMessage",
    "PaymentHold",
    "RateLimitMiddleware",
    "Resilience",
    "ResilienceConfigError",
    "ResilienceError",
    "ResilienceSettings",
    "bearer_resolver",
    "install_resilience",
    "load_resilience_settings",
]
