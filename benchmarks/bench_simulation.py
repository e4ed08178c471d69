"""Speed and agreement of the launch-day simulation and the fast path.

    .venv/bin/python benchmarks/bench_simulation.py [--repeats 3] [--json FILE]

Measures, in one run on this machine (medians of ``--repeats``):

1. simulated requests per wall-clock second of ``models.simulation`` (open and closed mode)
   against a **naive SimPy model** written here: one process per user with think time,
   ``simpy.Resource`` for the workers and the connection pool, on the same two minutes of
   the launch peak (20,000 users);
2. one hour of the launch peak (09:00-10:00, 20,000 concurrent users) simulated, wall time;
3. the 24-hour fast path, wall time;
4. fast path against simulation on the one-hour peak window: instance-minutes and p95, for
   the default profile and for 800,000 users (where the autoscaler acts).

Goals: >= 150,000 simulated requests/s; the peak hour < 30 s; the fast day < 5 s;
fast path within 5% of the simulation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.fastpath import fast_day
from models.profile import Profile, load_profile
from models.simulation import SimulationOptions, run_once
from models.simulation.arrivals import RequestMix, screen_calls
from models.simulation.runner import Mode

WINDOW_S = 120.0


def naive_simpy(profile: Profile, users: int, seconds: float, seed: int) -> int:
    """The textbook model: one SimPy process per user, Resources for workers and pool.

    Written as a careful engineer would write it naively: Python's own ``random`` for scalar
    draws (numpy's per-call overhead would make the baseline look slower than it is), the
    screens and demands looked up in lists. Returns the requests completed in ``seconds``.
    """
    draw = random.Random(seed)
    mix = RequestMix.from_profile(profile)
    index = {e: i for i, e in enumerate(mix.endpoints)}
    cpu, db = mix.cpu_s.tolist(), mix.db_s.tolist()
    table = screen_calls(profile)
    infra = profile.infrastructure
    env = simpy.Environment()
    workers = simpy.Resource(env, infra.autoscaling.min_instances * infra.workers_per_instance)
    pool = simpy.Resource(env, infra.database.pool_max)
    done = 0
    personas = list(profile.personas.marketplace())

    def user(persona: int) -> Generator[simpy.Event, Any, None]:
        nonlocal done
        name, settings = personas[persona]
        probabilities, screens = table[name]
        cumulative = list(itertools.accumulate(probabilities))
        calls_of = [[index[c] for c in screen] for screen in screens]
        rate = 1.0 / settings.think_time_s
        while True:
            yield env.timeout(draw.expovariate(rate))
            (calls,) = draw.choices(calls_of, cum_weights=cumulative)
            for e in calls:
                scale = draw.expovariate(1.0)
                with workers.request() as worker:
                    yield worker
                    with pool.request() as connection:
                        yield connection
                        yield env.timeout(db[e] * scale)
                    yield env.timeout(cpu[e] * scale)
                done += 1

    weights = [p.share for _, p in personas]
    for persona in draw.choices(range(len(personas)), weights=weights, k=users):
        env.process(user(persona))
    env.run(until=seconds)
    return done


def timed(function: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median wall seconds over ``repeats`` and the (last) request count."""
    (result,) = interleaved([function], repeats)
    return result


def interleaved(functions: list[Callable[[], int]], repeats: int) -> list[tuple[float, int]]:
    """Like :func:`timed` for several functions, run in turn within each repeat, so that a
    machine shared with other work loads the baseline and the contender alike."""
    walls: list[list[float]] = [[] for _ in functions]
    counts = [0] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            began = time.perf_counter()
            counts[i] = function()
            walls[i].append(time.perf_counter() - began)
    return [(statistics.median(w), n) for w, n in zip(walls, counts, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    profile = load_profile()
    users = int(profile.peak_concurrent())
    figures: dict[str, Any] = {"users": users, "repeats": args.repeats}

    def ours(mode: Mode) -> Callable[[], int]:
        options = SimulationOptions(hours=WINDOW_S / 3600, start_hour=9, seed=1, mode=mode,
                                    users=users, autoscale=False)  # fmt: skip
        return lambda: int(run_once(profile, options).totals.requests)

    (naive_wall, naive_n), (open_wall, open_n), (closed_wall, closed_n) = interleaved(
        [lambda: naive_simpy(profile, users, WINDOW_S, 1), ours("open"), ours("closed")],
        args.repeats,
    )
    figures["load_average"] = os.getloadavg()
    figures["window"] = {
        "simulated_s": WINDOW_S,
        "naive_simpy_rps": naive_n / naive_wall,
        "open_rps": open_n / open_wall,
        "closed_rps": closed_n / closed_wall,
        "open_vs_naive": (open_n / open_wall) / (naive_n / naive_wall),
        "closed_vs_naive": (closed_n / closed_wall) / (naive_n / naive_wall),
    }

    peak = SimulationOptions(hours=1, start_hour=9, seed=1)
    peak_wall, peak_n = timed(lambda: int(run_once(profile, peak).totals.requests), args.repeats)
    figures["peak_hour"] = {"wall_s": peak_wall, "requests": peak_n, "rps": peak_n / peak_wall}

    day = SimulationOptions(hours=24)
    fast_wall, _ = timed(lambda: len(fast_day(profile, day).minutes), args.repeats)
    figures["fast_day_wall_s"] = fast_wall

    agreement: dict[str, dict[str, Any]] = {}
    for population in (400_000, 800_000, 1_200_000):  # the last overloads at 09:00
        scaled = load_profile(overrides={"population": {"users": population}})
        fast = fast_day(scaled, peak)
        simulated = run_once(scaled, peak)
        agreement[str(population)] = {
            "instance_minutes": [fast.totals.instance_minutes, simulated.totals.instance_minutes],
            "p95_ms": [fast.totals.p95_ms, simulated.totals.p95_ms],
            "instance_minutes_diff": fast.totals.instance_minutes
            / simulated.totals.instance_minutes
            - 1,
            "p95_diff": fast.totals.p95_ms / simulated.totals.p95_ms - 1,
        }
    figures["agreement"] = agreement

    w = figures["window"]
    print(f"{WINDOW_S:.0f} s of the launch peak, {users:,} users (medians of {args.repeats}; "
          f"load average {figures['load_average'][0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"  naive SimPy (process per user) {w['naive_simpy_rps']:>12,.0f} requests/s")
    print(f"  ours, open                     {w['open_rps']:>12,.0f} requests/s  "
          f"x{w['open_vs_naive']:.1f}")  # fmt: skip
    print(f"  ours, closed                   {w['closed_rps']:>12,.0f} requests/s  "
          f"x{w['closed_vs_naive']:.1f}")  # fmt: skip
    p = figures["peak_hour"]
    print(f"one peak hour: {p['wall_s']:.2f} s for {p['requests']:,} requests "
          f"({p['rps']:,.0f}/s)")  # fmt: skip
    print(f"24-hour fast path: {fast_wall:.3f} s")
    for label, a in agreement.items():
        print(f"fast vs simulation, peak hour, {int(label):,} users: instance-minutes "
              f"{a['instance_minutes'][0]:.0f} vs {a['instance_minutes'][1]:.0f} "
              f"({a['instance_minutes_diff']:+.2%}), p95 {a['p95_ms'][0]:.2f} vs "
              f"{a['p95_ms'][1]:.2f} ms ({a['p95_diff']:+.2%})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
