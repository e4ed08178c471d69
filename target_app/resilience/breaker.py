"""A small circuit breaker for asyncio (and for the thread-pool code around it).

A breaker stands between the service and one dependency, like a fuse in a fuse box: when the
dependency keeps failing, it stops sending calls there for a while, so that requests fail fast
(503 + ``Retry-After``) instead of piling up behind a dependency that will not answer, and the
dependency gets room to recover. Three states::

            N consecutive failures (errors or calls slower than the timeout)
    CLOSED ─────────────────────────────────────────────────────────────► OPEN
      ▲                                                                    │ reset time passes
      │ a trial call succeeds                                              ▼
      └────────────────────────────── HALF-OPEN ◄──────────────────────────┘
                                        │ a trial call fails
                                        └─────────────────────────────────► OPEN (timer restarts)

* **closed**: every call goes through; a success resets the failure count.
* **open**: every call is rejected at once with `CircuitOpenError`; the dependency sees nothing.
* **half-open**: after ``reset_s``, at most ``half_open_calls`` trial calls are admitted; the
  others are *rejected*, not queued (a queue would release a stampede on recovery). The first
  trial to finish decides: success closes the breaker, failure opens it again.

Why not a library: pybreaker serialises every call behind one lock and has no asyncio support;
purgatory lets every caller through when half-open (see docs/resilience.md).

Outcomes of calls admitted in an earlier state are ignored (each state change starts a new
*generation*): a slow call admitted while closed that fails after the breaker opened must not
restart the open timer, and a trial's result must not count once another trial has decided.

The lock guards only the bookkeeping, never the call, so concurrent calls run concurrently.
Time comes from an injectable ``clock`` (seconds, monotonic) so tests can step it.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import ParamSpec, TypeVar

from target_app.core.errors import CallTimeoutError, CircuitOpenError

P = ParamSpec("P")
T = TypeVar("T")

#: Seconds from an arbitrary origin; only differences matter (``time.monotonic`` by default).
Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    """Where a breaker is; the value is what ``/health/ready`` and ``/metrics`` show."""

    closed = "closed"
    open = "open"
    half_open = "half_open"


#: Called as ``listener(name, old_state, new_state)`` on every transition, under the lock:
#: keep it quick (set a gauge, append to a list).
Listener = Callable[[str, BreakerState, BreakerState], None]

#: Decides whether an exception counts against the dependency. A 404 from a storage service or
#: a unique-constraint violation is the caller's problem, not the dependency's.
FailurePredicate = Callable[[BaseException], bool]


def _every_exception(_exc: BaseException) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and how it recovers.

    ``BreakerPolicy(failures=5, timeout_s=10, reset_s=30)`` is the launch plan's database row
    (docs/resilience.md): open after 5 consecutive failures or calls slower than 10 s, try
    again after 30 s.
    """

    failures: int
    timeout_s: float
    reset_s: float
    half_open_calls: int = 3

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError(f"failures must be >= 1, got {self.failures}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.reset_s <= 0:
            raise ValueError(f"reset_s must be > 0, got {self.reset_s}")
        if self.half_open_calls < 1:
            raise ValueError(f"half_open_calls must be >= 1, got {self.half_open_calls}")


@dataclass(slots=True)
class _Ticket:
    """One admitted call: the generation it belongs to, whether it is a trial, its start."""

    generation: int
    trial: bool
    started: float


@dataclass(slots=True)
class BreakerStats:
    """Counts since the breaker was made (for tests, ``/health/ready`` and metrics)."""

    admitted: int = 0
    rejected: int = 0
    succeeded: int = 0
    failed: int = 0
    slow: int = 0
    transitions: list[tuple[BreakerState, BreakerState]] = field(default_factory=list)


class CircuitBreaker:
    """The breaker of one dependency (see the module docstring for the state machine)."""

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        *,
        clock: Clock = time.monotonic,
        is_failure: FailurePredicate = _every_exception,
        listeners: tuple[Listener, ...] = (),
    ) -> None:
        self.name = name
        self.policy = policy
        self.stats = BreakerStats()
        self._clock = clock
        self._is_failure = is_failure
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        self._state = BreakerState.closed
        self._generation = 0
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._trials_admitted = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state.value}, policy={self.policy})"

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(name, old, new)`` on every future transition."""
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose reset time has passed reads half-open)."""
        with self._lock:
            self._maybe_half_open()
            return self._state

    def retry_after_s(self) -> float:
        """Seconds until an open breaker admits trial calls (0 when it admits calls now)."""
        with self._lock:
            if self._state is BreakerState.open:
                return max(0.0, self._opened_at + self.policy.reset_s - self._clock())
            return 0.0

    # --- bookkeeping (always under the lock) -------------------------------------------------

    def _transition(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        self._generation += 1
        self._consecutive_failures = 0
        self._trials_admitted = 0
        if new is BreakerState.open:
            self._opened_at = self._clock()
        self.stats.transitions.append((old, new))
        for listener in self._listeners:
            listener(self.name, old, new)

    def _maybe_half_open(self) -> None:
        if (
            self._state is BreakerState.open
            and self._clock() >= self._opened_at + self.policy.reset_s
        ):
            self._transition(BreakerState.half_open)

    def _admit(self) -> _Ticket:
        with self._lock:
            self._maybe_half_open()
            if self._state is BreakerState.open or (
                self._state is BreakerState.half_open
                and self._trials_admitted >= self.policy.half_open_calls
            ):
                self.stats.rejected += 1
                wait = max(0.0, self._opened_at + self.policy.reset_s - self._clock())
                raise CircuitOpenError(self.name, wait if wait > 0 else 1.0)
            trial = self._state is BreakerState.half_open
            if trial:
                self._trials_admitted += 1
            self.stats.admitted += 1
            return _Ticket(self._generation, trial, self._clock())

    def _record(self, ticket: _Ticket, *, ok: bool) -> None:
        with self._lock:
            elapsed = self._clock() - ticket.started
            slow = elapsed > self.policy.timeout_s
            if slow:
                self.stats.slow += 1
            failed = not ok or slow
            if failed:
                self.stats.failed += 1
            else:
                self.stats.succeeded += 1
            if ticket.generation != self._generation:
                return  # admitted under an earlier state: its outcome no longer decides
            if self._state is BreakerState.half_open:
                self._transition(BreakerState.open if failed else BreakerState.closed)
            elif self._state is BreakerState.closed:
                if not failed:
                    self._consecutive_failures = 0
                    return
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.policy.failures:
                    self._transition(BreakerState.open)

    def _release(self, ticket: _Ticket) -> None:
        """Forget a call that ended without a verdict (the caller was cancelled)."""
        with self._lock:
            if ticket.trial and ticket.generation == self._generation:
                self._trials_admitted -= 1  # give the trial slot back, or half-open starves

    def _settle(self, ticket: _Ticket, exc: BaseException | None) -> None:
        if exc is None:
            self._record(ticket, ok=True)
        elif isinstance(exc, Exception) and self._is_failure(exc):
            self._record(ticket, ok=False)
        elif isinstance(exc, Exception):
            # Not the dependency's fault (e.g. a constraint violation): it answered, so success.
            self._record(ticket, ok=True)
        else:
            self._release(ticket)  # CancelledError, KeyboardInterrupt: no verdict

    # --- the two ways to call through the breaker ---------------------------------------------

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the breaker.

        Raises `CircuitOpenError` without calling ``fn`` when the breaker rejects the call, and
        `CallTimeoutError` (after cancelling ``fn``) when it runs longer than ``timeout_s``.
        A call that returns but took longer than ``timeout_s`` by the breaker's clock counts as
        a failure too (its result is still returned).
        """
        ticket = self._admit()
        try:
            async with asyncio.timeout(self.policy.timeout_s):
                result = await fn(*args, **kwargs)
        except TimeoutError as exc:
            self._record(ticket, ok=False)
            if isinstance(exc, CallTimeoutError):
                raise
            raise CallTimeoutError(self.name, self.policy.timeout_s) from exc
        except BaseException as exc:
            self._settle(ticket, exc)
            raise
        self._settle(ticket, None)
        return result

    def guard(self) -> AbstractContextManager[None]:
        """Run a synchronous block through the breaker (database sessions in thread pools).

        ``with breaker.guard(): ...`` raises `CircuitOpenError` before the block runs when the
        breaker rejects it. A synchronous block cannot be interrupted, so its timeout is judged
        afterwards: a block slower than ``timeout_s`` counts as a failure (the database driver's
        own timeouts bound how long it can take).
        """
        return _Guard(self)


class _Guard:
    """`CircuitBreaker.guard`'s context manager: a small class, not a generator.

    It wraps every database session and the job board's reads, so its cost is paid on every
    request, and a generator's machinery would cost more than the bookkeeping it wraps.
    """

    __slots__ = ("_breaker", "_ticket")

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self._ticket: _Ticket | None = None

    def __enter__(self) -> None:
        self._ticket = self._breaker._admit()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        exc: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:  # None: the block's exception, if any, goes on
        if self._ticket is not None:
            self._breaker._settle(self._ticket, exc)
