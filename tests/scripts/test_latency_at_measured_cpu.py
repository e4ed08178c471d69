"""scripts/latency_at_measured_cpu.py: each judged replication predicted at the CPU the model
predicted and at the CPU measured, grouped by the measured CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.latency_at_measured_cpu import curve_latency_ms, main, replications, summary

CURVE: dict[str, Any] = {
    "ps_stretch": False,  # the fitted lines: a multiple of 1, the arithmetic by hand
    "burst": {"period_s": 1.0},
    "latency": {
        "mean_ms": {"floor_ms": 2.0, "stretched_ms": 1.0, "wake_on_path_ms": 0.0},
        "p95_ms": {"floor_ms": 4.0, "stretched_ms": 2.0, "wake_on_path_ms": 0.0},
    },
}


def _document(measured_cpu: float, predicted_cpu: float = 0.5) -> dict[str, Any]:
    # the curve at 50% CPU: mean 2 + 1/0.5 = 4 ms, p95 4 + 2/0.5 = 8 ms
    predicted = {"cpu_utilization": predicted_cpu, "mean_ms": 4.0, "p95_ms": 8.0}
    measured = {"cpu_utilization": measured_cpu, "mean_ms": 4.0, "p95_ms": 8.0}
    return {
        "service_curve": CURVE,
        "trials": [
            {
                "name": "far beyond the calibration",
                "levels": [
                    {"users": 100, "predicted": predicted, "per_replication": [measured]},
                    # predicted past the goals' CPU limit: not judged, left out
                    {
                        "users": 300,
                        "predicted": {**predicted, "cpu_utilization": 0.95},
                        "per_replication": [measured],
                    },
                ],
            },
            # another mix: the curve would need scaling, left out
            {"name": "held-out mix", "levels": [{"users": 100, "predicted": predicted}]},
        ],
    }


def test_the_curve_is_evaluated_as_its_record_says() -> None:
    assert curve_latency_ms(CURVE, "mean_ms", 0.5) == pytest.approx(4.0)
    assert curve_latency_ms(CURVE, "p95_ms", 0.75) == pytest.approx(12.0)
    # at or past saturation the stretch is held just under it, never infinite
    assert curve_latency_ms(CURVE, "mean_ms", 1.2) == pytest.approx(2.0 + 1.0 / 0.001)


def test_a_miss_of_the_cpu_shows_as_judged_and_not_at_the_measured_cpu() -> None:
    # measured 75% where 50% was predicted: the latency measured is what the curve gives at 75%
    document = _document(measured_cpu=0.75)
    document["trials"][0]["levels"][0]["per_replication"][0].update(mean_ms=6.0, p95_ms=12.0)
    (one,) = replications("run", document)
    assert one.users == 100 and one.measured_cpu == 0.75
    assert one.at_measured == {"mean_ms": pytest.approx(0.0), "p95_ms": pytest.approx(0.0)}
    assert one.as_judged["mean_ms"] == pytest.approx(4.0 / 6.0 - 1)


def test_documents_without_a_curve_or_its_burst_stage_give_nothing() -> None:
    assert list(replications("old", {**_document(0.5), "service_curve": None})) == []
    no_burst = {**_document(0.5), "service_curve": {**CURVE, "burst": None}}
    assert list(replications("old", no_burst)) == []


def test_the_summary_groups_by_measured_cpu_and_counts_the_goals() -> None:
    found = [
        *replications("a", _document(measured_cpu=0.4)),
        *replications("b", _document(measured_cpu=0.9)),
    ]
    text = summary(found)
    assert "| 0%-50% | 1 |" in text and "| 85%-100% | 1 |" in text
    # the run at 40% measured exactly what was predicted: within both goals as judged
    assert "| 0%-50% | 1 | 0% (1/1 within)" in text


def test_main_reads_a_directory_and_says_when_nothing_qualifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tmp_path) == 1
    assert "no document" in capsys.readouterr().out
    (tmp_path / "20261207T000000Z.json").write_text(json.dumps(_document(0.9)))
    assert main(tmp_path) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 replications of judged levels in 1 runs")
    assert "| 20261207T000000Z | far beyond the calibration | 100 |" in out


def test_a_cpu_a_hair_over_one_core_falls_in_the_top_band() -> None:
    (one,) = replications("run", _document(measured_cpu=1.002))
    assert "| 85%-100% | 1 |" in summary([one])
