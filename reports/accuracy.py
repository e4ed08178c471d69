"""What a validation says about the model behind a plan: the first thing a verdict must say.

A capacity plan is only as good as the model that made it. When the same command also judged
that model on loads its calibration never saw (``harness demo``), the verdict opens with the
outcome, and a miss can never hide behind a green "Ready":

* a miss where the model was **optimistic** (it predicted less CPU or latency than was
  measured, or more capacity than the service had) means the plan may size too little: a
  ``fail``, so the verdict is "Not ready";
* a miss where it was **pessimistic** only (it predicted more than was measured) means the
  plan errs on the safe side: a ``warn``, and the headline says the model missed its goals;
* a validation that judged nothing, or did not finish, proves nothing either way: a ``warn``.

The instance decision (``harness validate --lab``, and ``harness demo --lab``) is weighed the
same way: K instances that did not hold the load is an optimistic miss (the plan's headline
number was too small), K-1 instances that already held it a pessimistic one, and a decision
that could not be measured leaves the model unproven.

The relative errors are (predicted - measured) / measured, so a negative error is optimistic
for every judged figure (CPU, mean and p95 latency); for the capacity a positive one is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.validation_records import DecisionRecord, TrialResult, ValidationDocument
from reports.verdict import Reason

__all__ = ["Miss", "ModelAccuracy", "accuracy_of"]

Direction = Literal["optimistic", "pessimistic"]

_FIGURE_NAMES = {"cpu_utilization": "CPU", "mean_ms": "mean latency", "p95_ms": "p95 latency"}


@dataclass(frozen=True, slots=True)
class Miss:
    """One judged figure outside its goal, and which way the model erred."""

    trial: str
    where: str
    figure: str
    relative_error: float
    goal: float
    direction: Direction
    detail: str | None = None
    """The miss in words where a relative error says too little (the instance decision)."""

    def __str__(self) -> str:
        if self.detail is not None:
            return f"{self.detail} ({self.direction})"
        return (
            f"{self.figure} {self.relative_error:+.0%} at {self.where} in "
            f"{self.trial} (goal ±{self.goal:.0%}, {self.direction})"
        )


@dataclass(frozen=True, slots=True)
class ModelAccuracy:
    """The validation's outcome as the verdict weighs it."""

    goals_met: bool
    misses: tuple[Miss, ...]
    unproven: tuple[str, ...]
    """Why the validation proves less than it should (incomplete, nothing judged)."""
    judged_levels: int
    decision_right: bool | None = None
    """The instance decision's outcome when the validation tested one on the lab."""

    @property
    def optimistic(self) -> tuple[Miss, ...]:
        return tuple(miss for miss in self.misses if miss.direction == "optimistic")

    @property
    def qualifier(self) -> str | None:
        """What the headline adds to a "Ready" the model cannot fully back; None when the
        model met every goal."""
        if self.goals_met and not self.unproven:
            return None
        if self.misses:
            return "by a model that missed its accuracy goals"
        return "by a model this validation could not judge"

    def reasons(self) -> list[Reason]:
        """The verdict's first reasons: the worst misses, or what held."""
        if self.optimistic:
            return [
                Reason(
                    "fail",
                    "The model missed its accuracy goals and under-predicted loads it was "
                    f"judged on, so this plan may size too little: {_listed(self.optimistic)}",
                )
            ]
        if self.misses:
            return [
                Reason(
                    "warn",
                    "The model missed its accuracy goals, erring on the safe side (it "
                    f"predicted more than was measured): {_listed(self.misses)}",
                )
            ]
        if self.unproven:
            return [Reason("warn", "The model's accuracy is unproven: " + "; ".join(self.unproven))]
        decided = " and its instance count held on the lab" if self.decision_right else ""
        return [
            Reason(
                "info",
                f"The model met its accuracy goals at all {self.judged_levels} judged levels, "
                f"on loads its calibration never saw{decided}",
            )
        ]


def _listed(misses: tuple[Miss, ...], shown: int = 3) -> str:
    worst = sorted(misses, key=lambda miss: abs(miss.relative_error), reverse=True)
    text = "; ".join(str(miss) for miss in worst[:shown])
    return text + (f"; and {len(worst) - shown} more" if len(worst) > shown else "")


def _trial_misses(trial: TrialResult) -> list[Miss]:
    goals = dict(trial.summary.goals) if trial.summary is not None else {}
    misses = []
    for level in trial.levels:
        if not level.judged:
            continue
        for key, name in _FIGURE_NAMES.items():
            error, goal = level.relative_error.get(key), goals.get(key)
            if error is None or goal is None or abs(error) <= goal:
                continue
            direction: Direction = "optimistic" if error < 0 else "pessimistic"
            misses.append(Miss(trial.name, f"{level.users} users", name, error, goal, direction))
    saturation, goal = trial.saturation, goals.get("saturation_rps")
    judged = saturation is not None and saturation.judged
    error = saturation.relative_error if saturation is not None and judged else None
    if error is not None and goal is not None and abs(error) > goal:
        # predicting more capacity than the service had is the optimistic error here
        direction = "optimistic" if error > 0 else "pessimistic"
        misses.append(Miss(trial.name, "saturation", "capacity", error, goal, direction))
    return misses


def _decision_misses(decision: DecisionRecord) -> list[Miss]:
    """The planner's K against the smallest count measured to hold the load."""
    if decision.right is not False or decision.planned is None:
        return []
    planned = int(decision.planned["instances"])
    held = sorted(m.instances for m in decision.measured if m.holds)
    at_planned = decision.at(planned)
    if at_planned is not None and not at_planned.holds:
        above = [count for count in held if count > planned]
        # none held: at least one more than the most measured is needed (a lower bound)
        needed = above[0] if above else max(m.instances for m in decision.measured) + 1
        direction: Direction = "optimistic"
        said = f"{planned} instances did not hold the load, {needed}{'' if above else '+'} needed"
    else:
        needed = held[0]
        direction = "pessimistic"
        said = f"{planned} instances planned, {needed} already held the load"
    error = (planned - needed) / needed
    return [
        Miss("instance decision", f"{planned} instances", "instances", error, 0.0, direction, said)
    ]


def accuracy_of(document: ValidationDocument) -> ModelAccuracy:
    """The validation document's judged misses, each with its direction."""
    misses: list[Miss] = []
    unproven: list[str] = []
    judged = 0
    if not document.complete:
        why = "; ".join(document.incomplete_reasons) or "no reason recorded"
        unproven.append(f"the validation did not finish ({why})")
    if not document.trials and document.decision is None:
        unproven.append("no trial ran")
    for trial in document.trials:
        misses.extend(_trial_misses(trial))
        judged += sum(1 for level in trial.levels if level.judged)
        saturation = trial.saturation
        if saturation is not None and not saturation.judged:
            unproven.append(f"{trial.name}: the capacity was not judged ({saturation.reason})")
    decision = document.decision
    if decision is not None:
        misses.extend(_decision_misses(decision))
        if decision.right is None:
            unproven.append(decision.miss() or "instance decision: not judged")
    if document.trials and judged == 0:
        unproven.append("no level was judged")
    summary = document.summary
    # A miss the figures above cannot show (a figure not measured, saturation not reached)
    # still leaves the goals unmet: name it rather than call the model accurate.
    if not summary.goals_met and not misses and not unproven:
        unproven.extend(summary.misses or ("its goals were not met",))
    right = decision.right if decision is not None else None
    return ModelAccuracy(summary.goals_met, tuple(misses), tuple(unproven), judged, right)
