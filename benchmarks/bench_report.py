"""Benchmark of the run report against its goals: a one-hour run with 50 endpoints renders in
under 5 s and weighs under 2 MB.

    .venv/bin/python benchmarks/bench_report.py           # prints the figures

The one-hour run is the report tests' fixture factory at scale: six 10-minute stages (1,800
time-series records of 2 s), 721 metric scrapes, 50 API endpoints plus 5 screens, a
prediction, a sizing and a simulated day, compared with a baseline of the same size (so every
figure carries a delta, the heaviest case). The baseline of the ratios, measured in the same
run, is the report of a five-minute, 17-endpoint run (the shape of a smoke or step run).
Each figure is the median of repeated renders in this process after one warm-up render (which
pays for imports, matplotlib's font cache and template compilation). A cold render is also
measured as ``harness report`` in a fresh interpreter.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reports import render_run_report  # noqa: E402
from tests.reports.factory import RunSpec, write_run  # noqa: E402

HOUR = RunSpec(stages=(100, 200, 300, 400, 500, 600), stage_s=600.0, endpoints=50, simulation=True)
HOUR_BASELINE = RunSpec(stages=HOUR.stages, stage_s=600.0, endpoints=50, latency_factor=0.9)
SMALL = RunSpec()
REPEAT = 5


def timed(run_dir: Path, baseline: Path | None, out: Path) -> tuple[float, float, int]:
    """(median seconds, minimum seconds, size in bytes) of rendering ``run_dir``; the minimum
    is the cost without the shared machine's noise."""
    render_run_report(run_dir, out, baseline)  # warm-up
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        render_run_report(run_dir, out, baseline)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times), out.stat().st_size


def cold_cli(run_dir: Path, baseline: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "report",
            str(run_dir),
            "--baseline",
            str(baseline),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
    )
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hour = write_run(root / "hour", HOUR)
        hour_base = write_run(root / "hour-base", HOUR_BASELINE)
        small = write_run(root / "small", SMALL)
        records = len(json.loads((hour / "stats/timeseries.json").read_text())["records"])
        small_s, small_min, small_bytes = timed(small, None, root / "small.html")
        hour_s, hour_min, hour_bytes = timed(hour, hour_base, root / "hour.html")
        cold_s = cold_cli(hour, hour_base, root / "cold.html")
    print(f"one-hour run: {records} time-series records, 50 endpoints, with baseline")
    print(
        f"  render (median of {REPEAT}, warm)  {hour_s:6.2f} s   (min {hour_min:.2f} s; goal < 5 s)"
    )
    print(f"  harness report, cold process   {cold_s:6.2f} s")
    print(f"  size                           {hour_bytes / 1e6:6.2f} MB  (goal < 2 MB)")
    print("baseline: five-minute run, 17 endpoints, no baseline")
    print(
        f"  render (median of {REPEAT}, warm)  {small_s:6.2f} s   (min {small_min:.2f} s)   "
        f"size {small_bytes / 1e6:.2f} MB"
    )
    print(
        f"ratio one-hour / five-minute: time {hour_s / small_s:.2f}x "
        f"(minima {hour_min / small_min:.2f}x), size {hour_bytes / small_bytes:.2f}x"
    )


if __name__ == "__main__":
    main()
