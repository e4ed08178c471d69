"""From a calibration run's files to the service curve, and the fallback when it cannot fit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.validate_run import calibration_points, fit_curve
from models.profile import load_profile

#: Three calibration loads: (throughput req/s, CPU cores busy, mean, p50, p95 in ms).
LOADS = [(27.0, 0.10, 3.4, 3.1, 6.5), (132.0, 0.54, 3.6, 2.7, 8.4), (262.0, 0.82, 3.8, 2.6, 9.5)]


def write_run(directory: Path, loads: list[tuple[float, float, float, float, float]]) -> Path:
    """A run directory whose stages alternate settle (10 s) and measure (30 s) per load."""
    stages: list[dict[str, Any]] = []
    scrapes: list[dict[str, Any]] = []
    t, cpu = 0.0, 0.0
    for i, (x, u, mean, p50, p95) in enumerate(loads):
        stages.append({"index": 2 * i, "users": 20 * (i + 1), "started_at_s": t, "elapsed_s": 10})
        t += 10.0
        cpu += 10.0 * u
        measure = {
            "index": 2 * i + 1,
            "users": 20 * (i + 1),
            "started_at_s": t,
            "elapsed_s": 30.0,
            "throughput_rps": x,
            "mean_ms": mean,
            "p50_ms": p50,
            "p95_ms": p95,
            "requests": int(30 * x),
            "error_rate": 0.0,
        }
        stages.append(measure)
        for _ in range(16):  # a scrape every 2 s across the measure stage
            scrapes.append({"t_s": t, "cpu_seconds": cpu})
            t += 2.0
            cpu += 2.0 * u
        t -= 2.0
        cpu -= 2.0 * u
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps({"stages": stages}))
    (directory / "server.json").write_text(json.dumps({"scrapes": scrapes}))
    return directory


def test_points_come_from_the_measure_stages(tmp_path: Path) -> None:
    points = calibration_points(write_run(tmp_path / "run", LOADS))
    assert [p.throughput_rps for p in points] == [27.0, 132.0, 262.0]
    for point, (_, u, mean, _, p95) in zip(points, LOADS, strict=True):
        assert point.cpu_utilization == pytest.approx(u)
        assert point.latency_ms["mean_ms"] == mean and point.latency_ms["p95_ms"] == p95


def test_the_curve_is_fitted_and_recorded(tmp_path: Path) -> None:
    document: dict[str, Any] = {}
    curve = fit_curve(write_run(tmp_path / "run", LOADS), load_profile(), document)
    assert curve is not None and "service_curve_error" not in document
    assert curve.reference_demand_s > 0
    # Two parameters for three loads: the CPU is reproduced within a few points, and the
    # saturation point lies beyond the highest load the calibration sustained.
    for x, u, *_ in LOADS:
        assert curve.utilization(x) == pytest.approx(u, abs=0.05)
    assert curve.max_throughput_rps > LOADS[-1][0]


def test_one_load_falls_back_with_the_reason(tmp_path: Path) -> None:
    document: dict[str, Any] = {}
    run = write_run(tmp_path / "run", LOADS[:1])
    assert fit_curve(run, load_profile(), document) is None
    assert "two or more loads" in document["service_curve_error"]
