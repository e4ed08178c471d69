"""Sizing at the peak: instances, connections, latency, limits, against independent formulas."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from models.catalogue import endpoints
from models.erlang import sojourn_percentile
from models.profile import Profile, load_profile, merge
from models.sizing import Sizing, size
from models.workload import peak_rps, visit_ratios

# The keys docs/capacity-planning.md lists for `harness model --json`.
DOCUMENTED_KEYS = {
    "users", "dau", "peak_concurrent", "peak_rps", "instances", "db_connections", "latency",
    "utilization", "cost_monthly_usd", "limits", "assumptions", "topology", "stations",
    "connections", "cost_claims", "login_rush", "cpu_quota", "background", "cost_tiers",
}  # fmt: skip
NESTED_KEYS = {
    "instances": {"required", "min", "max", "fits"},
    "db_connections": {"required", "pool_min", "pool_max", "fits"},
    "latency": {"p50_ms", "p95_ms"},
    "limits": {"max_users_by_instances", "max_users_by_db_pool"},
    "cost_monthly_usd": {"compute", "database", "cache", "storage_cdn", "monitoring", "total"},
}


# The two-tier theory these tests check: no cache hits to take demand away and no background
# work beside the calls (the topology's own stations are checked in
# tests/models/test_topology.py, the background in tests/models/test_background.py).
NO_CACHE: dict[str, Any] = {
    "infrastructure": {"cache": {"enabled": False}},
    "background": {"deliveries_per_notification": 0.0},
}


def _profile(**sections: Any) -> Profile:
    return load_profile(overrides=merge(NO_CACHE, sections))


def _mean_demands(profile: Profile) -> tuple[float, float]:
    visits = visit_ratios(profile)
    calls = sum(visits.values())
    d = profile.service_demands
    cpu = sum(v * d[e].cpu_ms for e, v in visits.items()) / calls / 1e3
    db = sum(v * d[e].db_ms for e, v in visits.items()) / calls / 1e3
    return cpu, db


@pytest.fixture(scope="module")
def plan() -> Sizing:
    return size(_profile())


def test_json_has_exactly_the_documented_keys(plan: Sizing) -> None:
    data = json.loads(json.dumps(plan.to_json()))
    assert set(data) == DOCUMENTED_KEYS
    for key, nested in NESTED_KEYS.items():
        assert set(data[key]) == nested
    assert set(data["utilization"]) == {"app_cpu", "db_connections"}
    assert all(isinstance(line, str) for line in data["assumptions"])


def test_default_profile_peak_matches_the_workload_and_littles_law(plan: Sizing) -> None:
    profile = _profile()
    cpu_s, db_s = _mean_demands(profile)
    rps = peak_rps(profile)
    assert plan.users == 400_000
    assert plan.dau == pytest.approx(160_000)
    assert plan.peak_concurrent == pytest.approx(20_000)
    assert plan.peak_rps == pytest.approx(rps, rel=1e-9)
    # CPU bound: ceil(λ·s / (W·u_max)); the defaults are far from the latency SLO.
    by_cpu = math.ceil(rps * cpu_s / (2 * 0.70))
    assert plan.instances.required == by_cpu
    assert plan.instances.fits
    assert plan.instances.provisioned == max(by_cpu, 8)
    assert plan.db_connections.required == math.ceil(rps * db_s * 1.25)
    assert plan.db_connections.fits
    assert plan.utilization["app_cpu"] == pytest.approx(
        rps * cpu_s / (plan.instances.provisioned * 2)
    )
    assert plan.latency.p95_ms is not None and plan.latency.p95_ms < profile.slo.api_p95_ms
    assert plan.reasons == ()


def test_latency_is_the_erlang_sojourn_when_the_database_is_free() -> None:
    no_db = {e: {"cpu_ms": 20.0, "db_ms": 0.0} for e in endpoints()}
    profile = _profile(
        service_demands=no_db,
        infrastructure={"autoscaling": {"min_instances": 1, "max_instances": 50}},
    )
    plan = size(profile, compare_costs=False)
    servers = plan.instances.provisioned * 2
    for q, value in ((0.5, plan.latency.p50_ms), (0.95, plan.latency.p95_ms)):
        expected = sojourn_percentile(q, plan.peak_rps, 1 / 0.020, servers) * 1e3
        assert value == pytest.approx(expected, rel=1e-6)


def test_latency_slo_can_require_more_instances_than_cpu() -> None:
    heavy = {e: {"cpu_ms": 150.0, "db_ms": 1.0} for e in endpoints()}
    profile = _profile(
        service_demands=heavy,
        slo={"api_p50_ms": 150.0, "api_p95_ms": 455.0},
        infrastructure={
            "autoscaling": {"min_instances": 1, "max_instances": 1000, "scale_up_cpu": 0.95}
        },
        population={"users": 20_000},
    )
    plan = size(profile, compare_costs=False)
    required = plan.instances.required
    assert required > plan.instances.by_cpu
    assert plan.latency.p95_ms is not None and plan.latency.p95_ms <= 455.0
    # One instance fewer breaks the SLO: pin the autoscaler there and look.
    fewer = _profile(
        **{
            "service_demands": heavy,
            "slo": {"api_p50_ms": 150.0, "api_p95_ms": 455.0},
            "population": {"users": 20_000},
            "infrastructure": {
                "autoscaling": {
                    "min_instances": required - 1,
                    "max_instances": required - 1,
                    "scale_up_cpu": 0.95,
                }
            },
        }
    )
    short = size(fewer, compare_costs=False)
    assert not short.instances.fits
    assert short.latency.p95_ms is None or short.latency.p95_ms > 455.0


def test_an_unreachable_slo_does_not_fit_and_says_why() -> None:
    slow = {e: {"cpu_ms": 900.0, "db_ms": 1.0} for e in endpoints()}
    plan = size(_profile(service_demands=slow), compare_costs=False)
    assert not plan.instances.fits
    assert any("no number of instances" in reason for reason in plan.reasons)


def test_monotone_in_users() -> None:
    plans = [
        size(_profile(population={"users": u}), compare_costs=False)
        for u in range(200_000, 6_000_001, 800_000)
    ]
    for a, b in itertools.pairwise(plans):
        assert a.peak_rps < b.peak_rps
        assert a.instances.required <= b.instances.required
        assert a.db_connections.required <= b.db_connections.required
        assert a.cost.total <= b.cost.total
    assert plans[0].instances.required < plans[-1].instances.required


def test_instance_limit_is_where_fits_turns_false(plan: Sizing) -> None:
    limit = plan.limits.max_users_by_instances
    assert limit is not None and limit > plan.users
    at = size(_profile(population={"users": limit}), compare_costs=False)
    beyond = size(_profile(population={"users": math.ceil(limit * 1.001)}), compare_costs=False)
    assert at.instances.fits and at.instances.required == 50
    assert not beyond.instances.fits
    assert any("max_instances = 50" in reason for reason in beyond.reasons)
    assert not beyond.fits


def test_pool_limit_is_where_connections_run_out() -> None:
    small_pool = {"database": {"pool_min": 2, "pool_max": 4}}
    plan = size(_profile(infrastructure=small_pool), compare_costs=False)
    limit = plan.limits.max_users_by_db_pool
    assert limit is not None
    at = size(_profile(infrastructure=small_pool, population={"users": limit}), compare_costs=False)
    beyond = size(
        _profile(infrastructure=small_pool, population={"users": limit + 1000}),
        compare_costs=False,
    )
    assert at.db_connections.fits and at.db_connections.required == 4
    assert not beyond.db_connections.fits
    assert any("pool_max = 4" in reason for reason in beyond.reasons)


def test_overloaded_tier_serialises_latency_as_null() -> None:
    plan = size(_profile(population={"users": 50_000_000}), compare_costs=False)
    data = json.loads(json.dumps(plan.to_json()))
    assert data["latency"] == {"p50_ms": None, "p95_ms": None}
    assert data["instances"]["fits"] is False


def test_assumptions_name_every_unsourced_input(plan: Sizing) -> None:
    text = "\n".join(plan.assumptions)
    price = f"${load_profile().cost.instance_hourly_usd:g}/hour"
    needles = ("homeowner 30 s", "contractor 20 s", "operator 45 s", "not calibrated", price,
               "provisioning delay", "90 s", "25%", "M/M/c")  # fmt: skip
    for needle in needles:
        assert needle in text
    calibrated = size(
        _profile(service_demands={"GET /jobs": {"cpu_ms": 9.0, "db_ms": 3.0}}),
        compare_costs=False,
    )
    assert any("1 of 17 endpoints differ" in line for line in calibrated.assumptions)


def test_claims_are_compared_at_their_user_counts(plan: Sizing) -> None:
    users = [c.users for c in plan.cost_claims]
    assert users == [400_000, 500_000, 750_000, 1_000_000]
    for claim in plan.cost_claims:
        other = size(_profile(population={"users": claim.users}), compare_costs=False)
        assert claim.model_usd == pytest.approx(other.cost.total)
