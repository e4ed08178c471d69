"""The CPU a request costs on the bundled service: in a light closed loop, in bursts (the
validation's burst stage), and in a closed loop driven near saturation, measured back to back
on one machine (docs/benchmarks.md, "The burst stage").

    .venv/bin/python scripts/burst_cost.py            # about 6 minutes; a Markdown table

Three runs, each a real ``harness run`` of the ``step`` scenario on a freshly started service
(a fresh SQLite database) pinned to the first core, the load generator on the others, as
``harness validate`` runs the single instance:

1. **closed loop**: the validation's think times (a twentieth of the launch's), light levels
   and one where the core is nearly full;
2. **burst**: the same users starting a screen together on each tick of a 1 s clock (the
   journeys' ``tick`` think mode), at several sizes;
3. **closed loop again**: the light levels, to see how far the machine moved meanwhile.

It prints one Markdown row per measured stage: users, requests a second, CPU, CPU per request
and mean response time, and the burst's cost as a fraction of the heavy closed loop's. A run
whose stage measured no CPU (fewer than two metric scrapes) shows "-".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp

from harness.validate.burst import BURST_THINK
from harness.validate.fit import login_cpu_ms
from harness.validate.measure import read_measured
from harness.validate.plan import (
    calibration_stages,
    overlay,
    validation_profile,
    with_step_stages,
)
from harness.validate.runs import Runs, pinned_cpus
from harness.validate.settings import ValidationSettings
from models.profile import Profile, Stage, load_profile
from models.validation_records import MeasuredLevel

#: The closed loop's users: light, as the calibration's stages, and nearly saturating.
CLOSED_USERS = (30, 85, 400)
#: The bursts' users on the 1 s clock.
BURST_USERS = (30, 100, 200)
PERIOD_S = 1.0
MEASURE_S = 30.0


@dataclass(frozen=True)
class Row:
    """One measured stage of one of the runs."""

    run: str
    level: MeasuredLevel

    @property
    def cpu_ms(self) -> float | None:
        x, u = self.level.throughput_rps, self.level.cpu_utilization
        return None if not x or u is None else u / x * 1e3


def _with_levels(profile: Profile, users: Sequence[int], settings: ValidationSettings) -> Profile:
    """``profile`` whose step scenario settles (the logins included) and measures each level."""
    stages: list[Stage] = calibration_stages(users, settings, login_cpu_ms(profile))
    return with_step_stages(profile, stages)


def measure(out: Path) -> list[Row]:
    settings = ValidationSettings(calibration_s=MEASURE_S)
    compressed = validation_profile(load_profile(), settings.think_scale)
    ticking = overlay(
        compressed,
        {"personas": {n: {"think_time_s": PERIOD_S} for n, _ in compressed.personas.items()}},
    )
    plan = [
        ("closed loop", _with_levels(compressed, CLOSED_USERS, settings), "profile"),
        ("burst", _with_levels(ticking, BURST_USERS, settings), BURST_THINK),
        ("closed loop again", _with_levels(compressed, CLOSED_USERS[:2], settings), "profile"),
    ]
    rows: list[Row] = []
    with pinned_cpus(True) as pinning:
        runs = Runs(out, pinning, settings.seed_scale)
        for name, profile, think in plan:
            result = runs.step(profile, think=think)
            if result.directory is None:
                print(f"{name}: the run did not start (exit {result.code})", file=sys.stderr)
                continue
            rows += [Row(name, level) for level in read_measured(result.directory)]
    return rows


def table(rows: Sequence[Row]) -> str:
    """The Markdown table (module docstring); the burst's cost against the heaviest closed
    loop stage's."""
    closed = [r for r in rows if r.run == "closed loop" and r.cpu_ms is not None]
    heavy = max(closed, key=lambda r: r.level.users).cpu_ms if closed else None
    lines = [
        "| run | users | req/s | CPU | CPU per request (ms) | mean (ms) "
        "| of the heaviest closed loop |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        level, cost = row.level, row.cpu_ms
        ratio = "-" if cost is None or not heavy else f"{cost / heavy:.2f}"
        lines.append(
            f"| {row.run} | {level.users} | {_fmt(level.throughput_rps, '{:.1f}')} | "
            f"{_fmt(level.cpu_utilization, '{:.0%}')} | {_fmt(cost, '{:.2f}')} | "
            f"{_fmt(level.mean_ms, '{:.1f}')} | {ratio} |"
        )
    return "\n".join(lines)


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary dir)")
    args = parser.parse_args(argv)
    out = args.out or Path(mkdtemp(prefix="burst-cost-"))
    print(table(measure(out)))
    print(f"\nruns: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
