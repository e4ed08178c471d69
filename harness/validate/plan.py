"""What a validation runs: the profiles it measures and the stages of each run.

Why a settle stage before each measured one: users arriving at a level log in (a deliberate
password hash each) and start in phase, while the model describes the steady state. The settle
stage absorbs the ramp and the transient (its length is the model's own settling-time
estimate); only the measure stage is compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.validate.settings import HOLDOUT_SHARES, ValidationSettings
from models.prediction import LevelPrediction
from models.profile import Profile, Stage, merge, validate_profile

__all__ = [
    "calibration_stages",
    "holdout_levels",
    "holdout_profile",
    "overlay",
    "paired_stages",
    "plan_levels",
    "probe_stages",
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


def holdout_profile(profile: Profile) -> Profile:
    """The same profile with the held-out persona mix (:data:`HOLDOUT_SHARES`)."""
    return overlay(
        profile, {"personas": {name: {"share": s} for name, s in HOLDOUT_SHARES.items()}}
    )


def with_step_stages(profile: Profile, stages: Sequence[Stage]) -> Profile:
    """The profile whose ``step`` scenario is ``stages`` (how a planned load reaches a run)."""
    table = [stage.model_dump() for stage in stages]
    return overlay(profile, {"scenarios": {"step": {"stages": table}}})


def plan_levels(
    saturation_users: float,
    settings: ValidationSettings,
    cpu_at: Callable[[int], float] | None = None,
) -> list[int]:
    """The step load's user levels.

    Without ``cpu_at`` (or without ``cpu_targets``): from ``lowest_fraction`` to
    ``highest_fraction`` of N*, evenly spaced. With ``cpu_at`` (the model's CPU at a number
    of users, rising with it): a level at each of ``cpu_targets`` (found by bisection), then
    the remaining levels evenly between the last of them and ``highest_fraction`` of N*.
    """
    if not saturation_users > 0 or math.isinf(saturation_users):
        raise ValueError(f"the saturation point must be a positive number, got {saturation_users}")
    targets = sorted(settings.cpu_targets)
    if cpu_at is not None and targets and settings.levels > len(targets):
        light = [users_at_cpu(cpu_at, target, saturation_users) for target in targets]
        top = settings.highest_fraction * saturation_users
        rest = settings.levels - len(targets)
        start = max(light[-1], 1)
        heavy = [start + (top - start) * (i + 1) / rest for i in range(rest)]
        return sorted({max(1, round(n)) for n in [*light, *heavy]})
    count = settings.levels
    span = settings.highest_fraction - settings.lowest_fraction
    fractions = [settings.lowest_fraction + span * i / max(1, count - 1) for i in range(count)]
    levels = sorted({max(1, round(f * saturation_users)) for f in fractions})
    return levels


def holdout_levels(
    saturation_users: float,
    settings: ValidationSettings,
    cpu_at: Callable[[int], float] | None = None,
) -> list[int]:
    """The held-out mix's levels: where ``cpu_at`` (that mix's predicted CPU at a number of
    users) reaches the first ``holdout_levels`` of ``holdout_cpu_targets``, as the main step's
    light levels are placed; without ``cpu_at``, those fractions of its saturation point."""
    targets = settings.holdout_cpu_targets[: settings.holdout_levels]
    if cpu_at is not None and targets:
        return sorted({users_at_cpu(cpu_at, target, saturation_users) for target in targets})
    fractions = settings.holdout_fractions[: settings.holdout_levels]
    return sorted({max(1, round(f * saturation_users)) for f in fractions})


def users_at_cpu(cpu_at: Callable[[int], float], target: float, saturation_users: float) -> int:
    """The fewest users at which ``cpu_at`` reaches ``target`` (bisection up to N*)."""
    low, high = 1, max(2, math.ceil(saturation_users))
    if cpu_at(low) >= target:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        if cpu_at(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def paired_stages(
    predictions: Sequence[LevelPrediction],
    settings: ValidationSettings,
    login_cpu_ms: float = 0.0,
) -> list[Stage]:
    """A settle stage and a measure stage per level; durations from the settling estimate.

    The settle stage covers the model's settling time, the ramp, and the CPU the arriving
    users' logins cost (each hashes a password: ``login_cpu_ms``, tens of milliseconds), twice
    over. The measure stage lasts as long as the settling time again (at least
    ``min_measure_s``): a level that takes long to settle is also a noisy one to measure.
    Users are spawned at least fast enough to reach the top level in ten seconds.
    """
    top = max((level.users for level in predictions), default=0)
    spawn_rate = max(settings.spawn_rate, top / 10.0)
    stages: list[Stage] = []
    previous = 0
    for level in predictions:
        arriving = max(0, level.users - previous)
        ramp_s = abs(level.users - previous) / spawn_rate
        logins_s = arriving * login_cpu_ms / 1e3
        wanted_s = max(settings.min_settle_s, level.settling_time_s, 1.5 * ramp_s + 2 * logins_s)
        # max_settle_s caps the wait, never the ramp: Locust blocks while it ramps, so a
        # stage shorter than its ramp would be skipped.
        settle_s = max(min(settings.max_settle_s, wanted_s), 1.25 * ramp_s + 1.0)
        measure_s = min(settings.max_measure_s, max(settings.min_measure_s, level.settling_time_s))
        for duration_s in (settle_s, measure_s):
            stages.append(Stage(users=level.users, duration_s=duration_s, spawn_rate=spawn_rate))
        previous = level.users
    return stages


def calibration_stages(settings: ValidationSettings, login_cpu_ms: float = 0.0) -> list[Stage]:
    """The calibration run: a settle and a measure stage per calibration load.

    Loads are ``calibration_factors`` times ``calibration_users``; each measure stage lasts
    ``calibration_s``, each settle stage covers the ramp and the arriving users' logins
    (``login_cpu_ms`` each) as :func:`paired_stages` does, and at least ``min_settle_s``.
    """
    users = sorted(
        {max(1, round(f * settings.calibration_users)) for f in settings.calibration_factors}
    )
    spawn_rate = max(settings.spawn_rate, users[-1] / 10.0)
    stages: list[Stage] = []
    previous = 0
    for n in users:
        ramp_s = (n - previous) / spawn_rate
        logins_s = (n - previous) * login_cpu_ms / 1e3
        settle_s = max(settings.min_settle_s, 1.5 * ramp_s + 2 * logins_s, 1.25 * ramp_s + 1.0)
        for duration_s in (settle_s, settings.calibration_s):
            stages.append(Stage(users=n, duration_s=duration_s, spawn_rate=spawn_rate))
        previous = n
    return stages


def probe_stages(users: int, settings: ValidationSettings, login_cpu_ms: float) -> list[Stage]:
    """The capacity probe: one settle stage (the ramp and the logins, twice over) and one
    measured stage of ``probe_s`` seconds, at ``users``."""
    spawn_rate = max(settings.spawn_rate, users / 10.0)
    ramp_s = users / spawn_rate
    settle_s = max(settings.min_settle_s, 1.5 * ramp_s + 2 * users * login_cpu_ms / 1e3)
    return [
        Stage(users=users, duration_s=settle_s, spawn_rate=spawn_rate),
        Stage(users=users, duration_s=settings.probe_s, spawn_rate=spawn_rate),
    ]
