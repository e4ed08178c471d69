"""scripts/held_load_drift.py: a held run's windows from its scrapes, speed reference and
timeline, and the table of how far they moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.held_load_drift import main, table, windows_of


def _scrape(t_s: float, requests: float, route_cpu_s: float, cpu_s: float) -> dict[str, Any]:
    return {
        "t_s": t_s,
        "cpu_seconds": cpu_s,
        "routes": {
            "GET /jobs": {"requests": requests, "cpu_seconds": route_cpu_s},
            "GET /health/ready": {"requests": 1.0, "cpu_seconds": 0.0},
        },
    }


def _held_run() -> tuple[list[dict[str, Any]], list[tuple[float, float]], list[dict[str, Any]]]:
    """Scrapes every 2 s from 0 to 40 s: 500 req/s at 1 ms a request (0.5 ms the route's)
    for 20 s, then the same rate at 1.2 ms (the route's 0.7 ms); the reference flat."""
    scrapes, requests, route, cpu = [], 0.0, 0.0, 0.0
    for t in range(0, 42, 2):
        scrapes.append(_scrape(float(t), requests, route, cpu))
        slow = t >= 20
        requests += 1000
        route += 1000 * (0.7e-3 if slow else 0.5e-3)
        cpu += 1000 * (1.2e-3 if slow else 1.0e-3)
    reference = [(t / 2, 1.0) for t in range(0, 80)]
    timeline = [
        {"t_s": float(t), "stage": 1, "p50_ms": 40.0 if t >= 24 else 5.0, "p95_ms": 90.0}
        for t in range(0, 42, 2)
    ]
    return scrapes, reference, timeline


def test_windows_split_the_cost_into_the_routes_and_the_rest() -> None:
    scrapes, reference, timeline = _held_run()
    windows = windows_of(scrapes, reference, timeline, 0.0, 40.0, 10.0)
    assert [w.start_s for w in windows] == [0.0, 10.0, 20.0, 30.0]
    first, last = windows[0], windows[-1]
    assert first.requests_per_s == pytest.approx(500.0)
    assert first.cpu == pytest.approx(0.5)
    assert first.route_ms == pytest.approx(0.5) and first.rest_ms == pytest.approx(0.5)
    assert last.cpu_per_request_ms == pytest.approx(1.2)
    assert last.route_ms == pytest.approx(0.7)
    assert first.reference_ms == pytest.approx(1.0)
    # the slowest of the client's 2 s windows inside each window
    assert first.p50_ms == 5.0 and windows[2].p50_ms == 40.0


def test_a_window_whose_scrapes_came_late_is_left_out() -> None:
    scrapes, reference, timeline = _held_run()
    # no scrape from 4 s to 18 s: the one nearest the first window's end (10 s) is at 2 s,
    # two seconds after its start
    sparse = [s for s in scrapes if s["t_s"] <= 2 or s["t_s"] >= 20]
    windows = windows_of(sparse, reference, timeline, 0.0, 40.0, 10.0)
    assert [w.start_s for w in windows] == [10.0, 20.0, 30.0]


def test_the_table_says_how_far_each_quantity_moved() -> None:
    scrapes, reference, timeline = _held_run()
    text = table(windows_of(scrapes, reference, timeline, 0.0, 40.0, 10.0))
    assert text.count("\n| ") == 4  # a row a window, under the header
    assert "CPU per request +20.0% (routes +40.0%, the rest +0.0%)" in text
    assert "speed reference +0.0%" in text


def test_a_finished_run_is_tabulated_from_its_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scrapes, reference, timeline = _held_run()
    (tmp_path / "stats").mkdir()
    (tmp_path / "server.json").write_text(json.dumps({"scrapes": scrapes}))
    (tmp_path / "stats" / "timeseries.json").write_text(json.dumps({"records": timeline}))
    (tmp_path / "stats" / "speed_reference.csv").write_text(
        "".join(f"{t},{ms}\n" for t, ms in reference)
    )
    assert main(["--run", str(tmp_path), "--window-s", "10", "--hold-s", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run: {tmp_path}") and "| 30 | 500 | 60.0% | 1.200 |" in out


def test_bad_arguments_are_refused_before_any_run() -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--window-s", "1"])
    assert refused.value.code == 2
