"""``harness report RUN_DIR [--baseline RUN_DIR] [--out FILE]``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.exit_codes import ExitCode
from tests.reports.factory import RunSpec, write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "20261128T153000Z-step", RunSpec())


def test_writes_the_report_into_the_run_directory(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_dir)]) == ExitCode.OK
    report = run_dir / "report.html"
    assert capsys.readouterr().out.strip() == f"report: {report}"
    assert "Ready for launch-day-400k" in report.read_text()


def test_out_and_baseline(run_dir: Path, tmp_path: Path) -> None:
    slower = write_run(tmp_path / "slower", RunSpec(latency_factor=1.5))
    out = tmp_path / "cmp.html"
    assert main(["report", str(slower), "--baseline", str(run_dir), "--out", str(out)]) == 0
    html = out.read_text()
    assert f"compared with baseline <code>{run_dir.name}</code>" in html
    assert "▲ +50.0%" in html
    assert not (slower / "report.html").exists()


def test_missing_run_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-run"
    assert main(["report", str(missing)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert f"harness report: cannot render the report: {missing}: not a run directory" in err


def test_invalid_run_json_exits_2_naming_the_key(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = json.loads((run_dir / "run.json").read_text())
    run["stages"][0]["p50_ms"] = "fast"
    (run_dir / "run.json").write_text(json.dumps(run))
    assert main(["report", str(run_dir)]) == ExitCode.BAD_INPUT
    assert "stages[0].p50_ms = 'fast': expected a number" in capsys.readouterr().err


def test_missing_baseline_exits_2(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir), "--baseline", str(tmp_path / "gone")]) == 2


def test_the_console_script_path_works(run_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (run_dir / "report.html").stat().st_size > 10_000
