"""A replicated validation's spread in the step run's prediction table (validation.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reports import render_run_report
from reports.load import ArtifactError
from tests.reports.factory import RunSpec, write_run
from tests.reports.htmlcheck import parse


def spread(low: float, high: float) -> dict[str, float]:
    return {"min": low, "max": high, "relative_half_range": (high - low) / 2 / ((low + high) / 2)}


def validation(users: int, replications: int) -> dict[str, Any]:
    """A validation.json with one level, as harness validate writes it (keys it reads)."""
    return {
        "levels": [
            {
                "users": users,
                "replications": replications,
                "measured": {"throughput_rps": 712.3, "p50_ms": 30.5, "p95_ms": 98.0},
                "spread": {
                    "throughput_rps": spread(698.2, 725.4),
                    "p50_ms": spread(29.81, 31.2),
                    "p95_ms": spread(91.0, 104.0),
                },
            }
        ]
    }


def write(directory: Path, data: dict[str, Any]) -> None:
    (directory / "validation.json").write_text(json.dumps(data), "utf-8")


def test_the_measure_stage_shows_mean_and_range_over_the_runs(tmp_path: Path) -> None:
    # A validation's paired stages: a settle stage, then the measured one, per level.
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 100, 300, 300)))
    write(run, validation(300, 3))
    report = parse(render_run_report(run))
    measured = report.row("error-table", "S4")
    assert measured[2].endswith("mean 712 req/s (698–725, 3 runs)")
    assert measured[4].endswith("mean 30.5 ms (29.8–31.2, 3 runs)")
    assert measured[6].endswith("mean 98.0 ms (91.0–104, 3 runs)")
    # The settle stage at the same users is not what the validation compared.
    assert "runs" not in " ".join(report.row("error-table", "S3"))
    assert "runs" not in " ".join(report.row("error-table", "S2"))
    assert "each on a freshly started service" in report.section_text("prediction")


@pytest.mark.parametrize(
    "data",
    [
        validation(300, 1),  # one run: there is no spread to show
        {"levels": [{"users": 300, "measured": {}, "relative_error": {}}]},  # before replications
    ],
)
def test_no_spread_without_replications(tmp_path: Path, data: dict[str, Any]) -> None:
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 300)))
    write(run, data)
    report = parse(render_run_report(run))
    assert "runs" not in " ".join(report.row("error-table", "S2"))
    assert "freshly started" not in report.section_text("prediction")


def test_a_malformed_spread_names_the_key(tmp_path: Path) -> None:
    run = write_run(tmp_path / "step", RunSpec(stages=(100, 300)))
    data = validation(300, 2)
    data["levels"][0]["spread"]["p95_ms"]["max"] = "high"
    write(run, data)
    with pytest.raises(ArtifactError, match=r"levels\[0\]\.spread\.p95_ms\.max = 'high'"):
        render_run_report(run)
