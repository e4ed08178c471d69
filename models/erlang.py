"""Erlang B, Erlang C and the M/M/c queue: waiting and sojourn times, and how many servers.

Think of a pool of c identical servers (uvicorn workers, database connections, call-centre
agents). Requests arrive as a Poisson stream of rate λ and each holds a server for an
exponential time of mean 1/μ. The *offered load* a = λ/μ (in erlangs) is the mean number of
busy servers the stream would need; ρ = a/c is the utilization of each server.

* **Erlang B** is the chance that an arrival finds all c servers busy when it is turned away
  (M/M/c/c, a loss system: a pool with no queue).
* **Erlang C** is the chance that an arrival must wait when it queues instead (M/M/c).
  Queued requests are served first come, first served.

Conditioned on waiting, the wait is exponential with rate θ = cμ − λ, so

    P(W ≤ t) = 1 − C·e^(−θt),                 E[W] = C/θ,
    T = W + S,                                 E[T] = C/θ + 1/μ,

and the sojourn time T is, with probability 1 − C, just the service time, and with
probability C the sum of two exponentials (rates θ and μ: a hypoexponential). Its survival
function, written so that it is stable when θ is close to μ and exact when θ = μ, is

    P(T > t) = e^(−μt) + C·μ·h(t),
    h(t) = (e^(−μt) − e^(−θt)) / (θ − μ)     (θ ≠ μ),   h(t) = t·e^(−μt)   (θ = μ).

Sources: Kleinrock 1975, *Queueing Systems* vol. 1, §3.5–3.6; Gross, Shortle, Thompson &
Harris, *Fundamentals of Queueing Theory* (4th ed.), §2.3; Jagerman 1974 for the Erlang B
recursion B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)), which never over- or underflows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from scipy.optimize import brentq

from models import arguments
from models.errors import ParameterError, UnstableError

__all__ = [
    "MMcQueue",
    "erlang_b",
    "erlang_c",
    "mmc",
    "servers_for_target",
    "sojourn_cdf",
    "sojourn_percentile",
    "wait_cdf",
    "wait_percentile",
]

_ROOT_TOLERANCE = 1e-12  # absolute and relative x tolerance of the percentile root finder


def _check_load(servers: int, offered_load: float) -> tuple[int, float]:
    return (
        arguments.integer("servers", servers, minimum=1),
        arguments.non_negative("offered_load", offered_load),
    )


def _blocking(offered_load: float) -> Iterator[float]:
    """Yield B(1, a), B(2, a), ...: one step of the stable recursion per server."""
    b = 1.0
    k = 0
    while True:
        k += 1
        b = offered_load * b / (k + offered_load * b)
        yield b


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang B: P(all ``servers`` busy) for ``offered_load`` erlangs, blocked calls lost.

    Uses the recursion B(k) = a·B(k−1) / (k + a·B(k−1)) from B(0) = 1: O(c), exact to
    rounding for any c and a (the textbook a^c/c! / Σ a^k/k! overflows past c ≈ 170).

    >>> round(erlang_b(10, 5.0), 6)
    0.018385
    """
    servers, offered_load = _check_load(servers, offered_load)
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def _c_from_b(servers: int, offered_load: float, b: float) -> float:
    # C = c·B / (c − a·(1 − B)), from B without a second sum (Gross et al., §2.3).
    return servers * b / (servers - offered_load * (1.0 - b))


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang C: P(an arrival waits) in M/M/c with ``offered_load`` a = λ/μ < c erlangs.

    Computed from Erlang B as C = c·B / (c − a(1 − B)).

    >>> round(erlang_c(14, 10.0), 10)
    0.1741319336
    """
    servers, offered_load = _check_load(servers, offered_load)
    if offered_load >= servers:
        raise UnstableError(
            f"unstable queue: offered load {offered_load!r} erlangs >= {servers} servers "
            f"(utilization {offered_load / servers:.4g} >= 1)"
        )
    return _c_from_b(servers, offered_load, erlang_b(servers, offered_load))


@dataclass(frozen=True)
class MMcQueue:
    """Steady state of an M/M/c queue (FCFS). Times in the unit of 1/``service_rate``.

    Attributes:
        arrival_rate: λ.
        service_rate: μ, per server.
        servers: c.
        offered_load: a = λ/μ, erlangs.
        utilization: ρ = a/c.
        wait_probability: Erlang C, P(W > 0).
        mean_wait: E[W] = C / (cμ − λ).
        mean_sojourn: E[T] = E[W] + 1/μ.
        mean_queue_length: L_q = λ·E[W] (Little).
        mean_in_system: L = λ·E[T] (Little).
    """

    arrival_rate: float
    service_rate: float
    servers: int
    offered_load: float
    utilization: float
    wait_probability: float
    mean_wait: float
    mean_sojourn: float
    mean_queue_length: float
    mean_in_system: float


def _check_mmc(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Validate and return Erlang C."""
    arrival_rate = arguments.non_negative("arrival_rate", arrival_rate)
    service_rate = arguments.positive("service_rate", service_rate)
    return erlang_c(servers, arrival_rate / service_rate)


def mmc(arrival_rate: float, service_rate: float, servers: int) -> MMcQueue:
    """Solve M/M/c: Erlang C, mean wait and sojourn, queue lengths.

    Raises :class:`~models.errors.UnstableError` for ρ = λ/(cμ) ≥ 1 (no steady state).

    >>> q = mmc(arrival_rate=2.0, service_rate=1.0, servers=3)
    >>> round(q.wait_probability, 6), round(q.mean_sojourn, 4)
    (0.444444, 1.4444)
    """
    c_prob = _check_mmc(arrival_rate, service_rate, servers)
    servers = int(servers)
    theta = servers * service_rate - arrival_rate
    mean_wait = c_prob / theta
    mean_sojourn = mean_wait + 1.0 / service_rate
    return MMcQueue(
        arrival_rate=float(arrival_rate),
        service_rate=float(service_rate),
        servers=servers,
        offered_load=arrival_rate / service_rate,
        utilization=arrival_rate / (servers * service_rate),
        wait_probability=c_prob,
        mean_wait=mean_wait,
        mean_sojourn=mean_sojourn,
        mean_queue_length=arrival_rate * mean_wait,
        mean_in_system=arrival_rate * mean_sojourn,
    )


def _check_time(t: float) -> float:
    if not arguments.is_number(t) or math.isnan(t):
        raise ParameterError(f"t must be a number, got {t!r}")
    return float(t)


def _check_quantile(q: float) -> float:
    return arguments.unit_interval("quantile", q, high_open=True)


def wait_cdf(t: float, arrival_rate: float, service_rate: float, servers: int) -> float:
    """P(W ≤ t) = 1 − C·e^(−(cμ − λ)t) for the M/M/c waiting time (0 for t < 0).

    >>> round(wait_cdf(20.0, arrival_rate=10 / 180, service_rate=1 / 180, servers=14), 10)
    0.8883500192
    """
    c_prob = _check_mmc(arrival_rate, service_rate, servers)
    if _check_time(t) < 0:
        return 0.0
    return 1.0 - c_prob * math.exp(-(servers * service_rate - arrival_rate) * t)


def wait_percentile(q: float, arrival_rate: float, service_rate: float, servers: int) -> float:
    """The q-quantile of the M/M/c wait: 0 if q ≤ 1 − C, else ln(C/(1 − q)) / (cμ − λ).

    Closed form, no root finding: the wait is an atom at 0 plus an exponential tail.

    >>> wait_percentile(0.5, arrival_rate=2.0, service_rate=1.0, servers=3)
    0.0
    """
    c_prob = _check_mmc(arrival_rate, service_rate, servers)
    _check_quantile(q)
    if q <= 1.0 - c_prob:
        return 0.0
    return math.log(c_prob / (1.0 - q)) / (servers * service_rate - arrival_rate)


def _sojourn_survival(t: float, c_prob: float, mu: float, theta: float) -> float:
    if t <= 0:
        return 1.0
    delta = abs(theta - mu)
    slow = min(theta, mu)
    # h(t) = (e^(−μt) − e^(−θt)) / (θ − μ) = e^(−min(θ,μ)t)·(1 − e^(−|θ−μ|t)) / |θ−μ|:
    # expm1 keeps it accurate as θ → μ, and the limit θ = μ is t·e^(−μt).
    h = (
        t * math.exp(-mu * t)
        if delta == 0
        else math.exp(-slow * t) * -math.expm1(-delta * t) / delta
    )
    return math.exp(-mu * t) + c_prob * mu * h


def sojourn_cdf(t: float, arrival_rate: float, service_rate: float, servers: int) -> float:
    """P(T ≤ t) for the M/M/c sojourn time T = W + S (0 for t ≤ 0).

    A mixture: with probability 1 − C the service time alone (Exp(μ)), with probability C the
    conditional wait Exp(cμ − λ) plus the service time. Handles cμ − λ = μ exactly.

    >>> round(sojourn_cdf(1.0874, arrival_rate=2.0, service_rate=1.0, servers=3), 4)
    0.5
    """
    c_prob = _check_mmc(arrival_rate, service_rate, servers)
    theta = servers * service_rate - arrival_rate
    return 1.0 - _sojourn_survival(_check_time(t), c_prob, service_rate, theta)


def sojourn_percentile(q: float, arrival_rate: float, service_rate: float, servers: int) -> float:
    """The q-quantile of the M/M/c sojourn time, by Brent's method on P(T ≤ t) = q.

    The root is bracketed by doubling from the mean and found to 1e-12 (absolute and
    relative), far inside the 1e-9 the tests ask for.

    >>> round(sojourn_percentile(0.95, arrival_rate=2.0, service_rate=1.0, servers=3), 4)
    4.0207
    """
    c_prob = _check_mmc(arrival_rate, service_rate, servers)
    if _check_quantile(q) == 0.0:
        return 0.0
    theta = servers * service_rate - arrival_rate
    target = 1.0 - q

    def excess(t: float) -> float:
        return _sojourn_survival(t, c_prob, service_rate, theta) - target

    high = c_prob / theta + 1.0 / service_rate
    while excess(high) > 0:
        high *= 2.0
    root = brentq(excess, 0.0, high, xtol=_ROOT_TOLERANCE, rtol=_ROOT_TOLERANCE, maxiter=500)
    return float(root)


def servers_for_target(
    arrival_rate: float,
    service_rate: float,
    *,
    wait_probability: float | None = None,
    wait_time: float | None = None,
    sojourn_time: float | None = None,
    quantile: float = 0.95,
    max_servers: int = 1_000_000,
) -> int:
    """The smallest c for which an M/M/c queue meets every target given.

    Targets (at least one):

    * ``wait_probability``: P(W > 0) ≤ this (the Erlang C criterion).
    * ``wait_time``: the ``quantile`` of the wait ≤ this, i.e. P(W > wait_time) ≤ 1 − q.
    * ``sojourn_time``: the ``quantile`` of the sojourn time ≤ this. It must exceed the same
      quantile of the service time alone (−ln(1 − q)/μ), which no number of servers beats.

    All three improve monotonically with c, so the search walks up from the smallest stable
    c = ⌊a⌋ + 1, carrying the Erlang B recursion along (O(answer) in total).

    >>> servers_for_target(10 / 180, 1 / 180, wait_time=20.0, quantile=0.8)
    14
    """
    if wait_probability is None and wait_time is None and sojourn_time is None:
        raise ParameterError("give at least one of wait_probability, wait_time, sojourn_time")
    arrival_rate = arguments.non_negative("arrival_rate", arrival_rate)
    service_rate = arguments.positive("service_rate", service_rate)
    if wait_probability is not None:
        arguments.unit_interval("wait_probability", wait_probability)
    if wait_time is not None and (not arguments.is_number(wait_time) or not wait_time >= 0):
        raise ParameterError(f"wait_time must be a number >= 0, got {wait_time!r}")
    quantile = arguments.unit_interval("quantile", quantile, low_open=True, high_open=True)
    if sojourn_time is not None:
        floor = -math.log1p(-quantile) / service_rate
        if not sojourn_time > floor:
            raise ParameterError(
                f"sojourn_time {sojourn_time!r} is unreachable: the {quantile:g} quantile of "
                f"the service time alone is {floor:.6g}"
            )
    a = arrival_rate / service_rate
    blocking = _blocking(a)
    b = 1.0
    for c in range(1, max_servers + 1):
        b = next(blocking)
        if c <= a:
            continue
        c_prob = _c_from_b(c, a, b)
        theta = c * service_rate - arrival_rate
        if wait_probability is not None and c_prob > wait_probability:
            continue
        if wait_time is not None and c_prob * math.exp(-theta * wait_time) > 1.0 - quantile:
            continue
        if (
            sojourn_time is not None
            and _sojourn_survival(sojourn_time, c_prob, service_rate, theta) > 1.0 - quantile
        ):
            continue
        return c
    raise ParameterError(f"no c <= max_servers = {max_servers} meets the targets for load {a:.6g}")
