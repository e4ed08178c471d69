"""``harness validate`` (and the measuring half of ``harness demo``), top to bottom: the
calibration, the trials, and ``validation.json`` after every step, so a crash or Ctrl-C
halfway leaves every finished run and a document marked incomplete.

Layout::

    runs/<stamp>-validate/
        validation.json        per level: predicted, measured, relative error (+ held-out mix)
        calibration.toml       the profile overlay of measured service demands
        calibration.json       both estimates per endpoint and their agreement
        <stamp>-step/          the calibration run (a short step: the service curve's stages)
        <stamp>-step-2/        the capacity probe, when it runs
        <stamp>-step-3/ ...    the step load's replications, then the held-out mix's run
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness import artifacts
from harness.exit_codes import ExitCode
from harness.validate.fit import (
    CalibratedModel,
    calibrate,
    fit_curve,
    login_cpu_ms,
    probe_point,
)
from harness.validate.plan import (
    calibration_stages,
    probe_stages,
    validation_profile,
    with_step_stages,
)
from harness.validate.runs import Runs, pinned_cpus
from harness.validate.settings import ValidationSettings
from harness.validate.trial import Trial, held_out_mix, step_load
from models.calibration import CalibrationError
from models.prediction import Prediction
from models.profile import Profile
from models.service_curve import LoadPoint
from models.validation_records import ProbeRecord, TrialResult, ValidationDocument

__all__ = ["ValidationOutcome", "validate"]


@dataclass
class ValidationOutcome:
    """What a validation produced; ``exit_code`` follows the CLI's conventions."""

    directory: Path
    document: ValidationDocument
    exit_code: int = ExitCode.OK
    step_run: Path | None = None
    """The step load's first run: its report holds the comparison."""
    report: Path | None = None

    def save(self) -> None:
        artifacts.write_json(self.directory / "validation.json", self.document.to_json())

    def record_step(self, result: TrialResult) -> None:
        self.document.step = result
        self.save()

    def record_holdout(self, result: TrialResult) -> None:
        self.document.holdout = result
        self.save()


def validate(
    profile: Profile,
    settings: ValidationSettings,
    out: Path,
    *,
    pin: bool = True,
    log: TextIO = sys.stdout,
) -> ValidationOutcome:
    """Calibrate, predict, measure, compare (module docstring); Ctrl-C keeps what finished."""
    directory = artifacts.unique_dir(out, "validate")  # holds runs, not a run itself
    document = ValidationDocument(
        started_at=artifacts.iso(artifacts.utc_now()),
        settings=dataclasses.asdict(settings),
        machine=artifacts.machine(),
    )
    outcome = ValidationOutcome(directory, document)
    try:
        with pinned_cpus(pin) as pinning:
            document.cpu_pinning = pinning.to_json()
            outcome.save()
            runs = Runs(directory, pinning, settings.seed_scale)
            _validate(profile, settings, runs, outcome, log)
    except KeyboardInterrupt:
        document.incomplete("interrupted (Ctrl-C); the runs so far are kept")
    return _finish(outcome)


def _validate(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    outcome: ValidationOutcome,
    log: TextIO,
) -> None:
    model = _calibrate(
        validation_profile(profile, settings.think_scale), settings, runs, outcome, log
    )
    if model is None:
        return
    warning = profile.gates.loadgen_cpu_warning
    step = step_load(model, settings)
    outcome.document.saturation_users_predicted = step.prediction.saturation_users
    outcome.document.latency_floor_ms = step.prediction.latency_floor_ms
    _announce_step(step, settings, log)
    outcome.save()
    outcome.record_step(step.run(runs, warning, outcome.record_step, log))
    measured = outcome.document.step
    if measured is None or not measured.runs:
        return
    _publish(step.prediction, measured, outcome)
    outcome.step_run = Path(measured.runs[0])
    outcome.report = outcome.step_run / "report.html"
    if settings.holdout:
        holdout = held_out_mix(model, settings)
        print(
            f"validate: held-out mix {holdout.model.shares}, levels {list(holdout.levels)}",
            file=log,
        )
        outcome.record_holdout(holdout.run(runs, warning, outcome.record_holdout, log))
        if outcome.document.holdout is not None:
            _publish(holdout.prediction, outcome.document.holdout, outcome)


def _calibrate(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    outcome: ValidationOutcome,
    log: TextIO,
) -> CalibratedModel | None:
    """The calibration run, the capacity probe, and the model they give (None, with the
    reason in the document, when the calibration run did not complete)."""
    document = outcome.document
    stages = calibration_stages(settings, login_cpu_ms(profile))
    print(f"validate: calibration run, {sorted({s.users for s in stages})} users", file=log)
    result = runs.step(with_step_stages(profile, stages))
    document.calibration_run = None if result.directory is None else str(result.directory)
    if result.code == ExitCode.UNREACHABLE or result.directory is None:
        document.incomplete("the calibration run did not complete")
        return None
    try:
        calibrated, routes = calibrate(result.directory, profile, outcome.directory)
    except CalibrationError as exc:
        document.incomplete(f"the calibration run gave nothing to calibrate on: {exc}")
        return None
    saturation = None
    if settings.capacity_probe:
        light = fit_curve(result.directory, routes)
        if light.curve is not None:
            light_model = CalibratedModel(calibrated, routes, light.curve, settings.spawn_rate)
            saturation = _probe(profile, light_model, settings, runs, outcome, log)
        outcome.save()
    fit = fit_curve(result.directory, routes, saturation=saturation)
    document.service_curve = None if fit.curve is None else fit.curve.to_json()
    document.service_curve_error = fit.error
    if fit.warning is not None:
        document.warnings.append(fit.warning)
    return CalibratedModel(calibrated, routes, fit.curve, settings.spawn_rate)


def _probe(
    profile: Profile,
    light: CalibratedModel,
    settings: ValidationSettings,
    runs: Runs,
    outcome: ValidationOutcome,
    log: TextIO,
) -> LoadPoint | None:
    """Run the capacity probe; its saturated point, or None with the warning that says why
    it is left out (harness/validate/fit.py)."""
    users = max(1, round(settings.probe_factor * light.saturation_users))
    print(
        f"validate: capacity probe, {users} users at {settings.probe_think_scale:g} x the "
        "think time",
        file=log,
    )
    probe_profile = validation_profile(profile, settings.probe_think_scale)
    stages = probe_stages(users, settings, light.login_cpu_ms)
    result = runs.step(with_step_stages(probe_profile, stages))
    record = ProbeRecord(users, None if result.directory is None else str(result.directory))
    outcome.document.capacity_probe = record
    point, warning = probe_point(result.directory, result.code != ExitCode.UNREACHABLE)
    if point is not None:
        record.throughput_rps = point.throughput_rps
        record.cpu_utilization = point.cpu_utilization
        record.speed_reference_ms = point.reference_ms
    if warning is not None:
        outcome.document.warnings.append(warning)
        return None
    record.used = True
    return point


def _announce_step(trial: Trial, settings: ValidationSettings, log: TextIO) -> None:
    low, high = settings.replications, settings.max_replications
    runs_text = f"{low} to {high} runs" if high > low else f"{low} run{'s' if low > 1 else ''}"
    print(
        f"validate: predicted saturation at {trial.prediction.saturation_users:.0f} users; "
        f"step load {list(trial.levels)} ({trial.planned_s:.0f} s), {runs_text}",
        file=log,
    )


def _publish(prediction: Prediction, result: TrialResult, outcome: ValidationOutcome) -> None:
    """The trial's first run gets the calibrated prediction (and, once replicated, the
    document whose spread its report shows), and its report is rendered again with them."""
    if not result.runs:
        return
    run_dir = Path(result.runs[0])
    prediction.write(run_dir / "prediction.json")
    if len(result.runs) > 1:
        artifacts.write_json(run_dir / "validation.json", outcome.document.to_json())
    artifacts.render_report(run_dir)


def _finish(outcome: ValidationOutcome) -> ValidationOutcome:
    """Collect the trials' reasons, mark the document complete or not, write it (and a copy
    beside the step load's report), and set the exit code."""
    document = outcome.document
    for trial in (document.step, document.holdout):
        if trial is not None:
            for reason in trial.incomplete_reasons:
                document.incomplete(reason)
            if not trial.runs:
                document.incomplete(f"the {trial.name} made no run")
    document.complete = not document.incomplete_reasons
    document.finished_at = artifacts.iso(artifacts.utc_now())
    outcome.save()
    if outcome.step_run is not None:
        artifacts.write_json(outcome.step_run / "validation.json", document.to_json())
    if not document.complete:
        outcome.exit_code = ExitCode.UNREACHABLE
    return outcome
