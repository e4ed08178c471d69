"""A lab run's measured CFS throttling beside the model's (models/cpu_quota.py).

    .venv/bin/python scripts/quota_lab.py RUN_DIR [--window 10]

Reads RUN_DIR/lab.jsonl (a sample a second: each instance's CPU group and HAProxy's counters)
and RUN_DIR/run.json (the CPU limit), and per window of ``--window`` seconds prints the
requests per second the instance answered, its CPU per request, the utilization of its quota,
the share of periods throttled (``nr_throttled`` over the window's periods) and the share of
time throttled, measured and predicted from that load. The CPU per request includes whatever
else the instance's process burns (probes, metrics, the outbox), and the demands are not
exponential (a login's password hash is ten times a screen's call), so this is a data point,
not a check.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.cpu_quota import quota_delay
from models.errors import UnstableError

PERIOD_S = 0.1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    run = json.loads((args.run_dir / "run.json").read_text())
    quota = float(run["lab"]["topology"]["cpu_limit_cores"])
    rows = [json.loads(line) for line in (args.run_dir / "lab.jsonl").read_text().splitlines()]
    cpu = [r for r in rows if r.get("part") == "instance" and r["name"] == "instance_1"]
    lb = [r for r in rows if r.get("part") == "haproxy" and r["server"] == "instance_1"]
    print("window_s  rps   cpu_ms/req  rho   | throttled periods meas/model | time meas/model")
    start = cpu[0]
    for sample in cpu[1:]:
        span = sample["at"] - start["at"]
        if span < args.window and sample is not cpu[-1]:
            continue
        before = max((r for r in lb if r["at"] <= start["at"] + 0.5), key=lambda r: r["at"])
        after = max((r for r in lb if r["at"] <= sample["at"] + 0.5), key=lambda r: r["at"])
        requests = after["sessions_total"] - before["sessions_total"]
        used = sample["usage_s"] - start["usage_s"]
        throttled = sample["throttled_periods"] - start["throttled_periods"]
        throttled_s = sample["throttled_s"] - start["throttled_s"]
        start = sample
        if requests <= 0:
            continue
        lam, s = requests / span, used / requests
        periods = span / PERIOD_S
        try:
            model = quota_delay(lam, s, quota, PERIOD_S, 1)
            predicted = f"{model.throttled_share:5.3f}"
            predicted_time = f"{model.throttled_time_share:5.3f}"
        except UnstableError:
            predicted = predicted_time = "  sat"
        print(
            f"{span:7.1f} {lam:6.1f} {s * 1e3:9.2f} {used / span / quota:6.2f} | "
            f"{throttled / periods:8.3f} / {predicted} | {throttled_s / span:5.3f} / "
            f"{predicted_time}"
        )


if __name__ == "__main__":
    main()
