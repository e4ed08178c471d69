"""Benchmark of the analytic sizing against its goals: one point < 50 ms, a 10-point sweep < 1 s.

    .venv/bin/python benchmarks/bench_model.py            # prints a table of medians

Each figure is the median of repeated runs in this process (the first, which pays for
imports and caches, is discarded). The baseline, measured in the same run, is loading and
validating the profile (``load_profile``), the floor every command pays; sizing is reported
as a ratio to it. ``harness model --json`` as a subprocess adds the interpreter and imports.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.calibration import calibrate_run  # noqa: E402
from models.prediction import predict  # noqa: E402
from models.profile import load_profile  # noqa: E402
from models.sizing import size  # noqa: E402
from tests.models.synthetic_server import synthetic_server_json  # noqa: E402


def median_ms(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, minimum) in ms; the minimum shows the cost without the shared machine's noise."""
    action()  # warm-up: imports, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times), min(times)


def sweep() -> None:
    for users in range(100_000, 1_000_001, 100_000):
        size(load_profile(overrides={"population": {"users": users}}), compare_costs=False)


def subprocess_model() -> None:
    subprocess.run(
        [sys.executable, "-m", "harness", "model", "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )


def main() -> None:
    profile = load_profile()
    figures: dict[str, tuple[float, float]] = {
        "baseline: load_profile()": median_ms(load_profile, 50),
        "size(profile), one point with cost claims": median_ms(lambda: size(profile), 50),
        "size(profile, compare_costs=False)": median_ms(
            lambda: size(profile, compare_costs=False), 50
        ),
        "one point incl. load_profile (the command's work)": median_ms(
            lambda: size(load_profile()), 50
        ),
        "10-point sweep 100k..1M (the command's work)": median_ms(sweep, 20),
        "predict(), 5 step levels, 2 servers": median_ms(
            lambda: predict(profile, [10, 25, 50, 100, 200], servers=2), 20
        ),
    }

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        demands = {e: (d.cpu_ms, d.db_ms) for e, d in profile.service_demands.items()}
        payload = synthetic_server_json(demands, windows=300, window_s=2.0)
        (run_dir / "server.json").write_text(json.dumps(payload), "utf-8")
        figures["calibrate, 300 windows x 17 endpoints"] = median_ms(
            lambda: calibrate_run(run_dir, profile), 10
        )
    figures["`harness model --json` subprocess (wall)"] = median_ms(subprocess_model, 5)

    baseline = figures["baseline: load_profile()"][0]
    width = max(len(name) for name in figures)
    print(f"{'measurement':<{width}}  median ms     min ms  median x baseline")
    for name, (median, fastest) in figures.items():
        print(f"{name:<{width}}  {median:9.2f}  {fastest:9.2f}  {median / baseline:17.1f}")


if __name__ == "__main__":
    main()
