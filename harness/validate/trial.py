"""A trial: one load the calibration did not see, predicted, then measured, then compared.

    CalibratedModel ── predict(levels) ──► Prediction ──► settle + measure stages per level
         (+ the other fit, + the naive baseline)                   │
             replications: run on a fresh service, read its measure stages, aggregate,
             compare with the prediction, the other fit and the baseline ──► TrialResult
                                                                   │
                         again while the noise is as large as the goals resolve

Every load a validation measures goes through one :class:`Trial`: the same mix far beyond the
calibration (:func:`far_beyond`), the held-out persona mix (:func:`held_out_mix`), held-out
think times (:func:`held_out_think`), the lab's topology
(:func:`harness.validate.topology_trial.topology_trial`), and any other configuration, so each
is predicted, run and judged the same way. What differs between them is data: the model that
predicts (:class:`~harness.validate.fit.Predictor`), how a run's measure stages are read
(``measure``), and, on the lab, the pooler station each level is also judged on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

from harness.errors import HarnessError
from harness.validate.compare import LevelExpectations, compare, saturation_check, summarise
from harness.validate.fit import Models, Predictor
from harness.validate.measure import aggregate_replications, needs_replication, read_measured
from harness.validate.plan import holdout_profile, paired_stages, think_profile, with_step_stages
from harness.validate.runs import Runs
from harness.validate.settings import HOLDOUT_SHARES, ValidationSettings
from models.pooler_records import PoolerPrediction
from models.prediction import Prediction
from models.profile import Profile, Stage
from models.validation_records import ComparedLevel, MeasuredLevel, TrialResult

__all__ = ["Trial", "far_beyond", "held_out_mix", "held_out_think"]


@dataclass(frozen=True)
class Trial:
    """One load to predict and measure: ``models`` at ``levels`` users, run at least
    ``min_runs`` and at most ``max_runs`` times (the extra runs while the noise demands)."""

    name: str
    what_differs: str
    models: Models
    levels: tuple[int, ...]
    settings: ValidationSettings
    think_scale: float
    min_runs: int = 1
    max_runs: int = 1
    judge_saturation: bool = False
    """Whether this trial's top levels are planned past saturation and judge the capacity."""
    measure: Callable[[Path], list[MeasuredLevel]] = read_measured
    """How one run's measure stages are read (the lab's topology trial reads each instance's
    CPU group and PgBouncer's samples too)."""
    pooler_at: Callable[[int], PoolerPrediction | None] | None = None
    """The model's pooler station at a level, judged with it (the lab's topology trial)."""
    lab: Mapping[str, Any] | None = None
    """The lab the trial runs on, as its result records it (None: the pinned service)."""
    past_capacity: frozenset[int] = frozenset()
    """Levels planned past the predicted capacity, measured for their throughput alone: held
    for the ramp and ``unjudged_measure_s``, not for a settling time that diverges there (a closed
    loop past its capacity fills its queue within the ramp)."""

    @property
    def model(self) -> Predictor:
        return self.models.judged

    @cached_property
    def prediction(self) -> Prediction:
        """The judged model's prediction of every level, made before anything runs."""
        return self.model.predict(self.levels)

    @cached_property
    def expectations(self) -> dict[int, LevelExpectations]:
        """Per level: the judged prediction, the other fit's and the baseline's figures."""
        other = self.models.alternative
        others = {} if other is None else {p.users: p for p in other.predict(self.levels).levels}
        baseline = self.models.baseline
        return {
            level.users: LevelExpectations(
                prediction=level,
                alternative=others.get(level.users),
                alternative_fit=self.models.alternative_fit,
                baseline={}
                if baseline is None
                else baseline.predict(self.model.calibrated, level.users),
                pooler=None if self.pooler_at is None else self.pooler_at(level.users),
            )
            for level in self.prediction.levels
        }

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """A settle and a measure stage per level (harness/validate/plan.py)."""
        levels = [
            replace(level, settling_time_s=0.0) if level.users in self.past_capacity else level
            for level in self.prediction.levels
        ]
        return tuple(paired_stages(levels, self.settings, self.model.login_cpu_ms))

    @cached_property
    def profile(self) -> Profile:
        """The calibrated profile whose ``step`` scenario is :attr:`stages`."""
        return with_step_stages(self.model.calibrated, self.stages)

    @property
    def planned_s(self) -> float:
        """The length of one run's stages, in seconds."""
        return sum(stage.duration_s for stage in self.stages)

    def compare(
        self, replications: Sequence[Sequence[MeasuredLevel]], loadgen_warning: float
    ) -> list[ComparedLevel]:
        """The replications' mean per level against what was expected of it."""
        return compare(self.expectations, aggregate_replications(replications), loadgen_warning)

    def result(self, runs: Sequence[str], levels: Sequence[ComparedLevel]) -> TrialResult:
        """A result of this trial from its runs and compared levels (not yet complete)."""
        baseline = self.models.baseline
        capacity = None if baseline is None else baseline.capacity_rps
        saturation = saturation_check(levels, capacity) if self.judge_saturation else None
        return TrialResult(
            name=self.name,
            what_differs=self.what_differs,
            runs=tuple(runs),
            levels=tuple(levels),
            summary=summarise(levels, saturation),
            saturation=saturation,
            shares=self.model.shares,
            think_scale=self.think_scale,
            lab=self.lab,
        )

    def run(
        self,
        runs: Runs,
        loadgen_warning: float,
        on_result: Callable[[TrialResult], None],
        log: TextIO,
        may_extend: Callable[[float], bool] | None = None,
    ) -> TrialResult:
        """Run the replications; ``on_result`` sees the result after every one of them, so a
        crash halfway leaves what finished. A replication that fails or is incomplete stops
        the trial, with the reason in the result. An optional replication (past
        ``min_runs``) runs only when ``may_extend`` of its stages' seconds says it fits."""
        measured: list[list[MeasuredLevel]] = []
        result = TrialResult(self.name, self.what_differs, shares=self.model.shares, lab=self.lab)
        while needs_replication(
            result.levels,
            len(measured),
            self.min_runs,
            self.max_runs,
            self.settings.replication_spread,
        ):
            number = len(measured) + 1
            if number > self.min_runs and may_extend is not None and not may_extend(self.planned_s):
                print(
                    f"validate: {self.name}: replication {number} would pass the time budget; "
                    "not run",
                    file=log,
                )
                break
            try:
                outcome = runs.step(self.profile)
            except HarnessError as exc:
                return _stopped(result, f"replication {number} of the {self.name} failed: {exc}")
            if outcome.directory is None or not outcome.wrote_run_json:
                return _stopped(
                    result, f"replication {number} of the {self.name} wrote no run.json"
                )
            measured.append(self.measure(outcome.directory))
            levels = self.compare(measured, loadgen_warning)
            result = self.result((*result.runs, str(outcome.directory)), levels)
            on_result(result)
            self._log(result, log)
            if not outcome.complete:
                return _stopped(
                    result, f"replication {number} of the {self.name} was incomplete "
                    "(see its run.json)",
                )  # fmt: skip
        return replace(result, complete=bool(result.runs))

    def _log(self, result: TrialResult, log: TextIO) -> None:
        """One line per replication: its run and, from the second, the widest spread."""
        done = len(result.runs)
        line = f"validate: {self.name} replication {done}: {Path(result.runs[-1]).name}"
        if done > 1 and result.summary is not None:
            widest = result.summary.widest_spread
            line += "; widest spread of the judged levels: " + ", ".join(
                f"{label} {'n/a' if (half := widest[key]) is None else f'±{half:.1%}'}"
                for key, label in (("cpu_utilization", "CPU"), ("mean_ms", "mean"))
            )
            if done >= self.min_runs and needs_replication(
                result.levels, done, self.min_runs, self.max_runs, self.settings.replication_spread
            ):
                line += "; over half an accuracy goal, so another run"
        print(line, file=log)


def _stopped(result: TrialResult, reason: str) -> TrialResult:
    return replace(result, complete=False, incomplete_reasons=(*result.incomplete_reasons, reason))


def far_beyond(models: Models, settings: ValidationSettings, heaviest_users: int) -> Trial:
    """The calibration's own mix, from light load to past saturation: levels where the model
    predicts each extrapolation CPU target, at multiples of the calibration's heaviest load
    past those, and one past the predicted capacity (``saturation_factor``); replicated, and
    judging the capacity."""
    model = models.judged
    levels = set(model.levels_at_cpu(settings.extrapolation_cpu_targets))
    highest = max(levels)
    # ceil, not round: "three times the heaviest load or more" must hold for odd loads too;
    # a multiple the CPU targets' levels already pass adds nothing to that
    beyond = {max(1, math.ceil(f * heaviest_users)) for f in settings.beyond_factors}
    levels |= {users for users in beyond if users > highest}
    past = set()
    if settings.saturation_factor is not None:
        past.add(math.ceil(settings.saturation_factor * highest))
    levels |= past
    top = max(levels)
    return Trial(
        name="far beyond the calibration",
        what_differs=(
            f"the same mix at up to {top / heaviest_users:.1f} times the calibration's "
            f"heaviest load ({heaviest_users} users), through saturation"
        ),
        models=models,
        levels=tuple(sorted(levels)),
        settings=settings,
        think_scale=settings.think_scale,
        min_runs=settings.replications,
        max_runs=settings.max_replications,
        judge_saturation=True,
        past_capacity=frozenset(past),
    )


def held_out_mix(models: Models, settings: ValidationSettings) -> Trial:
    """The held-out persona mix on the same calibration (nothing is recalibrated), at the
    levels where the model predicts its CPU targets for that mix; one run."""
    mix = models.for_workload(holdout_profile)
    shares = "/".join(f"{share:.0%}" for share in HOLDOUT_SHARES.values())
    return Trial(
        name="held-out mix",
        what_differs=f"another persona mix ({shares} homeowners/contractors/operators)",
        models=mix,
        levels=tuple(mix.judged.levels_at_cpu(settings.holdout_cpu_targets)),
        settings=settings,
        think_scale=settings.think_scale,
    )


def held_out_think(models: Models, settings: ValidationSettings) -> Trial:
    """Held-out think times (``holdout_think_factor`` times the calibration's) on the same
    calibration, at the levels where the model predicts its CPU targets; one run."""
    factor = settings.holdout_think_factor
    slower = models.for_workload(lambda profile: think_profile(profile, factor))
    return Trial(
        name="held-out think time",
        what_differs=f"think times {factor:g} times the calibration's",
        models=slower,
        levels=tuple(slower.judged.levels_at_cpu(settings.holdout_cpu_targets)),
        settings=settings,
        think_scale=settings.think_scale * factor,
    )
