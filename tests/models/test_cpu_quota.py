"""The CFS quota's throttling: the analytic approximation (models/cpu_quota.py) held to the
SimPy quota (models/simulation/quota.py) with fixed seeds, and its place in the plan."""

from __future__ import annotations

import pytest

from models.cpu_quota import poisson_exceeds, quota_delay
from models.errors import ParameterError, ProfileError, UnstableError
from models.profile import LAB_SERVICE_CORES, load_profile
from models.simulation.quota import simulate_quota
from models.sizing import size

MEAN_TOLERANCE = 0.13
"""Mean response time, utilization 0.2-0.6 (one worker, the lab's instances, and two)."""
HEAVY_TOLERANCE = 0.25
"""Mean response time at utilization 0.8, where the approximation is weakest (docs)."""
THROTTLED_TOLERANCE = 0.12
"""Share of periods throttled, relative (absolute 0.005 below 5%)."""

# (quota cores, mean CPU demand s, workers, utilization, simulated requests)
GRID = [
    (0.25, 0.005, 1, 0.2, 20_000),
    (0.25, 0.005, 1, 0.4, 20_000),
    (0.25, 0.005, 1, 0.6, 60_000),
    (0.25, 0.005, 1, 0.8, 150_000),
    (0.25, 0.002, 1, 0.4, 30_000),
    (0.5, 0.005, 1, 0.6, 60_000),
    (0.5, 0.005, 2, 0.2, 20_000),
    (0.5, 0.005, 2, 0.4, 30_000),
    (0.5, 0.005, 2, 0.6, 60_000),
]


@pytest.mark.parametrize(("quota", "s", "workers", "rho", "requests"), GRID)
def test_the_approximation_agrees_with_the_simulated_quota(
    quota: float, s: float, workers: int, rho: float, requests: int
) -> None:
    lam = rho * quota / s
    run = simulate_quota(lam, s, quota, workers=workers, requests=requests, seed=7)
    model = quota_delay(lam, s, quota, 0.1, workers)
    assert run.utilization == pytest.approx(rho, rel=0.03)
    tolerance = HEAVY_TOLERANCE if rho > 0.7 else MEAN_TOLERANCE
    assert model.mean_response_s == pytest.approx(run.mean_response_s, rel=tolerance)
    if run.throttled_share < 0.05:
        assert model.throttled_share == pytest.approx(run.throttled_share, abs=0.005)
    else:
        assert model.throttled_share == pytest.approx(run.throttled_share, rel=THROTTLED_TOLERANCE)


def test_a_quarter_core_is_faster_than_its_fluid_slowdown_when_light_and_slower_when_heavy() -> (
    None
):
    s, q = 0.005, 0.25
    light = quota_delay(0.2 * q / s, s, q)
    heavy = quota_delay(0.9 * q / s, s, q)
    fluid = s / q  # the fluid model's service alone: 20 ms
    assert light.mean_response_s < fluid / 2  # a lone 5 ms request runs in about 5 ms
    assert heavy.throttled_share > 0.6 and heavy.extra_s > 0.05
    assert light.extra_s > 0 and light.throttled_share < 0.05


def test_no_throttling_when_the_workers_cannot_spend_the_quota() -> None:
    q = quota_delay(300.0, 0.004, quota_cores=2.0, workers=2)
    assert q.throttled_share == 0.0 and q.extra_s == pytest.approx(0.0, abs=1e-15)


def test_poisson_exceeds_is_the_skellam_tail() -> None:
    assert poisson_exceeds(3.0, 0.0) == pytest.approx(1 - 2.718281828459045**-3)
    assert poisson_exceeds(0.0, 3.0) == 0.0
    # P(N > K) + P(K > N) + P(N = K) = 1, and the normal branch continues the exact one.
    assert poisson_exceeds(4.0, 4.0) == pytest.approx(poisson_exceeds(4.0, 4.0))
    assert poisson_exceeds(390.0, 380.0) == pytest.approx(poisson_exceeds(410.0, 400.0), abs=0.01)


def test_a_saturated_quota_has_no_steady_state() -> None:
    with pytest.raises(UnstableError, match="quota is saturated"):
        quota_delay(60.0, 0.005, 0.25)


def test_the_lab_plan_shows_the_quota_and_uses_it() -> None:
    # The lab's instances (a quarter core, one worker, behind a CFS quota) at 100 users.
    lab = load_profile(overrides={"population": {"users": 2_000}}).lab_profile()
    assert lab.infrastructure.cpu_quota
    plan = size(lab, compare_costs=False)
    quota = plan.cpu_quota
    assert quota is not None
    document = plan.to_json()["cpu_quota"]
    assert document["quota_cores"] == 0.25 and document["period_ms"] == 100.0
    assert 0 <= document["throttled_share"] <= 1
    assert quota.utilization == pytest.approx(plan.utilization["app_cpu"], rel=1e-9)
    # Without the quota flag the same limit is the fluid slowdown: no quota figures.
    fluid = load_profile(overrides={"infrastructure": {"instance_vcpus": 0.25,
                                                       "workers_per_instance": 1}})  # fmt: skip
    assert size(fluid, compare_costs=False).cpu_quota is None
    assert size(load_profile(), compare_costs=False).to_json()["cpu_quota"] is None


def test_a_period_out_of_range_names_the_key() -> None:
    with pytest.raises(ProfileError, match=r"infrastructure.cpu_period_ms = 0.5: must be between"):
        load_profile(overrides={"infrastructure": {"cpu_period_ms": 0.5}})


def test_a_budget_spent_on_a_shared_core_stalls_for_less() -> None:
    """Three quarter-core instances on one core: a backlogged one spends its 25 ms budget in
    75 ms (a third of the core), so a period entered with work carried over stalls 25 ms, not
    75; when and how often the budget runs out is the same."""
    lam = 0.85 * 0.25 / 0.005
    own = quota_delay(lam, 0.005, 0.25, 0.1, 1)
    shared = quota_delay(lam, 0.005, 0.25, 0.1, 1, contended_cores=1 / 3)
    assert shared.throttled_share == pytest.approx(own.throttled_share)
    assert own.stall_s > 0.05 and 0.0 < shared.stall_s <= 0.025
    assert shared.extra_s < own.extra_s
    assert shared.to_json()["contended_cores"] == pytest.approx(1 / 3, abs=1e-4)
    # A share at or past the quota's budget per period leaves no carried stall: the budget
    # lasts the whole period while the others run.
    quarter = quota_delay(lam, 0.005, 0.25, 0.1, 1, contended_cores=0.25)
    assert quarter.stall_s < shared.stall_s
    # Cores of their own (None) are a core per running worker, as before.
    whole = quota_delay(lam, 0.005, 0.25, 0.1, 1, contended_cores=1.0)
    assert (whole.stall_s, whole.mean_response_s) == (own.stall_s, own.mean_response_s)


def test_contended_cores_must_be_positive() -> None:
    with pytest.raises(ParameterError, match="contended_cores must be a finite number > 0"):
        quota_delay(10.0, 0.005, 0.25, contended_cores=0.0)


def test_the_lab_profile_puts_every_instance_on_its_one_service_core() -> None:
    lab = load_profile(overrides={"population": {"users": 2_000}}).lab_profile()
    assert lab.infrastructure.shared_cores == LAB_SERVICE_CORES == 1.0
    three = size(lab, compare_costs=False).cpu_quota
    assert three is not None and three.contended_cores == pytest.approx(
        LAB_SERVICE_CORES / lab.lab.instances
    )
    with pytest.raises(ProfileError, match=r"infrastructure.shared_cores = 0"):
        load_profile(overrides={"infrastructure": {"shared_cores": 0}})
