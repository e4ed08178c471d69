"""scripts/background_backtest.py: refit each run with a background CPU chosen by the
calibration's own residual, and judge both fits on the run's own-mix trials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.background_backtest import FITS, backtest, fits, main, table

BACKGROUND, BUSY, WAKE = 0.02, 2.0e-3, 1.0e-3


def _cpu(x: float) -> float:
    """A service that burns ``BACKGROUND`` cores whatever its load, on the curve's law."""
    return (BACKGROUND + x * (BUSY + WAKE)) / (1.0 + x * WAKE)


def _point(x: float) -> dict[str, float]:
    return {"throughput_rps": x, "cpu_utilization": _cpu(x), "mean_ms": 4.0, "p50_ms": 3.5,
            "p95_ms": 9.0 + x / 100}  # fmt: skip


def _document() -> dict[str, Any]:
    burst = {"throughput_rps": 60.0, "cpu_utilization": BACKGROUND + 60.0 * BUSY + WAKE / 1.0,
             "period_s": 1.0, "in_service": 30.0, "used": True}  # fmt: skip
    levels = [
        {"users": users, "judged": True, "predicted": {"cpu_utilization": placed},
         "measured": {"throughput_rps": x, "cpu_utilization": _cpu(x), "mean_ms": 5.0,
                      "p95_ms": 12.0}}
        for users, x, placed in ((40, 40.0, 0.15), (200, 250.0, 0.65))
    ]  # fmt: skip
    levels.append({"users": 900, "judged": False, "measured": levels[0]["measured"]})
    return {
        "service_curve": {"points": [_point(20.0), _point(60.0), _point(100.0)]},
        "calibration": {"burst": burst},
        "trials": [
            {"name": "far beyond the calibration", "levels": levels},
            {"name": "held-out mix", "levels": levels},  # another mix: not this script's
        ],
    }


def test_a_service_with_a_background_gets_it_back_and_its_levels_exactly() -> None:
    fitted = fits(_document())
    assert fitted is not None
    curves, background = fitted
    assert background == pytest.approx(BACKGROUND)
    assert curves[FITS[0]].background == 0.0
    errors = list(backtest("run", _document()))
    plain = [e for e in errors if e.fit == FITS[0]]
    with_background = [e for e in errors if e.fit == FITS[1]]
    assert len(plain) == len(with_background) == 2  # the judged levels of the one own-mix trial
    assert [e.cpu for e in with_background] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert plain[0].cpu < -0.02  # through the origin: the light level under-predicted
    assert [e.placed_cpu for e in plain] == [0.15, 0.65]


def test_a_run_without_a_burst_stage_is_left_out() -> None:
    document = _document()
    document["calibration"]["burst"] = None
    assert fits(document) is None
    assert list(backtest("run", document)) == []


def test_the_table_counts_each_fit_and_each_placed_level(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = table(list(backtest("run", _document())))
    assert lines[2].startswith("| b = 0 | 2 |") and lines[3].startswith("| b fitted | 2 | 2 |")
    assert "placed at 15%" in lines[5] and "placed at 65%" in lines[5]
    assert lines[-1].startswith("| b fitted |") and lines[-1].count("(1/1)") == 2
    path = tmp_path / "run.json"
    path.write_text(json.dumps(_document()))
    assert main([str(path)]) == 0
    assert "| b fitted | 2 | 2 |" in capsys.readouterr().out
