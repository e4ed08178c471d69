"""The capacity plan: instances, connections, where the configuration breaks, what it costs.

Every run report has a capacity section, and the planner's reports (:mod:`reports.planner`)
are little else. This module computes what that section shows from plain data, so the
package never depends on the model's classes:

* the sizing is the ``harness model --json`` object (a run's ``capacity.json``), read into
  types by :func:`reports.sizing.read_sizing`;
* a simulation is its per-minute records (``t_min, users, rps, p50_ms, p95_ms, error_rate,
  instances, connections_in_use, cpu``) as :func:`reports.load.simulation_records` checks
  them, summarised by :func:`summarize_simulation`.

:func:`plan` assembles a :class:`CapacityPlan`; its :meth:`~CapacityPlan.problems` and
:meth:`~CapacityPlan.reasons` are the sentences the verdict weighs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.cost import DISAGREEMENT_THRESHOLD
from models.profile import Profile
from reports import figures
from reports import formatting as fmt
from reports.charts import Chart
from reports.sizing import SizingFigures, read_sizing

__all__ = [
    "CLAIM_DISAGREEMENT",
    "CapacityPlan",
    "ClaimRow",
    "CostPoint",
    "DaySummary",
    "Limit",
    "plan",
    "summarize_simulation",
]

CLAIM_DISAGREEMENT = DISAGREEMENT_THRESHOLD
"""The model and a cost claim of the profile (``cost.claims``) disagree when they differ by
more than this: the model's own threshold (models/cost.py), so `harness model` and the report
agree."""


# --- The simulated day ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaySummary:
    """Peaks of a simulated day and the minutes that broke an objective or hit a cap."""

    minutes: int
    peak_users: float | None
    peak_rps: float | None
    peak_instances: float | None
    peak_connections: float | None
    peak_p95_ms: float | None
    peak_error_rate: float | None
    peak_cpu: float | None
    instance_hours: float
    """Billed instance-hours: provisioning instances are billed too."""
    breaching_minutes: int
    capped_minutes: int
    first_breach_min: float | None
    first_breach_users: float | None
    day_error_rate: float | None = None
    """Errors over requests for the whole simulated span (minutes weighted by their rps)."""


def _peak(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [
        float(r[key])
        for r in records
        if isinstance(r.get(key), int | float) and math.isfinite(r[key])
    ]
    return max(values) if values else None


def summarize_simulation(records: Sequence[Mapping[str, Any]], profile: Profile) -> DaySummary:
    """Peaks of the simulated day and the minutes that broke an objective or a cap."""
    slo = profile.slo
    auto = profile.infrastructure.autoscaling
    pool_max = profile.infrastructure.database.pool_max
    breaching = [
        r
        for r in records
        if (r.get("p95_ms") or 0) > slo.api_p95_ms
        or (r.get("p50_ms") or 0) > slo.api_p50_ms
        or (r.get("error_rate") or 0) > slo.error_rate
    ]
    weights = [float(r.get("rps") or 0.0) for r in records]
    day_error_rate = (
        sum(w * float(r.get("error_rate") or 0.0) for w, r in zip(weights, records, strict=True))
        / sum(weights)
        if sum(weights) > 0
        else None
    )
    capped = [
        r
        for r in records
        if r.get("instances", 0) >= auto.max_instances
        or (r.get("connections_in_use") or 0) >= pool_max
    ]
    first = breaching[0] if breaching else None
    # Billed instance-minutes, as the simulation's totals count them: an instance costs from
    # the moment it is requested, so provisioning minutes count (``instances`` is serving).
    instance_minutes = sum(float(r.get("instances_billed", r.get("instances", 0))) for r in records)
    return DaySummary(
        minutes=len(records),
        peak_users=_peak(records, "users"),
        peak_rps=_peak(records, "rps"),
        peak_instances=_peak(records, "instances"),
        peak_connections=_peak(records, "connections_in_use"),
        peak_p95_ms=_peak(records, "p95_ms"),
        peak_error_rate=_peak(records, "error_rate"),
        peak_cpu=_peak(records, "cpu"),
        instance_hours=instance_minutes / 60,
        breaching_minutes=len(breaching),
        capped_minutes=len(capped),
        first_breach_min=first.get("t_min") if first else None,
        first_breach_users=first.get("users") if first else None,
        day_error_rate=day_error_rate,
    )


# --- The plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostPoint:
    """The model's monthly total at one population (to check a cost claim against)."""

    users: int
    total_usd: float


@dataclass(frozen=True, slots=True)
class Limit:
    """Where one resource runs out: ``users`` may be ``None`` (never, within the model)."""

    what: str
    cap: str
    users: float | None
    below_launch: bool


@dataclass(frozen=True, slots=True)
class ClaimRow:
    users: int
    claimed_usd: float
    model_usd: float | None
    difference: float | None
    disagrees: bool


@dataclass(frozen=True, slots=True)
class CapacityPlan:
    """Everything the capacity section shows, already computed."""

    sizing: SizingFigures | None
    launch_users: int
    limits: tuple[Limit, ...]
    first_limit: Limit | None
    claims: tuple[ClaimRow, ...]
    breakdown: tuple[tuple[str, float | None, float | None], ...]
    timeline: Chart | None
    timeline_source: str | None
    simulation_summary: DaySummary | None
    assumptions: tuple[tuple[str, str], ...] = field(default=())
    availability_objective: float = 0.0

    @property
    def claim_threshold(self) -> float:
        """Relative difference above which a cost claim and the model disagree."""
        return CLAIM_DISAGREEMENT

    def problems(self) -> list[str]:
        """What in the plan does not fit the launch: each one fails the verdict."""
        out = []
        if self.sizing is not None:
            inst, db = self.sizing.instances, self.sizing.db_connections
            if inst.fits is False:
                out.append(
                    f"{_num(inst.required)} app instances are needed at peak, "
                    f"above the cap of {_num(inst.high)}"
                )
            if db.fits is False:
                out.append(
                    f"{_num(db.required)} database connections are needed at "
                    f"peak, above the pool maximum of {_num(db.high)}"
                )
            connections = self.sizing.connections
            if connections is not None:
                out.extend(connections.problems)
            out.extend(
                f"the {s.name.replace('_', ' ')} station is overloaded at the peak "
                f"({fmt.pct(s.utilization)} busy): no steady state"
                for s in self.sizing.stations
                if s.mean_wait_ms is None
            )
        limit = self.first_limit
        if limit is not None and limit.below_launch and limit.users is not None:
            out.append(
                f"the {limit.cap} runs out first, at {limit.users:,.0f} users, "
                f"below the {self.launch_users:,} of the launch"
            )
        sim = self.simulation_summary
        if sim is not None and sim.breaching_minutes:
            out.append(
                f"in the simulated day, latency or errors broke an objective in "
                f"{sim.breaching_minutes:,} minute(s), first at minute "
                f"{_num(sim.first_breach_min)} with {_num(sim.first_breach_users)} "
                "users"
            )
        if sim is not None and sim.day_error_rate is not None:
            availability = 1.0 - sim.day_error_rate
            if availability < self.availability_objective:
                out.append(
                    f"the simulated span's availability is {fmt.pct(availability)}, below the "
                    f"{fmt.pct(self.availability_objective)} objective"
                )
        return out

    def reasons(self) -> list[str]:
        """What the plan states for the reader (peak use and cost, the simulated day, the
        first limit when it is beyond the launch): information, never a failure."""
        out = []
        sizing = self.sizing
        if sizing is not None:
            inst, db = sizing.instances, sizing.db_connections
            out.append(
                f"At peak: {fmt.count(inst.required)} of {fmt.count(inst.high)} instances, "
                f"{fmt.count(db.required)} of {fmt.count(db.high)} database connections, "
                f"{fmt.usd(sizing.cost_total)} a month"
            )
        sim = self.simulation_summary
        if sim is not None:
            out.append(
                f"Simulated day: at most {fmt.count(sim.peak_instances)} "
                f"instances and {fmt.connections(sim.peak_connections)} database "
                f"connections, worst-minute p95 {fmt.ms(sim.peak_p95_ms)}, "
                f"{sim.breaching_minutes:,} minute(s) breaking an objective"
            )
        limit = self.first_limit
        if sizing is not None and limit is not None and not limit.below_launch:
            out.append(f"First limit: the {limit.cap} runs out at {fmt.count(limit.users)} users")
        return out


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def _claims(profile: Profile, points: Sequence[CostPoint]) -> tuple[ClaimRow, ...]:
    by_users = {point.users: point.total_usd for point in points}
    rows = []
    for claim in profile.cost.claims:
        model = by_users.get(claim.users)
        diff = (model - claim.monthly_usd) / claim.monthly_usd if model is not None else None
        rows.append(
            ClaimRow(
                claim.users,
                claim.monthly_usd,
                model,
                diff,
                diff is not None and abs(diff) > CLAIM_DISAGREEMENT,
            )
        )
    return tuple(rows)


def _limits(sizing: SizingFigures, profile: Profile, launch: int) -> tuple[Limit, ...]:
    auto = profile.infrastructure.autoscaling
    pool = profile.infrastructure.database
    out = []
    for value, what, cap in (
        (sizing.max_users_by_instances, "instances", f"{auto.max_instances}-instance cap"),
        (
            sizing.max_users_by_db_pool,
            "db_connections",
            f"{pool.pool_max}-connection database pool",
        ),
    ):
        users = value if value is not None and math.isfinite(value) else None
        out.append(Limit(what, cap, users, users is not None and users < launch))
    return tuple(out)


def _estimated_timeline(sizing: SizingFigures, profile: Profile) -> list[dict[str, Any]]:
    """Launch day hour by hour without a simulation: peak sizing scaled by the day-one curve.

    Honest about being crude (the report says so): no autoscaler lag, no cooldown.
    """
    auto = profile.infrastructure.autoscaling
    required = sizing.instances.required
    peak_instances = float(auto.min_instances if required is None else required)
    peak_connections = float(sizing.db_connections.required or 0)
    peak = sizing.peak_concurrent
    peak = profile.peak_concurrent() if peak is None else peak
    records = []
    for hour, fraction in enumerate(profile.day_one.hourly_fraction_of_peak):
        instances = min(
            max(math.ceil(peak_instances * fraction), auto.min_instances), auto.max_instances
        )
        records.append(
            {
                "t_min": hour * 60.0,
                "users": peak * fraction,
                "instances": instances,
                "connections_in_use": peak_connections * fraction,
            }
        )
    return records


def _timeline(
    profile: Profile, sizing: SizingFigures | None, simulation: Sequence[Mapping[str, Any]]
) -> tuple[Chart | None, str | None]:
    """The launch-day chart: simulated when there is a simulation, else estimated."""
    auto = profile.infrastructure.autoscaling
    pool_max = profile.infrastructure.database.pool_max
    if simulation:
        source = "simulated minute by minute, with the autoscaler"
        records: Sequence[Mapping[str, Any]] = simulation
    elif sizing is not None:
        source = "estimated: the analytic peak sizing scaled by the day-one curve, no lag"
        records = _estimated_timeline(sizing, profile)
    else:
        return None, None
    return figures.capacity_timeline(records, auto.max_instances, pool_max, source), source


def _breakdown(
    profile: Profile, sizing: SizingFigures | None
) -> tuple[tuple[str, float | None, float | None], ...]:
    """The profile's month-one cost breakdown beside the model's, component by component."""
    source_costs = profile.cost.source_breakdown
    model_costs = sizing.cost_usd if sizing is not None else {}
    components = list(dict.fromkeys([*source_costs, *[k for k in model_costs if k != "total"]]))
    rows = [(c, source_costs.get(c), model_costs.get(c)) for c in components]
    rows.append(("total", sum(source_costs.values()), model_costs.get("total")))
    return tuple(rows)


def plan(
    profile: Profile,
    sizing: Mapping[str, Any] | None = None,
    simulation: Sequence[Mapping[str, Any]] = (),
    cost_points: Sequence[CostPoint] = (),
    assumptions: Sequence[str] = (),
) -> CapacityPlan:
    """Assemble the capacity section from whichever of the inputs exist.

    ``sizing`` is the ``harness model --json`` object (:func:`read_sizing` reads it);
    ``cost_points`` are the model's totals at other populations, for the cost claims;
    ``assumptions`` (the simulation's, say) are listed after the sizing's own.
    """
    sized = read_sizing(sizing) if sizing else None  # an empty object is no sizing
    launch = profile.population.users
    if sized is not None and sized.users is not None:
        launch = sized.users
    limits = _limits(sized, profile, launch) if sized is not None else ()
    known = [limit for limit in limits if limit.users is not None]
    first = min(known, key=lambda lim: lim.users or 0.0) if known else None
    own_total = (
        [CostPoint(sized.users, sized.cost_total)]
        if sized is not None and sized.users is not None and sized.cost_total is not None
        else []
    )
    timeline, source = _timeline(profile, sized, simulation)
    return CapacityPlan(
        sizing=sized,
        launch_users=launch,
        limits=limits,
        first_limit=first,
        claims=_claims(profile, [*cost_points, *own_total]),
        breakdown=_breakdown(profile, sized),
        timeline=timeline,
        timeline_source=source,
        simulation_summary=summarize_simulation(simulation, profile) if simulation else None,
        assumptions=(sized.assumptions if sized is not None else ())
        + tuple(("", str(item)) for item in assumptions),
        availability_objective=profile.slo.availability,
    )
