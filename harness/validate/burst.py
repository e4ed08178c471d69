"""The burst stage: the CPU a request costs on a busy core, measured at a light average load.

Three light stages leave the service curve's busy cost ``a`` (whose inverse is the capacity) to
a line extrapolated from a few tenths of a core to a whole one, and that line over-predicted
the capacity in every validation run that saturated the service (docs/validation/README.md).
The burst stage measures ``a`` instead. Its users do not think: each waits for the next tick
of a clock shared by every Locust process (the journeys' ``tick`` think mode, period
``burst_period_s``), then opens a screen. Each tick's requests therefore queue behind each
other and the service takes them back to back, every one but the first finding the core busy,
as at saturation, while the average CPU stays as light as a calibration stage's (the stage is
sized for ``burst_cpu_target`` at the pilot's CPU per request, and a request costs less in a
burst, so it lands well under the calibration's 50% limit). Nothing is driven into
saturation: between two bursts the core is idle.

The stage is its own run, after the light calibration, on a freshly started service like every
other; the fit takes its CPU per request (one wake-up per tick deducted) as the busy cost
(models/service_curve.py, "the busy cost, measured").

A *deep burst* follows it (``deep_burst_period_s``): as many times the users as its clock is
slower, so about the same average CPU with a queue that many times deeper. What a request
costs more behind that queue is the backlog's cost, which the burst does not see and the users
queued past the capacity pay (models/service_curve.py, "past capacity").
"""

from __future__ import annotations

import math
from typing import TextIO

from harness.exit_codes import ExitCode
from harness.validate.measure import read_measured
from harness.validate.plan import burst_stages, overlay, with_step_stages
from harness.validate.runs import Runs
from harness.validate.settings import CALIBRATION_CPU_LIMIT, ValidationSettings
from models.profile import Profile
from models.validation_records import BurstRecord

__all__ = [
    "BURST_THINK",
    "burst_profile",
    "burst_users",
    "deep_burst_users",
    "measure_burst",
]

#: The journeys' think mode of the burst stage (journeys/thinktime.py).
BURST_THINK = "tick"


def burst_users(cpu_per_user: float, profile: Profile, settings: ValidationSettings) -> int:
    """The users whose bursts would put ``burst_cpu_target`` of CPU on the service at the
    pilot's cost per request: a pilot user opens ``Σ share / think`` screens a second, a
    burst user one a period. At least two (a burst of one queues behind nobody)."""
    if not cpu_per_user > 0:
        raise ValueError(f"cpu_per_user must be > 0, got {cpu_per_user!r}")
    screens_per_s = sum(p.share / p.think_time_s for _, p in profile.personas.marketplace())
    per_burst_user = cpu_per_user / (settings.burst_period_s * screens_per_s)
    return max(2, math.floor(settings.burst_cpu_target / per_burst_user))


def deep_burst_users(users: int, settings: ValidationSettings) -> int:
    """The deep burst's users: the burst's ``users`` times how much slower its clock is,
    about the same average CPU with a queue that many times deeper."""
    return max(users + 1, round(users * settings.deep_burst_period_s / settings.burst_period_s))


def burst_profile(
    profile: Profile,
    users: int,
    settings: ValidationSettings,
    login_cpu_ms: float,
    period_s: float | None = None,
    measure_s: float | None = None,
) -> Profile:
    """``profile`` with every persona on the one clock of ``period_s`` (None:
    ``burst_period_s``; its think time the period: the tick mode waits for the next multiple
    of it) and the burst stage, ``measure_s`` measured (None: ``burst_s``), as its ``step``
    scenario."""
    period = settings.burst_period_s if period_s is None else period_s
    ticking = overlay(
        profile,
        {"personas": {name: {"think_time_s": period} for name, _ in profile.personas.items()}},
    )
    return with_step_stages(ticking, burst_stages(users, settings, login_cpu_ms, measure_s))


def measure_burst(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    users: int,
    login_cpu_ms: float,
    log: TextIO,
    *,
    deep: bool = False,
) -> BurstRecord:
    """Run the burst stage (``deep``: the deep burst, on its slower clock) with ``users`` and
    read it; the record says whether the fit may use it, and why not when it may not (the run
    failed, measured no CPU, or ran over the calibration's limit)."""
    period = settings.deep_burst_period_s if deep else settings.burst_period_s
    measure_s = settings.deep_burst_s if deep else settings.burst_s
    what = "deep burst" if deep else "burst stage"
    run = "deep burst" if deep else "burst"
    purpose = "the backlog's cost" if deep else "the busy cost per request"
    print(
        f"validate: {what}, {users} users on a {period:g} s clock ({purpose}, at a light "
        "average load)",
        file=log,
    )
    result = runs.step(
        burst_profile(profile, users, settings, login_cpu_ms, period, measure_s), think=BURST_THINK
    )
    record = BurstRecord(users, period, None if result.directory is None else str(result.directory))
    if result.code == ExitCode.UNREACHABLE or not result.wrote_run_json:
        record.reason = f"the {run} run did not complete"
        return record
    assert result.directory is not None  # wrote_run_json says there is one
    levels = read_measured(result.directory)
    level = levels[-1] if levels else None
    if level is None or not level.throughput_rps or not level.cpu_utilization:
        record.reason = f"the {run} run measured no throughput or no CPU"
        return record
    record.throughput_rps = level.throughput_rps
    record.cpu_utilization = level.cpu_utilization
    record.speed_reference_ms = level.speed_reference_ms
    record.mean_ms = level.mean_ms
    if level.cpu_utilization > CALIBRATION_CPU_LIMIT:
        record.reason = (
            f"the {what} ran at {level.cpu_utilization:.0%} CPU, over the calibration's "
            f"{CALIBRATION_CPU_LIMIT:.0%}"
        )
        return record
    record.used = True
    return record
