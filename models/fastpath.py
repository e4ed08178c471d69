"""The whole day in a second: a time-stepped analytic model with the simulation's autoscaler.

Each minute is solved as a steady state (the load changes hourly and queues settle in
milliseconds, so a minute is "long"), and the :class:`~models.simulation.autoscaler.Autoscaler`
(the very object the simulation uses) reads each evaluation period's CPU and p95 and resizes
the fleet, with the same cooldown and provisioning delay. Per minute:

* **Load.** ``λ = users · Σ share_p · visits_p / Z_p`` (:class:`RequestMix`), less what the
  rate limiter rejects.
* **Database pools** (k = ``pool_max`` connections each, M/M/k): the primary's takes the
  calls routed to it, each replica's 1/R of the replica reads, a cache hit none
  (:mod:`models.topology`); per pool, offered load ``a_db = λ_k·E[db_k]``; Erlang C gives the
  chance to wait and the wait ``W_db``; the share of acquire timeouts is
  ``P(W_db > T) = C_db·e^(−(k/E[db_k] − λ_k)·T)`` (all of the excess when ``a_db ≥ k``).
* **Workers** (c = serving instances × W, M/G/c): a worker holds a request for
  ``E[W_db] + E[cpu + db]``; ``a = λ·E[hold]``, CPU ``= a/c``. Erlang C gives P(wait); the
  wait is exponential with rate ``θ = (c/E[hold] − λ)·2/(1 + cs²)`` (Allen–Cunneen's M/G/c
  correction, cs² the squared coefficient of variation of the hold, which the endpoint mix
  makes larger than 1 even when each endpoint's time is exponential).
* **Response time** ``T = backlog delay + W_db + W + S``, where S is the endpoint mixture
  (each endpoint exponential, gamma or deterministic around its demand, as the simulation
  draws it). Its percentiles come from the exact survival function of that mixture
  (hypoexponential terms for exponential service), solved with Brent's method.
* **Overload** (``a ≥ c``): the excess accumulates as a fluid backlog that later minutes
  drain; its delay ``backlog / (c/E[hold])`` shifts every response time. The backlog never
  holds more than the fleet finishes within ``request_timeout_s``: the rest is answered 503
  (errors), as the instances' timeout does.
* **Errors**: rate-limited requests, acquire timeouts, the backlog's excess, and the share
  of the minute's response-time distribution beyond ``request_timeout_s``.

When instances become ready inside a minute, the minute is split at that instant and its
distribution is the time-weighted mixture of the parts (the simulation's fleet changes at
the same instants). Minutes with the same load and fleet are solved once (memoised).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import gammaincc, roots_legendre

from models.catalogue import LOGIN_CALLS
from models.erlang import erlang_c
from models.profile import Profile
from models.simulation.arrivals import DayCurve, Online, RequestMix
from models.simulation.autoscaler import Autoscaler, ScalingPolicy
from models.simulation.recorder import MinuteRecord, Totals
from models.simulation.result import SimulationResult
from models.simulation.runner import SimulationOptions, assumptions
from models.topology import Target

__all__ = ["fast_day"]

FloatArray = npt.NDArray[np.float64]

_NODES, _WEIGHTS = roots_legendre(48)
_QUANTILES = (0.50, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class _Segment:
    """A stretch of a minute with a fixed fleet: its steady state."""

    weight: float
    """Fraction of the minute's requests (= fraction of its time)."""
    wait_probability: float
    theta: float
    shift_s: float
    """Deterministic delay added to every response: backlog drain + mean DB wait."""
    cpu: float
    saturated: bool = False
    """Overloaded: the backlog is capped at the request timeout, and the requests beyond it
    are counted as errors already (so none of the segment counts as late again)."""


class _Mixture:
    """Service-time mixture of the endpoints and the survival function of T = shift + W + S."""

    def __init__(self, probabilities: FloatArray, means: FloatArray, scv: float) -> None:
        keep = probabilities > 0
        self.p = probabilities[keep] / probabilities[keep].sum()
        self.m = means[keep]
        self.scv = scv
        self.mean = float((self.p * self.m).sum())
        second = float((self.p * (1.0 + scv) * self.m**2).sum())
        self.cs2 = second / self.mean**2 - 1.0 if self.mean > 0 else 0.0

    def _service_survival(self, t: FloatArray) -> FloatArray:
        """P(S_e > t) for each endpoint e; t broadcasts against the endpoints."""
        m = self.m
        if self.scv == 1.0:
            return np.exp(-t / m)
        if self.scv == 0.0:
            return (t < m).astype(np.float64)
        shape = 1.0 / self.scv
        return np.asarray(gammaincc(shape, np.maximum(t, 0.0) / (m * self.scv)))

    def _with_wait(self, t: float, theta: float) -> FloatArray:
        """P(W + S_e > t) for W ~ Exp(theta), per endpoint."""
        m = self.m
        if self.scv == 1.0:
            mu = 1.0 / m
            delta = np.abs(theta - mu)
            slow = np.minimum(theta, mu)
            with np.errstate(divide="ignore", invalid="ignore"):
                h = np.where(
                    delta < 1e-12 * mu,
                    t * np.exp(-mu * t),
                    np.exp(-slow * t) * -np.expm1(-delta * t) / delta,
                )
            return np.asarray(np.exp(-mu * t) + mu * h)
        if self.scv == 0.0:
            return np.where(t < m, 1.0, np.exp(-theta * np.maximum(t - m, 0.0)))
        # P(S > t) + ∫_0^t f_S(s)·e^(−θ(t−s)) ds, by 48-point Gauss–Legendre on [0, t].
        shape = 1.0 / self.scv
        s = (t / 2.0) * (_NODES + 1.0)
        scale = m[:, None] * self.scv
        log_f = (shape - 1.0) * np.log(np.maximum(s, 1e-300)) - s / scale
        log_f -= math.lgamma(shape) + shape * np.log(scale)
        integral = (t / 2.0) * (np.exp(log_f - theta * (t - s)) * _WEIGHTS).sum(axis=1)
        return np.asarray(self._service_survival(np.array(t)) + integral)

    def survival(self, t: float, segments: tuple[_Segment, ...]) -> float:
        total = 0.0
        for seg in segments:
            u = t - seg.shift_s
            if u <= 0:
                total += seg.weight
                continue
            plain = self._service_survival(np.array(u))
            part = (1.0 - seg.wait_probability) * plain
            if seg.wait_probability > 0:
                part = part + seg.wait_probability * self._with_wait(u, seg.theta)
            total += seg.weight * float((self.p * part).sum())
        return total

    def quantile(self, q: float, segments: tuple[_Segment, ...]) -> float:
        target = 1.0 - q

        def excess(t: float) -> float:
            return self.survival(t, segments) - target

        high = max(self.mean, 1e-6) * 4.0 + max(s.shift_s for s in segments)
        while excess(high) > 0:
            high *= 2.0
        return float(brentq(excess, 0.0, high, xtol=1e-9, rtol=1e-7))


def _segment(duration: float, wait_p: float, theta: float, shift: float, cpu: float,
             saturated: bool = False) -> _Segment:  # fmt: skip
    """A segment, rounded so that equal minutes share one memoised solution."""
    return _Segment(
        round(duration / 60.0, 9), round(wait_p, 12), round(theta, 9), round(shift, 9), cpu,
        saturated,
    )  # fmt: skip


def _minute_segments(now: float, scaler: Autoscaler) -> list[tuple[float, int]]:
    """(duration, serving instances) pieces of the minute starting at ``now``."""
    cuts = sorted({t for t in scaler.ready_times if now < t < now + 60.0})
    edges = [now, *cuts, now + 60.0]
    return [(b - a, scaler.serving(a)) for a, b in itertools.pairwise(edges)]


def fast_day(profile: Profile, options: SimulationOptions | None = None,
             progress: Callable[[float], None] | None = None) -> SimulationResult:  # fmt: skip
    """The day (``options.hours`` from ``options.start_hour``) by the analytic fast path.

    Returns the same :class:`SimulationResult` the simulation does (``method="fastpath"``,
    no seed), so reports and comparisons treat both alike.
    """
    options = options or SimulationOptions()
    began = time.perf_counter()
    day = _Day(profile, options)
    n_minutes = options.seconds // 60
    for minute in range(n_minutes):
        day.step(minute)
        if progress is not None and minute % 60 == 59:
            progress((minute + 1) / n_minutes)
    return SimulationResult(
        method="fastpath",
        profile=profile.name,
        seed=None,
        mode="open",
        start_s=day.start_s,
        hours=options.seconds / 3600.0,
        minutes=tuple(day.minutes),
        totals=_totals(day.minutes, day.weighted, day.day_mixture(), len(day.scaler.actions)),
        actions=tuple(day.scaler.actions),
        assumptions=tuple(
            [
                *assumptions(profile, options),
                "fast path: each minute in steady state (M/M/k pool, M/G/c workers with the "
                "Allen-Cunneen correction, fluid backlog when overloaded)",
            ]
        ),
        wall_s=time.perf_counter() - began,
    )


class _Day:
    """The fast path's state over the day: the fleet, the backlog, the minutes solved."""

    def __init__(self, profile: Profile, options: SimulationOptions) -> None:
        self.options = options
        self.mix = RequestMix.from_profile(profile)
        self.curve = DayCurve.from_profile(profile)
        self.policy = ScalingPolicy.from_profile(profile.infrastructure.autoscaling)
        self.workers = profile.infrastructure.workers_per_instance
        self.database = profile.infrastructure.database
        self.scaler = Autoscaler(
            self.policy, options.initial_instances or self.policy.min_instances
        )
        self.start_s = options.start_hour * 3600.0
        self.online = Online.build(profile, self.start_s, options.users, options.scenario)
        self.mixes: dict[float, _MinuteMix] = {}
        self.share = self._use_share(0.0)
        self.shares: list[float] = []
        self.accepted_fraction = self.mix.accepted_fraction()
        self.backlog = 0.0
        self.request_timeout_s = profile.infrastructure.request_timeout_s
        self.dropped = 0.0
        """Requests of the current minute that timed out in the backlog (the fluid's excess
        beyond what the fleet can finish within the request timeout)."""
        self.minutes: list[MinuteRecord] = []
        self.weighted: list[tuple[float, tuple[_Segment, ...]]] = []
        """Per minute: (requests served, its segments), for the whole-run percentiles."""
        self.quantiles = lru_cache(maxsize=4096)(self._quantiles)

    def day_mixture(self) -> _Mixture:
        """The mixture of the whole run: at the request-weighted mean share of logins."""
        total = sum(w for w, _ in self.weighted)
        mean = sum(w * s for (w, _), s in zip(self.weighted, self.shares, strict=True))
        self._use_share(mean / total if total > 0 else 0.0)
        return self.mixture

    def _use_share(self, share: float) -> float:
        """Make the mixture, the pools and the mean database time those of a minute whose
        calls are ``share`` login calls (rounded, so that similar minutes share them)."""
        share = round(share, 3)
        if share not in self.mixes:
            self.mixes[share] = _MinuteMix.of(self.mix, share, self.options.scv,
                                              self.database.pool_max)  # fmt: skip
        chosen = self.mixes[share]
        self.mixture, self.pools, self.mean_db = chosen.mixture, chosen.pools, chosen.mean_db
        return share

    def _quantiles(self, share: float, key: tuple[_Segment, ...]) -> tuple[float, ...]:
        """p50, p95, p99 and the share answered after the request timeout."""
        self._use_share(share)
        late = self.mixture.survival(
            self.request_timeout_s, tuple(s for s in key if not s.saturated)
        )
        return (*(self.mixture.quantile(q, key) for q in _QUANTILES), late)

    def _autoscale(self, now: float) -> None:
        """At each evaluation period's boundary the autoscaler reads the last minute."""
        period = self.policy.evaluation_period_s
        if (
            self.options.autoscale
            and now > 0
            and math.floor(now / period) > math.floor((now - 60.0) / period)
        ):
            last = self.minutes[-1]
            self.scaler.evaluate(now, last.cpu, last.p95_ms if not math.isnan(last.p95_ms) else 0.0)

    def _pool(self, lam: float, background_busy: float = 0.0) -> tuple[float, float]:
        """(share of acquire timeouts, mean connection wait) over every pool a call may use:
        Erlang C for the wait, its tail for the timeouts, all of the excess when a pool is
        overloaded; a cache hit uses none. ``background_busy`` connections of background work
        load the primary (the first pool) beside the calls."""
        timeouts = wait = 0.0
        limit = self.database.acquire_timeout_s
        for index, pool in enumerate(self.pools):
            lam_k = lam * pool.share
            a_db = lam_k * pool.mean_s + (background_busy if index == 0 else 0.0)
            k = pool.servers
            if lam_k == 0 or pool.mean_s == 0:
                continue
            if a_db < k:
                c_db = erlang_c(k, a_db)
                theta_db = k / pool.mean_s - lam_k
                share_timeout, mean_wait = c_db * math.exp(-theta_db * limit), c_db / theta_db
            else:
                share_timeout, mean_wait = 1.0 - k / a_db, limit
            timeouts += pool.share * share_timeout
            wait += pool.share * mean_wait
        return timeouts, wait

    def _segments(
        self, now: float, lam: float, hold: float, db_wait: float
    ) -> tuple[list[_Segment], float, float]:
        """The minute's segments (one per fleet size), and its busy and serving worker-seconds.

        Moves the backlog: drained at full speed when the fleet can, grown when it cannot.
        """
        segments = []
        busy = 0.0
        capacity = 0.0
        for duration, serving in _minute_segments(now, self.scaler):
            c = serving * self.workers
            rate = c / hold if hold > 0 else math.inf  # requests/s the fleet can finish
            a = lam * hold
            before = self.backlog
            if a < c:
                # Drain the backlog at full speed first (every worker busy), then steady state.
                drain_s = min(duration, before / (rate - lam)) if before > 0 else 0.0
                self.backlog = max(0.0, before - (rate - lam) * drain_s)
                busy_time = (drain_s + (duration - drain_s) * a / c) * c
                if drain_s > 0:  # arrivals while draining wait behind the shrinking backlog
                    delay = (before + self.backlog) / 2.0 / rate
                    segments.append(_segment(drain_s, 0.0, 1.0, delay + db_wait, 1.0))
                if duration > drain_s:
                    wait_p = erlang_c(c, a) if c > 0 and a > 0 else 0.0
                    theta = (c / hold - lam) * 2.0 / (1.0 + self.mixture.cs2)
                    segments.append(_segment(duration - drain_s, wait_p, theta, db_wait, a / c))
            else:
                self.backlog += (lam - rate) * duration
                # Requests that cannot be reached within the timeout are answered 503: the
                # backlog holds no more than the fleet finishes in request_timeout_s.
                cap = rate * self.request_timeout_s
                if self.backlog > cap:
                    self.dropped += self.backlog - cap
                    self.backlog = cap
                busy_time = duration * c
                delay = (before + self.backlog) / 2.0 / rate if rate > 0 else math.inf
                segments.append(_segment(duration, 0.0, 1.0, delay + db_wait, 1.0, True))
            busy += busy_time
            capacity += duration * c
        return segments, busy, capacity

    def step(self, minute: int) -> None:
        """Solve one minute: autoscale, load, pool, workers; append its record."""
        now = minute * 60.0
        self._autoscale(now)
        users = _minute_mean(self.online.users, now)  # a staged ramp moves within the minute
        screens = users * self.mix.rate_per_user
        login_calls = (
            len(LOGIN_CALLS) * _minute_mean(self.online.logins, now) if self.options.logins else 0.0
        )
        offered = screens + login_calls
        lam = screens * self.accepted_fraction + login_calls
        self.share = self._use_share(login_calls / lam if lam > 0 else 0.0)
        # Background work (models/background.py) loads the workers and the primary; the
        # workers' part is spread over the calls' hold (no user waits for it).
        background = users * self.mix.background_rate
        background_db = float((background * self.mix.background_db_s).sum())
        background_work = float((background * self.mix.background_cpu_s).sum()) + background_db
        timeout_share, db_wait = self._pool(lam, background_db)
        served = lam * (1.0 - timeout_share)
        self.dropped = 0.0
        hold = self.mixture.mean + db_wait + (background_work / lam if lam > 0 else 0.0)
        segments, busy, capacity = self._segments(now, lam, hold, db_wait)
        key = tuple(segments)
        p50, p95, p99, late = (
            self.quantiles(self.share, key) if lam > 0 else (math.nan,) * 3 + (0.0,)
        )
        self._use_share(self.share)
        mean_wait = sum(s.weight * (s.wait_probability / s.theta + s.shift_s) for s in key)
        requests = offered * 60.0
        answered = max(0.0, served * 60.0 - self.dropped)
        errors = min(requests, requests - answered * (1.0 - late))
        serving_mean = sum(d * n for d, n in _minute_segments(now, self.scaler)) / 60.0
        self.minutes.append(
            MinuteRecord(
                minute=minute,
                time_s=self.start_s + now,
                users=users,
                requests=requests,
                rps=offered,
                errors=errors,
                error_rate=errors / requests if requests else 0.0,
                p50_ms=p50 * 1000.0,
                p95_ms=p95 * 1000.0,
                p99_ms=p99 * 1000.0,
                mean_ms=(self.mixture.mean + mean_wait) * 1000.0 if lam > 0 else math.nan,
                instances=serving_mean,
                instances_billed=float(self.scaler.billed()),
                cpu=min(busy / capacity, 1.0) if capacity else 0.0,
                db_connections=served * self.mean_db + background_db,
            )
        )
        self.weighted.append((answered, key))
        self.shares.append(self.share)


def _minute_mean(rate: Callable[[float], float], now: float) -> float:
    """The mean of ``rate`` over the minute from ``now``, second by second."""
    return sum(rate(now + second + 0.5) for second in range(60)) / 60.0


@dataclass(frozen=True)
class _MinuteMix:
    """What a minute's calls look like when ``share`` of them are login calls."""

    mixture: _Mixture
    pools: list[_Pool]
    mean_db: float

    @classmethod
    def of(cls, mix: RequestMix, share: float, scv: float, servers: int) -> _MinuteMix:
        p = np.concatenate([mix.accepted_probability() * (1.0 - share),
                            mix.login_probability * share])  # fmt: skip
        cpu = np.concatenate([mix.pair_cpu_s, mix.login_cpu_s])
        db = np.concatenate([mix.pair_db_s, mix.login_db_s])
        target = np.concatenate([mix.pair_target, mix.login_target])
        # Routes of equal demand are one component of the mixture (fewer terms per quantile).
        means, component = np.unique(cpu + db, return_inverse=True)
        weights = np.bincount(component, weights=p, minlength=means.size).astype(np.float64)
        return cls(
            _Mixture(weights, means, scv),
            _pools(p, db, target, mix.replicas, servers),
            float((p * db).sum()),
        )


@dataclass(frozen=True, slots=True)
class _Pool:
    """One pool of connections: the share of calls that use it, their mean hold, its size."""

    share: float
    mean_s: float
    servers: int


def _pools(p: FloatArray, db_s: FloatArray, target: npt.NDArray[np.int64], replicas: int,
           servers: int) -> list[_Pool]:  # fmt: skip
    """The primary's pool and each replica's (alike: 1/R of the replica calls each)."""
    out: list[_Pool] = []
    for kind, count in ((Target.PRIMARY, 1), (Target.REPLICA, replicas)):
        chosen = target == kind
        share = float(p[chosen].sum())
        if share <= 0 or count == 0:
            continue
        mean = float((p[chosen] * db_s[chosen]).sum()) / share
        out.extend(_Pool(share / count, mean, servers) for _ in range(count))
    return out


def _totals(minutes: list[MinuteRecord], weighted: list[tuple[float, tuple[_Segment, ...]]],
            mixture: _Mixture, actions: int) -> Totals:  # fmt: skip
    """Whole-run totals; percentiles of the request-weighted mixture of all minutes."""
    total = sum(w for w, _ in weighted)
    merged: dict[_Segment, float] = {}
    for w, segments in weighted:
        for s in segments:
            key = _Segment(1.0, s.wait_probability, s.theta, s.shift_s, s.cpu)
            merged[key] = merged.get(key, 0.0) + w * s.weight
    if total > 0:
        combined = tuple(
            _Segment(w / total, s.wait_probability, s.theta, s.shift_s, s.cpu)
            for s, w in merged.items()
        )
        p50, p95, p99 = (mixture.quantile(q, combined) * 1000.0 for q in _QUANTILES)
    else:
        p50 = p95 = p99 = math.nan
    requests = sum(m.requests for m in minutes)
    errors = sum(m.errors for m in minutes)
    return Totals(
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        instance_minutes=sum(m.instances_billed for m in minutes),
        serving_instance_minutes=sum(m.instances for m in minutes),
        peak_instances=max(m.instances_billed for m in minutes),
        peak_rps=max(m.rps for m in minutes),
        peak_users=max(m.users for m in minutes),
        max_cpu=max(m.cpu for m in minutes),
        max_db_connections=max(m.db_connections for m in minutes),
        scaling_actions=float(actions),
    )
