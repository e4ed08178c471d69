"""The ledger: what a lab records is removed on close, on an exception, on SIGTERM, and by the
next lab when its owner was SIGKILLed; nothing of a running lab or of another process is
touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.lab.cgroups import members
from harness.lab.cleanup import LabLedger, reclaim_abandoned, remove_entries
from harness.lab.processes import ProcessIdentity, children_of, identify, processes_naming
from harness.lab.programs import HAPROXY, INITDB, PGBOUNCER
from tests.harness.lab.conftest import require_cgroups, require_programs

ABANDONED_LAB = Path(__file__).with_name("abandoned_lab.py")


def sleeper(*arguments: str) -> subprocess.Popen[bytes]:
    """A process that runs until killed, with ``arguments`` on its command line."""
    code = "import time; time.sleep(120)"
    return subprocess.Popen([sys.executable, "-c", code, *arguments], start_new_session=True)


def ledger_at(tmp_path: Path, work_dir: Path) -> LabLedger:
    return LabLedger(tmp_path / "state", work_dir / "lab", catch_sigterm=False)


def wait_line(path: Path, line: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in path.read_text(errors="replace").splitlines():
        assert process.poll() is None, path.read_text(errors="replace")
        assert time.monotonic() < deadline, f"no {line!r} after {timeout_s} s"
        time.sleep(0.05)


def test_close_stops_recorded_processes_and_removes_directories(
    tmp_path: Path, work_dir: Path
) -> None:
    with ledger_at(tmp_path, work_dir) as ledger:
        directory = ledger.new_directory("part")
        process = sleeper()
        identity = identify(process.pid)
        ledger.record_process(identity, "sleeper")
        assert directory.is_dir() and identity.alive()
        ledger_file = ledger.path
    process.wait(timeout=5)
    assert process.returncode == -signal.SIGTERM
    assert not directory.exists() and not ledger_file.exists()


def test_a_process_naming_a_recorded_directory_is_stopped_before_it_is_removed(
    tmp_path: Path, work_dir: Path
) -> None:
    with ledger_at(tmp_path, work_dir) as ledger:
        directory = ledger.new_directory("part")
        unrecorded = sleeper(str(directory / "server.conf"))
        elsewhere = sleeper(str(directory) + "-not-inside")
        # The ledger finds a stray by its command line: wait until the kernel shows it (on a
        # busy machine the new process may not have one yet when the ledger looks).
        deadline = time.monotonic() + 10
        while unrecorded.pid not in {p.pid for p in processes_naming(directory)}:
            assert time.monotonic() < deadline, "the sleeper's command line never showed"
            time.sleep(0.05)
    try:
        unrecorded.wait(timeout=5)
        assert elsewhere.poll() is None, "a path that only starts alike is not inside"
    finally:
        elsewhere.kill()
        elsewhere.wait(timeout=5)


def test_an_exception_in_the_lab_still_removes_everything(tmp_path: Path, work_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="part failed"), ledger_at(tmp_path, work_dir) as ledger:
        directory = ledger.new_directory("part")
        raise RuntimeError("part failed")
    assert not directory.exists()


def test_sigterm_unwinds_the_lab_and_removes_it(tmp_path: Path, work_dir: Path) -> None:
    output = tmp_path / "out.txt"
    code = (
        "import sys, time; from pathlib import Path; from harness.lab.cleanup import LabLedger\n"
        "with LabLedger(Path(sys.argv[1]), Path(sys.argv[2])) as ledger:\n"
        "    print(ledger.new_directory('part'), flush=True); print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    with output.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "state"), str(work_dir / "lab")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_line(output, "ready", child, timeout_s=30)
        directory = Path(output.read_text().splitlines()[0])
        assert directory.is_dir()
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=10)
    finally:
        child.kill()
        child.wait(timeout=5)
    assert "KeyboardInterrupt: signal SIGTERM" in output.read_text()
    assert not directory.exists()
    assert not list((tmp_path / "state").glob("*.jsonl"))


def test_a_running_labs_ledger_is_left_alone(tmp_path: Path, work_dir: Path) -> None:
    with ledger_at(tmp_path, work_dir) as running:
        directory = running.new_directory("part")
        with ledger_at(tmp_path, work_dir) as second:
            assert second.reclaimed == []
        assert directory.is_dir() and running.path.exists()


def test_a_recorded_pid_that_now_names_another_process_is_not_touched(
    tmp_path: Path, work_dir: Path
) -> None:
    stranger = sleeper()
    try:
        real = identify(stranger.pid)
        earlier_holder = ProcessIdentity(real.pid, real.start_ticks - 1)
        assert not earlier_holder.alive()
        remove_entries(
            [{"kind": "process", "pid": real.pid, "start_ticks": real.start_ticks - 1,
              "label": "gone", "signal": int(signal.SIGKILL)}]
        )  # fmt: skip
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait(timeout=5)


def test_a_ledger_line_cut_short_by_a_kill_is_skipped(tmp_path: Path, work_dir: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    left = work_dir / "left-behind"
    left.mkdir()
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this pid
    (state / f"{gone}-0-deadbeef.jsonl").write_text(
        f'{{"kind": "directory", "path": "{left}"}}\n{{"kind": "proc'
    )
    removed = reclaim_abandoned(state)
    assert [r.what for r in removed] == [f"removed directory {left}"]
    assert not left.exists() and not list(state.iterdir())


@pytest.mark.slow
def test_the_next_lab_removes_everything_a_sigkilled_lab_left(
    tmp_path: Path, work_dir: Path
) -> None:
    require_programs(INITDB, PGBOUNCER, HAPROXY)
    require_cgroups()
    state, output = tmp_path / "state", tmp_path / "abandoned.txt"
    with output.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, str(ABANDONED_LAB), str(state), str(work_dir / "abandoned")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_line(output, "ready", child, timeout_s=60)
        (ledger_file,) = state.glob("*.jsonl")
        entries = LabLedger.read(ledger_file)
        recorded = [
            ProcessIdentity(e["pid"], e["start_ticks"]) for e in entries if e["kind"] == "process"
        ]
        assert sorted(e["label"] for e in entries if e["kind"] == "process") == [
            "haproxy", "pgbouncer", "postgres primary", "postgres replica_1",
        ]  # fmt: skip
        groups = [tuple(map(Path, e["paths"])) for e in entries if e["kind"] == "cgroup"]
        directories = [Path(e["path"]) for e in entries if e["kind"] == "directory"]
        (group,) = groups
        forked = [identify(pid) for p in recorded for pid in children_of(p.pid)]
        in_group = [identify(pid) for pid in members(group[0])]
        everything = recorded + forked + in_group
        assert len(in_group) == 1 and len(forked) >= 8  # two postmasters' helpers
        child.kill()
        child.wait(timeout=10)
        assert all(process.alive() for process in everything), "orphans outlive their owner"

        with LabLedger(state, work_dir / "next", catch_sigterm=False) as next_lab:
            assert len(next_lab.reclaimed) >= len(recorded) + len(directories) + 1
            assert [path.name for path in state.iterdir()] == [next_lab.path.name]
        deadline = time.monotonic() + 10  # a postmaster's helpers exit right after it
        while any(p.alive() for p in everything) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in everything if p.alive()] == []
        assert [d for d in directories if d.exists()] == []
        assert [path for path in group if path.exists()] == []
        assert not list(state.iterdir())
    finally:
        child.kill()
        child.wait(timeout=10)
        reclaim_abandoned(state)
