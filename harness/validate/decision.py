"""The instance decision: the plan's headline number, put to the test.

For a load one instance cannot carry, the planner (:func:`models.sizing.size`, the same code
``harness model`` runs) names K: the fewest instances, each held to the lab's CPU limit, that
keep the p95 objective with every instance under the autoscaler's scale-up CPU. The decision
is right when the service agrees: at K-1 the objective or the CPU target breaks, at K both
hold. K+1 may be measured too (``--k-plus-one``), to show the margin on the safe side; it
is not by default, to keep the validation within its 30 minutes. Each count runs twice by
default, interleaved (K-1, K, K, K-1, or K-1, K, K+1, K+1, K, K-1: :func:`run_order`), and is
judged on the mean of its runs (:func:`measured_count`): the machine's speed drifts by tens of
percent within minutes, and in one pass the drift fell on whichever count ran last. A count
whose runs disagree on whether it holds (one within the objective and the target, another
not) runs once more, up to ``decision_max_replications``, while the time budget allows
(:func:`disagreeing`): its mean is then no longer one run against another.

This module plans the decision (which load, which K, what the planner predicts at K-1, K and
K+1) and judges measured figures against it. Beside K it writes the naive baseline's answer:
the instances the CPU target alone asks for, ceil(CPU per call x calls/s / (target x cores
per instance)), nothing queueing (:func:`baseline_instances`, the planner's own ``by_cpu``).
A reader sees whether the queueing model beat that arithmetic: where the p95 objective, not
the CPU, decides, the two differ. The load is chosen in the middle of the range of
users for which the planner says K: at its lower end K-1 would barely break, at its upper
end K would barely hold, and either would make the verdict a coin toss on a noisy machine.

The planner sees the lab as a profile: :meth:`models.profile.Profile.lab_profile` (K instances
of ``cpu_limit`` cores, the lab's workers, pooler, replicas and cache) at a population whose
peak concurrency is the load's users, on the lab calibration's basis when it measured one
(:func:`models.lab_prediction.on_calibration_basis`: the instance's CPU line, no second cache
split, the idle CPU off the limit), the same basis the topology trial's model uses. Without
it the planner split the calibration's CPU at the profile's cache hit ratio a second time and
left the idle CPU out: it put 3 quarter-core instances at 58% CPU for a load that measured
100% (docs/lab.md).

On that basis the planner's CPU figure is its workers' utilization of what the idle CPU leaves
of the limit, while the lab measures, and the target judges, the whole CPU group over the
limit, idle included. The two are put on one footing both ways: the planner sizes against the
target carried over to its workers' share (:func:`models.lab_prediction.workers_utilization_at`),
and its figures are reported as the whole group's (:func:`models.lab_prediction.cpu_of_limit`).
Comparing the workers' share with the group's CPU had put the planner's CPU at K about 5 points
of the limit under what it meant, the whole idle line at every count.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.validate.plan import overlay
from models.lab_calibration import LabDemands
from models.lab_prediction import cpu_of_limit, on_calibration_basis, workers_utilization_at
from models.profile import Profile
from models.rounding import rounded
from models.sizing import Sizing, size
from models.validation_records import CountMeasurement, CountRun

__all__ = [
    "MAX_DECISION_USERS",
    "CountFigures",
    "InstanceDecision",
    "baseline_instances",
    "decision_profile",
    "disagreeing",
    "judge_count",
    "margins",
    "measured_count",
    "plan_decision",
    "planned_instances",
    "run_order",
]

#: The planner is asked about loads up to this many concurrent users at most; a decision that
#: needs more is not one this machine could measure.
MAX_DECISION_USERS = 5_000


@dataclass(frozen=True, slots=True)
class CountFigures:
    """What one instance count gives at the decision's load: p95 (None: a station is
    overloaded, no steady state) and CPU per instance as a fraction of its limit."""

    instances: int
    p95_ms: float | None
    cpu_per_instance: float
    holds: bool
    """p95 within the objective and CPU per instance at or under the target."""
    throughput_rps: float | None = None
    """The planner's requests per second at this count (None: not a plan's figure)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "throughput_rps": rounded(self.throughput_rps),
            "p95_ms": rounded(self.p95_ms),
            "cpu_per_instance": rounded(self.cpu_per_instance),
            "holds": self.holds,
        }


@dataclass(frozen=True, slots=True)
class InstanceDecision:
    """The planner's K for ``users`` concurrent users, and its predictions around K."""

    users: int
    instances: int
    cpu_limit: float
    p95_objective_ms: float
    cpu_target: float
    users_range: tuple[int, int]
    """The users for which the planner says K, lowest and highest."""
    predicted: tuple[CountFigures, ...]
    """At K-1 (when K > 1), K and K+1."""
    baseline_instances: int
    """The naive baseline's K at the same load: the CPU target alone, nothing queueing."""

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "instances": self.instances,
            "cpu_limit": self.cpu_limit,
            "p95_objective_ms": self.p95_objective_ms,
            "cpu_target": self.cpu_target,
            "users_range": list(self.users_range),
            "predicted": [figures.to_json() for figures in self.predicted],
            "baseline_instances": self.baseline_instances,
        }


def judge_count(
    instances: int, p95_ms: float | None, cpu_per_instance: float, *, objective_ms: float,
    cpu_target: float,
) -> CountFigures:  # fmt: skip
    """Whether ``instances`` hold the load: p95 within the objective and CPU at or under the
    target (a p95 of None, no steady state, never holds)."""
    holds = p95_ms is not None and p95_ms <= objective_ms and cpu_per_instance <= cpu_target
    return CountFigures(instances, p95_ms, cpu_per_instance, holds)


def run_order(counts: Sequence[int], replications: int) -> list[int]:
    """The order the decision's runs measure ``counts``, each ``replications`` times: forward,
    then backward, and so on (2, 3, 4, 4, 3, 2 for two). The machine's speed drifts through the
    runs by tens of percent (docs/lab.md); measured in one pass, a drift would weigh on
    whichever count ran last, while reversed passes give every count the same mean position,
    so a steady drift weighs on each count's mean alike."""
    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    forward = list(counts)
    return [
        count
        for done in range(replications)
        for count in (forward if done % 2 == 0 else forward[::-1])
    ]


def disagreeing(
    runs_of: Mapping[int, Sequence[CountRun]],
    instances: int,
    *,
    objective_ms: float,
    cpu_target: float,
    most: int,
) -> int | None:
    """The count to run once more: one whose measured runs disagree on whether it holds (some
    within the objective and the target, some not) and that has fewer than ``most`` runs; the
    fewest runs first, then the nearest to K (``instances``). None when every count's runs
    agree. The rule looks at the runs' spread across the line, not at which side the mean
    falls on, so it asks for more runs alike whichever way the verdict would go."""
    candidates = sorted(runs_of, key=lambda count: (len(runs_of[count]), abs(count - instances)))
    for count in candidates:
        runs = [one for one in runs_of[count] if one.measured]
        if len(runs_of[count]) >= most or len(runs) < 2:
            continue
        verdicts = {
            judge_count(
                count,
                one.p95_ms,
                one.cpu_per_instance or 0.0,
                objective_ms=objective_ms,
                cpu_target=cpu_target,
            ).holds
            for one in runs
        }
        if len(verdicts) > 1:
            return count
    return None


def measured_count(
    instances: int, runs: Sequence[CountRun], *, objective_ms: float, cpu_target: float
) -> CountMeasurement:
    """One count's runs as its verdict: the mean p95, CPU per instance, throughput and error
    rate over them, judged against the objective and the target; no verdict (None figures)
    while any of its runs measured nothing, since an incomplete run is a lower bound."""
    first = runs[0].run if runs else None
    if not runs or not all(one.measured for one in runs):
        return CountMeasurement(instances, first, None, None, None, None, replications=tuple(runs))
    p95 = statistics.fmean(one.p95_ms for one in runs if one.p95_ms is not None)
    cpu = statistics.fmean(one.cpu_per_instance for one in runs if one.cpu_per_instance is not None)
    judged = judge_count(instances, p95, cpu, objective_ms=objective_ms, cpu_target=cpu_target)
    return CountMeasurement(
        instances,
        first,
        p95,
        cpu,
        _mean_of(one.error_rate for one in runs),
        judged.holds,
        throughput_rps=_mean_of(one.throughput_rps for one in runs),
        replications=tuple(runs),
    )


def _mean_of(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.fmean(known) if known else None


def decision_profile(
    profile: Profile,
    users: int,
    instances: int | None = None,
    measured: LabDemands | None = None,
) -> Profile:
    """``profile`` as the lab at ``users`` concurrent at its peak: the lab's topology
    (:meth:`~models.profile.Profile.lab_profile`) on the calibration's basis (``measured``,
    module docstring), with ``instances`` fixed (None: the autoscaler free from one instance
    up, so the planner chooses)."""
    population = profile.population
    per_user = population.dau_ratio * population.concurrency_ratio
    lab = on_calibration_basis(profile.lab_profile(), measured)
    scaling: dict[str, float] = (
        {"min_instances": 1, "max_instances": 10_000}
        if instances is None
        else {"min_instances": instances, "max_instances": instances}
    )
    scaling |= _workers_targets(profile, measured)
    return overlay(
        lab,
        {
            "population": {"users": max(1, math.ceil(users / per_user))},
            "infrastructure": {"autoscaling": scaling},
        },
    )


def _workers_targets(profile: Profile, measured: LabDemands | None) -> dict[str, float]:
    """The autoscaler's CPU thresholds carried over to the workers' share of the limit (module
    docstring); none to change without a measured CPU line."""
    if measured is None or measured.cpu_cores_per_rps is None:
        return {}
    limit, scaling = profile.lab.cpu_limit, profile.infrastructure.autoscaling
    # An idle line past the target leaves the workers nothing: a threshold just above zero,
    # so that no count holds and the plan says why, rather than a profile that fails to load.
    up = max(workers_utilization_at(scaling.scale_up_cpu, limit, measured), 1e-6)
    down = workers_utilization_at(scaling.scale_down_cpu, limit, measured)
    # the profile needs scale-down under scale-up; only a threshold squeezed to zero breaks it
    return {"scale_up_cpu": up, "scale_down_cpu": down if down < up else up / 2}


def planned_instances(profile: Profile, users: int, measured: LabDemands | None = None) -> int:
    """The instances the planner needs for ``users`` on the lab (its ``required``)."""
    lab = decision_profile(profile, users, measured=measured)
    return size(lab, compare_costs=False).instances.required


def baseline_instances(profile: Profile, users: int, measured: LabDemands | None = None) -> int:
    """The naive baseline's instances for ``users`` on the lab: the fewest that keep CPU per
    instance at or under the scale-up target with nothing queueing, ``ceil(rate x CPU per
    call / (target x cores per instance))`` (the planner's ``instances.by_cpu``)."""
    lab = decision_profile(profile, users, measured=measured)
    return size(lab, compare_costs=False).instances.by_cpu


def _first_users_needing(
    profile: Profile, count: int, low: int, high: int, measured: LabDemands | None
) -> int | None:
    """The fewest users in [low, high] for which the planner needs ``count`` or more
    instances (None: not even ``high``); the need grows with the users."""
    if planned_instances(profile, high, measured) < count:
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if planned_instances(profile, middle, measured) >= count:
            high = middle
        else:
            low = middle
    return high if planned_instances(profile, low, measured) < count else low


def _figures_at(
    profile: Profile, users: int, instances: int, measured: LabDemands | None
) -> CountFigures:
    lab = decision_profile(profile, users, instances, measured)
    sizing: Sizing = size(lab, compare_costs=False)
    slo, scaling = profile.slo, profile.infrastructure.autoscaling
    judged = judge_count(
        instances,
        sizing.latency.p95_ms,
        cpu_of_limit(sizing.utilization["app_cpu"], profile.lab.cpu_limit, measured),
        objective_ms=slo.api_p95_ms,
        cpu_target=scaling.scale_up_cpu,
    )
    return dataclasses.replace(judged, throughput_rps=sizing.peak_rps)


def plan_decision(
    profile: Profile, instances: int, measured: LabDemands | None = None
) -> InstanceDecision:
    """The load for which the planner names ``instances`` (K), chosen in the middle of its
    range, and the planner's figures at K-1, K and K+1 there.

    ``profile`` carries the measured demands at the validation's think times, and the lab's
    section (its CPU limit, workers, pooler, replicas and cache); ``measured``, the lab
    calibration's CPU line and pooler figures (module docstring). ValueError when the
    planner never names K below :data:`MAX_DECISION_USERS` users.
    """
    if instances < 2:
        raise ValueError(
            f"instances must be >= 2 (a load one instance cannot carry), got {instances}"
        )
    limit, target = profile.lab.cpu_limit, profile.infrastructure.autoscaling.scale_up_cpu
    if workers_utilization_at(target, limit, measured) <= 0.0:
        assert measured is not None  # without a measured line the target is left as it is
        raise ValueError(
            f"the lab calibration's idle CPU ({measured.idle_cpu_cores:.3g} cores) alone passes "
            f"the CPU target ({target:.0%} of {limit:g} cores): no instance count holds"
        )
    first = _first_users_needing(profile, instances, 1, MAX_DECISION_USERS, measured)
    beyond = _first_users_needing(profile, instances + 1, 1, MAX_DECISION_USERS, measured)
    if first is None or beyond is None or beyond <= first:
        raise ValueError(
            f"the planner never names {instances} instances for up to {MAX_DECISION_USERS:,} "
            f"users at a CPU limit of {profile.lab.cpu_limit:g} cores"
        )
    users = (first + beyond - 1) // 2
    counts = range(instances - 1, instances + 2)
    return InstanceDecision(
        users=users,
        instances=instances,
        cpu_limit=limit,
        p95_objective_ms=profile.slo.api_p95_ms,
        cpu_target=target,
        users_range=(first, beyond - 1),
        predicted=tuple(_figures_at(profile, users, count, measured) for count in counts),
        baseline_instances=baseline_instances(profile, users, measured),
    )


def margins(decision: InstanceDecision) -> Mapping[int, float | None]:
    """Per instance count, how far the p95 stays under (+) or over (-) the objective, as a
    fraction of it (None where there is no steady state)."""
    objective = decision.p95_objective_ms
    return {
        figures.instances: None
        if figures.p95_ms is None
        else (objective - figures.p95_ms) / objective
        for figures in decision.predicted
    }
