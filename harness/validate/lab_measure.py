"""What a run on the lab measured per measure stage, for the topology trial: the client's
figures (:func:`harness.validate.measure.read_measured`), each instance's CPU from its CPU
group, and PgBouncer's connections and wait.

* **CPU per instance**: the CPU group's ``usage_s`` in the scrapes (server.json, ``lab``
  ``instances``) nearest inside the stage, over the time between them, as a fraction of the
  instance's limit. A group counts every process of the instance (what the CFS quota limits),
  not only the service's own counter. The level's ``cpu_utilization`` is the instances' mean.
* **The pooler**: lab.jsonl's ``pool`` lines (``SHOW POOLS``, one reading a second, every pool
  summed per reading) whose time falls inside the stage, and its ``pooler_traffic`` lines
  (``SHOW STATS``) at the first and last reading inside it (:mod:`models.pooler_records` says
  which figure is which and why). lab.jsonl keeps unix times; a lab scrape keeps the run's
  clock origin (``clock_origin``), which puts a stage's ``t_s`` window on that clock.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.run.lab_sampling import SAMPLES_FILE
from harness.validate.measure import read_measured
from models.lab_calibration import LabDemands, StageLatency, StageTraffic
from models.pooler_records import PoolerMeasurement
from models.validation_records import MeasuredLevel, Throttling

__all__ = [
    "instance_cpu",
    "instance_throttling",
    "lab_demands",
    "measure_windows",
    "pooler_measurement",
    "read_lab_measured",
]

Record = Mapping[str, Any]


def measure_windows(run: Record) -> list[tuple[float, float]]:
    """The (start, end) ``t_s`` of each measure stage (every second stage) of a paired step
    run, as :func:`harness.validate.measure.measured_levels` reads them."""
    windows = []
    for record in list(run.get("stages", []))[1::2]:
        start = float(record.get("started_at_s") or 0.0)
        elapsed = float(record.get("elapsed_s") or record.get("duration_s") or 0.0)
        windows.append((start, start + elapsed))
    return windows


def _window(
    scrapes: Sequence[Record], start_s: float, end_s: float
) -> tuple[Record, Record, float] | None:
    """The instances' counters at the first and last lab scrapes inside the window, and the
    seconds between them (None without two such scrapes)."""
    inside = [
        s for s in scrapes if "lab" in s and start_s - 1e-9 <= float(s["t_s"]) <= end_s + 1e-9
    ]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    elapsed = float(last["t_s"]) - float(first["t_s"])
    if elapsed <= 0:
        return None
    return first["lab"]["instances"], last["lab"]["instances"], elapsed


def instance_cpu(
    scrapes: Sequence[Record], start_s: float, end_s: float, cpu_limit: float
) -> tuple[float, ...]:
    """Each instance's CPU over the window, as a fraction of ``cpu_limit`` (empty without two
    lab scrapes inside it)."""
    window = _window(scrapes, start_s, end_s)
    if window is None or not cpu_limit > 0:
        return ()
    before, after, elapsed = window
    return tuple(
        max(0.0, float(after[name]["usage_s"]) - float(before[name]["usage_s"]))
        / elapsed
        / cpu_limit
        for name in sorted(after)
        if name in before
    )


def instance_throttling(
    scrapes: Sequence[Record], start_s: float, end_s: float
) -> tuple[Throttling, ...]:
    """Each instance's CFS throttling over the window, from its CPU group's ``periods``,
    ``throttled_periods`` and ``throttled_s`` (empty without two lab scrapes inside it, or
    with scrapes from before the counters were recorded)."""
    window = _window(scrapes, start_s, end_s)
    if window is None:
        return ()
    before, after, elapsed = window
    throttling = []
    for name in sorted(after):
        one, other = before.get(name, {}), after[name]
        if not all("periods" in group for group in (one, other)):
            return ()
        periods = int(other["periods"]) - int(one["periods"])
        throttled = int(other["throttled_periods"]) - int(one["throttled_periods"])
        seconds = float(other["throttled_s"]) - float(one["throttled_s"])
        share = throttled / periods if periods > 0 else 0.0
        throttling.append(Throttling(max(0.0, share), max(0.0, seconds) / elapsed))
    return tuple(throttling)


def _percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (a value that was sampled)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def pooler_measurement(
    lines: Sequence[Record], start_at: float, end_at: float
) -> PoolerMeasurement | None:
    """PgBouncer between two unix times (None: no ``pool`` reading inside)."""
    readings: dict[float, list[Record]] = {}
    for line in lines:
        if line.get("part") == "pool" and start_at <= float(line["at"]) <= end_at:
            readings.setdefault(float(line["at"]), []).append(line)
    if not readings:
        return None

    def summed(key: str) -> list[float]:
        return [sum(float(pool[key]) for pool in pools) for _, pools in sorted(readings.items())]

    busy = summed("servers_active")
    waiting = summed("clients_waiting")
    clients = summed("clients_active")
    longest = max(float(pool["max_wait_s"]) for pools in readings.values() for pool in pools)
    traffic = [
        line
        for line in lines
        if line.get("part") == "pooler_traffic" and start_at <= float(line["at"]) <= end_at
    ]
    wait_ms = rate = None
    times = sorted({float(line["at"]) for line in traffic})
    if len(times) >= 2:

        def total(at: float, key: str) -> float:
            return sum(float(line[key]) for line in traffic if float(line["at"]) == at)

        transactions = total(times[-1], "transactions") - total(times[0], "transactions")
        waited = total(times[-1], "wait_s") - total(times[0], "wait_s")
        rate = transactions / (times[-1] - times[0])
        wait_ms = waited / transactions * 1e3 if transactions > 0 else None
    return PoolerMeasurement(
        samples=len(busy),
        busy_mean=sum(busy) / len(busy),
        busy_p95=_percentile(busy, 0.95),
        clients_active_mean=sum(clients) / len(clients),
        waiting_mean=sum(waiting) / len(waiting),
        max_wait_ms=longest * 1e3,
        wait_mean_ms=wait_ms,
        transactions_rps=rate,
    )


def _traffic_totals(
    lines: Sequence[Record], start_at: float, end_at: float
) -> tuple[float | None, float | None]:
    """PgBouncer's transactions and their summed hold time between the first and the last
    ``SHOW STATS`` reading inside the window (None: fewer than two readings; the hold is None
    in a lab.jsonl written before ``transaction_s`` was sampled)."""
    traffic = [
        line
        for line in lines
        if line.get("part") == "pooler_traffic" and start_at <= float(line["at"]) <= end_at
    ]
    times = sorted({float(line["at"]) for line in traffic})
    if len(times) < 2:
        return None, None

    def total(at: float, key: str) -> float:
        return sum(float(line.get(key, 0.0)) for line in traffic if float(line["at"]) == at)

    held = None
    if all("transaction_s" in line for line in traffic):
        held = total(times[-1], "transaction_s") - total(times[0], "transaction_s")
    return total(times[-1], "transactions") - total(times[0], "transactions"), held


def lab_demands(run_dir: Path, cpu_limit: float, used_users: Sequence[int]) -> LabDemands:
    """The lab calibration's CPU line and pooler figures (:mod:`models.lab_calibration`)
    over its measure stages at ``used_users``. Only the stretch between the pooler's first
    and last readings inside a stage counts, for the requests too, so that both sides of
    transactions per request cover the same time."""
    levels = read_measured(run_dir)
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    lines = _lines(run_dir / SAMPLES_FILE)
    origins = [
        float(s["lab"]["clock_origin"]) for s in scrapes if "clock_origin" in s.get("lab", {})
    ]
    stages = []
    idle = None
    for level, (start, end) in zip(levels, measure_windows(run), strict=True):
        if level.users == 0:  # the idle stage: the instance's CPU with no requests
            cpu = instance_cpu(scrapes, start, end, cpu_limit)
            idle = sum(cpu) * cpu_limit if cpu else None
            continue
        if level.users not in used_users or not level.throughput_rps:
            continue
        cpu = instance_cpu(scrapes, start, end, cpu_limit)
        transactions = held = None
        duration = end - start
        if origins:
            transactions, held = _traffic_totals(lines, origins[0] + start, origins[0] + end)
            duration = _reading_span(lines, origins[0] + start, origins[0] + end) or duration
        stages.append(
            StageTraffic(
                duration_s=duration,
                throughput_rps=level.throughput_rps,
                cpu_cores=sum(cpu) * cpu_limit if cpu else None,
                transactions=transactions,
                transaction_s=held,
                latency=_latency(level),
            )
        )
    return LabDemands.of(stages, idle)


def _latency(level: MeasuredLevel) -> StageLatency | None:
    """The client's response times at a stage, when it measured all three."""
    if (
        not level.throughput_rps
        or level.mean_ms is None
        or level.p50_ms is None
        or level.p95_ms is None
    ):
        return None
    return StageLatency(level.throughput_rps, level.mean_ms, level.p50_ms, level.p95_ms)


def _reading_span(lines: Sequence[Record], start_at: float, end_at: float) -> float | None:
    times = [
        float(line["at"])
        for line in lines
        if line.get("part") == "pooler_traffic" and start_at <= float(line["at"]) <= end_at
    ]
    return max(times) - min(times) if len(times) >= 2 else None


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _lines(path: Path) -> list[Record]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_lab_measured(run_dir: Path, cpu_limit: float) -> list[MeasuredLevel]:
    """A lab run's measure stages (module docstring): the client's figures, CPU per instance
    of ``cpu_limit`` cores, and PgBouncer's figures when the lab had a pooler."""
    levels = read_measured(run_dir)
    run = _read(run_dir / "run.json")
    scrapes = _read(run_dir / "server.json").get("scrapes", [])
    lines = _lines(run_dir / SAMPLES_FILE)
    origins = [
        float(s["lab"]["clock_origin"]) for s in scrapes if "clock_origin" in s.get("lab", {})
    ]
    origin = origins[0] if origins else None
    measured = []
    for level, (start, end) in zip(levels, measure_windows(run), strict=True):
        per_instance = instance_cpu(scrapes, start, end, cpu_limit)
        pooler = None if origin is None else pooler_measurement(lines, origin + start, origin + end)
        measured.append(
            dataclasses.replace(
                level,
                cpu_utilization=sum(per_instance) / len(per_instance) if per_instance else None,
                cpu_per_instance=per_instance,
                pooler=pooler,
                throttling=instance_throttling(scrapes, start, end),
            )
        )
    return measured
