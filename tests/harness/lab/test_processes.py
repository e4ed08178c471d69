"""The lab's process handling: identity by pid and start time, bounded stops, deadline waits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.lab import processes, programs
from harness.lab.processes import (
    PartFailed,
    identify,
    run_program,
    spawn,
    stop_child,
    stop_process,
    wait_until,
)

IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', "
    "flush=True); time.sleep(120)"
)


def test_a_process_that_ignores_its_stop_signal_is_killed_after_the_timeout(
    tmp_path: Path,
) -> None:
    log = tmp_path / "log"
    process = spawn([sys.executable, "-c", IGNORES_SIGTERM], log)
    try:
        wait_until(lambda: "ready" in log.read_text(), 30, "the stubborn child", log, process)
        identity = identify(process.pid)
        started = time.monotonic()
        stop_process(identity, timeout_s=0.5)
        assert 0.5 <= time.monotonic() - started < 5
        assert not identity.alive(), "a zombie counts as gone"
    finally:
        stop_child(process, timeout_s=0.1)
    assert process.returncode == -9


def test_a_child_that_exits_early_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "log"
    process = spawn([sys.executable, "-c", "print('config error on line 3'); exit(4)"], log)
    with pytest.raises(PartFailed, match=r"exited with code 4 (?s:.*)config error on line 3"):
        wait_until(lambda: False, 30, "the server", log, process)


def test_a_wait_ends_at_its_deadline(tmp_path: Path) -> None:
    with pytest.raises(PartFailed, match=r"the server was not ready after 0.2 s"):
        wait_until(lambda: False, 0.2, "the server", tmp_path / "log")


def test_identify_refuses_a_process_that_has_gone() -> None:
    process = subprocess.Popen(["true"])
    process.wait(timeout=5)
    with pytest.raises(PartFailed, match=f"process {process.pid} exited"):
        identify(process.pid)


def test_a_failing_program_names_its_command_and_output() -> None:
    with pytest.raises(PartFailed, match=r"exited with code 3: nope"):
        run_program(
            [sys.executable, "-c", "import sys; print('nope', file=sys.stderr); sys.exit(3)"], 30
        )
    with pytest.raises(PartFailed, match=r"took more than 0.2 s"):
        run_program(["sleep", "5"], 0.2)


def test_a_missing_program_says_which_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(programs, "SYSTEM_BIN_DIRS", ())
    with pytest.raises(UsageError, match="apt-get install haproxy"):
        programs.find_program(programs.HAPROXY)
    assert processes.port_open(1) is False
