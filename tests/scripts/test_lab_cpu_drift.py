"""scripts/lab_cpu_drift.py: the lab's CPU per request against its calibration, per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.lab_cpu_drift import drift_row, main, table


def _document(*, new_style: bool) -> dict[str, Any]:
    """A lab run: line 0.02 cores + 3 ms per request, 3 instances of 0.25 cores."""
    level_cpu = {40: 0.4, 80: 0.7}
    levels = [
        {"users": users, "measured": {"cpu_utilization": cpu, "throughput_rps": users * 1.25}}
        for users, cpu in level_cpu.items()
    ]
    predicted: dict[str, Any] = {"instances": 3, "cpu_per_instance": 0.6}
    if new_style:
        predicted["throughput_rps"] = 75.0
    return {
        "trials": [
            {"name": "lab topology", "lab": {"instances": 3, "cpu_limit": 0.25}, "levels": levels}
        ],
        "decision": {
            "calibration": {"lab_demands": {"idle_cpu_cores": 0.02, "cpu_cores_per_rps": 0.003}},
            "planned": {"users": 60, "instances": 3, "predicted": [predicted]},
            "measured": [{"instances": 3, "cpu_per_instance": 0.66}],
            "right": True,
        },
    }


def test_a_row_takes_the_idle_line_off_and_compares_like_with_like() -> None:
    row = drift_row("run", _document(new_style=True))
    assert row is not None
    # (0.4 x 0.25 - 0.02) x 3 / 50 = 4.8 ms; (0.7 x 0.25 - 0.02) x 3 / 100 = 4.65 ms
    assert row[2] == "4.80 / 4.65"
    assert row[4] == "66% / 60%"
    # the topology trial at 60 users (between 40 and 80): 0.55; the decision measured 0.66
    assert row[5] == "1.20"
    assert row[6] == "right"
    # an older document's planned figure is the workers' share of 0.23 cores: 0.6 -> 63.2%
    old = drift_row("run", _document(new_style=False))
    assert old is not None and old[4] == "66% / 63%"


def test_k_run_twice_shows_each_run_beside_the_mean() -> None:
    document = _document(new_style=True)
    document["decision"]["measured"] = [
        {
            "instances": 3,
            "cpu_per_instance": 0.66,
            "replications": [{"cpu_per_instance": 0.62}, {"cpu_per_instance": 0.7}],
        }
    ]
    row = drift_row("run", document)
    assert row is not None and row[4] == "66% (62%, 70%) / 60%"


def test_runs_without_a_lab_line_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(_document(new_style=True)), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"trials": []}), encoding="utf-8")
    text = table(tmp_path)
    assert text.count("\n") == 3 and "| a |" in text and "| b |" not in text


def test_the_committed_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    # the run whose decision went wrong with the line 0.031 + 3.12 ms (docs/lab.md)
    assert "| 20261206T182312Z | 0.031 + 3.12 ms |" in out and "76% / 63% | 0.93 | wrong |" in out
    assert main(["--bad"]) == 2
