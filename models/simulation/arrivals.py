"""Where requests come from: the day-one curve, the request mix, and the two load modes.

**The curve.** ``day_one.hourly_fraction_of_peak[h]`` is the fraction of the peak concurrency
online during hour *h*; users are constant within an hour (the same staircase the ``day1``
load scenario plays), so the launch spike at 09:00 is a step.

**The mix.** A user of persona *p* opens a screen every ``Z_p`` seconds (think time) and a
screen makes ``visits_p[e]`` calls to endpoint *e* on average (:mod:`models.workload`, the
derivation the journeys use). So N concurrent users send

    λ_{p,e} = N · share_p · visits_p[e] / Z_p   requests per second.

**Open mode (large populations).** Thousands of independent thinking users form a Poisson
source (Palm–Khintchine: the superposition of many sparse renewal streams is Poisson). We draw
the total count of a one-second window from Poisson(λ·Δ), its times uniformly, and thin the
stream into (persona, endpoint) pairs with a categorical draw: no per-user process exists.
The response time in each user's cycle is ignored (tens of ms against tens of seconds of
think time: well under 1%), and a screen's calls arrive independently rather than back to
back. All random numbers of a window are drawn with numpy in a few vectorised calls.

**Closed mode (load-test sized populations).** Each user cycles: think, open a screen (its
calls one after the other, as the journeys do), think again. This is the workload a Locust
run produces and the one MVA predicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from models.background import background_streams
from models.catalogue import LOGIN_CALLS, PERSONAS, STEPS, Endpoint, PersonaName
from models.errors import ParameterError
from models.profile import Profile
from models.sessions import StagedUsers, login_rate, rush_joining
from models.simulation.system import BACKGROUND
from models.topology import Target, Topology
from models.workload import step_probabilities, workloads

__all__ = [
    "ArrivalBatch",
    "DayCurve",
    "Online",
    "RequestMix",
    "ServiceDraws",
    "open_arrivals",
    "screen_calls",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class DayCurve:
    """Concurrent users over launch day: ``peak_users`` times the hour's fraction."""

    peak_users: float
    hourly_fraction: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.peak_users < 0:
            raise ParameterError(f"peak_users must be >= 0, got {self.peak_users}")
        if len(self.hourly_fraction) != 24:
            raise ParameterError(f"need 24 hourly fractions, got {len(self.hourly_fraction)}")

    @classmethod
    def from_profile(cls, profile: Profile) -> DayCurve:
        return cls(profile.peak_concurrent(), tuple(profile.day_one.hourly_fraction_of_peak))

    def users(self, t_s: float) -> float:
        """Concurrent users at ``t_s`` seconds after midnight (wraps after 24 h)."""
        hour = int(t_s // SECONDS_PER_HOUR) % 24
        return self.peak_users * self.hourly_fraction[hour]


@dataclass(frozen=True, slots=True)
class ServiceDraws:
    """How a request's service time is drawn around its endpoint's mean demand.

    One draw X with mean 1 and squared coefficient of variation ``scv`` scales the whole
    demand (CPU + database) of the request, split in the endpoint's proportion. ``scv = 1``
    (the default) is exponential, so a single-endpoint workload is exactly M/M/c;
    ``scv = 0`` is deterministic; any other value is a gamma with shape 1/scv.
    """

    scv: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.scv < 1e6:
            raise ParameterError(f"scv must be a number >= 0, got {self.scv}")

    def draw(self, rng: np.random.Generator, size: int) -> FloatArray:
        if self.scv == 1.0:
            return rng.standard_exponential(size)
        if self.scv == 0.0:
            return np.ones(size)
        shape = 1.0 / self.scv
        return rng.gamma(shape, self.scv, size)


@dataclass(frozen=True)
class RequestMix:
    """Every (persona, endpoint) pair with its rate per concurrent user and its demands.

    Attributes:
        endpoints: endpoint names; ``cpu_s`` and ``db_s`` are indexed like it.
        pair_persona: (K,) persona index of each pair (into ``personas``).
        pair_endpoint: (K,) endpoint index of each pair.
        pair_rate: (K,) requests per second per concurrent user (of the whole mix).
        pair_cpu_s, pair_db_s, pair_target: (K,) the pair's route through the topology
            (:class:`~models.topology.Route`): worker time at the CPU limit, database time,
            and where it is spent (``Target``: -1 cache, 0 primary, 1 a replica). A
            (persona, endpoint) pair appears once per route, its rate split by the route's
            probability.
        rate_limited: (K,) fraction of each pair's requests the rate limiter rejects: the
            part of a persona's mean per-user rate above its per-minute limit (0 by default:
            users who think for 20-45 s send a few requests a minute).
    """

    personas: tuple[PersonaName, ...]
    endpoints: tuple[Endpoint, ...]
    cpu_s: FloatArray
    db_s: FloatArray
    pair_persona: IntArray
    pair_endpoint: IntArray
    pair_rate: FloatArray
    rate_limited: FloatArray
    limit_per_minute: tuple[int, ...]
    """Per persona: the rate limit tier that applies to its users (requests per minute)."""
    pair_cpu_s: FloatArray
    pair_db_s: FloatArray
    pair_target: IntArray
    replicas: int
    login_endpoint: IntArray
    """The routes of the login calls (``LOGIN_CALLS``, each once per login): endpoint, worker
    and database time, pool, and probability among the calls of a login (sums to 1)."""
    login_cpu_s: FloatArray
    login_db_s: FloatArray
    login_target: IntArray
    login_probability: FloatArray
    background_rate: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Per background stream (models/background.py): events per second per concurrent user,
    the worker time of one (at the CPU limit), its primary time."""
    background_cpu_s: FloatArray = field(default_factory=lambda: np.zeros(0))
    background_db_s: FloatArray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_profile(cls, profile: Profile) -> RequestMix:
        endpoints = tuple(profile.service_demands)
        index = {e: i for i, e in enumerate(endpoints)}
        limits = profile.infrastructure.rate_limits
        limit_of: dict[PersonaName, int] = {
            "homeowner": limits.authenticated,
            "contractor": limits.authenticated,
            "operator": limits.operator,
        }
        topology = Topology.from_profile(profile)
        persona_ids, endpoint_ids, rates, limited = [], [], [], []
        cpu, db, target = [], [], []
        for p, (name, work) in enumerate(workloads(profile).items()):
            per_user_per_minute = 60.0 * work.calls_per_step / work.think_time_s
            rejected = max(0.0, 1.0 - limit_of[name] / per_user_per_minute)
            for endpoint, visits in work.visits.items():
                if visits <= 0 or work.share <= 0:
                    continue
                for route in topology.routes[endpoint]:
                    persona_ids.append(p)
                    endpoint_ids.append(index[endpoint])
                    rates.append(route.probability * work.share * visits / work.think_time_s)
                    limited.append(rejected)
                    cpu.append(route.cpu_s)
                    db.append(route.db_s)
                    target.append(int(route.target))
        demands = profile.service_demands
        return cls(
            personas=PERSONAS,
            endpoints=endpoints,
            cpu_s=np.array([demands[e].cpu_ms / 1000.0 for e in endpoints]),
            db_s=np.array([demands[e].db_ms / 1000.0 for e in endpoints]),
            pair_persona=np.array(persona_ids, dtype=np.int64),
            pair_endpoint=np.array(endpoint_ids, dtype=np.int64),
            pair_rate=np.array(rates),
            rate_limited=np.array(limited),
            limit_per_minute=tuple(limit_of[n] for n in PERSONAS),
            pair_cpu_s=np.array(cpu),
            pair_db_s=np.array(db),
            pair_target=np.array(target, dtype=np.int64),
            replicas=topology.replicas,
            **_login_routes(topology, index),
            **_background(profile, topology, endpoints, endpoint_ids, rates),
        )

    @property
    def rate_per_user(self) -> float:
        """Requests per second per concurrent user, all personas and endpoints."""
        return float(self.pair_rate.sum())

    @property
    def pair_probability(self) -> FloatArray:
        probability: FloatArray = self.pair_rate / self.pair_rate.sum()
        return probability

    def accepted_probability(self) -> FloatArray:
        """Probability of each pair among the requests the rate limiter lets through."""
        accepted = self.pair_rate * (1.0 - self.rate_limited)
        probability: FloatArray = accepted / accepted.sum()
        return probability

    def accepted_fraction(self) -> float:
        return float((self.pair_rate * (1.0 - self.rate_limited)).sum() / self.pair_rate.sum())


def _background(profile: Profile, topology: Topology, endpoints: tuple[Endpoint, ...],
                endpoint_ids: list[int], rates: list[float]) -> dict[str, Any]:  # fmt: skip
    """The background streams' rates per concurrent user, from the screens' calls."""
    per_endpoint = np.bincount(endpoint_ids, weights=rates, minlength=len(endpoints))
    total = float(per_endpoint.sum())
    shares = {e: float(per_endpoint[i]) / total for i, e in enumerate(endpoints)} if total else {}
    streams = [b for b in background_streams(profile, shares) if b.per_call > 0]
    return {
        "background_rate": np.array([b.per_call * total for b in streams]),
        "background_cpu_s": np.array([b.cpu_s / topology.cpu_speed for b in streams]),
        "background_db_s": np.array([b.db_s for b in streams]),
    }


def _login_routes(topology: Topology, index: dict[Endpoint, int]) -> dict[str, Any]:
    routes = [r for call in LOGIN_CALLS for r in topology.routes[call]]
    return {
        "login_endpoint": np.array([index[r.endpoint] for r in routes], dtype=np.int64),
        "login_cpu_s": np.array([r.cpu_s for r in routes]),
        "login_db_s": np.array([r.db_s for r in routes]),
        "login_target": np.array([int(r.target) for r in routes], dtype=np.int64),
        "login_probability": np.array([r.probability / len(LOGIN_CALLS) for r in routes]),
    }


@dataclass(frozen=True)
class Online:
    """Users online, and signing in, over a run (``t_s`` from the run's start): a constant
    population, a staged scenario, or the day-one curve from ``start_s`` after midnight."""

    profile: Profile
    start_s: float
    curve: DayCurve
    constant: float | None = None
    staged: StagedUsers | None = None

    @classmethod
    def build(cls, profile: Profile, start_s: float, users: float | None,
              scenario: str | None) -> Online:  # fmt: skip
        """Constant ``users`` when given, else the staged ``scenario``, else the curve."""
        staged = StagedUsers.from_profile(profile, scenario) if scenario is not None else None
        return cls(profile, start_s, DayCurve.from_profile(profile), users, staged)

    def users(self, t_s: float) -> float:
        if self.constant is not None:
            return self.constant
        if self.staged is not None:
            return self.staged.users(t_s)
        return self.curve.users(self.start_s + t_s)

    def joining(self, t_s: float) -> float:
        if self.constant is not None:
            return 0.0
        if self.staged is not None:
            return self.staged.joining(t_s)
        clock = self.start_s + t_s
        into = clock % SECONDS_PER_HOUR
        curve = self.curve
        return rush_joining(curve.users(clock - into - 1.0), curve.users(clock), into)

    def logins(self, t_s: float) -> float:
        """Logins per second at ``t_s`` (:func:`models.sessions.login_rate`)."""
        return login_rate(self.profile, self.users(t_s), self.joining(t_s))


@dataclass(frozen=True, slots=True)
class ArrivalBatch:
    """The requests arriving in one window, in time order, with everything pre-drawn."""

    times: list[float]
    endpoints: list[int]
    work_s: list[float]
    """Total demand (CPU + database) of each request, already drawn."""
    db_s: list[float]
    """The database part of ``work_s``."""
    rejected: int
    """Requests the rate limiter turned away in this window (errors, no service)."""
    targets: list[int]
    """The pool each request uses: -1 none (a cache hit), 0 the primary, r >= 1 replica r."""
    background: int = 0
    """Of ``times``, the background events (endpoint ``BACKGROUND``), not users' requests."""


def _categorical(rng: np.random.Generator, probability: FloatArray, count: int) -> IntArray:
    cumulative = np.cumsum(probability)
    picks = np.searchsorted(cumulative, rng.random(count) * cumulative[-1], side="right")
    chosen: IntArray = np.minimum(picks, len(cumulative) - 1).astype(np.int64)
    return chosen


def open_arrivals(
    mix: RequestMix,
    draws: ServiceDraws,
    rng: np.random.Generator,
    users: float,
    start_s: float,
    duration_s: float,
    logins_per_s: float = 0.0,
) -> ArrivalBatch:
    """Poisson arrivals of ``users`` thinking users over [start_s, start_s + duration_s), and
    the calls of ``logins_per_s`` logins (an independent Poisson stream of their own)."""
    rate = users * mix.rate_per_user
    count = int(rng.poisson(rate * duration_s)) if rate > 0 else 0
    login_calls = logins_per_s * len(LOGIN_CALLS) * duration_s
    extra = int(rng.poisson(login_calls)) if login_calls > 0 else 0
    if count + extra == 0:
        return ArrivalBatch([], [], [], [], 0, [])
    rejected = int(rng.binomial(count, 1.0 - mix.accepted_fraction())) if count else 0
    count -= rejected
    times = np.sort(rng.random(count + extra)) * duration_s + start_s
    pairs = _categorical(rng, mix.accepted_probability(), count)
    endpoint = mix.pair_endpoint[pairs]
    cpu, db_s, targets = mix.pair_cpu_s[pairs], mix.pair_db_s[pairs], mix.pair_target[pairs]
    if extra:  # the login calls, shuffled among the screens' (times are iid uniform)
        routes = _categorical(rng, mix.login_probability, extra)
        order = rng.permutation(count + extra)
        endpoint = np.concatenate([endpoint, mix.login_endpoint[routes]])[order]
        cpu = np.concatenate([cpu, mix.login_cpu_s[routes]])[order]
        db_s = np.concatenate([db_s, mix.login_db_s[routes]])[order]
        targets = np.concatenate([targets, mix.login_target[routes]])[order]
    scale = draws.draw(rng, count + extra)
    db = db_s * scale
    work = cpu * scale + db
    if mix.replicas > 1:  # a replica read goes to one of them, uniformly at random
        targets = np.where(targets == Target.REPLICA,
                           1 + rng.integers(mix.replicas, size=len(targets)), targets)  # fmt: skip
    batch = (times, endpoint, work, db, targets)
    events = _background_events(mix, draws, rng, users, start_s, duration_s)
    if events is not None:  # merged in time order with the requests
        merged = [np.concatenate([a, b]) for a, b in zip(batch, events, strict=True)]
        order = np.argsort(merged[0], kind="stable")
        times, endpoint, work, db, targets = (a[order] for a in merged)
    # Python lists: the event loop indexes them one at a time, much faster than numpy scalars.
    return ArrivalBatch(times.tolist(), endpoint.tolist(), work.tolist(), db.tolist(), rejected,
                        targets.tolist(), 0 if events is None else len(events[0]))  # fmt: skip


_Events = tuple[FloatArray, IntArray, FloatArray, FloatArray, IntArray]


def _background_events(mix: RequestMix, draws: ServiceDraws, rng: np.random.Generator,
                       users: float, start_s: float, span_s: float) -> _Events | None:  # fmt: skip
    """The window's background events (Poisson, each stream in proportion to its rate), or
    None when there are none: no random number is drawn for a profile without them."""
    rate = users * float(mix.background_rate.sum())
    count = int(rng.poisson(rate * span_s)) if rate > 0 else 0
    if count == 0:
        return None
    stream = _categorical(rng, mix.background_rate, count)
    scale = draws.draw(rng, count)
    db = mix.background_db_s[stream] * scale
    return (
        rng.random(count) * span_s + start_s,
        np.full(count, BACKGROUND, dtype=np.int64),
        mix.background_cpu_s[stream] * scale + db,
        db,
        np.where(db > 0, 0, -1).astype(np.int64),
    )


def screen_calls(
    profile: Profile,
) -> dict[PersonaName, tuple[list[float], list[tuple[Endpoint, ...]]]]:
    """Per persona, the screens' probabilities and API call sequences (closed mode)."""
    table: dict[PersonaName, tuple[list[float], list[tuple[Endpoint, ...]]]] = {}
    for name in PERSONAS:
        probabilities = step_probabilities(profile, name)
        steps = [s for s in STEPS[name] if probabilities[s.name] > 0]
        table[name] = ([probabilities[s.name] for s in steps], [s.calls for s in steps])
    return table
