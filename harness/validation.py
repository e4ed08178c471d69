"""``harness validate``: calibrate on three loads, predict a step load, measure it, compare.

    calibration run (20, 100, 200 users) + capacity probe ──► demands + the service curve
          │                                                  │
          └── the model's saturation point N* ◄── predict ◄──┘
                                │
         levels 15% .. 120% of N*, each a settle stage then a measure stage
                                │
                 step run ──► compare the measure stages ──► validation.json, report
                                │
      held-out mix (operator-heavy), same calibration ──► predict, run, compare

Why a settle stage before each measured one: users arriving at a level log in (a deliberate
password hash each) and start in phase; the model describes the steady state. The settle
stage absorbs the ramp and the transient (its length is the model's own settling-time
estimate); only the measure stage is compared.

Why the calibration run has several stages: per-request CPU falls with load and most of a
request's time is a floor that does not queue (:mod:`models.service_curve`), and one light
load cannot tell the floor from the work that queues, nor the wake-up cost from the busy cost.
The calibration run is a short step (``calibration_factors`` times ``calibration_users``, each
a settle stage then a measured one) and the service curve is fitted on its measured stages.

Why a capacity probe: the service's CPU per request keeps falling near saturation (1.4 ms
there against 3.1 ms at 80% CPU, docs/benchmarks.md), later than anything measured below 80%
can show, so a curve fitted on light stages alone puts saturation far too low. After the
calibration run, a short probe run drives the service into saturation (``probe_factor``
times the saturation point the light stages predict, with ``probe_think_scale`` times their
think time); its throughput and CPU join the fit (:func:`models.service_curve.fit_service_curve`,
``saturation``). A probe that did not saturate the service is reported and left out.

Why shorter think times than the launch profile: with the profile's 20-45 s pauses a single
service worker saturates only at thousands of users, more than one load-generator core can
drive. The closed-network model is exact about think time, so scaling it (``think_scale``)
changes the population needed, not what is being validated.

Why replications: a freshly started service's CPU per request varies 15-40% from one start to
the next on this machine, so one step run is one sample of the service. The step load runs
``replications`` times (each on a fresh service instance), and more, up to
``max_replications``, while the noise is as large as what the comparison tries to resolve
(:func:`needs_replication`). Each level is compared on the mean over the replications and
reports their spread (:func:`aggregate_replications`).

Why a machine-speed reference: much of that variation is the machine, not the service. The
same probe load on fresh services minutes apart served 445 to 644 requests/s at full CPU; over
eight saturated windows the service's CPU per request varied by 13% (standard deviation), its
ratio to a fixed piece of work timed beside it (harness/run/speed_reference.py) by 6%
(docs/benchmarks.md, "Machine speed"). So every run records that reference, the curve is
fitted at one speed (a probe in a fast minute no longer sets the capacity), and each level is
also compared with the prediction moved to the speed it ran at
(:func:`compare_at_measured_speed`), beside the prediction as made, which the goals judge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.run.speed_reference import window_mean as speed_window_mean
from models.prediction import LevelPrediction
from models.profile import Profile, Stage, merge, validate_profile

#: The metrics compared per level; the same names as a run.json stage record.
COMPARED = ("throughput_rps", "mean_ms", "p50_ms", "p95_ms", "cpu_utilization", "error_rate")

#: Accuracy goals of the issue, for levels up to 85% CPU: relative error bounds per metric.
GOALS = {"throughput_rps": 0.10, "mean_ms": 0.20, "p95_ms": 0.30}
GOAL_CPU_LIMIT = 0.85

#: The metrics whose spread between replications can demand another one: those with the
#: tightest goals (p95's 30% leaves room for far more noise).
REPLICATED = ("throughput_rps", "mean_ms")

#: The held-out mix: operators watch dashboards, whose queries are the heaviest reads.
HOLDOUT_SHARES = {"homeowner": 0.40, "contractor": 0.30, "operator": 0.30}


@dataclass(frozen=True)
class ValidationSettings:
    """What ``harness validate`` does; the defaults took 10-15 minutes on a 2-core machine
    with one step run, and each further replication adds the step run's length again.

    ``think_scale`` 0.05 turns the profile's 30/20/45 s think times into 1.5/1/2.25 s, so
    one service worker saturates at a few hundred users, which one load-generator core drives.
    """

    think_scale: float = 0.05
    calibration_users: int = 20
    calibration_s: float = 30.0
    """Length of each calibration stage's measured part (a settle part precedes it)."""
    calibration_factors: tuple[float, ...] = (1.0, 5.0, 10.0)
    """Calibration stages at these multiples of ``calibration_users`` (20, 100, 200 users)."""
    levels: int = 5
    lowest_fraction: float = 0.15
    highest_fraction: float = 1.2
    cpu_targets: tuple[float, ...] = (0.25, 0.5, 0.75)
    """Levels placed where the model predicts these CPU utilizations (the accuracy goals'
    range, up to 85% CPU), then ``levels - len(cpu_targets)`` more evenly up to
    ``highest_fraction`` of the saturation point. Empty: all ``levels`` evenly from
    ``lowest_fraction``. Why: with a capacity probe the curve knows that this service
    spends the last 15% of its CPU on half of its throughput range, so even spacing in users
    would put a single level inside the goals' range."""
    min_measure_s: float = 30.0
    max_measure_s: float = 60.0
    min_settle_s: float = 8.0
    max_settle_s: float = 60.0
    spawn_rate: float = 20.0
    capacity_probe: bool = True
    """After the calibration, drive the service into saturation once (module docstring)."""
    probe_factor: float = 1.5
    """The probe's users: this times the saturation point the calibration alone predicts."""
    probe_think_scale: float = 0.5
    """The probe's think times relative to the validation's: shorter, so fewer users (and
    fewer password hashes) saturate the service, yet each user stays under its rate limit."""
    probe_s: float = 20.0
    holdout: bool = True
    holdout_levels: int = 2
    holdout_fractions: tuple[float, ...] = (0.4, 0.8)
    """The held-out levels as fractions of that mix's predicted saturation point (the first
    ``holdout_levels`` of them), when there is no curve or no ``holdout_cpu_targets``."""
    holdout_cpu_targets: tuple[float, ...] = (0.5, 0.75)
    """The held-out levels where the curve predicts these CPU utilizations for that mix."""
    seed_scale: float = 0.01
    replications: int = 2
    """Step runs always made, each on a freshly started service: one run is one sample of it."""
    max_replications: int = 4
    """Step runs at most; those past ``replications`` only while the noise demands them."""
    replication_spread: float = 0.5
    """Another replication while a level inside the goals' range spreads more than this
    fraction of the accuracy goal of throughput or mean response time (half: 5% and 10%)."""

    def __post_init__(self) -> None:
        if not 0 < self.think_scale <= 1:
            raise ValueError(f"think_scale must be in (0, 1], got {self.think_scale}")
        if self.levels < 1 or self.calibration_users < 1:
            raise ValueError("levels and calibration_users must be >= 1")
        if not self.calibration_factors or min(self.calibration_factors) <= 0:
            raise ValueError(f"calibration_factors must be > 0, got {self.calibration_factors}")
        if not 0 < self.lowest_fraction < self.highest_fraction:
            raise ValueError(
                f"need 0 < lowest_fraction < highest_fraction, got "
                f"{self.lowest_fraction} and {self.highest_fraction}"
            )
        if not 0 < self.min_measure_s <= self.max_measure_s:
            raise ValueError("need 0 < min_measure_s <= max_measure_s")
        if not self.probe_factor > 0 or not 0 < self.probe_think_scale <= 1 or self.probe_s <= 0:
            raise ValueError("need probe_factor > 0, 0 < probe_think_scale <= 1, probe_s > 0")
        if not self.holdout_fractions or min(self.holdout_fractions) <= 0:
            raise ValueError(f"holdout_fractions must be > 0, got {self.holdout_fractions}")
        if not 0 < self.min_settle_s <= self.max_settle_s:
            raise ValueError("need 0 < min_settle_s <= max_settle_s")
        if not 1 <= self.replications <= self.max_replications:
            raise ValueError(
                f"need 1 <= replications <= max_replications, got replications = "
                f"{self.replications} and max_replications = {self.max_replications}"
            )
        if not self.replication_spread > 0:
            raise ValueError(f"replication_spread must be > 0, got {self.replication_spread}")


def overlay(profile: Profile, changes: Mapping[str, Any]) -> Profile:
    """``profile`` with ``changes`` merged in key by key, validated again."""
    return validate_profile(merge(profile.model_dump(mode="json"), changes), "validation")


def validation_profile(profile: Profile, think_scale: float) -> Profile:
    """The profile with every persona's think time multiplied by ``think_scale``."""
    return overlay(
        profile,
        {
            "personas": {
                name: {"think_time_s": persona.think_time_s * think_scale}
                for name, persona in profile.personas.items()
            }
        },
    )


def holdout_profile(profile: Profile) -> Profile:
    """The same profile with the held-out persona mix (:data:`HOLDOUT_SHARES`)."""
    return overlay(
        profile, {"personas": {name: {"share": s} for name, s in HOLDOUT_SHARES.items()}}
    )


def with_step_stages(profile: Profile, stages: Sequence[Stage]) -> Profile:
    """The profile whose ``step`` scenario is ``stages`` (how a planned load reaches a run)."""
    table = [stage.model_dump() for stage in stages]
    return overlay(profile, {"scenarios": {"step": {"stages": table}}})


def plan_levels(
    saturation_users: float,
    settings: ValidationSettings,
    cpu_at: Callable[[int], float] | None = None,
) -> list[int]:
    """The step load's user levels.

    Without ``cpu_at`` (or without ``cpu_targets``): from ``lowest_fraction`` to
    ``highest_fraction`` of N*, evenly spaced. With ``cpu_at`` (the model's CPU at a number
    of users, rising with it): a level at each of ``cpu_targets`` (found by bisection), then
    the remaining levels evenly between the last of them and ``highest_fraction`` of N*.
    """
    if not saturation_users > 0 or math.isinf(saturation_users):
        raise ValueError(f"the saturation point must be a positive number, got {saturation_users}")
    targets = sorted(settings.cpu_targets)
    if cpu_at is not None and targets and settings.levels > len(targets):
        light = [users_at_cpu(cpu_at, target, saturation_users) for target in targets]
        top = settings.highest_fraction * saturation_users
        rest = settings.levels - len(targets)
        start = max(light[-1], 1)
        heavy = [start + (top - start) * (i + 1) / rest for i in range(rest)]
        return sorted({max(1, round(n)) for n in [*light, *heavy]})
    count = settings.levels
    span = settings.highest_fraction - settings.lowest_fraction
    fractions = [settings.lowest_fraction + span * i / max(1, count - 1) for i in range(count)]
    levels = sorted({max(1, round(f * saturation_users)) for f in fractions})
    return levels


def users_at_cpu(cpu_at: Callable[[int], float], target: float, saturation_users: float) -> int:
    """The fewest users at which ``cpu_at`` reaches ``target`` (bisection up to N*)."""
    low, high = 1, max(2, math.ceil(saturation_users))
    if cpu_at(low) >= target:
        return low
    while high - low > 1:
        middle = (low + high) // 2
        if cpu_at(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def paired_stages(
    predictions: Sequence[LevelPrediction],
    settings: ValidationSettings,
    login_cpu_ms: float = 0.0,
) -> list[Stage]:
    """A settle stage and a measure stage per level; durations from the settling estimate.

    The settle stage covers the model's settling time, the ramp, and the CPU the arriving
    users' logins cost (each hashes a password: ``login_cpu_ms``, tens of milliseconds), twice
    over. The measure stage lasts as long as the settling time again (at least
    ``min_measure_s``): a level that takes long to settle is also a noisy one to measure.
    Users are spawned at least fast enough to reach the top level in ten seconds.
    """
    top = max((level.users for level in predictions), default=0)
    spawn_rate = max(settings.spawn_rate, top / 10.0)
    stages: list[Stage] = []
    previous = 0
    for level in predictions:
        arriving = max(0, level.users - previous)
        ramp_s = abs(level.users - previous) / spawn_rate
        logins_s = arriving * login_cpu_ms / 1e3
        wanted_s = max(settings.min_settle_s, level.settling_time_s, 1.5 * ramp_s + 2 * logins_s)
        # max_settle_s caps the wait, never the ramp: Locust blocks while it ramps, so a
        # stage shorter than its ramp would be skipped.
        settle_s = max(min(settings.max_settle_s, wanted_s), 1.25 * ramp_s + 1.0)
        measure_s = min(settings.max_measure_s, max(settings.min_measure_s, level.settling_time_s))
        for duration_s in (settle_s, measure_s):
            stages.append(Stage(users=level.users, duration_s=duration_s, spawn_rate=spawn_rate))
        previous = level.users
    return stages


def calibration_stages(settings: ValidationSettings, login_cpu_ms: float = 0.0) -> list[Stage]:
    """The calibration run: a settle and a measure stage per calibration load.

    Loads are ``calibration_factors`` times ``calibration_users``; each measure stage lasts
    ``calibration_s``, each settle stage covers the ramp and the arriving users' logins
    (``login_cpu_ms`` each) as :func:`paired_stages` does, and at least ``min_settle_s``.
    """
    users = sorted(
        {max(1, round(f * settings.calibration_users)) for f in settings.calibration_factors}
    )
    spawn_rate = max(settings.spawn_rate, users[-1] / 10.0)
    stages: list[Stage] = []
    previous = 0
    for n in users:
        ramp_s = (n - previous) / spawn_rate
        logins_s = (n - previous) * login_cpu_ms / 1e3
        settle_s = max(settings.min_settle_s, 1.5 * ramp_s + 2 * logins_s, 1.25 * ramp_s + 1.0)
        for duration_s in (settle_s, settings.calibration_s):
            stages.append(Stage(users=n, duration_s=duration_s, spawn_rate=spawn_rate))
        previous = n
    return stages


def probe_stages(users: int, settings: ValidationSettings, login_cpu_ms: float) -> list[Stage]:
    """The capacity probe: one settle stage (the ramp and the logins, twice over) and one
    measured stage of ``probe_s`` seconds, at ``users``."""
    spawn_rate = max(settings.spawn_rate, users / 10.0)
    ramp_s = users / spawn_rate
    settle_s = max(settings.min_settle_s, 1.5 * ramp_s + 2 * users * login_cpu_ms / 1e3)
    return [
        Stage(users=users, duration_s=settle_s, spawn_rate=spawn_rate),
        Stage(users=users, duration_s=settings.probe_s, spawn_rate=spawn_rate),
    ]


def stage_cpu(scrapes: Sequence[Mapping[str, Any]], start_s: float, end_s: float) -> float | None:
    """Service CPU utilization (cores busy) between the scrapes nearest inside a window."""
    inside = [s for s in scrapes if start_s - 1e-9 <= float(s["t_s"]) <= end_s + 1e-9]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    elapsed = float(last["t_s"]) - float(first["t_s"])
    if elapsed <= 0:
        return None
    return max(0.0, (float(last["cpu_seconds"]) - float(first["cpu_seconds"])) / elapsed)


def window_mean(
    records: Sequence[Mapping[str, Any]], key: str, start_s: float, end_s: float
) -> float | None:
    """Mean of ``key`` over time-series records inside a window (None when there are none)."""
    values = [
        float(r[key])
        for r in records
        if r.get(key) is not None and start_s <= float(r["t_s"]) <= end_s
    ]
    return sum(values) / len(values) if values else None


def measured_levels(
    run: Mapping[str, Any],
    scrapes: Sequence[Mapping[str, Any]],
    timeseries: Sequence[Mapping[str, Any]],
    speed_samples: Sequence[tuple[float, float]] = (),
) -> list[dict[str, Any]]:
    """The measure stages (every second stage) of a paired step run, as comparable records.

    ``speed_samples`` are the run's machine-speed reference samples
    (harness/run/speed_reference.py);
    each record's ``speed_reference_ms`` is their mean over its window (None without them).
    """
    stages = list(run.get("stages", []))
    measured = []
    for record in stages[1::2]:
        start = float(record.get("started_at_s") or 0.0)
        end = start + float(record.get("elapsed_s") or record.get("duration_s") or 0.0)
        measured.append(
            {
                "users": int(record["users"]),
                "throughput_rps": record.get("throughput_rps"),
                "mean_ms": record.get("mean_ms"),
                "p50_ms": record.get("p50_ms"),
                "p95_ms": record.get("p95_ms"),
                "error_rate": record.get("error_rate"),
                "requests": record.get("requests"),
                "cpu_utilization": stage_cpu(scrapes, start, end),
                "loadgen_cpu": window_mean(timeseries, "loadgen_cpu", start, end),
                "speed_reference_ms": speed_window_mean(speed_samples, start, end)[0],
            }
        )
    return measured


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """One metric's range over the replications, and its relative half-range.

    ``relative_half_range`` is (max - min) / 2 over the mean: every replication lies within
    about that fraction of the middle, which reads like the ``±`` of an error bound, compares
    directly with the accuracy goals, and is what the report's range shows. Why not the
    standard deviation: from two to four runs it is a poor estimate (from two, only the range
    over √2), and a lucky run landing between the first two lowers it; the half-range never
    falls, so once runs disagree by more than the goals can resolve, the validation makes
    every replication it may. None when the mean is 0.
    """
    low, high = min(values), max(values)
    mean = sum(values) / len(values)
    return {
        "min": low,
        "max": high,
        "relative_half_range": (high - low) / 2 / mean if mean else None,
    }


def aggregate_replications(
    replications: Sequence[Sequence[Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """One measured level per user count from each step run's :func:`measured_levels`.

    Every figure is the mean over the replications that measured it (``requests`` rounded);
    ``loadgen_cpu`` is the highest, since one overloaded load generator is enough to distrust
    a level's latencies. Each level adds ``replications`` (how many runs measured it),
    ``spread`` (per compared metric, :func:`spread`) and ``per_replication`` (each run's own
    figures, numbered from 1 in run order). :func:`compare` takes the result as it is.
    """
    runs: dict[int, list[tuple[int, Mapping[str, Any]]]] = {}
    for number, levels in enumerate(replications, start=1):
        for one in levels:
            runs.setdefault(int(one["users"]), []).append((number, one))
    aggregated = []
    for users, measured in sorted(runs.items()):
        level: dict[str, Any] = {"users": users}
        spreads = {}
        for key in COMPARED:
            values = _values(measured, key)
            level[key] = sum(values) / len(values) if values else None
            if values:
                spreads[key] = spread(values)
        requests = _values(measured, "requests")
        level["requests"] = round(sum(requests) / len(requests)) if requests else None
        loadgen = _values(measured, "loadgen_cpu")
        level["loadgen_cpu"] = max(loadgen) if loadgen else None
        # The machine's speed over the level, averaged as the figures measured in it are.
        speeds = _values(measured, "speed_reference_ms")
        level["speed_reference_ms"] = sum(speeds) / len(speeds) if speeds else None
        level["replications"] = len(measured)
        level["spread"] = spreads
        level["per_replication"] = [
            {
                "replication": number,
                **{
                    k: one.get(k)
                    for k in (*COMPARED, "requests", "loadgen_cpu", "speed_reference_ms")
                },
            }
            for number, one in measured
        ]
        aggregated.append(level)
    return aggregated


def _values(measured: Sequence[tuple[int, Mapping[str, Any]]], key: str) -> list[float]:
    return [float(one[key]) for _, one in measured if one.get(key) is not None]


def noisy_levels(
    levels: Sequence[Mapping[str, Any]], settings: ValidationSettings
) -> list[tuple[int, str, float]]:
    """(users, metric, relative half-range) wherever a level inside the goals' range spreads
    more than ``replication_spread`` times the goal of a :data:`REPLICATED` metric.

    ``levels`` are :func:`aggregate_replications` records (or :func:`compare` ones: the CPU
    is then read from ``measured``). Above 85% CPU the goals do not apply, so neither does
    their noise.
    """
    noisy = []
    for level in levels:
        cpu = level.get("measured", level).get("cpu_utilization")
        if cpu is not None and cpu > GOAL_CPU_LIMIT:
            continue
        for key in REPLICATED:
            half = (level.get("spread") or {}).get(key, {}).get("relative_half_range")
            if half is not None and half > settings.replication_spread * GOALS[key]:
                noisy.append((int(level["users"]), key, half))
    return noisy


def needs_replication(
    levels: Sequence[Mapping[str, Any]], done: int, settings: ValidationSettings
) -> bool:
    """Whether to run the step load again after ``done`` replications measured ``levels``:
    always below ``replications``, never from ``max_replications``, and in between while
    :func:`noisy_levels` finds a level whose noise is as large as what the goals resolve."""
    if done < settings.replications:
        return True
    if done >= settings.max_replications:
        return False
    return bool(noisy_levels(levels, settings))


def relative_error(predicted: float | None, measured: float | None) -> float | None:
    """(predicted - measured) / measured; None when either is missing or measured is 0."""
    if predicted is None or measured is None or measured == 0:
        return None
    return (predicted - measured) / measured


def _predicted_and_errors(
    prediction: LevelPrediction, measured: Mapping[str, Any]
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """A level's predicted figures (:data:`COMPARED`) and their relative errors."""
    predicted: dict[str, float | None] = {key: getattr(prediction, key) for key in COMPARED}
    errors = {key: relative_error(predicted[key], measured.get(key)) for key in COMPARED}
    errors["error_rate"] = None  # predicted 0: a relative error means nothing; see measured
    return predicted, errors


def compare(
    predictions: Sequence[LevelPrediction],
    measured: Sequence[Mapping[str, Any]],
    loadgen_warning: float,
) -> list[dict[str, Any]]:
    """One ``validation.json`` level per measured level: predicted, measured, relative error."""
    by_users = {p.users: p for p in predictions}
    levels = []
    for level in measured:
        prediction = by_users.get(int(level["users"]))
        if prediction is None:
            continue
        predicted, errors = _predicted_and_errors(prediction, level)
        loadgen = level.get("loadgen_cpu")
        cpu = level.get("cpu_utilization")
        compared = {
            "users": int(level["users"]),
            "predicted": {k: _round(v) for k, v in predicted.items()},
            "measured": {
                k: _round(level.get(k)) for k in (*COMPARED, "requests", "speed_reference_ms")
            },
            "relative_error": {k: _round(v) for k, v in errors.items()},
            "loadgen_cpu": _round(loadgen),
            "loadgen_trustworthy": loadgen is None or loadgen <= loadgen_warning,
            "within_goal_range": cpu is None or cpu <= GOAL_CPU_LIMIT,
            "meets_goals": _meets_goals(errors, cpu),
        }
        if "replications" in level:  # an aggregate_replications record
            compared["replications"] = level["replications"]
            compared["spread"] = {
                k: {name: _round(v) for name, v in s.items()} for k, s in level["spread"].items()
            }
            compared["per_replication"] = [
                {k: _round(v) for k, v in one.items()} for one in level["per_replication"]
            ]
        levels.append(compared)
    return levels


def compare_at_measured_speed(
    levels: Sequence[dict[str, Any]],
    predictions: Sequence[LevelPrediction],
    curve_reference_ms: float | None,
) -> None:
    """Add to each :func:`compare` level the prediction on the machine as fast as it was
    while that level ran (``predictions``, made with each level's measured speed reference:
    models/service_curve.py, "machine speed") and its errors, as ``at_measured_speed``.

    The plain ``predicted`` is the model at the calibration's speed, made before the level
    ran; the difference between the two is the machine's drift, not the model's error.
    Levels without a speed reference (or a curve without one) get none.
    """
    by_users = {p.users: p for p in predictions}
    for level in levels:
        measured = level["measured"]
        speed = measured.get("speed_reference_ms")
        prediction = by_users.get(int(level["users"]))
        if speed is None or prediction is None or not curve_reference_ms:
            continue
        predicted, errors = _predicted_and_errors(prediction, measured)
        cpu = measured.get("cpu_utilization")
        level["at_measured_speed"] = {
            "speed_reference_ms": _round(float(speed)),
            "speed_factor": _round(float(speed) / curve_reference_ms),
            "predicted": {k: _round(v) for k, v in predicted.items()},
            "relative_error": {k: _round(v) for k, v in errors.items()},
            "meets_goals": _meets_goals(errors, cpu),
        }


def _meets_goals(errors: Mapping[str, float | None], cpu: float | None) -> bool | None:
    if cpu is not None and cpu > GOAL_CPU_LIMIT:
        return None  # above 85% CPU the goals do not apply
    checks = [errors.get(k) for k in GOALS]
    if any(e is None for e in checks):
        return False
    return all(abs(errors[k] or 0.0) <= bound for k, bound in GOALS.items())


def summarise(levels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Worst absolute relative error per metric over the levels the goals apply to; the same
    at the measured machine speed (``at_measured_speed``) when every such level has it."""
    applicable = [lv for lv in levels if lv["within_goal_range"]]
    worst = _worst(lv["relative_error"] for lv in applicable)
    at_speed = None
    if applicable and all("at_measured_speed" in lv for lv in applicable):
        blocks = [lv["at_measured_speed"] for lv in applicable]
        at_speed = {
            "worst_abs_relative_error": _worst(b["relative_error"] for b in blocks),
            "goals_met": all(b["meets_goals"] for b in blocks),
        }
    return {
        "levels_compared": len(levels),
        "levels_within_goal_range": len(applicable),
        "worst_abs_relative_error": worst,
        "goals": dict(GOALS),
        "goals_met": bool(applicable) and all(lv["meets_goals"] for lv in applicable),
        "replications": max((lv.get("replications", 1) for lv in levels), default=0),
        "widest_spread": widest_spread(applicable),
        "at_measured_speed": at_speed,
    }


def _worst(errors: Iterable[Mapping[str, float | None]]) -> dict[str, float | None]:
    worst: dict[str, list[float]] = {key: [] for key in COMPARED}
    for one in errors:
        for key in COMPARED:
            if one.get(key) is not None:
                worst[key].append(abs(float(one[key] or 0.0)))
    return {key: _round(max(values)) if values else None for key, values in worst.items()}


def widest_spread(levels: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The largest relative half-range per :data:`REPLICATED` metric over ``levels`` (None
    where no level has a spread for it)."""
    widest: dict[str, float | None] = {}
    for key in REPLICATED:
        values = [
            half
            for lv in levels
            if (half := (lv.get("spread") or {}).get(key, {}).get("relative_half_range"))
            is not None
        ]
        widest[key] = _round(max(values)) if values else None
    return widest


def _round(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value
