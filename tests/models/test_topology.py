"""The topology's stations against theory: the pooler's wait (Erlang C), the replica split,
the cache arithmetic, the CPU limit, connection arithmetic, and the three solvers agreeing."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.cli import main
from models.catalogue import CACHEABLE_ENDPOINTS, READ_REPLICA_ENDPOINTS, STEPS
from models.erlang import erlang_c, mmc
from models.fastpath import fast_day
from models.profile import Profile, load_profile
from models.simulation.runner import SimulationOptions, run_once
from models.sizing import Sizing, size
from models.topology import Target, Topology, read_your_writes_share
from models.workload import visit_ratios, workloads
from tests.models.sim_profiles import queue_profile


def _profile(**infrastructure: Any) -> Profile:
    # No background work: these tests check the calls' own routes through the stations.
    return load_profile(
        overrides={
            "infrastructure": infrastructure,
            "background": {"deliveries_per_notification": 0.0},
        }
    )


def _station(plan: Sizing, name: str) -> Any:
    return next(s for s in plan.stations if s.name == name)


def _shares(profile: Profile) -> dict[str, float]:
    visits = visit_ratios(profile)
    total = sum(visits.values())
    return {e: v / total for e, v in visits.items()}


def test_the_pooler_wait_is_erlang_c_with_its_timeout_tail() -> None:
    # A pool of 3 connections at 80%: the primary station's wait is the M/M/3 wait.
    profile = _profile(
        database={"pool_min": 3, "pool_max": 3, "headroom": 0.0},
        cache={"enabled": False},
        autoscaling={"min_instances": 50},
    )
    plan = size(profile, compare_costs=False)
    primary = _station(plan, "primary")
    assert primary.servers == 3
    lam, s = primary.arrival_rps, primary.service_s
    assert primary.visit_share == pytest.approx(1.0)
    c = erlang_c(3, lam * s)
    theta = 3 / s - lam
    assert primary.wait_probability == pytest.approx(c, rel=1e-12)
    assert primary.mean_wait_s == pytest.approx(mmc(lam, 1 / s, 3).mean_wait, rel=1e-9)
    assert primary.timeout_share == pytest.approx(c * math.exp(-theta * 5.0), rel=1e-9)
    assert primary.p95_wait_s == pytest.approx(max(0.0, math.log(c / 0.05) / theta), abs=1e-12)


def test_the_simulated_pool_waits_as_erlang_c_says() -> None:
    # Plenty of workers, four connections, database time only: the time through the system
    # is the M/M/4 sojourn of the pool (fixed seed; 20 simulated minutes, ~150k requests).
    lam, db_s, k = 120.0, 0.025, 4
    profile = queue_profile(workers=64, demand_ms=db_s * 1e3, db_ms=db_s * 1e3, pool=k)
    run = run_once(profile, SimulationOptions(hours=1 / 3, seed=7, users=lam, autoscale=False))
    theory = mmc(lam, 1 / db_s, k)
    served = [(m.requests - m.errors, m.mean_ms) for m in run.minutes]
    mean_ms = sum(n * m for n, m in served) / sum(n for n, _ in served)
    assert mean_ms / 1e3 == pytest.approx(theory.mean_sojourn, rel=0.04)


def test_replica_reads_split_across_replicas_with_the_read_your_writes_share_on_the_primary() -> (
    None
):
    profile = _profile(database={"read_replicas": 2}, cache={"enabled": False})
    shares = _shares(profile)
    ryw = read_your_writes_share(profile)
    eligible = sum(v for e, v in shares.items() if e in READ_REPLICA_ENDPOINTS)
    plan = size(profile, compare_costs=False)
    primary, replica = _station(plan, "primary"), _station(plan, "replica")
    assert 0 < ryw < 0.05
    assert replica.visit_share == pytest.approx(eligible * (1 - ryw) / 2, rel=1e-12)
    assert primary.visit_share == pytest.approx(1 - eligible * (1 - ryw), rel=1e-12)
    replica_db = sum(
        v * profile.service_demands[e].db_ms / 1e3
        for e, v in shares.items()
        if e in READ_REPLICA_ENDPOINTS
    ) * (1 - ryw)
    assert replica.busy * 2 == pytest.approx(plan.peak_rps * replica_db, rel=1e-9)


def test_read_your_writes_share_is_the_chance_of_a_write_within_the_window() -> None:
    profile = _profile(database={"read_replicas": 1, "read_your_writes_s": 60.0})
    weighted = total = 0.0
    for name, work in workloads(profile).items():
        writes = sum(work.step_probabilities[s.name] for s in STEPS[name] if s.is_write)
        eligible = work.share * sum(
            v for e, v in work.visits.items() if e in READ_REPLICA_ENDPOINTS
        )
        weighted += eligible * (1 - math.exp(-writes / work.think_time_s * 60.0))
        total += eligible
    assert read_your_writes_share(profile) == pytest.approx(weighted / total, rel=1e-12)
    none = _profile(database={"read_replicas": 1, "read_your_writes_s": 0.0})
    assert read_your_writes_share(none) == 0.0


def test_cache_hits_remove_database_time_and_part_of_the_cpu() -> None:
    profile = _profile(cache={"enabled": True, "hit_ratio": 0.6, "hit_cpu_ratio": 0.25})
    shares = _shares(profile)
    demands = profile.service_demands
    cpu = sum(
        v * demands[e].cpu_ms * ((1 - 0.6 * 0.75) if e in CACHEABLE_ENDPOINTS else 1.0)
        for e, v in shares.items()
    )
    db = sum(
        v * demands[e].db_ms * (0.4 if e in CACHEABLE_ENDPOINTS else 1.0) for e, v in shares.items()
    )
    got = Topology.from_profile(profile).demands(shares)
    assert got.cpu_s * 1e3 == pytest.approx(cpu, rel=1e-12)
    assert got.primary_db_s * 1e3 == pytest.approx(db, rel=1e-12)
    cacheable = sum(v for e, v in shares.items() if e in CACHEABLE_ENDPOINTS)
    assert got.cache_share == pytest.approx(0.6 * cacheable, rel=1e-12)
    hits = [r for rs in Topology.from_profile(profile).routes.values() for r in rs]
    assert {r.endpoint for r in hits if r.target is Target.CACHE} == CACHEABLE_ENDPOINTS


def test_a_fractional_cpu_limit_slows_every_worker() -> None:
    full = size(_profile(instance_vcpus=1.0, workers_per_instance=1), compare_costs=False)
    quarter = size(_profile(instance_vcpus=0.25, workers_per_instance=1), compare_costs=False)
    two_on_one = size(_profile(instance_vcpus=1.0, workers_per_instance=2), compare_costs=False)
    base = _station(full, "app_workers").service_s
    assert _station(quarter, "app_workers").service_s == pytest.approx(4 * base, rel=1e-12)
    assert _station(two_on_one, "app_workers").service_s == pytest.approx(2 * base, rel=1e-12)
    assert quarter.instances.by_cpu >= 4 * full.instances.by_cpu - 3


def test_replicas_and_the_cache_move_the_plan_the_expected_way() -> None:
    bare = size(_profile(cache={"enabled": False}), compare_costs=False)
    cached = size(_profile(), compare_costs=False)
    replicated = size(
        _profile(cache={"enabled": False}, database={"read_replicas": 2}), compare_costs=False
    )
    assert cached.utilization["app_cpu"] < bare.utilization["app_cpu"]
    assert cached.utilization["db_connections"] < bare.utilization["db_connections"]
    assert cached.db_connections.busy < bare.db_connections.busy
    assert replicated.utilization["db_connections"] < bare.utilization["db_connections"]
    assert replicated.utilization["db_replica"] > 0
    assert replicated.utilization["app_cpu"] == pytest.approx(bare.utilization["app_cpu"])
    assert (replicated.limits.max_users_by_db_pool or 0) > (bare.limits.max_users_by_db_pool or 0)


def test_connections_opened_at_min_and_max_against_both_limits() -> None:
    plan = size(load_profile(), compare_costs=False)
    conn = plan.connections
    assert conn is not None
    assert conn.opened_at_min_instances == 8 * 2 * 5
    assert conn.opened_at_max_instances == 50 * 2 * 5
    assert conn.primary_at_max_instances == 100  # the pooler's server pool
    assert conn.database_max_connections == 120 and conn.fits
    assert conn.busy_primary == pytest.approx(_station(plan, "primary").busy)
    # Without a pooler every client connection reaches the primary: 500 > 120.
    direct = size(_profile(database={"pooler": False}), compare_costs=False)
    assert direct.connections is not None and not direct.connections.fits
    assert direct.connections.primary_at_max_instances == 500
    assert not direct.fits
    assert any("max_connections (120)" in r for r in direct.reasons)
    # A pooler whose client limit the fleet can exceed.
    tight = size(_profile(database={"max_client_connections": 400}), compare_costs=False)
    assert tight.connections is not None
    assert any("max_client_connections (400)" in p for p in tight.connections.problems())


def test_harness_model_exits_1_when_the_fleet_can_exceed_max_connections(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay = tmp_path / "direct.toml"
    overlay.write_text("[infrastructure.database]\npooler = false\n", encoding="utf-8")
    assert main(["model", "--profile", str(overlay)]) == 1
    assert "max_connections" in capsys.readouterr().out


def test_fast_path_and_simulation_agree_through_cache_replicas_and_a_cpu_limit() -> None:
    profile = _profile(
        instance_vcpus=1.0,
        database={"read_replicas": 2, "pool_max": 6, "pool_min": 6},
        autoscaling={"min_instances": 4, "max_instances": 4},
    )
    options = SimulationOptions(hours=1 / 6, seed=3, users=14_000.0, autoscale=False)
    fast, simulated = fast_day(profile, options), run_once(profile, options)
    assert simulated.totals.max_cpu > 0.5
    assert fast.totals.p95_ms == pytest.approx(simulated.totals.p95_ms, rel=0.08)
    assert fast.totals.p50_ms == pytest.approx(simulated.totals.p50_ms, rel=0.08)


def test_replicas_are_priced_at_the_primarys_tier() -> None:
    bare = size(load_profile())
    two = size(_profile(database={"read_replicas": 2}))
    tier = next(t for t in load_profile().cost.database_tiers if t.name == bare.cost.database_tier)
    assert bare.cost.components["database"] == tier.monthly_usd
    assert two.cost.components["database"] == 3 * tier.monthly_usd


def test_each_cost_claim_is_explained_line_by_line() -> None:
    plan = size(load_profile())
    profile = load_profile()
    launch = min(c.users for c in profile.cost.claims)
    explained = {c.users: c for c in plan.claim_explanations}
    assert set(explained) == {c.users for c in profile.cost.claims} - {launch}
    million = explained[1_000_000]
    source = profile.cost.source_breakdown
    lines = {line.component: line for line in million.lines}
    assert lines["compute"].scaled_usd == pytest.approx(source["compute"] * 2.5)
    assert million.scaled_usd == pytest.approx(sum(source.values()) * 2.5)
    claim = next(c for c in plan.cost_claims if c.users == 1_000_000)
    assert million.model_usd == pytest.approx(claim.model_usd)
    assert lines["storage_cdn"].model_usd == pytest.approx(lines["storage_cdn"].scaled_usd)
    # The claim sits between the model and month one grown with the users; compute and the
    # database are the lines that part them, and the summary names them.
    assert million.model_usd < million.claimed_usd < million.scaled_usd
    assert "compute" in million.summary and "database" in million.summary
