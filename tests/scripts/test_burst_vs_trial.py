"""scripts/burst_vs_trial.py: the burst's busy cost against the far trial's, from documents."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.burst_vs_trial import busy_ms, compare, main, rows, table


def _level(x: float, u: float, reference: float = 0.9) -> dict[str, Any]:
    return {
        "measured": {"throughput_rps": x, "cpu_utilization": u, "speed_reference_ms": reference}
    }


#: A run whose burst measured 2.0 ms a request with a 1 ms wake-up and no background: the
#: trial's 300 req/s at 60% CPU spent (0.6 - 300 x 0.001 x 0.4) / 300 = 1.6 ms on a busy
#: core; its lightest level and its saturated one are outside the compared range.
DOCUMENT: dict[str, Any] = {
    "service_curve": {
        "busy_cpu_ms": 2.0,
        "wake_cpu_ms": 1.0,
        "background_cores": 0.0,
        "burst": {"speed_reference_ms": None},  # a plain fit drops it
    },
    "calibration": {"burst": {"speed_reference_ms": 1.0}},
    "trials": [
        {
            "name": "far beyond the calibration",
            "levels": [
                _level(50.0, 0.15),
                _level(300.0, 0.60, 0.8),
                _level(420.0, 0.90, 1.0),
                _level(480.0, 0.99),
            ],
        },
        {"name": "held-out mix", "levels": [_level(300.0, 0.7)]},
    ],
}


def test_a_level_s_busy_cost_is_its_cpu_less_the_wake_ups_per_request() -> None:
    assert busy_ms(DOCUMENT["trials"][0]["levels"][1]["measured"], 1.0, 0.0) == pytest.approx(1.6)
    assert busy_ms({"throughput_rps": 0.0, "cpu_utilization": 0.5}, 1.0, 0.0) is None


def test_each_run_compares_the_busy_levels_of_its_far_trial_with_its_burst() -> None:
    row = compare("E", DOCUMENT)
    assert row is not None
    # 1.6 / 2.0, and (0.9 - 420 x 0.001 x 0.1) / 420 = 2.043 ms / 2.0
    assert row.ratios == pytest.approx((0.8, 1.0214), abs=1e-4)
    assert row.median == pytest.approx(0.9107, abs=1e-4)
    assert row.burst_reference_ms == 1.0 and row.trial_reference_ms == pytest.approx(0.9)
    lines = table([row])
    assert lines[2] == "| E | 2.00 | 1.000 | 0.80, 1.02 | 0.91 | 0.900 |"
    # A run without a burst stage has no row.
    no_burst = {**DOCUMENT, "service_curve": {**DOCUMENT["service_curve"], "burst": None}}
    assert list(rows([("A", no_burst), ("E", DOCUMENT)])) == [row]


def test_the_committed_documents_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| run | burst's busy cost")
    assert any(line.startswith("| 20261207T171123Z | 1.29 |") for line in out)
