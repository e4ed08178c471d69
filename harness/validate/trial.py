"""A trial: one load the calibration did not see, predicted, then measured, then compared.

    CalibratedModel ── predict(levels) ──► Prediction ──► settle + measure stages per level
                                                                │
             replications: run on a fresh service, read its measure stages, aggregate,
             compare (and at the measured machine speed) ──► TrialResult, after every run
                                                                │
                         again while the noise is as large as the goals resolve

Every load a validation measures goes through one :class:`Trial`: the step load, the
held-out persona mix, and any other configuration, so each is predicted, run and judged the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TextIO

from harness.errors import HarnessError
from harness.validate.compare import at_measured_speed, compare, saturation_check, summarise
from harness.validate.fit import CalibratedModel
from harness.validate.measure import (
    aggregate_replications,
    needs_replication,
    read_measured,
)
from harness.validate.plan import (
    holdout_levels,
    holdout_profile,
    paired_stages,
    plan_levels,
    with_step_stages,
)
from harness.validate.runs import Runs
from harness.validate.settings import ValidationSettings
from models.prediction import Prediction
from models.profile import Profile, Stage
from models.validation_records import ComparedLevel, MeasuredLevel, TrialResult

__all__ = ["Trial", "held_out_mix", "step_load"]


@dataclass(frozen=True)
class Trial:
    """One load to predict and measure: ``model`` at ``levels`` users, run at least
    ``min_runs`` and at most ``max_runs`` times (the extra runs while the noise demands)."""

    name: str
    model: CalibratedModel
    levels: tuple[int, ...]
    settings: ValidationSettings
    min_runs: int = 1
    max_runs: int = 1

    @cached_property
    def prediction(self) -> Prediction:
        """The model's prediction of every level, made before anything runs."""
        return self.model.predict(self.levels)

    @cached_property
    def stages(self) -> tuple[Stage, ...]:
        """A settle and a measure stage per level (harness/validate/plan.py)."""
        return tuple(paired_stages(self.prediction.levels, self.settings, self.model.login_cpu_ms))

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
        """The replications' mean per level against the prediction, and against the
        prediction moved to the machine speed each level was measured at."""
        levels = compare(
            self.prediction.levels, aggregate_replications(replications), loadgen_warning
        )
        speeds = {
            level.users: speed
            for level in levels
            if (speed := level.measured.speed_reference_ms) is not None
        }
        curve = self.model.curve
        if not speeds or curve is None:
            return levels
        moved = self.model.predict(self.levels, speeds)
        return at_measured_speed(levels, moved.levels, curve.reference_ms)

    def run(
        self,
        runs: Runs,
        loadgen_warning: float,
        on_result: Callable[[TrialResult], None],
        log: TextIO,
    ) -> TrialResult:
        """Run the replications; ``on_result`` sees the result after every one of them, so a
        crash halfway leaves what finished. A replication that fails or is incomplete stops
        the trial, with the reason in the result."""
        measured: list[list[MeasuredLevel]] = []
        result = TrialResult(self.name, shares=self.model.shares)
        while needs_replication(
            result.levels,
            len(measured),
            self.min_runs,
            self.max_runs,
            self.settings.replication_spread,
        ):
            number = len(measured) + 1
            try:
                outcome = runs.step(self.profile)
            except HarnessError as exc:
                return _stopped(result, f"replication {number} of the {self.name} failed: {exc}")
            if outcome.directory is None or not outcome.wrote_run_json:
                return _stopped(
                    result, f"replication {number} of the {self.name} wrote no run.json"
                )
            measured.append(read_measured(outcome.directory))
            result = self._result(result, outcome.directory, measured, loadgen_warning)
            on_result(result)
            self._log(result, log)
            if not outcome.complete:
                return _stopped(
                    result, f"replication {number} of the {self.name} was incomplete "
                    "(see its run.json)",
                )  # fmt: skip
        return _finished(result)

    def _result(
        self,
        previous: TrialResult,
        run_dir: Path,
        measured: Sequence[Sequence[MeasuredLevel]],
        loadgen_warning: float,
    ) -> TrialResult:
        levels = tuple(self.compare(measured, loadgen_warning))
        return TrialResult(
            name=self.name,
            runs=(*previous.runs, str(run_dir)),
            levels=levels,
            summary=summarise(levels),
            saturation=saturation_check(levels),
            shares=previous.shares,
        )

    def _log(self, result: TrialResult, log: TextIO) -> None:
        """One line per replication: its run and, from the second, the widest spread."""
        done = len(result.runs)
        line = f"validate: {self.name} replication {done}: {Path(result.runs[-1]).name}"
        if done > 1 and result.summary is not None:
            widest = result.summary.widest_spread
            line += "; widest spread up to 85% CPU: " + ", ".join(
                f"{label} {'n/a' if (half := widest[key]) is None else f'±{half:.1%}'}"
                for key, label in (("throughput_rps", "throughput"), ("mean_ms", "mean"))
            )
            if done >= self.min_runs and needs_replication(
                result.levels, done, self.min_runs, self.max_runs, self.settings.replication_spread
            ):
                line += "; over half an accuracy goal, so another run"
        print(line, file=log)


def step_load(model: CalibratedModel, settings: ValidationSettings) -> Trial:
    """The step load: light levels where the model predicts the goals' CPU targets, then up
    to past the saturation point it predicts (harness/validate/plan.py), replicated."""
    cpu_at = model.cpu_at if model.curve is not None else None
    levels = plan_levels(model.saturation_users, settings, cpu_at)
    runs = (settings.replications, settings.max_replications)
    return Trial("step load", model, tuple(levels), settings, *runs)


def held_out_mix(model: CalibratedModel, settings: ValidationSettings) -> Trial:
    """The held-out persona mix on the same calibration (nothing is recalibrated), at the
    levels where the model predicts its CPU targets for that mix; one run."""
    mix = model.for_mix(holdout_profile)
    cpu_at = mix.cpu_at if mix.curve is not None else None
    levels = holdout_levels(mix.saturation_users, settings, cpu_at)
    return Trial("held-out mix", mix, tuple(levels), settings)


def _stopped(result: TrialResult, reason: str) -> TrialResult:
    return replace(result, complete=False, incomplete_reasons=(*result.incomplete_reasons, reason))


def _finished(result: TrialResult) -> TrialResult:
    return replace(result, complete=bool(result.runs) and not result.incomplete_reasons)
