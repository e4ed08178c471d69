"""scripts/gc_cost.py: the collector's totals over each measured window, and its table (the
runs themselves are a benchmark); scripts/gc_hook: the hook that logs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.gc_cost import gc_windows, table
from tests.harness.validate.helpers import one_run

ROOT = Path(__file__).resolve().parents[2]


def run_json() -> dict[str, Any]:
    """Two levels, each a 10 s settle then a 10 s measure, from 12:00:00 UTC."""
    stages = []
    for i, users in enumerate((700, 1050)):
        stages.append({"users": users, "started_at_s": 20.0 * i, "elapsed_s": 10.0})
        stages.append(
            {"users": users, "started_at_s": 20.0 * i + 10, "elapsed_s": 10.0, "requests": 10_000}
        )
    return {"started_at": "2026-12-07T12:00:00Z", "stages": stages}


def test_each_window_gets_the_collectors_totals_over_it() -> None:
    t0 = 1796644800.0  # 2026-12-07T12:00:00Z
    log = [
        {"wall": t0 + t, "count": [10 * t, t, t // 10], "seconds": [0.001 * t, 0.0, 0.01 * t]}
        for t in range(0, 41)
    ]
    levels = [one_run(700, 1000.0, 5.0, cpu=0.9), one_run(1050, 1000.0, 200.0, cpu=0.99)]
    near, past = gc_windows(run_json(), levels, log)
    assert near.collections == (100, 10, 1) and near.elapsed_s == pytest.approx(10.0)
    assert near.seconds[0] == pytest.approx(0.01) and near.seconds[2] == pytest.approx(0.1)
    assert past.requests == 10_000
    lines = table([near, past]).splitlines()
    # 0.11 s of collection over 10,000 requests: 0.011 ms a request, 1.2% of 0.9 cores.
    assert lines[2] == (
        "| 700 | 1000.0 | 90% | 0.90 | 5 | 10.0 / 1.0 / 0.1 | 0.001 / 0.000 / 0.010, 0.011 | 1% |"
    )
    assert lines[3].startswith("| 1050 | 1000.0 | 99% | 0.99 | 200 |")
    assert gc_windows(run_json(), levels, []) == []  # no log, no windows


def test_the_hook_logs_each_generations_collections(tmp_path: Path) -> None:
    log = tmp_path / "gc.jsonl"
    code = (
        "import gc, time\n"
        "from scripts.gc_hook.sitecustomize import _install\n"
        f"_install({str(log)!r})\n"
        "gc.collect(0); gc.collect(2); gc.collect(2)\n"
        "time.sleep(1.3)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and records[-1]["count"][0] >= 1 and records[-1]["count"][2] >= 2
    assert all(s >= 0 for s in records[-1]["seconds"])
