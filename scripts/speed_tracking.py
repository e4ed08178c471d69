"""Which piece of fixed work tracks the bundled service's CPU per request as the machine's
speed moves (docs/benchmarks.md, "Machine speed").

    .venv/bin/python scripts/speed_tracking.py              # about 8 minutes; Markdown tables
    .venv/bin/python scripts/speed_tracking.py --runs 3 --users 120

The validation times a fixed integer loop on the service's core (harness/run/speed_reference.py)
to tell the machine's drift from the model's error, and that loop explains only part of the
drift. This puts candidate pieces of work side by side on the service's core, each about a
millisecond, all timed every half second by one low-priority process (thread CPU time, which
does not count the waiting):

* ``int``: the validation's reference, integer arithmetic in the interpreter's loop;
* ``alloc``: small dicts built, encoded to JSON and decoded again (allocation, hashing, the
  C JSON codec: what a request's handling does most);
* ``memory``: reads at random places of a 32 MB list (cache and memory misses, what a
  neighbour on the same physical core takes from us first);
* ``syscall``: one-byte writes and reads through a pipe (the kernel's entry and exit, as a
  request's socket calls).

Meanwhile ``--runs`` fresh services, one after another, each pinned to the first core as
``harness validate`` runs it, hold ``--users`` users at the validation's think times for
``--windows`` measure windows. Each window's CPU per request (the kernel's CPU count over the
window, harness/run/process_cpu.py, over the client's requests) is set beside each candidate's
mean time over the window. The table says, per candidate, how much of the spread of the CPU
per request across the windows dividing by it removes: the spread of CPU per request / (time
/ its mean), against the spread of CPU per request alone. A candidate that tracks the service
leaves less; one that does not leaves as much or more. The windows of one run share a service,
so the spread within runs (the machine) and between runs (the machine and each fresh service's
own cost) are both shown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tempfile import mkdtemp

#: Seconds between the sidecar's rounds (each round times every candidate once).
INTERVAL_S = 0.5
#: A window's edges are known to the second (run.json's started_at): its samples are taken
#: this far inside them.
EDGE_S = 1.5


def _int_work() -> int:
    total = 0
    for i in range(20_000):
        total += i * i % 7
    return total


def _alloc_work() -> int:
    records = [
        {"id": i, "title": f"job {i}", "tags": ["a", "b"], "price": i * 1.5} for i in range(120)
    ]
    return len(json.loads(json.dumps(records)))


def _memory_work(memory: Sequence[int], places: Sequence[int]) -> int:
    return sum(memory[i] for i in places)


def _syscall_work(pipe: tuple[int, int]) -> int:
    read_end, write_end = pipe
    for _ in range(300):
        os.write(write_end, b"x")
        os.read(read_end, 1)
    return 300


def candidates() -> dict[str, Callable[[], int]]:
    """Each candidate's work, by name (its pipe and its memory made once)."""
    pipe = os.pipe()
    memory = list(range(4_000_000))  # 32 MB of pointers, and the ints they point at
    places = random.Random(7).sample(range(len(memory)), 20_000)
    return {
        "int": _int_work,
        "alloc": _alloc_work,
        "memory": lambda: _memory_work(memory, places),
        "syscall": lambda: _syscall_work(pipe),
    }


def sidecar(cpus: set[int], out: Path) -> int:
    """Time every candidate every :data:`INTERVAL_S` on ``cpus`` at the lowest priority,
    appending ``epoch_s,name,cpu_ms`` lines to ``out`` until SIGTERM."""
    os.sched_setaffinity(0, cpus)
    with contextlib.suppress(OSError):
        os.nice(19)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    works = candidates()
    parent = os.getppid()
    with out.open("a", encoding="utf-8", buffering=1) as log:
        while not stopping and os.getppid() == parent:
            for name, work in works.items():
                start = time.thread_time_ns()
                work()
                log.write(f"{time.time():.3f},{name},{(time.thread_time_ns() - start) / 1e6:.4f}\n")
            time.sleep(INTERVAL_S)
    return 0


@dataclass(frozen=True)
class Window:
    """One measure window: its run, the service's CPU per request, each candidate's mean."""

    run: int
    cpu_per_request_ms: float
    reference_ms: Mapping[str, float]


def windows_of(
    run_index: int, run_dir: Path, samples: Sequence[tuple[float, str, float]]
) -> list[Window]:
    """The measure windows of one run with the candidates' means inside each (the samples on
    the epoch clock, the windows on the run's, whose origin run.json gives to the second)."""
    from harness.validate.measure import read_measured

    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    origin = datetime.fromisoformat(str(run["started_at"]).replace("Z", "+00:00")).timestamp()
    found = []
    for stage, level in zip(list(run["stages"])[1::2], read_measured(run_dir), strict=True):
        x, u = level.throughput_rps, level.cpu_utilization
        if not x or u is None:
            continue
        begin = origin + float(stage["started_at_s"]) + EDGE_S
        end = origin + float(stage["started_at_s"]) + float(stage["elapsed_s"]) - EDGE_S
        means = {}
        for name in {name for _, name, _ in samples}:
            inside = [ms for t, n, ms in samples if n == name and begin <= t <= end]
            if inside:
                means[name] = statistics.fmean(inside)
        found.append(Window(run_index, u / x * 1e3, means))
    return found


def _spread(values: Sequence[float]) -> float:
    """Coefficient of variation (standard deviation over the mean)."""
    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def tracking_table(windows: Sequence[Window]) -> str:
    """Per candidate: the spread of CPU per request left after dividing by it, overall and
    within runs, and the correlation of their logarithms."""
    names = sorted({name for w in windows for name in w.reference_ms})
    usable = [w for w in windows if all(name in w.reference_ms for name in names)]
    cost = [w.cpu_per_request_ms for w in usable]
    lines = [
        f"{len(usable)} windows over {len({w.run for w in usable})} runs; CPU per request "
        f"{statistics.fmean(cost):.3f} ms, spread {_spread(cost):.1%} overall, "
        f"{_within(usable, lambda w: w.cpu_per_request_ms):.1%} within runs",
        "",
        "| reference | its mean (ms) | its spread | correlation (logs) | CPU per request's "
        "spread left, overall | within runs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        ref = [w.reference_ms[name] for w in usable]
        mean_ref = statistics.fmean(ref)
        normalised = [c / (r / mean_ref) for c, r in zip(cost, ref, strict=True)]
        correlation = statistics.correlation(
            [math.log(c) for c in cost], [math.log(r) for r in ref]
        )
        within = _within(usable, _normalised_by(name, mean_ref))
        lines.append(
            f"| {name} | {mean_ref:.3f} | {_spread(ref):.1%} | {correlation:+.2f} | "
            f"{_spread(normalised):.1%} | {within:.1%} |"
        )
    return "\n".join(lines)


def _normalised_by(name: str, mean_ms: float) -> Callable[[Window], float]:
    """A window's CPU per request at the reference's mean speed."""

    def normalised(window: Window) -> float:
        return window.cpu_per_request_ms / (window.reference_ms[name] / mean_ms)

    return normalised


def _within(windows: Sequence[Window], value: Callable[[Window], float]) -> float:
    """The root mean square of each run's own spread (the machine's drift within a service)."""
    runs = sorted({w.run for w in windows})
    spreads = [_spread([value(w) for w in windows if w.run == run]) for run in runs]
    return math.sqrt(statistics.fmean(s * s for s in spreads)) if spreads else 0.0


def measure(out: Path, runs: int, users: int, windows: int, window_s: float) -> list[Window]:
    from harness.validate.logins import MEASURED_LOGIN_CPU_MS
    from harness.validate.plan import held_load_stages, validation_profile, with_step_stages
    from harness.validate.runs import Runs, pinned_cpus
    from harness.validate.settings import ValidationSettings
    from models.profile import Stage, load_profile

    settings = ValidationSettings()
    # The users settled once, then measure windows back to back (a 1 s gap between them: every
    # second stage is a measure stage).
    stages = held_load_stages(users, settings, MEASURED_LOGIN_CPU_MS, window_s)
    rate = stages[0].spawn_rate
    for _ in range(windows - 1):
        stages += [
            Stage(users=users, duration_s=1.0, spawn_rate=rate),
            Stage(users=users, duration_s=window_s, spawn_rate=rate),
        ]
    profile = with_step_stages(validation_profile(load_profile(), settings.think_scale), stages)
    samples_path = out / "references.csv"
    found: list[Window] = []
    with pinned_cpus(True) as pinning:
        if not pinning.pinned:
            raise SystemExit(f"the service cannot be pinned: {pinning.reason}")
        side = subprocess.Popen(
            [sys.executable, __file__, "--sidecar", str(samples_path),
             "--cpus", ",".join(map(str, pinning.service_cpus))]
        )  # fmt: skip
        try:
            directories = []
            for _ in range(runs):
                result = Runs(out, pinning, settings.seed_scale).step(profile)
                if result.directory is None:
                    raise SystemExit(f"a run did not start (exit {result.code})")
                directories.append(result.directory)
        finally:
            side.terminate()
            side.wait(timeout=10)
    samples = []
    for line in samples_path.read_text(encoding="utf-8").splitlines():
        t, name, ms = line.split(",")
        samples.append((float(t), name, float(ms)))
    for index, directory in enumerate(directories):
        found += windows_of(index, directory, samples)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sidecar", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="0", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="where the runs go (default: a temporary dir)")
    parser.add_argument("--runs", type=int, default=4, help="fresh services, one after another")
    parser.add_argument("--users", type=int, default=150, help="users held (150: about 45%% CPU)")
    parser.add_argument("--windows", type=int, default=6, help="measure windows a run")
    parser.add_argument("--window-s", type=float, default=15.0, help="seconds a window")
    args = parser.parse_args(argv)
    if args.sidecar is not None:
        return sidecar({int(c) for c in args.cpus.split(",")}, args.sidecar)
    if args.runs < 1 or args.windows < 2 or not args.window_s > 2 * EDGE_S:
        parser.error("need --runs >= 1, --windows >= 2 and --window-s > 3")
    out = args.out or Path(mkdtemp(prefix="speed-tracking-"))
    out.mkdir(parents=True, exist_ok=True)
    found = measure(out, args.runs, args.users, args.windows, args.window_s)
    print(f"runs in {out}\n")
    print(tracking_table(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
