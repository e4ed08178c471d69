"""Capacity sizing at the peak: how many app instances and database connections, at what
latency, utilization and cost, and at how many users the configuration runs out.

The system as the model sees it::

    users ──think──> [ app tier: instances × workers CPU servers ] ──> [ database pool ] ──> done
                      one FCFS queue, c = n·W                           c = pool connections

Why open M/M/c stations (Erlang C) and not the closed multi-class MVA
---------------------------------------------------------------------
At the peak, 20,000 users each think for 20-45 s between screens and spend tens of
milliseconds inside the system. A closed network with N users and think time Z behaves as an
open one with Poisson arrivals at rate N/(Z + R) when R ≪ Z and the population is large against
the number of servers (the finite-source correction is of order R/Z and 1/N, here below
0.1%). So each tier is an M/M/c queue at the arrival rate :func:`models.workload.request_rate`
gives, which has exact waiting-time percentiles (:mod:`models.erlang`), costs O(c) per
evaluation, and can therefore be solved inside the bisections the limits need within the
50 ms budget. The closed MVA (:mod:`models.prediction`) is used where it matters: tens to
hundreds of users on one measured machine, where R/Z is not negligible and saturation bites.

What each number means
----------------------
* ``peak_rps``: API requests per second from the peak concurrent users (upper bound: response
  time counted as 0 in the users' cycle, :func:`models.workload.request_rate`).
* Per request, the mean CPU demand ``s_cpu = Σ_e v_e·cpu_e / Σ_e v_e`` and database demand
  ``s_db`` likewise, from the per-endpoint visit ratios v_e and the profile's service demands.
* ``instances.required``: the fewest instances n with app CPU λ·s_cpu / (n·W) at most
  ``autoscaling.scale_up_cpu`` *and* predicted API p50/p95 within the SLOs, with the database
  given the connections it needs. Below ``min_instances`` the autoscaler keeps the minimum, so
  latency, utilization and cost are computed at ``clamp(required, min, max)``.
* ``db_connections.required``: Little's law on database busy time, ⌈λ·s_db·(1 + headroom)⌉.
* ``latency``: the end-to-end time of one API request, app sojourn + database sojourn, each
  the M/M/c sojourn (exponential service of the mean demand), summed as a phase-type
  distribution (:mod:`models.response_time`). Network, TLS and page rendering are not in it.
* ``limits``: the users at which the instance cap (``max_instances``) no longer meets the CPU
  and latency targets (bisection on the arrival rate; all loads scale linearly with users),
  and at which Little's law needs more than ``pool_max`` connections (closed form).
* ``cost_monthly_usd``: :mod:`models.cost` with the instance-hours the autoscaler keeps over
  the day-one curve (each hour sized like the peak at its fraction of users).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from models.assumptions import profile_assumptions
from models.background import BackgroundStream, background_streams
from models.catalogue import LOGIN_CALLS
from models.connections import ConnectionPlan, connection_plan
from models.cost import (
    CostComparison,
    CostEstimate,
    compare_breakdown,
    compare_claims,
    database_tier,
    monthly_cost,
)
from models.cost_claims import ClaimExplanation, explain_claims
from models.cpu_quota import QuotaDelay, quota_delay
from models.errors import UnstableError
from models.profile import Profile
from models.response_time import ResponseTime, StationDelay
from models.rounding import rounded
from models.sessions import LoginRush, login_rush
from models.stations import StationLoad, station
from models.topology import Topology
from models.workload import request_rate, visit_ratios

__all__ = [
    "Connections",
    "EndpointLoad",
    "Fleet",
    "Instances",
    "Latency",
    "Limits",
    "Sizing",
    "size",
]

_P95 = 0.95
_P50 = 0.50
_BISECTION_RELATIVE = 1e-7  # on the arrival rate: well below one user at 400k users
_SEARCH_CAP = 1_000_000  # instances: a search that gets here has no answer worth printing


@dataclass(frozen=True)
class EndpointLoad:
    """One endpoint's share of the peak: requests/s and demands per request."""

    endpoint: str
    rps: float
    cpu_ms: float
    db_ms: float


@dataclass(frozen=True)
class Instances:
    """App instances: the need, the autoscaling bounds and what would run."""

    required: int
    min: int
    max: int
    fits: bool
    provisioned: int
    by_cpu: int
    """Instances the CPU threshold alone asks for."""


@dataclass(frozen=True)
class Connections:
    """Database connections: Little's law with headroom against the pool bounds."""

    required: int
    pool_min: int
    pool_max: int
    fits: bool
    busy: float
    """Mean connections busy at the peak, λ·s_db (before headroom)."""


@dataclass(frozen=True)
class Latency:
    """End-to-end API latency at the peak; None where a tier has no steady state."""

    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None


@dataclass(frozen=True)
class Limits:
    """Users at which a cap is exhausted; None when no finite number exhausts it."""

    max_users_by_instances: int | None
    max_users_by_db_pool: int | None


@dataclass(frozen=True)
class Sizing:
    """The capacity plan for one population. ``to_json()`` is ``harness model --json``."""

    users: int
    dau: float
    peak_concurrent: float
    peak_rps: float
    instances: Instances
    db_connections: Connections
    latency: Latency
    utilization: Mapping[str, float]
    cost: CostEstimate
    limits: Limits
    assumptions: tuple[str, ...]
    endpoints: tuple[EndpointLoad, ...]
    reasons: tuple[str, ...]
    """Why something does not fit (empty when everything fits)."""
    cost_breakdown: tuple[CostComparison, ...] = ()
    """The launch plan's month-one breakdown beside the model's, at the plan's population."""
    cost_claims: tuple[CostComparison, ...] = field(default=())
    """The launch plan's scaling claims beside the model's totals."""
    stations: tuple[StationLoad, ...] = ()
    """The topology's stations at the peak, at the provisioned instances."""
    topology: Topology | None = None
    connections: ConnectionPlan | None = None
    claim_explanations: tuple[ClaimExplanation, ...] = ()
    """Each cost claim above the launch, line by line against month one and the model."""
    login_rush: LoginRush | None = None
    """The launch hour's new users signing in within a minute, on the fleet before it."""
    background: tuple[BackgroundStream, ...] = ()
    """Work no user waits for (outbox, payment retries, uploads), per user call."""
    cpu_quota: QuotaDelay | None = None
    """One instance's throttling at the peak when ``instance_vcpus`` is a CFS quota that the
    workers can exceed (``infrastructure.cpu_quota``); None otherwise."""

    @property
    def fits(self) -> bool:
        connections_fit = self.connections is None or self.connections.fits
        return self.instances.fits and self.db_connections.fits and connections_fit

    def to_json(self) -> dict[str, Any]:
        """The keys of ``harness model --json`` (docs/capacity-planning.md), exactly."""
        return {
            "users": self.users,
            "dau": round(self.dau, 3),
            "peak_concurrent": round(self.peak_concurrent, 3),
            "peak_rps": round(self.peak_rps, 3),
            "instances": {
                "required": self.instances.required,
                "min": self.instances.min,
                "max": self.instances.max,
                "fits": self.instances.fits,
            },
            "db_connections": {
                "required": self.db_connections.required,
                "pool_min": self.db_connections.pool_min,
                "pool_max": self.db_connections.pool_max,
                "fits": self.db_connections.fits,
            },
            "latency": {
                "p50_ms": rounded(self.latency.p50_ms, 2),
                "p95_ms": rounded(self.latency.p95_ms, 2),
            },
            "utilization": {k: round(v, 4) for k, v in self.utilization.items()},
            "cost_monthly_usd": self.cost.to_json(),
            "cost_tiers": {
                "database": self.cost.database_tier,
                "database_connections": self.cost.database_connections,
                "database_cores": round(self.cost.database_cores, 3),
                "cache": self.cost.cache_tier or None,
                "cache_gb": round(self.cost.cache_gb, 4),
            },
            "limits": {
                "max_users_by_instances": self.limits.max_users_by_instances,
                "max_users_by_db_pool": self.limits.max_users_by_db_pool,
            },
            "topology": _topology_json(self.topology),
            "stations": [s.to_json() for s in self.stations],
            "connections": None if self.connections is None else self.connections.to_json(),
            "cost_claims": [c.to_json() for c in self.claim_explanations],
            "login_rush": None if self.login_rush is None else self.login_rush.to_json(),
            "cpu_quota": None if self.cpu_quota is None else self.cpu_quota.to_json(),
            "background": [b.to_json() for b in self.background],
            "assumptions": list(self.assumptions),
        }


def _topology_json(topology: Topology | None) -> dict[str, Any] | None:
    if topology is None:
        return None
    return {
        "cpu_share_per_worker": round(topology.cpu_speed, 4),
        "pooler": topology.pooler,
        "read_replicas": topology.replicas,
        "cache_hit_ratio": topology.cache_hit_ratio,
        "read_your_writes_share": round(topology.read_your_writes, 6),
        "load_balancer": topology.load_balancer,
    }


class _Sizer:
    """The profile's constants, so that every load level costs only arithmetic."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        visits = visit_ratios(profile)
        calls = sum(visits.values())
        self.visit_share = {e: v / calls for e, v in visits.items()}
        self.topology = Topology.from_profile(profile)
        self.demands = self.topology.demands(self.visit_share)
        self.cpu_s = self.demands.cpu_s
        """Worker time per call: CPU at the instance's limit, less the cache hits' savings."""
        self.db_s = self.demands.primary_db_s
        """Primary connection time per call (a replica's is ``replica_s`` per call to it)."""
        replicas = self.topology.replicas
        self.replica_s = self.demands.replica_db_s / replicas if replicas else 0.0
        infra = profile.infrastructure
        self.workers = infra.workers_per_instance
        self.balancer = infra.load_balancer
        # A quota the workers can exceed throttles; one they cannot is a set of whole cores.
        self.quota = infra.cpu_quota and infra.instance_vcpus < infra.workers_per_instance
        self.quota_cores = infra.instance_vcpus
        self.period_s = infra.cpu_period_ms / 1000.0
        self.shared_cores = infra.shared_cores
        self.full_cpu_s = self.cpu_s * self.topology.cpu_speed
        """Worker CPU per call at full speed (what a quota-limited worker runs at)."""
        self.background = background_streams(profile, self.visit_share)
        speed = self.topology.cpu_speed
        self.bg_cpu_per_call = sum(b.per_call for b in self.background if b.cpu_s > 0)
        self.bg_cpu_s = sum(b.per_call * b.cpu_s for b in self.background) / speed
        """Background worker time per user call, at the instance's CPU limit."""
        self.bg_db_per_call = sum(b.per_call for b in self.background if b.db_s > 0)
        self.bg_db_s = sum(b.per_call * b.db_s for b in self.background)
        self.app_cpu_s = self.cpu_s + self.bg_cpu_s
        """All the worker time one user call brings: its own and the background's."""
        self.primary_s = self.db_s + self.bg_db_s
        self.scaling = infra.autoscaling
        self.pool = infra.database
        self.request_timeout_s = infra.request_timeout_s
        self.slo_p95_s = profile.slo.api_p95_ms / 1000.0
        self.slo_p50_s = profile.slo.api_p50_ms / 1000.0
        population = profile.population
        # Requests/s per user of the whole population at the peak: every load is linear in it.
        self.rps_per_user = (
            request_rate(profile, 1.0) * population.dau_ratio * population.concurrency_ratio
        )

    # --- Tiers -----------------------------------------------------------------------------
    def connections_needed(self, rps: float) -> int:
        """The primary's connections: Little's law with headroom."""
        return math.ceil(rps * self.primary_s * (1.0 + self.pool.headroom) - 1e-9)

    def replica_connections_needed(self, rps: float) -> int:
        return math.ceil(rps * self.replica_s * (1.0 + self.pool.headroom) - 1e-9)

    def db_servers(self, rps: float, cap: bool) -> int:
        """Connections serving the load: the pool grows to the need, from pool_min."""
        servers = max(self.connections_needed(rps), self.pool.pool_min, 1)
        return min(servers, self.pool.pool_max) if cap else servers

    def replica_servers(self, rps: float, cap: bool) -> int:
        servers = max(self.replica_connections_needed(rps), self.pool.pool_min, 1)
        return min(servers, self.pool.pool_max) if cap else servers

    def database_stations(self, rps: float, cap: bool) -> list[StationLoad]:
        """The primary (behind the pooler when there is one) and one of the replicas."""
        d = self.demands
        timeout = self.pool.acquire_timeout_s
        primary_s = _per_visit(d.primary_db_s, d.primary_share)
        servers = self.db_servers(rps, cap)
        out = [station("primary", rps, d.primary_share, primary_s, servers, timeout,
                       **_background(rps, self.bg_db_per_call, self.bg_db_s))]  # fmt: skip
        if self.topology.replicas:
            share = d.replica_share / self.topology.replicas
            replica_s = _per_visit(d.replica_db_s, d.replica_share)
            servers = self.replica_servers(rps, cap)
            out.append(station("replica", rps, share, replica_s, servers, timeout))
        return out

    def stations(self, rps: float, instances: int, cap: bool) -> list[StationLoad]:
        """The app station, then the database's. Least connections is one shared queue over
        every worker (M/M/(n·W), what join-the-shortest-queue comes close to); a random split
        gives each instance 1/n of the calls, n independent M/M/W queues: the station is one
        of them."""
        calls, servers = (
            (rps / instances, self.workers)
            if self.balancer == "random"
            else (rps, instances * self.workers)
        )
        app = station("app_workers", calls, 1.0, self.cpu_s, servers, self.request_timeout_s,
                      **_background(calls, self.bg_cpu_per_call, self.bg_cpu_s))  # fmt: skip
        return [app, *self.database_stations(rps, cap)]

    def response_time(self, rps: float, instances: int, cap: bool) -> ResponseTime | None:
        """The API request's time through the stations, None when one is unstable. Under a
        CFS quota the app station is each instance's throttled queue (models/cpu_quota.py):
        the load balancer gives each instance ``1/n`` of the calls."""
        stations = self.stations(rps, instances, cap)
        if not all(s.stable for s in stations):
            return None
        delays = [s.delay() for s in stations]
        if self.quota:
            throttled = self.quota_at(rps, instances)
            if throttled is None:
                return None
            delays[0] = throttled.delay()
        return ResponseTime(delays)

    def quota_at(self, rps: float, instances: int) -> QuotaDelay | None:
        """One instance's throttling at ``rps`` over ``instances``; None when saturated."""
        events = 1.0 + self.bg_cpu_per_call  # the calls and the background, one queue
        full_s = self.app_cpu_s * self.topology.cpu_speed / events
        # On shared cores a backlogged instance gets its part of them (the balancer keeps the
        # others busy then too).
        contended = None if self.shared_cores is None else self.shared_cores / instances
        try:
            return quota_delay(rps * events / instances, full_s, self.quota_cores,
                               self.period_s, self.workers, contended)  # fmt: skip
        except UnstableError:
            return None

    def meets_slo(self, rps: float, instances: int) -> bool:
        """CPU under the scale-up threshold and p50/p95 within the SLOs at ``instances``."""
        if rps * self.app_cpu_s > self.scaling.scale_up_cpu * instances * self.workers:
            return False
        rt = self.response_time(rps, instances, cap=False)
        return rt is not None and self.meets_slo_rt(rt)

    def instances_by_cpu(self, rps: float) -> int:
        return max(1, math.ceil(rps * self.app_cpu_s / (self.scaling.scale_up_cpu * self.workers)))

    def latency_floor_met(self, rps: float) -> bool:
        """Whether infinitely many instances would meet the SLOs (the app queue vanishes)."""
        database = self.database_stations(rps, cap=False)
        if not all(s.stable for s in database):
            return False
        app = self.full_cpu_s if self.quota else self.cpu_s
        return self.meets_slo_rt(ResponseTime([StationDelay(app), *(s.delay() for s in database)]))

    def meets_slo_rt(self, rt: ResponseTime) -> bool:
        return (
            rt.survival(self.slo_p95_s) <= 1.0 - _P95 and rt.survival(self.slo_p50_s) <= 1.0 - _P50
        )

    def instances_required(self, rps: float) -> int | None:
        """The fewest instances meeting CPU and latency targets; None when none can."""
        low = self.instances_by_cpu(rps)
        if self.meets_slo(rps, low):
            return low
        if not self.latency_floor_met(rps):
            return None
        # Exponential search for a feasible count, then bisection (feasibility is monotone).
        high = low * 2
        while not self.meets_slo(rps, high):
            if high > _SEARCH_CAP:
                return None
            high *= 2
        while high - low > 1:
            mid = (low + high) // 2
            if self.meets_slo(rps, mid):
                high = mid
            else:
                low = mid
        return high

    def provisioned(self, required: int | None) -> int:
        s = self.scaling
        return (
            s.max_instances
            if required is None
            else min(max(required, s.min_instances), s.max_instances)
        )

    def running(self, rps: float) -> int:
        """Instances the autoscaler keeps at ``rps``: clamp(required, min, max)."""
        floor = self.scaling.min_instances
        # Most hours need no more than the minimum: one check settles them.
        if self.instances_by_cpu(rps) <= floor and self.meets_slo(rps, floor):
            return floor
        return self.provisioned(self.instances_required(rps))

    # --- Limits ----------------------------------------------------------------------------
    def max_users_by_instances(self) -> int | None:
        if self.app_cpu_s == 0:
            return None
        cap = self.scaling.max_instances
        high = self.scaling.scale_up_cpu * cap * self.workers / self.app_cpu_s
        if self.meets_slo(high, cap):
            return self.users_at(high)
        low = 0.0
        if not self.meets_slo(high * _BISECTION_RELATIVE, cap):
            return 0
        while high - low > high * _BISECTION_RELATIVE:
            mid = 0.5 * (low + high)
            if self.meets_slo(mid, cap):
                low = mid
            else:
                high = mid
        return self.users_at(low)

    def max_users_by_db_pool(self) -> int | None:
        """The first pool (the primary's or a replica's) whose Little's-law need reaches
        ``pool_max``."""
        busy_per_rps = max(self.primary_s, self.replica_s) * (1.0 + self.pool.headroom)
        return None if busy_per_rps == 0 else self.users_at(self.pool.pool_max / busy_per_rps)

    def users_at(self, rps: float) -> int:
        return math.floor(rps / self.rps_per_user + 1e-9)

    # --- Cost ------------------------------------------------------------------------------
    def cost(self, users: int) -> CostEstimate:
        peak = users * self.rps_per_user
        hours = self.profile.day_one.hourly_fraction_of_peak
        instance_hours = sum(self.running(peak * fraction) for fraction in hours) * (
            24.0 / len(hours)
        )
        connections = max(self.connections_needed(peak), self.pool.pool_max)
        return monthly_cost(
            self.profile,
            users=users,
            database_connections=connections,
            instance_hours_per_day=instance_hours,
            database_cores=self.primary_cores(peak),
        )

    def primary_cores(self, rps: float) -> float:
        """The cores the primary needs at ``rps``: its CPU over the target (models/cost.py)."""
        return rps * self.primary_s * self.pool.cpu_share_of_db_time / self.pool.cpu_target


class Fleet:
    """The profile's stations with a fixed number of instances, at any load: what the planner
    makes of ``rps`` API calls per second on ``instances`` instances (the same stations
    :func:`size` solves). The validation's topology trial closes the users' loop over it
    (:mod:`models.lab_prediction`)."""

    def __init__(self, profile: Profile, instances: int) -> None:
        if instances < 1:
            raise ValueError(f"instances must be >= 1, got {instances!r}")
        self._sizer = _Sizer(profile)
        self.instances = instances

    @property
    def topology(self) -> Topology:
        return self._sizer.topology

    @property
    def cpu_s(self) -> float:
        """Worker time per call (the CPU at the instance's limit, less the cache's hits)."""
        return self._sizer.cpu_s

    @property
    def workers(self) -> int:
        """Worker processes of the whole fleet."""
        return self.instances * self._sizer.workers

    def stations(self, rps: float) -> list[StationLoad]:
        """The app workers, the primary behind the pooler, and one replica (when there are
        replicas), the pools grown to what the load needs within ``pool_max``."""
        return self._sizer.stations(rps, self.instances, cap=True)

    def response_time(self, rps: float) -> ResponseTime | None:
        """An API call's time through the stations; None when one has no steady state."""
        return self._sizer.response_time(rps, self.instances, cap=True)


def size(profile: Profile, *, compare_costs: bool = True) -> Sizing:
    """The capacity plan for ``profile`` at its peak (module docstring: what each number is).

    ``compare_costs`` also prices the profile's cost claims (four more populations); sweeps
    turn it off for speed.
    """
    sizer = _Sizer(profile)
    users = profile.population.users
    rps = users * sizer.rps_per_user
    reasons: list[str] = []
    instances = _instances(sizer, rps, reasons)
    connections = _connections(sizer, rps, reasons)
    stations = sizer.stations(rps, instances.provisioned, cap=True)
    rt = sizer.response_time(rps, instances.provisioned, cap=True)
    latency = (
        Latency(None, None, None)
        if rt is None
        else Latency(rt.quantile(_P50) * 1e3, rt.quantile(_P95) * 1e3, rt.mean_s * 1e3)
    )
    if rt is None:
        reasons.append("a tier is overloaded at the peak (utilization >= 100%): no steady state")
    cost = sizer.cost(users)
    if any(s.timeout_share > 0.0 and not s.stable for s in stations):
        reasons.append(
            "a station is overloaded at the peak: "
            + ", ".join(f"{s.name} at {s.utilization:.0%}" for s in stations if not s.stable)
        )
    connection_limits = _connection_plan(profile, cost, stations)
    reasons.extend(connection_limits.problems())
    rush = _login_rush(profile, sizer, rps)
    if not rush.fits:  # shown, not gated here: the simulated day gates the minutes it breaks
        reasons.append(
            f"the launch hour's {rush.joining:,.0f} new users signing in within a minute keep "
            f"{rush.busy_workers:,.1f} workers busy, more than the {rush.workers} serving "
            f"before it: {rush.instances_needed} instances would carry the rush"
        )
    return Sizing(
        users=users,
        dau=profile.dau(),
        peak_concurrent=profile.peak_concurrent(),
        peak_rps=rps,
        instances=instances,
        db_connections=connections,
        latency=latency,
        utilization=MappingProxyType(
            {"app_cpu": stations[0].utilization, "db_connections": stations[1].utilization}
            | ({"db_replica": stations[2].utilization} if len(stations) > 2 else {})
        ),
        cost=cost,
        limits=Limits(sizer.max_users_by_instances(), sizer.max_users_by_db_pool()),
        assumptions=profile_assumptions(profile),
        endpoints=_endpoint_loads(profile, sizer, rps),
        reasons=tuple(reasons),
        cost_breakdown=_breakdown(profile, sizer, cost) if compare_costs else (),
        cost_claims=compare_claims(profile, sizer.cost) if compare_costs else (),
        stations=tuple(stations),
        topology=sizer.topology,
        connections=connection_limits,
        claim_explanations=explain_claims(profile, sizer.cost) if compare_costs else (),
        login_rush=rush,
        cpu_quota=sizer.quota_at(rps, instances.provisioned) if sizer.quota else None,
        background=sizer.background,
    )


def _login_rush(profile: Profile, sizer: _Sizer, rps: float) -> LoginRush:
    """The launch step's logins on the fleet the autoscaler kept the hour before."""
    routes = sizer.topology.routes
    per_login = sum(r.probability * r.cpu_s for call in LOGIN_CALLS for r in routes[call])
    hours = profile.day_one.hourly_fraction_of_peak
    launch = profile.day_one.launch_hour
    before = sizer.running(rps * hours[launch - 1])
    return login_rush(profile, worker_s_per_login=per_login,
                      screen_busy_workers=rps * sizer.app_cpu_s, instances=before)  # fmt: skip


def _connection_plan(
    profile: Profile, cost: CostEstimate, stations: list[StationLoad]
) -> ConnectionPlan:
    """Opened and busy connections at the peak against the pooler's and the tier's limits."""
    replicas = profile.infrastructure.database.read_replicas
    held = [s.arrival_rps * ((s.mean_wait_s or 0.0) + s.service_s) for s in stations[1:]]
    client = held[0] + (held[1] * replicas if len(held) > 1 else 0.0)
    tier, _ = database_tier(profile, cost.database_connections, cost.database_cores)
    return connection_plan(
        profile,
        busy_client=client,
        busy_primary=stations[1].busy,
        busy_per_replica=stations[2].busy if len(stations) > 2 else 0.0,
        tier_name=tier.name,
        tier_max_connections=tier.max_connections,
    )


def _instances(sizer: _Sizer, rps: float, reasons: list[str]) -> Instances:
    """The instances the peak needs against the autoscaling bounds (a reason when outside)."""
    required = sizer.instances_required(rps)
    scaling = sizer.scaling
    slo = sizer.profile.slo
    if required is None:
        reasons.append(
            f"no number of instances meets the latency SLOs (p50 {slo.api_p50_ms:g} ms, "
            f"p95 {slo.api_p95_ms:g} ms): the service demands alone exceed them"
        )
    elif required > scaling.max_instances:
        reasons.append(
            f"{required} instances needed at the peak, above "
            f"infrastructure.autoscaling.max_instances = {scaling.max_instances}"
        )
    return Instances(
        required=required if required is not None else sizer.instances_by_cpu(rps),
        min=scaling.min_instances,
        max=scaling.max_instances,
        fits=required is not None and required <= scaling.max_instances,
        provisioned=sizer.provisioned(required),
        by_cpu=sizer.instances_by_cpu(rps),
    )


def _connections(sizer: _Sizer, rps: float, reasons: list[str]) -> Connections:
    """The connections the peak needs against the pool (a reason when above its maximum)."""
    needed = sizer.connections_needed(rps)
    pool = sizer.pool
    if needed > pool.pool_max:
        reasons.append(
            f"{needed} database connections needed at the peak (Little's law, "
            f"{pool.headroom:.0%} headroom), above infrastructure.database.pool_max = "
            f"{pool.pool_max}"
        )
    return Connections(
        required=needed,
        pool_min=pool.pool_min,
        pool_max=pool.pool_max,
        fits=needed <= pool.pool_max,
        busy=rps * sizer.primary_s,
    )


def _background(rps: float, per_call: float, work_per_call: float) -> dict[str, float]:
    """A station's background arguments: events per second and the mean hold of one."""
    if per_call <= 0:
        return {}
    return {"background_rps": rps * per_call, "background_s": work_per_call / per_call}


def _per_visit(demand_per_call: float, share: float) -> float:
    return demand_per_call / share if share > 0 else 0.0


def _endpoint_loads(profile: Profile, sizer: _Sizer, rps: float) -> tuple[EndpointLoad, ...]:
    """Each endpoint's share of the peak, busiest first."""
    return tuple(
        EndpointLoad(
            endpoint=e,
            rps=rps * share,
            cpu_ms=profile.service_demands[e].cpu_ms,
            db_ms=profile.service_demands[e].db_ms,
        )
        for e, share in sorted(sizer.visit_share.items(), key=lambda item: -item[1])
    )


def _breakdown(profile: Profile, sizer: _Sizer, cost: CostEstimate) -> tuple[CostComparison, ...]:
    """The launch plan's month-one breakdown beside the model's bill for the same population.

    The breakdown describes the plan's launch population, its smallest claim (400,000
    users); a plan for another population is compared at that population, not its own.
    """
    claims = profile.cost.claims
    users = min(c.users for c in claims) if claims else cost.users
    return compare_breakdown(profile, cost if users == cost.users else sizer.cost(users))
