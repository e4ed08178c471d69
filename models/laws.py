"""Operational laws: relations between quantities you can measure, true for any system.

The operational laws need no assumption about distributions or scheduling, only that the
system is observed over an interval in which arrivals and completions balance (flow balance).
They are the first check on any measurement and any model: if a run reports a utilization
that disagrees with U = X·S, the run or the model is wrong, not the law.

Symbols, for one observation interval (Lazowska et al. 1984, *Quantitative System
Performance* (QSP), ch. 3; Denning & Buzen 1978, "The operational analysis of queueing
network models", *ACM Computing Surveys* 10(3)):

====  ===========================================================  ==============
 X     system throughput (completions per second)                   1/s
 X_k   throughput of resource k                                     1/s
 V_k   visits to resource k per system-level request                 --
 S_k   service time per visit at resource k                          s
 D_k   service demand, total service per request: D_k = V_k·S_k      s
 U_k   utilization of resource k (busy fraction; per server)         --
 N     mean number of requests (or users) in the system              --
 R     mean response time (residence in the system, excluding Z)     s
 Z     mean think time of interactive users                          s
====  ===========================================================  ==============

Every function takes and returns plain floats and raises
:class:`~models.errors.ParameterError` (a ``ValueError``) naming the bad argument and its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.arguments import integer, non_negative, positive
from models.errors import ParameterError

__all__ = [
    "AsymptoticBounds",
    "asymptotic_bounds",
    "forced_flow",
    "interactive_response_time",
    "littles_law",
    "saturation_population",
    "service_demand",
    "utilization",
]


def utilization(throughput: float, service_time: float, servers: int = 1) -> float:
    """Utilization law: U = X·S (per server: U = X·S / c).

    A resource that completes ``throughput`` requests per second, each holding one of its
    ``servers`` for ``service_time`` seconds, is busy U of the time. With the service
    *demand* D per system request and the *system* throughput, U = X·D (same law, since
    X_k·S_k = X·V_k·S_k). Source: QSP §3.2.1; Denning & Buzen 1978.

    >>> utilization(throughput=40.0, service_time=0.02)
    0.8
    """
    x = non_negative("throughput", throughput)
    s = non_negative("service_time", service_time)
    return x * s / integer("servers", servers, minimum=1)


def service_demand(utilization: float, throughput: float) -> float:
    """Service demand law: D = U / X.

    The demand a request places on a resource follows from two measurements that are easy
    to take (the resource's busy fraction and the system's completion rate) and needs no
    per-request timing. This is how calibration estimates CPU and database time per request.
    Source: QSP §3.2.4.

    >>> service_demand(utilization=0.5, throughput=25.0)
    0.02
    """
    u = non_negative("utilization", utilization)
    x = positive("throughput", throughput)
    return u / x


def littles_law(throughput: float, residence_time: float) -> float:
    """Little's law: N = X·R, the mean number in a box from its throughput and residence time.

    Holds for any box with flow balance: a single queue, the database connection pool, the
    whole system (then with R + Z for users who think, giving N = X·(R + Z)). The number of
    database connections in use at peak is Little's law with R the connection holding time.
    Source: Little 1961, *Operations Research* 9(3); QSP §3.2.2.

    >>> littles_law(throughput=200.0, residence_time=0.05)
    10.0
    """
    x = non_negative("throughput", throughput)
    r = non_negative("residence_time", residence_time)
    return x * r


def interactive_response_time(population: float, throughput: float, think_time: float) -> float:
    """Interactive response time law: R = N / X − Z.

    N users alternate between thinking (mean Z) and waiting for a response (mean R); Little's
    law on the whole loop gives N = X·(R + Z). A negative result means the three inputs are
    inconsistent (measured in different windows, or think time overstated); it is returned,
    not hidden, so the caller can report it. Source: QSP §3.2.3.

    >>> interactive_response_time(population=100, throughput=9.0, think_time=10.0)
    1.1111111111111107
    """
    n = non_negative("population", population)
    x = positive("throughput", throughput)
    z = non_negative("think_time", think_time)
    return n / x - z


def forced_flow(throughput: float, visits: float) -> float:
    """Forced flow law: X_k = V_k·X.

    Every system-level request visits resource k V_k times on average, so the resource's
    throughput is forced by the system's. Source: QSP §3.2.4; Denning & Buzen 1978.

    >>> forced_flow(throughput=50.0, visits=3.0)
    150.0
    """
    x = non_negative("throughput", throughput)
    v = non_negative("visits", visits)
    return v * x


def _demands(demands: Sequence[float]) -> list[float]:
    if len(demands) == 0:
        raise ParameterError("demands must name at least one resource, got an empty sequence")
    return [non_negative(f"demands[{k}]", d) for k, d in enumerate(demands)]


def saturation_population(demands: Sequence[float], think_time: float = 0.0) -> float:
    """The saturation point N* = (D + Z) / D_max of a closed system.

    Below N* users hardly queue and throughput grows like N / (D + Z); above it the
    bottleneck (the resource with the largest demand D_max) is saturated and throughput is
    capped at 1 / D_max. N* is where the two asymptotes cross: the population a system of
    this configuration was, at best, built for. Source: QSP §5.2.

    >>> saturation_population([0.605, 2.1, 1.35], think_time=15.0)
    9.073809523809523
    """
    d = _demands(demands)
    z = non_negative("think_time", think_time)
    d_max = max(d)
    if d_max == 0:
        raise ParameterError(
            f"demands must include one > 0 for a saturation point, got {demands!r}"
        )
    return (sum(d) + z) / d_max


@dataclass(frozen=True)
class AsymptoticBounds:
    """Asymptotic bounds on a closed interactive system at one population (QSP §5.2).

    Attributes:
        population: N, the number of users.
        throughput_upper: X ≤ min(1/D_max, N/(D + Z)).
        throughput_lower: X ≥ N / (N·D + Z) (every other user is queued ahead of you).
        response_time_lower: R ≥ max(D, N·D_max − Z).
        response_time_upper: R ≤ N·D.
        saturation_population: N* = (D + Z) / D_max.
        bottleneck: index of the resource with the largest demand.
    """

    population: float
    throughput_upper: float
    throughput_lower: float
    response_time_lower: float
    response_time_upper: float
    saturation_population: float
    bottleneck: int


def asymptotic_bounds(
    demands: Sequence[float], population: float, think_time: float = 0.0
) -> AsymptoticBounds:
    """Asymptotic bounds for N users with think time Z on resources with demands D_k.

    With D = Σ D_k and D_max = max D_k (Lazowska et al., QSP §5.2, Table 5.1):

    * X(N) ≤ min(1/D_max, N/(D + Z)): the bottleneck cannot exceed 100 % utilization, and
      no user completes faster than one request per D + Z.
    * X(N) ≥ N/(N·D + Z): at worst a request waits behind all N − 1 others everywhere.
    * max(D, N·D_max − Z) ≤ R(N) ≤ N·D: the same two statements through R = N/X − Z.

    >>> b = asymptotic_bounds([0.605, 2.1, 1.35], population=3, think_time=15.0)
    >>> round(b.throughput_upper, 6), b.bottleneck
    (0.157439, 1)
    """
    d = _demands(demands)
    n = positive("population", population)
    z = non_negative("think_time", think_time)
    total = sum(d)
    d_max = max(d)
    if total + z == 0:
        raise ParameterError(
            f"demands and think_time are all zero ({demands!r}, {think_time!r}): no bounds"
        )
    x_upper = n / (total + z) if d_max == 0 else min(1.0 / d_max, n / (total + z))
    return AsymptoticBounds(
        population=n,
        throughput_upper=x_upper,
        throughput_lower=n / (n * total + z),
        response_time_lower=max(total, n * d_max - z),
        response_time_upper=n * total,
        saturation_population=math.inf if d_max == 0 else (total + z) / d_max,
        bottleneck=d.index(d_max),
    )
