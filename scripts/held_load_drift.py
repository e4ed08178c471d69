"""How the bundled service's cost per request moves while one load is held near capacity, and
what that does to its response time (docs/benchmarks.md, "Why the latency misses above 85%
CPU").

    .venv/bin/python scripts/held_load_drift.py                    # 420 users, 150 s: ~4 min
    .venv/bin/python scripts/held_load_drift.py --users 300 --hold-s 90

One real ``harness run`` of the ``step`` scenario on a freshly started service (a fresh SQLite
database) pinned to the first core, the load generator on the others, as ``harness validate``
runs the single instance: ``--users`` settled, then held for ``--hold-s`` seconds. The service
takes ``REDIS_URL`` from the environment, as the committed validation runs did
(``REDIS_URL=redis://127.0.0.1:6379/11``): without it the rate limiter counts in memory, and
that storage's expiry sweep about doubled the CPU per request at 120 users (2026-12-07). Then one
Markdown row per ``--window-s`` window of the held stage, from the run's own files:

* requests a second and the service's process CPU (its metric scrapes, ``server.json``);
* the CPU per request, split into the routes' own (their thread clock, which counts the
  SQLite queries they run) and the rest (the framework, the event loop, the collector);
* the speed reference's mean over the window (``stats/speed_reference.csv``: a fixed integer
  loop timed on the service's core, harness/run/speed_reference.py);
* the client's p50 and p95 over the window (``stats/timeseries.json``: Locust's 2 s windows,
  the slowest of them shown, since one slow stretch is what a window's percentiles feel).

At a steady load the processor-sharing stretch 1 / (1 - U) makes the response time swing with
every move of the CPU per request: a row whose CPU per request is a fifth higher at the same
throughput is a row near saturation.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from harness.run.speed_reference import SAMPLES_FILE, read_samples, window_mean


@dataclass(frozen=True)
class Window:
    """One window of the held stage: what the service spent and what the client saw."""

    start_s: float
    requests_per_s: float
    cpu: float
    route_ms: float
    rest_ms: float
    reference_ms: float | None
    p50_ms: float | None
    p95_ms: float | None

    @property
    def cpu_per_request_ms(self) -> float:
        return self.route_ms + self.rest_ms


def _routes(scrape: Mapping[str, Any]) -> tuple[float, float]:
    """(requests, routes' CPU seconds) summed over a scrape's routes; the health and metrics
    routes count too: they are a handful a window."""
    routes = (scrape.get("routes") or {}).values()
    return (
        sum(float(r.get("requests") or 0.0) for r in routes),
        sum(float(r.get("cpu_seconds") or 0.0) for r in routes),
    )


def windows_of(
    scrapes: Sequence[Mapping[str, Any]],
    reference: Sequence[tuple[float, float]],
    timeline: Sequence[Mapping[str, Any]],
    start_s: float,
    end_s: float,
    window_s: float,
) -> list[Window]:
    """The windows of [start_s, end_s], each bounded by the scrapes nearest its edges; one
    whose scrapes are less than half a window apart (a scrape answered late) is left out."""
    found = []
    t = start_s
    while t + window_s <= end_s + 1e-9:
        first = min(scrapes, key=lambda s: abs(float(s["t_s"]) - t))
        last = min(scrapes, key=lambda s: abs(float(s["t_s"]) - (t + window_s)))
        elapsed = float(last["t_s"]) - float(first["t_s"])
        (n0, route0), (n1, route1) = _routes(first), _routes(last)
        requests = n1 - n0
        if elapsed >= window_s / 2 and requests > 0:
            cpu_s = float(last["cpu_seconds"]) - float(first["cpu_seconds"])
            inside = [r for r in timeline if t < float(r["t_s"]) <= t + window_s]
            p50 = [float(r["p50_ms"]) for r in inside if r.get("p50_ms") is not None]
            p95 = [float(r["p95_ms"]) for r in inside if r.get("p95_ms") is not None]
            found.append(
                Window(
                    start_s=t,
                    requests_per_s=requests / elapsed,
                    cpu=cpu_s / elapsed,
                    route_ms=(route1 - route0) / requests * 1e3,
                    rest_ms=(cpu_s - (route1 - route0)) / requests * 1e3,
                    reference_ms=window_mean(reference, t, t + window_s)[0],
                    p50_ms=max(p50) if p50 else None,
                    p95_ms=max(p95) if p95 else None,
                )
            )
        t += window_s
    return found


def _spread(values: Sequence[float]) -> float:
    """Highest over lowest, minus one: how far the windows moved."""
    return max(values) / min(values) - 1.0 if values and min(values) > 0 else math.nan


def _figure(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(windows: Sequence[Window]) -> str:
    """Markdown: one row per window, then how far each quantity moved over the windows."""
    lines = [
        "| from s | req/s | CPU | CPU ms/req | routes ms/req | rest ms/req | reference ms "
        "| slowest p50 ms | slowest p95 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in windows:
        lines.append(
            f"| {w.start_s:.0f} | {w.requests_per_s:.0f} | {w.cpu:.1%} "
            f"| {w.cpu_per_request_ms:.3f} | {w.route_ms:.3f} | {w.rest_ms:.3f} "
            f"| {_figure(w.reference_ms, 3)} | {_figure(w.p50_ms, 0)} | {_figure(w.p95_ms, 0)} |"
        )
    if windows:
        references = [w.reference_ms for w in windows if w.reference_ms is not None]
        lines.append("")
        lines.append(
            "Highest over lowest window: throughput "
            f"{_spread([w.requests_per_s for w in windows]):+.1%}, CPU per request "
            f"{_spread([w.cpu_per_request_ms for w in windows]):+.1%} (routes "
            f"{_spread([w.route_ms for w in windows]):+.1%}, the rest "
            f"{_spread([w.rest_ms for w in windows]):+.1%}), speed reference "
            f"{_spread(references):+.1%}; median CPU "
            f"{statistics.median(w.cpu for w in windows):.1%}."
        )
    return "\n".join(lines)


def windows_of_run(run_dir: Path, window_s: float) -> list[Window]:
    """A finished run's windows over its held (second) stage, as its timeline places it."""
    scrapes = json.loads((run_dir / "server.json").read_text(encoding="utf-8"))["scrapes"]
    timeline = json.loads((run_dir / "stats" / "timeseries.json").read_text(encoding="utf-8"))
    held = [r for r in timeline["records"] if r.get("stage") == 1]
    if not held:
        raise SystemExit(f"{run_dir}: the run never reached its held stage")
    start_s, end_s = float(held[0]["t_s"]), float(held[-1]["t_s"])
    reference = read_samples(run_dir / SAMPLES_FILE)
    return windows_of(scrapes, reference, timeline["records"], start_s, end_s, window_s)


def run(out: Path, users: int, hold_s: float) -> Path:
    from harness.validate.logins import MEASURED_LOGIN_CPU_MS
    from harness.validate.plan import held_load_stages, validation_profile, with_step_stages
    from harness.validate.runs import Runs, pinned_cpus
    from harness.validate.settings import ValidationSettings
    from models.profile import load_profile

    settings = ValidationSettings()
    stages = held_load_stages(users, settings, MEASURED_LOGIN_CPU_MS, hold_s)
    profile = with_step_stages(validation_profile(load_profile(), settings.think_scale), stages)
    with pinned_cpus(True) as pinning:
        if not pinning.pinned:
            raise SystemExit(f"the service cannot be pinned: {pinning.reason}")
        result = Runs(out, pinning, settings.seed_scale).step(profile)
    if result.directory is None:
        raise SystemExit(f"the run did not start (exit {result.code})")
    return result.directory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=420, help="users held (420: about 88%% CPU)")
    parser.add_argument("--hold-s", type=float, default=150.0, help="seconds the load is held")
    parser.add_argument("--window-s", type=float, default=10.0, help="seconds a row")
    parser.add_argument("--out", type=Path, help="where the run goes (default: a temporary dir)")
    parser.add_argument("--run", type=Path, help="tabulate this finished run instead of running")
    args = parser.parse_args(argv)
    if args.users < 1 or args.window_s < 4 or args.hold_s < 2 * args.window_s:
        parser.error("need --users >= 1, --window-s >= 4 and --hold-s >= 2 windows")
    if args.run is None:
        out = args.out or Path(mkdtemp(prefix="held-load-drift-"))
        out.mkdir(parents=True, exist_ok=True)
        args.run = run(out, args.users, args.hold_s)
    print(f"run: {args.run}\n")
    print(table(windows_of_run(args.run, args.window_s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
