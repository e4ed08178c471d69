"""From a calibration run to a model that predicts any load: :class:`CalibratedModel`.

The calibration run's server metrics give per-endpoint service demands
(:func:`models.calibration.calibrate_run`); its measure stages give the load points the
service curve is fitted on (:func:`models.service_curve.fit_service_curve`), optionally with
the capacity probe's saturated point. The result predicts a closed step load for any persona
mix with the curve, or with the MVA on the calibrated demands when the stages cannot support
a curve.

Why a capacity probe: the service's CPU per request keeps falling near saturation, later than
anything measured below it can show, so a curve fitted on light stages alone puts saturation
too low. A probe that did not saturate the service is reported and left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import artifacts
from harness.validate.measure import read_measured
from harness.validate.plan import overlay, users_at_cpu
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
from models.validation_records import MeasuredLevel

__all__ = [
    "SERVICE_WORKERS",
    "CalibratedModel",
    "CurveFit",
    "calibrate",
    "calibration_points",
    "fit_curve",
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


def calibration_points(run_dir: Path) -> list[LoadPoint]:
    """A run's measure stages as load points for the service curve (stages without a
    throughput, a CPU figure or a latency statistic are left out)."""
    return [point for level in read_measured(run_dir) if (point := _load_point(level))]


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


def fit_curve(run_dir: Path, routes: Profile, saturation: LoadPoint | None = None) -> CurveFit:
    """The service curve of the calibration run (and the capacity probe's ``saturation``).

    ``routes`` carries the routes' own CPU demands: its mean per request is the curve's
    reference for rescaling to another mix, and the floor under the busy cost per request.
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

    def users_at_cpu(self, target: float) -> int:
        """The fewest users at which the model predicts ``target`` CPU utilization."""
        return users_at_cpu(self.cpu_at, target, self.saturation_users)

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


def calibrate(run_dir: Path, profile: Profile, directory: Path) -> tuple[Profile, Profile]:
    """The calibrated and the routes-only profiles from a calibration run; writes
    ``calibration.toml`` (the overlay) and ``calibration.json`` (both estimates per endpoint)
    into the validation's ``directory``."""
    calibration = calibrate_run(run_dir, profile)
    (directory / "calibration.toml").write_text(calibration.overlay_toml(), encoding="utf-8")
    artifacts.write_json(directory / "calibration.json", calibration.to_json())
    routes = calibrate_run(run_dir, profile, include_overhead=False)
    return overlay(profile, calibration.overlay()), overlay(profile, routes.overlay())
