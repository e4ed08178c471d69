"""The lab topology trial's parts: the topology model closed over the users' loop, the pooler's
figures read from a lab run, their records, the naive baseline's K beside the decision, and the
validation's planned duration and time budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.validate.baseline import NaiveBaseline
from harness.validate.decision import baseline_instances, decision_profile, plan_decision
from harness.validate.duration import TIME_BUDGET_S, Budget, planned_duration
from harness.validate.fit import light_stages, login_cpu_ms
from harness.validate.lab_measure import (
    instance_cpu,
    instance_throttling,
    lab_demands,
    pooler_measurement,
    read_lab_measured,
)
from harness.validate.plan import overlay, paired_stages, validation_profile
from harness.validate.settings import ValidationSettings
from harness.validate.table import measured_says
from harness.validate.topology_trial import ABOVE_IDLE, TopologyModel, over_idle
from models.catalogue import PERSONAS
from models.lab_calibration import LabDemands, StageLatency
from models.lab_prediction import (
    FleetModel,
    busy_quantile,
    cpu_of_limit,
    hop_floor,
    on_calibration_basis,
    workers_cores,
    workers_utilization_at,
)
from models.pooler_records import PoolerComparison, PoolerMeasurement, PoolerPrediction
from models.prediction import split_users
from models.profile import Profile, load_profile
from models.sizing import Fleet, size
from models.validation_records import (
    CalibrationRecord,
    CountMeasurement,
    DecisionRecord,
    MeasuredLevel,
    Throttling,
    TrialResult,
)
from models.workload import workloads
from tests.harness.validate.helpers import LAB_ORIGIN, with_lab_samples, write_run


@pytest.fixture(scope="module")
def compressed() -> Profile:
    """The launch profile at the validation's think times, the default lab (3 x 0.25 cores)."""
    return validation_profile(load_profile(), 0.05)


def test_the_model_closes_the_users_loop_over_the_planner_s_stations(
    compressed: Profile,
) -> None:
    model = TopologyModel(compressed, instances=3, spawn_rate=20.0)
    level = model.fleet.at(120).level
    # the loop's fixed point: X = Σ N_p c_p / (Z_p + c_p R), R the stations' mean at X
    work = workloads(compressed)
    users = np.array(split_users(compressed, 120), dtype=float)
    think = np.array([work[p].think_time_s for p in PERSONAS])
    calls = np.array([work[p].calls_per_step for p in PERSONAS])
    rate = float(np.sum(users * calls / (think + calls * level.mean_ms / 1e3)))
    assert level.throughput_rps == pytest.approx(rate, rel=1e-6)
    response = model.fleet.fleet.response_time(level.throughput_rps)
    assert response is not None and level.mean_ms == pytest.approx(response.mean_s * 1e3)
    # below the open model's zero-latency rate, which neglects the users' wait
    open_rate = float(np.sum(users * calls / think))
    assert level.throughput_rps < open_rate
    # CPU per instance: the rate times the cores per call over 3 x 0.25 cores
    fleet = model.fleet.fleet
    cores_per_call = fleet.cpu_s * fleet.topology.cpu_speed
    assert level.cpu_utilization == pytest.approx(
        level.throughput_rps * cores_per_call / (3 * 0.25)
    )
    # more users, more of everything; far past N* the queue holds the CPU just under the
    # point where the app station saturates. Under the lab's CFS quota that is the quota
    # model's (models/cpu_quota.py: stalls added to each request's service) about 2% short of
    # the limit, an error of that approximation near saturation that docs/capacity-planning.md
    # states; without a quota it is the limit itself.
    assert model.cpu_at(60) < model.cpu_at(120) < model.cpu_at(240)
    assert 0.97 < model.cpu_at(int(3 * model.saturation_users)) < 1.0


def test_levels_land_at_their_cpu_targets_and_the_pooler_obeys_little_s_law(
    compressed: Profile,
) -> None:
    model = TopologyModel(compressed, instances=3, spawn_rate=20.0)
    targets = ValidationSettings().topology_cpu_targets
    levels = model.levels_at_cpu(targets)
    assert len(levels) == len(targets)
    for users, target in zip(levels, targets, strict=True):
        assert target <= model.cpu_at(users) <= target + 0.02
        assert model.cpu_at(users - 1) < target  # the fewest users that reach it
    pooler = model.pooler_at(levels[-1])
    assert pooler is not None
    primary = model.fleet.fleet.stations(model.fleet.at(levels[-1]).level.throughput_rps)[1]
    # Little's law over the calls and the background work (the outbox's deliveries) alike
    busy = primary.arrival_rps * primary.service_s + primary.background_rps * primary.background_s
    assert primary.background_rps > 0 and pooler.busy_mean == pytest.approx(busy)
    assert pooler.servers == primary.servers and pooler.arrival_rps == primary.arrival_rps
    assert pooler.waiting_mean is not None and primary.mean_wait_s is not None
    assert pooler.waiting_mean == pytest.approx(primary.arrival_rps * primary.mean_wait_s)
    prediction = model.predict(levels)
    assert prediction.model == "topology" and prediction.servers == 3
    without = TopologyModel(overlay(compressed, {"lab": {"pooler": False}}), 3, 20.0)
    assert without.pooler_at(levels[0]) is None


def test_a_target_under_the_idle_cpu_is_raised_over_it() -> None:
    # 0.042 idle cores of a 0.25-core limit is 16.8%: the 15% target would fall on the idle
    # reading (one user); it moves to 26.8%, the others stay, and two that meet merge.
    line = LabDemands(stages=3, idle_cpu_cores=0.042, cpu_cores_per_rps=0.003, idle_measured=True)
    least = 0.042 / 0.25 + ABOVE_IDLE
    raised = over_idle((0.15, 0.40, 0.60, 0.80), line, 0.25)
    assert raised[0] == pytest.approx(least) and raised[1:] == (0.40, 0.60, 0.80)
    merged = over_idle((0.15, 0.20, 0.80), line, 0.25)
    assert merged[0] == pytest.approx(least) and merged[1:] == (0.80,)
    assert over_idle((0.15, 0.40), None, 0.25) == (0.15, 0.40)  # no line: as asked


def test_busy_connections_quantile_of_an_mmc_queue() -> None:
    # one server: busy with probability ρ, so the p95 is 1 once ρ > 5%
    assert busy_quantile(1, 0.04, 0.95) == 0.0
    assert busy_quantile(1, 0.06, 0.95) == 1.0
    # a wide pool at half a connection: Poisson(0.5) reaches 95% at 2
    assert busy_quantile(100, 0.5, 0.95) == 2.0
    assert busy_quantile(2, 1.9, 0.95) == 2.0  # nearly always both busy
    assert busy_quantile(5, 7.0, 0.95) == 5.0  # overloaded: all of them
    assert busy_quantile(5, 0.0, 0.95) == 0.0


def test_pgbouncer_samples_become_a_stage_s_pooler_figures() -> None:
    lines = [
        {"at": 100.0 + t, "part": "pool", "servers_active": busy, "clients_active": 5,
         "clients_waiting": t % 2, "max_wait_s": 0.002 * t}
        for t, busy in enumerate([0, 1, 1, 2, 1, 3, 1, 1, 0, 1])
    ] + [
        {"at": 100.0 + t, "part": "pooler_traffic", "transactions": 40 * t, "wait_s": 0.01 * t}
        for t in range(10)
    ]  # fmt: skip
    # a second pool at the same reading is summed into it
    lines.append({"at": 103.0, "part": "pool", "servers_active": 2, "clients_active": 1,
                  "clients_waiting": 0, "max_wait_s": 0.0})  # fmt: skip
    measured = pooler_measurement(lines, 100.0, 109.0)
    assert measured is not None and measured.samples == 10
    assert measured.busy_mean == pytest.approx(13 / 10)  # 11 plus the second pool's 2
    assert measured.busy_p95 == 4  # nearest rank: the highest of ten readings
    assert measured.waiting_mean == pytest.approx(0.5)
    assert measured.max_wait_ms == pytest.approx(18.0)
    assert measured.transactions_rps == pytest.approx(40.0)
    assert measured.wait_mean_ms == pytest.approx(0.09 / 360 * 1e3)
    assert pooler_measurement(lines, 200.0, 210.0) is None  # no reading in the stage


def test_a_lab_run_s_stages_read_cpu_per_instance_and_the_pooler(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", [(20.0, 0.3, 5.0, 4.0, 9.0), (40.0, 0.6, 6.0, 5.0, 12.0)])
    with_lab_samples(3, lambda users: [users // 20])(run_dir)  # 1 busy, then 2
    first, second = read_lab_measured(run_dir, cpu_limit=0.25)
    assert first.cpu_per_instance == pytest.approx((0.4, 0.4, 0.4))  # 0.1 cores of 0.25
    assert second.cpu_utilization == pytest.approx(0.8)
    assert first.pooler is not None and second.pooler is not None
    assert (first.pooler.busy_mean, second.pooler.busy_mean) == (1.0, 2.0)
    assert first.throughput_rps == 20.0  # the client's figures as read_measured reads them
    scrapes = [{"t_s": 0.0, "lab": {"instances": {"a": {"usage_s": 0.0}}, "clock_origin": 1.0}}]
    assert instance_cpu(scrapes, 0.0, 10.0, 0.25) == ()  # one scrape: no CPU figure
    assert LAB_ORIGIN > 0


def _group(usage_s: float, periods: int, throttled: int, throttled_s: float) -> dict[str, Any]:
    return {"usage_s": usage_s, "periods": periods, "throttled_periods": throttled,
            "throttled_s": throttled_s}  # fmt: skip


def test_each_instance_s_throttling_comes_from_its_cpu_group_s_counters() -> None:
    """Over 10 s: instance a ran out of quota in 30 of its 100 periods and was held 0.9 s,
    instance b in 10 of 100 for 0.2 s (a stall of 30 and 20 ms a throttled period)."""
    scrapes = [
        {"t_s": 0.0, "lab": {"instances": {"a": _group(1.0, 10, 2, 0.1),
                                           "b": _group(1.0, 10, 0, 0.0)}}},
        {"t_s": 5.0, "lab": {"instances": {"a": _group(1.5, 60, 20, 0.5),
                                           "b": _group(1.5, 60, 5, 0.1)}}},
        {"t_s": 10.0, "lab": {"instances": {"a": _group(2.0, 110, 32, 1.0),
                                            "b": _group(2.0, 110, 10, 0.2)}}},
        {"t_s": 12.0, "lab": {"instances": {"a": _group(9.0, 130, 50, 2.0),
                                            "b": _group(9.0, 130, 30, 2.0)}}},
    ]  # fmt: skip
    a, b = instance_throttling(scrapes, 0.0, 10.0)
    assert (a.throttled_share, a.throttled_time_share) == pytest.approx((0.3, 0.09))
    assert (b.throttled_share, b.throttled_time_share) == pytest.approx((0.1, 0.02))
    assert a.stall_ms(100.0) == pytest.approx(30.0) and b.stall_ms(100.0) == pytest.approx(20.0)
    assert Throttling(0.0, 0.0).stall_ms(100.0) is None  # no period ran out
    mean = Throttling.mean_of([a, b])
    assert (mean.throttled_share, mean.throttled_time_share) == pytest.approx((0.2, 0.055))
    assert instance_throttling(scrapes[:1], 0.0, 10.0) == ()  # one scrape: nothing to subtract
    older = [{"t_s": t, "lab": {"instances": {"a": {"usage_s": t}}}} for t in (0.0, 10.0)]
    assert instance_throttling(older, 0.0, 10.0) == ()  # scrapes from before the counters
    # recorded in validation.json and read back, as the lab topology trial's levels keep it
    level = MeasuredLevel(users=30, throughput_rps=20.0, throttling=(a, b))
    document = level.to_json()
    assert document["throttling"][0] == {"throttled_share": 0.3, "throttled_time_share": 0.09}
    assert MeasuredLevel.from_json(30, document) == level
    assert "throttling" not in MeasuredLevel(users=30).to_json()


def test_the_lab_calibration_s_cpu_line_and_pooler_figures_from_its_run(tmp_path: Path) -> None:
    # one instance: 0.05 cores at 20 req/s, 0.08 at 40: idle 0.02 + 0.0015 per req/s
    run_dir = write_run(
        tmp_path / "run", [(20.0, 0.05, 5.0, 4.0, 9.0), (40.0, 0.08, 6.0, 5.0, 9.0)]
    )
    with_lab_samples(1, lambda users: [0], transactions_rps=30.0, transaction_ms=2.0)(run_dir)
    demands = lab_demands(run_dir, cpu_limit=0.25, used_users=[20, 40])
    assert demands.stages == 2
    assert demands.idle_cpu_cores == pytest.approx(0.02)
    assert demands.cpu_cores_per_rps == pytest.approx(0.0015)
    # 30 s between the first and last readings: 900 transactions a stage, 600 + 1,200 requests
    assert demands.transactions_per_request == pytest.approx(1800 / 1800)
    assert demands.transaction_s == pytest.approx(0.002)
    only = lab_demands(run_dir, cpu_limit=0.25, used_users=[20])  # the fit's stages only
    assert only.stages == 1 and only.transactions_per_request == pytest.approx(900 / 600)
    older = write_run(tmp_path / "older", [(20.0, 0.05, 5.0, 4.0, 9.0)])
    with_lab_samples(1, lambda users: [0])(older)  # lab.jsonl without transaction_s
    assert lab_demands(older, 0.25, [20]).transaction_s is None


def test_the_idle_stage_s_cpu_is_the_line_s_intercept(tmp_path: Path) -> None:
    """A calibration that ends idle: its CPU group read 0.01 cores with no users, so the line
    goes through 0.01 and its slope is the least squares through it over the loaded stages
    (0.05 at 20 req/s, 0.08 at 40: Σx(y - 0.01) / Σx² = 3.6 / 2000), not the free fit's
    0.02 + 0.0015 per req/s."""
    loads = [(20.0, 0.05, 5.0, 4.0, 9.0), (40.0, 0.08, 6.0, 5.0, 9.0), (0.0, 0.01, 0.0, 0.0, 0.0)]
    run_dir = write_run(tmp_path / "run", loads, users=[20, 40, 0])
    with_lab_samples(1, lambda users: [0], transactions_rps=30.0, transaction_ms=2.0)(run_dir)
    demands = lab_demands(run_dir, cpu_limit=0.25, used_users=[20, 40])
    assert demands.idle_measured and demands.stages == 2  # the idle stage is not a load
    assert demands.idle_cpu_cores == pytest.approx(0.01)
    assert demands.cpu_cores_per_rps == pytest.approx(3.6 / 2000)
    assert demands.transactions_per_request == pytest.approx(1.0)  # the loads' alone
    stages, used = light_stages(run_dir, max_cpu=0.5)
    assert [s.users for s in stages] == [20, 40, 0] and used == [20, 40]


def test_the_model_on_the_calibration_s_basis(compressed: Profile) -> None:
    measured = LabDemands(3, 0.02, 0.003, 1.2, 0.002)
    model = TopologyModel(compressed, instances=3, spawn_rate=20.0, measured=measured)
    fleet = model.fleet.fleet
    # no second cache split; the mean CPU per call is the line's slope; the workers share
    # what the idle CPU leaves of the 0.25 cores
    assert fleet.topology.cache_hit_ratio == 0.0
    workers = compressed.lab.workers_per_instance
    assert fleet.topology.cpu_speed == pytest.approx(min(1.0, 0.23 / workers))
    assert fleet.cpu_s * fleet.topology.cpu_speed == pytest.approx(0.003)
    level = model.fleet.at(100).level
    x = level.throughput_rps
    assert level.cpu_utilization == pytest.approx((0.02 + 0.003 * x / 3) / 0.25)
    pooler = model.pooler_at(100)
    assert pooler is not None
    assert pooler.arrival_rps == pytest.approx(1.2 * x)
    assert pooler.busy_mean == pytest.approx(1.2 * x * 0.002)  # Little's law on transactions
    assert pooler.busy_p95 == busy_quantile(pooler.servers, pooler.busy_mean, 0.95)
    # the line already holds the outbox's work and the calibration's hits: none added again
    basis = on_calibration_basis(model.fleet.profile, measured)
    assert basis.background.deliveries_per_notification == 0.0
    assert basis.infrastructure.cache.hit_ratio == 0.0
    assert on_calibration_basis(compressed, None) is compressed
    record = CalibrationRecord(lab_demands=measured).to_json()
    assert LabDemands.from_json(record["lab_demands"]) == measured
    assert "lab_demands" not in CalibrationRecord().to_json()
    # without a pooler figure the station is the profile's primary, as before
    no_pooler = TopologyModel(compressed, 3, 20.0, LabDemands(3, 0.02, 0.003))
    primary = no_pooler.fleet.fleet.stations(no_pooler.fleet.at(100).level.throughput_rps)[1]
    bare = no_pooler.pooler_at(100)
    assert bare is not None and bare.busy_mean == pytest.approx(primary.busy)


def test_the_workers_share_and_the_whole_cpu_group_convert_both_ways() -> None:
    """The planner on the calibration's basis gives its workers' utilization of what the idle
    line leaves; the lab measures the whole group over the limit. 0.02 cores idle of 0.25:
    the workers own 0.23, and half of that busy is (0.02 + 0.115) / 0.25 = 54% of the limit."""
    measured = LabDemands(3, 0.02, 0.003)
    assert workers_cores(0.25, measured) == pytest.approx(0.23)
    assert cpu_of_limit(0.5, 0.25, measured) == pytest.approx(0.54)
    assert cpu_of_limit(0.0, 0.25, measured) == pytest.approx(0.08)  # the idle line alone
    for fraction in (0.1, 0.54, 0.7, 1.0):
        back = workers_utilization_at(fraction, 0.25, measured)
        assert cpu_of_limit(back, 0.25, measured) == pytest.approx(max(fraction, 0.08))
    assert workers_utilization_at(0.05, 0.25, measured) == 0.0  # under the idle line
    # without a measured line the two are one figure
    for basis in (None, LabDemands(3, 0.02, None)):
        assert workers_cores(0.25, basis) == 0.25
        assert cpu_of_limit(0.6, 0.25, basis) == pytest.approx(0.6)
        assert workers_utilization_at(0.6, 0.25, basis) == pytest.approx(0.6)
    # an idle line past the limit keeps a sliver for the workers (visibly saturated)
    assert workers_cores(0.25, LabDemands(3, 0.3, 0.003)) == pytest.approx(0.0125)


def test_the_hops_no_station_holds_are_a_floor_from_the_calibration(compressed: Profile) -> None:
    lab = compressed.lab_profile()
    bare = LabDemands(3, 0.02, 0.003, 1.2, 0.002)
    basis = on_calibration_basis(lab, bare)  # the stage latencies do not enter the basis
    one = Fleet(basis, 1)
    # two stages measured 1.5, 1.0 and 3.0 ms above what one instance's stations predict
    gaps = {"mean_ms": 1.5, "p50_ms": 1.0, "p95_ms": 3.0}
    stages = []
    for x in (10.0, 25.0):
        response = one.response_time(x)
        assert response is not None
        modelled = {
            "mean_ms": response.mean_s,
            "p50_ms": response.quantile(0.5),
            "p95_ms": response.quantile(0.95),
        }
        stages.append(StageLatency(x, *(modelled[s] * 1e3 + gaps[s] for s in gaps)))
    measured = LabDemands(3, 0.02, 0.003, 1.2, 0.002, stage_latency=tuple(stages))
    floor = hop_floor(basis, measured)
    assert {s: floor[s] * 1e3 for s in floor} == pytest.approx(gaps)
    assert hop_floor(basis, bare) == {"mean_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0}
    # a calibration faster than the stations says nothing of hops: no negative floor
    faster = LabDemands(3, 0.02, 0.003, stage_latency=(StageLatency(10.0, 0.1, 0.1, 0.1),))
    assert hop_floor(basis, faster) == {"mean_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0}
    # every level carries it, and the users' cycle too: a little less throughput
    with_hops, without = FleetModel(lab, 3, 20.0, measured), FleetModel(lab, 3, 20.0, bare)
    a, b = with_hops.at(100).level, without.at(100).level
    assert a.throughput_rps < b.throughput_rps
    assert a.mean_ms - 1.5 == pytest.approx(without.at(100).level.mean_ms, rel=0.05)
    assert a.p95_ms > b.p95_ms + 2.5
    again = LabDemands.from_json(measured.to_json())  # the record keeps the stages
    assert again.stage_latency[1].p95_ms == pytest.approx(stages[1].p95_ms, abs=1e-4)


def test_pooler_records_and_lab_fields_round_trip() -> None:
    predicted = PoolerPrediction(20, 60.0, 0.3, 1.0, 0.0, 0.0, 0.0)
    measured = PoolerMeasurement(30, 0.9, 2.0, 5.0, 0.0, 1.0, 0.01, 61.0)
    compared = PoolerComparison.of(predicted, measured, judged=True)
    assert compared.meets_goal  # 0.3 vs 0.9 and 1 vs 2: each within one connection
    assert PoolerComparison.from_json(compared.to_json()) == compared
    assert compared.busy_error == pytest.approx((0.3 - 0.9) / 0.9)
    far = PoolerComparison.of(PoolerPrediction(20, 60.0, 6.0, 9.0, 0.0, 0.0, 0.0), measured, True)
    assert far.meets_goal is False and "connections busy predicted 6.00" in (far.miss() or "")
    close = PoolerMeasurement(30, 8.0, 10.0, 5.0, 0.0, 1.0, 0.01, 61.0)
    within = PoolerComparison.of(PoolerPrediction(20, 60.0, 9.2, 11.0, 0, 0, 0), close, True)
    assert within.meets_goal  # 15% and 10%: within 20%
    assert PoolerComparison.of(predicted, None, judged=True).meets_goal is False
    assert PoolerComparison.of(predicted, measured, judged=False).meets_goal is None
    level = MeasuredLevel(60, throughput_rps=50.0, cpu_utilization=0.5,
                          cpu_per_instance=(0.4, 0.5, 0.6), pooler=measured)  # fmt: skip
    assert MeasuredLevel.from_json(60, level.to_json()) == level
    assert "pooler" not in MeasuredLevel(60).to_json()  # the single-instance trials' unchanged
    mean = PoolerMeasurement.mean_of([measured, close])
    assert mean is not None and mean.busy_mean == pytest.approx(4.45) and mean.samples == 60
    trial = TrialResult("lab topology", lab={"instances": 3, "cpu_limit": 0.25})
    assert TrialResult.from_json(trial.to_json()) == trial
    assert "lab" not in TrialResult("held-out mix").to_json()


def test_the_naive_baseline_is_the_cpu_target_alone(compressed: Profile) -> None:
    users = plan_decision(compressed, 3).users
    sizing = size(decision_profile(compressed, users), compare_costs=False)
    lab = decision_profile(compressed, users)
    target = lab.infrastructure.autoscaling.scale_up_cpu
    cores = lab.infrastructure.instance_vcpus
    stations = sizing.stations[0]  # app workers: worker time per call at the CPU limit
    cpu_per_call = stations.service_s * min(1.0, cores / lab.infrastructure.workers_per_instance)
    expected = math.ceil(sizing.peak_rps * cpu_per_call / (target * cores) - 1e-9)
    assert baseline_instances(compressed, users) == max(1, expected)
    # the lab's CPU baseline: the light-load cost per request over the fleet's cores
    heaviest = MeasuredLevel(8, throughput_rps=10.0, cpu_utilization=0.08, mean_ms=9.0)
    fleet, single = NaiveBaseline.of(heaviest, cores=3 * 0.25), NaiveBaseline.of(heaviest)
    assert fleet is not None and single is not None
    assert fleet.capacity_rps == pytest.approx(0.75 / 0.008)
    cores_busy = single.predict(compressed, 100)["cpu_utilization"]
    assert cores_busy is not None
    assert fleet.predict(compressed, 100)["cpu_utilization"] == pytest.approx(cores_busy / 0.75)


def _decision(baseline: int, holds: dict[int, bool]) -> DecisionRecord:
    record = DecisionRecord(lab={}, planned={"instances": 3, "baseline_instances": baseline})
    record.measured = [CountMeasurement(n, None, 100.0, 0.5, 0.0, h) for n, h in holds.items()]
    return record


def test_the_baseline_s_k_is_judged_by_the_measured_counts() -> None:
    measured = {2: False, 3: True, 4: True}
    assert _decision(3, measured).baseline_right is True  # it agreed with the model
    assert _decision(2, measured).baseline_right is False  # 2 broke
    assert _decision(4, measured).baseline_right is False  # 3 already held
    assert _decision(1, measured).baseline_right is False  # fewer than a count that broke
    assert _decision(6, measured).baseline_right is False  # more than one that held
    unknown = _decision(2, {3: True, 4: True})  # 2 and 1 never measured
    assert unknown.baseline_right is None
    record = _decision(2, measured).to_json()
    assert record["baseline_instances"] == 2 and record["baseline_right"] is False
    assert measured_says(record) == "3"
    assert measured_says({"measured": [{"instances": 2, "holds": True}]}) == "at most 2"
    assert measured_says({"measured": [{"instances": 4, "holds": False}]}) == "more than 4"


def test_the_default_lab_validation_is_planned_within_thirty_minutes() -> None:
    settings = ValidationSettings()
    plan = planned_duration(settings, single=True, lab=True)
    assert plan.expected_s <= TIME_BUDGET_S
    names = [part.name for part in plan.parts]
    assert names[-2:] == ["instance decision", "lab topology"]
    alone = planned_duration(settings, single=False, lab=True)
    assert alone.at_most_s <= TIME_BUDGET_S  # --lab-only fits even at its longest
    skipped = planned_duration(ValidationSettings(topology_trial=False), single=False, lab=True)
    assert "lab topology" not in [part.name for part in skipped.parts]
    assert plan.after("lab topology") == 0.0
    assert plan.after("held-out think time") == pytest.approx(alone.expected_s)
    assert "planned duration about" in plan.line()


def test_the_decision_part_counts_each_replication_of_each_count() -> None:
    def decision_part(settings: ValidationSettings) -> float:
        parts = planned_duration(settings, single=False, lab=True).parts
        return next(part.expected_s for part in parts if part.name == "instance decision")

    once = ValidationSettings(decision_replications=1, decision_measure_s=15.0)
    twice = ValidationSettings(decision_replications=2, decision_measure_s=15.0)
    assert decision_part(twice) == pytest.approx(2 * decision_part(once))
    longer = ValidationSettings(decision_replications=1, decision_measure_s=25.0)
    assert decision_part(longer) == pytest.approx(decision_part(once) + 2 * 10.0)  # K-1, K
    above = ValidationSettings(decision_replications=1, decision_k_plus_one=True)
    assert decision_part(above) == pytest.approx(1.5 * decision_part(once))  # and K+1


def test_the_deep_burst_is_a_part_of_its_own_when_there_is_one() -> None:
    def names(settings: ValidationSettings) -> list[str]:
        return [part.name for part in planned_duration(settings).parts]

    assert names(ValidationSettings())[2:4] == ["burst stage", "deep burst"]
    assert "deep burst" not in names(ValidationSettings(deep_burst_period_s=0.0))
    assert "deep burst" not in names(ValidationSettings(burst_period_s=0.0))
    longer = planned_duration(ValidationSettings(deep_burst_s=34.0)).expected_s
    assert longer == pytest.approx(planned_duration(ValidationSettings()).expected_s + 10.0)


def test_the_lab_calibration_part_counts_its_idle_stage() -> None:
    def lab_calibration(settings: ValidationSettings) -> float:
        parts = planned_duration(settings, single=False, lab=True).parts
        return next(part.expected_s for part in parts if part.name == "lab calibration")

    settings = ValidationSettings(lab_idle_s=10.0)
    without = ValidationSettings(lab_idle_s=0.0)
    assert lab_calibration(settings) == pytest.approx(lab_calibration(without) + 4.0 + 10.0)
    with pytest.raises(ValueError, match="lab_idle_s must be >= 0"):
        ValidationSettings(lab_idle_s=-1.0)


def test_an_optional_replication_gives_way_to_the_budget() -> None:
    plan = planned_duration(ValidationSettings(), single=True, lab=True)
    now = [0.0]
    budget = Budget(plan, clock=lambda: now[0])
    assert budget.fits("far beyond the calibration", 300.0)
    now[0] = TIME_BUDGET_S - plan.after("far beyond the calibration") - 100.0
    assert not budget.fits("far beyond the calibration", 300.0)


def test_logins_on_the_lab_are_planned_at_the_fleet_s_cores(compressed: Profile) -> None:
    """A settle stage covers the arriving users' logins twice over; on quarter-core instances
    a login keeps them four times as long as a core, spread over the fleet."""
    model = TopologyModel(compressed, instances=3, spawn_rate=20.0)
    assert model.login_cpu_ms == pytest.approx(login_cpu_ms(compressed) / 0.75)
    users = model.levels_at_cpu((0.4,))
    (settle, measure) = paired_stages(model.predict(users).levels, ValidationSettings(),
                                      model.login_cpu_ms)  # fmt: skip
    logins_s = users[0] * login_cpu_ms(compressed) / 1e3 / 0.75
    assert settle.duration_s >= min(ValidationSettings().max_settle_s, 2 * logins_s)
    assert measure.duration_s >= ValidationSettings().min_measure_s
