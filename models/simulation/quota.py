"""The CFS quota itself, simulated: a checking tool for :mod:`models.cpu_quota`.

A container limited to ``q`` cores gets a budget of ``q·P`` CPU-seconds every period ``P``
(Linux's CFS bandwidth control; 100 ms by default). Its workers run at full speed, each on a
core of its own, and every running worker spends the budget; when the budget is gone, every
runnable request waits for the next period boundary, where the budget is refilled (unused
budget is lost: no burst). So a request of 5 ms on a quarter-core instance takes 5 ms when
the period has budget left, and up to 75 ms more when it has not::

    budget  |####.........|####.........|####.........|      # running, . throttled or idle
            0    25 ms   100 ms

:func:`simulate_quota` runs that processor in SimPy: Poisson arrivals, ``workers`` FIFO
servers, exponential (or gamma, ``scv``) CPU demands, one shared budget. It records what the
kernel counts (``nr_periods``, ``nr_throttled``, ``throttled_time``) and each request's
response time, so the analytic approximation can be held to it with fixed seeds
(``tests/models/test_cpu_quota.py``). It simulates one instance, not a day: it is slow
(several SimPy events per request) and meant for checks, not sizing.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from models import arguments

__all__ = ["QuotaRun", "simulate_quota"]

_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class QuotaRun:
    """What one simulated quota-limited instance measured (after the warm-up)."""

    requests: int
    mean_response_s: float
    p95_response_s: float
    periods: int
    throttled_periods: int
    """Periods in which the budget ran out while a request was runnable (``nr_throttled``)."""
    throttled_s: float
    """Time requests were runnable but held back (``throttled_time``)."""
    utilization: float
    """CPU used as a share of the quota."""

    @property
    def throttled_share(self) -> float:
        return self.throttled_periods / self.periods if self.periods else 0.0


class _Processor:
    """The instance: a FIFO queue, ``workers`` servers at full speed, one budget."""

    def __init__(self, env: simpy.Environment, times: list[float], sizes: list[float],
                 quota: float, period: float, workers: int, warmup: float) -> None:  # fmt: skip
        self.env = env
        self.times, self.sizes = times, sizes
        self.budget_per_period = quota * period
        self.period = period
        self.workers = workers
        self.warmup = warmup
        self.responses: list[float] = []
        self.used = 0.0
        self.periods = self.throttled_periods = 0
        self.throttled_s = 0.0

    def run(self) -> Generator[simpy.Event, Any, None]:
        env, times, sizes = self.env, self.times, self.sizes
        queue: deque[tuple[float, float]] = deque()
        running: list[list[float]] = []  # [remaining CPU s, arrival time]
        budget, boundary, following = self.budget_per_period, self.period, 0
        throttled_since: float | None = None
        while following < len(times) or queue or running:
            while queue and len(running) < self.workers:
                arrival, size = queue.popleft()
                running.append([size, arrival])
            now = env.now
            step = min(times[following] if following < len(times) else math.inf, boundary) - now
            if running and budget > _EPS:
                step = min(step, min(r[0] for r in running), budget / len(running))
            elif running and throttled_since is None:
                throttled_since = now  # the budget is gone and requests are runnable
                if now >= self.warmup:
                    self.throttled_periods += 1
            yield env.timeout(max(step, 0.0))
            now = env.now
            if running and budget > _EPS:
                spent = step * len(running)
                budget -= spent
                if now > self.warmup:
                    self.used += spent
                for r in running:
                    r[0] -= step
                done = [r for r in running if r[0] <= _EPS]
                for r in done:
                    running.remove(r)
                    if r[1] >= self.warmup:
                        self.responses.append(now - r[1])
            if now >= boundary - _EPS:
                if throttled_since is not None and throttled_since >= self.warmup:
                    self.throttled_s += now - throttled_since
                throttled_since = None
                budget = self.budget_per_period
                boundary += self.period
                if now > self.warmup:
                    self.periods += 1
            while following < len(times) and times[following] <= now + _EPS:
                queue.append((times[following], sizes[following]))
                following += 1


def simulate_quota(
    arrival_rate: float,
    cpu_s: float,
    quota_cores: float,
    *,
    period_s: float = 0.1,
    workers: int = 1,
    requests: int = 20_000,
    seed: int = 0,
    scv: float = 1.0,
    warmup_share: float = 0.05,
) -> QuotaRun:
    """Simulate one instance held to ``quota_cores`` per ``period_s`` (module docstring).

    Args:
        arrival_rate: Poisson arrivals per second.
        cpu_s: mean CPU demand of a request at full speed (one core).
        quota_cores: the limit q, in cores (budget ``q·period_s`` per period).
        workers: servers, each running at a full core while the budget lasts.
        requests: arrivals to simulate (the first ``warmup_share`` of the time is not
            counted).
        scv: squared coefficient of variation of the demand (1: exponential).
    """
    lam = arguments.positive("arrival_rate", arrival_rate)
    demand = arguments.positive("cpu_s", cpu_s)
    quota = arguments.positive("quota_cores", quota_cores)
    period = arguments.positive("period_s", period_s)
    servers = arguments.integer("workers", workers, minimum=1)
    count = arguments.integer("requests", requests, minimum=1)
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1.0 / lam, count))
    if scv == 1.0:
        sizes = rng.exponential(demand, count)
    elif scv == 0.0:
        sizes = np.full(count, demand)
    else:
        sizes = rng.gamma(1.0 / scv, demand * scv, count)
    env = simpy.Environment()
    warmup = float(times[-1]) * warmup_share
    cpu = _Processor(env, times.tolist(), sizes.tolist(), quota, period, servers, warmup)
    env.process(cpu.run())
    env.run()
    responses = np.array(cpu.responses)
    span = cpu.periods * period
    return QuotaRun(
        requests=len(responses),
        mean_response_s=float(responses.mean()) if responses.size else math.nan,
        p95_response_s=float(np.percentile(responses, 95)) if responses.size else math.nan,
        periods=cpu.periods,
        throttled_periods=cpu.throttled_periods,
        throttled_s=cpu.throttled_s,
        utilization=cpu.used / (quota * span) if span else 0.0,
    )
