"""The rest of what the report must say, checked against the artifacts: every section in every
kind of run, the persona mix, the integrity audit, the capacity cards, reconciliation that
could not be done, fractional connections, the cost-claim threshold and every assumption."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.run.reconcile import unavailable
from models.cost import DISAGREEMENT_THRESHOLD
from models.profile import default_profile_text, load_profile
from reports import formatting as fmt
from reports import render_capacity_report, render_run_report, render_simulation_report
from reports.method import profile_assumptions
from tests.reports.factory import RunSpec, read_run, simulation, sizing_result, write_run
from tests.reports.htmlcheck import parse

SECTIONS = ("verdict", "slo", "capacity", "prediction", "run", "method")

VARIANTS = {
    "passing": RunSpec(),
    "failing": RunSpec(failing=True),
    "incomplete": RunSpec(incomplete=True),
    "unreliable load generator": RunSpec(loadgen_unreliable=True),
    "with a baseline": RunSpec(latency_factor=1.3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_kind_of_run_has_every_section(variant: str, tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", VARIANTS[variant])
    baseline = write_run(tmp_path / "baseline", RunSpec()) if variant == "with a baseline" else None
    report = parse(render_run_report(run_dir, baseline_dir=baseline))
    ids = report.ids()
    assert [s for s in SECTIONS if s not in ids] == []
    assert report.section_text("verdict").startswith(("✓ Ready for", "✗ Not ready for"))
    for table in ("slo-table", "stage-table", "endpoint-table", "persona-table", "error-table"):
        assert len(report.table(table)) > 1, f"{table} is empty"


def test_persona_mix_shows_target_and_achieved(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    mix = read_run(passing_run)["persona_mix"]
    rows = report.table("persona-table")[1:]
    assert [row[0] for row in rows] == list(mix["target"])
    for name, target, achieved, difference in rows:
        assert target == fmt.pct(mix["target"][name])
        assert achieved == fmt.pct(mix["achieved"][name])
        points = (mix["achieved"][name] - mix["target"][name]) * 100
        assert difference == f"{points:+.1f} pp".replace("-", "−")
    assert report.row("persona-table", "homeowner") == ["homeowner", "60%", "59.8%", "−0.2 pp"]


def test_integrity_audit_figures_and_a_lost_write(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    integrity = read_run(passing_run)["integrity"]
    assert (
        f"Nothing lost : {integrity['acknowledged_writes']:,} acknowledged writes checked against "
        f"the database; {integrity['lost']:,} lost, {integrity['unexpected']:,} unexpected"
    ) in report.section_text("run")

    run = read_run(passing_run)
    run["integrity"] |= {"lost": 2, "unexpected": 1}
    (passing_run / "run.json").write_text(json.dumps(run), "utf-8")
    report = parse(render_run_report(passing_run))
    verdict = report.section_text("verdict")
    assert verdict.startswith("✗ Not ready")
    assert "Integrity audit: 2 acknowledged writes lost, 1 unexpected" in verdict
    assert "Writes lost or invented" in report.section_text("run")


def test_run_report_capacity_cards_match_capacity_json(passing_run: Path) -> None:
    report = parse(render_run_report(passing_run))
    sizing = json.loads((passing_run / "capacity.json").read_text("utf-8"))
    capacity = report.section_text("capacity")
    instances, db = sizing["instances"], sizing["db_connections"]
    assert (
        f"App instances at peak {instances['required']} of {instances['min']}–{instances['max']}"
        f" ✓ fits" in capacity
    )
    assert (
        f"DB connections at peak {db['required']} of pool {db['pool_min']}–{db['pool_max']} ✓ fits"
        in capacity
    )
    assert f"Monthly cost {fmt.usd(sizing['cost_monthly_usd']['total'])}" in capacity
    by_db_pool = sizing["limits"]["max_users_by_db_pool"]
    assert report.row("limits-table", "The 100-connection database pool breaks first")[1:] == [
        fmt.users(by_db_pool),
        "✓ enough",
    ]


def test_counts_that_could_not_be_compared_are_not_a_disagreement(passing_run: Path) -> None:
    """What the harness writes when it could not read the service's counters: no "0 vs 0"."""
    run = read_run(passing_run)
    run["server_vs_client"] = unavailable("the service's /metrics did not answer").to_json()
    (passing_run / "run.json").write_text(json.dumps(run), "utf-8")
    report = parse(render_run_report(passing_run))
    verdict = report.section_text("verdict")
    assert "disagree" not in verdict and "0 vs 0" not in verdict
    assert (
        "Client and server request counts could not be compared (the service's /metrics did "
        "not answer)" in verdict
    )
    assert verdict.startswith("✓ Ready")  # a warning: the run may still be judged on its gates
    reconciliation = report.section_text("run")
    assert "not compared The service's request counts could not be read" in reconciliation
    assert "Counts differ" not in reconciliation


def test_counts_that_disagree_name_both_totals(incomplete_run: Path) -> None:
    totals = read_run(incomplete_run)["server_vs_client"]
    verdict = parse(render_run_report(incomplete_run)).section_text("verdict")
    assert (
        f"Client and server request counts disagree (load generator "
        f"{totals['client_total']:,}, service {totals['server_total']:,})" in verdict
    )


def test_simulated_connections_below_one_are_not_rounded_to_zero(tmp_path: Path) -> None:
    profile = load_profile()
    records = [
        r | {"connections_in_use": r["connections_in_use"] / 200} for r in simulation(profile)
    ]
    busiest = max(r["connections_in_use"] for r in records)
    assert busiest < 1
    report = parse(render_simulation_report(records, profile, tmp_path / "day.html"))
    shown = fmt.connections(busiest)
    assert shown not in ("0", "1") and shown.startswith("0.")
    assert f"Most DB connections {shown} of 100" in report.section_text("capacity")
    assert f"and {shown} database connections" in report.section_text("verdict")
    hour_nine = report.row("data-capacity-timeline", "09:00")
    assert hour_nine[3] == shown


def test_cost_claims_use_the_models_threshold(tmp_path: Path) -> None:
    """A claim the model's table calls agreeing must not be flagged by the report."""
    profile = load_profile()
    sizing = sizing_result(profile)
    inside = 1 + DISAGREEMENT_THRESHOLD * 0.8  # off by less than the threshold
    sizing["cost_monthly_usd"]["total"] = 8500.0 * inside
    report = parse(render_capacity_report(sizing, profile, tmp_path / "plan.html"))
    assert report.row("cost-claims", "400,000")[-1] == "✓ agrees"
    assert f"more than {fmt.pct(DISAGREEMENT_THRESHOLD)}" in report.section_text("capacity")
    sizing["cost_monthly_usd"]["total"] = 8500.0 * (1 + DISAGREEMENT_THRESHOLD * 1.2)
    report = parse(render_capacity_report(sizing, profile, tmp_path / "plan.html"))
    assert report.row("cost-claims", "400,000")[-1] == "✗ disagrees"


def _assumed_keys() -> list[str]:
    """``table.key`` of every line of the shipped profile whose comment says ASSUMPTION or
    'assumed' (a value set on that line, not a comment block)."""
    keys, table = [], ""
    for line in default_profile_text().splitlines():
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            table = header.group(1)
            continue
        setting = re.match(r"^(\w+)\s*=.*#.*(ASSUMPTION|assumed)", line)
        if setting:
            keys.append(f"{table}.{setting.group(1)}")
    return keys


def test_every_assumption_of_the_profile_is_listed(passing_run: Path) -> None:
    listed = [key for key, _ in profile_assumptions(load_profile())]
    assumed = _assumed_keys()
    assert len(assumed) >= 12  # the parser found the profile's marked lines
    missing = [
        key
        for key in assumed
        if not any(
            entry.startswith(key.rsplit(".", 1)[0]) and key.rsplit(".", 1)[1] in entry
            for entry in listed
        )
    ]
    assert missing == []
    # the comment blocks' assumptions, which the line parser cannot see
    for key in (
        "personas.*.think_time_s",
        "business.write_fraction",
        "alerts.for_s",
        "service_demands",
        "cost.database_tiers",
        "day_one.hourly_fraction_of_peak",
        "scenarios.spike / soak / step (durations)",
        "scenarios.chaos-*.fault.error_budget",
    ):
        assert key in listed
    table = parse(render_run_report(passing_run)).table("assumption-table")
    assert [row[0] for row in table[1:]] == listed


def test_assumption_values_are_not_rounded_away() -> None:
    rows = dict(profile_assumptions(load_profile()))
    assert rows["cost.instance_hourly_usd"] == "$0.685 an hour"
    assert rows["cost.storage_cdn_per_user_monthly_usd"].startswith("$0.0025 per user a month")
    assert "not calibrated" in rows["service_demands"]
    calibrated = load_profile(overrides={"service_demands": {"GET /me": {"cpu_ms": 2.0}}})
    assert (
        "1 differ from the shipped assumptions"
        in dict(profile_assumptions(calibrated))["service_demands"]
    )
    assert rows["scenarios.spike / soak / step (durations)"] == "spike 6 min, soak 1 h, step 5 min"
