"""Every exception the service raises on purpose, under one root: ``ServiceError``.

``except ServiceError`` catches all of them. Each carries what failed (the setting and its
value, the schema version found, the database, the dependency, the key), so a handler can
answer usefully and a log line names the culprit. ``status`` is the HTTP status a request that
raises the error is answered with, as problem details (``core/problems.py``); at 500 the client
is told only "Internal error." and the error is logged, because its message may name internals.

Exception tree::

    ServiceError                       500
     ├── ConfigError                   a setting the service cannot run with (variable, value)
     ├── SchemaVersionError            the database's schema version is not this code's (found)
     ├── SeedError                     the database cannot be seeded as asked (url)
     ├── InvalidToken                  a bearer token is malformed, forged or expired (reason)
     ├── BadRequest                    400  the request makes no sense (a bad cursor)
     ├── Unauthorized                  401  + WWW-Authenticate: Bearer
     ├── Forbidden                     403  this role or this user may not do this
     ├── NotFound                      404  no such object, or one the caller may not see
     ├── Conflict                      409  the object's state does not allow the change
     ├── InvalidInput                  422  a parameter that type-checks but says nothing usable
     └── ResilienceError               raised by ``target_app.resilience``
          ├── DependencyUnavailable    503  + Retry-After (dependency, retry_after_s)
          │    ├── CircuitOpenError         its breaker refused the call without trying it
          │    ├── CallTimeoutError         the call took longer than the breaker's timeout
          │    └── InjectedFault            a fake dependency failed on purpose
          └── IdempotencyError         the Idempotency-Key of a write (key)
               ├── InvalidIdempotencyKey    400  empty, too long or not printable ASCII
               ├── IdempotencyInFlight      409  the first request with the key still runs
               └── IdempotencyKeyReused     422  the key was used for a different request
"""

from __future__ import annotations

import math
from typing import ClassVar

#: Seconds a client is asked to wait before retrying, unless the error knows better.
RETRY_AFTER_S = 1


class ServiceError(Exception):
    """Root of the service's errors. ``detail`` is the message; ``headers`` go with the answer."""

    status: ClassVar[int] = 500

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail
        self.headers = headers or {}
        super().__init__(detail)


class ConfigError(ServiceError, ValueError):
    """A setting has a value the service cannot run with; the message names both."""

    def __init__(self, variable: str, value: object, reason: str) -> None:
        self.variable = variable
        self.value = value
        self.reason = reason
        super().__init__(f"Config '{variable}' has value {value!r}. {reason}")


class SchemaVersionError(ServiceError):
    """The database holds a schema version this code has no way to use or migrate."""

    def __init__(self, found: int, expected: int) -> None:
        self.found = found
        self.expected = expected
        super().__init__(
            f"Database schema version {found}, this code needs {expected}: migrate or reseed"
        )


class SeedError(ServiceError):
    """The database at ``url`` (password hidden) cannot be seeded as asked."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url} {reason}")


class InvalidToken(ServiceError):
    """A bearer token is malformed, forged or expired; ``reason`` says which.

    The token itself is not kept: it is a credential, and exceptions end up in logs.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BadRequest(ServiceError):
    """The request is well-formed JSON but makes no sense (for example a bad cursor)."""

    status = 400


class Unauthorized(ServiceError):
    """No valid bearer token."""

    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    """Authenticated, but this role or this user may not do this."""

    status = 403


class NotFound(ServiceError):
    """No such object, or one the caller is not allowed to know about."""

    status = 404


class Conflict(ServiceError):
    """The object's state does not allow the change (award a closed job, second active bid)."""

    status = 409


class InvalidInput(ServiceError):
    """A parameter that passed its type check but says nothing usable (a search of no words);
    422 like every other invalid input, so a client treats it as its own mistake."""

    status = 422


class ResilienceError(ServiceError):
    """Root of the errors raised by ``target_app.resilience``."""


class DependencyUnavailable(ResilienceError):
    """``dependency`` cannot serve this call; the client should retry after ``retry_after_s``.

    ``reason`` is what went wrong (``circuit open, retry in 30.0 s``); the message and the
    client's ``detail`` name the dependency as well.
    """

    status = 503

    def __init__(self, dependency: str, reason: str, retry_after_s: float = RETRY_AFTER_S) -> None:
        self.dependency = dependency
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(
            f"{dependency} is unavailable: {reason}",
            headers={"Retry-After": self.retry_after_header},
        )

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
    """An ``Idempotency-Key`` that cannot be honoured; ``key`` is the key (its first 40
    characters when it is malformed, which may mean megabytes)."""

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(detail)


class InvalidIdempotencyKey(IdempotencyError):
    """The header value cannot be a key."""

    status = 400


class IdempotencyInFlight(IdempotencyError):
    """A request with the same key is still being processed."""

    status = 409


class IdempotencyKeyReused(IdempotencyError):
    """The key was already used by this user for a different request."""

    status = 422
