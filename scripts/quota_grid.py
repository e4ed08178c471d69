"""The CFS quota's analytic approximation against its SimPy simulation, over a grid.

    .venv/bin/python scripts/quota_grid.py [--requests N] [--seeds K]

Prints, per (quota, demand, workers, utilization): the simulated and predicted mean response,
throttled share of periods, and the relative error of the mean. The figures are quoted in
docs/capacity-planning.md; tests/models/test_cpu_quota.py holds a smaller grid to the
tolerance it states.
"""

from __future__ import annotations

import argparse
import statistics

from models.cpu_quota import quota_delay
from models.simulation.quota import simulate_quota

GRID = [
    # (quota cores, mean CPU demand s, workers)
    (0.25, 0.002, 1),
    (0.25, 0.005, 1),
    (0.25, 0.010, 1),
    (0.5, 0.005, 1),
    (0.5, 0.005, 2),
    (1.0, 0.004, 2),
]
UTILIZATIONS = (0.2, 0.4, 0.6, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print("quota  s_ms  W   rho | sim_ms  model_ms  err   | sim_thr  model_thr | unlimited_ms")
    worst = 0.0
    for quota, s, workers in GRID:
        for rho in UTILIZATIONS:
            lam = rho * quota / s
            runs = [
                simulate_quota(lam, s, quota, workers=workers, requests=args.requests, seed=k)
                for k in range(args.seeds)
            ]
            sim = statistics.fmean(r.mean_response_s for r in runs)
            thr = statistics.fmean(r.throttled_share for r in runs)
            model = quota_delay(lam, s, quota, 0.1, workers)
            err = model.mean_response_s / sim - 1.0
            worst = max(worst, abs(err))
            print(
                f"{quota:5.2f} {s * 1e3:5.1f} {workers:2d} {rho:5.2f} | {sim * 1e3:7.2f} "
                f"{model.mean_response_s * 1e3:8.2f} {err:+6.1%} | {thr:7.3f} "
                f"{model.throttled_share:9.3f} | {model.unlimited_response_s * 1e3:8.2f}"
            )
    print(f"worst relative error of the mean: {worst:.1%}")


if __name__ == "__main__":
    main()
