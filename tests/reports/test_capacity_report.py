"""The planner's reports, without a run: from the model's sizing and from a simulated day."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import reports.capacity
import reports.sizing
from models.profile import load_profile
from models.simulation.runner import SimulationOptions, run_once
from models.sizing import size
from reports import formatting as fmt
from reports import render_capacity_report, render_simulation_report
from reports.capacity import plan, summarize_simulation
from reports.load import ArtifactError
from reports.sizing import read_sizing
from tests.reports.factory import simulation, sizing_result
from tests.reports.htmlcheck import external_references, parse


def test_model_only_report_from_the_real_sizing(tmp_path: Path) -> None:
    profile = load_profile()
    plan = size(profile)
    data = plan.to_json()
    path = render_capacity_report(data, profile, tmp_path / "plan.html")
    report = parse(path)
    assert {"verdict", "capacity", "method"} <= set(report.ids())
    assert "slo" not in report.ids() and "run" not in report.ids()
    verdict = report.section_text("verdict")
    assert verdict.startswith("✓ Ready for launch-day-400k")
    assert (
        f"At peak: {data['instances']['required']} of 50 instances, "
        f"{data['db_connections']['required']} of 100 database connections, "
        f"{fmt.usd(data['cost_monthly_usd']['total'])} a month" in verdict
    )
    capacity = report.section_text("capacity")
    assert f"{fmt.count(data['limits']['max_users_by_instances'])} users" in capacity
    assert report.row("cost-breakdown", "total")[1:] == [
        "$8,500",
        fmt.usd(data["cost_monthly_usd"]["total"]),
    ]
    assert external_references(report) == []


def test_the_sizing_object_also_checks_every_cost_claim(tmp_path: Path) -> None:
    profile = load_profile()
    plan = size(profile)
    report = parse(render_capacity_report(plan, profile, tmp_path / "plan.html"))
    claims = report.table("cost-claims")[1:]
    assert [row[0] for row in claims] == ["400,000", "500,000", "750,000", "1,000,000"]
    by_users = {claim.users: claim.model_usd for claim in plan.cost_claims}
    for row in claims:
        users = int(row[0].replace(",", ""))
        if users in by_users:
            assert row[2] == fmt.usd(by_users[users])
    assert all(row[2] != "—" for row in claims)


def test_a_plan_that_does_not_fit_is_not_ready(tmp_path: Path) -> None:
    profile = load_profile()
    data = sizing_result(profile, fits=False)
    report = parse(render_capacity_report(data, profile, tmp_path / "plan.html"))
    verdict = report.section_text("verdict")
    assert verdict.startswith("✗ Not ready")
    assert "140 database connections are needed at peak, above the pool maximum of 100" in verdict
    assert (
        "The 100-connection database pool runs out first, at 285,000 users, below the 400,000"
        in verdict
    )
    limits = report.row("limits-table", "The 100-connection database pool breaks first")
    assert limits[1:] == ["285,000 users", "✗ runs out before the launch peak"]
    claim = report.row("cost-claims", "400,000")
    assert claim[-1] == "✗ disagrees"  # the fixture's model says $11,188 against $8,500


def test_simulation_report_from_records(tmp_path: Path) -> None:
    profile = load_profile()
    records = simulation(profile)
    report = parse(render_simulation_report(records, profile, tmp_path / "day.html"))
    capacity = report.section_text("capacity")
    assert "Simulated launch day" in capacity
    assert f"Most instances {max(r['instances'] for r in records)} of 50" in capacity
    hours = report.table("data-capacity-timeline")  # the timeline's data table: one row per hour
    assert len(hours) == 1 + 24
    assert hours[10][0] == "09:00" and hours[10][1] == "20,000"
    svg = [e for e in report.elements if e.tag == "svg"]
    assert len(svg) == 1 and svg[0].attrs["data-chart"] == "capacity-timeline"
    verdict = report.section_text("verdict")
    assert "Simulated day: at most 25 instances" in verdict
    assert "0 minute(s) breaking an objective" in verdict
    # No load test ran: the report must not describe one.
    assert "HDR" not in report.text and "closed" not in report.section_text("method")
    assert "no analytic sizing" in capacity


@pytest.mark.slow
def test_simulation_report_from_the_real_simulation(tmp_path: Path) -> None:
    profile = load_profile(overrides={"population": {"users": 40_000}})
    result = run_once(profile, SimulationOptions(hours=0.25, start_hour=9.0, seed=3))
    report = parse(render_simulation_report(result, profile, tmp_path / "day.html"))
    most = max(m.instances for m in result.minutes)
    assert f"Most instances {fmt.count(most)} of 50" in report.section_text("capacity")
    assert report.section_text("verdict").startswith(("✓ Ready", "✗ Not ready"))


def test_simulated_instance_hours_are_the_billed_ones() -> None:
    # An instance costs from the minute it is requested: while it provisions it is billed but
    # not serving, and the report's instance-hours must be the bill's.
    records = [
        {"t_min": float(minute), "users": 100.0, "instances": 8.0, "instances_billed": 9.0}
        for minute in range(60)
    ]
    assert summarize_simulation(records, load_profile()).instance_hours == pytest.approx(9.0)
    serving_only = [{k: v for k, v in r.items() if k != "instances_billed"} for r in records]
    assert summarize_simulation(serving_only, load_profile()).instance_hours == pytest.approx(8.0)


def test_the_plan_depends_on_neither_the_verdict_nor_the_planner() -> None:
    # The verdict weighs a plan and the planner renders one with its verdict: the plan must
    # not reach back to either, or the three modules go round in a circle.
    source = Path(reports.capacity.__file__).read_text("utf-8")
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"reports.verdict", "reports.planner"}, imported
    sizing = Path(reports.sizing.__file__).read_text("utf-8")
    assert "reports.capacity" not in sizing and "reports.verdict" not in sizing


def test_the_sizing_is_read_into_types() -> None:
    profile = load_profile()
    data = size(profile).to_json()
    figures = read_sizing(data)
    assert figures.users == 400_000
    assert figures.instances.required == data["instances"]["required"]
    assert figures.instances.high == 50 and figures.db_connections.high == 100
    assert figures.instances.fits is True
    assert figures.cost_total == data["cost_monthly_usd"]["total"]
    assert figures.max_users_by_db_pool == data["limits"]["max_users_by_db_pool"]
    assert figures.assumptions[0] == ("", data["assumptions"][0])


def test_absent_sizing_keys_are_none_and_shown_as_unknown() -> None:
    figures = read_sizing({"users": 1_000, "instances": {"required": 3}})
    assert figures.instances.required == 3 and figures.instances.high is None
    assert figures.db_connections.fits is None and figures.cost_total is None
    profile = load_profile()
    capacity = plan(profile, {"users": 1_000, "instances": {"required": 3, "fits": False}})
    assert capacity.problems() == ["3 app instances are needed at peak, above the cap of ?"]
    assert (
        capacity.reasons()[0] == "At peak: 3 of — instances, — of — database connections, — a month"
    )


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"instances": {"required": "4"}}, "instances.required = '4': expected an integer"),
        ({"instances": {"fits": "yes"}}, "instances.fits = 'yes': expected true or false"),
        ({"latency": 12}, "latency = 12: expected an object"),
        ({"cost_monthly_usd": {"total": None, "cache": "x"}}, "cost_monthly_usd.cache = 'x'"),
        ({"limits": {"max_users_by_db_pool": True}}, "max_users_by_db_pool = True: expected a n"),
    ],
)
def test_a_sizing_key_of_the_wrong_type_is_named_with_its_value(data, shown) -> None:
    with pytest.raises(ArtifactError, match=shown) as caught:
        read_sizing(data, "runs/x/capacity.json")
    assert str(caught.value).startswith("runs/x/capacity.json: ")


def test_problems_fail_and_reasons_inform() -> None:
    profile = load_profile()
    capacity = plan(profile, sizing_result(profile, fits=False))
    assert capacity.problems() == [
        "140 database connections are needed at peak, above the pool maximum of 100",
        "the 100-connection database pool runs out first, at 285,000 users, below the "
        "400,000 of the launch",
    ]
    assert capacity.reasons() == [
        f"At peak: 25 of 50 instances, 140 of 100 database connections, "
        f"{fmt.usd(capacity.sizing.cost_total if capacity.sizing else None)} a month"
    ]


def test_the_report_shows_the_stations_the_connections_and_each_claim_explained(
    tmp_path: Path,
) -> None:
    direct = load_profile(overrides={"infrastructure": {"database": {"pooler": False}}})
    plan = size(direct)
    report = parse(render_capacity_report(plan, direct, tmp_path / "plan.html"))
    stations = report.table("stations-table")[1:]
    assert [row[0] for row in stations] == ["app workers", "primary"]
    connections = report.section_text("capacity")
    assert "Reaching the primary at max instances" in connections
    assert "above the medium tier's max_connections (120)" in connections
    verdict = report.section_text("verdict")
    assert "Not ready" in verdict and "max_connections (120)" in verdict
    assert "1,000,000 users: claimed $18,000" in report.section_text("capacity")


def test_an_overloaded_station_is_a_problem_of_the_plan() -> None:
    data = size(load_profile().lab_profile()).to_json()  # 400k users on three quarter-cores
    problems = plan(load_profile(), data).problems()
    assert any("app workers station is overloaded" in p for p in problems)
    assert read_sizing(data).stations[0].mean_wait_ms is None


def test_the_report_says_what_the_model_puts_beside_the_calls(tmp_path: Path) -> None:
    # The lab's quarter-core instances behind a CFS quota, at 100 users, photos uploaded.
    profile = load_profile(
        overrides={"population": {"users": 2_000}, "background": {"photos_per_job": 2.0}}
    ).lab_profile()
    plan = size(profile)
    figures = read_sizing(plan.to_json())
    assert any(n.startswith("CPU quota: 0.25 cores per 100.0 ms period") for n in figures.notes)
    assert any(n.startswith("Background work: uploads") for n in figures.notes)
    assert "Load balancer: leastconn (one shared queue)." in figures.notes
    report = parse(render_capacity_report(plan, profile, tmp_path / "plan.html"))
    text = report.section_text("capacity")
    assert "of periods throttled" in text and "Database tier 'medium'" in text
    assert read_sizing({"users": 1}).notes == ()
