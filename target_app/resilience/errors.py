"""Exceptions of the resilience package, under one root.

Each carries what failed (the dependency, the key, the limit), so a handler can build a useful
response and a log line names the culprit::

    ResilienceError
     ├── ResilienceConfigError      a setting the service cannot start with (names key, value)
     ├── DependencyUnavailable      a dependency cannot serve this call -> 503 + Retry-After
     │    ├── CircuitOpenError      its breaker is open (or half-open with no trial slot left)
     │    ├── CallTimeoutError      the call exceeded the breaker's timeout
     │    └── InjectedFault         a fake dependency failed on purpose (fault injection)
     └── IdempotencyError
          ├── IdempotencyKeyReused  same key, different payload               -> 422
          ├── IdempotencyInFlight   same key while the first request runs     -> 409
          └── InvalidIdempotencyKey the header is empty, too long or not ASCII -> 400
"""

from __future__ import annotations

import math


class ResilienceError(Exception):
    """Root of every error raised by ``target_app.resilience``."""


class ResilienceConfigError(ResilienceError, ValueError):
    """A resilience setting has a value the service cannot run with. Names both."""

    def __init__(self, variable: str, value: object, reason: str) -> None:
        self.variable = variable
        self.value = value
        super().__init__(f"Config '{variable}' has value {value!r}. {reason}")


class DependencyUnavailable(ResilienceError):
    """A dependency cannot serve this call; the client should retry after ``retry_after_s``."""

    def __init__(self, dependency: str, detail: str, retry_after_s: float = 1.0) -> None:
        self.dependency = dependency
        self.detail = detail
        self.retry_after_s = retry_after_s
        super().__init__(f"{dependency}: {detail}")

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` as whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


class CircuitOpenError(DependencyUnavailable):
    """The breaker of ``dependency`` rejected the call without trying it."""

    def __init__(self, dependency: str, retry_after_s: float) -> None:
        super().__init__(dependency, f"circuit open, retry in {retry_after_s:.1f} s", retry_after_s)


class CallTimeoutError(DependencyUnavailable, TimeoutError):
    """The call to ``dependency`` took longer than ``timeout_s`` and was abandoned."""

    def __init__(self, dependency: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(dependency, f"call exceeded the {timeout_s:g} s timeout")


class InjectedFault(DependencyUnavailable):
    """A fake dependency failed because a fault was injected (error rate or outage)."""


class IdempotencyError(ResilienceError):
    """Base of the Idempotency-Key errors; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        self.detail = detail
        super().__init__(detail)


class IdempotencyKeyReused(IdempotencyError):
    """The key was already used by this user for a different request."""

    status = 422


class IdempotencyInFlight(IdempotencyError):
    """A request with the same key is still being processed."""

    status = 409


class InvalidIdempotencyKey(IdempotencyError):
    """The header value cannot be a key."""

    status = 400
