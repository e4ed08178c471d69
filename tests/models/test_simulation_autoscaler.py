"""The autoscaling policy on its own, and inside the simulation on a synthetic ramp."""

from __future__ import annotations

import pytest

from models.simulation import Autoscaler, ScalingPolicy, SimulationOptions, run_once
from tests.models.sim_profiles import queue_profile

POLICY = ScalingPolicy(
    min_instances=2,
    max_instances=6,
    scale_up_cpu=0.7,
    scale_down_cpu=0.3,
    scale_up_p95_ms=800.0,
    cooldown_s=180.0,
    provisioning_delay_s=90.0,
    evaluation_period_s=60.0,
)


def test_scale_up_targets_middle_of_band_and_bills_at_once() -> None:
    scaler = Autoscaler(POLICY, 2)
    action = scaler.evaluate(60.0, cpu=0.9, p95_ms=100.0)
    assert action is not None and (action.before, action.after) == (2, 4)  # ceil(2*.9/.5)
    assert scaler.billed() == 4
    assert scaler.serving(149.0) == 2 and scaler.serving(150.0) == 4


def test_cooldown_blocks_actions_then_allows_them() -> None:
    scaler = Autoscaler(POLICY, 2)
    scaler.evaluate(60.0, cpu=0.9, p95_ms=0.0)
    assert scaler.evaluate(180.0, cpu=0.95, p95_ms=0.0) is None
    assert scaler.evaluate(240.0, cpu=0.95, p95_ms=0.0) is not None


def test_p95_trigger_adds_an_instance_at_low_cpu() -> None:
    scaler = Autoscaler(POLICY, 2)
    action = scaler.evaluate(60.0, cpu=0.4, p95_ms=1200.0)
    assert action is not None and action.after == 3 and "p95" in action.reason


def test_bounds_hold_both_ways() -> None:
    scaler = Autoscaler(POLICY, 5)
    assert scaler.evaluate(60.0, cpu=1.0, p95_ms=5000.0).after == 6  # type: ignore[union-attr]
    assert scaler.evaluate(600.0, cpu=1.0, p95_ms=5000.0) is None  # already at max
    assert scaler.evaluate(900.0, cpu=0.01, p95_ms=10.0).after == 2  # type: ignore[union-attr]
    assert scaler.evaluate(1200.0, cpu=0.0, p95_ms=0.0) is None  # already at min


def test_no_scale_down_while_slow() -> None:
    scaler = Autoscaler(POLICY, 4)
    action = scaler.evaluate(60.0, cpu=0.2, p95_ms=900.0)
    assert action is not None and action.direction == "up"


def test_policy_rejects_inverted_thresholds() -> None:
    with pytest.raises(ValueError, match="scale_down_cpu < scale_up_cpu"):
        ScalingPolicy(2, 6, 0.3, 0.7, 800.0, 180.0, 90.0, 60.0)


def test_simulated_ramp_scales_up_after_trigger_and_back_down() -> None:
    # 12 req/s for an hour, 60 req/s the next, 12 again: 100 ms requests on 2 workers per
    # instance, 2..6 instances. Hour 1 overloads 2 instances (40 req/s): the first
    # evaluation scales up, the next one after the cooldown again, up to the maximum.
    profile = queue_profile(
        workers=2, demand_ms=100.0, instances=(2, 6), users=1200,
        hourly=[0.2, 1.0] + [0.2] * 22,
    )  # fmt: skip
    result = run_once(profile, SimulationOptions(hours=3, seed=2))
    ups = [a for a in result.actions if a.direction == "up"]
    downs = [a for a in result.actions if a.direction == "down"]
    assert ups[0].time_s == 3660.0  # first evaluation after the load rose at 3600
    assert [a.after for a in ups] == [4, 6]
    assert ups[1].time_s - ups[0].time_s >= POLICY.cooldown_s
    by_minute = {m.minute: m for m in result.minutes}
    assert by_minute[61].instances == 2.0  # provisioning: billed 4, serving 2
    assert by_minute[61].instances_billed == 4.0
    assert by_minute[62].instances == pytest.approx(3.0)  # ready 90 s in: half the minute
    assert by_minute[63].instances == 4.0
    assert max(m.instances_billed for m in result.minutes) == 6
    assert downs and downs[0].time_s > 7200.0 and downs[-1].after == 2
    assert result.minutes[-1].instances == 2.0
    # Once scaled, the hour's CPU settles at 60 * 0.1 / 12 workers = 50%.
    assert by_minute[110].cpu == pytest.approx(0.5, abs=0.08)


def test_simulated_slow_responses_scale_up_at_low_cpu() -> None:
    # 2 requests/s of 1 s each on 2 x 10 workers: CPU 10%, but the p95 of an exponential
    # 1 s service is about 3 s > 800 ms. The response-time trigger adds one instance at the
    # first evaluation and one after the cooldown, up to the maximum; slow responses forbid
    # scaling down although CPU is far below the scale-down threshold.
    profile = queue_profile(workers=10, demand_ms=1000.0, instances=(2, 4))
    result = run_once(profile, SimulationOptions(hours=8 / 60, seed=3, users=2.0))
    assert [(a.time_s, a.before, a.after, a.direction) for a in result.actions] == [
        (60.0, 2, 3, "up"),
        (240.0, 3, 4, "up"),
    ]
    assert all("p95" in a.reason and a.cpu < POLICY.scale_down_cpu for a in result.actions)
    assert max(m.cpu for m in result.minutes) < 0.2
    assert result.minutes[-1].instances == 4.0
