"""The system under load: a load balancer over instances of W workers, a database pool with
an acquire timeout, circuit breakers, and (optionally) external calls.

The picture::

    arrivals --> load balancer --> [ instance 1: W workers ] --+--> DB pool (P connections,
                 (one FIFO queue)  [ instance 2: W workers ]   |    acquire timeout -> error)
                                   [ ...                    ]  +--> external calls (breakers)

A request waits (FIFO) for the first free worker of any serving instance (a load balancer
that sends each request to the least busy instance behaves like this single queue), then
holds the worker while it acquires a connection, uses it for its database time, and runs its
CPU time. So the worker is busy for ``connection wait + db + cpu (+ external calls)``, and
an instance's CPU is its busy workers over W.

**How it is simulated, exactly and fast.** With first-come-first-served queues and service
times drawn when a request starts, the time each request *starts* is decided the moment it
is its turn (Kiefer & Wolfowitz 1955): keep the times at which each worker (each connection)
becomes free in a heap; the next request starts at ``max(now, earliest free time)`` and puts
back ``start + hold``. So a request costs a few heap operations instead of the five or six
SimPy events (request, grant, timeout, release, ...) a ``simpy.Resource`` model schedules,
and gives the same start and end times a ``simpy.Resource`` FIFO model does (a test checks
this against such a model). The SimPy environment (:mod:`models.simulation.runner`) runs the
clock and the processes that change the system: traffic windows, the recorder and the
autoscaler. Requests are taken strictly in time order, arrivals and queue dispatches
interleaved, so the connection heap also sees acquisitions in time order, which makes its
FIFO waits and acquire timeouts exact too.

A database breaker opens after ``failures`` consecutive acquire timeouts; while open,
requests fail at once (no worker time); after ``reset_s`` one trial request is let through.

Overload produces errors, as in the service: a request still unanswered
``infrastructure.request_timeout_s`` after it arrived is answered 503 (the instance's
timeout), whether it was still queued (no worker time) or running (its worker stops at the
deadline); a request that waits longer than ``acquire_timeout_s`` for a connection fails.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.errors import ParameterError
from models.profile import Breaker, Profile

__all__ = ["BACKGROUND", "CircuitBreaker", "ExternalCall", "System", "SystemSpec", "TickCounters"]

BACKGROUND = -1
"""The endpoint index of background work (models/background.py): it holds a worker and a
connection like a request, but is neither a latency nor an error of the users'."""


@dataclass(frozen=True, slots=True)
class ExternalCall:
    """A call to an external service (payments, sms, ...) made by some endpoints.

    The profile names the services and their breakers but not which endpoint calls them, nor
    their latency: pass these to study a failing dependency (``failure_probability``) or a
    slow one (``latency_s`` beyond the breaker's ``timeout_s`` counts as a failure).
    """

    service: str
    endpoints: tuple[str, ...]
    latency_s: float
    failure_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.latency_s < 0:
            raise ParameterError(f"latency_s must be >= 0, got {self.latency_s}")
        if not 0.0 <= self.failure_probability <= 1.0:
            raise ParameterError(
                f"failure_probability must be in [0, 1], got {self.failure_probability}"
            )


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """The parts of ``[infrastructure]`` the simulation needs."""

    workers_per_instance: int
    pool_size: int
    acquire_timeout_s: float
    breakers: dict[str, tuple[int, float, float]]
    """Per service: (consecutive failures to open, call timeout s, reset s)."""
    replicas: int = 0
    """Read replicas, each with a pool of ``pool_size`` connections of its own."""
    request_timeout_s: float = math.inf
    """A request not answered this long after it arrived is answered 503 (an error), and its
    worker stops working on it."""

    @classmethod
    def from_profile(cls, profile: Profile) -> SystemSpec:
        infra = profile.infrastructure
        breakers = {}
        for name in type(infra.breakers).model_fields:
            breaker: Breaker = getattr(infra.breakers, name)
            breakers[name] = (breaker.failures, breaker.timeout_s, breaker.reset_s)
        return cls(
            workers_per_instance=infra.workers_per_instance,
            pool_size=infra.database.pool_max,
            acquire_timeout_s=infra.database.acquire_timeout_s,
            replicas=infra.database.read_replicas,
            request_timeout_s=infra.request_timeout_s,
            breakers=breakers,
        )


@dataclass(slots=True)
class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures -> half-open after ``reset_s``.

    In half-open state one trial call goes through: success closes, failure re-opens.
    """

    failures: int
    reset_s: float
    consecutive: int = 0
    open_until: float = -math.inf
    trial_pending: bool = False
    opened: int = 0
    """How many times the breaker opened (reported in the totals)."""

    def allow(self, now: float) -> bool:
        if self.consecutive < self.failures:
            return True
        if now < self.open_until or self.trial_pending:
            return False
        self.trial_pending = True  # half-open: this caller is the trial
        return True

    def record(self, now: float, ok: bool) -> None:
        self.trial_pending = False
        if ok:
            self.consecutive = 0
            return
        self.consecutive += 1
        if self.consecutive >= self.failures:
            self.open_until = now + self.reset_s
            self.opened += 1


@dataclass(slots=True)
class TickCounters:
    """What happened in one traffic window; the recorder takes and resets these."""

    latencies: list[float] = field(default_factory=list)
    """Response times (s) of the requests that completed successfully."""
    errors: int = 0
    timeouts: int = 0
    busy_s: float = 0.0
    """Worker-seconds of hold started in the window."""
    db_busy_s: float = 0.0
    """Connection-seconds of database time started in the window."""


Completion = Callable[[int, float], None]
"""Closed mode: called with (user, completion time) when a user's request is done."""


class System:
    """The request plane. ``arrive`` requests in time order; ``drain_until`` the clock."""

    def __init__(
        self,
        spec: SystemSpec,
        instances: int,
        rng: np.random.Generator,
        externals: tuple[ExternalCall, ...] = (),
        endpoints: tuple[str, ...] = (),
    ) -> None:
        self.spec = spec
        self.tokens: list[float] = [0.0] * (instances * spec.workers_per_instance)
        """Free time of every worker of every billed instance (a heap)."""
        self.pools: list[list[float]] = [[0.0] * spec.pool_size for _ in range(1 + spec.replicas)]
        """Free time of every connection (a heap per pool): the primary's, then each
        replica's."""
        self.conns = self.pools[0]
        self.queue: deque[tuple[float, int, int, float, float, int]] = deque()
        """Waiting requests: (arrival, user or -1, endpoint, work s, db s, pool or -1)."""
        self.discard = 0
        """Workers to remove as soon as they are free (instances draining)."""
        self.counters = TickCounters()
        failures, _, reset = spec.breakers.get("database", (5, 10.0, 30.0))
        self.db_breaker = CircuitBreaker(failures, reset)
        self.on_complete: Completion | None = None
        self._rng = rng
        self._externals: dict[int, list[tuple[ExternalCall, CircuitBreaker, float]]] = {}
        for call in externals:
            if call.service not in spec.breakers:
                known = ", ".join(sorted(spec.breakers))
                raise ParameterError(f"external service {call.service!r} has no breaker ({known})")
            failures, timeout, reset = spec.breakers[call.service]
            breaker = CircuitBreaker(failures, reset)
            for endpoint in call.endpoints:
                if endpoint not in endpoints:
                    raise ParameterError(f"external call from unknown endpoint {endpoint!r}")
                self._externals.setdefault(endpoints.index(endpoint), []).append(
                    (call, breaker, timeout)
                )

    # --- fleet changes (from the autoscaler) ------------------------------------------------

    def add_instances(self, count: int, ready_at: float) -> None:
        """Add ``count`` instances whose workers are free from ``ready_at`` (provisioning)."""
        cancelled = min(self.discard, count * self.spec.workers_per_instance)
        self.discard -= cancelled
        for _ in range(count * self.spec.workers_per_instance - cancelled):
            heapq.heappush(self.tokens, ready_at)

    def remove_instances(self, count: int) -> None:
        """Drain ``count`` instances: their workers finish what they hold, then vanish."""
        self.discard += count * self.spec.workers_per_instance

    # --- the request plane ------------------------------------------------------------------

    def _next_token(self) -> float:
        """Earliest worker free time, after dropping workers of drained instances."""
        tokens = self.tokens
        while self.discard and tokens:
            heapq.heappop(tokens)
            self.discard -= 1
        return tokens[0] if tokens else math.inf

    def _start(self, arrival: float, start: float, user: int, endpoint: int, work: float,
               db: float, target: int = 0) -> None:  # fmt: skip
        """Request starts on a worker at ``start``: acquire a connection of pool ``target``
        (none for -1, a cache hit), hold, complete."""
        c = self.counters
        ok = True
        deadline = arrival + self.spec.request_timeout_s
        if start >= deadline:  # timed out in the queue: answered 503 without a worker
            if endpoint != BACKGROUND:
                c.errors += 1
            if user >= 0 and self.on_complete is not None:
                self.on_complete(user, deadline)
            return
        if target < 0:
            hold = work
        elif not self.db_breaker.allow(start):
            hold = 0.0  # fail fast: the breaker is open
            ok = False
        else:
            conns = self.pools[target]
            free = conns[0]
            wait = free - start if free > start else 0.0
            if wait > self.spec.acquire_timeout_s:
                hold = self.spec.acquire_timeout_s
                ok = False
                c.timeouts += 1
                self.db_breaker.record(start, False)
            else:
                db_part = work if db > work else db
                heapq.heapreplace(conns, start + wait + db_part)
                c.db_busy_s += db_part
                hold = wait + work
                if self.db_breaker.consecutive:
                    self.db_breaker.record(start, True)
        if ok and self._externals:
            hold, ok = self._call_externals(start, endpoint, hold)
        if start + hold > deadline:  # the instance answers 503 at the deadline, stops the work
            hold = deadline - start
            ok = False
        heapq.heapreplace(self.tokens, start + hold)
        c.busy_s += hold
        end = start + hold
        if endpoint == BACKGROUND:  # held a worker; no user waits for it, none sees it fail
            pass
        elif ok:
            c.latencies.append(end - arrival)
        else:
            c.errors += 1
        if user >= 0 and self.on_complete is not None:
            self.on_complete(user, end)

    def _call_externals(self, start: float, endpoint: int, hold: float) -> tuple[float, bool]:
        for call, breaker, timeout in self._externals.get(endpoint, ()):
            if not breaker.allow(start + hold):
                return hold, False
            latency = float(self._rng.exponential(call.latency_s)) if call.latency_s else 0.0
            failed = latency > timeout or self._rng.random() < call.failure_probability
            hold += min(latency, timeout)
            breaker.record(start + hold, not failed)
            if failed:
                return hold, False
        return hold, True

    def next_dispatch(self) -> float:
        """When the head of the queue will start (infinity when nobody waits)."""
        return self._next_token() if self.queue else math.inf

    def dispatch_next(self) -> None:
        """Start the head of the queue at :meth:`next_dispatch` (closed mode steps this way so
        that arrivals its completions cause are taken in time order)."""
        free = self._next_token()
        arrival, user, endpoint, work, db, target = self.queue.popleft()
        self._start(arrival, free, user, endpoint, work, db, target)

    def drain_until(self, until: float) -> None:
        """Start every queued request whose worker frees before ``until``."""
        queue = self.queue
        while queue:
            free = self._next_token()
            if free >= until:
                return
            arrival, user, endpoint, work, db, target = queue.popleft()
            self._start(arrival, free, user, endpoint, work, db, target)

    def arrive(self, t: float, user: int, endpoint: int, work: float, db: float,
               target: int = 0) -> None:  # fmt: skip
        """A request arrives at ``t`` (calls must come in time order)."""
        if self.queue:
            self.drain_until(t)
        if not self.queue:
            free = self._next_token()
            if free <= t:
                self._start(t, t, user, endpoint, work, db, target)
                return
        self.queue.append((t, user, endpoint, work, db, target))

    def arrive_batch(self, times: list[float], endpoints: list[int], work: list[float],
                     db: list[float], targets: list[int] | None = None) -> None:  # fmt: skip
        """Open-mode arrivals of one window (sorted), the hot path.

        Inlines :meth:`arrive` and :meth:`_start` for the common case (a free worker, a free
        connection or none needed, no breaker or external call involved), where the calls
        themselves would be much of the cost (docs/benchmarks.md, "Simulation").
        """
        tokens = self.tokens
        pools = self.pools
        queue = self.queue
        breaker = self.db_breaker
        simple = not self._externals
        heapreplace = heapq.heapreplace
        latencies = self.counters.latencies
        append = latencies.append
        route = targets if targets is not None else [0] * len(times)
        timeout = self.spec.request_timeout_s
        busy = 0.0
        db_busy = 0.0
        for i, t in enumerate(times):
            k = route[i]
            if (
                simple
                and not queue
                and not self.discard
                and tokens[0] <= t
                and (k < 0 or pools[k][0] <= t)
                and not breaker.consecutive
                and work[i] <= timeout
            ):
                w = work[i]
                if k >= 0:
                    d = db[i]
                    heapreplace(pools[k], t + d)
                    db_busy += d
                heapreplace(tokens, t + w)
                busy += w
                if endpoints[i] != BACKGROUND:
                    append(w)
                continue
            self.counters.busy_s += busy
            self.counters.db_busy_s += db_busy
            busy = db_busy = 0.0
            self.arrive(t, -1, endpoints[i], work[i], db[i], k)
        self.counters.busy_s += busy
        self.counters.db_busy_s += db_busy

    def in_system(self) -> int:
        """Requests waiting for a worker (for the recorder)."""
        return len(self.queue)
