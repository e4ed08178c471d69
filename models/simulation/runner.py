"""Run the simulated day: SimPy processes for traffic, the recorder and the autoscaler.

::

    env (SimPy) --+-- autoscaler   every evaluation_period_s: read CPU and p95, decide, and
                  |                add (provisioning) or drain instances in the System
                  +-- recorder     every 60 s: close a MinuteRecord
                  +-- traffic      every tick (1 s): the requests of [t, t + 1) through the
                                   System, in time order (see models.simulation.system)

At a shared instant the processes run in the order their timeouts were scheduled, so the
autoscaler and the recorder (scheduled a period ahead) act before the traffic process takes
the next window: every window sees the fleet as it is at its start, and every minute closes
after its last window.

Use :func:`simulate_day` (replications, confidence intervals) or :func:`run_once`.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import simpy

from models.background import background_streams
from models.catalogue import LOGIN_CALLS
from models.errors import ParameterError
from models.profile import Profile
from models.simulation.arrivals import (
    Online,
    RequestMix,
    ServiceDraws,
    open_arrivals,
    screen_calls,
)
from models.simulation.autoscaler import Autoscaler, ScalingPolicy
from models.simulation.autoscaler import assumptions as policy_assumptions
from models.simulation.recorder import Recorder, totals
from models.simulation.result import SimulationResult, SimulationSummary, summarise
from models.simulation.system import ExternalCall, System, SystemSpec
from models.topology import Target
from models.workload import visit_ratios

__all__ = ["SimulationOptions", "assumptions", "run_once", "simulate_day"]

Mode = Literal["open", "closed"]
Progress = Callable[[float], None]
"""Called with the fraction of simulated time done (0..1), about once a simulated minute."""

TICK_S = 1


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """What to simulate. Everything else comes from the profile."""

    hours: float = 1.0
    start_hour: float = 0.0
    """Hour of launch day at which the run starts (9 = the launch spike)."""
    seed: int = 0
    replications: int = 1
    mode: Mode = "open"
    scv: float = 1.0
    """Squared coefficient of variation of service times (1 = exponential)."""
    initial_instances: int | None = None
    """Instances serving at the start (default: the policy's minimum)."""
    autoscale: bool = True
    users: float | None = None
    """Constant concurrent users instead of the day-one curve."""
    scenario: str | None = None
    """A staged scenario of the profile (``day1``, ``step``, ...) instead of the day-one
    curve: users ramp at each stage's spawn rate, as Locust ramps them."""
    logins: bool = True
    """Session starts as their own stream (open mode; models/sessions.py); False leaves the
    screens alone, as a model without logins sees the load."""
    externals: tuple[ExternalCall, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.hours <= 24 * 7:
            raise ParameterError(f"hours must be in (0, 168], got {self.hours}")
        if not 0 <= self.start_hour < 24:
            raise ParameterError(f"start_hour must be in [0, 24), got {self.start_hour}")
        if self.replications < 1:
            raise ParameterError(f"replications must be >= 1, got {self.replications}")
        if self.mode not in ("open", "closed"):
            raise ParameterError(f"mode must be 'open' or 'closed', got {self.mode!r}")
        if self.users is not None and self.users < 0:
            raise ParameterError(f"users must be >= 0, got {self.users}")

    @property
    def seconds(self) -> int:
        # Whole minutes: every record covers a full minute.
        return max(60, round(self.hours * 60) * 60)


def assumptions(profile: Profile, options: SimulationOptions) -> list[str]:
    """Every modelling choice the profile does not state, for the report."""
    policy = ScalingPolicy.from_profile(profile.infrastructure.autoscaling)
    draws = "exponential" if options.scv == 1 else f"gamma with squared CV {options.scv:g}"
    items = [
        f"service times: {draws} around each endpoint's cpu_ms + db_ms",
        "workers hold a request for connection wait + db + cpu (synchronous workers); "
        "instance CPU = busy workers / workers",
        "one FIFO queue in front of all serving workers (least-busy load balancing)",
        _topology_assumption(profile),
        "users constant within each hour of the day-one curve",
        "rate limits per user per minute: authenticated for homeowners and contractors, "
        "operator for operators",
        "failed requests (timeouts, rate-limited, breaker open) are left out of percentiles",
    ]
    if options.mode == "open":
        items.append(
            "open mode: thinking users form a Poisson source; a screen's calls arrive "
            "independently; response time inside the user cycle ignored"
        )
    else:
        items.append("closed mode: each user thinks, then makes a screen's calls in sequence")
    background = [b for b in background_streams(profile, _call_shares(profile)) if b.per_call]
    if background:
        items.append(
            "background work (open mode and the fast path; closed mode has none): "
            + ", ".join(
                f"{b.name} {b.per_call:.4f} per call of {b.cpu_s * 1e3:g} ms CPU + "
                f"{b.db_s * 1e3:g} ms on the primary"
                for b in background
            )
            + ", Poisson streams holding a worker (and a connection), not users' requests"
        )
    if not options.externals:
        items.append("external calls: none (the profile maps no endpoint to a service)")
    breakers = profile.infrastructure.breakers
    for call in options.externals:
        breaker = getattr(breakers, call.service, None)
        guard = (
            ""
            if breaker is None
            else f", behind its breaker ({breaker.failures} failures open it for "
            f"{breaker.reset_s:g} s; calls time out at {breaker.timeout_s:g} s)"
        )
        items.append(
            f"external calls: {call.service} from {', '.join(call.endpoints)}, exponential "
            f"latency of mean {call.latency_s * 1000:g} ms, failure probability "
            f"{call.failure_probability:g}, holding the worker{guard}"
        )
    return items + policy_assumptions(policy)


def _call_shares(profile: Profile) -> dict[str, float]:
    visits = visit_ratios(profile)
    total = sum(visits.values())
    return {e: v / total for e, v in visits.items()} if total else {}


def _topology_assumption(profile: Profile) -> str:
    infra = profile.infrastructure
    db = infra.database
    cache = infra.cache
    speed = min(1.0, infra.instance_vcpus / infra.workers_per_instance)
    parts = [
        f"each worker runs at {speed:.0%} of a core ({infra.instance_vcpus:g} vCPU for "
        f"{infra.workers_per_instance} workers)",
        f"the primary's {db.pool_max} server connections "
        + ("behind a pooler" if db.pooler else "opened by the workers' pools"),
    ]
    if db.read_replicas:
        parts.append(
            f"{db.read_replicas} read replica(s) of {db.pool_max} connections each serve the "
            f"replica reads (random split; a user who wrote in the last "
            f"{db.read_your_writes_s:g} s reads the primary)"
        )
    if cache.enabled:
        parts.append(
            f"cache hits ({cache.hit_ratio:.0%} of cacheable reads) use no connection and "
            f"{cache.hit_cpu_ratio:.0%} of the CPU"
        )
    return "topology: " + "; ".join(parts)


class _Day:
    """One replication's state, driven by three SimPy processes."""

    def __init__(self, profile: Profile, options: SimulationOptions, seed: int,
                 progress: Progress | None) -> None:  # fmt: skip
        self.profile = profile
        self.options = options
        self.progress = progress
        self.rng = np.random.default_rng(seed)
        self.mix = RequestMix.from_profile(profile)
        self.draws = ServiceDraws(options.scv)
        self.spec = SystemSpec.from_profile(profile)
        self.policy = ScalingPolicy.from_profile(profile.infrastructure.autoscaling)
        initial = options.initial_instances or self.policy.min_instances
        self.scaler = Autoscaler(self.policy, initial)
        self.system = System(self.spec, initial, self.rng, options.externals, self.mix.endpoints)
        self.start_s = options.start_hour * 3600.0
        self.online = Online.build(profile, self.start_s, options.users, options.scenario)
        self.seconds = options.seconds
        self.recorder = Recorder(self.start_s, self.seconds, int(self.policy.evaluation_period_s))
        self.env = simpy.Environment()
        self.requests = 0
        self.rejected = 0
        if options.mode == "closed":
            self._closed_setup()

    def users(self, t: float) -> float:
        return self.online.users(t)

    # --- processes --------------------------------------------------------------------------

    def autoscaler(self) -> Generator[simpy.Event, Any, None]:
        period = self.policy.evaluation_period_s
        while True:
            yield self.env.timeout(period)
            now = self.env.now
            cpu, p95 = self.recorder.window(int(now), int(period))
            before = self.scaler.billed()
            action = self.scaler.evaluate(now, cpu, p95)
            if action is None:
                continue
            if action.after > before:
                ready = now + self.policy.provisioning_delay_s
                self.system.add_instances(action.after - before, ready)
            else:
                self.system.remove_instances(before - action.after)

    def recorder_process(self) -> Generator[simpy.Event, Any, None]:
        minute = 0
        while True:
            yield self.env.timeout(60)
            # Users at the minute's middle: a staged ramp moves within the minute.
            self.recorder.close_minute(minute, self.users(minute * 60.0 + 30.0))
            minute += 1
            if self.progress is not None:
                self.progress(min(1.0, self.env.now / self.seconds))

    def traffic(self) -> Generator[simpy.Event, Any, None]:
        while True:
            t = self.env.now
            second = int(t)
            if self.options.mode == "open":
                self._open_window(t)
            else:
                self._closed_window(t + TICK_S)
            self.system.drain_until(t + TICK_S)
            counters = self.system.counters
            self.system.counters = type(counters)()
            self.recorder.tick(second, counters, self.requests, self.rejected,
                               self.scaler.serving(t), self.scaler.billed(),
                               self.spec.workers_per_instance)  # fmt: skip
            self.requests = self.rejected = 0
            yield self.env.timeout(TICK_S)

    # --- open mode --------------------------------------------------------------------------

    def _open_window(self, t: float) -> None:
        logins = self.online.logins(t) if self.options.logins else 0.0
        batch = open_arrivals(self.mix, self.draws, self.rng, self.users(t), t, TICK_S, logins)
        self.requests = len(batch.times) - batch.background + batch.rejected
        self.rejected = batch.rejected
        self.system.arrive_batch(
            batch.times, batch.endpoints, batch.work_s, batch.db_s, batch.targets
        )

    # --- closed mode ------------------------------------------------------------------------

    def _closed_setup(self) -> None:
        profile = self.profile
        index = {e: i for i, e in enumerate(self.mix.endpoints)}
        table = screen_calls(profile)
        self.screens = []  # per persona: (cumulative probabilities, call index tuples)
        for name in self.mix.personas:
            probabilities, calls = table[name]
            cumulative = list(np.cumsum(probabilities) / sum(probabilities)) if calls else []
            self.screens.append((cumulative, [tuple(index[c] for c in s) for s in calls]))
        self.think = [
            (p.think_time_s, p.think_time_distribution) for _, p in profile.personas.items()
        ]
        # Users are numbered; their persona follows the shares (largest remainder rounding).
        staged = self.online.staged
        peak = (
            max(s.users for s in staged.stages)
            if staged is not None and self.options.users is None
            else max(self.users(h * 3600.0) for h in range(25))
            if self.options.users is None
            else (self.options.users)
        )
        self.population = round(peak)
        shares = np.array([p.share for _, p in profile.personas.items()])
        order = self.rng.permutation(
            np.repeat(np.arange(len(shares)), np.round(shares * self.population).astype(int))
        )
        self.persona = (list(order) + [0] * self.population)[: self.population]
        self.pending: list[list[int]] = [[] for _ in range(self.population)]
        self.window_id = [-1] * self.population
        self.window_count = [0] * self.population
        self.parked = [True] * self.population
        self.active = -1
        self.heap: list[tuple[float, int]] = []
        self.system.on_complete = self._completed
        # Python floats and lists: indexing numpy arrays one element at a time is slow.
        self._routes = _route_table(self.mix)
        self._login_calls = [index[c] for c in LOGIN_CALLS]
        self._limits = list(self.mix.limit_per_minute)
        self.persona = [int(p) for p in self.persona]
        self._uniform = _Buffer(self.rng, "random")
        self._exp = _Buffer(self.rng, "exponential")
        self._scale = _Buffer(self.rng, "service", self.draws)

    def _think(self, user: int) -> float:
        mean, distribution = self.think[int(self.persona[user])]
        if distribution == "exponential":
            return float(mean * self._exp.next())
        if distribution == "uniform":
            return float(2.0 * mean * self._uniform.next())
        return float(mean)

    def _completed(self, user: int, end: float) -> None:
        delay = 0.0 if self.pending[user] else self._think(user)
        heapq.heappush(self.heap, (end + delay, user))

    def _joined(self, user: int) -> float:
        """A user comes online: with logins, they sign in (the login calls, in order) at a
        moment of the tick; without, they think first."""
        if not self.options.logins:
            return self._think(user)
        self.pending[user].extend(reversed(self._login_calls))
        return self._uniform.next() * TICK_S

    def _closed_window(self, until: float) -> None:
        active = round(self.users(until - TICK_S))
        if active != self.active:  # the curve moved: users join (thinking first) or leave
            self.active = active
            for user in range(min(active, self.population)):
                if self.parked[user]:
                    self.parked[user] = False
                    heapq.heappush(self.heap, (until - TICK_S + self._joined(user), user))
        system = self.system
        heap = self.heap
        while True:
            next_arrival = heap[0][0] if heap else math.inf
            next_dispatch = system.next_dispatch()
            if min(next_arrival, next_dispatch) >= until:
                return
            if next_dispatch <= next_arrival:
                system.dispatch_next()
                continue
            t, user = heapq.heappop(heap)
            if user >= active and not self.pending[user]:
                self.parked[user] = True  # leaves at the end of a screen
                continue
            self._closed_request(t, user)

    def _closed_request(self, t: float, user: int) -> None:
        persona = self.persona[user]
        pending = self.pending[user]
        if not pending:
            cumulative, calls = self.screens[persona]
            choice = bisect.bisect_right(cumulative, self._uniform.next() * cumulative[-1])
            # Reversed, so that the next call is a cheap pop() from the end.
            pending.extend(reversed(calls[min(choice, len(calls) - 1)]))
        endpoint = pending.pop()
        self.requests += 1
        window = int(t // 60)
        if self.window_id[user] != window:
            self.window_id[user] = window
            self.window_count[user] = 0
        self.window_count[user] += 1
        if self.window_count[user] > self._limits[persona]:
            self.rejected += 1
            self._completed(user, t)
            return
        cumulative, cpu, db_s, targets = self._routes[endpoint]
        r = bisect.bisect_right(cumulative, self._uniform.next() * cumulative[-1])
        r = min(r, len(cpu) - 1)
        target = targets[r]
        if target == Target.REPLICA and self.mix.replicas > 1:
            target = 1 + min(int(self._uniform.next() * self.mix.replicas), self.mix.replicas - 1)
        scale = self._scale.next()
        db = db_s[r] * scale
        work = cpu[r] * scale + db
        self.system.arrive(t, user, endpoint, work, db, target)

    # --- running ----------------------------------------------------------------------------

    def run(self) -> None:
        self.env.process(self.autoscaler() if self.options.autoscale else _idle(self.env))
        self.env.process(self.recorder_process())
        self.env.process(self.traffic())
        self.env.run(until=self.seconds)
        self.recorder.close_minute(self.seconds // 60 - 1, self.users(self.seconds - 30.0))


_Routes = tuple[list[float], list[float], list[float], list[int]]


def _route_table(mix: RequestMix) -> list[_Routes]:
    """Per endpoint: its routes' cumulative probabilities, worker and database times, pools."""
    table: list[_Routes] = [([], [], [], []) for _ in mix.endpoints]
    seen: set[tuple[int, int, float, float]] = set()
    for pair in range(len(mix.pair_rate)):
        e = int(mix.pair_endpoint[pair])
        key = (e, int(mix.pair_target[pair]), float(mix.pair_cpu_s[pair]),
               float(mix.pair_db_s[pair]))  # fmt: skip
        if key in seen:  # the same route of another persona: one entry per endpoint
            continue
        seen.add(key)
        cumulative, cpu, db, targets = table[e]
        share = _route_share(mix, pair)
        cumulative.append((cumulative[-1] if cumulative else 0.0) + share)
        cpu.append(key[2])
        db.append(key[3])
        targets.append(key[1])
    calls = len(LOGIN_CALLS)
    for route in range(len(mix.login_probability)):  # endpoints only a login calls
        e = int(mix.login_endpoint[route])
        if e in {int(x) for x in mix.pair_endpoint}:
            continue
        cumulative, cpu, db, targets = table[e]
        share = float(mix.login_probability[route]) * calls
        cumulative.append((cumulative[-1] if cumulative else 0.0) + share)
        cpu.append(float(mix.login_cpu_s[route]))
        db.append(float(mix.login_db_s[route]))
        targets.append(int(mix.login_target[route]))
    return table


def _route_share(mix: RequestMix, pair: int) -> float:
    """The route's probability within its endpoint (the same for every persona)."""
    e = mix.pair_endpoint[pair]
    persona = mix.pair_persona[pair]
    same = (mix.pair_endpoint == e) & (mix.pair_persona == persona)
    return float(mix.pair_rate[pair] / mix.pair_rate[same].sum())


def _idle(env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(0)


class _Buffer:
    """Random numbers drawn 64k at a time with numpy, handed out one by one."""

    def __init__(self, rng: np.random.Generator, kind: str, draws: ServiceDraws | None = None):
        self.rng = rng
        self.kind = kind
        self.draws = draws
        self.values: list[float] = []
        self.index = 0

    def next(self) -> float:
        if self.index >= len(self.values):
            if self.kind == "random":
                array = self.rng.random(65_536)
            elif self.kind == "exponential":
                array = self.rng.standard_exponential(65_536)
            else:
                assert self.draws is not None
                array = self.draws.draw(self.rng, 65_536)
            self.values = array.tolist()
            self.index = 0
        value = self.values[self.index]
        self.index += 1
        return value


def run_once(profile: Profile, options: SimulationOptions, seed: int | None = None,
             progress: Progress | None = None) -> SimulationResult:  # fmt: skip
    """One replication with ``seed`` (default ``options.seed``)."""
    seed = options.seed if seed is None else seed
    began = time.perf_counter()
    day = _Day(profile, options, seed, progress)
    day.run()
    minutes = day.recorder.minutes[: options.seconds // 60]
    return SimulationResult(
        method="simulation",
        profile=profile.name,
        seed=seed,
        mode=options.mode,
        start_s=day.start_s,
        hours=options.seconds / 3600.0,
        minutes=tuple(minutes),
        totals=totals(minutes, day.recorder.histogram, len(day.scaler.actions)),
        actions=tuple(day.scaler.actions),
        assumptions=tuple(assumptions(profile, options)),
        wall_s=time.perf_counter() - began,
    )


def simulate_day(profile: Profile, options: SimulationOptions | None = None,
                 progress: Progress | None = None) -> SimulationSummary:  # fmt: skip
    """Simulate ``options.replications`` independent runs (seeds ``seed``, ``seed + 1``, ...).

    ``progress`` receives the overall fraction done (0..1) across replications.
    """
    options = options or SimulationOptions()
    runs = []
    for r in range(options.replications):

        def step(fraction: float, r: int = r) -> None:
            if progress is not None:
                progress((r + fraction) / options.replications)

        runs.append(run_once(profile, options, options.seed + r, step))
    return summarise(runs)
