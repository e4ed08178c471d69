"""The records of ``validation.json``, typed once: ``harness validate`` writes them and the run
report reads them back (docs/artifacts.md, "validation.json").

    ValidationDocument
    ├── ProbeRecord                 the capacity probe, when one ran
    ├── TrialResult "step"          the step load (its levels also at the top of the file)
    │   ├── ComparedLevel ...       predicted, measured, relative error, spread per level
    │   │   ├── MeasuredLevel       the mean over the replications (and each replication's)
    │   │   ├── Spread              per metric: min, max, relative half-range
    │   │   └── AtMeasuredSpeed     the prediction moved to the machine speed of the level
    │   ├── TrialSummary            worst errors up to 85% CPU, goals met, widest spread
    │   └── SaturationCheck         predicted and measured throughput at the top level
    └── TrialResult "held-out mix"  the same, for a mix the calibration did not see

A figure is a float, or None where it was not measured or is undefined (a relative error
against a zero). Floats are rounded to four decimals when written, so a document diffs well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.errors import ParameterError
from models.rounding import rounded_if_float as rounded

__all__ = [
    "COMPARED",
    "AtMeasuredSpeed",
    "ComparedLevel",
    "Figures",
    "MeasuredLevel",
    "ProbeRecord",
    "SaturationCheck",
    "Spread",
    "TrialResult",
    "TrialSummary",
    "ValidationDocument",
]

#: The metrics compared per level: the names of a run.json stage record.
COMPARED = ("throughput_rps", "mean_ms", "p50_ms", "p95_ms", "cpu_utilization", "error_rate")

#: A figure per :data:`COMPARED` metric (None where there is none).
Figures = Mapping[str, float | None]

#: The version of the document's layout; raise it when a key changes meaning.
VALIDATION_SCHEMA_VERSION = 1


def _rounded_figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {key: rounded(value) for key, value in figures.items()}


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class MeasuredLevel:
    """One measure stage as measured: by one run, or the mean over several (a trial's level)."""

    users: int
    throughput_rps: float | None = None
    mean_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    cpu_utilization: float | None = None
    """Service CPU, in cores busy, from the server's own counter over the stage."""
    error_rate: float | None = None
    requests: int | None = None
    loadgen_cpu: float | None = None
    """The load generator's CPU over the stage (over several runs: the highest)."""
    speed_reference_ms: float | None = None
    """The machine-speed reference over the stage (harness/run/speed_reference.py)."""

    def figure(self, key: str) -> float | None:
        """The figure named ``key`` (one of :data:`COMPARED`, or ``requests`` and the rest)."""
        value = getattr(self, key)
        return None if value is None else float(value)

    def figures(self) -> dict[str, float | None]:
        return {key: self.figure(key) for key in COMPARED}

    def to_json(self) -> dict[str, Any]:
        """The figures a ``measured`` block holds (the compared ones, requests, speed)."""
        return _rounded_figures(
            {
                **self.figures(),
                "requests": self.requests,
                "speed_reference_ms": self.speed_reference_ms,
            }
        )

    @classmethod
    def from_json(cls, users: int, data: Mapping[str, Any]) -> MeasuredLevel:
        requests = data.get("requests")
        return cls(
            users=users,
            **{key: _opt_float(data.get(key)) for key in COMPARED},
            requests=None if requests is None else int(requests),
            loadgen_cpu=_opt_float(data.get("loadgen_cpu")),
            speed_reference_ms=_opt_float(data.get("speed_reference_ms")),
        )


@dataclass(frozen=True, slots=True)
class Spread:
    """One metric's range over the replications of a level.

    ``relative_half_range`` is (max - min) / 2 over the mean: every replication lies within
    about that fraction of the middle, which reads like the ``±`` of an error bound and
    compares directly with the accuracy goals. Why not the standard deviation: from two to
    four runs it is a poor estimate, and a lucky run landing between the first two lowers it;
    the half-range never falls as runs are added. None when the mean is 0.
    """

    min: float
    max: float
    relative_half_range: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        numbers = list(values)
        if not numbers:
            raise ParameterError("values must hold at least one value for a spread, got none")
        low, high = min(numbers), max(numbers)
        mean = sum(numbers) / len(numbers)
        return cls(low, high, (high - low) / 2 / mean if mean else None)

    def to_json(self) -> dict[str, float | None]:
        return _rounded_figures(
            {"min": self.min, "max": self.max, "relative_half_range": self.relative_half_range}
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Spread:
        return cls(float(data["min"]), float(data["max"]), _opt_float(data["relative_half_range"]))


@dataclass(frozen=True, slots=True)
class AtMeasuredSpeed:
    """The level's prediction moved to the machine speed measured while it ran, and its errors:
    the difference from the prediction as made is the machine's drift, not the model's error."""

    speed_reference_ms: float
    speed_factor: float
    predicted: Figures
    relative_error: Figures
    meets_goals: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "speed_reference_ms": rounded(self.speed_reference_ms),
            "speed_factor": rounded(self.speed_factor),
            "predicted": _rounded_figures(self.predicted),
            "relative_error": _rounded_figures(self.relative_error),
            "meets_goals": self.meets_goals,
        }


@dataclass(frozen=True, slots=True)
class ComparedLevel:
    """One level of a trial: predicted before it ran, measured, and the relative error."""

    users: int
    predicted: Figures
    measured: MeasuredLevel
    relative_error: Figures
    loadgen_trustworthy: bool
    within_goal_range: bool
    """Whether the accuracy goals apply: the level's CPU is inside their range."""
    meets_goals: bool | None
    """None where the goals do not apply (:attr:`within_goal_range` is False)."""
    replications: int = 1
    spread: Mapping[str, Spread] = field(default_factory=dict)
    per_replication: tuple[MeasuredLevel, ...] = ()
    at_measured_speed: AtMeasuredSpeed | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "users": self.users,
            "predicted": _rounded_figures(self.predicted),
            "measured": self.measured.to_json(),
            "relative_error": _rounded_figures(self.relative_error),
            "loadgen_cpu": rounded(self.measured.loadgen_cpu),
            "loadgen_trustworthy": self.loadgen_trustworthy,
            "within_goal_range": self.within_goal_range,
            "meets_goals": self.meets_goals,
            "replications": self.replications,
            "spread": {key: one.to_json() for key, one in self.spread.items()},
            "per_replication": [
                {"replication": number, **one.to_json(), "loadgen_cpu": rounded(one.loadgen_cpu)}
                for number, one in enumerate(self.per_replication, start=1)
            ],
        }
        if self.at_measured_speed is not None:
            document["at_measured_speed"] = self.at_measured_speed.to_json()
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ComparedLevel:
        """A level as written by :meth:`to_json` (the speed block is not read back)."""
        users = int(data["users"])
        measured = MeasuredLevel.from_json(
            users, {**data["measured"], "loadgen_cpu": data.get("loadgen_cpu")}
        )
        return cls(
            users=users,
            predicted={k: _opt_float(v) for k, v in data["predicted"].items()},
            measured=measured,
            relative_error={k: _opt_float(v) for k, v in data["relative_error"].items()},
            loadgen_trustworthy=bool(data.get("loadgen_trustworthy", True)),
            within_goal_range=bool(data.get("within_goal_range", True)),
            meets_goals=data.get("meets_goals"),
            replications=int(data.get("replications", 1)),
            spread={k: Spread.from_json(v) for k, v in (data.get("spread") or {}).items()},
            per_replication=tuple(
                MeasuredLevel.from_json(users, one) for one in data.get("per_replication", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """A trial's levels in one line: the worst absolute error per metric over the levels the
    goals apply to, and whether every such level met them."""

    levels_compared: int
    levels_within_goal_range: int
    worst_abs_relative_error: Figures
    goals: Mapping[str, float]
    goals_met: bool
    replications: int
    widest_spread: Figures
    at_measured_speed_worst: Figures | None = None
    at_measured_speed_goals_met: bool | None = None

    def to_json(self) -> dict[str, Any]:
        at_speed = None
        if self.at_measured_speed_worst is not None:
            at_speed = {
                "worst_abs_relative_error": _rounded_figures(self.at_measured_speed_worst),
                "goals_met": self.at_measured_speed_goals_met,
            }
        return {
            "levels_compared": self.levels_compared,
            "levels_within_goal_range": self.levels_within_goal_range,
            "worst_abs_relative_error": _rounded_figures(self.worst_abs_relative_error),
            "goals": dict(self.goals),
            "goals_met": self.goals_met,
            "replications": self.replications,
            "widest_spread": _rounded_figures(self.widest_spread),
            "at_measured_speed": at_speed,
        }


@dataclass(frozen=True, slots=True)
class SaturationCheck:
    """Predicted and measured throughput at a trial's top level, planned past saturation.

    ``saturated`` says whether the measurement really was at saturation (the service's CPU at
    or above the saturation threshold); when not, the measured figure is a lower bound of the
    capacity, not the capacity.
    """

    users: int
    predicted_rps: float | None
    measured_rps: float | None
    relative_error: float | None
    measured_cpu_utilization: float | None
    saturated: bool
    at_measured_speed: AtMeasuredSpeed | None = None

    def to_json(self) -> dict[str, Any]:
        at_speed = self.at_measured_speed
        return {
            "users": self.users,
            "predicted_rps": rounded(self.predicted_rps),
            "measured_rps": rounded(self.measured_rps),
            "relative_error": rounded(self.relative_error),
            "measured_cpu_utilization": rounded(self.measured_cpu_utilization),
            "saturated": self.saturated,
            "at_measured_speed": None
            if at_speed is None
            else {
                "speed_factor": rounded(at_speed.speed_factor),
                "predicted_rps": rounded(at_speed.predicted.get("throughput_rps")),
                "relative_error": rounded(at_speed.relative_error.get("throughput_rps")),
            },
        }


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One trial: a load predicted by the calibrated model, then measured and compared.

    ``runs`` are the run directories, one per replication, in order; the first holds the
    report that puts this trial's prediction beside its measurement.
    """

    name: str
    runs: tuple[str, ...] = ()
    levels: tuple[ComparedLevel, ...] = ()
    summary: TrialSummary | None = None
    saturation: SaturationCheck | None = None
    complete: bool = False
    shares: Mapping[str, float] = field(default_factory=dict)
    """The persona mix the trial ran (the held-out trial's differs from the calibration's)."""
    incomplete_reasons: tuple[str, ...] = ()
    """Why the trial stopped short: a replication that failed or was incomplete."""


@dataclass
class ProbeRecord:
    """The capacity probe: a short run driven into saturation after the calibration."""

    users: int
    run: str | None
    used: bool = False
    throughput_rps: float | None = None
    cpu_utilization: float | None = None
    speed_reference_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"users": self.users, "run": self.run, "used": self.used}
        if self.throughput_rps is not None:
            document.update(
                throughput_rps=rounded(self.throughput_rps),
                cpu_utilization=rounded(self.cpu_utilization),
                speed_reference_ms=rounded(self.speed_reference_ms),
            )
        return document


@dataclass
class ValidationDocument:
    """``validation.json``: written after every step of a validation, so a crash or Ctrl-C
    halfway leaves what finished, marked incomplete.

    The main trial (``step``) is written at the top level (``levels``, ``summary``,
    ``saturation_throughput``, ``step_run``, ``step_runs``), the held-out one under
    ``holdout``.
    """

    started_at: str
    settings: Mapping[str, Any]
    machine: Mapping[str, Any]
    complete: bool = False
    finished_at: str | None = None
    cpu_pinning: Mapping[str, Any] | None = None
    calibration_run: str | None = None
    capacity_probe: ProbeRecord | None = None
    service_curve: Mapping[str, Any] | None = None
    service_curve_error: str | None = None
    saturation_users_predicted: float | None = None
    latency_floor_ms: float | None = None
    step: TrialResult | None = None
    holdout: TrialResult | None = None
    warnings: list[str] = field(default_factory=list)
    incomplete_reasons: list[str] = field(default_factory=list)

    def incomplete(self, reason: str) -> None:
        if reason not in self.incomplete_reasons:
            self.incomplete_reasons.append(reason)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schema_version": VALIDATION_SCHEMA_VERSION,
            "started_at": self.started_at,
            "complete": self.complete,
            "settings": dict(self.settings),
            "machine": dict(self.machine),
            "levels": [],
        }
        optional: dict[str, Any] = {
            "cpu_pinning": self.cpu_pinning,
            "calibration_run": self.calibration_run,
            "capacity_probe": None
            if self.capacity_probe is None
            else self.capacity_probe.to_json(),
            "service_curve_error": self.service_curve_error,
            "saturation_users_predicted": rounded(self.saturation_users_predicted, 2),
            "latency_floor_ms": rounded(self.latency_floor_ms),
        }
        document.update({key: value for key, value in optional.items() if value is not None})
        if self.calibration_run is not None:
            document["service_curve"] = self.service_curve
        if self.step is not None:
            document.update(_main_trial_json(self.step))
        if self.holdout is not None:
            document["holdout"] = _holdout_json(self.holdout)
        if self.warnings:
            document["warnings"] = list(self.warnings)
        if self.incomplete_reasons:
            document["incomplete_reasons"] = list(self.incomplete_reasons)
        if self.finished_at is not None:
            document["finished_at"] = self.finished_at
        return document


def _main_trial_json(trial: TrialResult) -> dict[str, Any]:
    document: dict[str, Any] = {
        "step_run": trial.runs[0] if trial.runs else None,
        "step_runs": list(trial.runs),
        "levels": [level.to_json() for level in trial.levels],
    }
    if trial.summary is not None:
        document["summary"] = trial.summary.to_json()
        document["saturation_throughput"] = (
            None if trial.saturation is None else trial.saturation.to_json()
        )
    return document


def _holdout_json(trial: TrialResult) -> dict[str, Any]:
    document: dict[str, Any] = {
        "shares": dict(trial.shares),
        "run": trial.runs[0] if trial.runs else None,
        "complete": trial.complete,
    }
    if trial.summary is not None:
        document["levels"] = [level.to_json() for level in trial.levels]
        document["summary"] = trial.summary.to_json()
    return document
