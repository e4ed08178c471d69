"""The planner's reports, which need no run: the capacity plan of a profile, and a simulated
launch day, each as one self-contained HTML page with its verdict::

    render_capacity_report(sizing, profile, "plan.html")           # harness model --report
    render_simulation_report(simulation, profile, "day1.html")     # harness simulate --report
    capacity_verdict(sizing, profile)                              # harness demo prints it

The inputs are what the model returns, in any of the shapes a caller has at hand:

* ``sizing``: the ``harness model --json`` dict, or the model's result object (anything with
  ``to_json()``, such as :class:`models.sizing.Sizing`, whose ``cost_claims`` then price every
  cost claim of the profile);
* a simulation: its per-minute records as a list, as ``{"records": [...]}``, as
  ``SimulationResult.to_dict()`` (``{"minutes": [...]}``) or as an object with a ``records``
  or ``minutes`` attribute of dataclasses (a ``SimulationResult`` or ``SimulationSummary``).

The plan itself is :mod:`reports.capacity`; the verdict :mod:`reports.verdict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.profile import Profile
from reports.accuracy import ModelAccuracy
from reports.capacity import CapacityPlan, CostPoint, plan
from reports.environment import render_to_file, this_machine
from reports.load import simulation_records
from reports.method import profile_assumptions
from reports.sizing import read_sizing
from reports.verdict import Verdict, decide

__all__ = [
    "NO_LOAD_TEST",
    "capacity_verdict",
    "render_capacity_report",
    "render_simulation_report",
    "simulation_verdict",
]

NO_LOAD_TEST = "no load test was run for this report"


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


def _sizing_json(sizing: Any) -> tuple[Mapping[str, Any], list[CostPoint]]:
    """The JSON object, and the model's totals at the claims' user counts when it gave them.

    Accepts the plain ``harness model --json`` dict or the model's result object (anything
    with ``to_json()``; its ``cost_claims`` records carry ``users`` and ``model_usd``).
    """
    if isinstance(sizing, Mapping):
        return sizing, []
    to_json = getattr(sizing, "to_json", None)
    if to_json is None:
        raise TypeError(f"expected the `harness model --json` dict, got {type(sizing).__name__}")
    points = [
        CostPoint(int(claim.users), float(claim.model_usd))
        for claim in getattr(sizing, "cost_claims", ())
        if hasattr(claim, "users") and hasattr(claim, "model_usd")
    ]
    data: Mapping[str, Any] = to_json()
    return data, points


def _cost_points(sizing_results: Sequence[Mapping[str, Any]]) -> list[CostPoint]:
    """The model's total at each further sizing result that has both a population and one."""
    points = []
    for i, result in enumerate(sizing_results):
        figures = read_sizing(result, f"cost_points[{i}]")
        if figures.users is not None and figures.cost_total is not None:
            points.append(CostPoint(figures.users, figures.cost_total))
    return points


def render_capacity_report(
    sizing_result_json: Mapping[str, Any] | Any,
    profile: Profile,
    path: Path | str,
    *,
    cost_points: Sequence[Mapping[str, Any]] = (),
    simulation: Any = None,
    basis: str = NO_LOAD_TEST,
    accuracy: ModelAccuracy | None = None,
) -> Path:
    """The planner's report from ``harness model --json`` output; returns the written path.

    ``cost_points`` are further sizing results (same keys) at other user counts, e.g. at the
    populations of the profile's cost claims, so the cost table can check every claim.
    ``accuracy``, when the model was also judged (``harness demo``), opens the verdict.
    """
    records = _records(simulation) if simulation is not None else ()
    sizing, claimed = _sizing_json(sizing_result_json)
    capacity = plan(profile, sizing, records, [*_cost_points(cost_points), *claimed])
    title = f"Capacity plan: {profile.name}"
    return _render(title, "model", capacity, profile, path, basis, accuracy)


def capacity_verdict(
    sizing_result_json: Mapping[str, Any] | Any,
    profile: Profile,
    *,
    simulation: Any = None,
    accuracy: ModelAccuracy | None = None,
) -> Verdict:
    """The verdict a capacity report shows, without rendering it (``harness demo`` prints it)."""
    records = _records(simulation) if simulation is not None else ()
    sizing, claimed = _sizing_json(sizing_result_json)
    return _decide(profile, plan(profile, sizing, records, claimed), accuracy)


def _decide(profile: Profile, capacity: CapacityPlan, accuracy: ModelAccuracy | None) -> Verdict:
    if accuracy is None:
        return decide(None, profile, capacity)
    return decide(
        None,
        profile,
        capacity,
        model_evidence=accuracy.reasons(),
        qualifier=accuracy.qualifier,
    )


def simulation_verdict(simulation_result: Any, profile: Profile) -> Verdict:
    """The verdict the simulation report shows (``harness simulate`` exits 1 unless ready)."""
    capacity = plan(profile, None, _records(simulation_result), [])
    return decide(None, profile, capacity)


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
    accuracy: ModelAccuracy | None = None,
) -> Path:
    context = {
        "basis": basis,
        "title": title,
        "kind": kind,
        "capacity": capacity,
        "verdict": _decide(profile, capacity, accuracy),
        "profile": profile,
        "profile_toml": profile.to_toml(),
        "assumptions": profile_assumptions(profile),
        "timeseries": None,
        "machine": this_machine(),
        "machine_is_run": False,
    }
    return render_to_file("capacity.html.j2", context, path)
