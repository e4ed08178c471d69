"""scripts/shallow_backtest.py: refit each run that measured the busy cost's depth law with it
below the burst's depth, and judge both fits on the run's own-mix trials."""

from __future__ import annotations

import math
from typing import Any

import pytest

from scripts.shallow_backtest import FITS, at_throughput, backtest, fits, main, table

BUSY, WAKE, PER_E_FOLD = 2.0e-3, 1.5e-3, 0.1e-3


def _point(x: float, depth: float) -> dict[str, float]:
    """A light stage of a service that follows the law below the burst's depth of 40."""
    busy = BUSY + PER_E_FOLD * math.log(depth / 40.0)
    u = x * (busy + WAKE) / (1.0 + x * WAKE)
    mean = depth * u / x * 1e3
    return {"throughput_rps": x, "cpu_utilization": u, "mean_ms": mean, "p50_ms": mean,
            "p95_ms": 2.5 * mean}  # fmt: skip


def _burst(depth: float, period: float) -> dict[str, Any]:
    busy = BUSY + PER_E_FOLD * math.log(depth / 40.0)
    return {"throughput_rps": 150.0, "cpu_utilization": 150.0 * busy + WAKE / period,
            "period_s": period, "in_service": depth, "used": True}  # fmt: skip


def _document() -> dict[str, Any]:
    document: dict[str, Any] = {
        "service_curve": {"points": [_point(30.0, 1.5), _point(80.0, 2.0), _point(120.0, 3.0)]},
        "calibration": {"burst": _burst(40.0, 1.0), "deep_burst": _burst(160.0, 4.0)},
    }
    below = fits(document)
    assert below is not None
    # levels measured exactly as the law, at its own depth, would have them
    levels = []
    for x in (150.0, 250.0):
        cpu, mean, p95 = at_throughput(below[FITS[1]], x)
        measured = {"throughput_rps": x, "cpu_utilization": cpu, "mean_ms": mean, "p95_ms": p95}
        levels.append({"users": int(x), "judged": True, "measured": measured})
    levels.append({"users": 900, "judged": False, "measured": levels[0]["measured"]})
    document["trials"] = [
        {"name": "far beyond the calibration", "levels": levels},
        {"name": "held-out mix", "levels": levels},  # another mix: not this script's
    ]
    return document


def test_a_service_that_follows_the_law_is_predicted_exactly_below_the_depth() -> None:
    errors = list(backtest("run", _document()))
    below = [e for e in errors if e.fit == FITS[1]]
    judged = [e for e in errors if e.fit == FITS[0]]
    assert len(below) == len(judged) == 2  # two judged levels of the one own-mix trial
    assert [e.cpu for e in below] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert [e.mean for e in below] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert [e.p95 for e in below] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert all(e.cpu > 0.01 for e in judged)  # the burst's a at every level: too dear
    lines = table(errors)
    assert lines[2].startswith("| run | without the law | +")
    assert lines[-1] == "| below the depth | 2 | 2 | 0.0% | 2 | 0.0% | 2 | 0.0% |"


def test_a_run_without_both_depths_is_left_out() -> None:
    document = _document()
    document["calibration"]["deep_burst"]["in_service"] = None
    assert list(backtest("run", document)) == []
    document["calibration"]["deep_burst"] = None
    assert fits(document) is None


def test_the_committed_documents_print(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| run | fit |") and out[-1].startswith("| below the depth |")
