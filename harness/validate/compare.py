"""Prediction against measurement, level by level, and what the goals say of it.

A level's relative error is (predicted - measured) / measured per metric, shown beside the
naive baseline's (harness/validate/baseline.py). The goals
(:data:`harness.validate.settings.GOALS`) judge a level where the model *predicted* at most
:data:`GOAL_CPU_LIMIT` of CPU and the load generator kept up; every other level is compared
and shown with the reason it is not judged. A level whose CPU the model under-predicts stays
judged, so a model cannot escape a miss by predicting too little.

The capacity is judged apart (:func:`saturation_check`): over the levels whose measured CPU
saturated the service, predicted against measured throughput.

On the lab's topology trial a level also has the pooler station (:mod:`models.pooler_records`):
the connections busy are judged with the level (within 20% or one connection), so a level
meets its goals only when they are met too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.validate.measure import ReplicatedLevel
from harness.validate.settings import (
    GOAL_CPU_LIMIT,
    GOALS,
    REPLICATED,
    SATURATED_CPU,
    SATURATION_GOAL,
)
from models.pooler_records import CONNECTIONS_GOAL, PoolerComparison, PoolerPrediction
from models.prediction import LevelPrediction
from models.validation_records import (
    COMPARED,
    Alternative,
    ComparedLevel,
    Figures,
    SaturationCheck,
    TrialSummary,
)

__all__ = [
    "LevelExpectations",
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


def _errors(predicted: Figures, measured: Figures) -> dict[str, float | None]:
    errors = {key: relative_error(predicted.get(key), measured.get(key)) for key in COMPARED}
    errors["error_rate"] = None  # predicted 0: a relative error means nothing; see measured
    return errors


def meets_goals(errors: Figures) -> bool:
    """Whether every goal's error is within its bound (a missing figure misses)."""
    return all(
        (error := errors.get(key)) is not None and abs(error) <= bound
        for key, bound in GOALS.items()
    )


@dataclass(frozen=True)
class LevelExpectations:
    """What was expected of one level before it ran: the judged model's prediction, the other
    fit's (None without one) and the naive baseline's figures."""

    prediction: LevelPrediction
    alternative: LevelPrediction | None
    alternative_fit: str
    baseline: Figures
    pooler: PoolerPrediction | None = None
    """The pooler station (the lab's topology trial); None elsewhere."""


def _figures(prediction: LevelPrediction) -> dict[str, float | None]:
    return {key: getattr(prediction, key) for key in COMPARED}


def _exclusion(predicted_cpu: float, loadgen_trustworthy: bool) -> str | None:
    if predicted_cpu > GOAL_CPU_LIMIT:
        return f"predicted CPU {predicted_cpu:.0%} is above the goals' {GOAL_CPU_LIMIT:.0%}"
    if not loadgen_trustworthy:
        return "the load generator was overloaded: its latencies are not the service's"
    return None


def compare(
    expected: Mapping[int, LevelExpectations],
    measured: Sequence[ReplicatedLevel],
    loadgen_warning: float,
) -> list[ComparedLevel]:
    """One compared level per measured level that was expected (by its users)."""
    levels = []
    for level in measured:
        expectation = expected.get(level.users)
        if expectation is None:
            continue
        figures = level.mean.figures()
        predicted = _figures(expectation.prediction)
        errors = _errors(predicted, figures)
        loadgen = level.mean.loadgen_cpu
        trustworthy = loadgen is None or loadgen <= loadgen_warning
        excluded = _exclusion(expectation.prediction.cpu_utilization, trustworthy)
        alternative = None
        if expectation.alternative is not None:
            other = _figures(expectation.alternative)
            other_errors = _errors(other, figures)
            meets = None if excluded else meets_goals(other_errors)
            alternative = Alternative(expectation.alternative_fit, other, other_errors, meets)
        pooler = (
            None
            if expectation.pooler is None
            else PoolerComparison.of(expectation.pooler, level.mean.pooler, excluded is None)
        )
        meets = None if excluded else meets_goals(errors) and (pooler is None or pooler.meets_goal)
        levels.append(
            ComparedLevel(
                users=level.users,
                predicted=predicted,
                measured=level.mean,
                relative_error=errors,
                loadgen_trustworthy=trustworthy,
                judged=excluded is None,
                meets_goals=meets,
                excluded_because=excluded,
                baseline=dict(expectation.baseline),
                baseline_error=_errors(expectation.baseline, figures),
                replications=len(level.runs),
                spread=level.spread,
                per_replication=level.runs,
                alternative=alternative,
                pooler=pooler,
            )
        )
    return levels


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


def _misses(levels: Sequence[ComparedLevel]) -> list[str]:
    misses = []
    for level in levels:
        if not level.judged or level.meets_goals:
            continue
        for key, bound in GOALS.items():
            error = level.relative_error.get(key)
            if error is None:
                misses.append(f"{level.users} users: {key} not measured")
            elif abs(error) > bound:
                misses.append(f"{level.users} users: {key} {error:+.1%} (goal ±{bound:.0%})")
        if level.pooler is not None and (miss := level.pooler.miss()) is not None:
            misses.append(f"{level.users} users: {miss}")
    return misses


def saturation_check(
    levels: Sequence[ComparedLevel], baseline_capacity_rps: float | None
) -> SaturationCheck:
    """The capacity: predicted and measured throughput over the levels whose measured CPU
    reached :data:`SATURATED_CPU`. Not judged, with the reason, when none did. The users'
    logins in those windows are recorded beside it (harness/validate/logins.py)."""
    saturated = [
        level
        for level in levels
        if level.measured.cpu_utilization is not None
        and level.measured.cpu_utilization >= SATURATED_CPU
    ]
    if not saturated:
        top = max(levels, key=lambda level: level.users, default=None)
        cpu = None if top is None else top.measured.cpu_utilization
        if top is None:
            where = "no level"
        elif cpu is None:
            # A saturated service can answer its metrics scrapes too late for two to fall
            # inside a short window: then its CPU there is unknown, not zero.
            where = (
                f"{top.users} users, CPU not measured: fewer than two metric scrapes in its window"
            )
        else:
            where = f"{top.users} users, CPU {cpu:.0%}"
        return SaturationCheck(
            users=(),
            predicted_rps=None,
            measured_rps=None if top is None else top.measured.throughput_rps,
            relative_error=None,
            measured_cpu_utilization=cpu,
            judged=False,
            meets_goal=None,
            reason=f"the service never saturated (highest: {where}); the capacity was not "
            "measured, so it cannot be judged",
        )

    def mean(values: Iterable[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    predicted = mean(level.predicted.get("throughput_rps") for level in saturated)
    measured = mean(level.measured.throughput_rps for level in saturated)
    other = [level.alternative for level in saturated if level.alternative is not None]
    alternative = mean(a.predicted.get("throughput_rps") for a in other) if other else None
    error = relative_error(predicted, measured)
    return SaturationCheck(
        users=tuple(level.users for level in saturated),
        predicted_rps=predicted,
        measured_rps=measured,
        relative_error=error,
        measured_cpu_utilization=mean(level.measured.cpu_utilization for level in saturated),
        judged=True,
        meets_goal=error is not None and abs(error) <= SATURATION_GOAL,
        baseline_rps=baseline_capacity_rps,
        baseline_error=relative_error(baseline_capacity_rps, measured),
        alternative_rps=alternative,
        alternative_error=relative_error(alternative, measured),
        login_cpu=mean(level.measured.login_cpu for level in saturated),
    )


def summarise(levels: Sequence[ComparedLevel], saturation: SaturationCheck | None) -> TrialSummary:
    """The worst judged error per metric and the baseline's; goals met only when every judged
    level met them, and the saturation too where the trial judges it; each miss in words."""
    judged = [level for level in levels if level.judged]
    misses = _misses(judged)
    if not judged:
        misses.append("no level was judged (every one excluded; see excluded_because)")
    if saturation is not None:
        if not saturation.judged:
            misses.append(f"saturation: {saturation.reason}")
        elif not saturation.meets_goal:
            error = saturation.relative_error
            misses.append(
                f"saturation: predicted {saturation.predicted_rps or 0:.0f} req/s, measured "
                f"{saturation.measured_rps or 0:.0f} req/s "
                f"({'n/a' if error is None else f'{error:+.1%}'}, goal ±{SATURATION_GOAL:.0%})"
            )
    return TrialSummary(
        levels_compared=len(levels),
        levels_judged=len(judged),
        worst_abs_relative_error=_worst(level.relative_error for level in judged),
        baseline_worst_abs_relative_error=_worst(level.baseline_error for level in judged),
        goals={
            **GOALS,
            **({"saturation_rps": SATURATION_GOAL} if saturation else {}),
            **({"connections_busy": CONNECTIONS_GOAL} if any(lv.pooler for lv in levels) else {}),
        },
        goals_met=not misses,
        replications=max((level.replications for level in levels), default=0),
        widest_spread=widest_spread(judged),
        misses=tuple(misses),
    )
