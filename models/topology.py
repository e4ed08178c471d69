"""The deployed topology as the model sees it: where each API call spends its time.

The same profile keys the lab starts its topology from (``infrastructure.instance_vcpus``,
``database.pooler``, ``database.read_replicas``, ``infrastructure.cache``) decide the stations
a call visits::

    call --> app worker (CPU at the instance's limit) --+--> cache hit: done, no database
                                                        +--> pooler --> primary   (writes, reads
                                                        |                that need the primary)
                                                        +--> pooler --> replica r (reads of
                                                                         READ_REPLICA_ENDPOINTS)

Each endpoint's calls are split into **routes**, each with its probability, its worker time,
its database time and the database it uses:

* **CPU limit.** An instance of ``v`` cores runs ``W`` workers; when all are busy each gets
  ``min(1, v/W)`` of a core, so a worker holds a call for ``cpu_ms / min(1, v/W)``. A
  quarter-core instance with one worker takes four times the CPU demand per call: a virtual
  machine's share of cores. A container's CFS quota (``infrastructure.cpu_quota``) runs at
  full speed until the period's budget is spent; :mod:`models.cpu_quota` models that, and the
  sizing uses it in place of this slowdown for the app station's delay.
* **Cache.** A call to a ``CACHEABLE_ENDPOINTS`` endpoint is a hit with probability
  ``cache.hit_ratio`` (when the cache is enabled): no database time, and
  ``cache.hit_cpu_ratio`` of its CPU (the stored response is sent; no query, no
  serialisation).
* **Replicas.** With ``R > 0`` replicas, a miss of a ``READ_REPLICA_ENDPOINTS`` read goes to
  a replica (uniformly at random, so each takes 1/R of them), unless its user wrote within
  ``read_your_writes_s``: then the primary answers. Writes and every other read go to the
  primary.
* **Read-your-writes share.** A user of persona p opens write screens at rate
  ``w_p = P_p(write screen)/Z_p``; screens being Poisson at the peak, the chance that a read
  comes within ``s`` seconds of the user's last write is ``1 − e^(−w_p·s)``. The share used is
  the average over the personas weighted by their replica-eligible calls.

Connections. The pooler (or, without one, the workers' own pools) keeps ``pool_max`` server
connections to the primary; each replica is given a pool of the same size. A worker serves
one call at a time, so its own client pool (``worker_pool_size``) never makes it wait: the
waiting happens at the server connections, a queue of its own (:mod:`models.stations`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType

from models.catalogue import CACHEABLE_ENDPOINTS, READ_REPLICA_ENDPOINTS, STEPS, Endpoint
from models.profile import Profile
from models.workload import workloads

__all__ = ["Demands", "Route", "Target", "Topology", "read_your_writes_share"]


class Target(IntEnum):
    """Where a call's database time is spent."""

    CACHE = -1
    """Served from the cache: no connection at all."""
    PRIMARY = 0
    REPLICA = 1
    """One of the replicas, chosen uniformly at random."""


@dataclass(frozen=True, slots=True)
class Route:
    """One way a call to ``endpoint`` is served."""

    endpoint: Endpoint
    probability: float
    """Share of the endpoint's calls that take this route."""
    cpu_s: float
    """Worker time: the CPU demand at the instance's CPU limit."""
    db_s: float
    target: Target


@dataclass(frozen=True, slots=True)
class Demands:
    """Per API call of the mix, averaged over endpoints and routes.

    ``*_db_s`` are means over *all* calls (0 for a call that does not visit); ``*_share`` the
    probability that a call visits (a replica share is over all replicas together).
    """

    cpu_s: float
    primary_db_s: float
    replica_db_s: float
    primary_share: float
    replica_share: float
    cache_share: float

    @property
    def db_s(self) -> float:
        return self.primary_db_s + self.replica_db_s


def read_your_writes_share(profile: Profile) -> float:
    """Share of replica-eligible reads whose user wrote within ``read_your_writes_s``."""
    window = profile.infrastructure.database.read_your_writes_s
    weighted = total = 0.0
    for name, work in workloads(profile).items():
        if work.share <= 0:
            continue
        writes = {s.name for s in STEPS[name] if s.is_write}
        writes_per_s = (
            sum(p for step, p in work.step_probabilities.items() if step in writes)
            / work.think_time_s
        )
        eligible = work.share * sum(
            v for e, v in work.visits.items() if e in READ_REPLICA_ENDPOINTS
        )
        weighted += eligible * -math.expm1(-writes_per_s * window)
        total += eligible
    return weighted / total if total > 0 else 0.0


@dataclass(frozen=True)
class Topology:
    """The profile's topology: CPU limit, pools, replicas, cache, and every endpoint's routes."""

    cpu_speed: float
    """Share of a core a worker gets when every worker of its instance is busy."""
    workers: int
    replicas: int
    pooler: bool
    primary_connections: int
    replica_connections: int
    """Server connections of each replica."""
    acquire_timeout_s: float
    cache_hit_ratio: float
    """0 when the cache is disabled."""
    read_your_writes: float
    """Share of replica-eligible reads that the primary answers (0 without replicas)."""
    routes: Mapping[Endpoint, tuple[Route, ...]]
    load_balancer: str = "leastconn"
    """How requests are spread over the instances (``infrastructure.load_balancer``)."""

    @classmethod
    def from_profile(cls, profile: Profile) -> Topology:
        infra = profile.infrastructure
        db = infra.database
        cache = infra.cache
        speed = min(1.0, infra.instance_vcpus / infra.workers_per_instance)
        hit = cache.hit_ratio if cache.enabled else 0.0
        ryw = read_your_writes_share(profile) if db.read_replicas > 0 else 0.0
        routes: dict[Endpoint, tuple[Route, ...]] = {}
        for endpoint, demand in profile.service_demands.items():
            cpu = demand.cpu_ms / 1000.0 / speed
            db_s = demand.db_ms / 1000.0
            miss = 1.0 - hit if endpoint in CACHEABLE_ENDPOINTS else 1.0
            paths: list[Route] = []
            if miss < 1.0:
                paths.append(Route(endpoint, 1.0 - miss, cpu * cache.hit_cpu_ratio, 0.0,
                                   Target.CACHE))  # fmt: skip
            if db.read_replicas > 0 and endpoint in READ_REPLICA_ENDPOINTS:
                paths.append(Route(endpoint, miss * ryw, cpu, db_s, Target.PRIMARY))
                paths.append(Route(endpoint, miss * (1.0 - ryw), cpu, db_s, Target.REPLICA))
            else:
                paths.append(Route(endpoint, miss, cpu, db_s, Target.PRIMARY))
            routes[endpoint] = tuple(r for r in paths if r.probability > 0)
        return cls(
            cpu_speed=speed,
            workers=infra.workers_per_instance,
            replicas=db.read_replicas,
            pooler=db.pooler,
            primary_connections=db.pool_max,
            replica_connections=db.pool_max,
            acquire_timeout_s=db.acquire_timeout_s,
            cache_hit_ratio=hit,
            read_your_writes=ryw,
            routes=MappingProxyType(routes),
            load_balancer=infra.load_balancer,
        )

    def demands(self, shares: Mapping[Endpoint, float]) -> Demands:
        """Mean demands per call for a mix of endpoints (``shares`` sum to 1)."""
        cpu = primary = replica = p_primary = p_replica = p_cache = 0.0
        for endpoint, share in shares.items():
            for r in self.routes[endpoint]:
                weight = share * r.probability
                cpu += weight * r.cpu_s
                if r.target is Target.PRIMARY:
                    primary += weight * r.db_s
                    p_primary += weight
                elif r.target is Target.REPLICA:
                    replica += weight * r.db_s
                    p_replica += weight
                else:
                    p_cache += weight
        return Demands(cpu, primary, replica, p_primary, p_replica, p_cache)
