"""The topology model in a closed loop: what a lab of K instances should deliver at N users.

:func:`models.sizing.size` plans the launch with open queues: at 20,000 users thinking 20 to
45 s, the time a user waits for a screen is negligible in its cycle. A validation on the lab
runs tens of users thinking a second or two, where it is not: a user waits for its screen
before it thinks again, so the load falls as the stations slow down. The prediction here
closes that loop over the planner's own stations (:class:`models.sizing.Fleet`, the topology
of :mod:`models.topology`: CPU limit, cache, pooler, replicas)::

    X = Σ_p N_p·c_p / (Z_p + c_p·R(X))

N_p users of persona p (largest remainder), Z_p its think time, c_p its calls per screen, and
R(X) the mean time of one call through the stations at X calls per second. The right side
falls as X rises, and R grows without bound as the first station nears utilization 1, so
there is one root, below the fleet's capacity: however many users there are, the loop holds
the busiest station just under it (a level that far is never judged: its predicted CPU is
over the goals' 85%).

Per level: the throughput; one call's mean, p50 and p95 (the stations' M/M/c sojourns summed,
:mod:`models.response_time`); the CPU per instance as a fraction of its limit, X times the
cores per call over K times the limit; and the pooler station (:class:`PoolerPrediction`): the
primary's connections busy by Little's law, their 95th percentile from the M/M/c state
distribution, and the Erlang-C wait. The settling time follows :mod:`models.prediction`: the
ramp, three user cycles and three relaxation times of the busiest station.

What the lab calibration measured (:class:`models.lab_calibration.LabDemands`), when given,
replaces three of the profile's assumptions with one consistent basis, the calibration's:

* **Cache and background work.** The calibrated demands are already averages over the hits
  and misses the calibration met, at the hit ratio it measured, and its CPU line holds the
  outbox's deliveries its writes brought; splitting them again at the profile's assumed
  ratio counted the cache twice. The model takes them as they are (no split, no background
  stream added) and so predicts at the calibration's hit ratio.
* **CPU.** CPU per instance is the instance's CPU-group line ``idle + per_request·X/K``; the
  per-endpoint CPU is scaled so that its mean is the line's slope (every process of the
  instance, as the quota counts it), and the workers share what the idle CPU leaves of the
  limit.
* **Pooler.** Its station is the measured transactions, not the profile's primary visits:
  arrivals ``X·transactions per request``, each holding a server connection for the measured
  mean transaction time (autocommit reads are a transaction per statement).

And one it adds: **the hops no station holds.** The stations are the CPU and the database;
a call in the lab also crosses the loopback from the client to HAProxy, HAProxy to the
instance, the instance to PgBouncer and PgBouncer to PostgreSQL, and the client's own
clock runs around all of it. None of that queues for the CPU or a connection, so it is a
floor under every call (the single-instance service curve has the same term). The
calibration measured the client's mean, p50 and p95 at each stage on one instance: the
model, on one instance at that stage's throughput, predicts its stations' share, and what
they leave, averaged over the stages and never negative, is each statistic's floor
(:func:`hop_floor`), added to that statistic at every level and to the users' cycle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq
from scipy.stats import poisson

from models.catalogue import PERSONAS
from models.erlang import erlang_c
from models.lab_calibration import LabDemands
from models.pooler_records import PoolerPrediction
from models.prediction import LevelPrediction, Prediction, split_users
from models.profile import Profile, merge, validate_profile
from models.response_time import ResponseTime
from models.sizing import Fleet
from models.stations import StationLoad, station
from models.workload import workloads

__all__ = [
    "FleetLevel",
    "FleetModel",
    "busy_quantile",
    "cpu_of_limit",
    "hop_floor",
    "on_calibration_basis",
    "pooler_prediction",
    "workers_cores",
    "workers_utilization_at",
]

_SETTLING_CYCLES = 3.0
_SATURATED = 0.999  # stepping back from a database station's instability, 0.1% at a time
_P95 = 0.95
_LEAST_LEFT = 0.05  # of the limit, for the workers when the idle line claims it all
_FLOOR_STATISTICS = ("mean_ms", "p50_ms", "p95_ms")


def busy_quantile(servers: int, offered_load: float, q: float) -> float:
    """The ``q`` quantile of the busy servers of an M/M/c queue (``servers`` servers,
    ``offered_load`` erlangs): the smallest k with P(min(n, c) <= k) >= q.

    In steady state P(n = j) ∝ a^j / j! below c and P(n >= c) is Erlang C, so below c the
    busy servers follow the Poisson(a) law truncated to [0, c - 1], scaled by 1 - C.

    >>> busy_quantile(100, 0.5, 0.95)
    2.0
    >>> busy_quantile(2, 1.9, 0.95)
    2.0
    """
    if offered_load <= 0:
        return 0.0
    if offered_load >= servers:
        return float(servers)
    waiting = erlang_c(servers, offered_load)
    below = float(poisson.cdf(servers - 1, offered_load))
    for k in range(servers):
        if (1.0 - waiting) * float(poisson.cdf(k, offered_load)) / below >= q - 1e-12:
            return float(k)
    return float(servers)


def pooler_prediction(primary: StationLoad) -> PoolerPrediction:
    """The pooler station's figures from the primary's M/M/c station."""
    wait = primary.mean_wait_s
    p95 = primary.p95_wait_s
    return PoolerPrediction(
        servers=primary.servers,
        arrival_rps=primary.arrival_rps,
        busy_mean=primary.busy,
        busy_p95=busy_quantile(primary.servers, primary.busy, _P95),
        waiting_mean=None if wait is None else primary.arrival_rps * wait,
        wait_mean_ms=None if wait is None else wait * 1e3,
        wait_p95_ms=None if p95 is None else p95 * 1e3,
    )


def on_calibration_basis(profile: Profile, measured: LabDemands | None) -> Profile:
    """``profile`` as the lab calibration measured it (module docstring): no second cache
    split, the mean CPU per call at the CPU group's slope, and the workers' share of the
    limit less the idle CPU. Unchanged without a measured CPU line."""
    slope = None if measured is None else measured.cpu_cores_per_rps
    if measured is None or slope is None:
        return profile
    # The line and the demands already hold the cache's hits at the calibration's ratio and the
    # background work its writes brought (the outbox runs in the instance's own process): the
    # model splits and adds neither again.
    measured_basis = {
        "infrastructure": {"cache": {"hit_ratio": 0.0}},
        "background": {
            "deliveries_per_notification": 0.0,
            "payment_retries_per_award": 0.0,
            "photos_per_job": 0.0,
        },
    }
    unsplit = merge(profile.model_dump(mode="json"), measured_basis)
    fleet = Fleet(validate_profile(unsplit, "lab model"), 1)
    mean_cores_s = fleet.cpu_s * fleet.topology.cpu_speed  # worker time back to CPU time
    scale = slope / mean_cores_s if mean_cores_s > 0 else 1.0
    left = workers_cores(profile.infrastructure.instance_vcpus, measured)
    changes = {
        "service_demands": {
            e: {"cpu_ms": d.cpu_ms * scale, "db_ms": d.db_ms}
            for e, d in profile.service_demands.items()
        },
        "infrastructure": {"instance_vcpus": left},
    }
    return validate_profile(merge(unsplit, changes), "lab model")


def workers_cores(limit: float, measured: LabDemands | None) -> float:
    """The cores an instance's workers own on the calibration's basis: the CPU limit less the
    idle line (unchanged without a measured line). An idle line at or past the limit would
    leave no CPU at all: a broken calibration, kept finite (and visibly saturated) rather than
    refused here."""
    if measured is None or measured.cpu_cores_per_rps is None:
        return limit
    return max(limit - measured.idle_cpu_cores, _LEAST_LEFT * limit)


def cpu_of_limit(workers_utilization: float, limit: float, measured: LabDemands | None) -> float:
    """An instance's whole CPU group as a fraction of its limit, idle CPU included (what the
    lab measures and the CPU target judges), from its workers' utilization of what the idle
    CPU leaves them (what a model on the calibration's basis gives): the CPU line
    ``idle + per_request·X/K`` over the limit."""
    left = workers_cores(limit, measured)
    return (limit - left + workers_utilization * left) / limit


def workers_utilization_at(cpu_fraction: float, limit: float, measured: LabDemands | None) -> float:
    """The inverse of :func:`cpu_of_limit`: the workers' utilization at which the whole CPU
    group is ``cpu_fraction`` of the limit (0 when the idle CPU alone passes it)."""
    left = workers_cores(limit, measured)
    return min(1.0, max(0.0, (cpu_fraction * limit - (limit - left)) / left))


def _statistics(response: ResponseTime) -> dict[str, float]:
    """The response time's mean, p50 and p95, in seconds, by their record names."""
    return {
        "mean_ms": response.mean_s,
        "p50_ms": response.quantile(0.50),
        "p95_ms": response.quantile(_P95),
    }


def hop_floor(basis: Profile, measured: LabDemands | None) -> dict[str, float]:
    """Per statistic (``mean_ms``, ``p50_ms``, ``p95_ms``), the seconds the lab
    calibration's measured response times hold beyond what the stations of one instance
    predict at each stage's throughput: the mean over the stages, at least 0 (module
    docstring). ``basis`` is the lab profile already on the calibration's basis
    (:func:`on_calibration_basis`), as the fleet's stations are. All zero without measured
    stages."""
    floor = {statistic: 0.0 for statistic in _FLOOR_STATISTICS}
    if measured is None or not measured.stage_latency:
        return floor
    one = Fleet(basis, 1)
    gaps: dict[str, list[float]] = {statistic: [] for statistic in _FLOOR_STATISTICS}
    for stage in measured.stage_latency:
        response = one.response_time(stage.throughput_rps)
        if response is None:  # a stage the model cannot hold tells nothing of the hops
            continue
        modelled = _statistics(response)
        for statistic in _FLOOR_STATISTICS:
            gaps[statistic].append(getattr(stage, statistic) / 1e3 - modelled[statistic])
    return {s: max(0.0, float(np.mean(g))) if g else 0.0 for s, g in gaps.items()}


@dataclass(frozen=True, slots=True)
class FleetLevel:
    """One level: the closed loop's prediction and its pooler station (None without a
    pooler)."""

    level: LevelPrediction
    pooler: PoolerPrediction | None


class FleetModel:
    """The lab profile's topology at ``instances`` instances, closed over its users (module
    docstring). ``profile`` is a lab profile (:meth:`models.profile.Profile.lab_profile`):
    its infrastructure is the lab's, its demands the calibrated ones."""

    def __init__(
        self,
        profile: Profile,
        instances: int,
        spawn_rate: float | None = None,
        measured: LabDemands | None = None,
    ) -> None:
        self.profile = profile
        self.measured = measured
        basis = on_calibration_basis(profile, measured)
        self.fleet = Fleet(basis, instances)
        self.spawn_rate = spawn_rate
        work = workloads(profile)
        self._think = np.array([work[p].think_time_s for p in PERSONAS])
        self._calls = np.array([work[p].calls_per_step for p in PERSONAS])
        self._shares = np.array([work[p].share for p in PERSONAS])
        infra = profile.infrastructure
        self.cpu_limit = infra.instance_vcpus
        self._cores_per_call = self.fleet.cpu_s * self.fleet.topology.cpu_speed
        self.capacity_rps = self.fleet.workers / self.fleet.cpu_s if self.fleet.cpu_s else math.inf
        """The app workers' capacity: calls per second at utilization 1."""
        self.floor_s = hop_floor(basis, measured)
        """Per statistic, the hops no station holds (module docstring), in seconds."""

    @property
    def instances(self) -> int:
        return self.fleet.instances

    def cpu_per_instance(self, rps: float) -> float:
        """CPU per instance at ``rps``, as a fraction of the instance's limit: the calibration's
        CPU-group line when measured, else the stations' CPU per call."""
        line = None if self.measured is None else self.measured.cpu_cores(rps / self.instances)
        if line is not None:
            return line / self.cpu_limit
        return rps * self._cores_per_call / (self.instances * self.cpu_limit)

    def _rate(self, populations: np.ndarray, response_s: float) -> float:
        return float(np.sum(populations * self._calls / (self._think + self._calls * response_s)))

    def _response(self, rps: float) -> ResponseTime | None:
        return self.fleet.response_time(rps)

    @property
    def saturation_users(self) -> float:
        """N*: the capacity over the calls one user sends with nothing queued."""
        bare = self._response(0.0)
        r0 = self.floor_s["mean_ms"] + (0.0 if bare is None else bare.mean_s)
        per_user = float(np.sum(self._shares * self._calls / (self._think + self._calls * r0)))
        return self.capacity_rps / per_user if per_user > 0 else math.inf

    @lru_cache(maxsize=512)  # noqa: B019 -- a model lives as long as its trial; levels repeat
    def at(self, users: int) -> FleetLevel:
        """The level of ``users`` users (module docstring)."""
        if users < 1:
            raise ValueError(f"users must be >= 1, got {users!r}")
        populations = np.array(split_users(self.profile, users), dtype=float)

        hops = self.floor_s["mean_ms"]

        def excess(x: float) -> float:
            response = self._response(x)
            return -x if response is None else self._rate(populations, hops + response.mean_s) - x

        high = self.capacity_rps * (1.0 - 1e-9)
        x = float(brentq(excess, 0.0, high, xtol=1e-9, rtol=1e-10)) if excess(high) < 0 else high
        response = self._response(x)
        while response is None and x > 0:  # the root sits where a database station saturates
            x *= _SATURATED
            response = self._response(x)
        assert response is not None
        stations = self.fleet.stations(x)
        cycle = float(np.dot(populations, self._think + self._calls * (hops + response.mean_s)))
        return FleetLevel(
            level=self._level(users, x, response, stations[0], cycle / users),
            pooler=self._pooler(x, stations[1]) if self.fleet.topology.pooler else None,
        )

    def _pooler(self, x: float, primary: StationLoad) -> PoolerPrediction:
        """The pooler station: measured transactions when the calibration has them (module
        docstring), else the primary's station as the profile's visits make it."""
        m = self.measured
        if m is None or not m.transactions_per_request or not m.transaction_s:
            return pooler_prediction(primary)
        measured = station("pooler", x, m.transactions_per_request, m.transaction_s,
                           primary.servers, primary.max_wait_s)  # fmt: skip
        return pooler_prediction(measured)

    def _level(
        self, users: int, x: float, response: ResponseTime, app: StationLoad, cycle_s: float
    ) -> LevelPrediction:
        statistics = _statistics(response)
        mean, p50, p95 = (
            (statistics[s] + self.floor_s[s]) * 1e3 for s in ("mean_ms", "p50_ms", "p95_ms")
        )
        rho = min(app.utilization, 0.99)
        relax = app.service_s / (app.servers * (1.0 - math.sqrt(rho)) ** 2)
        ramp = users / self.spawn_rate if self.spawn_rate else 0.0
        cpu = self.cpu_per_instance(x)
        return LevelPrediction(
            users=users,
            throughput_rps=x,
            throughput_rps_low=x,
            throughput_rps_high=x,
            mean_ms=mean,
            mean_ms_low=mean,
            mean_ms_high=mean,
            p50_ms=p50,
            p95_ms=p95,
            p95_ms_low=p95,
            p95_ms_high=p95,
            cpu_utilization=cpu,
            db_utilization=None,
            settling_time_s=ramp + _SETTLING_CYCLES * (cycle_s + relax),
        )

    def predict(self, users: Sequence[int]) -> Prediction:
        """Every level of ``users`` (one :class:`~models.prediction.Prediction`, as the
        single-instance models give, ``model = "topology"``)."""
        levels = tuple(self.at(n).level for n in users)
        primary = self.fleet.stations(levels[-1].throughput_rps if levels else 0.0)[1]
        return Prediction(
            calibrated=True,
            servers=self.fleet.workers,
            db_servers=primary.servers,
            uncertainty=0.0,
            saturation_users=self.saturation_users,
            levels=levels,
            model="topology",
        )
