"""``harness simulate``: writes the series, prints totals, JSON, exit codes, the report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def test_writes_csv_and_json_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    code = main(["simulate", "--hours", "0.05", "--seed", "3", "--out", str(out)])
    assert code == ExitCode.OK
    printed = capsys.readouterr().out
    assert "09:00" in printed and "20,000" in printed and "assumptions:" in printed
    with (out / "simulation.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert float(rows[0]["users"]) == 20_000
    document = json.loads((out / "simulation.json").read_text(encoding="utf-8"))
    assert document["method"] == "simulation"
    assert document["totals"]["requests"]["mean"] == sum(float(r["requests"]) for r in rows)
    assert (out / "profile.toml").read_text(encoding="utf-8").startswith("schema_version")
    # Three minutes of the launch hour are not a day: no monthly bill, and the output says why.
    assert document["cost_monthly_usd"] is None and document["cost_basis"] is None
    assert "simulate 24 hours or more" in printed


def test_same_seed_writes_the_same_series(tmp_path: Path) -> None:
    def series(seed: int, name: str) -> str:
        out = tmp_path / name
        assert main(["simulate", "--hours", "0.05", "--seed", str(seed), "--json",
                     "--out", str(out)]) == ExitCode.OK  # fmt: skip
        return (out / "simulation.csv").read_text(encoding="utf-8")

    first = series(7, "a")
    assert series(7, "b") == first
    assert series(8, "c") != first


def test_json_fast_whole_day(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--fast", "--hours", "24", "--json", "--out", str(tmp_path)])
    assert code == ExitCode.OK
    document = json.loads(capsys.readouterr().out)
    assert document["method"] == "fastpath"
    assert len(document["minutes"]) == 1440
    assert document["minutes"][0]["time_s"] == 0.0  # a whole day starts at midnight
    assert document["totals"]["peak_users"]["mean"] == 20_000
    assert document["breaches"] == []
    # A whole day is priced on its own billed instance-hours (8 instances all day here).
    cost = document["cost_monthly_usd"]
    assert set(cost) == {"compute", "database", "cache", "storage_cdn", "monitoring", "total"}
    assert cost["total"] == pytest.approx(8060.0, rel=0.01)  # the cache tier: $60, not $500
    assert document["cost_basis"]["method"] == "fastpath"
    assert document["cost_basis"]["mean_instances"] == 8.0
    written = json.loads((tmp_path / "simulation.json").read_text(encoding="utf-8"))
    assert written["cost_monthly_usd"] == cost


def test_failing_external_service_trips_its_breaker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every job search calls payments, which always fails: its breaker opens, the searches
    # fail (fast, once open) and the error-rate objective is breached.
    code = main(["simulate", "--hours", "0.05", "--external", "payments:GET /jobs:20:1",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == ExitCode.BREACH
    out = capsys.readouterr().out
    assert "BREACH" in out and "error rate" in out
    assert "external calls: payments from GET /jobs" in " ".join(out.split())
    document = json.loads((tmp_path / "simulation.json").read_text(encoding="utf-8"))
    assert document["totals"]["error_rate"]["mean"] > 0.2


def test_slo_breach_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 4 million users on at most 50 instances: the launch hour overloads the fleet.
    code = main(["simulate", "--fast", "--users", "4000000", "--hours", "1", "--json",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == ExitCode.BREACH
    assert "API p95" in json.loads(capsys.readouterr().out)["breaches"][0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hours", "0"], "hours must be in"),
        (["--replications", "0"], "replications must be >= 1"),
        (["--mode", "closed", "--fast"], "--fast solves the open model"),
        (["--dau-ratio", "1.5"], "population.dau_ratio = 1.5"),
        (["--external", "fax:GET /jobs:10"], "service 'fax' has no breaker"),
        (["--external", "sms:GET /nowhere:10"], "unknown endpoint 'GET /nowhere'"),
        (["--external", "sms:GET /jobs"], "expected SERVICE:ENDPOINT"),
        (["--external", "sms:GET /jobs:fast"], "must be numbers"),
        (["--external", "sms:GET /jobs:10:1.5"], "failure_probability must be in [0, 1]"),
        (["--external", "sms:GET /jobs:-5"], "latency must be >= 0 ms, got -5"),
        (["--external", "sms:GET /jobs:inf"], "latency must be >= 0 ms, got inf"),
        (["--scv", "nan"], "scv must be a number >= 0, got nan"),
        (["--scv", "inf", "--fast"], "scv must be a number >= 0, got inf"),
        (["--scv", "-1", "--fast"], "scv must be a number >= 0, got -1"),
        (["--dau-ratio", "0", "--fast"], "population.dau_ratio = 0.0"),
        (["--concurrency-ratio", "0"], "population.concurrency_ratio = 0.0"),
        (["--external", "sms:GET /jobs:10", "--fast"], "--external is simulated only"),
    ],
)
def test_bad_input_exits_2(argv: list[str], message: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["simulate", *argv, "--out", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert message in capsys.readouterr().err


def test_report_is_written(tmp_path: Path) -> None:
    report = tmp_path / "day.html"
    code = main(["simulate", "--fast", "--hours", "2", "--json", "--out", str(tmp_path),
                 "--report", str(report)])  # fmt: skip
    assert code == ExitCode.OK
    page = report.read_text(encoding="utf-8")
    assert "Simulated launch day" in page
    assert "Ready" in page  # the verdict of a day that breaks nothing


def test_progress_bar_in_a_real_process(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "simulate", "--hours", "0.05", "--out",
         str(tmp_path / "o")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "simulating (open)" in completed.stderr and "100%" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert (tmp_path / "o" / "simulation.csv").exists()


def test_exits_1_whenever_its_report_says_not_ready(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 5 million users: the whole day's p95 is fine, but the launch minutes break the p95
    # objective; the report says Not ready, and so does the exit code.
    report = tmp_path / "day.html"
    code = main(["simulate", "--fast", "--hours", "24", "--users", "5000000", "--json",
                 "--out", str(tmp_path / "out"), "--report", str(report)])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert document["totals"]["p95_ms"]["mean"] < 800
    assert any("minute(s)" in b for b in document["breaches"])
    assert code == ExitCode.BREACH
    assert "Not ready" in report.read_text(encoding="utf-8")
    alerts = document["alerts"]
    assert any(a["metric"] == "p95_ms" for a in alerts["fired"])
    assert any("memory" in text and "no memory model" in text for text in alerts["not_evaluable"])
