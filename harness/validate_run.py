"""Carry out ``harness validate`` (and the measuring half of ``harness demo``): real runs of the
bundled service, the calibration, the predictions, and ``validation.json``.

The planning and comparison rules are in :mod:`harness.validation`; this module only runs
things in order and writes what it learns, so a crash halfway still leaves every finished run
and a ``validation.json`` marked incomplete.

Layout::

    runs/<stamp>-validate/
        validation.json        per level: predicted, measured, relative error (+ holdout)
        calibration.toml       the profile overlay of measured service demands
        calibration.json       both estimates per endpoint and their agreement
        <stamp>-step/          the calibration run (a short step: the service curve's stages)
        <stamp>-step-2/        the step load (report.html: prediction against measurement)
        <stamp>-step-3/ ...    its further replications (``step_runs``), then the held-out mix
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness import artifacts
from harness.errors import HarnessError
from harness.exit_codes import ExitCode
from harness.run.orchestrate import INTERRUPTS, execute
from harness.run.run_request import RunRequest
from harness.run.speed_reference import SAMPLES_FILE, read_samples
from harness.validation import (
    ValidationSettings,
    aggregate_replications,
    calibration_stages,
    compare,
    compare_at_measured_speed,
    holdout_profile,
    measured_levels,
    needs_replication,
    overlay,
    paired_stages,
    plan_levels,
    probe_stages,
    summarise,
    users_at_cpu,
    validation_profile,
    with_step_stages,
)
from models.calibration import calibrate_run
from models.prediction import Prediction, demand_per_request_s, predict, predict_curve
from models.profile import Profile
from models.service_curve import (
    LATENCY_STATISTICS,
    SATURATED_PROBE_CPU,
    LoadPoint,
    ServiceCurve,
    fit_service_curve,
)

#: The bundled service runs with one worker: one CPU server for the model.
SERVICE_WORKERS = 1


@dataclass
class ValidationOutcome:
    """What a validation produced; ``exit_code`` follows the CLI's conventions."""

    directory: Path
    exit_code: int = ExitCode.OK
    step_run: Path | None = None
    """The first step run (of ``document["step_runs"]``): its report holds the comparison."""
    report: Path | None = None
    document: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def pinned_cpus(enabled: bool) -> Iterator[dict[str, Any]]:
    """Keep the load generator (this process and its children) off the service's core.

    On a machine with two or more cores the service gets core 0 and everything this process
    starts afterwards (Locust) inherits the other cores. Recorded in ``validation.json``.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not enabled or len(cores) < 2:
        yield {"pinned": False, "reason": "disabled" if not enabled else "fewer than 2 cores"}
        return
    service, load = frozenset(cores[:1]), set(cores[1:])
    os.sched_setaffinity(0, load)
    try:
        yield {"pinned": True, "service_cpus": sorted(service), "load_generator_cpus": sorted(load)}
    finally:
        os.sched_setaffinity(0, set(cores))


def _run(
    profile: Profile, out: Path, settings: ValidationSettings, pinning: dict[str, Any]
) -> tuple[int, Path | None]:
    service_cpus = frozenset(pinning["service_cpus"]) if pinning.get("pinned") else None
    request = RunRequest(
        scenario="step",
        profile=profile,
        out=out,
        service_workers=SERVICE_WORKERS,
        seed_scale=settings.seed_scale,
        service_cpus=service_cpus,
    )
    result = execute(request, progress_stream=sys.stderr)
    if INTERRUPTS.count:
        # Ctrl-C stopped that run gracefully (its artifacts are written); the validation
        # must stop too, not go on to the next run.
        raise KeyboardInterrupt
    return result


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _measured(run_dir: Path) -> list[dict[str, Any]]:
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    series_path = run_dir / "stats" / "timeseries.json"
    series = _read(series_path).get("records", []) if series_path.exists() else []
    return measured_levels(run, scrapes, series, read_samples(run_dir / SAMPLES_FILE))


#: Predicts the same levels again, each at the machine speed measured where it ran
#: (users -> speed reference in ms); None when there is no curve to move.
PredictAtSpeed = Callable[[Mapping[int, float]], Prediction | None]


def _compare(
    prediction: Prediction,
    measured: list[dict[str, Any]],
    loadgen_warning: float,
    at_speed: PredictAtSpeed,
) -> list[dict[str, Any]]:
    """:func:`compare`, then :func:`compare_at_measured_speed` where the speed was measured."""
    levels = compare(prediction.levels, measured, loadgen_warning)
    speeds = {
        int(m["users"]): float(m["speed_reference_ms"])
        for m in measured
        if m.get("speed_reference_ms") is not None
    }
    moved = at_speed(speeds) if speeds else None
    if moved is not None and moved.curve is not None:
        compare_at_measured_speed(levels, moved.levels, _curve_reference(prediction))
    return levels


def _curve_reference(prediction: Prediction) -> float | None:
    return None if prediction.curve is None else prediction.curve.reference_ms


def _incomplete(document: dict[str, Any], reason: str) -> None:
    document.setdefault("incomplete_reasons", []).append(reason)


def _write_prediction(run_dir: Path, prediction: Prediction) -> None:
    """Replace the run's own prediction with the calibrated one and render the report again."""
    prediction.write(run_dir / "prediction.json")
    artifacts.render_report(run_dir)


#: Service CPU (one worker, cores busy) from which a level counts as saturated.
SATURATED_CPU = 0.97


def validate(
    profile: Profile,
    settings: ValidationSettings,
    out: Path,
    *,
    pin: bool = True,
    log: TextIO = sys.stdout,
) -> ValidationOutcome:
    """Calibrate, predict, measure, compare; write ``validation.json`` (module docstring)."""
    directory = artifacts.unique_dir(out, "validate")  # holds runs, not a run itself
    outcome = ValidationOutcome(directory=directory)
    document: dict[str, Any] = {
        "schema_version": 1,
        "started_at": artifacts.iso(artifacts.utc_now()),
        "complete": False,
        "settings": dataclasses.asdict(settings),
        "machine": artifacts.machine(),
        "levels": [],
    }
    outcome.document = document

    def save() -> None:
        artifacts.write_json(directory / "validation.json", document)

    try:
        return _validate(profile, settings, directory, outcome, save, pin, log)
    except KeyboardInterrupt:
        _incomplete(document, "interrupted (Ctrl-C); the runs so far are kept")
        document["finished_at"] = artifacts.iso(artifacts.utc_now())
        save()
        outcome.exit_code = ExitCode.UNREACHABLE
        return outcome


def _validate(
    profile: Profile,
    settings: ValidationSettings,
    directory: Path,
    outcome: ValidationOutcome,
    save: Callable[[], None],
    pin: bool,
    log: TextIO,
) -> ValidationOutcome:
    """The body of :func:`validate`, which turns an interrupt into an incomplete document."""
    document = outcome.document
    vprofile = validation_profile(profile, settings.think_scale)
    with pinned_cpus(pin) as pinning:
        document["cpu_pinning"] = pinning
        save()
        stages = calibration_stages(settings, _login_cpu_ms(vprofile))
        loads = sorted({stage.users for stage in stages})
        print(f"validate: calibration run, {loads} users", file=log)
        code, calibration_dir = _run(
            with_step_stages(vprofile, stages), directory, settings, pinning
        )
        document["calibration_run"] = str(calibration_dir)
        if code == ExitCode.UNREACHABLE or calibration_dir is None:
            document["incomplete_reasons"] = ["the calibration run did not complete"]
            save()
            outcome.exit_code = ExitCode.UNREACHABLE
            return outcome

        calibration = calibrate_run(calibration_dir, vprofile)
        (directory / "calibration.toml").write_text(calibration.overlay_toml(), encoding="utf-8")
        artifacts.write_json(directory / "calibration.json", calibration.to_json())
        calibrated = overlay(vprofile, calibration.overlay())
        # The routes' own CPU (no overhead spread over them): the basis on which another mix
        # is compared with the calibration's (models/service_curve.py, "another mix").
        routes = overlay(
            vprofile, calibrate_run(calibration_dir, vprofile, include_overhead=False).overlay()
        )
        probe = None
        if settings.capacity_probe:
            light = fit_curve(calibration_dir, routes, {})
            if light is not None:
                light_users = _predict(calibrated, light, [1], settings, routes).saturation_users
                probe = capacity_probe(
                    vprofile, light_users, _login_cpu_ms(calibrated), directory, settings,
                    pinning, document, log,
                )  # fmt: skip
            save()
        curve = fit_curve(calibration_dir, routes, document, saturation=probe)
        document["service_curve"] = curve.to_json() if curve is not None else None

        prediction = _predict(calibrated, curve, [1], settings, routes)

        def cpu_at(users: int) -> float:
            return _predict(calibrated, curve, [users], settings, routes).levels[0].cpu_utilization

        levels = plan_levels(
            prediction.saturation_users, settings, cpu_at if curve is not None else None
        )
        prediction = _predict(calibrated, curve, levels, settings, routes)
        document["saturation_users_predicted"] = round(prediction.saturation_users, 2)
        document["latency_floor_ms"] = round(prediction.latency_floor_ms, 4)
        stages = paired_stages(prediction.levels, settings, _login_cpu_ms(calibrated))
        planned_s = sum(stage.duration_s for stage in stages)
        runs = settings.replications
        if settings.max_replications > runs:
            runs_text = f"{runs} to {settings.max_replications} runs"
        else:
            runs_text = f"{runs} run{'s' if runs > 1 else ''}"
        print(
            f"validate: predicted saturation at {prediction.saturation_users:.0f} users; "
            f"step load {levels} ({planned_s:.0f} s), {runs_text}",
            file=log,
        )
        save()
        step_profile = with_step_stages(calibrated, stages)
        code, step_dir = _run(step_profile, directory, settings, pinning)
        outcome.step_run = step_dir
        document["step_run"] = str(step_dir)
        if step_dir is None or not (step_dir / "run.json").exists():
            document["incomplete_reasons"] = ["the step run wrote no run.json"]
            save()
            outcome.exit_code = ExitCode.UNREACHABLE
            return outcome
        warning = profile.gates.loadgen_cpu_warning
        replications: list[list[dict[str, Any]]] = []
        step_levels = levels

        def at_speed(speeds: Mapping[int, float]) -> Prediction | None:
            if curve is None:
                return None
            return _predict(calibrated, curve, step_levels, settings, routes, speeds)

        def record(run_dir: Path) -> None:
            record_replication(
                run_dir, replications, prediction, warning, document, settings, log, at_speed
            )
            save()

        record(step_dir)
        step_complete = bool(_read(step_dir / "run.json").get("complete"))
        _write_prediction(step_dir, prediction)
        outcome.report = step_dir / "report.html"
        replicate(
            lambda: _run(step_profile, directory, settings, pinning), record, settings, document
        )
        if len(replications) > 1:
            # The step run's report shows the spread when validation.json sits beside it.
            artifacts.write_json(step_dir / "validation.json", document)
            artifacts.render_report(step_dir)

        if settings.holdout:
            document["holdout"] = _holdout(
                calibrated, routes, curve, directory, settings, pinning, warning, log
            )
            save()

    holdout_complete = not settings.holdout or bool(document.get("holdout", {}).get("complete"))
    if not step_complete or not holdout_complete:
        _incomplete(document, "a run was incomplete (see its run.json)")
    document["complete"] = not document.get("incomplete_reasons")
    if not document["complete"]:
        outcome.exit_code = ExitCode.UNREACHABLE
    document["finished_at"] = artifacts.iso(artifacts.utc_now())
    save()
    artifacts.write_json(step_dir / "validation.json", document)
    return outcome


def replicate(
    run_step: Callable[[], tuple[int, Path | None]],
    record: Callable[[Path], None],
    settings: ValidationSettings,
    document: dict[str, Any],
) -> None:
    """Run the step load again (``run_step``: each time on a fresh service) while
    :func:`harness.validation.needs_replication` asks for it, ``record``-ing each run, which
    compares the mean over them all into ``document`` (``levels``, ``step_runs``).

    A replication that fails (the service did not start, no run.json) or is incomplete stops
    the replications with the reason in the document; what finished is kept.
    """
    while needs_replication(document["levels"], len(document["step_runs"]), settings):
        number = len(document["step_runs"]) + 1
        try:
            code, run_dir = run_step()
        except HarnessError as exc:
            _incomplete(document, f"replication {number} of the step load failed: {exc}")
            return
        if run_dir is None or not (run_dir / "run.json").exists():
            _incomplete(document, f"replication {number} of the step load wrote no run.json")
            return
        record(run_dir)
        if code == ExitCode.UNREACHABLE or not _read(run_dir / "run.json").get("complete"):
            _incomplete(document, f"replication {number} was incomplete (see its run.json)")
            return


def record_replication(
    run_dir: Path,
    replications: list[list[dict[str, Any]]],
    prediction: Prediction,
    loadgen_warning: float,
    document: dict[str, Any],
    settings: ValidationSettings,
    log: TextIO,
    at_speed: PredictAtSpeed = lambda _speeds: None,
) -> None:
    """Add a finished step run to ``replications`` (measured levels per run) and
    ``step_runs``; compare the mean over them all into ``document`` (also at the measured
    machine speed, through ``at_speed``); log one line."""
    replications.append(_measured(run_dir))
    document.setdefault("step_runs", []).append(str(run_dir))
    levels = _compare(prediction, aggregate_replications(replications), loadgen_warning, at_speed)
    document["levels"] = levels
    document["summary"] = summarise(levels)
    document["saturation_throughput"] = saturation_throughput(levels)
    # One line per replication: its run and, from the second, the widest spread so far.
    done = len(document["step_runs"])
    line = f"validate: step load replication {done}: {Path(document['step_runs'][-1]).name}"
    if done > 1:
        widest = document["summary"]["widest_spread"]
        line += "; widest spread up to 85% CPU: " + ", ".join(
            f"{label} {'n/a' if widest[key] is None else f'±{widest[key]:.1%}'}"
            for key, label in (("throughput_rps", "throughput"), ("mean_ms", "mean"))
        )
        if done >= settings.replications and needs_replication(document["levels"], done, settings):
            line += "; over half an accuracy goal, so another run"
    print(line, file=log)


def calibration_points(run_dir: Path) -> list[LoadPoint]:
    """The calibration run's measured stages as load points for the service curve."""
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    points = []
    samples = read_samples(run_dir / SAMPLES_FILE)
    for level in measured_levels(run, scrapes, [], samples):
        latency = {s: level.get(s) for s in LATENCY_STATISTICS}
        x, u = level.get("throughput_rps"), level.get("cpu_utilization")
        if x is None or u is None or any(v is None for v in latency.values()):
            continue
        speed = level.get("speed_reference_ms")
        points.append(
            LoadPoint(
                float(x),
                float(u),
                {k: float(v or 0.0) for k, v in latency.items()},
                reference_ms=None if speed is None else float(speed),
            )
        )
    return points


def capacity_probe(
    profile: Profile,
    light_saturation_users: float,
    login_cpu_ms: float,
    directory: Path,
    settings: ValidationSettings,
    pinning: dict[str, Any],
    document: dict[str, Any],
    log: TextIO,
) -> LoadPoint | None:
    """Run the capacity probe (harness/validation.py) and return its saturated point, or None
    with the reason in ``document`` (a failed run, or a service that did not saturate)."""
    users = max(1, round(settings.probe_factor * light_saturation_users))
    probe_profile = validation_profile(profile, settings.probe_think_scale)
    print(
        f"validate: capacity probe, {users} users at {settings.probe_think_scale:g} x the "
        "think time",
        file=log,
    )
    code, run_dir = _run(
        with_step_stages(probe_profile, probe_stages(users, settings, login_cpu_ms)),
        directory,
        settings,
        pinning,
    )
    record: dict[str, Any] = {"users": users, "run": str(run_dir), "used": False}
    document["capacity_probe"] = record
    points = calibration_points(run_dir) if run_dir is not None else []
    if code == ExitCode.UNREACHABLE or not points:
        why = (
            "did not complete"
            if code == ExitCode.UNREACHABLE or run_dir is None
            else "measured nothing usable (its measured stage needs two metric scrapes)"
        )
        document.setdefault("warnings", []).append(
            f"the capacity probe {why}; the curve is fitted on the light stages alone"
        )
        return None
    point = points[-1]
    record.update(
        throughput_rps=point.throughput_rps,
        cpu_utilization=point.cpu_utilization,
        speed_reference_ms=point.reference_ms,
    )
    if point.cpu_utilization < SATURATED_PROBE_CPU:
        document.setdefault("warnings", []).append(
            f"the capacity probe ran at {point.cpu_utilization:.0%} CPU, not saturated; the "
            "curve is fitted on the light stages alone (raise probe_factor)"
        )
        return None
    record["used"] = True
    return point


def fit_curve(
    run_dir: Path,
    routes: Profile,
    document: dict[str, Any],
    saturation: LoadPoint | None = None,
) -> ServiceCurve | None:
    """The service curve of the calibration run (and the capacity probe's ``saturation``),
    or None (reason in ``document``) when its stages cannot support a fit; the prediction
    then falls back to the MVA on demands.

    ``routes`` carries the routes' own CPU demands: its mean per request is the curve's
    reference for rescaling to another mix.
    """
    own_cpu_s = demand_per_request_s(routes)
    try:
        curve = fit_service_curve(
            calibration_points(run_dir),
            reference_demand_s=own_cpu_s,
            min_busy_cpu_s=own_cpu_s,
            saturation=saturation,
        )
    except ValueError as exc:
        document["service_curve_error"] = str(exc)
        return None
    if curve.busy_cpu_bounded:
        document.setdefault("warnings", []).append(
            "the calibration's CPU fit put the busy cost per request below the routes' own "
            f"CPU ({own_cpu_s * 1e3:.2f} ms) and was held there: its stages disagree "
            "(noise, or other load on the service's core); consider running it again"
        )
    return curve


def _predict(
    profile: Profile,
    curve: ServiceCurve | None,
    levels: list[int],
    settings: ValidationSettings,
    routes: Profile,
    speed_ms: Mapping[int, float] | None = None,
) -> Prediction:
    """The curve's prediction for ``profile``'s mix (compared on ``routes``' demands, the same
    mix with the routes' own CPU), or the MVA on demands when there is no curve. With
    ``speed_ms`` (users -> measured speed reference), each level at its machine's speed."""
    if curve is not None:
        return predict_curve(
            profile,
            levels,
            curve,
            spawn_rate=settings.spawn_rate,
            demand_s=demand_per_request_s(routes),
            speed_ms=speed_ms,
        )
    return predict(
        profile, levels, servers=SERVICE_WORKERS, calibrated=True, spawn_rate=settings.spawn_rate
    )


def _login_cpu_ms(profile: Profile) -> float:
    demand = profile.service_demands.get("POST /auth/login")
    return demand.cpu_ms if demand is not None else 0.0


def saturation_throughput(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Predicted and measured throughput at the highest level (planned past saturation).

    ``saturated`` says whether the measurement really was at saturation: the service's CPU
    at or above :data:`SATURATED_CPU`. When the model put saturation too low, the top level
    is still below it and its throughput is not the service's capacity, only a lower bound.
    """
    if not levels:
        return None
    top = max(levels, key=lambda lv: lv["users"])
    predicted = top["predicted"]["throughput_rps"]
    measured = top["measured"]["throughput_rps"]
    cpu = top["measured"].get("cpu_utilization")
    at_speed = top.get("at_measured_speed")
    return {
        "users": top["users"],
        "predicted_rps": predicted,
        "measured_rps": measured,
        "relative_error": top["relative_error"]["throughput_rps"],
        "measured_cpu_utilization": cpu,
        "saturated": cpu is not None and cpu >= SATURATED_CPU,
        "at_measured_speed": None
        if at_speed is None
        else {
            "speed_factor": at_speed["speed_factor"],
            "predicted_rps": at_speed["predicted"]["throughput_rps"],
            "relative_error": at_speed["relative_error"]["throughput_rps"],
        },
    }


def _holdout(
    calibrated: Profile,
    routes: Profile,
    curve: ServiceCurve | None,
    directory: Path,
    settings: ValidationSettings,
    pinning: dict[str, Any],
    warning: float,
    log: TextIO,
) -> dict[str, Any]:
    """Predict and measure the held-out mix with the same calibration (no recalibration)."""
    mix = holdout_profile(calibrated)
    mix_routes = holdout_profile(routes)
    probe = _predict(mix, curve, [1], settings, mix_routes)
    fractions = settings.holdout_fractions[: settings.holdout_levels]
    levels = sorted({max(1, round(f * probe.saturation_users)) for f in fractions})
    targets = settings.holdout_cpu_targets[: settings.holdout_levels]
    if curve is not None and targets:
        # Where the model predicts these CPU utilizations for this mix, as the main step's
        # light levels are placed (harness/validation.py, cpu_targets).
        def cpu_at(users: int) -> float:
            return _predict(mix, curve, [users], settings, mix_routes).levels[0].cpu_utilization

        levels = sorted({users_at_cpu(cpu_at, t, probe.saturation_users) for t in targets})
    prediction = _predict(mix, curve, levels, settings, mix_routes)
    shares = {name: persona.share for name, persona in mix.personas.items()}
    print(f"validate: held-out mix {shares}, levels {levels}", file=log)
    _, run_dir = _run(
        with_step_stages(mix, paired_stages(prediction.levels, settings, _login_cpu_ms(mix))),
        directory,
        settings,
        pinning,
    )
    result: dict[str, Any] = {"shares": shares, "run": str(run_dir), "complete": False}
    if run_dir is None or not (run_dir / "run.json").exists():
        return result

    def at_speed(speeds: Mapping[int, float]) -> Prediction | None:
        if curve is None:
            return None
        return _predict(mix, curve, levels, settings, mix_routes, speeds)

    result["levels"] = _compare(prediction, _measured(run_dir), warning, at_speed)
    result["summary"] = summarise(result["levels"])
    result["complete"] = bool(_read(run_dir / "run.json").get("complete"))
    _write_prediction(run_dir, prediction)
    return result
