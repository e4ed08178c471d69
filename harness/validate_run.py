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
        <stamp>-step/          the calibration run (light load)
        <stamp>-step-2/        the step load (report.html: prediction against measurement)
        <stamp>-step-3/        the held-out mix
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness import artifacts
from harness.exit_codes import ExitCode
from harness.orchestrate import execute
from harness.run_request import RunRequest
from harness.validation import (
    ValidationSettings,
    compare,
    holdout_profile,
    measured_levels,
    overlay,
    paired_stages,
    plan_levels,
    summarise,
    validation_profile,
    with_step_stages,
)
from models.calibration import calibrate_run
from models.prediction import Prediction, predict
from models.profile import Profile, Stage

#: The bundled service runs with one worker: one CPU server for the model.
SERVICE_WORKERS = 1


@dataclass
class ValidationOutcome:
    """What a validation produced; ``exit_code`` follows the CLI's conventions."""

    directory: Path
    exit_code: int = ExitCode.OK
    step_run: Path | None = None
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
    return execute(request, progress_stream=sys.stderr)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _measure_and_compare(
    run_dir: Path, prediction: Prediction, loadgen_warning: float
) -> list[dict[str, Any]]:
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    series_path = run_dir / "stats" / "timeseries.json"
    series = _read(series_path).get("records", []) if series_path.exists() else []
    return compare(prediction.levels, measured_levels(run, scrapes, series), loadgen_warning)


def _write_prediction(run_dir: Path, prediction: Prediction) -> None:
    """Replace the run's own prediction with the calibrated one and render the report again."""
    prediction.write(run_dir / "prediction.json")
    artifacts.render_report(run_dir)


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

    vprofile = validation_profile(profile, settings.think_scale)
    with pinned_cpus(pin) as pinning:
        document["cpu_pinning"] = pinning
        save()
        print(f"validate: calibration run, {settings.calibration_users} users", file=log)
        calibration_stage = Stage(
            users=settings.calibration_users,
            duration_s=settings.calibration_s,
            spawn_rate=settings.spawn_rate,
        )
        code, calibration_dir = _run(
            with_step_stages(vprofile, [calibration_stage]), directory, settings, pinning
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
        floor_ms = latency_floor(calibration_dir, calibrated, settings.calibration_users)
        document["latency_floor_ms"] = round(floor_ms, 4)

        probe = predict(calibrated, [1], servers=SERVICE_WORKERS, calibrated=True)
        levels = plan_levels(probe.saturation_users, settings)
        prediction = predict(
            calibrated, levels, servers=SERVICE_WORKERS, calibrated=True,
            spawn_rate=settings.spawn_rate, latency_floor_ms=floor_ms,
        )  # fmt: skip
        document["saturation_users_predicted"] = round(prediction.saturation_users, 2)
        stages = paired_stages(prediction.levels, settings, _login_cpu_ms(calibrated))
        planned_s = sum(stage.duration_s for stage in stages)
        print(
            f"validate: predicted saturation at {prediction.saturation_users:.0f} users; "
            f"step load {levels} ({planned_s:.0f} s)",
            file=log,
        )
        save()
        code, step_dir = _run(with_step_stages(calibrated, stages), directory, settings, pinning)
        outcome.step_run = step_dir
        document["step_run"] = str(step_dir)
        if step_dir is None or not (step_dir / "run.json").exists():
            document["incomplete_reasons"] = ["the step run wrote no run.json"]
            save()
            outcome.exit_code = ExitCode.UNREACHABLE
            return outcome
        warning = profile.gates.loadgen_cpu_warning
        document["levels"] = _measure_and_compare(step_dir, prediction, warning)
        document["summary"] = summarise(document["levels"])
        document["saturation_throughput"] = _saturation_throughput(document["levels"])
        step_complete = bool(_read(step_dir / "run.json").get("complete"))
        _write_prediction(step_dir, prediction)
        outcome.report = step_dir / "report.html"
        save()

        if settings.holdout:
            document["holdout"] = _holdout(
                calibrated, directory, settings, pinning, warning, log, floor_ms
            )
            save()

    holdout_complete = not settings.holdout or bool(document.get("holdout", {}).get("complete"))
    document["complete"] = step_complete and holdout_complete
    if not document["complete"]:
        document["incomplete_reasons"] = ["a run was incomplete (see its run.json)"]
        outcome.exit_code = ExitCode.UNREACHABLE
    document["finished_at"] = artifacts.iso(artifacts.utc_now())
    save()
    artifacts.write_json(step_dir / "validation.json", document)
    return outcome


def latency_floor(run_dir: Path, calibrated: Profile, users: int) -> float:
    """Per-request time outside the service's CPU, from the light-load calibration run.

    The client-measured mean of the steady-state API calls (logins and PAGE samples left
    out) minus the model's mean at that load with the calibrated demands: what the loopback
    network, the HTTP server's event loop and the load generator add to every request.
    """
    endpoints = _read(run_dir / "run.json").get("endpoints", [])
    steady = [
        e
        for e in endpoints
        if e.get("method") != "PAGE"
        and e.get("endpoint") != "POST /auth/login"
        and e.get("requests")
        and e.get("mean_ms") is not None
    ]
    requests = sum(int(e["requests"]) for e in steady)
    if requests == 0:
        return 0.0
    measured = sum(float(e["mean_ms"]) * int(e["requests"]) for e in steady) / requests
    model = predict(calibrated, [users], servers=SERVICE_WORKERS).levels[0].mean_ms
    return max(0.0, measured - model)


def _login_cpu_ms(profile: Profile) -> float:
    demand = profile.service_demands.get("POST /auth/login")
    return demand.cpu_ms if demand is not None else 0.0


def _saturation_throughput(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Predicted and measured throughput at the highest level (at or past saturation)."""
    if not levels:
        return None
    top = max(levels, key=lambda lv: lv["users"])
    predicted = top["predicted"]["throughput_rps"]
    measured = top["measured"]["throughput_rps"]
    return {
        "users": top["users"],
        "predicted_rps": predicted,
        "measured_rps": measured,
        "relative_error": top["relative_error"]["throughput_rps"],
    }


def _holdout(
    calibrated: Profile,
    directory: Path,
    settings: ValidationSettings,
    pinning: dict[str, Any],
    warning: float,
    log: TextIO,
    floor_ms: float,
) -> dict[str, Any]:
    """Predict and measure the held-out mix with the same calibration (no recalibration)."""
    mix = holdout_profile(calibrated)
    probe = predict(mix, [1], servers=SERVICE_WORKERS, calibrated=True)
    fractions = [0.4, 0.8][: settings.holdout_levels]
    levels = sorted({max(1, round(f * probe.saturation_users)) for f in fractions})
    prediction = predict(
        mix, levels, servers=SERVICE_WORKERS, calibrated=True,
        spawn_rate=settings.spawn_rate, latency_floor_ms=floor_ms,
    )  # fmt: skip
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
    result["levels"] = _measure_and_compare(run_dir, prediction, warning)
    result["summary"] = summarise(result["levels"])
    result["complete"] = bool(_read(run_dir / "run.json").get("complete"))
    _write_prediction(run_dir, prediction)
    return result
