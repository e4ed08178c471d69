"""The CPU a request costs on the bundled service: in a light closed loop, in bursts (the
validation's burst stage), and in a closed loop driven near saturation, measured back to back
on one machine (docs/benchmarks.md, "The burst stage").

    .venv/bin/python scripts/burst_cost.py            # about 6 minutes; a Markdown table

Three runs, each a real ``harness run`` of the ``step`` scenario on a freshly started service
(a fresh SQLite database) pinned to the first core, the load generator on the others, as
``harness validate`` runs the single instance:

1. **closed loop**: the validation's think times (a twentieth of the launch's), light levels
   and one where the core is nearly full;
2. **burst (1 s)**: the same users starting a screen together on each tick of a 1 s clock
   (the journeys' ``tick`` think mode), at several sizes;
3. **burst (4 s)**: four times the largest burst's users on a 4 s clock: about the same
   average CPU, a queue four times deeper (does a request cost more behind a deep queue?);
4. **closed loop again**: the light levels, to see how far the machine moved meanwhile.

    .venv/bin/python scripts/burst_cost.py --backlog   # about 6 minutes

``--backlog`` checks the deep burst of ``harness validate`` instead (models/service_curve.py,
"past capacity"): the validation's burst (77 users on 1 s) and its deep burst (308 on 4 s)
alternated twice, then a closed loop below the capacity and one past it (500 and 840 users),
so that what a request costs with ~50, ~195 and ~420 requests in the service can be set
side by side, each at its stage's machine speed (the last column: what the speed reference
took, harness/run/speed_reference.py).

It prints one Markdown row per measured stage: users, requests a second, CPU, CPU per request,
mean response time, the mean number of requests in the service while it is busy (X·R/U), and
the stage's cost as a fraction of the heavy closed loop's. A run whose stage measured no CPU
(fewer than two metric scrapes) shows "-".

Each level settles for twice its arriving users' logins at ``MEASURED_LOGIN_CPU_MS`` each
(harness/validate/logins.py), what a login costs here, not the shipped profile's assumption
(6 ms): settled on that, the logins of the users added to a nearly saturated service fall into
its measure window and inflate its CPU per request (docs/benchmarks.md, "What a request costs
past capacity").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from tempfile import mkdtemp

from harness.validate.burst import BURST_THINK
from harness.validate.logins import MEASURED_LOGIN_CPU_MS
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
#: The bursts' users per clock period (seconds): three sizes on 1 s, a deep one on 4 s.
BURSTS: dict[float, tuple[int, ...]] = {1.0: (30, 100, 200), 4.0: (800,)}
MEASURE_S = 30.0
#: ``--backlog``: the validation's burst and deep burst (users, clock), and the closed loop
#: below and past the capacity.
BACKLOG_BURSTS = ((77, 1.0), (308, 4.0))
BACKLOG_CLOSED = (500, 840)


@dataclass(frozen=True)
class Row:
    """One measured stage of one of the runs."""

    run: str
    level: MeasuredLevel

    @property
    def cpu_ms(self) -> float | None:
        x, u = self.level.throughput_rps, self.level.cpu_utilization
        return None if not x or u is None else u / x * 1e3

    @property
    def in_service(self) -> float | None:
        """The mean number of requests in the service while it is busy: X·R / U."""
        x, u, r = self.level.throughput_rps, self.level.cpu_utilization, self.level.mean_ms
        return None if not x or not u or r is None else x * r / 1e3 / u


def with_levels(profile: Profile, users: Sequence[int], settings: ValidationSettings) -> Profile:
    """``profile`` whose step scenario settles (the logins included) and measures each level."""
    stages: list[Stage] = calibration_stages(users, settings, MEASURED_LOGIN_CPU_MS)
    return with_step_stages(profile, stages)


def _ticking(profile: Profile, period_s: float) -> Profile:
    """``profile`` with every persona on one clock of ``period_s`` seconds."""
    personas = {name: {"think_time_s": period_s} for name, _ in profile.personas.items()}
    return overlay(profile, {"personas": personas})


def plan_runs(settings: ValidationSettings, backlog: bool) -> list[tuple[str, Profile, str]]:
    """The runs: (name, profile, think mode) in order (module docstring)."""
    compressed = validation_profile(load_profile(), settings.think_scale)

    def burst(users: Sequence[int], period: float) -> tuple[str, Profile, str]:
        ticking = with_levels(_ticking(compressed, period), users, settings)
        return (f"burst ({period:g} s)", ticking, BURST_THINK)

    if backlog:
        bursts = [burst((users,), period) for users, period in BACKLOG_BURSTS]
        closed = ("closed loop", with_levels(compressed, BACKLOG_CLOSED, settings), "profile")
        return [*bursts, *bursts, closed]
    plan = [("closed loop", with_levels(compressed, CLOSED_USERS, settings), "profile")]
    plan += [burst(users, period) for period, users in BURSTS.items()]
    plan.append(
        ("closed loop again", with_levels(compressed, CLOSED_USERS[:2], settings), "profile")
    )
    return plan


def measure(out: Path, backlog: bool = False) -> list[Row]:
    settings = ValidationSettings(calibration_s=MEASURE_S)
    plan = plan_runs(settings, backlog)
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
        "| in service while busy | of the heaviest closed loop | speed reference (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        level, cost = row.level, row.cpu_ms
        ratio = "-" if cost is None or not heavy else f"{cost / heavy:.2f}"
        lines.append(
            f"| {row.run} | {level.users} | {_fmt(level.throughput_rps, '{:.1f}')} | "
            f"{_fmt(level.cpu_utilization, '{:.0%}')} | {_fmt(cost, '{:.2f}')} | "
            f"{_fmt(level.mean_ms, '{:.1f}')} | {_fmt(row.in_service, '{:.0f}')} | {ratio} | "
            f"{_fmt(level.speed_reference_ms, '{:.3f}')} |"
        )
    return "\n".join(lines)


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary dir)")
    parser.add_argument(
        "--backlog", action="store_true", help="the validation's burst and deep burst instead"
    )
    args = parser.parse_args(argv)
    out = args.out or Path(mkdtemp(prefix="burst-cost-"))
    print(table(measure(out, args.backlog)))
    print(f"\nruns: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
