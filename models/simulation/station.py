"""One queue on its own (M/M/c, M/M/1), simulated with the launch day's machinery.

The simulation models a whole launch day: personas, the day-one curve, a fleet under an
autoscaler, a database pool. To study one pool of servers, or to check the simulation against
queueing theory (:mod:`models.erlang`), :func:`simulate_station` reduces it to a single
station: one instance of c workers that never scales, operators only (one call per screen),
every endpoint the same demand and no database time, so that with exponential service
(``scv = 1``) the workers are exactly an M/M/c queue fed by Poisson arrivals at the rate
given. :func:`station_profile` is that profile, for callers who want to change more of it.

>>> run = simulate_station(arrival_rate=8.0, service_rate=1.0, servers=10, minutes=5, seed=1)
>>> run.servers, run.utilization > 0.5
(10, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from models import arguments
from models.catalogue import endpoints
from models.profile import Profile, load_profile, merge
from models.simulation.result import SimulationResult
from models.simulation.runner import SimulationOptions, run_once

__all__ = ["StationRun", "simulate_station", "station_profile"]

THINK_TIME_S = 1.0
"""Each simulated user sends one request per second, far below every rate limit, so the
population is the arrival rate."""


def station_profile(
    servers: int,
    service_time_s: float,
    *,
    think_time_s: float = THINK_TIME_S,
    overrides: Mapping[str, Any] | None = None,
) -> Profile:
    """The shipped profile reduced to one station of ``servers`` workers.

    One instance (the autoscaler's bounds both 1) of ``servers`` workers with a core each,
    and no cache; operators only, so
    every screen is one call; every endpoint ``service_time_s`` of CPU and no database time;
    every hour of the day-one curve at the peak. ``overrides`` (a nested mapping, as
    :func:`models.profile.load_profile` takes) are merged over all of that, to add a database
    time, a second instance or an autoscaler.
    """
    servers = arguments.integer("servers", servers, minimum=1)
    demand_ms = arguments.positive("service_time_s", service_time_s) * 1000.0
    think = arguments.positive("think_time_s", think_time_s)
    station: dict[str, Any] = {
        # No session turnover: the station serves the screens' calls only (no logins).
        "population": {"session_minutes": 1e12},
        "personas": {
            "homeowner": {"share": 0.0},
            "contractor": {"share": 0.0},
            "operator": {"share": 1.0, "think_time_s": think},
        },
        "business": {"write_fraction": 0.0},
        "service_demands": {e: {"cpu_ms": demand_ms, "db_ms": 0.0} for e in endpoints()},
        "infrastructure": {
            # A core per worker: the station's servers run at full speed.
            "instance_vcpus": servers,
            "workers_per_instance": servers,
            "cache": {"enabled": False},
            "autoscaling": {"min_instances": 1, "max_instances": 1},
            "database": {"pool_min": 1},
        },
        "day_one": {"hourly_fraction_of_peak": [1.0] * 24},
    }
    return load_profile(overrides=merge(station, overrides or {}))


@dataclass(frozen=True)
class StationRun:
    """What a simulated station measured, beside what it was given.

    Attributes:
        arrival_rate: λ, requests per second offered.
        service_rate: μ, requests per second one server completes.
        servers: c.
        throughput: requests completed per second.
        mean_sojourn_s: mean time from arrival to completion (wait + service).
        p50_s, p95_s, p99_s: percentiles of that time over the whole run.
        utilization: the servers' busy fraction over the run.
        result: the full simulation result (per-minute records, totals).
    """

    arrival_rate: float
    service_rate: float
    servers: int
    throughput: float
    mean_sojourn_s: float
    p50_s: float
    p95_s: float
    p99_s: float
    utilization: float
    result: SimulationResult


def simulate_station(
    arrival_rate: float,
    service_rate: float,
    servers: int = 1,
    *,
    minutes: float = 20.0,
    seed: int = 0,
    scv: float = 1.0,
) -> StationRun:
    """Simulate ``servers`` servers fed by Poisson arrivals for ``minutes`` (M/M/c by default).

    Args:
        arrival_rate: λ > 0, requests per second.
        service_rate: μ > 0 per server; the mean service time is 1/μ.
        servers: c >= 1 (1 gives M/M/1).
        minutes: simulated time, in whole minutes (the queue starts empty).
        seed: the random seed: the same seed gives the same run.
        scv: squared coefficient of variation of the service time: 1 exponential (M/M/c),
            0 deterministic (M/D/c), another value a gamma distribution (M/G/c).

    A load λ/(cμ) >= 1 has no steady state: the run is simulated all the same, and its queue
    grows for as long as it runs.
    """
    lam = arguments.positive("arrival_rate", arrival_rate)
    mu = arguments.positive("service_rate", service_rate)
    span = arguments.positive("minutes", minutes)
    profile = station_profile(servers, 1.0 / mu)
    options = SimulationOptions(
        hours=span / 60.0, seed=seed, scv=scv, users=lam * THINK_TIME_S, autoscale=False
    )
    result = run_once(profile, options)
    served = [(m.requests - m.errors, m.mean_ms) for m in result.minutes]
    completed = sum(n for n, mean in served if not math.isnan(mean))
    totals = result.totals
    return StationRun(
        arrival_rate=lam,
        service_rate=mu,
        servers=int(servers),
        throughput=completed / options.seconds,
        mean_sojourn_s=sum(n * mean for n, mean in served if not math.isnan(mean))
        / completed
        / 1000.0
        if completed
        else math.nan,
        p50_s=totals.p50_ms / 1000.0,
        p95_s=totals.p95_ms / 1000.0,
        p99_s=totals.p99_ms / 1000.0,
        utilization=sum(m.cpu for m in result.minutes) / len(result.minutes),
        result=result,
    )
