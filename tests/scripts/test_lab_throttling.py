"""scripts/lab_throttling.py: the CFS quota model against the kernel's counters, per level."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.cpu_quota import quota_delay
from scripts.lab_throttling import document_rows, main, table


def _document(throttling: list[dict[str, float]]) -> dict[str, Any]:
    """A lab run: 3 instances of 0.25 cores, idle 0.02 cores each; at 60 users they served
    90 req/s at 60% CPU each, so 30 req/s of (0.15 - 0.02) / 30 = 4.33 ms each."""
    level = {
        "users": 60,
        "measured": {"throughput_rps": 90.0, "cpu_utilization": 0.6, "throttling": throttling},
    }
    return {
        "trials": [
            {"name": "lab topology", "levels": [level],
             "lab": {"instances": 3, "cpu_limit": 0.25, "workers_per_instance": 1}}
        ],
        "decision": {"calibration": {"lab_demands": {"idle_cpu_cores": 0.02}}},
    }  # fmt: skip


def test_a_level_sets_the_kernel_beside_the_model_on_the_measured_load() -> None:
    groups = [
        {"throttled_share": 0.2, "throttled_time_share": 0.04},
        {"throttled_share": 0.1, "throttled_time_share": 0.02},
    ]
    (row,) = document_rows("run", _document(groups))
    # The three instances share the lab's one service core: a third of it each in a backlog.
    model = quota_delay(30.0, 0.13 / 30.0, 0.25, 0.1, 1, contended_cores=1 / 3)
    assert row[:4] == ["run", "60", "60%", "30.0 / 4.33 ms"]
    assert row[4] == f"0.150 / {model.throttled_share:.3f}"
    assert row[5] == f"0.030 / {model.throttled_time_share:.3f}"
    stall = model.throttled_time_share / model.throttled_share * 100.0
    assert row[6] == f"20 / {stall:.0f}"  # 0.03 / 0.15 of a 100 ms period
    # A backlog spends the 25 ms budget in at least 75 ms: the stall is at most 25 ms.
    assert 0.0 < stall <= 25.0


def test_levels_without_the_counters_are_left_out(tmp_path: Path) -> None:
    assert list(document_rows("old", _document([]))) == []
    (tmp_path / "a.json").write_text(json.dumps(_document([])), encoding="utf-8")
    assert table(tmp_path).count("\n") == 2  # the header alone


def test_the_committed_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("| run | users |")
    assert main(["--bad"]) == 2
