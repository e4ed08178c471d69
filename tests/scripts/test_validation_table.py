"""The README's validation headline is generated from committed documents, misses included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts import validation_table


def level(users: int, cpu_error: float, judged: bool = True) -> dict[str, Any]:
    return {
        "users": users,
        "predicted": {"throughput_rps": 100.0, "cpu_utilization": 0.42, "mean_ms": 5.0,
                      "p95_ms": 12.0},
        "measured": {"throughput_rps": 99.0, "cpu_utilization": 0.42 / (1 + cpu_error),
                     "mean_ms": 5.1, "p95_ms": 11.5},
        "relative_error": {"cpu_utilization": cpu_error, "mean_ms": -0.02, "p95_ms": 0.04},
        "baseline": {"throughput_rps": 101.0},
        "baseline_error": {"cpu_utilization": 0.3, "mean_ms": -0.4, "p95_ms": -0.5},
        "judged": judged,
        "excluded_because": None if judged else "predicted CPU 95% is above the goals' 85%",
        "meets_goals": abs(cpu_error) <= 0.1 if judged else None,
    }  # fmt: skip


def document(cpu_error: float) -> dict[str, Any]:
    met = abs(cpu_error) <= 0.1
    misses = (
        [] if met else [f"far beyond the calibration: 200 users: cpu_utilization {cpu_error:+.1%}"]
    )
    return {
        "schema_version": 2,
        "trials": [
            {
                "name": "far beyond the calibration",
                "complete": True,
                "levels": [level(200, cpu_error), level(600, 0.2, judged=False)],
                "summary": {
                    "levels_judged": 1, "goals_met": met,
                    "worst_abs_relative_error": {"cpu_utilization": abs(cpu_error),
                                                 "mean_ms": 0.02, "p95_ms": 0.04},
                    "baseline_worst_abs_relative_error": {"cpu_utilization": 0.3,
                                                          "mean_ms": 0.4, "p95_ms": 0.5},
                },
                "saturation": {"judged": True, "relative_error": -0.06, "baseline_error": -0.4},
            }
        ],
        "summary": {"goals_met": met, "misses": misses},
    }  # fmt: skip


def test_every_run_is_a_row_and_the_latest_names_its_misses(tmp_path: Path) -> None:
    for name, error in (("20261206T100000Z", 0.05), ("20261206T110000Z", -0.18)):
        (tmp_path / f"{name}.json").write_text(json.dumps(document(error)), encoding="utf-8")
    block = validation_table.generate(validation_table.load_documents(tmp_path))
    lines = block.splitlines()
    assert lines[0] == validation_table.BEGIN and lines[-1] == validation_table.END
    rows = [line for line in lines if line.startswith("| 20261206T")]
    assert len(rows) == 2  # every run, the missed one too
    assert rows[0].endswith("| -6.0% (-40.0%) | met |")
    assert "18.0% (30.0%)" in rows[1] and rows[1].endswith("| **missed** |")
    assert "Latest run (20261206T110000Z): 1 judged goal(s) missed: far beyond" in block
    assert "| far beyond the calibration | 200 | 42% / 51%, -18.0% (+30.0%)" in block
    assert "no: predicted CPU 95% is above the goals' 85%" in block


def test_a_document_of_another_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text('{"schema_version": 1}', encoding="utf-8")
    with pytest.raises(SystemExit, match="schema_version 1, not 2"):
        validation_table.load_documents(tmp_path)


def test_the_readme_and_benchmarks_tables_are_up_to_date() -> None:
    assert validation_table.main(["--check"]) == 0, "run scripts/validation_table.py --write"


def test_an_instance_decision_gets_its_own_table_with_both_sides() -> None:
    def count(instances: int, p95: float, cpu: float, holds: bool) -> dict[str, Any]:
        return {"instances": instances, "p95_ms": p95, "cpu_per_instance": cpu, "holds": holds}

    decided: dict[str, Any] = {
        "schema_version": 2,
        "settings": {"calibration_s": 15.0, "min_measure_s": 20.0},
        "trials": [],
        "decision": {
            "planned": {
                "users": 64, "instances": 3, "cpu_limit": 0.25,
                "predicted": [count(2, 246, 0.87, False), count(3, 75, 0.58, True),
                              count(4, 65, 0.44, True)],
            },
            "measured": [count(2, 95, 0.88, False), count(3, 57, 0.64, True),
                         count(4, 173, 0.63, True)],
            "right": True,
        },
        "summary": {"goals_met": True, "misses": []},
    }  # fmt: skip
    block = validation_table.generate([("20261206T122300Z", decided)])
    assert "| run | trial |" not in block  # no single-instance trial ran: no empty table
    row = next(line for line in block.splitlines() if line.startswith("| 20261206T122300Z"))
    assert "calibration 15 s, measure 20 s" in row and "64 users" in row
    assert "246 ms, 87%, breaks → 95 ms, 88%, breaks" in row
    assert row.endswith("| right | not recorded |")  # a run from before the baseline's K
    wrong = {**decided, "decision": {**decided["decision"], "right": False}}
    assert "| **wrong** |" in validation_table.generate([("x", wrong)])
    # the naive baseline's K beside the model's: here it says 2, which broke
    baseline = {
        **decided,
        "decision": {**decided["decision"], "baseline_instances": 2, "baseline_right": False},
    }
    rows = validation_table.generate([("y", baseline)]).splitlines()
    assert any(line.endswith("| right | 2 (**wrong**) |") for line in rows)

    # two interleaved runs per count: the mean judged, each run's CPU in the order they ran
    replicated = {
        **decided,
        "settings": {"calibration_s": 30.0, "decision_measure_s": 15.0, "decision_replications": 2},
        "decision": {
            **decided["decision"],
            "measured": [
                {**count(3, 57, 0.72, False),
                 "replications": [{"order": 2, "cpu_per_instance": 0.66},
                                  {"order": 5, "cpu_per_instance": 0.78}]},
            ],
        },
    }  # fmt: skip
    lines = validation_table.generate([("z", replicated)]).splitlines()
    line = next(one for one in lines if one.startswith("| z "))
    assert "calibration 30 s, measure 15 s × 2" in line
    assert "75 ms, 58%, holds → 57 ms, 72% (66%, 78%), breaks" in line


def test_a_lab_topology_trial_gets_its_own_table_with_the_connections() -> None:
    topology = level(60, 0.04)
    topology["measured"]["cpu_per_instance"] = [0.4, 0.42, 0.44]
    topology["pooler"] = {
        "predicted": {"busy_mean": 0.55, "busy_p95": 2.0},
        "measured": {"busy_mean": 2.33, "busy_p95": 4.0},
        "meets_goal": False,
    }
    ran = {
        "schema_version": 2,
        "trials": [
            {"name": "lab topology", "complete": True, "lab": {"instances": 3, "cpu_limit": 0.25},
             "levels": [topology], "summary": {"levels_judged": 1, "goals_met": False}},
        ],
        "summary": {"goals_met": False, "misses": ["lab topology: 60 users: connections"]},
    }  # fmt: skip
    block = validation_table.generate([("20261206T141550Z", ran)])
    assert "The lab topology trial (predicted → measured" in block
    row = next(line for line in block.splitlines() if line.startswith("| 20261206T141550Z | 3 ×"))
    assert "| 3 × 0.25 cores | 60 | 42% / 40%, +4.0% (+30.0%) |" in row
    assert "0.55 (p95 2) → 2.33 (p95 4) **missed**" in row
    assert validation_table.topology_table([("x", document(0.05))]) == []  # no lab trial
