"""The load balancer's policy where it matters to the tail: least connections as one shared
queue, a random split as K separate ones, each held to a SimPy model of the policy itself."""

from __future__ import annotations

import pytest

from models.erlang import mmc
from models.profile import load_profile
from models.simulation.balancer import simulate_balancer
from models.sizing import size

K, C, SERVICE_S = 4, 1, 0.02


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_a_random_split_is_k_independent_mmc_queues(rho: float) -> None:
    lam = rho * K * C / SERVICE_S
    run = simulate_balancer("random", lam, SERVICE_S, instances=K, workers=C,
                            requests=40_000, seed=11)  # fmt: skip
    theory = mmc(lam / K, 1 / SERVICE_S, C)
    assert run.mean_response_s == pytest.approx(theory.mean_sojourn, rel=0.06)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_least_connections_comes_close_to_one_shared_queue(rho: float) -> None:
    lam = rho * K * C / SERVICE_S
    run = simulate_balancer("leastconn", lam, SERVICE_S, instances=K, workers=C,
                            requests=40_000, seed=11)  # fmt: skip
    shared = mmc(lam, 1 / SERVICE_S, K * C)
    separate = mmc(lam / K, 1 / SERVICE_S, C)
    # Joining the shortest queue cannot beat the shared queue (a request may wait behind a
    # long one while another instance frees) but is far closer to it than a random split.
    assert shared.mean_sojourn * 0.98 <= run.mean_response_s <= shared.mean_sojourn * 1.25
    assert run.mean_response_s < separate.mean_sojourn * 0.8


def test_the_plan_shows_the_policy_and_a_random_split_waits_longer() -> None:
    overrides = {"autoscaling": {"min_instances": 2}, "cache": {"enabled": False}}
    lc = size(load_profile(overrides={"infrastructure": overrides}), compare_costs=False)
    rnd = size(
        load_profile(overrides={"infrastructure": {**overrides, "load_balancer": "random"}}),
        compare_costs=False,
    )
    assert lc.to_json()["topology"]["load_balancer"] == "leastconn"
    assert rnd.to_json()["topology"]["load_balancer"] == "random"
    app_lc, app_rnd = lc.stations[0], rnd.stations[0]
    assert app_rnd.servers == app_lc.servers // lc.instances.provisioned
    assert app_rnd.utilization == pytest.approx(app_lc.utilization, rel=1e-12)
    assert app_rnd.mean_wait_s is not None and app_lc.mean_wait_s is not None
    assert app_rnd.mean_wait_s > app_lc.mean_wait_s
    assert rnd.latency.p95_ms is not None and lc.latency.p95_ms is not None
    assert rnd.latency.p95_ms >= lc.latency.p95_ms
