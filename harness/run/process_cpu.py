"""The service's CPU as the kernel counts it, sampled from ``/proc`` twice a second.

Why: the scrapes read the service's CPU from its own ``/metrics``, and a saturated service
answers them behind its backlog. At a validation's saturated level a 20 s window then held
fewer than two answered scrapes and its CPU went unmeasured; and a scrape is stamped when it
was sent, not when the service read its counters, so a late answer moves CPU between windows.
The kernel's count is read without asking the service: this sampler sums user and system CPU
over the service's process group (every worker, and the workers it has reaped) every half
second and appends a line ``t_s,cpu_s`` (t_s on the run's clock) to ``stats/service_cpu.csv``,
so a crash keeps every sample so far (the speed reference's format: its ``read_samples``
reads them). :mod:`harness.validate.measure` takes a window's CPU
from these samples when the run has them, and from the scrapes otherwise (a service on
another machine, or a lab, whose instances' CPU groups are read in every scrape).

A sample scans ``/proc`` (about 1.5 ms for a hundred processes): 0.3% of the harness's core.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

#: Seconds between samples.
INTERVAL_S = 0.5
#: The file a run's samples go to, relative to its directory.
SAMPLES_FILE = Path("stats") / "service_cpu.csv"
#: The kernel's clock ticks a second: the unit of /proc/<pid>/stat's CPU times.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(stat: bytes, group: int) -> int | None:
    """User, system and reaped children's CPU ticks from one ``/proc/<pid>/stat`` line, when
    the process is in process group ``group`` (None otherwise, or when the line is torn)."""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 15:
        return None
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., utime (14), stime, cutime, cstime
    if int(fields[2]) != group:
        return None
    return int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def group_cpu_s(group: int, proc: Path = Path("/proc")) -> float | None:
    """CPU seconds (user and system) of the processes in process group ``group``, with the
    children they have reaped; None when no process of the group is left."""
    ticks, found = 0, False
    with os.scandir(proc) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = (proc / entry.name / "stat").read_bytes()
            except OSError:  # the process ended while we looked
                continue
            counted = _cpu_ticks(stat, group)
            if counted is not None:
                ticks, found = ticks + counted, True
    return ticks / CLOCK_TICKS if found else None


class ProcessCpuSampler:
    """Samples ``read_cpu_s`` every :data:`INTERVAL_S` on a background thread into ``path``.

    ``clock`` gives seconds on the run's clock. Best effort: a file that cannot be written
    leaves ``error`` set and stops the sampling (the windows then fall back to the scrapes);
    a reading of None (the service gone) is skipped.
    """

    def __init__(
        self,
        read_cpu_s: Callable[[], float | None],
        clock: Callable[[], float],
        path: Path,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.read_cpu_s = read_cpu_s
        self.clock = clock
        self.path = path
        self.interval_s = interval_s
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="service-cpu", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8", buffering=1) as out:  # line-buffered
                while True:
                    cpu_s = self.read_cpu_s()
                    t_s = self.clock()  # after the scan: the counters are read by then
                    if cpu_s is not None:
                        out.write(f"{t_s:.3f},{cpu_s:.3f}\n")
                    if self._stop.wait(self.interval_s):
                        return
        except OSError as exc:
            self.error = f"the service's CPU could not be sampled into {self.path}: {exc}"

    def stop(self) -> None:
        """Stop sampling; every sample so far is in the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
