"""The machine-speed reference: its samples, their windows, and the real process beside a run."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.run.speed_reference import (
    SpeedReference,
    main,
    read_samples,
    reference_work,
    sample_ms,
    window_mean,
)


def test_the_work_is_fixed_and_takes_measurable_time() -> None:
    assert reference_work(100) == reference_work(100) == sum(i * i % 7 for i in range(100))
    assert 0 < sample_ms(1_000) < sample_ms(200_000)


def test_window_mean_takes_the_samples_inside_and_says_how_many() -> None:
    samples = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (3.5, 9.0)]
    assert window_mean(samples, 1.0, 2.0) == (3.0, 2)  # both ends inside
    assert window_mean(samples, 0.0, 10.0) == (4.0, 4)
    assert window_mean(samples, 2.5, 3.0) == (None, 0)
    assert window_mean([], 0.0, 1.0) == (None, 0)


def test_read_samples_skips_what_a_crash_or_an_editor_left(tmp_path: Path) -> None:
    path = tmp_path / "speed.csv"
    assert read_samples(path) == []  # no file: no samples, not an error
    path.write_text("0.5,1.25\nnot,a-number\n1.0,1.5\n2.0,0\n2.5,nan\n3.0\n3.5,1.7", "utf-8")
    # A torn last line ("3.5,1.7" is whole here, so it counts), zero and non-finite times skip.
    assert read_samples(path) == [(0.5, 1.25), (1.0, 1.5), (3.5, 1.7)]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="needs CPU affinity (Linux)")
def test_the_reference_process_samples_on_its_core_until_stopped(tmp_path: Path) -> None:
    core = min(os.sched_getaffinity(0))
    path = tmp_path / "stats" / "speed.csv"
    t0 = time.time()
    reference = SpeedReference([core], t0, path)
    reference.start()
    try:
        deadline = time.monotonic() + 20.0
        while len(read_samples(path)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        reference.stop()
    assert reference.error is None
    samples = read_samples(path)
    assert len(samples) >= 3
    times = [t for t, _ in samples]
    assert times == sorted(times) and 0 <= times[0] < 20.0  # on the run's clock
    assert all(0 < ms < 1_000 for _, ms in samples)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.4  # every 0.5 s
    reference.stop()  # a second stop is harmless


def test_a_reference_that_cannot_start_says_so(tmp_path: Path) -> None:
    reference = SpeedReference([0], 0.0, tmp_path / "speed.csv")
    reference.start()
    reference.stop()
    assert reference.error is None  # a normal start and stop
    broken = SpeedReference([10_000], 0.0, tmp_path / "other.csv")  # no such core
    broken.start()
    deadline = time.monotonic() + 20.0
    while broken._process is not None and broken._process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    broken.stop()
    assert broken.error is not None and "exited with code 3" in broken.error
    assert "cannot run on cores [10000]" in broken.log.read_text()


@pytest.mark.parametrize("cpus", ["", "x", "-1", "0,,a"])
def test_the_command_names_a_bad_core_list(cpus: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.run.speed_reference", "--cpus", cpus, "--out", "x.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--cpus" in result.stderr and "core numbers" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_the_command_runs_for_a_bounded_time(tmp_path: Path) -> None:
    # In its own process: the command lowers its priority, which a test process must not.
    out = tmp_path / "speed.csv"
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    argv = ["--cpus", cpus, "--out", str(out), "--interval", "0.05", "--duration", "1.0"]
    command = [sys.executable, "-m", "harness.run.speed_reference", *argv]
    started = time.monotonic()
    assert subprocess.run(command, timeout=30, check=False).returncode == 0
    # At most one sample per interval; at least two even when a busy machine starves the
    # process (it runs at the lowest priority); and it stopped on time, not at the timeout.
    assert 2 <= len(read_samples(out)) <= 20
    assert time.monotonic() - started < 15.0
    with pytest.raises(SystemExit):
        main(["--cpus", cpus, "--out", str(out), "--interval", "0"])  # refused before any work


def test_the_reference_stops_when_the_process_that_started_it_is_gone(tmp_path: Path) -> None:
    # A harness killed outright cannot stop its reference: the reference notices that its
    # parent changed and stops by itself instead of sampling forever.
    out = tmp_path / "speed.csv"
    cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    parent = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-m', 'harness.run.speed_reference', '--cpus', "
        f"{cpus!r}, '--out', {str(out)!r}, '--interval', '0.1'])\n"
        "time.sleep(1.5)\n"  # long enough for the reference to note who its parent is
    )
    subprocess.run([sys.executable, "-c", parent], timeout=30, check=True)
    deadline = time.monotonic() + 20.0
    while True:
        before = len(read_samples(out))
        time.sleep(1.0)
        if len(read_samples(out)) == before:
            break  # no new sample in a second, at ten a second: it has stopped
        assert time.monotonic() < deadline, "the orphaned reference kept sampling"
    assert before >= 2  # it did sample while its parent lived
