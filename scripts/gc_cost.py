"""What Python's garbage collector costs the bundled service per request, near its capacity
and past it (docs/benchmarks.md, "What a request costs past capacity").

    .venv/bin/python scripts/gc_cost.py                 # about 4 minutes; a Markdown table
    .venv/bin/python scripts/gc_cost.py --users 600,900 # other levels

One ``harness run`` of the ``step`` scenario on a freshly started service pinned to the first
core (the load generator on the others), as ``harness validate`` runs the single instance, at
the validation's think times: a level near the capacity and one well past it, where the users
pile up in the service. The default levels suit this machine at its usual speed (about 1,000
requests a second at full CPU); pick levels whose first runs at 90-99% CPU.

The service runs with ``scripts/gc_hook`` on its ``PYTHONPATH``: its ``sitecustomize`` times
every collection (thread CPU, per generation) and logs the totals once a second. Each measured
level prints: requests a second, CPU, CPU per request, the mean number of requests in the
service (X·R), collections per thousand requests and collection CPU per request, by
generation, and the collector's share of the service's CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from harness.validate.logins import MEASURED_LOGIN_CPU_MS
from harness.validate.measure import read_measured
from harness.validate.plan import calibration_stages, validation_profile, with_step_stages
from harness.validate.runs import Runs, pinned_cpus
from harness.validate.settings import ValidationSettings
from models.profile import load_profile
from models.validation_records import MeasuredLevel

#: Near the capacity, and half as many users again (where the validation's top level sits).
USERS = (700, 1050)
MEASURE_S = 30.0
HOOK = Path(__file__).resolve().parent / "gc_hook"


@dataclass(frozen=True)
class Window:
    """One measured level and what the collector did over it."""

    level: MeasuredLevel
    requests: int
    collections: tuple[int, int, int]
    seconds: tuple[float, float, float]
    elapsed_s: float


def gc_windows(
    run: Mapping[str, Any], levels: Sequence[MeasuredLevel], log: Sequence[Mapping[str, Any]]
) -> list[Window]:
    """Each measure stage of ``run`` with the collector's totals over it (the log's records
    nearest its start and end on the wall clock); none without a log."""
    if not log:
        return []
    t0 = datetime.datetime.fromisoformat(str(run["started_at"]).replace("Z", "+00:00"))
    start_wall = t0.timestamp()

    def nearest(wall: float) -> Mapping[str, Any]:
        return min(log, key=lambda record: abs(float(record["wall"]) - wall))

    windows = []
    for stage, level in zip(list(run["stages"])[1::2], levels, strict=True):
        begin = start_wall + float(stage["started_at_s"])
        first, last = nearest(begin), nearest(begin + float(stage["elapsed_s"]))
        counts = [int(last["count"][g]) - int(first["count"][g]) for g in range(3)]
        seconds = [float(last["seconds"][g]) - float(first["seconds"][g]) for g in range(3)]
        windows.append(
            Window(
                level,
                int(stage.get("requests") or 0),
                (counts[0], counts[1], counts[2]),
                (seconds[0], seconds[1], seconds[2]),
                float(last["wall"]) - float(first["wall"]),
            )
        )
    return windows


def table(windows: Sequence[Window]) -> str:
    lines = [
        "| users | req/s | CPU | CPU per request (ms) | in the service | collections per 1000 "
        "requests (gen 0 / 1 / 2) | collection CPU per request, ms (gen 0 / 1 / 2, total) "
        "| the collector's share of the CPU |",
        "|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for w in windows:
        level, n = w.level, max(w.requests, 1)
        x, u, r = level.throughput_rps or 0.0, level.cpu_utilization, level.mean_ms
        per_request = "-" if not x or u is None else f"{u / x * 1e3:.2f}"
        in_service = "-" if r is None else f"{x * r / 1e3:.0f}"
        per_k = " / ".join(f"{1000 * c / n:.1f}" for c in w.collections)
        cost = [s / n * 1e3 for s in w.seconds]
        costs = " / ".join(f"{c:.3f}" for c in cost) + f", {sum(cost):.3f}"
        share = "-" if not u or w.elapsed_s <= 0 else f"{sum(w.seconds) / w.elapsed_s / u:.0%}"
        cpu = "-" if u is None else f"{u:.0%}"
        lines.append(
            f"| {level.users} | {x:.1f} | {cpu} | {per_request} | {in_service} | {per_k} | "
            f"{costs} | {share} |"
        )
    return "\n".join(lines)


def measure(out: Path, users: Sequence[int]) -> list[Window]:
    settings = ValidationSettings(calibration_s=MEASURE_S)
    compressed = validation_profile(load_profile(), settings.think_scale)
    # Each level settles for twice its arriving users' logins, at what a login costs here.
    stages = calibration_stages(users, settings, MEASURED_LOGIN_CPU_MS)
    profile = with_step_stages(compressed, stages)
    log_base = out / "gc.jsonl"
    os.environ["GC_COST_LOG"] = str(log_base)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(HOOK), os.environ.get("PYTHONPATH", "")) if part
    )
    with pinned_cpus(True) as pinning:
        result = Runs(out, pinning, settings.seed_scale).step(profile)
    if result.directory is None:
        raise SystemExit(f"the run did not start (exit {result.code})")
    run = json.loads((result.directory / "run.json").read_text(encoding="utf-8"))
    logs = sorted(out.glob("gc.jsonl.*"))
    if not logs:
        raise SystemExit("the service logged no collections (was scripts/gc_hook imported?)")
    records = [json.loads(line) for line in logs[-1].read_text(encoding="utf-8").splitlines()]
    return gc_windows(run, read_measured(result.directory), records)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="where the run goes (default: a temporary dir)")
    parser.add_argument(
        "--users",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        default=USERS,
        help="the levels, comma-separated (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    out = args.out or Path(mkdtemp(prefix="gc-cost-"))
    out.mkdir(parents=True, exist_ok=True)
    print(table(measure(out, args.users)))
    print(f"\nrun: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
