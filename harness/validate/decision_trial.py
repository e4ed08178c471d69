"""The instance decision on the lab, measured (``harness validate --lab``).

1. A light calibration of **one** lab instance under the lab's CPU limit (its pooler,
   replicas and cache as the profile's ``[lab]`` section has them): the demands.
2. The planner's K for a load one instance cannot carry (:mod:`harness.validate.decision`),
   from those demands at the validation's think times.
3. That load on K-1 and K instances (and K+1 with ``--k-plus-one``), each on a fresh lab,
   ``decision_replications`` runs of each in an interleaved order (K-1, K, K, K-1): the mean
   p95 of the measure stages against the objective, and the mean CPU per instance (the
   instances' CPU summed, over K, as a fraction of the limit) against the autoscaler's
   scale-up target.

The decision is right when K-1 breaks the objective or the CPU target and K holds both
(:class:`models.validation_records.DecisionRecord`). Beside it the record keeps the naive
baseline's K (the CPU target alone) and whether that would have been right.

The same calibration predicts the lab topology trial (:mod:`harness.validate.topology_trial`):
:func:`calibrate_the_lab` is shared, :func:`decide` is the decision's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from harness.run.lab_plan import LabRequest
from harness.validate.decision import (
    InstanceDecision,
    disagreeing,
    measured_count,
    plan_decision,
    run_order,
)
from harness.validate.fit import login_cpu_ms
from harness.validate.lab_measure import lab_demands
from harness.validate.light import LightCalibration, calibrate_light
from harness.validate.measure import incomplete_reasons, read_measured
from harness.validate.plan import held_load_stages, validation_profile, with_step_stages
from harness.validate.runs import Runs
from harness.validate.settings import ValidationSettings
from models.lab_calibration import LabDemands
from models.profile import Profile, Stage
from models.validation_records import (
    CountRun,
    DecisionRecord,
    MeasuredLevel,
    ValidationDocument,
)

__all__ = ["LAB_DIRECTORY", "LabCalibrated", "calibrate_the_lab", "decide"]

#: Where the lab's calibration files go, inside the validation's directory.
LAB_DIRECTORY = "lab"


@dataclass(frozen=True)
class LabCalibrated:
    """One lab instance calibrated: the lab, the demands it measured at the validation's think
    times, the decision's record (which keeps the calibration), and the calibration's
    heaviest stage the fit used (the naive baseline's)."""

    lab: LabRequest
    profile: Profile
    record: DecisionRecord
    heaviest: MeasuredLevel | None
    database_url: str | None
    measured: LabDemands | None = None
    """The instance's CPU line and PgBouncer's figures over the calibration's stages."""


def calibrate_the_lab(
    launch: Profile,
    settings: ValidationSettings,
    runs: Runs,
    database_url: str | None,
    document: ValidationDocument,
    directory: Path,
    save: Callable[[], None],
    log: TextIO,
) -> LabCalibrated | None:
    """Calibrate one lab instance (its record kept in ``document.decision``, saved after every
    step); None, with the reason recorded, when the calibration gave nothing."""
    lab = LabRequest.from_profile(launch)
    shown = None if database_url is None else _without_password(database_url)
    record = DecisionRecord(lab={**dataclasses.asdict(lab), "database_url": shown})
    document.decision = record
    profile = validation_profile(launch, settings.think_scale)
    one = runs.on_lab(dataclasses.replace(lab, instances=1), database_url)
    into = LightCalibration(
        record.calibration,
        cpu_cores=lab.cpu_limit,
        directory=directory / LAB_DIRECTORY,
        label="lab ",
        incomplete=lambda reason: _no_verdict(record, reason),
        warn=document.warnings.append,
        save=save,
        idle_s=settings.lab_idle_s,
    )
    calibration = calibrate_light(profile, settings, one, into, log)
    if calibration is None:
        save()
        return None
    used = [s for s in record.calibration.stages if s.users in record.calibration.used_users]
    heaviest = max(used, key=lambda s: s.users, default=None)
    measured = None
    if record.calibration.run is not None:  # what the demands do not say (lab_calibration.py)
        measured = lab_demands(
            Path(record.calibration.run), lab.cpu_limit, record.calibration.used_users
        )
        record.calibration.lab_demands = measured
        save()
    launched = calibration.launch(profile)
    return LabCalibrated(lab, launched, record, heaviest, database_url, measured)


def decide(
    calibrated: LabCalibrated,
    settings: ValidationSettings,
    runs: Runs,
    save: Callable[[], None],
    log: TextIO,
    may_extend: Callable[[float], bool] = lambda _run_s: True,
) -> DecisionRecord:
    """Plan K from the lab's calibration, then measure K-1 and K (and K+1 when the settings ask)
    in the interleaved order, then once more each count whose runs disagree on whether it
    holds, while ``may_extend`` (the time budget, given the run's seconds of stages) allows
    (the record saved after every run, each count judged on the runs it has so far)."""
    record, lab, profile = calibrated.record, calibrated.lab, calibrated.profile
    try:
        decision = plan_decision(profile, settings.decision_instances, calibrated.measured)
    except ValueError as exc:
        _no_verdict(record, str(exc))
        save()
        return record
    record.planned = decision.to_json()
    save()
    runs_of: dict[int, list[CountRun]] = {
        figures.instances: []
        for figures in decision.predicted
        if figures.instances <= decision.instances or settings.decision_k_plus_one
    }
    order = run_order(list(runs_of), settings.decision_replications)
    print(
        f"validate: instance decision, {decision.users} users: the planner names "
        f"{decision.instances} instances of {decision.cpu_limit:g} cores (the CPU target alone "
        f"would say {decision.baseline_instances}); measuring {', '.join(map(str, order))} "
        "instances in that order",
        file=log,
    )
    line = {"objective_ms": decision.p95_objective_ms, "cpu_target": decision.cpu_target}

    def one_more(count: int) -> None:
        """Run ``count`` instances once (the next place), record it, judge, save."""
        place = sum(len(done) for done in runs_of.values()) + 1
        on_lab = runs.on_lab(dataclasses.replace(lab, instances=count), calibrated.database_url)
        one, why_not = _measure(profile, decision, count, place, settings, on_lab)
        runs_of[count].append(one)
        if why_not is not None:
            _no_verdict(record, f"{count} instances: {why_not}")
        record.measured = [
            measured_count(instances, done, **line) for instances, done in runs_of.items() if done
        ]
        save()

    for planned in order:
        one_more(planned)
    most = settings.decision_max_replications
    while (again := disagreeing(runs_of, decision.instances, most=most, **line)) is not None:
        stages = _stages(profile, decision, again, settings)
        if not may_extend(sum(stage.duration_s for stage in stages)):
            break
        print(
            f"validate: instance decision: the runs of {again} instances disagree on whether "
            "they hold; one more",
            file=log,
        )
        one_more(again)
    return record


def _without_password(database_url: str) -> str:
    """The URL as validation.json may keep it (a committed document must hold no secret)."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def _no_verdict(record: DecisionRecord, reason: str) -> None:
    record.reason = reason if record.reason is None else f"{record.reason}; {reason}"


def _stages(
    profile: Profile, decision: InstanceDecision, instances: int, settings: ValidationSettings
) -> list[Stage]:
    """One decision run's stages: the load settled (its logins share the instances' limited
    cores: each takes 1 / (count x limit) longer), then measured."""
    login_ms = login_cpu_ms(profile) / (instances * decision.cpu_limit)
    return held_load_stages(decision.users, settings, login_ms, settings.decision_measure_s)


def _measure(
    profile: Profile,
    decision: InstanceDecision,
    instances: int,
    place: int,
    settings: ValidationSettings,
    on_lab: Runs,
) -> tuple[CountRun, str | None]:
    """The ``place``-th run of the decision: its load on ``instances`` lab instances
    (``on_lab``), settled then measured; and why it gives no figures, or None."""
    result = on_lab.step(with_step_stages(profile, _stages(profile, decision, instances, settings)))
    run = None if result.directory is None else str(result.directory)
    nothing = CountRun(run, place, None, None, None, None)
    if result.directory is None or not result.wrote_run_json:
        return nothing, "the run wrote no run.json"
    if not result.complete:
        # An incomplete run's figures are a lower bound (lost load, counts that disagree):
        # never a verdict on the decision.
        return nothing, f"the run is incomplete ({'; '.join(incomplete_reasons(result.directory))})"
    levels = read_measured(result.directory)
    measured = levels[-1] if levels else None
    if measured is None or measured.cpu_utilization is None:
        return nothing, "its measure stage has no CPU figure (two scrapes are needed)"
    cpu = measured.cpu_utilization / instances / decision.cpu_limit
    figures = CountRun(
        run, place, measured.p95_ms, cpu, measured.throughput_rps, measured.error_rate
    )
    return figures, None
