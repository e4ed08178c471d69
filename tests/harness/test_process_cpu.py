"""The service's CPU from /proc: one stat line, a real process group's count (a worker's
included), the sampler's file, and agreement with the service's own /metrics (a window's
arithmetic over the samples: tests/harness/validate/test_measure.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.run.process_cpu import (
    CLOCK_TICKS,
    ProcessCpuSampler,
    _cpu_ticks,
    group_cpu_s,
)
from harness.run.service import BundledService, ServiceConfig
from harness.run.speed_reference import read_samples

#: A parent that sleeps and a child of it that burns CPU (in the parent's group): a service's
#: master and its worker. Whatever the group's count grows by is the child's.
BURNING_CHILD = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
print("ready", flush=True)
time.sleep(60)
"""


def test_a_stat_line_gives_its_cpu_ticks_only_in_its_group() -> None:
    # The command name may hold spaces and a ")": the fields are counted after the last one.
    line = b"4242 (uvicorn (a) b) S 1 4242 4242 0 -1 0 0 0 0 0 150 50 7 3 20 0 2 0 1 2 3\n"
    assert _cpu_ticks(line, 4242) == 150 + 50 + 7 + 3  # user, system, reaped children's
    assert _cpu_ticks(line, 99) is None  # another group
    assert _cpu_ticks(b"4242 (torn) S 1 4242", 4242) is None


@pytest.fixture
def burning_group() -> Iterator[int]:
    """A process group of a sleeping parent and its busy child, for a few seconds."""
    process = subprocess.Popen(
        [sys.executable, "-c", BURNING_CHILD], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == b"ready\n"
        yield process.pid
    finally:
        os.killpg(process.pid, 9)
        process.wait()
        process.stdout.close()


def test_the_group_s_count_takes_in_its_workers(burning_group: int) -> None:
    start_cpu, start = group_cpu_s(burning_group), time.monotonic()
    time.sleep(1.5)
    end_cpu, elapsed = group_cpu_s(burning_group), time.monotonic() - start
    assert start_cpu is not None and end_cpu is not None
    busy = (end_cpu - start_cpu) / elapsed
    # The parent sleeps: the count grew by its child's CPU, most of a core (the machine is
    # shared with other tests: a third of one at the least).
    assert busy > 0.33, busy
    assert group_cpu_s(2**22 + 7) is None  # no such group


def test_the_sampler_appends_a_line_a_half_second_and_stops(
    burning_group: int, tmp_path: Path
) -> None:
    path = tmp_path / "stats" / "service_cpu.csv"
    t0 = time.monotonic()
    sampler = ProcessCpuSampler(
        lambda: group_cpu_s(burning_group), lambda: time.monotonic() - t0, path
    )
    sampler.start()
    time.sleep(2.2)
    sampler.stop()
    samples = read_samples(path)
    assert sampler.error is None and 3 <= len(samples) <= 6, samples
    times = [t for t, _ in samples]
    assert times == sorted(times) and all(0.4 < b - a < 1.5 for a, b in itertools.pairwise(times))
    assert samples[-1][1] > samples[0][1]  # the count grows
    written = len(samples)
    time.sleep(0.7)
    assert len(read_samples(path)) == written  # stopped


def test_a_sampler_that_cannot_write_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "stats"
    blocker.write_text("a file where the directory should be")
    sampler = ProcessCpuSampler(lambda: 1.0, time.monotonic, blocker / "service_cpu.csv")
    sampler.start()
    sampler.stop()
    assert sampler.error is not None and "could not be sampled" in sampler.error


def test_the_kernel_count_agrees_with_the_service_s_own_metrics(tmp_path: Path) -> None:
    """The bundled service's process CPU read from /proc and from its /metrics, a second
    apart around a burst of requests: the same counter, so the same CPU (to the tick)."""
    with BundledService(ServiceConfig(seed_scale=0.001), tmp_path / "service.log") as service:
        kernel_before, metrics_before = service.process_cpu_s(), service.scrape(0.0)
        with httpx.Client(base_url=service.url) as client:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                client.get("/health/ready")
        kernel_after, metrics_after = service.process_cpu_s(), service.scrape(1.0)
    assert service.process_cpu_s() is None  # stopped: nothing left to count
    assert kernel_before is not None and kernel_after is not None
    by_kernel = kernel_after - kernel_before
    by_metrics = metrics_after["cpu_seconds"] - metrics_before["cpu_seconds"]
    assert by_metrics > 0.1, by_metrics  # the burst cost real CPU
    # The scrape itself runs between the two readings of each pair (it is served after the
    # kernel's reading): a few ticks of slack.
    assert by_kernel == pytest.approx(by_metrics, abs=5 / CLOCK_TICKS + 0.05 * by_metrics)
