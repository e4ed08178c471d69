"""Monthly cost: tier choice, the component formulas, and the source's claims beside them."""

from __future__ import annotations

import math

import pytest

from models.cost import (
    CostComparison,
    cache_tier,
    cache_working_set_gb,
    compare_breakdown,
    compare_claims,
    database_tier,
    monthly_cost,
    simulated_cost,
)
from models.fastpath import fast_day
from models.profile import Profile, load_profile
from models.simulation import SimulationOptions
from models.sizing import size


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


@pytest.mark.parametrize(
    ("connections", "tier", "covers"),
    [(0, "small", True), (60, "small", True), (61, "medium", True), (100, "medium", True),
     (240, "large", True), (500, "xlarge", True), (501, "xlarge", False)],
)  # fmt: skip
def test_cheapest_tier_covering_the_connections(
    profile: Profile, connections: int, tier: str, covers: bool
) -> None:
    chosen, ok = database_tier(profile, connections)
    assert (chosen.name, ok) == (tier, covers)


def test_components_follow_their_formulas(profile: Profile) -> None:
    estimate = monthly_cost(
        profile, users=400_000, database_connections=100, instance_hours_per_day=8 * 24
    )
    assert estimate.instance_hours == pytest.approx(8 * 730)
    assert estimate.mean_instances == pytest.approx(8)
    assert dict(estimate.components) == pytest.approx(
        {
            "compute": 8 * 730 * profile.cost.instance_hourly_usd,
            "database": 2500.0,
            "cache": 60.0,  # the micro tier holds the working set (test below)
            "storage_cdn": 400_000 * profile.cost.storage_cdn_per_user_monthly_usd,
            "monitoring": profile.cost.monitoring_base_monthly_usd
            + 8 * profile.cost.monitoring_per_instance_monthly_usd,
        }
    )
    assert estimate.to_json()["total"] == pytest.approx(estimate.total, abs=0.01)
    assert estimate.database_tier == "medium"


def test_simulated_day_instance_hours_scale_to_a_month(profile: Profile) -> None:
    day = monthly_cost(
        profile, users=1, database_connections=1, instance_hours_per_day=240.0, basis="simulation"
    )
    assert day.instance_hours == pytest.approx(240.0 * 730 / 24)
    assert day.basis == "simulation"


def test_simulated_run_is_priced_by_its_daily_mean(profile: Profile) -> None:
    # Two days at a mean of 10 billed instances: 240 instance-hours a day, like one such day.
    bill = simulated_cost(profile, instance_minutes=2 * 1440 * 10, hours=48)
    assert bill.instance_hours == pytest.approx(240.0 * 730 / 24)
    assert bill.mean_instances == pytest.approx(10.0)
    assert bill.basis == "simulation" and bill.users == profile.population.users
    assert bill.database_tier == "medium"  # the simulated pool: pool_max = 100 connections
    more = simulated_cost(profile, instance_minutes=0.0, hours=24, peak_connections_in_use=130.2)
    assert more.database_connections == 131 and more.database_tier == "large"


def test_a_simulated_day_reproduces_the_steady_bill_when_the_fleet_never_scales(
    profile: Profile,
) -> None:
    # The default day never needs more than the 8-instance minimum: the fast path's billed
    # instance-minutes are 8 x 1440, so the simulated bill is the sizing's: the source's
    # $8,500 less its cache line ($500) plus the tier the working set needs ($60).
    day = fast_day(profile, SimulationOptions(hours=24))
    bill = simulated_cost(profile, instance_minutes=day.totals.instance_minutes, hours=24,
                          basis=day.method)  # fmt: skip
    assert day.totals.instance_minutes == 8 * 1440
    assert bill.total == pytest.approx(size(profile, compare_costs=False).cost.total)
    assert bill.total == pytest.approx(8060.0, rel=0.01)
    assert bill.basis == "fastpath"


@pytest.mark.parametrize(("hours", "minutes", "shown"),
                         [(1.0, 60.0, "at least 24 hours"), (24.0, -1.0, "got -1.0")])  # fmt: skip
def test_simulated_cost_refuses_partial_days_and_bad_totals(
    profile: Profile, hours: float, minutes: float, shown: str
) -> None:
    with pytest.raises(ValueError, match=shown):
        simulated_cost(profile, instance_minutes=minutes, hours=hours)


def test_bad_arguments_name_the_value(profile: Profile) -> None:
    with pytest.raises(ValueError, match="instance_hours_per_day"):
        monthly_cost(profile, users=1, database_connections=1, instance_hours_per_day=math.nan)
    with pytest.raises(ValueError, match="connections must be >= 0, got -1"):
        database_tier(profile, -1)


def test_disagreement_is_flagged_above_fifteen_percent() -> None:
    assert not CostComparison("x", 1, 100.0, 115.0).disagrees
    assert CostComparison("x", 1, 100.0, 115.1).disagrees
    assert CostComparison("x", 1, 100.0, 84.0).disagrees
    assert CostComparison("x", 1, 0.0, 5.0).relative_difference == math.inf


def test_month_one_reproduces_the_source_with_the_suggested_prices() -> None:
    # The profile's instance price and monitoring base are assumptions; these are the values
    # that reproduce the source's $4,000 compute and $500 monitoring at the minimum 8 instances.
    tuned = load_profile(
        overrides={"cost": {"instance_hourly_usd": 0.685, "monitoring_base_monthly_usd": 340.0}}
    )
    plan = size(tuned)
    rows = {row.item: row for row in plan.cost_breakdown}
    assert set(rows) == {"compute", "database", "cache", "storage_cdn", "monitoring", "total"}
    assert not any(row.disagrees for name, row in rows.items() if name != "cache")
    # The cache is sized by its working set (a tier of its own), not fitted to the source:
    # the source's $500 buys far more memory than the launch's hot pages and sessions need.
    assert rows["cache"].disagrees and rows["cache"].model_usd == 60.0
    assert plan.cost.total == pytest.approx(8500.0 - 500.0 + 60.0, rel=0.01)
    # The scaling claims grow faster than the model's bill: 1M users is flagged.
    last = plan.cost_claims[-1]
    assert last.users == 1_000_000 and last.disagrees and last.model_usd < last.source_usd


def test_breakdown_and_claims_compare_like_with_like(profile: Profile) -> None:
    estimate = monthly_cost(
        profile, users=400_000, database_connections=100, instance_hours_per_day=0.0
    )
    rows = {row.item: row for row in compare_breakdown(profile, estimate)}
    assert rows["compute"].model_usd == 0.0 and rows["compute"].disagrees
    assert rows["total"].source_usd == pytest.approx(8500.0)
    claims = compare_claims(profile, lambda users: estimate)
    assert [c.source_usd for c in claims] == [8500.0, 10000.0, 14000.0, 18000.0]
    assert all(c.model_usd == pytest.approx(estimate.total) for c in claims)


def test_the_cache_tier_holds_the_working_set(profile: Profile) -> None:
    # 50 territories x 10 categories x 3 pages x 20 KB, and 1 KB per signed-in user, +50%.
    users = 400_000
    signed_in = users * 0.40 * 0.125
    expected = (50 * 10 * 3 * 20.0 + signed_in * 1.0) * 1.5 / 1024**2
    assert cache_working_set_gb(profile, users) == pytest.approx(expected, rel=1e-12)
    assert cache_tier(profile, expected)[0].name == "micro"  # type: ignore[union-attr]
    assert cache_tier(profile, 2.0)[0].name == "medium"  # type: ignore[union-attr]
    assert cache_tier(profile, 99.0) == (profile.cost.cache_tiers[-1], False)
    many = load_profile(overrides={"infrastructure": {"cache": {"session_kb": 150.0}}})
    bill = monthly_cost(many, users=users, database_connections=100, instance_hours_per_day=0.0)
    assert bill.cache_tier == "large" and bill.components["cache"] == 500.0
    flat = load_profile(overrides={"cost": {"cache_tiers": []}})
    assert monthly_cost(flat, users=users, database_connections=100,
                        instance_hours_per_day=0.0).components["cache"] == 500.0  # fmt: skip


def test_the_database_tier_covers_connections_and_cpu(profile: Profile) -> None:
    # 100 connections fit the medium tier (4 vCPU); 5 cores of queries need the large one.
    assert database_tier(profile, 100, 3.9)[0].name == "medium"
    assert database_tier(profile, 100, 5.0)[0].name == "large"
    assert database_tier(profile, 10, 0.0)[0].name == "small"
    assert database_tier(profile, 10, 40.0) == (profile.cost.database_tiers[-1], False)
    # The plan prices the primary's cores: λ · s_primary · cpu share / cpu target.
    slow_jobs = {"GET /jobs": {"cpu_ms": 5.0, "db_ms": 400.0}}
    heavy = load_profile(overrides={"service_demands": slow_jobs})
    plan = size(heavy, compare_costs=False)
    assert plan.cost.database_cores > 4.0
    assert plan.cost.database_tier != "medium"
