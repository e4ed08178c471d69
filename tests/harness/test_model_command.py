"""``harness model``: in-process through ``harness.cli.main`` and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands.model import parse_users
from harness.errors import UsageError
from harness.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def test_json_point_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "users", "dau", "peak_concurrent", "peak_rps", "instances", "db_connections",
        "latency", "utilization", "cost_monthly_usd", "limits", "assumptions", "topology",
        "stations", "connections", "cost_claims", "login_rush", "cpu_quota", "background",
        "cost_tiers",
    }  # fmt: skip
    artifacts = (ROOT / "docs" / "artifacts.md").read_text(encoding="utf-8")
    documented = artifacts.split("## capacity.json", 1)[1].split("\n## ", 1)[0]
    nested = [k for value in data.values() if isinstance(value, dict) for k in value]
    assert [key for key in [*data, *nested] if key not in documented] == []
    assert data["users"] == 400_000 and data["peak_concurrent"] == 20_000
    assert data["instances"]["min"] == 8 and data["instances"]["max"] == 50
    assert data["instances"]["fits"] and data["db_connections"]["fits"]


def test_table_lists_every_part_of_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model"]) == 0
    out = capsys.readouterr().out
    for needle in ("app instances", "database connections", "API p95", "utilization",
                   "Monthly cost", "claim at 1,000,000 users", "max_instances runs out",
                   "pool_max runs out", "Assumptions"):  # fmt: skip
        assert needle in out
    main(["model", "--json"])
    assumptions = json.loads(capsys.readouterr().out)["assumptions"]
    flat = " ".join(out.split())
    for line in assumptions:
        assert " ".join(line.split()) in flat


def test_overrides_change_the_population(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "--users", "500000", "--dau-ratio", "0.5", "--concurrency-ratio",
                 "0.1", "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["users"] == 500_000
    assert data["dau"] == pytest.approx(250_000)
    assert data["peak_concurrent"] == pytest.approx(25_000)


def test_sweep_prints_one_row_or_object_per_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "--users", "100000:1000000:100000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["users"] for p in data] == list(range(100_000, 1_000_001, 100_000))
    assert main(["model", "--users", "100000:300000:100000"]) == 0
    out = capsys.readouterr().out
    assert "Capacity sweep" in out
    for users in ("100,000", "200,000", "300,000"):
        assert users in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [("1:2", "three numbers"), ("a:b:c", "whole number"), ("10:5:1", "STOP >= START"),
     ("0:10:1", "START >= 1"), ("1:10:0", "STEP >= 1"), ("1:100000:1", "at most 1000"),
     ("many", "whole number"),
     # a comma made 400,000,500,000 users of what reads as a list of two populations
     ("400000,500000", "a comma is neither a thousands separator nor a list"),
     ("400,000", "write 400000 or 400_000"), ("100,000:200,000:100,000", "a comma"),
     ("4e5", "expected a whole number"), ("1__000", "expected a whole number"),
     (" 5", "expected a whole number"), ("+5", "expected a whole number")],
)  # fmt: skip
def test_bad_users_exit_2_naming_the_value(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError, match=message):
        parse_users(spec)
    assert main(["model", "--users", spec]) == ExitCode.BAD_INPUT
    assert f"--users {spec!r}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "counts"),
    [("400000", [400_000]), ("400_000", [400_000]),
     ("100_000:300_000:100_000", [100_000, 200_000, 300_000])],
)  # fmt: skip
def test_users_accepts_digits_with_underscores(spec: str, counts: list[int]) -> None:
    assert parse_users(spec) == counts


def test_users_help_names_the_accepted_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "--help"]) == ExitCode.OK
    text = " ".join(capsys.readouterr().out.split())
    assert "400_000" in text and "no commas" in text and "START:STOP:STEP" in text


@pytest.mark.parametrize(
    ("args", "key"),
    [(["--dau-ratio", "1.4"], "population.dau_ratio = 1.4"),
     (["--users", "0"], "population.users = 0"),
     (["--concurrency-ratio", "-1"], "population.concurrency_ratio"),
     # 0 leaves no load: the sizing would divide by zero (a traceback and exit 1)
     (["--dau-ratio", "0"], "population.dau_ratio = 0.0: must be between 0 and 1, above 0"),
     (["--concurrency-ratio", "0"], "population.concurrency_ratio = 0.0: must be between 0 and 1"),
     (["--dau-ratio", "nan"], "population.dau_ratio = nan"),
     (["--concurrency-ratio", "inf"], "population.concurrency_ratio = inf")],
)  # fmt: skip
def test_invalid_overrides_exit_2_naming_the_key(
    args: list[str], key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["model", *args]) == 2
    assert key in capsys.readouterr().err


def test_a_plan_that_does_not_fit_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "--users", "50000000", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["instances"]["fits"] is False


def test_partial_profile_file_is_layered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "small.toml"
    profile.write_text("[infrastructure.autoscaling]\nmin_instances = 2\n", "utf-8")
    assert main(["model", "--profile", str(profile), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["instances"]["min"] == 2


def test_report_flag(tmp_path: Path) -> None:
    target = tmp_path / "plan.html"
    assert main(["model", "--report", str(target)]) == 0
    page = target.read_text(encoding="utf-8")
    assert "Capacity plan" in page and "launch-day-400k" in page
    assert main(["model", "--users", "1:3:1", "--report", str(target)]) == 2


def test_runs_as_a_subprocess() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "harness", "model", "--users", "100000:200000:100000", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert [p["users"] for p in json.loads(completed.stdout)] == [100_000, 200_000]
