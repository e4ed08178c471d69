"""Two load-balancing policies, simulated: a checking tool for the sizing's app station.

K instances of c workers, each instance with its own FIFO queue (a request sent to an instance
stays there). The load balancer sends each arrival

* ``"random"``: to an instance chosen uniformly at random, so each instance is an M/M/c
  queue at λ/K, independent of the others;
* ``"leastconn"``: to the instance with the fewest requests in it (waiting or served; ties
  broken at random), join-the-shortest-queue, which an idle worker anywhere takes at once.

The sizing models ``leastconn`` as one shared M/M/(K·c) queue and ``random`` as K separate
M/M/c ones (:mod:`models.sizing`); :func:`simulate_balancer` runs the policies themselves in
SimPy (``simpy.Resource`` per instance), so ``tests/models/test_balancer.py`` can hold both
approximations to them with fixed seeds.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from models import arguments
from models.errors import ParameterError

__all__ = ["BalancerRun", "simulate_balancer"]

Policy = Literal["leastconn", "random"]


@dataclass(frozen=True, slots=True)
class BalancerRun:
    policy: str
    requests: int
    mean_response_s: float
    p95_response_s: float


def simulate_balancer(
    policy: Policy, arrival_rate: float, service_s: float, *, instances: int, workers: int = 1,
    requests: int = 20_000, seed: int = 0,
) -> BalancerRun:  # fmt: skip
    """Poisson arrivals at ``arrival_rate`` over ``instances`` × ``workers`` exponential
    servers of mean ``service_s``, spread by ``policy`` (module docstring)."""
    if policy not in ("leastconn", "random"):
        raise ParameterError(f"policy must be 'leastconn' or 'random', got {policy!r}")
    lam = arguments.positive("arrival_rate", arrival_rate)
    s = arguments.positive("service_s", service_s)
    k = arguments.integer("instances", instances, minimum=1)
    c = arguments.integer("workers", workers, minimum=1)
    n = arguments.integer("requests", requests, minimum=1)
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / lam, n).tolist()
    sizes = rng.exponential(s, n).tolist()
    picks = rng.integers(k, size=n).tolist()
    ties = rng.random(n).tolist()
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=c) for _ in range(k)]
    inside = [0] * k
    responses: list[float] = []

    def request(i: int, server: int) -> Generator[simpy.Event, Any, None]:
        arrival = env.now
        inside[server] += 1
        with servers[server].request() as granted:
            yield granted
            yield env.timeout(sizes[i])
        inside[server] -= 1
        responses.append(env.now - arrival)

    def arrivals() -> Generator[simpy.Event, Any, None]:
        for i in range(n):
            yield env.timeout(gaps[i])
            if policy == "random":
                server = picks[i]
            else:
                fewest = min(inside)
                candidates = [j for j in range(k) if inside[j] == fewest]
                server = candidates[int(ties[i] * len(candidates))]
            env.process(request(i, server))

    env.process(arrivals())
    env.run()
    kept = np.array(responses[n // 20 :])  # the first 5% warm the queues up
    return BalancerRun(policy, len(kept), float(kept.mean()), float(np.percentile(kept, 95)))
