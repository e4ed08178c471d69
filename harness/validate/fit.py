"""From a calibration run to a model that predicts any load: :class:`CalibratedModel`.

The calibration run's server metrics give per-endpoint service demands
(:func:`models.calibration.calibrate_run`); its measure stages, those at or under the
calibration's CPU limit, give the load points the service curve is fitted on
(:func:`models.service_curve.fit_service_curve`). The result predicts a closed step load for
any persona mix with the curve, or with the MVA on the calibrated demands when the stages
cannot support a curve.

Two fits of the same points: *plain*, and *speed-normalised*, where each stage's CPU is taken
at the machine speed its reference measured (models/service_curve.py, "machine speed"). One is
judged (``ValidationSettings.speed_normalised_fit``), the other shown beside it.

The capacity probe's saturated point can join a third fit, a diagnostic reported apart and
never judged: the saturation it measured is what the judged trials compare with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness import artifacts
from harness.validate.baseline import NaiveBaseline
from harness.validate.measure import read_measured
from harness.validate.plan import levels_at_cpu, overlay
from models.calibration import calibrate_run
from models.prediction import Prediction, demand_per_request_s, predict, predict_curve
from models.profile import Profile
from models.service_curve import (
    LATENCY_STATISTICS,
    SATURATED_PROBE_CPU,
    Backlog,
    BurstPoint,
    LoadPoint,
    ServiceCurve,
    fit_backlog,
    fit_service_curve,
)
from models.validation_records import MeasuredLevel

__all__ = [
    "SERVICE_WORKERS",
    "Calibrated",
    "CalibratedModel",
    "CurveFit",
    "FittedModels",
    "Models",
    "Predictor",
    "calibrate",
    "calibration_points",
    "fit_curve",
    "fit_models",
    "light_stages",
    "login_cpu_ms",
    "probe_point",
]

#: The bundled service runs with one worker: one CPU server for the model.
SERVICE_WORKERS = 1


def login_cpu_ms(profile: Profile) -> float:
    """The CPU one login costs (a deliberate password hash), from the profile's demands."""
    demand = profile.service_demands.get("POST /auth/login")
    return demand.cpu_ms if demand is not None else 0.0


def _load_point(level: MeasuredLevel) -> LoadPoint | None:
    latency = {statistic: level.figure(statistic) for statistic in LATENCY_STATISTICS}
    x, u = level.throughput_rps, level.cpu_utilization
    if x is None or u is None or any(value is None for value in latency.values()):
        return None
    return LoadPoint(
        x, u, {k: float(v or 0.0) for k, v in latency.items()}, level.speed_reference_ms
    )


def calibration_points(
    run_dir: Path, normalised: bool = True, max_cpu: float | None = None
) -> list[LoadPoint]:
    """A run's measure stages as load points for the service curve: stages without a
    throughput, a CPU figure or a latency statistic are left out, and so are those over
    ``max_cpu``. Without ``normalised`` the points carry no speed reference (a plain fit)."""
    points = []
    for level in read_measured(run_dir):
        point = _load_point(level)
        if point is None or (max_cpu is not None and point.cpu_utilization > max_cpu):
            continue
        points.append(point if normalised else dataclasses.replace(point, reference_ms=None))
    return points


def probe_point(run_dir: Path | None, completed: bool) -> tuple[LoadPoint | None, str | None]:
    """The capacity probe's saturated point, or None and the warning that says why not (the
    run failed, measured nothing usable, or did not saturate the service)."""
    points = calibration_points(run_dir) if run_dir is not None else []
    if not completed or not points:
        why = (
            "did not complete"
            if not completed or run_dir is None
            else "measured nothing usable (its measured stage needs two metric scrapes)"
        )
        return None, f"the capacity probe {why}; the curve is fitted on the light stages alone"
    point = points[-1]
    if point.cpu_utilization < SATURATED_PROBE_CPU:
        return point, (
            f"the capacity probe ran at {point.cpu_utilization:.0%} CPU, not saturated; the "
            "curve is fitted on the light stages alone (raise probe_factor)"
        )
    return point, None


@dataclass(frozen=True)
class CurveFit:
    """The service curve fitted on a calibration run, or why none could be."""

    curve: ServiceCurve | None
    error: str | None = None
    warning: str | None = None

    @property
    def curve_json(self) -> dict[str, Any] | None:
        return None if self.curve is None else self.curve.to_json()


def _unreferenced(point: BurstPoint) -> BurstPoint:
    """A burst without its speed reference: a plain fit drops them all, as it does the light
    stages'."""
    return dataclasses.replace(point, reference_ms=None)


def fit_curve(
    run_dir: Path,
    routes: Profile,
    saturation: LoadPoint | None = None,
    *,
    normalised: bool = True,
    max_cpu: float | None = None,
    burst: BurstPoint | None = None,
    deep_burst: BurstPoint | None = None,
    past: bool = True,
    shallow: bool = False,
) -> CurveFit:
    """The service curve of the calibration run's stages up to ``max_cpu``, with the burst
    stage's busy cost and the deep burst's backlog when there were, ``past`` the burst's depth
    and (or) ``shallow`` of it (and the capacity probe's ``saturation``, for the diagnostic
    fit only); ``normalised``: at one machine speed.

    ``routes`` carries the routes' own CPU demands: its mean per request is the curve's
    reference for rescaling to another mix, and the floor under the busy cost per request.
    """
    own_cpu_s = demand_per_request_s(routes)
    if not normalised:
        burst = None if burst is None else _unreferenced(burst)
        deep_burst = None if deep_burst is None else _unreferenced(deep_burst)
    try:
        curve = fit_service_curve(
            calibration_points(run_dir, normalised, max_cpu),
            reference_demand_s=own_cpu_s,
            min_busy_cpu_s=own_cpu_s,
            saturation=saturation,
            burst=burst,
            deep_burst=deep_burst,
            past=past,
            shallow=shallow,
        )
    except ValueError as exc:
        return CurveFit(None, error=str(exc))
    warning = None
    if curve.busy_cpu_bounded:
        warning = (
            "the calibration's CPU fit put the busy cost per request below the routes' own "
            f"CPU ({own_cpu_s * 1e3:.2f} ms) and was held there: its stages disagree "
            "(noise, or other load on the service's core); consider running it again"
        )
    return CurveFit(curve, warning=warning)


@dataclass(frozen=True)
class CalibratedModel:
    """The calibrated model of one persona mix: predicts a closed step load at any levels.

    ``calibrated`` holds the measured demands with the overhead spread over the routes (what
    a capacity plan pays for); ``routes`` the same mix with the routes' own CPU, the basis on
    which another mix is compared with the calibration's (models/service_curve.py, "another
    mix"). Without a ``curve`` the prediction is the MVA on the calibrated demands.
    """

    calibrated: Profile
    routes: Profile
    curve: ServiceCurve | None
    spawn_rate: float

    def predict(
        self, levels: Sequence[int], speed_ms: Mapping[int, float] | None = None
    ) -> Prediction:
        """The prediction at ``levels`` users; with ``speed_ms`` (users -> measured speed
        reference), each level on a machine as fast as it was measured to be."""
        if self.curve is not None:
            return predict_curve(
                self.calibrated,
                list(levels),
                self.curve,
                spawn_rate=self.spawn_rate,
                demand_s=demand_per_request_s(self.routes),
                speed_ms=speed_ms,
            )
        return predict(
            self.calibrated,
            list(levels),
            servers=SERVICE_WORKERS,
            calibrated=True,
            spawn_rate=self.spawn_rate,
        )

    def cpu_at(self, users: int) -> float:
        """The predicted CPU utilization at ``users`` users."""
        return self.predict([users]).levels[0].cpu_utilization

    @property
    def saturation_users(self) -> float:
        """The model's saturation point N* in users."""
        return self.predict([1]).saturation_users

    def levels_at_cpu(self, targets: Sequence[float]) -> list[int]:
        """The users at which the model predicts each of ``targets`` CPU utilization."""
        return levels_at_cpu(self.cpu_at, targets, self.saturation_users)

    @property
    def login_cpu_ms(self) -> float:
        return login_cpu_ms(self.calibrated)

    @property
    def shares(self) -> dict[str, float]:
        return {name: persona.share for name, persona in self.calibrated.personas.items()}

    def for_mix(self, transform: Callable[[Profile], Profile]) -> CalibratedModel:
        """The same calibration (and curve) for another workload: ``transform`` applied to
        both profiles, e.g. another persona mix. Nothing is recalibrated."""
        return CalibratedModel(
            transform(self.calibrated), transform(self.routes), self.curve, self.spawn_rate
        )


def light_stages(run_dir: Path, max_cpu: float) -> tuple[list[MeasuredLevel], list[int]]:
    """A calibration run's measure stages, and the users of those at or under ``max_cpu`` (the
    stages a fit may use; one without a CPU figure is left out too, and so is an idle stage,
    of no users: it measures the CPU without requests, not a load)."""
    stages = read_measured(run_dir)
    used = [
        s.users
        for s in stages
        if s.users > 0 and s.cpu_utilization is not None and s.cpu_utilization <= max_cpu
    ]
    return stages, used


@dataclass(frozen=True)
class Calibrated:
    """A calibration run's demands: the profile with them (the overhead spread over the
    routes: what a capacity plan pays for), the profile with the routes' own CPU (the basis on
    which mixes are compared), and the files a validation keeps."""

    calibrated: Profile
    routes: Profile
    demands: Mapping[str, Any]
    """The profile overlay of the measured demands (``[service_demands]``)."""
    overlay_toml: str
    details: Mapping[str, Any]

    def launch(self, profile: Profile) -> Profile:
        """``profile`` (the launch's, at its real think times) with the measured demands."""
        return overlay(profile, self.demands)

    def write(self, directory: Path) -> None:
        """``calibration.toml`` (the overlay) and ``calibration.json`` (both estimates per
        endpoint) into ``directory``."""
        (directory / "calibration.toml").write_text(self.overlay_toml, encoding="utf-8")
        artifacts.write_json(directory / "calibration.json", dict(self.details))


def calibrate(run_dir: Path, profile: Profile) -> Calibrated:
    """The demands a calibration run measured (CalibrationError when it measured none)."""
    calibration = calibrate_run(run_dir, profile)
    routes = calibrate_run(run_dir, profile, include_overhead=False)
    return Calibrated(
        overlay(profile, calibration.overlay()),
        overlay(profile, routes.overlay()),
        calibration.overlay(),
        calibration.overlay_toml(),
        calibration.to_json(),
    )


class Predictor(Protocol):
    """What a trial needs of a model: a calibrated profile (the workload its runs put on the
    service), predictions of any levels, and the same calibration for another workload.
    :class:`CalibratedModel` is one (a pinned service); the lab's topology model another
    (:mod:`harness.validate.topology_trial`)."""

    @property
    def calibrated(self) -> Profile: ...

    @property
    def login_cpu_ms(self) -> float:
        """How long one login keeps the service, in ms, for the settle stages (its CPU on
        one core; on the lab, over the cores of the fleet)."""
        ...

    @property
    def shares(self) -> dict[str, float]: ...

    @property
    def saturation_users(self) -> float: ...

    def predict(self, levels: Sequence[int]) -> Prediction: ...

    def levels_at_cpu(self, targets: Sequence[float]) -> list[int]: ...

    def for_mix(self, transform: Callable[[Profile], Profile]) -> Predictor: ...


@dataclass(frozen=True)
class Models:
    """What predicts a trial: the judged model, the other fit (None without one) and the
    naive baseline (None when the calibration gave none)."""

    judged: Predictor
    alternative: Predictor | None
    alternative_fit: str
    baseline: NaiveBaseline | None

    def for_workload(self, transform: Callable[[Profile], Profile]) -> Models:
        """The same calibration for another workload (nothing is recalibrated)."""
        other = None if self.alternative is None else self.alternative.for_mix(transform)
        return dataclasses.replace(self, judged=self.judged.for_mix(transform), alternative=other)


@dataclass(frozen=True)
class FittedModels:
    """The models of a calibration and the two fits they came from (for the document)."""

    models: Models
    judged_fit: CurveFit
    other_fit: CurveFit
    judged_model: CalibratedModel
    """The judged model, as the capacity probe needs it (its routes)."""
    backlog: Backlog | None = None
    """The backlog's cost the two bursts measured, on the judged fit's terms, whether or not
    the judged curve took it (None without both bursts, or no deeper queue in the second)."""


def measured_backlog(
    curve: ServiceCurve | None,
    burst: BurstPoint | None,
    deep_burst: BurstPoint | None,
    normalised: bool,
) -> Backlog | None:
    """The backlog's cost of ``burst`` and ``deep_burst`` on ``curve``'s wake-up cost,
    background, speed and ceiling: the curve's own when it took them, else measured beside it
    (applied on neither side)."""
    if curve is None or burst is None or deep_burst is None:
        return None
    if curve.backlog is not None:
        return curve.backlog
    if not normalised:
        burst, deep_burst = _unreferenced(burst), _unreferenced(deep_burst)
    return fit_backlog(
        burst,
        deep_burst,
        curve.background,
        curve.wake_cpu_s,
        curve.reference_ms,
        curve.ceiling,
        past=False,
        shallow=False,
    )


def fit_models(
    run_dir: Path,
    calibration: Calibrated,
    heaviest: MeasuredLevel | None,
    *,
    speed_normalised: bool,
    spawn_rate: float,
    max_cpu: float,
    burst: BurstPoint | None = None,
    deep_burst: BurstPoint | None = None,
    backlog_fit: bool = False,
    shallow_fit: bool = False,
) -> FittedModels:
    """The judged fit (plain, or speed-normalised), the other one, and the naive baseline of
    the ``heaviest`` light stage, all from the stages at or under ``max_cpu`` and the
    ``burst`` stage when there was one; the ``deep_burst``'s backlog in both fits, past the
    burst's depth when ``backlog_fit`` and below it when ``shallow_fit``, else measured
    beside them (``FittedModels.backlog``)."""
    in_fit = backlog_fit or shallow_fit
    fits = {
        normalised: fit_curve(
            run_dir,
            calibration.routes,
            normalised=normalised,
            max_cpu=max_cpu,
            burst=burst,
            deep_burst=deep_burst if in_fit else None,
            past=backlog_fit,
            shallow=shallow_fit,
        )
        for normalised in (False, True)
    }
    judged, other = fits[speed_normalised], fits[not speed_normalised]

    def model(fit: CurveFit) -> CalibratedModel:
        return CalibratedModel(calibration.calibrated, calibration.routes, fit.curve, spawn_rate)

    models_judged = model(judged)
    models = Models(
        judged=models_judged,
        alternative=None if other.curve is None else model(other),
        alternative_fit="plain" if speed_normalised else "speed-normalised",
        baseline=None if heaviest is None else NaiveBaseline.of(heaviest),
    )
    backlog = measured_backlog(judged.curve, burst, deep_burst, speed_normalised)
    return FittedModels(models, judged, other, models_judged, backlog)
