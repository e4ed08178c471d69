"""The capacity plan: instances, connections, where the configuration breaks, what it costs.

It appears in every run report and alone in the planner's reports, which need no run::

    render_capacity_report(sizing, profile, "plan.html")           # harness model --report
    render_simulation_report(simulation, profile, "day1.html")     # harness simulate --report

Inputs are plain data so this package never depends on the model's classes: ``sizing`` is the
``harness model --json`` object (DESIGN.md: ``users``, ``instances``, ``db_connections``,
``latency``, ``cost_monthly_usd``, ``limits``, ``assumptions``...), a simulation is its
per-minute records (``t_min, users, rps, p50_ms, p95_ms, error_rate, instances,
connections_in_use, cpu``), as a list, as ``{"records": [...]}`` or as an object with a
``records`` attribute of dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.cost import DISAGREEMENT_THRESHOLD
from models.profile import Profile
from reports import figures
from reports.charts import Chart
from reports.environment import render_to_file, this_machine
from reports.load import simulation_records
from reports.method import profile_assumptions
from reports.verdict import Verdict, decide

CLAIM_DISAGREEMENT = DISAGREEMENT_THRESHOLD
"""The model and a cost claim of the source document disagree when they differ by more than
this: the model's own threshold (models/cost.py), so `harness model` and the report agree."""


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

    sizing: Mapping[str, Any] | None
    launch_users: int
    limits: tuple[Limit, ...]
    first_limit: Limit | None
    claims: tuple[ClaimRow, ...]
    breakdown: tuple[tuple[str, float | None, float | None], ...]
    timeline: Chart | None
    timeline_source: str | None
    simulation_summary: Mapping[str, Any] | None
    assumptions: tuple[tuple[str, str], ...] = field(default=())

    @property
    def claim_threshold(self) -> float:
        """Relative difference above which a cost claim and the model disagree."""
        return CLAIM_DISAGREEMENT

    @property
    def problems(self) -> list[str]:
        """Sentences for the verdict: what in the plan does not fit the launch."""
        out = []
        if self.sizing is not None:
            inst = self.sizing.get("instances", {})
            if inst.get("fits") is False:
                out.append(
                    f"{_num(inst.get('required'))} app instances are needed at peak, "
                    f"above the cap of {_num(inst.get('max'))}"
                )
            db = self.sizing.get("db_connections", {})
            if db.get("fits") is False:
                out.append(
                    f"{_num(db.get('required'))} database connections are needed at "
                    f"peak, above the pool maximum of {_num(db.get('pool_max'))}"
                )
        limit = self.first_limit
        if limit is not None and limit.below_launch and limit.users is not None:
            out.append(
                f"the {limit.cap} runs out first, at {limit.users:,.0f} users, "
                f"below the {self.launch_users:,} of the launch"
            )
        sim = self.simulation_summary
        if sim is not None and sim["breaching_minutes"]:
            out.append(
                f"in the simulated day, latency or errors broke an objective in "
                f"{sim['breaching_minutes']:,} minute(s), first at minute "
                f"{_num(sim['first_breach_min'])} with {_num(sim['first_breach_users'])} "
                "users"
            )
        return out


def _num(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else "?"


def _claims(profile: Profile, points: Sequence[Mapping[str, Any]]) -> tuple[ClaimRow, ...]:
    by_users = {}
    for point in points:
        total = (point.get("cost_monthly_usd") or {}).get("total")
        if isinstance(point.get("users"), int | float) and isinstance(total, int | float):
            by_users[int(point["users"])] = float(total)
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


def _limits(sizing: Mapping[str, Any], profile: Profile) -> tuple[Limit, ...]:
    limits = sizing.get("limits") or {}
    auto = profile.infrastructure.autoscaling
    pool = profile.infrastructure.database
    launch = int(sizing.get("users", profile.population.users))
    out = []
    for key, what, cap in (
        ("max_users_by_instances", "instances", f"{auto.max_instances}-instance cap"),
        ("max_users_by_db_pool", "db_connections", f"{pool.pool_max}-connection database pool"),
    ):
        value = limits.get(key)
        users = float(value) if isinstance(value, int | float) and math.isfinite(value) else None
        out.append(Limit(what, cap, users, users is not None and users < launch))
    return tuple(out)


def _estimated_timeline(sizing: Mapping[str, Any], profile: Profile) -> list[dict[str, Any]]:
    """Launch day hour by hour without a simulation: peak sizing scaled by the day-one curve.

    Honest about being crude (the report says so): no autoscaler lag, no cooldown.
    """
    auto = profile.infrastructure.autoscaling
    inst = sizing.get("instances", {})
    db = sizing.get("db_connections", {})
    peak_instances = float(inst.get("required", auto.min_instances))
    peak_connections = float(db.get("required", 0))
    peak = float(sizing.get("peak_concurrent", profile.peak_concurrent()))
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


def summarize_simulation(records: Sequence[Mapping[str, Any]], profile: Profile) -> dict[str, Any]:
    """Peaks of the simulated day and the minutes that broke an objective or a cap."""
    slo = profile.slo
    auto = profile.infrastructure.autoscaling
    pool_max = profile.infrastructure.database.pool_max

    def peak(key: str) -> float | None:
        values = [
            float(r[key])
            for r in records
            if isinstance(r.get(key), int | float) and math.isfinite(r[key])
        ]
        return max(values) if values else None

    breaching = [
        r
        for r in records
        if (r.get("p95_ms") or 0) > slo.api_p95_ms or (r.get("error_rate") or 0) > slo.error_rate
    ]
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
    return {
        "minutes": len(records),
        "peak_users": peak("users"),
        "peak_rps": peak("rps"),
        "peak_instances": peak("instances"),
        "peak_connections": peak("connections_in_use"),
        "peak_p95_ms": peak("p95_ms"),
        "peak_error_rate": peak("error_rate"),
        "peak_cpu": peak("cpu"),
        "instance_hours": instance_minutes / 60,
        "breaching_minutes": len(breaching),
        "capped_minutes": len(capped),
        "first_breach_min": first.get("t_min") if first else None,
        "first_breach_users": first.get("users") if first else None,
    }


def _assumptions(raw: Any) -> tuple[tuple[str, str], ...]:
    """``(key, text)`` pairs from a mapping or a list of sentences (key empty)."""
    if isinstance(raw, Mapping):
        return tuple((str(k), str(v)) for k, v in raw.items())
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return tuple(("", str(item)) for item in raw)
    return ()


def plan(
    profile: Profile,
    sizing: Mapping[str, Any] | None = None,
    simulation: Sequence[Mapping[str, Any]] = (),
    cost_points: Sequence[Mapping[str, Any]] = (),
    assumptions: Sequence[str] = (),
) -> CapacityPlan:
    """Assemble the capacity section from whichever of the inputs exist.

    ``assumptions`` (the simulation's, say) are listed after the sizing's own.
    """
    auto = profile.infrastructure.autoscaling
    pool_max = profile.infrastructure.database.pool_max
    limits = _limits(sizing, profile) if sizing else ()
    known = [limit for limit in limits if limit.users is not None]
    first = min(known, key=lambda lim: lim.users or 0.0) if known else None
    source_costs = profile.cost.source_breakdown
    model_costs = (sizing or {}).get("cost_monthly_usd") or {}
    components = list(dict.fromkeys([*source_costs, *[k for k in model_costs if k != "total"]]))
    breakdown = [(c, source_costs.get(c), _float(model_costs.get(c))) for c in components]
    breakdown.append(("total", sum(source_costs.values()), _float(model_costs.get("total"))))
    timeline, source = None, None
    if simulation:
        source = "simulated minute by minute, with the autoscaler"
        timeline = figures.capacity_timeline(simulation, auto.max_instances, pool_max, source)
    elif sizing:
        source = "estimated: the analytic peak sizing scaled by the day-one curve, no lag"
        timeline = figures.capacity_timeline(
            _estimated_timeline(sizing, profile), auto.max_instances, pool_max, source
        )
    points = [*cost_points, *([sizing] if sizing else [])]
    return CapacityPlan(
        sizing=sizing,
        launch_users=int((sizing or {}).get("users", profile.population.users)),
        limits=limits,
        first_limit=first,
        claims=_claims(profile, points),
        breakdown=tuple(breakdown),
        timeline=timeline,
        timeline_source=source,
        simulation_summary=summarize_simulation(simulation, profile) if simulation else None,
        assumptions=_assumptions((sizing or {}).get("assumptions"))
        + _assumptions(list(assumptions)),
    )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _records(simulation_result: Any) -> tuple[Mapping[str, Any], ...]:
    """Per-minute records from any of the accepted shapes (see the module docstring)."""
    data = simulation_result
    for attribute in ("records", "minutes"):
        data = getattr(data, attribute, data)
    if isinstance(data, Mapping):
        data = data.get("records", data.get("minutes", data))
    rows = [
        dataclasses.asdict(r)
        if dataclasses.is_dataclass(r) and not isinstance(r, type)
        else (r._asdict() if hasattr(r, "_asdict") else r)
        for r in data
    ]
    return simulation_records("simulation result", rows)


def _simulation_assumptions(result: Any) -> list[str]:
    """The simulation's own assumptions, wherever its result shape keeps them."""
    for holder in (result, getattr(result, "first", None)):
        raw = (
            holder.get("assumptions")
            if isinstance(holder, Mapping)
            else getattr(holder, "assumptions", None)
        )
        if isinstance(raw, Sequence) and not isinstance(raw, str):
            return [str(item) for item in raw]
    return []


def _sizing_json(sizing: Any) -> tuple[Mapping[str, Any], list[Mapping[str, Any]]]:
    """The JSON object, and cost points at the claims' user counts when the model gave them.

    Accepts the plain ``harness model --json`` dict or the model's result object (anything
    with ``to_json()``; its ``cost_claims`` records carry ``users`` and ``model_usd``).
    """
    if isinstance(sizing, Mapping):
        return sizing, []
    to_json = getattr(sizing, "to_json", None)
    if to_json is None:
        raise TypeError(f"expected the `harness model --json` dict, got {type(sizing).__name__}")
    points: list[Mapping[str, Any]] = [
        {"users": claim.users, "cost_monthly_usd": {"total": claim.model_usd}}
        for claim in getattr(sizing, "cost_claims", ())
        if hasattr(claim, "users") and hasattr(claim, "model_usd")
    ]
    data: Mapping[str, Any] = to_json()
    return data, points


NO_LOAD_TEST = "no load test was run for this report"


def render_capacity_report(
    sizing_result_json: Mapping[str, Any] | Any,
    profile: Profile,
    path: Path | str,
    *,
    cost_points: Sequence[Mapping[str, Any]] = (),
    simulation: Any = None,
    basis: str = NO_LOAD_TEST,
) -> Path:
    """The planner's report from ``harness model --json`` output; returns the written path.

    ``cost_points`` are further sizing results (same keys) at other user counts, e.g. at the
    source document's claim points, so the cost table can check every claim.
    """
    records = _records(simulation) if simulation is not None else ()
    sizing, claimed = _sizing_json(sizing_result_json)
    capacity = plan(profile, sizing, records, [*cost_points, *claimed])
    return _render(f"Capacity plan: {profile.name}", "model", capacity, profile, path, basis)


def capacity_verdict(
    sizing_result_json: Mapping[str, Any] | Any, profile: Profile, *, simulation: Any = None
) -> Verdict:
    """The verdict a capacity report shows, without rendering it (``harness demo`` prints it)."""
    records = _records(simulation) if simulation is not None else ()
    sizing, claimed = _sizing_json(sizing_result_json)
    return decide(None, profile, plan(profile, sizing, records, claimed))


def render_simulation_report(
    simulation_result: Any,
    profile: Profile,
    path: Path | str,
    *,
    sizing_result_json: Mapping[str, Any] | Any | None = None,
) -> Path:
    """The planner's report of a simulated launch day; returns the written path."""
    sizing, claimed = (None, []) if sizing_result_json is None else _sizing_json(sizing_result_json)
    capacity = plan(
        profile,
        sizing,
        _records(simulation_result),
        claimed,
        _simulation_assumptions(simulation_result),
    )
    return _render(f"Launch-day simulation: {profile.name}", "simulation", capacity, profile, path)


def _render(
    title: str,
    kind: str,
    capacity: CapacityPlan,
    profile: Profile,
    path: Path | str,
    basis: str = NO_LOAD_TEST,
) -> Path:
    context = {
        "basis": basis,
        "title": title,
        "kind": kind,
        "capacity": capacity,
        "verdict": decide(None, profile, capacity),
        "profile": profile,
        "profile_toml": profile.to_toml(),
        "assumptions": profile_assumptions(profile),
        "timeseries": None,
        "machine": this_machine(),
        "machine_is_run": False,
    }
    return render_to_file("capacity.html.j2", context, path)
