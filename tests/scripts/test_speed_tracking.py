"""scripts/speed_tracking.py: the candidate works, the sidecar's samples, a run's windows and
the table of how much of the CPU per request's spread each candidate removes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts import speed_tracking
from scripts.speed_tracking import Window, candidates, tracking_table, windows_of


def test_every_candidate_does_its_work_in_about_a_millisecond() -> None:
    for name, work in candidates().items():
        start = time.thread_time_ns()
        assert work() > 0, name
        ms = (time.thread_time_ns() - start) / 1e6
        assert 0.01 < ms < 100, (name, ms)


def test_a_reference_that_tracks_the_cost_removes_its_spread() -> None:
    # Two runs of three windows: the machine slows by 20% in the second; "follows" slows with
    # it, "flat" does not.
    windows = [
        Window(run, cost, {"follows": cost / 2, "flat": 1.0 + 0.01 * (i % 2)})
        for i, (run, cost) in enumerate(
            [(0, 1.0), (0, 1.0), (0, 1.02), (1, 1.2), (1, 1.2), (1, 1.22)]
        )
    ]
    text = tracking_table(windows)
    assert text.startswith("6 windows over 2 runs;")
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| ")
    }
    follows = rows["follows"].split(" | ")
    flat = rows["flat"].split(" | ")
    assert follows[3] == "+1.00" and follows[4] == "0.0%"  # correlation, spread left overall
    assert float(flat[4].rstrip("%")) > 8.0  # the 20% step is still there


def test_a_run_s_windows_take_the_samples_inside_their_edges(tmp_path: Path) -> None:
    """One run of two measure windows at 10-20 s and 30-40 s; the samples on the epoch clock."""
    run = {
        "started_at": "2026-12-07T10:00:00Z",
        "stages": [
            {"users": 50, "started_at_s": 0.0, "elapsed_s": 10.0},
            {"users": 50, "started_at_s": 10.0, "elapsed_s": 10.0, "throughput_rps": 100.0},
            {"users": 50, "started_at_s": 20.0, "elapsed_s": 10.0},
            {"users": 50, "started_at_s": 30.0, "elapsed_s": 10.0, "throughput_rps": 100.0},
        ],
    }
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "server.json").write_text(json.dumps({"scrapes": []}))
    (tmp_path / "stats").mkdir()
    # the kernel's count: 0.2 cores until 25 s, then 0.3
    lines = [
        f"{t / 2:.1f},{(0.2 * t / 2 if t <= 50 else 5.0 + 0.3 * (t / 2 - 25)):.3f}"
        for t in range(1, 81)
    ]
    (tmp_path / "stats" / "service_cpu.csv").write_text("\n".join(lines) + "\n")
    origin = 1796637600.0  # 2026-12-07T10:00:00Z
    samples = [(origin + t, "int", 1.0 if t < 25 else 2.0) for t in range(0, 41)]
    samples += [(origin + 12.0, "alloc", 5.0)]  # one sample inside the first window only
    first, second = windows_of(3, tmp_path, samples)
    assert first.run == second.run == 3
    assert first.cpu_per_request_ms == pytest.approx(
        2.0
    ) and second.cpu_per_request_ms == pytest.approx(3.0)
    assert first.reference_ms == {"int": 1.0, "alloc": 5.0}
    assert second.reference_ms == {"int": 2.0}


def test_the_sidecar_times_every_candidate_until_stopped(tmp_path: Path) -> None:
    out = tmp_path / "references.csv"
    core = min(os.sched_getaffinity(0))
    sidecar = subprocess.Popen(
        [sys.executable, speed_tracking.__file__, "--sidecar", str(out), "--cpus", str(core)],
        env={**os.environ, "PYTHONPATH": str(Path(speed_tracking.__file__).parent.parent)},
    )
    try:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and (
            not out.exists() or len(out.read_text().splitlines()) < 8
        ):
            time.sleep(0.2)
    finally:
        sidecar.send_signal(signal.SIGTERM)
        assert sidecar.wait(timeout=10) == 0
    names = [line.split(",")[1] for line in out.read_text().splitlines()]
    assert set(names) == {"int", "alloc", "memory", "syscall"} and len(names) >= 8
