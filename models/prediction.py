"""The closed-network prediction of a load test: per user level, what one measured machine
should deliver (throughput, mean and percentile latency, CPU), for validation.

A load test is a *closed* workload: N Locust users, each opening a screen (a fixed sequence of
API calls, :mod:`models.catalogue`) and then thinking for an exponential time of mean Z_p.
With tens to hundreds of users on one or two cores, response times are not negligible against
the think times and the CPU saturates, so the open M/M/c view of :mod:`models.sizing` does not
apply. The model here is the product-form closed network solved by mean value analysis:

* **Classes**: the three personas, N·share_p users each (largest remainder, so they sum to N),
  each with its own think time and per-screen demands ``D_{p,k} = Σ_e v_{p,e}·d_{e,k}``
  (visits per screen from :mod:`models.workload`, demands from the profile).
* **Stations**: the CPU of the service, ``servers`` identical servers (worker processes on
  the cores they get), and, unless the database is embedded, the database with
  ``db_servers`` connections. With SQLite the database runs inside the worker's thread, so its
  time is already in the measured CPU demand: pass ``db_servers=None``.
* **Solution**: Bard-Schweitzer approximate MVA on the Seidmann-transformed network
  (:func:`models.multiserver.seidmann_schweitzer_mva`): any population at the same small
  cost, pessimistic near the knee (response time over-estimated by at most 0.8/√c for c
  servers, much less on either side; see that module).

Percentiles from a closed model (an assumption)
-----------------------------------------------
MVA gives means only. Each station's time per request is taken to have the shape of an M/M/c
sojourn: wait with probability P (Erlang C at the MVA utilization, 1 when saturated) for an
exponential time, then an exponential service. The wait's mean is set so that the station's
mean residence equals the MVA's exactly, and the stations' times are summed as a phase-type
distribution (:mod:`models.response_time`). Percentiles are thus consistent with the MVA mean
by construction; the exponential shapes are the assumption (a service with less variable
times than exponential gives a lower p95).

Uncertainty band: the level is solved again with every demand scaled by (1 ± ``uncertainty``),
10% by default: ``*_low`` is the pessimistic throughput (demands +10%), ``*_high`` the
optimistic one.

A measured machine: the service curve
-------------------------------------
:func:`predict` is the planner's model: per-endpoint demands, stations, MVA. For one measured
service ``harness validate`` uses :func:`predict_curve` instead: the same closed loop of users
(personas, think times, calls per screen), but the CPU and the latency come from a
:class:`~models.service_curve.ServiceCurve` fitted on calibration stages at several loads,
because on the bundled service the CPU per request falls with load and most of a request's
time is a floor that does not queue, which one demand per endpoint and an M/M/c shape cannot
express (that module's docstring has the measurements and the formulas). The loop is solved
for the throughput at which the users' cycles and the curve's mean response agree.

Saturation and settling
-----------------------
N* = X_max / r₁: the request rate the bottleneck can sustain (c_k / s_k per request) over the
rate one user generates with no queueing (QSP §5.2, generalised to classes by the mix). The
settling time of a level, to choose its duration, is the ramp (users / spawn rate), plus three
mean user cycles (Z + R: the think-time phases of freshly spawned users de-synchronise
with relaxation time about one cycle, e^-3 = 5%), plus three relaxation times of the
bottleneck queue, s/(c·(1 − √ρ)²) (Morse 1955, the M/M/1 relaxation time, per server).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import brentq

from models.catalogue import PERSONAS
from models.erlang import erlang_c
from models.errors import ParameterError
from models.multiserver import seidmann_schweitzer_mva
from models.profile import Profile
from models.response_time import ResponseTime, StationDelay
from models.service_curve import ServiceCurve
from models.workload import workloads

__all__ = [
    "LevelPrediction",
    "Prediction",
    "demand_per_request_s",
    "predict",
    "predict_curve",
    "split_users",
]

DEFAULT_UNCERTAINTY = 0.10
_SETTLING_CYCLES = 3.0  # e^-3 ≈ 5%: what is left of the start-up transient


@dataclass(frozen=True)
class LevelPrediction:
    """The prediction for one user level (a ``prediction.json`` stage record)."""

    users: int
    throughput_rps: float
    throughput_rps_low: float
    throughput_rps_high: float
    mean_ms: float
    mean_ms_low: float
    mean_ms_high: float
    p50_ms: float
    p95_ms: float
    p95_ms_low: float
    p95_ms_high: float
    cpu_utilization: float
    db_utilization: float | None
    settling_time_s: float
    error_rate: float = 0.0
    """The queueing model predicts no errors; timeouts and failures are the simulation's."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = round(value, 4) if isinstance(value, float) else value
        return out


@dataclass(frozen=True)
class Prediction:
    """Predictions for every level, with the machine description they assume."""

    calibrated: bool
    servers: int
    db_servers: int | None
    uncertainty: float
    saturation_users: float
    levels: tuple[LevelPrediction, ...]
    model: str = "mva"
    latency_floor_ms: float = 0.0
    curve: ServiceCurve | None = None
    """The fitted service curve when ``model`` is ``"service-curve"``."""

    def to_json(self) -> dict[str, Any]:
        """The ``prediction.json`` structure of docs/artifacts.md (plus machine keys)."""
        return {
            "model": self.model,
            "calibrated": self.calibrated,
            "servers": self.servers,
            "db_servers": self.db_servers,
            "uncertainty": self.uncertainty,
            "saturation_users": round(self.saturation_users, 2),
            "latency_floor_ms": round(self.latency_floor_ms, 4),
            **({"service_curve": self.curve.to_json()} if self.curve is not None else {}),
            "stages": [level.to_json() for level in self.levels],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", "utf-8")


def split_users(profile: Profile, users: int) -> list[int]:
    """Users per persona by share, largest remainder first, summing to ``users``."""
    if users < 0:
        raise ParameterError(f"users must be >= 0, got {users!r}")
    shares = [profile.personas.get(p).share for p in PERSONAS]
    exact = [users * s for s in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: users - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class _Network:
    demands: np.ndarray  # (classes, stations) seconds per screen
    calls: np.ndarray  # (classes,) API calls per screen
    think: np.ndarray  # (classes,) seconds
    servers: list[float]


@dataclass(frozen=True)
class _Solution:
    throughput_rps: float
    mean_s: float
    response: ResponseTime
    utilization: list[float]  # per station, per server
    cycle_s: float  # user-weighted Z + R


def _network(
    profile: Profile,
    servers: int,
    db_servers: int | None,
    scale: float,
    latency_floor_s: float = 0.0,
) -> _Network:
    work = workloads(profile)
    rows: list[list[float]] = []
    for persona in PERSONAS:
        visits = work[persona].visits
        cpu = sum(v * profile.service_demands[e].cpu_ms for e, v in visits.items())
        row = [cpu * scale / 1e3]
        if db_servers is not None:
            db = sum(v * profile.service_demands[e].db_ms for e, v in visits.items())
            row.append(db * scale / 1e3)
        if latency_floor_s > 0:
            row.append(work[persona].calls_per_step * latency_floor_s)
        rows.append(row)
    station_servers: list[float] = [float(servers)]
    if db_servers is not None:
        station_servers.append(float(db_servers))
    if latency_floor_s > 0:
        station_servers.append(math.inf)  # a delay station: no queue, every request pays it
    return _Network(
        demands=np.array(rows),
        calls=np.array([work[p].calls_per_step for p in PERSONAS]),
        think=np.array([work[p].think_time_s for p in PERSONAS]),
        servers=station_servers,
    )


def _solve(net: _Network, populations: list[int]) -> _Solution:
    result = seidmann_schweitzer_mva(
        net.demands, net.servers, populations, [float(z) for z in net.think]
    )
    x = np.asarray(result.throughput)  # screens/s per class
    requests = float(x @ net.calls)
    if requests <= 0:
        raise ParameterError(f"no throughput for populations {populations}")
    residence = np.asarray(result.residence_time)  # (classes, stations) per screen
    stations: list[StationDelay] = []
    utilization: list[float] = []
    for k, c in enumerate(net.servers):
        service = float(x @ net.demands[:, k]) / requests
        mean_wait = max(0.0, float(x @ (residence[:, k] - net.demands[:, k])) / requests)
        load = requests * service
        util = load / c
        # A delay station never makes anyone wait; a saturated one always does.
        wait_p = 0.0 if math.isinf(c) else 1.0 if load >= c else erlang_c(int(c), load)
        stations.append(StationDelay.matched(service, mean_wait, wait_p))
        utilization.append(min(util, 1.0))
    users = sum(populations)
    cycle = float(np.dot(populations, net.think + residence.sum(axis=1)) / users)
    mean = float(x @ residence.sum(axis=1)) / requests
    return _Solution(requests, mean, ResponseTime(stations), utilization, cycle)


def _saturation(net: _Network, profile: Profile) -> float:
    shares = np.array([profile.personas.get(p).share for p in PERSONAS])
    light = shares * net.calls / (net.think + net.demands.sum(axis=1))  # requests/s per user
    rate_mix = light / light.sum()  # share of requests by class at light load
    per_request = (rate_mix / net.calls) @ net.demands  # seconds per request at each station
    caps = [c / s for c, s in zip(net.servers, per_request, strict=True) if s > 0]
    return math.inf if not caps else float(min(caps)) / float(light.sum())


def _settling(sol: _Solution, net: _Network, users: int, spawn_rate: float | None) -> float:
    ramp = users / spawn_rate if spawn_rate else 0.0
    relax = 0.0
    for k, c in enumerate(net.servers):
        rho = min(sol.utilization[k], 0.99)  # a saturated queue relaxes on the ramp's scale
        service = sol.response.stations[k].service_s
        relax = max(relax, service / (c * (1.0 - math.sqrt(rho)) ** 2))
    return ramp + _SETTLING_CYCLES * (sol.cycle_s + relax)


def predict(
    profile: Profile,
    users: Sequence[int],
    *,
    servers: int,
    db_servers: int | None = None,
    uncertainty: float = DEFAULT_UNCERTAINTY,
    calibrated: bool = False,
    spawn_rate: float | None = None,
    latency_floor_ms: float = 0.0,
) -> Prediction:
    """Predict each user level of a closed load test on one machine (module docstring).

    Args:
        profile: workload and service demands (calibrated ones for validation).
        users: the levels, e.g. the ``step`` scenario's stage users.
        servers: CPU servers of the service: worker processes, at most the cores they get.
        db_servers: database connections as a separate station; None for an embedded
            database whose time is part of the CPU demand (SQLite).
        uncertainty: relative demand uncertainty for the low/high band.
        calibrated: recorded in the output (were the demands measured?).
        spawn_rate: users per second of the ramp, for the settling estimate.
        latency_floor_ms: time every request spends outside the service's CPU and database
            (loopback network, the HTTP server's event loop, the load generator's own
            handling), measured at light load by ``harness validate``. Modelled as a delay
            station: it adds to the response time and never queues.
    """
    if latency_floor_ms < 0:
        raise ParameterError(f"latency_floor_ms must be >= 0, got {latency_floor_ms!r}")
    floor_s = latency_floor_ms / 1e3
    if servers < 1:
        raise ParameterError(f"servers must be >= 1, got {servers!r}")
    if db_servers is not None and db_servers < 1:
        raise ParameterError(f"db_servers must be >= 1 or None, got {db_servers!r}")
    if not 0.0 <= uncertainty < 1.0:
        raise ParameterError(f"uncertainty must be in [0, 1), got {uncertainty!r}")
    nominal = _network(profile, servers, db_servers, 1.0, floor_s)
    slow = _network(profile, servers, db_servers, 1.0 + uncertainty, floor_s)
    fast = _network(profile, servers, db_servers, 1.0 - uncertainty, floor_s)
    levels: list[LevelPrediction] = []
    for n in users:
        if n < 1:
            raise ParameterError(f"every level needs >= 1 user, got {n!r}")
        populations = split_users(profile, n)
        mid, low, high = (_solve(net, populations) for net in (nominal, slow, fast))
        levels.append(
            LevelPrediction(
                users=n,
                throughput_rps=mid.throughput_rps,
                throughput_rps_low=low.throughput_rps,
                throughput_rps_high=high.throughput_rps,
                mean_ms=mid.mean_s * 1e3,
                mean_ms_low=high.mean_s * 1e3,
                mean_ms_high=low.mean_s * 1e3,
                p50_ms=mid.response.quantile(0.50) * 1e3,
                p95_ms=mid.response.quantile(0.95) * 1e3,
                p95_ms_low=high.response.quantile(0.95) * 1e3,
                p95_ms_high=low.response.quantile(0.95) * 1e3,
                cpu_utilization=mid.utilization[0],
                db_utilization=mid.utilization[1] if db_servers is not None else None,
                settling_time_s=_settling(mid, nominal, n, spawn_rate),
            )
        )
    return Prediction(
        calibrated=calibrated,
        servers=servers,
        db_servers=db_servers,
        uncertainty=uncertainty,
        saturation_users=_saturation(nominal, profile),
        levels=tuple(levels),
        latency_floor_ms=latency_floor_ms,
    )


def demand_per_request_s(profile: Profile) -> float:
    """The persona mix's mean CPU demand per request at light load, in seconds.

    Requests are weighted by how often each persona sends them (share / think time times calls
    per screen), the mix a light load test produces. The service curve scales by the ratio of
    two mixes' values (:meth:`ServiceCurve.scaled`).
    """
    work = workloads(profile)
    requests = 0.0
    cpu = 0.0
    for persona in PERSONAS:
        w = work[persona]
        screens = profile.personas.get(persona).share / w.think_time_s
        requests += screens * w.calls_per_step
        cpu += screens * sum(v * profile.service_demands[e].cpu_ms for e, v in w.visits.items())
    return cpu / requests / 1e3 if requests > 0 else 0.0


@dataclass(frozen=True)
class _CurveLevel:
    throughput_rps: float
    load: float
    """The curve's load at the level (CPU / the curve's ceiling; 1 at saturation)."""
    cycle_s: float
    latency_utilization: float
    """Where the curve's latency statistics are read: U, or past saturation the point at which
    the curve's mean equals the response time law's (see :func:`_solve_curve`)."""
    latency_shift_s: float
    """Added to every statistic when even U = 0.999 leaves the curve's mean below the law's."""
    curve: ServiceCurve
    """The curve at the level's depth (its busy cost and stretched work), where its latency
    statistics are read."""


_SATURATED_STRETCH = 0.999  # the highest U at which a saturated level's statistics are read
_DEPTH_ROUNDS = 4  # fixed-point rounds of a level's depth X·R/U and its busy cost
_LEAST_BUSY = 1e-6  # the busy fraction a depth is divided by, at least


def _solve_curve(
    curve: ServiceCurve, populations: Sequence[int], think: np.ndarray, calls: np.ndarray
) -> _CurveLevel:
    """The closed loop's fixed point: X = Σ_p N_p·c_p / (Z_p + c_p·R(U(X))).

    The right side falls as X rises (more CPU, longer responses), the left rises, so there is
    one root in (0, X_max) unless the users ask for more than X_max. Then the loop is
    capacity-bound: X = X_max, and the mean response time is what the response time law
    makes of the users' cycle (R solves Σ_p N_p·c_p / (Z_p + c_p·R) = X_max, QSP §3.3.3); the
    latency statistics are read where the curve's mean equals it (where its queue has grown
    to), so they stay consistent with the mean.

    With a backlog (:class:`~models.service_curve.Backlog`) the busy cost depends on the
    requests in the service while its core is busy, which at throughput X the users' cycle
    puts at X·R / U with R the response time law's (Little's law over the busy time, as a
    burst's depth is measured): the CPU at X is read on the curve of that depth, and X_max is
    where that curve's load reaches one.
    """
    n = np.asarray(populations, dtype=float)

    def demand(r: float) -> float:
        return float(np.sum(n * calls / (think + calls * r)))

    def cycle_response(x: float) -> float:
        """The response time at which the users' cycle gives throughput x (0 at or above
        what they ask for with no response time at all)."""
        if x >= demand(0.0):
            return 0.0
        upper = 1.0
        while demand(upper) > x:
            upper *= 2.0
        return float(brentq(lambda t: demand(t) - x, 0.0, upper, xtol=1e-12))

    def at(x: float) -> ServiceCurve:
        """The curve at the depth the users' cycle holds in the service at throughput x: X·R
        over the busy fraction U, which the depth's busy cost moves (a few rounds settle it:
        the cost follows the depth's logarithm)."""
        if curve.backlog is None or curve.backlog.cpu_s == 0 or x <= 0:
            return curve  # no depth to find: the users' cycle need not be solved
        held = x * cycle_response(x)
        here = curve
        for _ in range(_DEPTH_ROUNDS):
            here = curve.with_backlog(held / max(here.utilization(x), _LEAST_BUSY))
        return here

    def excess(x: float) -> float:
        here = at(x)
        r = here.latency_s("mean_ms", here.load(x))
        return -x if math.isinf(r) else demand(r) - x

    x_max = _backlogged_capacity(curve, at)
    high = x_max * (1.0 - 1e-9)
    if excess(high) < 0:
        x = float(brentq(excess, 0.0, high, xtol=1e-9))
        here = at(x)
        u = here.load(x)
        r, at_u = here.latency_s("mean_ms", u), u
    else:
        # The users' cycle at X_max: demand(r) falls from demand(0) >= X_max towards 0.
        x, u = x_max, 1.0
        here = at(x_max)
        r = cycle_response(x_max)

        def mean(v: float) -> float:
            return here.latency_s("mean_ms", v)

        if mean(0.0) < r < mean(_SATURATED_STRETCH):
            at_u = float(brentq(lambda v: mean(v) - r, 0.0, _SATURATED_STRETCH, xtol=1e-12))
        else:
            at_u = _SATURATED_STRETCH
    cycle = float(np.dot(n, think + calls * r) / max(1.0, n.sum()))
    shift = max(0.0, r - here.latency_s("mean_ms", at_u))
    return _CurveLevel(x, u, cycle, at_u, shift, here)


def _backlogged_capacity(curve: ServiceCurve, at: Callable[[float], ServiceCurve]) -> float:
    """The throughput at which the load reaches one: X_max = (1 − b) / a, or with a backlog
    the X at which b + X·a(n(X)) = 1, ``at(X)`` the curve at X's depth n(X), searched up to
    where the cheapest busy cost (one request in the service) would put it."""
    x_max = curve.max_throughput_rps
    if curve.backlog is None or curve.backlog.cpu_s == 0:
        return x_max
    highest = (1.0 - curve.background) / curve.busy_cpu_at(1.0)

    def over(x: float) -> float:
        return curve.background + x * at(x).busy_cpu_s - 1.0

    if over(highest) <= 0:
        return highest
    return float(brentq(over, 0.0, highest, xtol=1e-9))


@dataclass(frozen=True)
class _Loop:
    """The closed loop of one level: users per persona, their think times and calls per
    screen."""

    populations: list[int]
    think: np.ndarray
    calls: np.ndarray


def _curve_level(
    n: int, here: ServiceCurve, loop: _Loop, uncertainty: float, spawn_rate: float | None
) -> LevelPrediction:
    """One level on the curve ``here`` (at the level's machine speed), with its band: the
    curve's work terms rescaled by (1 ± ``uncertainty``)."""
    slow = here.scaled(1.0 + uncertainty)
    fast = here.scaled(1.0 - uncertainty)
    mid, low, high = (
        _solve_curve(c, loop.populations, loop.think, loop.calls) for c in (here, slow, fast)
    )

    def ms(level: _CurveLevel, statistic: str) -> float:
        value = level.curve.latency_s(statistic, level.latency_utilization)
        return (value + level.latency_shift_s) * 1e3

    ramp = n / spawn_rate if spawn_rate else 0.0
    rho = min(mid.load, 0.99)
    relax = (here.busy_cpu_s + here.wake_cpu_s) / (1.0 - math.sqrt(rho)) ** 2
    return LevelPrediction(
        users=n,
        throughput_rps=mid.throughput_rps,
        throughput_rps_low=low.throughput_rps,
        throughput_rps_high=high.throughput_rps,
        mean_ms=ms(mid, "mean_ms"),
        mean_ms_low=ms(high, "mean_ms"),
        mean_ms_high=ms(low, "mean_ms"),
        p50_ms=ms(mid, "p50_ms"),
        p95_ms=ms(mid, "p95_ms"),
        p95_ms_low=ms(high, "p95_ms"),
        p95_ms_high=ms(low, "p95_ms"),
        cpu_utilization=mid.load * here.ceiling,
        db_utilization=None,
        settling_time_s=ramp + _SETTLING_CYCLES * (mid.cycle_s + relax),
    )


def predict_curve(
    profile: Profile,
    users: Sequence[int],
    curve: ServiceCurve,
    *,
    uncertainty: float = DEFAULT_UNCERTAINTY,
    spawn_rate: float | None = None,
    demand_s: float | None = None,
    speed_ms: Mapping[int, float] | None = None,
) -> Prediction:
    """Predict each level of a closed load test with a fitted :class:`ServiceCurve`.

    The closed loop (users, think times, calls per screen from the profile's personas) is
    solved at each level for the throughput at which the curve's mean response time and the
    users' cycle agree (:func:`_solve_curve`); CPU and the latency statistics follow from the
    curve at that throughput. The profile's mix differs from the calibration's by the ratio of
    their mean demands per request, which rescales the curve's work terms: ``demand_s`` (on the
    same basis as ``curve.reference_demand_s``), by default :func:`demand_per_request_s` of
    the profile. The band rescales them by (1 ± ``uncertainty``) as :func:`predict` does.

    ``speed_ms`` gives, per number of users, the machine-speed reference measured where that
    level ran (:meth:`ServiceCurve.at_speed`); levels without one are predicted at the curve's
    own speed, the calibration's.
    """
    if not 0.0 <= uncertainty < 1.0:
        raise ParameterError(f"uncertainty must be in [0, 1), got {uncertainty!r}")
    work = workloads(profile)
    calls = np.array([work[p].calls_per_step for p in PERSONAS])
    think = np.array([work[p].think_time_s for p in PERSONAS])
    mix = 1.0
    if curve.reference_demand_s > 0:
        own = demand_per_request_s(profile) if demand_s is None else demand_s
        mix = own / curve.reference_demand_s
    nominal = curve.scaled(mix)
    levels = []
    for n in users:
        if n < 1:
            raise ParameterError(f"every level needs >= 1 user, got {n!r}")
        here = nominal.at_speed((speed_ms or {}).get(n))
        loop = _Loop(split_users(profile, n), think, calls)
        levels.append(_curve_level(n, here, loop, uncertainty, spawn_rate))
    shares = np.array([profile.personas.get(p).share for p in PERSONAS])
    light = shares * calls / (think + calls * nominal.latency_s("mean_ms", nominal.load(0)))
    return Prediction(
        calibrated=True,
        servers=1,
        db_servers=None,
        uncertainty=uncertainty,
        saturation_users=nominal.max_throughput_rps / float(light.sum()),
        levels=tuple(levels),
        model="service-curve",
        latency_floor_ms=nominal.latency["mean_ms"][0] * 1e3,
        curve=nominal,
    )
