"""The records of ``validation.json``, typed once: ``harness validate`` writes them and the run
report reads them back (docs/artifacts.md, "validation.json").

    ValidationDocument
    ├── CalibrationRecord           the light calibration: its stages and their CPU
    │   └── BurstRecord             the burst stage: the busy cost per request, measured
    ├── ProbeRecord                 the capacity probe, a diagnostic that is never judged
    ├── TrialResult ...             one per load the calibration did not see
    │   ├── ComparedLevel ...       predicted, measured, error, and the naive baseline's error
    │   │   ├── MeasuredLevel       the mean over the replications (and each replication's)
    │   │   ├── PoolerComparison    the lab topology trial: PgBouncer's connections busy and
    │   │   │                       wait against the model's pooler station (pooler_records)
    │   │   ├── Spread              per metric: min, max, relative half-range
    │   │   └── Alternative         the other fit's prediction (with or without the speed
    │   │                           reference), shown beside the judged one
    │   ├── TrialSummary            worst judged errors, the baseline's, goals met, misses
    │   └── SaturationCheck         predicted and measured throughput where the CPU saturated
    ├── DecisionRecord              the instance decision on the lab: K-1, K (K+1) measured,
    │                               and the naive baseline's K (the CPU target alone)
    └── ValidationSummary           every judged goal of every trial in one verdict

A figure is a float, or None where it was not measured or is undefined (a relative error
against a zero). Floats are rounded to four decimals when written, so a document diffs well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.errors import ParameterError, RecordError
from models.json_fields import JsonFields
from models.lab_calibration import LabDemands
from models.pooler_records import PoolerComparison, PoolerMeasurement
from models.rounding import rounded_if_float as rounded
from models.service_curve import BurstPoint

__all__ = [
    "COMPARED",
    "VALIDATION_SCHEMA_VERSION",
    "Alternative",
    "BurstRecord",
    "CalibrationRecord",
    "ComparedLevel",
    "CountMeasurement",
    "CountRun",
    "DecisionRecord",
    "Figures",
    "MeasuredLevel",
    "ProbeRecord",
    "SaturationCheck",
    "Spread",
    "Throttling",
    "TrialResult",
    "TrialSummary",
    "ValidationDocument",
    "ValidationSummary",
]

#: The metrics compared per level: the names of a run.json stage record.
COMPARED = ("throughput_rps", "mean_ms", "p50_ms", "p95_ms", "cpu_utilization", "error_rate")

#: A figure per :data:`COMPARED` metric (None where there is none).
Figures = Mapping[str, float | None]

#: The version of the document's layout; raised when a key changes meaning.
VALIDATION_SCHEMA_VERSION = 2


def _rounded_figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {key: rounded(value) for key, value in figures.items()}


def _figures(fields: JsonFields | None) -> dict[str, float | None]:
    """A figures object: every value a number or null."""
    if fields is None:
        return {}
    return {str(key): fields.opt_number(str(key)) for key in fields.data}


def _numbers(fields: JsonFields, key: str) -> tuple[float, ...]:
    """A list of numbers; an absent key is an empty list."""
    value = fields.data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise RecordError(fields.path(key), f"{fields.path(key)} = {value!r}: expected numbers")
    return tuple(float(v) for v in value)


def _opt_flag(fields: JsonFields, key: str) -> bool | None:
    return None if fields.data.get(key) is None else fields.flag(key)


@dataclass(frozen=True, slots=True)
class Throttling:
    """One CPU group's CFS throttling over a stage, from the kernel's own counters
    (``cpu.stat``): the share of its quota periods that ran out of quota with work runnable,
    and the seconds per second it spent throttled (what :mod:`models.cpu_quota` calls θ and
    the throttled time share)."""

    throttled_share: float
    throttled_time_share: float

    def stall_ms(self, period_ms: float) -> float | None:
        """The mean stall of a throttled period (None: no period was throttled)."""
        if self.throttled_share <= 0:
            return None
        return self.throttled_time_share / self.throttled_share * period_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "throttled_share": rounded(self.throttled_share),
            "throttled_time_share": rounded(self.throttled_time_share),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> Throttling:
        f = JsonFields(data, where)
        return cls(f.number("throttled_share"), f.number("throttled_time_share"))

    @classmethod
    def mean_of(cls, groups: Sequence[Throttling]) -> Throttling:
        return cls(
            sum(one.throttled_share for one in groups) / len(groups),
            sum(one.throttled_time_share for one in groups) / len(groups),
        )


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
    cpu_per_instance: tuple[float, ...] = ()
    """On the lab's topology trial: each instance's CPU (its CPU group's usage) as a fraction
    of its limit; ``cpu_utilization`` is then their mean, in the same unit (empty elsewhere,
    where ``cpu_utilization`` is the service's cores busy)."""
    pooler: PoolerMeasurement | None = None
    """On the lab's topology trial: PgBouncer over the stage (None elsewhere)."""
    throttling: tuple[Throttling, ...] = ()
    """On the lab's topology trial: each instance's CFS throttling over the stage (empty
    elsewhere, and in documents from before it was recorded)."""
    logins: int | None = None
    """The users' logins the client counted in the window (harness/validate/logins.py): a
    diagnostic, counted in the figures above; None where there were none."""
    login_cpu: float | None = None
    """The cores the login route's own CPU took over the scrapes that bound the window (part
    of ``cpu_utilization``); None without logins or scrapes."""

    def figure(self, key: str) -> float | None:
        """The figure named ``key`` (one of :data:`COMPARED`, or ``requests`` and the rest)."""
        value = getattr(self, key)
        return None if value is None else float(value)

    def figures(self) -> dict[str, float | None]:
        return {key: self.figure(key) for key in COMPARED}

    def to_json(self) -> dict[str, Any]:
        """The figures a ``measured`` block holds (the compared ones, requests, speed; on the
        lab's topology trial, each instance's CPU and the pooler too)."""
        document = _rounded_figures(
            {
                **self.figures(),
                "requests": self.requests,
                "speed_reference_ms": self.speed_reference_ms,
            }
        )
        if self.cpu_per_instance:
            document["cpu_per_instance"] = [rounded(one) for one in self.cpu_per_instance]
        if self.pooler is not None:
            document["pooler"] = self.pooler.to_json()
        if self.throttling:
            document["throttling"] = [one.to_json() for one in self.throttling]
        if self.logins is not None:
            document["logins"] = self.logins
            document["login_cpu"] = rounded(self.login_cpu, 4)
        return document

    @classmethod
    def from_json(cls, users: int, data: object, where: str = "") -> MeasuredLevel:
        f = JsonFields(data, where)
        pooler = f.opt_child("pooler")
        return cls(
            users=users,
            throughput_rps=f.opt_number("throughput_rps"),
            mean_ms=f.opt_number("mean_ms"),
            p50_ms=f.opt_number("p50_ms"),
            p95_ms=f.opt_number("p95_ms"),
            cpu_utilization=f.opt_number("cpu_utilization"),
            error_rate=f.opt_number("error_rate"),
            requests=f.opt_integer("requests"),
            loadgen_cpu=f.opt_number("loadgen_cpu"),
            speed_reference_ms=f.opt_number("speed_reference_ms"),
            cpu_per_instance=_numbers(f, "cpu_per_instance"),
            pooler=None
            if pooler is None
            else PoolerMeasurement.from_json(pooler.data, pooler.where),
            throttling=tuple(
                Throttling.from_json(one.data, one.where) for one in f.opt_items("throttling")
            ),
            logins=f.opt_integer("logins"),
            login_cpu=f.opt_number("login_cpu"),
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
            raise ParameterError("values must hold at least one value to have a spread, got none")
        low, high = min(numbers), max(numbers)
        mean = sum(numbers) / len(numbers)
        return cls(low, high, (high - low) / 2 / mean if mean else None)

    def to_json(self) -> dict[str, float | None]:
        return _rounded_figures(
            {"min": self.min, "max": self.max, "relative_half_range": self.relative_half_range}
        )

    @classmethod
    def from_json(cls, data: object, where: str = "") -> Spread:
        f = JsonFields(data, where)
        return cls(f.number("min"), f.number("max"), f.opt_number("relative_half_range"))


@dataclass(frozen=True, slots=True)
class Alternative:
    """The other fit's prediction of a level and its errors: with the machine-speed
    reference when the judged fit is without it, or the reverse. Shown, never judged."""

    fit: str
    """``"speed-normalised"`` or ``"plain"``: how this alternative's curve was fitted."""
    predicted: Figures
    relative_error: Figures
    meets_goals: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "fit": self.fit,
            "predicted": _rounded_figures(self.predicted),
            "relative_error": _rounded_figures(self.relative_error),
            "meets_goals": self.meets_goals,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> Alternative:
        f = JsonFields(data, where)
        return cls(
            fit=f.text("fit"),
            predicted=_figures(f.child("predicted")),
            relative_error=_figures(f.child("relative_error")),
            meets_goals=_opt_flag(f, "meets_goals"),
        )


@dataclass(frozen=True, slots=True)
class ComparedLevel:
    """One level of a trial: predicted before it ran, measured, the relative error, and the
    same for the naive baseline the model must beat."""

    users: int
    predicted: Figures
    measured: MeasuredLevel
    relative_error: Figures
    loadgen_trustworthy: bool
    judged: bool
    """Whether the accuracy goals judge this level: its *predicted* CPU is inside their range
    (and the load generator kept up). Levels the model under-predicts stay judged."""
    meets_goals: bool | None
    """None where the level is not judged (:attr:`excluded_because` says why)."""
    excluded_because: str | None = None
    baseline: Figures = field(default_factory=dict)
    """The naive baseline's prediction (zero-latency throughput, light-load CPU per request,
    light-load latency): what the model must beat to be worth its assumptions."""
    baseline_error: Figures = field(default_factory=dict)
    replications: int = 1
    spread: Mapping[str, Spread] = field(default_factory=dict)
    per_replication: tuple[MeasuredLevel, ...] = ()
    alternative: Alternative | None = None
    pooler: PoolerComparison | None = None
    """On the lab's topology trial: the pooler station, predicted and measured; its goal is
    part of :attr:`meets_goals`."""

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "users": self.users,
            "predicted": _rounded_figures(self.predicted),
            "measured": self.measured.to_json(),
            "relative_error": _rounded_figures(self.relative_error),
            "baseline": _rounded_figures(self.baseline),
            "baseline_error": _rounded_figures(self.baseline_error),
            "judged": self.judged,
            "excluded_because": self.excluded_because,
            "meets_goals": self.meets_goals,
            "loadgen_cpu": rounded(self.measured.loadgen_cpu),
            "loadgen_trustworthy": self.loadgen_trustworthy,
            "replications": self.replications,
            "spread": {key: one.to_json() for key, one in self.spread.items()},
            "per_replication": [
                {"replication": number, **one.to_json(), "loadgen_cpu": rounded(one.loadgen_cpu)}
                for number, one in enumerate(self.per_replication, start=1)
            ],
        }
        if self.alternative is not None:
            document["alternative"] = self.alternative.to_json()
        if self.pooler is not None:
            document["pooler"] = self.pooler.to_json()
        return document

    @classmethod
    def from_json(cls, data: object, where: str = "") -> ComparedLevel:
        f = JsonFields(data, where)
        users = f.integer("users")
        measured = MeasuredLevel.from_json(users, f.raw("measured"), f.path("measured"))
        measured = dataclasses.replace(measured, loadgen_cpu=f.opt_number("loadgen_cpu"))
        spread = f.opt_child("spread")
        alternative = f.opt_child("alternative")
        pooler = f.opt_child("pooler")
        return cls(
            users=users,
            predicted=_figures(f.child("predicted")),
            measured=measured,
            relative_error=_figures(f.child("relative_error")),
            loadgen_trustworthy=f.flag("loadgen_trustworthy"),
            judged=f.flag("judged"),
            meets_goals=_opt_flag(f, "meets_goals"),
            excluded_because=f.opt_text("excluded_because"),
            baseline=_figures(f.opt_child("baseline")),
            baseline_error=_figures(f.opt_child("baseline_error")),
            replications=f.integer("replications"),
            spread={}
            if spread is None
            else {str(k): Spread.from_json(v, spread.path(str(k))) for k, v in spread.data.items()},
            per_replication=tuple(
                MeasuredLevel.from_json(users, one.data, one.where)
                for one in f.opt_items("per_replication")
            ),
            alternative=None
            if alternative is None
            else Alternative.from_json(alternative.data, alternative.where),
            pooler=None
            if pooler is None
            else PoolerComparison.from_json(pooler.data, pooler.where),
        )


@dataclass(frozen=True, slots=True)
class SaturationCheck:
    """The capacity: predicted and measured throughput over the levels where the service's
    CPU saturated, with the naive baseline's capacity (one core over the light-load CPU per
    request). ``judged`` is False, with the reason, when no level saturated: the measured
    figure is then a lower bound of the capacity, not the capacity."""

    users: tuple[int, ...]
    predicted_rps: float | None
    measured_rps: float | None
    relative_error: float | None
    measured_cpu_utilization: float | None
    judged: bool
    meets_goal: bool | None
    reason: str | None = None
    baseline_rps: float | None = None
    baseline_error: float | None = None
    alternative_rps: float | None = None
    alternative_error: float | None = None
    login_cpu: float | None = None
    """The cores the users' logins took in the saturated windows (their mean; a diagnostic:
    part of the measured CPU, harness/validate/logins.py)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "users": list(self.users),
            "predicted_rps": rounded(self.predicted_rps),
            "measured_rps": rounded(self.measured_rps),
            "relative_error": rounded(self.relative_error),
            "measured_cpu_utilization": rounded(self.measured_cpu_utilization),
            "judged": self.judged,
            "meets_goal": self.meets_goal,
            "reason": self.reason,
            "baseline_rps": rounded(self.baseline_rps),
            "baseline_error": rounded(self.baseline_error),
            "alternative_rps": rounded(self.alternative_rps),
            "alternative_error": rounded(self.alternative_error),
            "login_cpu": rounded(self.login_cpu, 4),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> SaturationCheck:
        f = JsonFields(data, where)
        users = f.raw("users")
        if not isinstance(users, list) or not all(isinstance(n, int) for n in users):
            raise RecordError(f.path("users"), f"{f.path('users')} = {users!r}: expected a list")
        return cls(
            users=tuple(users),
            predicted_rps=f.opt_number("predicted_rps"),
            measured_rps=f.opt_number("measured_rps"),
            relative_error=f.opt_number("relative_error"),
            measured_cpu_utilization=f.opt_number("measured_cpu_utilization"),
            judged=f.flag("judged"),
            meets_goal=_opt_flag(f, "meets_goal"),
            reason=f.opt_text("reason"),
            baseline_rps=f.opt_number("baseline_rps"),
            baseline_error=f.opt_number("baseline_error"),
            alternative_rps=f.opt_number("alternative_rps"),
            alternative_error=f.opt_number("alternative_error"),
            login_cpu=f.opt_number("login_cpu"),
        )


@dataclass(frozen=True, slots=True)
class TrialSummary:
    """A trial in one line: the worst absolute error per metric over its judged levels, the
    baseline's beside it, whether every judged goal was met, and each miss in words."""

    levels_compared: int
    levels_judged: int
    worst_abs_relative_error: Figures
    baseline_worst_abs_relative_error: Figures
    goals: Mapping[str, float]
    goals_met: bool
    replications: int
    widest_spread: Figures
    misses: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "levels_compared": self.levels_compared,
            "levels_judged": self.levels_judged,
            "worst_abs_relative_error": _rounded_figures(self.worst_abs_relative_error),
            "baseline_worst_abs_relative_error": _rounded_figures(
                self.baseline_worst_abs_relative_error
            ),
            "goals": dict(self.goals),
            "goals_met": self.goals_met,
            "replications": self.replications,
            "widest_spread": _rounded_figures(self.widest_spread),
            "misses": list(self.misses),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> TrialSummary:
        f = JsonFields(data, where)
        return cls(
            levels_compared=f.integer("levels_compared"),
            levels_judged=f.integer("levels_judged"),
            worst_abs_relative_error=_figures(f.child("worst_abs_relative_error")),
            baseline_worst_abs_relative_error=_figures(
                f.child("baseline_worst_abs_relative_error")
            ),
            goals=f.child("goals").numbers(),
            goals_met=f.flag("goals_met"),
            replications=f.integer("replications"),
            widest_spread=_figures(f.child("widest_spread")),
            misses=f.opt_texts("misses"),
        )


@dataclass(frozen=True, slots=True)
class TrialResult:
    """One trial: a load the calibration did not see, predicted by the calibrated model, then
    measured and compared.

    ``runs`` are the run directories, one per replication, in order; the first holds the
    report that puts this trial's prediction beside its measurement.
    """

    name: str
    what_differs: str = ""
    """What this trial changes from the calibration (heavier load, another mix, ...)."""
    runs: tuple[str, ...] = ()
    levels: tuple[ComparedLevel, ...] = ()
    summary: TrialSummary | None = None
    saturation: SaturationCheck | None = None
    complete: bool = False
    shares: Mapping[str, float] = field(default_factory=dict)
    """The persona mix the trial ran."""
    think_scale: float | None = None
    """The think times' factor against the launch profile's."""
    incomplete_reasons: tuple[str, ...] = ()
    """Why the trial stopped short: a replication that failed or was incomplete."""
    lab: Mapping[str, Any] | None = None
    """The lab the trial ran on (its instances, CPU limit, pooler, replicas, cache); None for
    the single-instance trials."""

    def to_json(self) -> dict[str, Any]:
        lab = {} if self.lab is None else {"lab": dict(self.lab)}
        return {
            "name": self.name,
            "what_differs": self.what_differs,
            "runs": list(self.runs),
            "shares": dict(self.shares),
            "think_scale": self.think_scale,
            "complete": self.complete,
            "incomplete_reasons": list(self.incomplete_reasons),
            "levels": [level.to_json() for level in self.levels],
            "summary": None if self.summary is None else self.summary.to_json(),
            "saturation": None if self.saturation is None else self.saturation.to_json(),
            **lab,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "") -> TrialResult:
        """A trial as :meth:`to_json` writes it; a missing key or a value of the wrong type
        is a :class:`~models.errors.RecordError` naming the key's path and the value."""
        f = JsonFields(data, where)
        summary, saturation = f.opt_child("summary"), f.opt_child("saturation")
        shares = f.opt_child("shares")
        return cls(
            name=f.text("name"),
            what_differs=f.opt_text("what_differs") or "",
            runs=f.opt_texts("runs"),
            levels=tuple(
                ComparedLevel.from_json(level.data, level.where) for level in f.opt_items("levels")
            ),
            summary=None
            if summary is None
            else TrialSummary.from_json(summary.data, summary.where),
            saturation=None
            if saturation is None
            else SaturationCheck.from_json(saturation.data, saturation.where),
            complete=f.flag("complete"),
            shares={} if shares is None else shares.numbers(),
            think_scale=f.opt_number("think_scale"),
            incomplete_reasons=f.opt_texts("incomplete_reasons"),
            lab=None if (lab := f.opt_child("lab")) is None else dict(lab.data),
        )


@dataclass
class BurstRecord:
    """The burst stage (harness/validate/burst.py): ``users`` starting a screen together on
    each tick of a ``period_s`` clock, measured after the calibration. Its CPU per request is
    the service curve's busy cost (models/service_curve.py, "the busy cost, measured")."""

    users: int
    period_s: float
    run: str | None
    throughput_rps: float | None = None
    cpu_utilization: float | None = None
    speed_reference_ms: float | None = None
    used: bool = False
    """Whether the fit used it; when not, ``reason`` says why."""
    reason: str | None = None
    mean_ms: float | None = None
    """The stage's mean response time: with the throughput and CPU, how deep its queue was
    (:attr:`in_service`)."""

    def point(self) -> BurstPoint | None:
        """The stage for the fit, with its speed reference (a plain fit drops it, as it does
        the light stages'); None when it was not used."""
        if not self.used or self.throughput_rps is None or self.cpu_utilization is None:
            return None
        return BurstPoint(
            self.throughput_rps,
            self.cpu_utilization,
            self.period_s,
            self.speed_reference_ms,
            self.in_service,
        )

    @property
    def cpu_per_request_ms(self) -> float | None:
        if not self.throughput_rps or self.cpu_utilization is None:
            return None
        return self.cpu_utilization / self.throughput_rps * 1e3

    @property
    def in_service(self) -> float | None:
        """The mean number of requests in the service while its core was busy, X·R / U."""
        x, u, r = self.throughput_rps, self.cpu_utilization, self.mean_ms
        if not x or not u or r is None:
            return None
        return x * r / 1e3 / u

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "period_s": self.period_s,
            "run": self.run,
            "throughput_rps": rounded(self.throughput_rps),
            "cpu_utilization": rounded(self.cpu_utilization),
            "cpu_per_request_ms": rounded(self.cpu_per_request_ms),
            "speed_reference_ms": rounded(self.speed_reference_ms),
            "mean_ms": rounded(self.mean_ms),
            "in_service": rounded(self.in_service, 1),
            "used": self.used,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: object, where: str = "calibration.burst") -> BurstRecord:
        fields = JsonFields(data, where)
        return cls(
            users=fields.integer("users"),
            period_s=fields.number("period_s"),
            run=fields.opt_text("run"),
            throughput_rps=fields.opt_number("throughput_rps"),
            cpu_utilization=fields.opt_number("cpu_utilization"),
            speed_reference_ms=fields.opt_number("speed_reference_ms"),
            used=fields.flag("used"),
            reason=fields.opt_text("reason"),
            mean_ms=fields.opt_number("mean_ms"),
        )


@dataclass
class CalibrationRecord:
    """The light calibration: a pilot stage sized the loads, then stages at the CPU targets;
    every stage the fit used must stay at or under the calibration's CPU limit."""

    pilot_run: str | None = None
    pilot_cpu_per_user: float | None = None
    run: str | None = None
    cpu_limit: float = 0.5
    stages: list[MeasuredLevel] = field(default_factory=list)
    used_users: list[int] = field(default_factory=list)
    """The stages' users the fit used (those at or under :attr:`cpu_limit`)."""
    lab_demands: LabDemands | None = None
    """On the lab: the instance's CPU line and PgBouncer's transactions per request and hold
    over the stages the fit used (:mod:`models.lab_calibration`); None elsewhere."""
    burst: BurstRecord | None = None
    """The single instance's burst stage; None when it was not run (the lab, or
    ``burst_period_s = 0``)."""
    deep_burst: BurstRecord | None = None
    """Its deep burst (the backlog's cost); None when it was not run
    (``deep_burst_period_s = 0``, or no burst stage)."""
    backlog: Mapping[str, Any] | None = None
    """The backlog's cost the two bursts measured (models/service_curve.py ``Backlog``, on
    the judged fit's wake-up cost and background) and ``in_fit``, whether the judged curve
    took it (``backlog_fit``); None without both bursts or when the deep one was no deeper."""

    @property
    def heaviest_users(self) -> int | None:
        return max(self.used_users, default=None)

    @property
    def heaviest_cpu(self) -> float | None:
        used = [s.cpu_utilization for s in self.stages if s.users in self.used_users]
        return max((u for u in used if u is not None), default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "pilot_run": self.pilot_run,
            "pilot_cpu_per_user": rounded(self.pilot_cpu_per_user, 6),
            "run": self.run,
            "cpu_limit": self.cpu_limit,
            "stages": [{"users": s.users, **s.to_json()} for s in self.stages],
            "used_users": list(self.used_users),
            "heaviest_users": self.heaviest_users,
            "heaviest_cpu": rounded(self.heaviest_cpu),
        } | (
            ({} if self.lab_demands is None else {"lab_demands": self.lab_demands.to_json()})
            | ({} if self.burst is None else {"burst": self.burst.to_json()})
            | ({} if self.deep_burst is None else {"deep_burst": self.deep_burst.to_json()})
            | ({} if self.backlog is None else {"backlog": dict(self.backlog)})
        )


@dataclass
class ProbeRecord:
    """The capacity probe: a short run driven into saturation after the calibration. A
    diagnostic only: its curve's predictions are reported apart ("probe-informed") and never
    judged, since the saturation it measured is what the judged trials compare with."""

    users: int
    run: str | None
    saturated: bool = False
    throughput_rps: float | None = None
    cpu_utilization: float | None = None
    speed_reference_ms: float | None = None
    curve: Mapping[str, Any] | None = None
    predicted_saturation_rps: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "run": self.run,
            "saturated": self.saturated,
            "throughput_rps": rounded(self.throughput_rps),
            "cpu_utilization": rounded(self.cpu_utilization),
            "speed_reference_ms": rounded(self.speed_reference_ms),
            "probe_informed_curve": self.curve,
            "probe_informed_saturation_rps": rounded(self.predicted_saturation_rps),
        }


@dataclass(frozen=True, slots=True)
class CountRun:
    """One run of an instance count at the decision's load: its measure stage's p95, CPU per
    instance as a fraction of the instance's limit, throughput and error rate (None where the
    run gave none: it failed, or was incomplete)."""

    run: str | None
    order: int
    """Its place among the decision's runs, from 1: the runs interleave the counts."""
    p95_ms: float | None
    cpu_per_instance: float | None
    throughput_rps: float | None
    error_rate: float | None

    @property
    def measured(self) -> bool:
        return self.p95_ms is not None and self.cpu_per_instance is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "order": self.order,
            "throughput_rps": rounded(self.throughput_rps),
            "p95_ms": rounded(self.p95_ms),
            "cpu_per_instance": rounded(self.cpu_per_instance),
            "error_rate": rounded(self.error_rate, 6),
        }


@dataclass(frozen=True, slots=True)
class CountMeasurement:
    """One instance count measured at the decision's load: the mean over its runs
    (``replications``) of the measure stage's p95 and of the CPU per instance as a fraction
    of the instance's limit, and whether those hold (``run``: its first run's directory)."""

    instances: int
    run: str | None
    p95_ms: float | None
    cpu_per_instance: float | None
    error_rate: float | None
    holds: bool | None
    """p95 within the objective and CPU at or under the target; None when not measured."""
    throughput_rps: float | None = None
    """The client's requests per second over the measure stage (None: not measured)."""
    replications: tuple[CountRun, ...] = ()
    """Each run of this count, in the order they ran (documents before replicated counts
    have none: their one run's figures are the count's)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "run": self.run,
            "throughput_rps": rounded(self.throughput_rps),
            "p95_ms": rounded(self.p95_ms),
            "cpu_per_instance": rounded(self.cpu_per_instance),
            "error_rate": rounded(self.error_rate, 6),
            "holds": self.holds,
            "replications": [one.to_json() for one in self.replications],
        }


@dataclass
class DecisionRecord:
    """The instance decision on the lab: its own light calibration (one instance under the
    lab's CPU limit), the planner's K for a load one instance cannot carry (``planned``:
    :class:`harness.validate.decision.InstanceDecision`'s record), and K-1 and K (and K+1 when
    asked) measured there, each count on the mean of its runs (they interleave: K-1, K, K,
    K-1). Right when K-1 breaks the objective or the CPU target and K holds both."""

    lab: Mapping[str, Any]
    calibration: CalibrationRecord = field(default_factory=CalibrationRecord)
    planned: Mapping[str, Any] | None = None
    measured: list[CountMeasurement] = field(default_factory=list)
    reason: str | None = None
    """Why there is no verdict (the calibration or a run failed, no K to plan)."""
    asked: bool = True
    """False when the decision was skipped (``--no-instance-decision``): the record then keeps
    the lab's calibration only, and no verdict is expected of it."""

    def at(self, instances: int) -> CountMeasurement | None:
        return next((m for m in self.measured if m.instances == instances), None)

    def holds_at(self, instances: int) -> bool | None:
        """Whether ``instances`` hold the load, as far as the measured counts tell: more
        instances than a count that held hold too, fewer than one that broke break too
        (None: nothing measured decides it)."""
        if instances < 1:
            return False
        for measured in self.measured:
            if measured.holds and measured.instances <= instances:
                return True
            if measured.holds is False and measured.instances >= instances:
                return False
        return None

    @property
    def baseline_instances(self) -> int | None:
        """The naive baseline's K: instances for the CPU target alone, nothing queueing."""
        value = None if self.planned is None else self.planned.get("baseline_instances")
        return None if value is None else int(value)

    @property
    def baseline_right(self) -> bool | None:
        """Whether the baseline's K would have been right by the same rule (its count holds,
        one fewer breaks); None where the measured counts cannot tell."""
        count = self.baseline_instances
        if count is None:
            return None
        holds, below = self.holds_at(count), self.holds_at(count - 1)
        if holds is None or below is None:
            return None
        return holds and not below

    @property
    def right(self) -> bool | None:
        """None until K-1 (or K = 1's absence) and K are both measured."""
        if self.planned is None:
            return None
        k = int(self.planned["instances"])
        at_k, below = self.at(k), self.at(k - 1)
        if at_k is None or at_k.holds is None or below is None or below.holds is None:
            return None
        return at_k.holds and not below.holds

    def miss(self) -> str | None:
        """The decision's miss in words; None when it was right."""
        if self.right:
            return None
        if self.right is None:
            return f"instance decision: not judged ({self.reason or 'not measured'})"
        assert self.planned is not None
        k = int(self.planned["instances"])
        at_k, below = self.at(k), self.at(k - 1)
        assert at_k is not None and below is not None
        if not at_k.holds:
            return f"instance decision: {k} instances did not hold the load ({_count(at_k)})"
        return f"instance decision: {k - 1} instances already held the load ({_count(below)})"

    def to_json(self) -> dict[str, Any]:
        return {
            "lab": dict(self.lab),
            "calibration": self.calibration.to_json(),
            "planned": None if self.planned is None else dict(self.planned),
            "measured": [m.to_json() for m in self.measured],
            "right": self.right,
            "baseline_instances": self.baseline_instances,
            "baseline_right": self.baseline_right,
            "reason": self.reason,
            "asked": self.asked,
        }


def _count(measured: CountMeasurement) -> str:
    p95 = "n/a" if measured.p95_ms is None else f"{measured.p95_ms:.0f} ms"
    cpu = "n/a" if measured.cpu_per_instance is None else f"{measured.cpu_per_instance:.0%}"
    return f"p95 {p95}, CPU {cpu} of the limit per instance"


@dataclass(frozen=True, slots=True)
class ValidationSummary:
    """Every judged goal of every trial in one verdict: ``goals_met`` only when each trial's
    judged levels and saturation met theirs; ``misses`` names each one that did not."""

    goals_met: bool
    trials: Mapping[str, bool]
    misses: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "goals_met": self.goals_met,
            "trials": dict(self.trials),
            "misses": list(self.misses),
        }

    @classmethod
    def of(
        cls, trials: Sequence[TrialResult], decision: DecisionRecord | None = None
    ) -> ValidationSummary:
        verdicts: dict[str, bool] = {}
        misses: list[str] = []
        if decision is not None and decision.asked:
            verdicts["instance decision"] = bool(decision.right)
            miss = decision.miss()
            if miss is not None:
                misses.append(miss)
        for trial in trials:
            met = trial.summary is not None and trial.summary.goals_met and trial.complete
            verdicts[trial.name] = met
            if trial.summary is not None:
                misses.extend(f"{trial.name}: {miss}" for miss in trial.summary.misses)
            if not trial.complete:
                misses.append(f"{trial.name}: incomplete ({'; '.join(trial.incomplete_reasons)})")
        return cls(bool(verdicts) and all(verdicts.values()), verdicts, tuple(misses))


@dataclass
class ValidationDocument:
    """``validation.json``: written after every step of a validation, so a crash or Ctrl-C
    halfway leaves what finished, marked incomplete."""

    started_at: str
    settings: Mapping[str, Any]
    machine: Mapping[str, Any]
    protocol: Mapping[str, Any] = field(default_factory=dict)
    complete: bool = False
    finished_at: str | None = None
    cpu_pinning: Mapping[str, Any] | None = None
    calibration: CalibrationRecord = field(default_factory=CalibrationRecord)
    service_curve: Mapping[str, Any] | None = None
    alternative_curve: Mapping[str, Any] | None = None
    service_curve_error: str | None = None
    probe: ProbeRecord | None = None
    trials: list[TrialResult] = field(default_factory=list)
    decision: DecisionRecord | None = None
    """The instance decision on the lab (``harness validate --lab``); None without."""
    warnings: list[str] = field(default_factory=list)
    incomplete_reasons: list[str] = field(default_factory=list)

    def incomplete(self, reason: str) -> None:
        if reason not in self.incomplete_reasons:
            self.incomplete_reasons.append(reason)

    def record(self, trial: TrialResult) -> None:
        """Put ``trial`` in, replacing an earlier result of the same name."""
        kept = [one for one in self.trials if one.name != trial.name]
        position = next((i for i, one in enumerate(self.trials) if one.name == trial.name), None)
        kept.insert(len(kept) if position is None else position, trial)
        self.trials = kept

    def trial(self, name: str) -> TrialResult | None:
        return next((one for one in self.trials if one.name == name), None)

    @property
    def summary(self) -> ValidationSummary:
        return ValidationSummary.of(self.trials, self.decision)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": VALIDATION_SCHEMA_VERSION,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "incomplete_reasons": list(self.incomplete_reasons),
            "settings": dict(self.settings),
            "machine": dict(self.machine),
            "protocol": dict(self.protocol),
            "cpu_pinning": self.cpu_pinning,
            "calibration": self.calibration.to_json(),
            "service_curve": self.service_curve,
            "alternative_curve": self.alternative_curve,
            "service_curve_error": self.service_curve_error,
            "probe": None if self.probe is None else self.probe.to_json(),
            "trials": [trial.to_json() for trial in self.trials],
            "decision": None if self.decision is None else self.decision.to_json(),
            "summary": self.summary.to_json(),
            "warnings": list(self.warnings),
        }
