"""A machine-speed reference: a fixed piece of CPU work, timed on the service's own core
throughout a run, so that a change in the machine's speed can be told from a change in the
service.

Why: on a shared virtual machine the speed of a core moves within minutes (another tenant on
the same physical core, most likely), and the service's CPU per request moves with it; the
reference's time moves the same way, so their ratio tells the machine's drift from the
service's (docs/benchmarks.md, "Machine speed", has the measurements). A prediction
calibrated in a fast minute and compared in a slow one misses by the machine's drift, not by
the model's error. :mod:`harness.validate` reads the reference over each measured window: the
service curve is fitted at one speed, and each level is also predicted at the speed it ran at
(``models.service_curve``, "machine speed"). It explains part of the drift, not all.

The reference runs as its own small process (no GIL shared with the harness), pinned to the
service's core(s) at the lowest priority: it yields to the service, and its thread CPU time,
unlike its wall time, does not count the waiting. It does about a millisecond of work every
half second, 0.2% of the core, and appends each sample as a line ``t_s,cpu_ms`` (t_s on the
run's clock), so a crash keeps every sample so far.

    python -m harness.run.speed_reference --cpus 0 --t0 1764382200.0 --out stats/speed.csv
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType

#: Iterations of the reference work: about a millisecond of CPU on this machine.
WORK_ITERATIONS = 20_000
#: Seconds between samples.
INTERVAL_S = 0.5
#: The file a run's samples go to, relative to its directory.
SAMPLES_FILE = Path("stats") / "speed_reference.csv"


def reference_work(iterations: int = WORK_ITERATIONS) -> int:
    """The fixed work: integer arithmetic in the interpreter's loop, the kind of work the
    service's own Python does (its result is returned so that nothing optimises it away)."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def sample_ms(iterations: int = WORK_ITERATIONS) -> float:
    """Thread CPU milliseconds the reference work takes now."""
    start = time.thread_time_ns()
    reference_work(iterations)
    return (time.thread_time_ns() - start) / 1e6


def window_mean(
    samples: Iterable[tuple[float, float]], start_s: float, end_s: float
) -> tuple[float | None, int]:
    """(mean milliseconds, sample count) of the samples inside [start_s, end_s].

    The mean, not the median: the machine flips between a fast and a slow state (the samples
    fall in two clusters), and the mean is linear in the share of the window spent slow, as the
    service's cost over the window is. None when no sample fell inside.
    """
    inside = [ms for t_s, ms in samples if start_s <= t_s <= end_s]
    if not inside:
        return None, 0
    return sum(inside) / len(inside), len(inside)


def read_samples(path: Path) -> list[tuple[float, float]]:
    """The samples a run wrote (empty when there is no file); a torn last line is skipped."""
    if not path.exists():
        return []
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split(",")
        if len(fields) != 2:
            continue
        try:
            t_s, ms = float(fields[0]), float(fields[1])
        except ValueError:
            continue
        if math.isfinite(t_s) and math.isfinite(ms) and ms > 0:
            samples.append((t_s, ms))
    return samples


class SpeedReference:
    """The reference process for one run: :meth:`start` it pinned to ``cpus``, :meth:`stop` it
    after the load. Best effort: a reference that cannot start leaves ``error`` set and the
    run goes on without it (the comparison then says the speed was not measured)."""

    def __init__(self, cpus: Sequence[int], t0: float, path: Path) -> None:
        self.cpus = sorted(cpus)
        self.t0 = t0
        self.path = path
        self.log = path.with_suffix(".log")
        """Where the process's own complaints go (a core it could not pin to, say)."""
        self.error: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "harness.run.speed_reference",
            "--cpus", ",".join(str(c) for c in self.cpus),
            "--t0", repr(self.t0),
            "--out", str(self.path),
        ]  # fmt: skip
        try:
            with self.log.open("ab") as log:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
                )
        except OSError as exc:
            self.error = f"the machine-speed reference did not start: {exc}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode not in (0, -signal.SIGTERM):
            self.error = (
                f"the machine-speed reference exited with code {process.returncode} "
                f"(see {self.log})"
            )


def _parse_cpus(text: str) -> set[int]:
    try:
        cpus = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        cpus = set()
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError(f"--cpus {text!r}: give core numbers, e.g. 0 or 0,1")
    return cpus


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.run.speed_reference", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--cpus", type=_parse_cpus, required=True, help="cores to time, e.g. 0")
    parser.add_argument("--t0", type=float, default=None, help="the run's clock origin (epoch s)")
    parser.add_argument("--out", type=Path, required=True, help="file the samples go to")
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds (0.5)")
    parser.add_argument("--duration", type=float, default=math.inf, help="stop after seconds")
    args = parser.parse_args(argv)
    if not args.interval > 0:
        parser.error(f"--interval {args.interval}: must be > 0")
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, args.cpus)
        except OSError as exc:
            print(
                f"speed_reference: cannot run on cores {sorted(args.cpus)}: {exc}", file=sys.stderr
            )
            return 3
    with contextlib.suppress(OSError):
        os.nice(19)  # yield to the service: the thread clock does not count the waiting
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    t0 = time.time() if args.t0 is None else args.t0
    end = time.monotonic() + args.duration
    parent = os.getppid()
    with args.out.open("a", encoding="utf-8", buffering=1) as out:
        # Until stopped, the duration is up, or the process that started it is gone (a
        # harness killed outright cannot stop it; it must not sample forever).
        while not stopping and time.monotonic() < end and os.getppid() == parent:
            ms = sample_ms()
            out.write(f"{time.time() - t0:.3f},{ms:.4f}\n")
            time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
