"""Harness overhead: the same scenario through `harness run` and through plain `locust`.

The goal: with the same scenario and user count against the same service, `harness run`
(probe every second, scrape every 2 s, live feed, plugin bookkeeping) must keep requests/s at
>= 0.95 of plain ``locust -f journeys/locustfile.py`` and the same p95 within noise.

One bundled service (SQLite, seed scale 0.01) serves every run. Runs alternate (plain,
harness, plain, harness, ...) so drift of the shared machine hits both sides alike. Both
sides are measured from the same source: the journeys' merged HDR histograms (API requests
only), requests divided by the shape's duration. Think times are scaled down
(``JOURNEYS_THINK_SCALE``) so that the run produces enough requests to measure.

    .venv/bin/python benchmarks/bench_harness.py [--rounds 2] [--users-scale 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.run.service import BundledService, ServiceConfig  # noqa: E402
from journeys.run import read_histograms  # noqa: E402


def _api_summary(hdr_path: Path, seconds: float) -> tuple[float, float, int]:
    histograms, _ = read_histograms(hdr_path)
    keys = histograms.select(lambda key: key[1] != "PAGE")
    summary = histograms.summarize(keys)
    return summary.count / seconds, summary.p95_ms, summary.failures


def plain_locust(
    url: str, work: Path, env: dict[str, str], time_scale: float, seconds: float
) -> tuple[float, float, int]:
    hdr = work / "plain-hdr.json"
    hdr.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO / "journeys" / "locustfile.py"),
        "--headless",
        "--host",
        url,
        "--only-summary",
        "--stop-timeout",
        "30",
        "--journeys-time-scale",
        f"{time_scale:g}",
        "--journeys-hdr-out",
        str(hdr),
    ]
    subprocess.run(command, cwd=REPO, env=env, check=False, capture_output=True, timeout=600)
    return _api_summary(hdr, seconds)


def harness_run(
    url: str, db: str, work: Path, env: dict[str, str], time_scale: float, seconds: float
) -> tuple[float, float, int]:
    out = work / "runs"
    command = [
        sys.executable,
        "-m",
        "harness",
        "run",
        "smoke",
        "--host",
        url,
        "--database-url",
        db,
        "--duration-scale",
        f"{time_scale:g}",
        "--out",
        str(out),
    ]
    before = set(out.glob("*")) if out.exists() else set()
    subprocess.run(command, cwd=REPO, env=env, check=False, capture_output=True, timeout=600)
    [run_dir] = set(out.glob("*")) - before
    run = json.loads((run_dir / "run.json").read_text())
    if not run["complete"]:
        print(f"  (harness run incomplete: {run['incomplete_reasons']})")
    return _api_summary(run_dir / "logs" / "hdr.json", seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the smoke shape")
    parser.add_argument("--think-scale", type=float, default=0.05)
    args = parser.parse_args()
    time_scale = args.seconds / 60.0  # smoke is one 60-second stage of 10 users
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "JOURNEYS_SCENARIO": "smoke",
        "JOURNEYS_THINK_SCALE": f"{args.think_scale:g}",
        "JOURNEYS_SEED": "11",
    }
    plain: list[tuple[float, float, int]] = []
    through: list[tuple[float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        work = Path(tmp)
        with BundledService(ServiceConfig(seed_scale=0.01), work / "service.log") as service:
            for round_ in range(args.rounds):
                started = time.monotonic()
                plain.append(plain_locust(service.url, work, env, time_scale, args.seconds))
                through.append(
                    harness_run(
                        service.url, service.database_url, work, env, time_scale, args.seconds
                    )
                )
                print(
                    f"round {round_ + 1}: plain {plain[-1][0]:.1f} req/s p95 {plain[-1][1]:.1f} ms"
                    f" | harness {through[-1][0]:.1f} req/s p95 {through[-1][1]:.1f} ms"
                    f" ({time.monotonic() - started:.0f} s)"
                )
    rps_plain = statistics.median(r for r, _, _ in plain)
    rps_harness = statistics.median(r for r, _, _ in through)
    p95_plain = statistics.median(p for _, p, _ in plain)
    p95_harness = statistics.median(p for _, p, _ in through)
    print(
        f"\nmedian requests/s: plain {rps_plain:.2f}, harness {rps_harness:.2f}, "
        f"ratio {rps_harness / rps_plain:.3f} (goal >= 0.95)"
    )
    print(
        f"median API p95: plain {p95_plain:.1f} ms, harness {p95_harness:.1f} ms, "
        f"ratio {p95_harness / p95_plain:.3f}"
    )
    print(f"failures: plain {[f for _, _, f in plain]}, harness {[f for _, _, f in through]}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
