"""scripts/burst_cost.py: its table (the runs themselves are a benchmark, not a test)."""

from __future__ import annotations

from harness.validate.burst import BURST_THINK, deep_burst_users
from harness.validate.settings import ValidationSettings
from scripts.burst_cost import BACKLOG_BURSTS, BURSTS, Row, plan_runs, table
from tests.harness.validate.helpers import one_run


def test_the_table_puts_each_stage_s_cost_beside_the_heaviest_closed_loop() -> None:
    rows = [
        Row("closed loop", one_run(30, rps=40.0, mean_ms=3.0, cpu=0.12)),
        Row("closed loop", one_run(400, rps=500.0, mean_ms=30.0, cpu=0.9, speed_reference_ms=0.9)),
        Row("burst", one_run(100, rps=180.0, mean_ms=120.0, cpu=0.306)),
        Row("burst", one_run(200, rps=0.0, mean_ms=0.0, cpu=0.0)),  # measured nothing
    ]
    lines = table(rows).splitlines()
    assert lines[2] == "| closed loop | 30 | 40.0 | 12% | 3.00 | 3.0 | 1 | 1.67 | - |"
    assert lines[3] == "| closed loop | 400 | 500.0 | 90% | 1.80 | 30.0 | 17 | 1.00 | 0.900 |"
    # 180 req/s x 0.12 s = 21.6 requests in the service on average, busy 30.6% of the time.
    assert lines[4] == "| burst | 100 | 180.0 | 31% | 1.70 | 120.0 | 71 | 0.94 | - |"
    assert lines[5] == "| burst | 200 | 0.0 | 0% | - | 0.0 | - | - | - |"


def test_the_deep_burst_keeps_the_average_cpu_and_quadruples_the_queue() -> None:
    (light_period, light), (deep_period, deep) = BURSTS.items()
    assert deep_period == 4 * light_period
    assert deep == (4 * max(light),)  # the same users a second as the largest 1 s burst


def test_the_backlog_check_alternates_the_validation_s_two_bursts_then_saturates() -> None:
    settings = ValidationSettings()
    (burst_users, burst_period), (deep_users, deep_period) = BACKLOG_BURSTS
    # the validation's own pair: the deep burst as harness validate sizes it from the burst
    assert (burst_period, deep_period) == (settings.burst_period_s, settings.deep_burst_period_s)
    assert deep_users == deep_burst_users(burst_users, settings)
    plan = plan_runs(settings, backlog=True)
    assert [name for name, _, _ in plan] == [
        "burst (1 s)", "burst (4 s)", "burst (1 s)", "burst (4 s)", "closed loop",
    ]  # fmt: skip
    assert [think for _, _, think in plan][:4] == [BURST_THINK] * 4
    closed = plan[-1][1].scenario_stages("step")
    assert [stage.users for stage in closed][1::2] == [500, 840]
