"""The CFS quota's throttling delay: what a fractional CPU limit adds to a request's time.

A container limited to ``q`` cores (Kubernetes ``cpu: 250m``; the lab's ``cpu_limit``) is not a
slower core. Linux gives its group a budget of ``B = q·P`` CPU-seconds every period ``P``
(100 ms by default); its workers run at full speed while the budget lasts, and when a burst
spends it, every runnable request waits for the next period boundary. A quarter-core instance
serves a lone 5 ms request in 5 ms, not 20, but a request that meets a spent budget waits up to
75 ms. So the limit can throttle an instance far below full utilization, and the delay it adds
is not the fluid ``cpu_ms / q`` slowdown (:mod:`models.topology`'s ``cpu_speed``).

The approximation, per instance, for Poisson arrivals at λ of exponential CPU demands of mean
``s`` (at full speed) on ``W`` workers; ``m = λ·P`` arrivals and ``y = B/s`` demands' worth of
budget per period, utilization of the quota ``ρ = λ·s/q = m/y``:

1. **Periods throttled.** A period is throttled when the work carried into it, ``U``, plus the
   work arriving in it, ``A`` (compound Poisson), exceeds the budget; then work is carried
   into the next. With exponential demands ``P(A > B) = P(N_m > K_y)`` for independent
   Poisson counts of means m and y (the demands' sum is an Erlang: a Poisson count in work
   space). Take the carried work, when there is some, exponential with the decay rate of
   the backlog's tail, ``γ = (1 − ρ)/s`` (the root of ``E[e^(γ(A − B))] = 1``); exponential
   tilting then gives ``P(U + A > B | U > 0) = P(N_m > K_y) + P(N_y ≤ K_m)``, and the
   stationary share of throttled periods solves ``θ = (1 − θ)·p₀ + θ·p₁``::

       θ = P(N_m > K_y) / P(N_y > K_m)          (→ P(A > B) at light load, → 1 as ρ → 1)

2. **The stall of a throttled period**, ``Δ``: the period's rest once the budget is gone. A
   period entered with carried work spends its budget at once, at the cores its running
   workers get, ``g``: ``Δ = P − B/g``. One entered idle spends it after the arrivals have
   crossed B (at ``t_c``, ``P(t_c ≤ t) = P(N_{λt} > K_y)``) and the crossing demand and the
   backlog ahead of it have run at ``g``: ``Δ₀ = E[P − t_c | t_c < P] − (s + backlog)/g``.
   The share entered with carried work is ``p₁`` (a throttled period follows a throttled
   one with probability p₁). With cores of its own, ``g = n``, a core for each of the n
   workers running. **On cores shared with other groups** (``contended_cores``: the lab's
   instances share one core) the budget is spent while the others run too: when the
   instance has work carried over, the others have theirs (least connections sends the
   calls it cannot take to them), and the kernel splits the cores between the busy groups,
   so ``g = min(n, contended_cores)``. A quarter-core instance with two others on one core
   spends its 25 ms in 75 ms and stalls 25 ms, not 75: the kernel's own counters on the lab
   read 9 to 22 ms over four runs (docs/lab.md). The requests' demands stay at full speed in
   the queue below: the share is taken only while the budget is being spent in a backlog.

3. **The request's time.** The requests running when the budget goes out stall for ``Δ``, so
   a request's service is its demand plus stalls, ``S' = S + K·Δ``, with ``K`` Poisson in
   the demand (long demands meet more exhaustions): ``E[K·Δ] = d = θ·Δ·n/m``. The queue of
   requests is then M/G/W with service S' (Pollaczek–Khinchine for one worker, Allen–Cunneen
   for more): ``W_q = C(W, λE[S'])/(W/E[S'] − λ) · (1 + cs²)/2``, and the response is
   ``W_q + E[S']``. With several workers a request that arrives during a stall and finds a
   worker free is held back too (the whole group is throttled), for the stall's rest; the
   queue does not see that, so it is added: ``θ·Δ/P · (share of workers free) · Δ/2``.
   The **extra** response time is that minus the response the same workers would give
   without the quota (M/M/W at full speed). As ρ → 1, θ → 1, Δ → P − B and
   ``λ·E[S'] → 1``: the queue saturates exactly when the quota does.

Held to the SimPy quota (:mod:`models.simulation.quota`) with fixed seeds over a grid of
utilizations, quotas, demands and workers: ``tests/models/test_cpu_quota.py`` states the
tolerance reached, docs/capacity-planning.md the figures.

>>> q = quota_delay(arrival_rps=25.0, cpu_s=0.005, quota_cores=0.25, period_s=0.1, workers=1)
>>> round(q.utilization, 2), 0.0 < q.throttled_share < 0.5, q.mean_response_s < 0.1
(0.5, True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.special import ndtr, roots_legendre

from models import arguments
from models.erlang import erlang_c
from models.errors import UnstableError
from models.response_time import StationDelay

__all__ = ["QuotaDelay", "poisson_exceeds", "quota_delay"]

_NODES, _WEIGHTS = (values.tolist() for values in roots_legendre(8))
_NORMAL_ABOVE = 400.0
"""Above this Poisson mean the normal approximation replaces the exact sums."""


def poisson_exceeds(a: float, b: float) -> float:
    """P(N_a > K_b) for independent Poisson counts of means ``a`` and ``b``.

    Exact sums below :data:`_NORMAL_ABOVE`; beyond, the difference is normal with a
    continuity correction.

    >>> round(poisson_exceeds(1.0, 0.0), 6), round(poisson_exceeds(2.0, 2.0) + \
poisson_exceeds(2.0, 2.0), 4) < 1
    (0.632121, True)
    """
    if a <= 0:
        return 0.0
    if b <= 0:
        return -math.expm1(-a)
    if max(a, b) > _NORMAL_ABOVE:
        return float(ndtr((a - b - 0.5) / math.sqrt(a + b)))
    # Σ_k P(K_b = k)·P(N_a > k), both terms by recurrence.
    pmf_b = math.exp(-b)
    pmf_a = math.exp(-a)
    sf_a = 1.0 - pmf_a
    total = pmf_b * sf_a
    k = 0
    limit = b + 12.0 * math.sqrt(b) + 30.0
    while k < limit and sf_a > 1e-16:
        k += 1
        pmf_b *= b / k
        pmf_a *= a / k
        sf_a -= pmf_a
        total += pmf_b * max(sf_a, 0.0)
    return min(1.0, total)


@dataclass(frozen=True, slots=True)
class QuotaDelay:
    """One quota-limited instance at one load (module docstring for the formulas)."""

    arrival_rps: float
    """Requests per second reaching this instance."""
    cpu_s: float
    """Mean CPU demand of a request at full speed."""
    quota_cores: float
    period_s: float
    workers: int
    utilization: float
    """CPU used as a share of the quota, ρ = λ·s/q."""
    throttled_share: float
    """θ: share of periods in which the budget runs out with a request runnable."""
    stall_s: float
    """Δ: mean time a throttled period holds its requests back."""
    contended_cores: float | None
    """The cores the group gets while it spends its budget in a backlog, when it shares its
    cores with other groups; None: a core for each running worker."""
    stall_per_request_s: float
    """d: mean stall one request's service meets."""
    mean_wait_s: float
    """Queueing for a worker (stalls of the requests ahead included)."""
    unlimited_response_s: float
    """The same workers at full speed without the quota (M/M/W)."""
    stalled_probability: float
    """Chance that a request meets at least one stall."""

    @property
    def mean_response_s(self) -> float:
        return self.mean_wait_s + self.cpu_s + self.stall_per_request_s

    @property
    def extra_s(self) -> float:
        """The quota's delay: mean response minus the unlimited one."""
        return self.mean_response_s - self.unlimited_response_s

    @property
    def throttled_time_share(self) -> float:
        """Share of wall time the group is throttled (``throttled_time`` per second)."""
        return self.throttled_share * self.stall_s / self.period_s

    def delay(self) -> StationDelay:
        """The instance's part of a request's time, as the phase-type sum takes it: the
        demand at full speed, then, with the chance to wait or stall, an exponential of the
        mean that makes the totals agree."""
        extra = self.mean_wait_s + self.stall_per_request_s
        if extra <= 0:
            return StationDelay(self.cpu_s)
        p = min(1.0, max(self.stalled_probability, 1e-9))
        return StationDelay(self.cpu_s, p, extra / p)

    def to_json(self) -> dict[str, Any]:
        return {
            "arrival_rps": round(self.arrival_rps, 3),
            "cpu_ms": round(self.cpu_s * 1e3, 4),
            "quota_cores": self.quota_cores,
            "period_ms": round(self.period_s * 1e3, 3),
            "workers": self.workers,
            "utilization": round(self.utilization, 4),
            "throttled_share": round(self.throttled_share, 4),
            "throttled_time_share": round(self.throttled_time_share, 4),
            "stall_ms": round(self.stall_s * 1e3, 3),
            "contended_cores": (
                None if self.contended_cores is None else round(self.contended_cores, 4)
            ),
            "stall_per_request_ms": round(self.stall_per_request_s * 1e3, 4),
            "mean_response_ms": round(self.mean_response_s * 1e3, 3),
            "unlimited_response_ms": round(self.unlimited_response_s * 1e3, 3),
            "extra_ms": round(self.extra_s * 1e3, 3),
        }


def _mean_rest_after_crossing(lam: float, period: float, y: float, crossed: float) -> float:
    """E[P − t_c | t_c < P]: t_c the first time the period's arrivals exceed the budget."""
    if crossed <= 0:
        return 0.0
    integral = 0.0
    for node, weight in zip(_NODES, _WEIGHTS, strict=True):
        t = 0.5 * period * (node + 1.0)
        integral += weight * poisson_exceeds(lam * t, y)
    return 0.5 * period * integral / crossed


def _mmw_response(lam: float, s: float, workers: int) -> float:
    load = lam * s
    if load >= workers:
        return math.inf
    return erlang_c(workers, load) / (workers / s - lam) + s


def quota_delay(
    arrival_rps: float, cpu_s: float, quota_cores: float, period_s: float = 0.1,
    workers: int = 1, contended_cores: float | None = None,
) -> QuotaDelay:  # fmt: skip
    """The throttling of one instance held to ``quota_cores`` (module docstring);
    ``contended_cores`` the cores it gets in a backlog on cores shared with other groups
    (None: cores of its own).

    Raises :class:`~models.errors.UnstableError` when the load reaches the quota (ρ >= 1).
    """
    lam = arguments.non_negative("arrival_rps", arrival_rps)
    s = arguments.positive("cpu_s", cpu_s)
    q = arguments.positive("quota_cores", quota_cores)
    period = arguments.positive("period_s", period_s)
    w = arguments.integer("workers", workers, minimum=1)
    contended = None if contended_cores is None else arguments.positive(
        "contended_cores", contended_cores
    )  # fmt: skip
    rho = lam * s / q
    if rho >= 1.0 or lam * s >= w:
        raise UnstableError(
            f"the quota is saturated: {lam:.6g} requests/s of {s * 1e3:.4g} ms need "
            f"{lam * s:.4g} cores, the quota gives {q:g} (and {w} workers)"
        )
    unlimited = _mmw_response(lam, s, w)
    m, y = lam * period, q * period / s
    if q >= w or lam == 0:  # the workers can never spend the budget
        return QuotaDelay(lam, s, q, period, w, rho, 0.0, 0.0, contended, 0.0, unlimited - s,
                          unlimited, 0.0)  # fmt: skip
    p0 = poisson_exceeds(m, y)
    back = poisson_exceeds(y, m)
    theta = min(1.0, p0 / back) if back > 0 else 1.0
    p1 = min(1.0, p0 + 1.0 - back)
    full = lam * s  # busy cores at full speed, the backlog's load outside throttling
    backlog = full * s / (1.0 - full) if full < 1 else s
    running = min(float(w), max(1.0, q / (1.0 - rho) if rho < 1 else float(w)))
    # The cores the budget is spent at: the running workers', or their share of cores other
    # groups are busy on too.
    spending = running if contended is None else min(running, contended)
    carried = max(0.0, period - q * period / spending)  # the budget spent from the start
    lag = (s + backlog) / spending  # the crossing demand and the work ahead of it, run
    fresh = max(0.0, _mean_rest_after_crossing(lam, period, y, p0) - lag)
    stall = p1 * carried + (1.0 - p1) * fresh
    stalled_running = min(float(w), max(1.0, running))
    d = theta * stall * stalled_running / m if m > 0 else 0.0
    if w > 1:
        # An arrival during a stall that finds a worker free is held back too (the whole
        # group is throttled), for the stall's rest: the queue does not see that wait.
        free = 1.0 - (stalled_running - 1.0) / (w - 1.0)
        d += theta * stall / period * free * stall / 2.0
    # S' = S + K·Δ with K Poisson of mean S·r, r = d/(Δ·s): the moments of a stretched demand.
    effective = s + d
    second = 2 * s * s + 4 * s * d + d * stall + 2 * d * d
    cs2 = max(0.0, second / effective**2 - 1.0)
    load = lam * effective
    if load >= w:
        raise UnstableError(
            f"the quota's stalls saturate the workers: {load:.4g} erlangs on {w} worker(s)"
        )
    wait = erlang_c(w, load) / (w / effective - lam) * (1.0 + cs2) / 2.0
    per_stall = d / stall if stall > 0 else 0.0
    stalled = per_stall / (1.0 + per_stall) if per_stall > 0 else 0.0
    waits = erlang_c(w, load)
    return QuotaDelay(
        arrival_rps=lam,
        cpu_s=s,
        quota_cores=q,
        period_s=period,
        workers=w,
        utilization=rho,
        throttled_share=theta,
        stall_s=stall,
        contended_cores=contended,
        stall_per_request_s=d,
        mean_wait_s=wait,
        unlimited_response_s=unlimited,
        stalled_probability=1.0 - (1.0 - waits) * (1.0 - stalled),
    )
