"""`make bench` runs the real recipe with stand-ins for pytest and python that record each call,
so the test sees what the target runs without running a benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "benchmarks").glob("bench_*.py"))


def make_bench(tmp_path: Path, pytest_exit: int, failing_script: str = "") -> tuple[int, str, str]:
    """Run ``make bench`` with ``BIN`` holding a pytest that exits ``pytest_exit`` and a python
    that fails on ``failing_script``; return (exit code, output, the calls in order)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls.txt"
    bin_dir.mkdir()
    (bin_dir / "pytest").write_text(f'#!/bin/sh\necho "pytest $*" >> {calls}\nexit {pytest_exit}\n')
    (bin_dir / "python").write_text(
        f'#!/bin/sh\necho "python $*" >> {calls}\n'
        f'case "$1" in *"{failing_script or "no script"}") exit 1;; esac\nexit 0\n'
    )
    for stand_in in bin_dir.iterdir():
        stand_in.chmod(0o755)
    stamp = tmp_path / "stamp"
    stamp.touch()  # newer than pyproject.toml: make installs nothing
    os.utime(stamp, (ROOT.joinpath("pyproject.toml").stat().st_mtime + 1,) * 2)
    completed = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "bench", f"BIN={bin_dir}",
         f"STAMP={stamp}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return completed.returncode, completed.stdout + completed.stderr, calls.read_text()


def test_there_are_benchmark_scripts() -> None:
    assert len(SCRIPTS) >= 7, SCRIPTS


def test_no_collected_benchmark_test_does_not_stop_the_scripts(tmp_path: Path) -> None:
    # pytest exits 5 when it collects nothing: every script still runs and the target passes.
    code, output, calls = make_bench(tmp_path, pytest_exit=5)
    assert code == 0, output
    lines = calls.splitlines()
    assert lines[0].startswith("pytest -m benchmark")
    assert lines[1:] == [f"python {script}" for script in SCRIPTS]


@pytest.mark.parametrize(
    ("pytest_exit", "failing_script", "named"),
    [(1, "", "pytest -m benchmark (exit 1)"),
     (5, "benchmarks/bench_model.py", "benchmarks/bench_model.py")],
)  # fmt: skip
def test_a_failure_fails_the_target_after_every_script_ran(
    tmp_path: Path, pytest_exit: int, failing_script: str, named: str
) -> None:
    code, output, calls = make_bench(tmp_path, pytest_exit, failing_script)
    assert code != 0
    verdict = next(line for line in output.splitlines() if line.startswith("make bench: failed:"))
    assert named in verdict
    assert [line for line in calls.splitlines() if line.startswith("python")] == [
        f"python {script}" for script in SCRIPTS
    ]


def test_bench_journeys_runs_without_arguments_as_make_bench_calls_it() -> None:
    # The one script with a positional argument (which part to measure): it must be optional.
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_journeys.py"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    usage = completed.stdout.split("\n\n", 1)[0]
    assert "[{overhead,users,ratio,all}]" in usage, usage
