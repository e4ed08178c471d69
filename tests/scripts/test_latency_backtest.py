"""scripts/latency_backtest.py: the processor-sharing latency form, refitted per document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.service_curve import ps_stretch_multiple
from scripts.latency_backtest import main, refitted_levels, summary


def _document() -> dict[str, Any]:
    """A run whose curve has a = 2 ms, k = 1 ms; light stages that follow the form exactly
    with floors of 1 ms (mean) and 2 ms (p95, the M/M/1-PS sojourn's multiple of the
    stretch); one judged level at 75% CPU and one that is not judged."""
    a = 2.0

    def stage(u: float) -> dict[str, float]:
        return {
            "cpu_utilization": u,
            "mean_ms": 1.0 + a / (1 - u),
            "p95_ms": 2.0 + ps_stretch_multiple("p95_ms", u) * a / (1 - u),
        }

    judged = {
        "users": 300,
        "judged": True,
        "predicted": {"cpu_utilization": 0.75, "throughput_rps": 0.75 / 2.25e-3},
        "measured": {"mean_ms": 10.0, "p95_ms": 20.0},
        "relative_error": {"mean_ms": -0.5, "p95_ms": -0.6},
    }
    excluded = {**judged, "users": 400, "judged": False}
    return {
        "service_curve": {
            "busy_cpu_ms": a,
            "wake_cpu_ms": 1.0,
            "points": [stage(0.1), stage(0.3)],
        },
        "trials": [
            {"name": "far beyond the calibration", "levels": [judged, excluded]},
            {"name": "lab topology", "levels": [judged]},  # the topology model's, left out
        ],
    }


def test_the_floor_comes_from_the_light_stages_and_the_stretch_from_the_busy_cost() -> None:
    (level,) = refitted_levels("run", _document())
    assert level.users == 300 and level.recorded["mean_ms"] == -0.5
    # 333 req/s at 75% CPU is 2.25 ms a request, the curve's a + k(1 - U) exactly: scale 1
    assert level.refitted["mean_ms"] == pytest.approx((1.0 + 2.0 / 0.25) / 10.0 - 1.0)
    p95 = 2.0 + ps_stretch_multiple("p95_ms", 0.75) * 2.0 / 0.25
    assert level.refitted["p95_ms"] == pytest.approx(p95 / 20.0 - 1.0)
    # a mix 20% heavier per request has its stretch 20% longer
    heavier = _document()
    heavier["trials"][0]["levels"][0]["predicted"]["throughput_rps"] = 0.75 / 2.7e-3
    (level,) = refitted_levels("run", heavier)
    assert level.refitted["mean_ms"] == pytest.approx((1.0 + 1.2 * 2.0 / 0.25) / 10.0 - 1.0)


def test_the_summary_counts_levels_within_each_goal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    levels = list(refitted_levels("run", _document()))
    text = summary(levels)
    assert "| mean_ms | as run | 1 | -50.0% | 50.0% | 0 (±15%) |" in text
    assert "| mean_ms | processor sharing | 1 | -10.0% | 10.0% | 1 (±15%) |" in text
    (tmp_path / "20261207T000000Z.json").write_text(json.dumps(_document()))
    (tmp_path / "20261207T010000Z.json").write_text(json.dumps({"trials": []}))  # no curve
    assert main(tmp_path) == 0
    assert "| p95_ms | processor sharing | 1 |" in capsys.readouterr().out
