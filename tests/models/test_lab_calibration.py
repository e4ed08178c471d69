"""The lab calibration's CPU line and pooler figures (models/lab_calibration.py), against
hand-computed values, and their record's round trip."""

from __future__ import annotations

import pytest

from models.lab_calibration import LabDemands, StageTraffic


def _stage(x: float, cores: float | None, xact: float | None, held: float | None) -> StageTraffic:
    return StageTraffic(
        duration_s=10.0, throughput_rps=x, cpu_cores=cores, transactions=xact, transaction_s=held
    )


def test_the_cpu_line_and_the_pooler_figures_by_hand() -> None:
    # cores = 0.02 + 0.003·X exactly; 1.2 transactions per request of 2 ms each
    stages = [
        _stage(10.0, 0.05, 120.0, 0.24),
        _stage(20.0, 0.08, 240.0, 0.48),
        _stage(30.0, 0.11, 360.0, 0.72),
    ]
    demands = LabDemands.of(stages)
    assert demands.stages == 3
    assert demands.idle_cpu_cores == pytest.approx(0.02)
    assert demands.cpu_cores_per_rps == pytest.approx(0.003)
    # Σ transactions / Σ requests = 720 / (100 + 200 + 300)
    assert demands.transactions_per_request == pytest.approx(1.2)
    # Σ hold / Σ transactions = 1.44 s / 720
    assert demands.transaction_s == pytest.approx(0.002)
    assert demands.cpu_cores(40.0) == pytest.approx(0.14)


def test_a_negative_intercept_is_refitted_through_the_origin() -> None:
    # the free line is -0.01 + 0.003·X: through the origin, Σxy/Σx² = 1.2 / 500
    demands = LabDemands.of([_stage(10.0, 0.02, None, None), _stage(20.0, 0.05, None, None)])
    assert demands.idle_cpu_cores == 0.0
    assert demands.cpu_cores_per_rps == pytest.approx(0.0024)
    assert demands.transactions_per_request is None and demands.transaction_s is None


def test_missing_figures_leave_what_cannot_be_measured_unknown() -> None:
    one = LabDemands.of([_stage(10.0, 0.04, 30.0, None)])  # one stage: through the origin
    assert one.idle_cpu_cores == 0.0 and one.cpu_cores_per_rps == pytest.approx(0.004)
    assert one.transactions_per_request == pytest.approx(0.3)
    assert one.transaction_s is None  # a lab.jsonl without transaction_s
    none = LabDemands.of([_stage(10.0, None, None, None)])
    assert none.cpu_cores_per_rps is None and none.cpu_cores(5.0) is None


def test_a_measured_idle_is_the_intercept_and_the_slope_is_fitted_through_it() -> None:
    stages = [_stage(10.0, 0.05, None, None), _stage(20.0, 0.08, None, None)]
    # through (0, 0.01): Σx(y - 0.01) / Σx² = (0.4 + 1.4) / 500
    demands = LabDemands.of(stages, idle_cpu_cores=0.01)
    assert demands.idle_measured and demands.idle_cpu_cores == 0.01
    assert demands.cpu_cores_per_rps == pytest.approx(0.0036)
    assert demands.to_json()["idle_measured"] is True
    again = LabDemands.from_json(demands.to_json())
    assert again.idle_measured and again.cpu_cores_per_rps == pytest.approx(0.0036)
    # The free fit (0.02 + 0.003 per req/s) when nothing was measured, or when the reading
    # leaves no positive slope (idle at or over the loaded stages' CPU) or is negative.
    for idle in (None, 0.09, -0.01):
        fitted = LabDemands.of(stages, idle_cpu_cores=idle)
        assert not fitted.idle_measured
        assert (fitted.idle_cpu_cores, fitted.cpu_cores_per_rps) == pytest.approx((0.02, 0.003))


def test_a_document_from_before_the_idle_stage_reads_as_fitted() -> None:
    document = LabDemands(3, 0.011, 0.00314).to_json()
    del document["idle_measured"]
    assert LabDemands.from_json(document).idle_measured is False


def test_the_record_round_trips() -> None:
    demands = LabDemands(3, 0.011, 0.00314, 1.24, 0.0021)
    again = LabDemands.from_json(demands.to_json())
    assert again.stages == 3 and again.idle_cpu_cores == pytest.approx(0.011)
    assert again.cpu_cores_per_rps == pytest.approx(0.00314)
    assert again.transactions_per_request == pytest.approx(1.24)
    assert again.transaction_s == pytest.approx(0.0021)
    assert demands.to_json()["transaction_ms"] == pytest.approx(2.1)
    empty = LabDemands(1, 0.0, None)
    assert LabDemands.from_json(empty.to_json()) == empty
