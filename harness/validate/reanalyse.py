"""Fit and compare again from a finished validation's runs, running nothing.

``harness validate --reanalyse DIR`` reads ``DIR/validation.json`` for its settings and its
runs, refits the calibration (plain, or at one machine speed with
``--speed-normalised-fit``), predicts every trial's levels as run, and compares them with what
those runs measured. This is how the effect of a modelling choice on a finished validation is
reproduced: the same data, the other choice, the new errors beside the old. With
``--backlog-fit`` the deep burst the validation ran puts the backlog's cost into the fit
(models/service_curve.py, "past capacity"), as ``harness validate --backlog-fit`` would
have; without it, it stays out, as by default. ``--shallow-fit`` puts the law into the fit
below the burst's depth, as ``harness validate --shallow-fit`` would have (whatever the run
used). The lab topology
trial, predicted from the lab's own calibration, which neither fit touches, is kept as it was.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.validate.fit import Models, calibrate, fit_models, light_stages
from harness.validate.measure import read_measured
from harness.validate.runner import backlog_record, protocol
from harness.validate.settings import CALIBRATION_CPU_LIMIT, ValidationSettings
from harness.validate.trial import Trial, far_beyond, held_out_mix, held_out_think
from models.profile import load_profile
from models.validation_records import (
    VALIDATION_SCHEMA_VERSION,
    BurstRecord,
    CalibrationRecord,
    TrialResult,
    ValidationDocument,
)

__all__ = ["reanalyse"]


def _settings(data: Mapping[str, Any], **choices: bool) -> ValidationSettings:
    """The run's settings as recorded, with the fit's ``choices`` (the reanalysis's flags) in
    place of the run's own."""
    fields = {f.name for f in dataclasses.fields(ValidationSettings)}
    values: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in data.items()
        if key in fields
    }
    return ValidationSettings(**(values | choices))


def _read(directory: Path) -> dict[str, Any]:
    path = directory / "validation.json"
    if not path.is_file():
        raise UsageError(f"--reanalyse {directory}: no validation.json there")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if document.get("schema_version") != VALIDATION_SCHEMA_VERSION:
        raise UsageError(
            f"{path}: schema_version {document.get('schema_version')!r}; only documents of "
            f"version {VALIDATION_SCHEMA_VERSION} (the light-calibration protocol) can be "
            "reanalysed"
        )
    if not (document.get("calibration") or {}).get("run"):
        raise UsageError(f"{path}: its calibration never ran, so there is nothing to refit")
    return document


_TRIALS: dict[str, Callable[[Models, ValidationSettings, int], Trial]] = {
    "far beyond the calibration": far_beyond,
    "held-out mix": lambda models, settings, _heaviest: held_out_mix(models, settings),
    "held-out think time": lambda models, settings, _heaviest: held_out_think(models, settings),
}


def _recorded_burst(original: Mapping[str, Any], key: str) -> BurstRecord | None:
    """The calibration's ``key`` burst record as the validation wrote it (None: not run)."""
    recorded = original["calibration"].get(key)
    return None if recorded is None else BurstRecord.from_json(recorded, f"calibration.{key}")


def reanalyse(
    directory: Path,
    *,
    speed_normalised_fit: bool,
    backlog_fit: bool = False,
    shallow_fit: bool = False,
) -> dict[str, Any]:
    """The validation document of ``directory`` recomputed from its runs (module docstring);
    ``backlog_fit`` puts its deep burst's backlog into the fit past the burst's depth,
    ``shallow_fit`` below it."""
    original = _read(directory)
    choices = {"backlog_fit": backlog_fit, "shallow_fit": shallow_fit}
    settings = _settings(original["settings"], speed_normalised_fit=speed_normalised_fit, **choices)
    run_dir = Path(original["calibration"]["run"])
    profile = load_profile(run_dir / "profile.toml")
    calibration = calibrate(run_dir, profile)
    stages, used = light_stages(run_dir, CALIBRATION_CPU_LIMIT)
    heaviest = max((s for s in stages if s.users in used), key=lambda s: s.users, default=None)
    burst = _recorded_burst(original, "burst")
    deep_burst = _recorded_burst(original, "deep_burst")
    fitted = fit_models(
        run_dir,
        calibration,
        heaviest,
        speed_normalised=speed_normalised_fit,
        spawn_rate=settings.spawn_rate,
        max_cpu=CALIBRATION_CPU_LIMIT,
        burst=None if burst is None else burst.point(),
        deep_burst=None if deep_burst is None else deep_burst.point(),
        **choices,
    )
    document = ValidationDocument(
        started_at=original["started_at"],
        settings=dataclasses.asdict(settings),
        machine=original["machine"],
        protocol=protocol(settings),
        finished_at=original.get("finished_at"),
        cpu_pinning=original.get("cpu_pinning"),
        calibration=CalibrationRecord(
            pilot_run=original["calibration"].get("pilot_run"),
            pilot_cpu_per_user=original["calibration"].get("pilot_cpu_per_user"),
            run=str(run_dir),
            cpu_limit=CALIBRATION_CPU_LIMIT,
            stages=stages,
            used_users=used,
            burst=burst,
            deep_burst=deep_burst,
            backlog=backlog_record(fitted),
        ),
        service_curve=None
        if fitted.judged_fit.curve is None
        else fitted.judged_fit.curve.to_json(),
        alternative_curve=None
        if fitted.other_fit.curve is None
        else fitted.other_fit.curve.to_json(),
        service_curve_error=fitted.judged_fit.error,
        incomplete_reasons=list(original.get("incomplete_reasons", [])),
    )
    warning = profile.gates.loadgen_cpu_warning
    for recorded in original.get("trials", []):
        build = _TRIALS.get(recorded["name"])
        if build is None:  # the lab topology trial: its own calibration, kept as it was
            document.record(TrialResult.from_json(recorded))
            continue
        if heaviest is None or not recorded.get("runs"):
            continue
        levels = tuple(int(level["users"]) for level in recorded.get("levels", []))
        trial = dataclasses.replace(build(fitted.models, settings, heaviest.users), levels=levels)
        runs = [str(run) for run in recorded["runs"]]
        measured = [read_measured(Path(run)) for run in runs]
        result = trial.result(runs, trial.compare(measured, warning))
        document.record(
            dataclasses.replace(
                result,
                complete=bool(recorded.get("complete")),
                incomplete_reasons=tuple(recorded.get("incomplete_reasons", [])),
            )
        )
    document.complete = bool(original.get("complete"))
    return {**document.to_json(), "reanalysed_from": str(directory / "validation.json")}
