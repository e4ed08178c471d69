"""``harness validate`` (and the measuring half of ``harness demo``), top to bottom: the light
calibration, the trials, and ``validation.json`` after every step, so a crash or Ctrl-C
halfway leaves every finished run and a document marked incomplete.

Layout::

    runs/<stamp>-validate/
        validation.json        the calibration, every trial's levels and the verdict
        calibration.toml       the profile overlay of measured service demands
        calibration.json       both estimates per endpoint and their agreement
        <stamp>-step/          the pilot (one light stage: CPU per user)
        <stamp>-step-2/        the calibration (light stages only)
        <stamp>-step-3/        the burst stage (the busy cost per request, burst.py)
        <stamp>-step-4/        the deep burst (the backlog's cost, burst.py)
        <stamp>-step-5/ ...    the capacity probe when asked for, then each trial's runs; a
                               trial's first run holds trial.json and the report that puts its
                               prediction beside its measurement
        lab/calibration.toml   --lab: the demands of one lab instance under its CPU limit,
                               then the lab's pilot, calibration and K-1 and K runs, and
                               the lab topology trial's run (with its lab.jsonl)
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness import artifacts
from harness.exit_codes import ExitCode
from harness.validate.burst import burst_users, deep_burst_users, measure_burst
from harness.validate.decision_trial import calibrate_the_lab, decide
from harness.validate.duration import Budget, planned_duration
from harness.validate.fit import (
    Calibrated,
    CalibratedModel,
    FittedModels,
    fit_curve,
    fit_models,
    probe_point,
)
from harness.validate.light import LightCalibration, calibrate_light
from harness.validate.plan import probe_stages, validation_profile, with_step_stages
from harness.validate.runs import Runs, pinned_cpus
from harness.validate.settings import (
    CALIBRATION_CPU_LIMIT,
    GOAL_CPU_LIMIT,
    GOALS,
    SATURATED_CPU,
    SATURATION_GOAL,
    ValidationSettings,
)
from harness.validate.topology_trial import TOPOLOGY_TRIAL, topology_trial
from harness.validate.trial import Trial, far_beyond, held_out_mix, held_out_think
from models.profile import Profile
from models.validation_records import ProbeRecord, TrialResult, ValidationDocument

__all__ = ["TRIAL_FILE", "LabMode", "ValidationOutcome", "protocol", "validate"]

#: The file a trial's first run holds: the trial's result, which its report shows.
TRIAL_FILE = "trial.json"


def protocol(settings: ValidationSettings) -> dict[str, object]:
    """What this validation judges and how, written at the top of the document."""
    fit = "speed-normalised" if settings.speed_normalised_fit else "plain"
    return {
        "calibration_cpu_limit": CALIBRATION_CPU_LIMIT,
        "judged_by": "predicted CPU",
        "goal_cpu_limit": GOAL_CPU_LIMIT,
        "goals": dict(GOALS),
        "saturation_goal": SATURATION_GOAL,
        "saturated_cpu": SATURATED_CPU,
        "judged_fit": fit,
        "probe": "diagnostic only, never judged" if settings.capacity_probe else "not run",
        "backlog": backlog_protocol(settings),
    }


@dataclass(frozen=True)
class LabMode:
    """``--lab``: the instance decision on the lab (:mod:`harness.validate.decision_trial`)
    and the topology trial (:mod:`harness.validate.topology_trial`)."""

    database_url: str | None
    only: bool = False
    """``--lab-only``: the decision alone, without the single-instance trials."""


@dataclass
class ValidationOutcome:
    """What a validation produced; ``exit_code`` follows the CLI's conventions."""

    directory: Path
    document: ValidationDocument
    exit_code: int = ExitCode.OK
    report: Path | None = None
    """The first trial's report: its prediction beside its measurement."""
    budget: Budget | None = None
    """The time budget the optional replications keep to (None: no limit)."""

    def save(self) -> None:
        artifacts.write_json(self.directory / "validation.json", self.document.to_json())

    def record(self, result: TrialResult) -> None:
        self.document.record(result)
        self.save()


def validate(
    profile: Profile,
    settings: ValidationSettings,
    out: Path,
    *,
    pin: bool = True,
    log: TextIO = sys.stdout,
    lab: LabMode | None = None,
) -> ValidationOutcome:
    """Calibrate at light load, predict the trials, measure them, compare (module docstring);
    with ``lab``, also the instance decision on the lab. Ctrl-C keeps what finished."""
    directory = artifacts.unique_dir(out, "validate")  # holds runs, not a run itself
    document = ValidationDocument(
        started_at=artifacts.iso(artifacts.utc_now()),
        settings=dataclasses.asdict(settings),
        machine=artifacts.machine(),
        protocol=protocol(settings),
    )
    plan = planned_duration(settings, single=lab is None or not lab.only, lab=lab is not None)
    document.protocol = {
        **document.protocol,
        "planned_duration_s": {
            "expected": round(plan.expected_s),
            "at_most": round(plan.at_most_s),
        },
    }
    print(plan.line(), file=log)
    outcome = ValidationOutcome(directory, document, budget=Budget(plan))
    try:
        with pinned_cpus(pin) as pinning:
            document.cpu_pinning = pinning.to_json()
            outcome.save()
            runs = Runs(directory, pinning, settings.seed_scale)
            if lab is None or not lab.only:
                _validate(profile, settings, runs, outcome, log)
            if lab is not None:
                _on_the_lab(profile, settings, runs, lab.database_url, outcome, log)
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
    vprofile = validation_profile(profile, settings.think_scale)
    calibrated = _calibrate(vprofile, settings, runs, outcome, log)
    heaviest = outcome.document.calibration.heaviest_users
    if calibrated is None or heaviest is None:
        return
    fitted, calibration = calibrated
    models = fitted.models
    runs = runs.planning(calibration.launch(profile))
    if settings.capacity_probe:
        _probe(vprofile, fitted.judged_model, settings, runs, outcome, log)
    trials = [far_beyond(models, settings, heaviest)]
    if settings.holdout_mix:
        trials.append(held_out_mix(models, settings))
    if settings.holdout_think:
        trials.append(held_out_think(models, settings))
    for trial in trials:
        _run_trial(trial, runs, profile.gates.loadgen_cpu_warning, outcome, log)


def _run_trial(
    trial: Trial, runs: Runs, loadgen_warning: float, outcome: ValidationOutcome, log: TextIO
) -> None:
    """Announce, run and record one trial; its first run gets the prediction and the report."""
    _announce(trial, log)
    budget = outcome.budget
    refused: list[float] = []

    def may_extend(run_s: float) -> bool:
        fits = budget is None or budget.fits(trial.name, run_s, lab=trial.lab is not None)
        if not fits:
            refused.append(run_s)
        return fits

    result = trial.run(runs, loadgen_warning, outcome.record, log, may_extend)
    if refused and budget is not None:
        outcome.document.warnings.append(
            f"the {trial.name} stopped at {len(result.runs)} replication(s), its noise "
            f"notwithstanding, to keep within the {budget.budget_s / 60:.0f}-minute budget"
        )
    outcome.record(result)
    _publish(trial, result)
    if outcome.report is None and result.runs:
        outcome.report = Path(result.runs[0]) / "report.html"


def _on_the_lab(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    database_url: str | None,
    outcome: ValidationOutcome,
    log: TextIO,
) -> None:
    """One lab instance calibrated; then the instance decision, and the topology trial on the
    lab as the profile's ``[lab]`` has it (unless ``settings.topology_trial`` is off)."""
    document = outcome.document
    calibrated = calibrate_the_lab(
        profile, settings, runs, database_url, document, outcome.directory, outcome.save, log
    )
    if calibrated is None:
        return
    if settings.instance_decision:
        decide(calibrated, settings, runs, outcome.save, log, _decision_budget(outcome))
    else:
        calibrated.record.asked = False
        calibrated.record.reason = "not asked for (--no-instance-decision)"
        outcome.save()
    if not settings.topology_trial:
        return
    try:
        trial = topology_trial(calibrated, settings)
    except ValueError as exc:  # the model places no level (no steady state, no capacity)
        document.incomplete(f"the {TOPOLOGY_TRIAL} trial could not be planned: {exc}")
        outcome.save()
        return
    on_lab = runs.on_lab(calibrated.lab, calibrated.database_url)
    _run_trial(trial, on_lab, profile.gates.loadgen_cpu_warning, outcome, log)


def _decision_budget(outcome: ValidationOutcome) -> Callable[[float], bool]:
    """Whether one more decision run of so many seconds of stages fits the time budget; a
    refusal is a warning in the document (a count's runs left disagreeing)."""

    def may_extend(run_s: float) -> bool:
        budget = outcome.budget
        if budget is None or budget.fits("instance decision", run_s, lab=True):
            return True
        outcome.document.warnings.append(
            "the instance decision ran no more runs of a count whose runs disagree on whether "
            f"it holds, to keep within the {budget.budget_s / 60:.0f}-minute budget"
        )
        return False

    return may_extend


def _calibrate(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    outcome: ValidationOutcome,
    log: TextIO,
) -> tuple[FittedModels, Calibrated] | None:
    """The pilot, the light calibration of the pinned service, and the models and demands
    they give (None, with the reason in the document, when either run gave nothing)."""
    document = outcome.document
    into = LightCalibration(
        document.calibration,
        cpu_cores=1.0,
        directory=outcome.directory,
        label="",
        incomplete=document.incomplete,
        warn=document.warnings.append,
        save=outcome.save,
    )
    calibration = calibrate_light(profile, settings, runs, into, log)
    if calibration is None or document.calibration.run is None:
        return None
    cpu_per_user = document.calibration.pilot_cpu_per_user
    if settings.burst_period_s > 0 and cpu_per_user:
        _bursts(profile, settings, runs, cpu_per_user, into.login_ms(profile), outcome, log)
    run_dir = Path(document.calibration.run)
    return _models(run_dir, calibration, settings, outcome), calibration


def _bursts(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    cpu_per_user: float,
    login_ms: float,
    outcome: ValidationOutcome,
    log: TextIO,
) -> None:
    """The burst stage, then (when it measured and one is asked for) the deep burst, each
    recorded in the calibration; a warning says what the fit does without either."""
    document = outcome.document
    users = burst_users(cpu_per_user, profile, settings)
    burst = measure_burst(profile, settings, runs, users, login_ms, log)
    document.calibration.burst = burst
    outcome.save()
    if burst.reason is not None:
        document.warnings.append(
            f"{burst.reason}: the busy cost per request is the light stages' line, extrapolated"
        )
        return
    if settings.deep_burst_period_s > 0:
        deep_users = deep_burst_users(users, settings)
        deep = measure_burst(profile, settings, runs, deep_users, login_ms, log, deep=True)
        document.calibration.deep_burst = deep
        if deep.reason is not None:
            document.warnings.append(f"{deep.reason}: the backlog's cost is not measured")
    outcome.save()


def _models(
    run_dir: Path, calibration: Calibrated, settings: ValidationSettings, outcome: ValidationOutcome
) -> FittedModels:
    """The judged fit, the other one, and the naive baseline, from the light stages."""
    document = outcome.document
    record = document.calibration
    used = [s for s in record.stages if s.users in record.used_users]
    fitted = fit_models(
        run_dir,
        calibration,
        max(used, key=lambda s: s.users, default=None),
        speed_normalised=settings.speed_normalised_fit,
        spawn_rate=settings.spawn_rate,
        max_cpu=CALIBRATION_CPU_LIMIT,
        burst=None if record.burst is None else record.burst.point(),
        deep_burst=None if record.deep_burst is None else record.deep_burst.point(),
        backlog_fit=settings.backlog_fit,
        shallow_fit=settings.shallow_fit,
    )
    record.backlog = backlog_record(fitted)
    judged, other = fitted.judged_fit, fitted.other_fit
    document.service_curve = judged.curve_json
    document.alternative_curve = other.curve_json
    document.service_curve_error = judged.error
    if judged.warning is not None:
        document.warnings.append(judged.warning)
    outcome.save()
    return fitted


def backlog_protocol(settings: ValidationSettings) -> str:
    """Where the judged curve applies the backlog's cost the two bursts measure, in words."""
    sides = [
        side
        for side, taken in (
            ("below the burst's depth", settings.shallow_fit),
            ("past it", settings.backlog_fit),
        )
        if taken
    ]
    return "in the judged fit, " + " and ".join(sides) if sides else "measured, not in the fit"


def backlog_record(fitted: FittedModels) -> dict[str, Any] | None:
    """The calibration's ``backlog``: what the two bursts measured, and on which side of the
    burst's depth the judged curve took it (``in_fit``: on either)."""
    if fitted.backlog is None:
        return None
    backlog = fitted.backlog
    return {**backlog.to_json(), "in_fit": backlog.past or backlog.shallow}


def _probe(
    profile: Profile,
    model: CalibratedModel,
    settings: ValidationSettings,
    runs: Runs,
    outcome: ValidationOutcome,
    log: TextIO,
) -> None:
    """The capacity probe, a diagnostic: its saturated point joins a separate fit whose
    capacity is reported as probe-informed, never judged."""
    users = max(1, round(settings.probe_factor * model.saturation_users))
    print(f"validate: capacity probe (diagnostic, not judged), {users} users", file=log)
    stages = probe_stages(users, settings, model.login_cpu_ms)
    probe = validation_profile(profile, settings.probe_think_scale)
    result = runs.step(with_step_stages(probe, stages))
    record = ProbeRecord(users, None if result.directory is None else str(result.directory))
    outcome.document.probe = record
    point, warning = probe_point(result.directory, result.code != ExitCode.UNREACHABLE)
    if point is not None:
        record.throughput_rps = point.throughput_rps
        record.cpu_utilization = point.cpu_utilization
        record.speed_reference_ms = point.reference_ms
    run_dir = outcome.document.calibration.run
    if warning is None and point is not None and run_dir is not None:
        fit = fit_curve(
            Path(run_dir), model.routes, point, normalised=settings.speed_normalised_fit
        )
        if fit.curve is not None:
            record.saturated = True
            record.curve = fit.curve.to_json()
            record.predicted_saturation_rps = fit.curve.max_throughput_rps
    elif warning is not None:
        outcome.document.warnings.append(warning)
    outcome.save()


def _announce(trial: Trial, log: TextIO) -> None:
    runs = trial.min_runs
    many = f"{runs} to {trial.max_runs} runs" if trial.max_runs > runs else f"{runs} run(s)"
    print(
        f"validate: {trial.name} ({trial.what_differs}): {list(trial.levels)} users, "
        f"{trial.planned_s:.0f} s a run, {many}",
        file=log,
    )


def _publish(trial: Trial, result: TrialResult) -> None:
    """The trial's first run gets the calibrated prediction and the trial's result (its
    report shows both: the prediction beside the measurement, the spread over the runs), and
    its report is rendered again with them."""
    if not result.runs:
        return
    run_dir = Path(result.runs[0])
    trial.prediction.write(run_dir / "prediction.json")
    artifacts.write_json(run_dir / TRIAL_FILE, result.to_json())
    artifacts.render_report(run_dir)


def _finish(outcome: ValidationOutcome) -> ValidationOutcome:
    """Collect the trials' reasons, mark the document complete or not, write it, and set the
    exit code (3 when incomplete; the verdict on the goals is the command's, --strict)."""
    document = outcome.document
    for trial in document.trials:
        for reason in trial.incomplete_reasons:
            document.incomplete(reason)
        if not trial.runs:
            document.incomplete(f"the {trial.name} made no run")
    decision = document.decision
    if decision is not None and decision.asked and decision.right is None:
        document.incomplete(
            f"the instance decision was not judged: {decision.reason or 'a run failed'}"
        )
    document.complete = not document.incomplete_reasons
    document.finished_at = artifacts.iso(artifacts.utc_now())
    outcome.save()
    if not document.complete:
        outcome.exit_code = ExitCode.UNREACHABLE
    return outcome
