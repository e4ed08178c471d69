"""scripts/wake_form_backtest.py: refit each run's calibration with another wake-up form and
judge it on the far trial's CPU."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.wake_form_backtest import backtest, cpu_at, fit, main, table


def _point(x: float, u: float) -> dict[str, float]:
    return {"throughput_rps": x, "cpu_utilization": u}


def _document(m: float) -> dict[str, Any]:
    """A run whose service follows U = X·(2 ms + 1 ms·(1 - U)^m) exactly, its burst of 150
    req/s paying one wake-up a tick."""
    points = [_point(x, cpu_at(2e-3, 1e-3, m, x)) for x in (30.0, 60.0, 90.0)]
    burst = {"throughput_rps": 150.0, "cpu_utilization": 150 * 2e-3 + 1e-3, "period_s": 1.0}
    levels = [
        {"judged": True, "measured": _point(x, cpu_at(2e-3, 1e-3, m, x))}
        for x in (120.0, 250.0, 380.0)
    ]
    levels.append({"judged": False, "measured": _point(480.0, 0.99)})  # not judged: left out
    return {
        "service_curve": {"points": points, "burst": {"period_s": 1.0}},
        "calibration": {"burst": {**burst, "used": True}},
        "trials": [{"name": "far beyond the calibration", "levels": levels}],
    }


def test_the_form_a_service_follows_is_recovered_and_predicts_its_levels_exactly() -> None:
    a, k = fit(
        _document(2.0)["service_curve"]["points"], _document(2.0)["calibration"]["burst"], 2.0
    )
    assert a == pytest.approx(2e-3, rel=1e-6) and k == pytest.approx(1e-3, rel=1e-6)
    fits = {f.exponent: f for f in backtest("run", _document(2.0))}
    assert fits[2.0].errors == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)
    assert len(fits[1.0].errors) == 3  # the unjudged level is not compared
    assert max(abs(e) for e in fits[1.0].errors) > 1e-3  # the other form misses
    lines = table(list(fits.values()))
    assert lines[4] == "| (1 - U)^2 | 3 | 0.0% | 3 | +0.0% |"


def test_a_run_without_a_burst_is_left_out_and_the_saturated_cpu_is_one() -> None:
    document = _document(1.0)
    document["calibration"]["burst"]["used"] = False
    assert list(backtest("run", document)) == []
    assert cpu_at(2e-3, 1e-3, 1.0, 1000.0) == 1.0


def test_the_committed_documents_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| wake-up probability |") and out[2].startswith("| (1 - U)^1 |")
