"""Prediction against measurement, level by level, and what the goals say of it.

A level's relative error is (predicted - measured) / measured per metric. The goals
(:data:`harness.validate.settings.GOALS`) apply up to :data:`GOAL_CPU_LIMIT` of measured CPU;
above it a level is still compared and shown, never judged.

Each level can also be compared with the prediction moved to the machine speed measured while
it ran (:func:`at_measured_speed`): the difference between the two is the machine's drift,
not the model's error, so the goals judge the prediction as made, before the level ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from harness.validate.measure import ReplicatedLevel
from harness.validate.settings import GOAL_CPU_LIMIT, GOALS, REPLICATED, SATURATED_CPU
from models.prediction import LevelPrediction
from models.validation_records import (
    COMPARED,
    AtMeasuredSpeed,
    ComparedLevel,
    Figures,
    MeasuredLevel,
    SaturationCheck,
    TrialSummary,
)

__all__ = [
    "at_measured_speed",
    "compare",
    "meets_goals",
    "relative_error",
    "saturation_check",
    "summarise",
    "widest_spread",
]


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    """(predicted - measured) / measured; None when either is missing or measured is 0."""
    if predicted is None or measured is None or measured == 0:
        return None
    return (predicted - measured) / measured


def _predicted_and_errors(
    prediction: LevelPrediction, measured: MeasuredLevel
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """A level's predicted figures (:data:`COMPARED`) and their relative errors."""
    predicted: dict[str, float | None] = {key: getattr(prediction, key) for key in COMPARED}
    errors = {key: relative_error(predicted[key], measured.figure(key)) for key in COMPARED}
    errors["error_rate"] = None  # predicted 0: a relative error means nothing; see measured
    return predicted, errors


def meets_goals(errors: Figures, cpu: float | None) -> bool | None:
    """Whether every goal's error is within its bound; None above the goals' CPU range."""
    if cpu is not None and cpu > GOAL_CPU_LIMIT:
        return None
    if any(errors.get(key) is None for key in GOALS):
        return False
    return all(abs(errors[key] or 0.0) <= bound for key, bound in GOALS.items())


def compare(
    predictions: Sequence[LevelPrediction],
    measured: Sequence[ReplicatedLevel],
    loadgen_warning: float,
) -> list[ComparedLevel]:
    """One compared level per measured level the model predicted."""
    by_users = {p.users: p for p in predictions}
    levels = []
    for level in measured:
        prediction = by_users.get(level.users)
        if prediction is None:
            continue
        predicted, errors = _predicted_and_errors(prediction, level.mean)
        loadgen, cpu = level.mean.loadgen_cpu, level.mean.cpu_utilization
        levels.append(
            ComparedLevel(
                users=level.users,
                predicted=predicted,
                measured=level.mean,
                relative_error=errors,
                loadgen_trustworthy=loadgen is None or loadgen <= loadgen_warning,
                within_goal_range=cpu is None or cpu <= GOAL_CPU_LIMIT,
                meets_goals=meets_goals(errors, cpu),
                replications=len(level.runs),
                spread=level.spread,
                per_replication=level.runs,
            )
        )
    return levels


def at_measured_speed(
    levels: Sequence[ComparedLevel],
    predictions: Sequence[LevelPrediction],
    curve_reference_ms: float | None,
) -> list[ComparedLevel]:
    """``levels``, each with the prediction made at the machine speed measured while it ran
    (``predictions``: models/service_curve.py, "machine speed") and its errors. Levels
    without a speed reference (or a curve without one) are returned unchanged."""
    by_users = {p.users: p for p in predictions}
    moved = []
    for level in levels:
        speed = level.measured.speed_reference_ms
        prediction = by_users.get(level.users)
        if speed is None or prediction is None or not curve_reference_ms:
            moved.append(level)
            continue
        predicted, errors = _predicted_and_errors(prediction, level.measured)
        block = AtMeasuredSpeed(
            speed_reference_ms=speed,
            speed_factor=speed / curve_reference_ms,
            predicted=predicted,
            relative_error=errors,
            meets_goals=meets_goals(errors, level.measured.cpu_utilization),
        )
        moved.append(replace(level, at_measured_speed=block))
    return moved


def _worst(errors: Iterable[Figures]) -> dict[str, float | None]:
    worst: dict[str, list[float]] = {key: [] for key in COMPARED}
    for one in errors:
        for key in COMPARED:
            value = one.get(key)
            if value is not None:
                worst[key].append(abs(value))
    return {key: max(values) if values else None for key, values in worst.items()}


def widest_spread(levels: Sequence[ComparedLevel]) -> dict[str, float | None]:
    """The largest relative half-range per :data:`REPLICATED` metric over ``levels`` (None
    where no level has a spread for it)."""
    widest: dict[str, float | None] = {}
    for key in REPLICATED:
        halves = [
            spread.relative_half_range
            for level in levels
            if (spread := level.spread.get(key)) is not None
            and spread.relative_half_range is not None
        ]
        widest[key] = max(halves) if halves else None
    return widest


def summarise(levels: Sequence[ComparedLevel]) -> TrialSummary:
    """The worst absolute relative error per metric over the levels the goals apply to; the
    same at the measured machine speed when every such level has it."""
    applicable = [level for level in levels if level.within_goal_range]
    blocks = [level.at_measured_speed for level in applicable]
    speeds = [block for block in blocks if block is not None]
    at_speed = bool(applicable) and len(speeds) == len(applicable)
    return TrialSummary(
        levels_compared=len(levels),
        levels_within_goal_range=len(applicable),
        worst_abs_relative_error=_worst(level.relative_error for level in applicable),
        goals=dict(GOALS),
        goals_met=bool(applicable) and all(level.meets_goals for level in applicable),
        replications=max((level.replications for level in levels), default=0),
        widest_spread=widest_spread(applicable),
        at_measured_speed_worst=_worst(b.relative_error for b in speeds) if at_speed else None,
        at_measured_speed_goals_met=all(b.meets_goals for b in speeds) if at_speed else None,
    )


def saturation_check(levels: Sequence[ComparedLevel]) -> SaturationCheck | None:
    """Predicted and measured throughput at the highest level (planned past saturation);
    ``saturated`` only when the service's CPU there says so (:data:`SATURATED_CPU`)."""
    if not levels:
        return None
    top = max(levels, key=lambda level: level.users)
    cpu = top.measured.cpu_utilization
    return SaturationCheck(
        users=top.users,
        predicted_rps=top.predicted.get("throughput_rps"),
        measured_rps=top.measured.throughput_rps,
        relative_error=top.relative_error.get("throughput_rps"),
        measured_cpu_utilization=cpu,
        saturated=cpu is not None and cpu >= SATURATED_CPU,
        at_measured_speed=top.at_measured_speed,
    )
