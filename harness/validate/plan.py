"""What a validation runs: the profiles it measures, the levels it plans, and each run's stages.

Why a settle stage before each measured one: users arriving at a level log in (a deliberate
password hash each) and start in phase, while the model describes the steady state. The settle
stage absorbs the ramp and the transient (its length is the model's own settling-time
estimate); only the measure stage is compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.validate.settings import GOAL_CPU_LIMIT, HOLDOUT_SHARES, ValidationSettings
from models.prediction import LevelPrediction
from models.profile import Profile, Stage, merge, validate_profile

__all__ = [
    "burst_stages",
    "calibration_stages",
    "calibration_users",
    "holdout_profile",
    "levels_at_cpu",
    "overlay",
    "paired_stages",
    "pilot_stages",
    "probe_stages",
    "think_profile",
    "users_at_cpu",
    "validation_profile",
    "with_step_stages",
]


def overlay(profile: Profile, changes: Mapping[str, Any]) -> Profile:
    """``profile`` with ``changes`` merged in key by key, validated again."""
    return validate_profile(merge(profile.model_dump(mode="json"), changes), "validation")


def validation_profile(profile: Profile, think_scale: float) -> Profile:
    """The profile with every persona's think time multiplied by ``think_scale``."""
    return overlay(
        profile,
        {
            "personas": {
                name: {"think_time_s": persona.think_time_s * think_scale}
                for name, persona in profile.personas.items()
            }
        },
    )


def think_profile(profile: Profile, factor: float) -> Profile:
    """The held-out think times: every persona's multiplied by ``factor``."""
    return validation_profile(profile, factor)


def holdout_profile(profile: Profile) -> Profile:
    """The same profile with the held-out persona mix (:data:`HOLDOUT_SHARES`)."""
    return overlay(
        profile, {"personas": {name: {"share": s} for name, s in HOLDOUT_SHARES.items()}}
    )


def with_step_stages(profile: Profile, stages: Sequence[Stage]) -> Profile:
    """The profile whose ``step`` scenario is ``stages`` (how a planned load reaches a run)."""
    table = [stage.model_dump() for stage in stages]
    return overlay(profile, {"scenarios": {"step": {"stages": table}}})


def users_at_cpu(cpu_at: Callable[[int], float], target: float, saturation_users: float) -> int:
    """The fewest users at which ``cpu_at`` (rising with users) reaches ``target``, found by
    bisection up to the saturation point N*."""
    low, high = 1, max(2, math.ceil(saturation_users))
    if cpu_at(low) >= target:
        return low
    if cpu_at(high) < target:
        return high
    while high - low > 1:
        middle = (low + high) // 2
        if cpu_at(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def levels_at_cpu(
    cpu_at: Callable[[int], float], targets: Sequence[float], saturation_users: float
) -> list[int]:
    """One level per CPU target, where ``cpu_at`` reaches it (distinct, in order). A level
    lands at or just over its target, except one whose target is within the goals' limit
    (:data:`GOAL_CPU_LIMIT`) but whose first user over it passes the limit: it lands one user
    under, so that the goals judge it. A target of 85% landed at 85.03% and was never judged,
    which left the heaviest judged level at 65%."""
    if not saturation_users > 0 or math.isinf(saturation_users):
        raise ValueError(f"the saturation point must be a positive number, got {saturation_users}")
    levels = set()
    for target in targets:
        users = users_at_cpu(cpu_at, target, saturation_users)
        if users > 1 and target <= GOAL_CPU_LIMIT < cpu_at(users):
            users -= 1
        levels.add(users)
    return sorted(levels)


def calibration_users(cpu_per_user: float, settings: ValidationSettings) -> list[int]:
    """The calibration's loads: the users at which the pilot's CPU per user reaches each
    calibration target (CPU per user falls with load, so each stage lands at or under it)."""
    if not cpu_per_user > 0 or math.isinf(cpu_per_user):
        raise ValueError(f"the pilot's CPU per user must be a positive number, got {cpu_per_user}")
    # The tolerance: a measured 0.04 CPU over 10 users is 0.004000000000000001 cores a user,
    # which must still put the 0.12 target at 30 users, not 29.
    targets = settings.calibration_cpu_targets
    return sorted({max(1, math.floor(t / cpu_per_user + 1e-6)) for t in targets})


IDLE_SETTLE_S = 4.0
"""The settle before an idle reading: the users stop within a second or two, and the work
their last requests left (the outbox's deliveries) finishes."""


def _settle_s(
    arriving: int, ramp_s: float, login_cpu_ms: float, settings: ValidationSettings, wanted: float
) -> float:
    """A settle stage covers ``wanted`` (the model's settling time), and the ramp and the
    arriving users' logins twice over, within the settings' bounds. ``max_settle_s`` caps the
    wait, never the ramp: Locust blocks while it ramps, so a stage shorter than its ramp would
    be skipped."""
    logins_s = arriving * login_cpu_ms / 1e3
    want = max(settings.min_settle_s, wanted, 1.5 * ramp_s + 2 * logins_s)
    return max(min(settings.max_settle_s, want), 1.25 * ramp_s + 1.0)


def _paired(
    loads: Sequence[tuple[int, float, float]], settings: ValidationSettings, login_cpu_ms: float
) -> list[Stage]:
    """A settle and a measure stage per (users, settling time, measured seconds) load; a load
    of no users (an idle reading) settles only while the users stop."""
    top = max((users for users, _, _ in loads), default=0)
    spawn_rate = max(settings.spawn_rate, top / 10.0)
    stages: list[Stage] = []
    previous = 0
    for users, settling_s, measure_s in loads:
        ramp_s = abs(users - previous) / spawn_rate
        settle_s = (
            max(IDLE_SETTLE_S, 1.25 * ramp_s + 1.0)
            if users == 0
            else _settle_s(max(0, users - previous), ramp_s, login_cpu_ms, settings, settling_s)
        )
        for duration_s in (settle_s, measure_s):
            stages.append(Stage(users=users, duration_s=duration_s, spawn_rate=spawn_rate))
        previous = users
    return stages


def paired_stages(
    predictions: Sequence[LevelPrediction],
    settings: ValidationSettings,
    login_cpu_ms: float = 0.0,
) -> list[Stage]:
    """A settle stage and a measure stage per predicted level.

    The measure stage lasts as long as the model's settling time (at least ``min_measure_s``):
    a level that takes long to settle is also a noisy one to measure. A level the goals will
    not judge (predicted CPU over :data:`GOAL_CPU_LIMIT`) is measured for
    ``unjudged_measure_s`` only: it is there for the saturation throughput, which that window
    measures, and the longer windows kept ``harness validate --lab`` from its 30 minutes.
    Users are spawned at least fast enough to reach the top level in ten seconds.
    """
    loads = [
        (
            level.users,
            level.settling_time_s,
            settings.unjudged_measure_s
            if level.cpu_utilization > GOAL_CPU_LIMIT
            else min(settings.max_measure_s, max(settings.min_measure_s, level.settling_time_s)),
        )
        for level in predictions
    ]
    return _paired(loads, settings, login_cpu_ms)


def held_load_stages(
    users: int,
    settings: ValidationSettings,
    login_cpu_ms: float = 0.0,
    measure_s: float | None = None,
) -> list[Stage]:
    """One load held: ``users`` settled (the ramp, their logins, at least ``min_settle_s``),
    then measured for ``measure_s`` (None: ``min_measure_s``); for a load no model predicted
    a settling time for."""
    measured = settings.min_measure_s if measure_s is None else measure_s
    return _paired([(users, 0.0, measured)], settings, login_cpu_ms)


def pilot_stages(settings: ValidationSettings, login_cpu_ms: float = 0.0) -> list[Stage]:
    """The pilot: ``pilot_users`` settled, then measured for ``pilot_s`` seconds."""
    return _paired([(settings.pilot_users, 0.0, settings.pilot_s)], settings, login_cpu_ms)


def calibration_stages(
    users: Sequence[int],
    settings: ValidationSettings,
    login_cpu_ms: float = 0.0,
    idle_s: float = 0.0,
) -> list[Stage]:
    """The calibration run: a settle and a measure stage (``calibration_s``) per load, then,
    when ``idle_s`` > 0, the users gone (a short settle while they stop, ``IDLE_SETTLE_S``)
    and the idle service measured for ``idle_s`` seconds: its CPU with no requests."""
    loads = [(n, 0.0, settings.calibration_s) for n in sorted(set(users))]
    if idle_s > 0:
        loads.append((0, 0.0, idle_s))
    return _paired(loads, settings, login_cpu_ms)


def burst_stages(
    users: int, settings: ValidationSettings, login_cpu_ms: float, measure_s: float | None = None
) -> list[Stage]:
    """A burst stage (harness/validate/burst.py): its users signed in and settled, then
    ``measure_s`` (None: ``burst_s``) measured."""
    measured = settings.burst_s if measure_s is None else measure_s
    return _paired([(users, 0.0, measured)], settings, login_cpu_ms)


def probe_stages(users: int, settings: ValidationSettings, login_cpu_ms: float) -> list[Stage]:
    """The capacity probe: one settle stage and one measured stage of ``probe_s`` seconds."""
    return _paired([(users, 0.0, settings.probe_s)], settings, login_cpu_ms)
