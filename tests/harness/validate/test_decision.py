"""The instance decision's plan: the load for which the planner names K, and its figures at
K-1, K and K+1 on the lab's topology (harness/validate/decision.py)."""

from __future__ import annotations

import pytest

from harness.validate.decision import (
    decision_profile,
    disagreeing,
    judge_count,
    margins,
    measured_count,
    plan_decision,
    planned_instances,
    run_order,
)
from harness.validate.plan import overlay, validation_profile
from models.profile import Profile, load_profile
from models.validation_records import CountRun


@pytest.fixture(scope="module")
def compressed() -> Profile:
    """The launch profile at the validation's think times (0.05), the default lab."""
    return validation_profile(load_profile(), 0.05)


def test_the_decision_load_is_inside_the_range_where_the_planner_says_k(
    compressed: Profile,
) -> None:
    decision = plan_decision(compressed, 3)
    low, high = decision.users_range
    assert low <= decision.users <= high
    assert planned_instances(compressed, decision.users) == 3
    assert planned_instances(compressed, low - 1) == 2
    assert planned_instances(compressed, high + 1) == 4
    # in the middle of the range: neither K-1 nor K a coin toss
    assert abs(decision.users - (low + high) / 2) <= 1


def test_k_minus_one_breaks_and_k_holds_in_the_planner_s_own_figures(
    compressed: Profile,
) -> None:
    decision = plan_decision(compressed, 3)
    below, at, above = decision.predicted
    assert (below.instances, at.instances, above.instances) == (2, 3, 4)
    assert not below.holds and at.holds and above.holds
    assert at.cpu_per_instance <= decision.cpu_target < below.cpu_per_instance or (
        below.p95_ms is None or below.p95_ms > decision.p95_objective_ms
    )
    # more instances, less CPU each and no slower
    assert below.cpu_per_instance > at.cpu_per_instance > above.cpu_per_instance
    assert at.p95_ms is not None and above.p95_ms is not None and above.p95_ms <= at.p95_ms
    assert margins(decision)[3] == pytest.approx(
        (decision.p95_objective_ms - at.p95_ms) / decision.p95_objective_ms
    )
    document = decision.to_json()
    assert document["instances"] == 3 and len(document["predicted"]) == 3


def test_the_decision_profile_is_the_lab_at_the_load(compressed: Profile) -> None:
    lab = decision_profile(compressed, 137, instances=2)
    infra = lab.infrastructure
    assert infra.instance_vcpus == compressed.lab.cpu_limit
    assert (infra.autoscaling.min_instances, infra.autoscaling.max_instances) == (2, 2)
    assert infra.database.pooler == compressed.lab.pooler
    assert lab.peak_concurrent() == pytest.approx(137, abs=1)
    free = decision_profile(compressed, 137).infrastructure.autoscaling
    assert free.min_instances == 1 and free.max_instances > 1_000


def test_a_larger_cpu_limit_needs_fewer_instances_for_the_same_load(compressed: Profile) -> None:
    users = plan_decision(compressed, 3).users
    doubled = overlay(compressed, {"lab": {"cpu_limit": 2 * compressed.lab.cpu_limit}})
    assert planned_instances(doubled, users) < 3


def test_judging_a_count() -> None:
    kwargs = {"objective_ms": 800.0, "cpu_target": 0.7}
    assert judge_count(3, 120.0, 0.6, **kwargs).holds
    assert not judge_count(3, 900.0, 0.6, **kwargs).holds  # the objective breaks
    assert not judge_count(3, 120.0, 0.75, **kwargs).holds  # the CPU target breaks
    assert not judge_count(3, None, 0.2, **kwargs).holds  # no steady state


def test_a_decision_needs_a_load_one_instance_cannot_carry(compressed: Profile) -> None:
    with pytest.raises(ValueError, match="instances must be >= 2"):
        plan_decision(compressed, 1)
    with pytest.raises(ValueError, match="never names 100000 instances"):
        plan_decision(compressed, 100_000)


def test_the_planner_decides_on_the_lab_calibration_s_basis(compressed: Profile) -> None:
    """With the lab calibration's CPU line the planner uses its slope (no second cache split)
    and takes its idle CPU off the limit, as the topology trial's model does: run 1 of
    2026-12-06 measured 100% CPU at K = 3 where the planner, splitting the calibration's CPU
    at the profile's cache hit ratio again, had said 58%."""
    from models.lab_calibration import LabDemands
    from models.sizing import size

    measured = LabDemands(stages=3, idle_cpu_cores=0.024, cpu_cores_per_rps=0.00212)
    decision = plan_decision(compressed, 3, measured)
    sizing = size(decision_profile(compressed, decision.users, 3, measured), compare_costs=False)
    limit = compressed.lab.cpu_limit
    for figures in decision.predicted:
        # CPU per instance as the lab measures it: the whole CPU group's line, idle included,
        # over the limit
        expected = (0.024 + sizing.peak_rps * 0.00212 / figures.instances) / limit
        assert figures.cpu_per_instance == pytest.approx(expected, rel=0.02)
    assert planned_instances(compressed, decision.users, measured) == 3
    # twice the CPU per request on the line: K = 3 is named at about half the load (the CPU
    # target decides here, not the p95)
    doubled = LabDemands(stages=3, idle_cpu_cores=0.024, cpu_cores_per_rps=0.00424)
    assert plan_decision(compressed, 3, doubled).users < 0.6 * decision.users


def test_the_planner_holds_the_whole_cpu_group_to_the_target(compressed: Profile) -> None:
    """The target judges the instance's whole CPU group (idle included) over its limit, as the
    lab measures it: the planner's K is the fewest instances whose line stays at or under it,
    and K-1's line passes it. Judging the workers' share of what the idle CPU leaves instead
    let K stand at a load where its group's CPU was over the target (run 20261206T182312Z)."""
    from models.lab_calibration import LabDemands
    from models.sizing import size

    idle, slope = 0.04, 0.003
    measured = LabDemands(stages=3, idle_cpu_cores=idle, cpu_cores_per_rps=slope)
    limit = compressed.lab.cpu_limit
    target = compressed.infrastructure.autoscaling.scale_up_cpu
    decision = plan_decision(compressed, 3, measured)
    low, high = decision.users_range
    for users in (low, decision.users, high):
        rate = size(decision_profile(compressed, users, 3, measured), compare_costs=False).peak_rps
        assert (idle + slope * rate / 3) / limit <= target + 1e-9
        assert (idle + slope * rate / 2) / limit > target
    beyond = size(decision_profile(compressed, high + 1, 3, measured), compare_costs=False)
    assert (idle + slope * beyond.peak_rps / 3) / limit > target
    # the naive baseline holds the same group to the same target
    assert decision.baseline_instances == 3
    # an idle line past the target leaves no count that holds: the planner says so
    with pytest.raises(ValueError, match="idle CPU .* alone passes the CPU target"):
        plan_decision(compressed, 3, LabDemands(3, idle_cpu_cores=0.9 * limit,
                                                cpu_cores_per_rps=slope))  # fmt: skip


def test_the_runs_interleave_forward_then_backward() -> None:
    assert run_order([2, 3, 4], 1) == [2, 3, 4]
    assert run_order([2, 3, 4], 2) == [2, 3, 4, 4, 3, 2]
    assert run_order([2, 3, 4], 3) == [2, 3, 4, 4, 3, 2, 2, 3, 4]
    # two passes give every count the same mean place, 3.5: a steady drift favours none
    order = run_order([2, 3, 4], 2)
    places = {c: [i for i, x in enumerate(order, 1) if x == c] for c in (2, 3, 4)}
    assert {sum(p) / len(p) for p in places.values()} == {3.5}
    with pytest.raises(ValueError, match="replications must be >= 1, got 0"):
        run_order([2, 3, 4], 0)


def _run(order: int, cpu: float | None, p95: float | None = 40.0) -> CountRun:
    return CountRun(f"/runs/{order}", order, p95, cpu, 150.0 + order, 0.0)


def test_a_count_is_judged_on_the_mean_of_its_runs() -> None:
    count = measured_count(
        3, [_run(2, 0.66), _run(5, 0.78, 60.0)], objective_ms=800.0, cpu_target=0.7
    )
    assert count.cpu_per_instance == pytest.approx(0.72) and count.holds is False
    assert count.p95_ms == pytest.approx(50.0) and count.throughput_rps == pytest.approx(153.5)
    assert count.run == "/runs/2" and [one.order for one in count.replications] == [2, 5]
    held = measured_count(3, [_run(2, 0.62), _run(5, 0.76)], objective_ms=800.0, cpu_target=0.7)
    assert held.holds is True  # 69% on average, though its second run alone broke the target
    slow = measured_count(3, [_run(2, 0.5, 900.0)], objective_ms=800.0, cpu_target=0.7)
    assert slow.holds is False  # the p95 objective breaks on its own


def test_a_count_with_a_run_that_measured_nothing_has_no_verdict() -> None:
    count = measured_count(
        2, [_run(1, 0.9), _run(6, None, None)], objective_ms=800.0, cpu_target=0.7
    )
    assert count.holds is None and count.cpu_per_instance is None
    assert len(count.replications) == 2  # both runs kept, the failed one as such
    assert measured_count(2, [], objective_ms=800.0, cpu_target=0.7).holds is None


def test_a_count_whose_runs_disagree_on_the_line_runs_once_more() -> None:
    line = {"objective_ms": 800.0, "cpu_target": 0.7}
    agree = {2: [_run(1, 0.85), _run(4, 0.87)], 3: [_run(2, 0.58), _run(3, 0.62)]}
    assert disagreeing(agree, 3, most=3, **line) is None
    # E7: K's runs at 61% and 80% of the limit, either side of the 70% target
    split = {2: [_run(1, 0.82), _run(4, 0.87)], 3: [_run(2, 0.61), _run(3, 0.80)]}
    assert disagreeing(split, 3, most=3, **line) == 3
    assert disagreeing(split, 3, most=2, **line) is None  # at its most runs already
    # the p95 objective counts alike (both runs under the CPU target)
    slow = {2: [_run(1, 0.5, 900.0), _run(4, 0.5, 700.0)], 3: [_run(2, 0.4), _run(3, 0.4)]}
    assert disagreeing(slow, 3, most=3, **line) == 2
    # both disagree: the one with fewer runs first, then the one nearer K
    both = {2: [_run(1, 0.65), _run(4, 0.75)], 3: [_run(2, 0.61), _run(3, 0.80)]}
    assert disagreeing(both, 3, most=3, **line) == 3
    both[3].append(_run(5, 0.6))
    assert disagreeing(both, 3, most=3, **line) == 2
    # a run that measured nothing is no verdict to disagree with
    failed = {2: [_run(1, 0.9), _run(4, None, None)], 3: [_run(2, 0.6), _run(3, 0.6)]}
    assert disagreeing(failed, 3, most=3, **line) is None
