"""scripts/validation_timing.py: each run's time from the stamps its document names, summed
per part, beside the plan and the budget."""

from __future__ import annotations

from typing import Any

import pytest

from scripts.validation_timing import DOCUMENTS, main, part_minutes, table, timed_runs


def _run(stamp: str) -> str:
    return f"/tmp/valruns/20261207T100000Z-validate/{stamp}-step"


#: A --lab validation of 20 minutes: the runs start at the stamps below.
DOCUMENT: dict[str, Any] = {
    "started_at": "2026-12-07T10:00:00Z",
    "finished_at": "2026-12-07T10:20:00Z",
    "protocol": {"planned_duration_s": {"expected": 1140, "at_most": 3000}},
    "calibration": {
        "pilot_run": _run("20261207T100000Z"),
        "run": _run("20261207T100030Z"),
        "burst": {"run": _run("20261207T100230Z")},
        "deep_burst": {"run": _run("20261207T100245Z")},  # counted with the burst stage
    },
    "trials": [
        {
            "name": "far beyond the calibration",
            "runs": [_run("20261207T100300Z"), _run("20261207T100800Z")],
        },
        {"name": "lab topology", "runs": [_run("20261207T101700Z")]},
    ],
    "decision": {
        "calibration": {"pilot_run": _run("20261207T101300Z"), "run": _run("20261207T101330Z")},
        "measured": [
            {"run": _run("20261207T101500Z"), "replications": [{"run": _run("20261207T101500Z")}]},
            # a document from before the replications: the count's own run
            {"run": _run("20261207T101600Z")},
        ],
    },
}


def test_each_run_lasts_until_the_next_starts_and_the_last_until_the_end() -> None:
    runs = timed_runs(DOCUMENT)
    assert [run.part for run in runs] == [
        "pilot",
        "calibration",
        "burst stage",
        "burst stage",
        "far beyond the calibration",
        "far beyond the calibration",
        "lab pilot",
        "lab calibration",
        "instance decision",
        "instance decision",
        "lab topology",
    ]
    assert [run.seconds for run in runs] == [30, 120, 15, 15, 300, 300, 30, 90, 60, 60, 180]


def test_the_parts_add_up_to_the_whole_and_the_table_says_against_what() -> None:
    parts, total = part_minutes(DOCUMENT)
    assert total == 20.0 and sum(parts.values()) == pytest.approx(20.0)
    assert parts["far beyond the calibration"] == 10.0 and parts["instance decision"] == 2.0
    header, rule, row = table([("20261207T100000Z", DOCUMENT)])
    assert header.startswith("| run | pilot | calibration | burst | far |")
    assert header.endswith("| total | planned | budget |") and rule.count("---") == 12
    assert row.endswith("| 20.0 | 19.0 | within |")
    over = {**DOCUMENT, "finished_at": "2026-12-07T10:31:00Z"}
    assert table([("x", over)])[-1].endswith("| 31.0 | 19.0 | over |")
    # a document without the lab's parts is not a --lab validation: no row
    single = {**DOCUMENT, "decision": None}
    assert table([("x", single)])[2:] == []


def test_every_committed_lab_document_gets_a_row(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) >= 20 and all(row.endswith(("within |", "over |")) for row in rows)
    # the run that went over by half a minute, 20261207T090147Z, reads as such
    assert any(row.startswith("| 20261207T090147Z |") and "31.5" in row for row in rows)
    assert DOCUMENTS.is_dir()
