"""Monthly cost: tier choice, the component formulas, and the source's claims beside them."""

from __future__ import annotations

import math

import pytest

from models.cost import (
    CostComparison,
    compare_breakdown,
    compare_claims,
    database_tier,
    monthly_cost,
)
from models.profile import Profile, load_profile
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
            "cache": profile.cost.cache_monthly_usd,
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
    assert plan.cost.total == pytest.approx(8500.0, rel=0.01)
    rows = {row.item: row for row in plan.cost_breakdown}
    assert set(rows) == {"compute", "database", "cache", "storage_cdn", "monitoring", "total"}
    assert not any(row.disagrees for row in rows.values())
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
