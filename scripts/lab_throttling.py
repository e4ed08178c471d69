"""The CFS quota model against the kernel's own throttling counters, per lab topology level,
from the committed ``harness validate --lab`` documents in docs/validation/.

    .venv/bin/python scripts/lab_throttling.py            # a Markdown table on stdout

What :mod:`models.cpu_quota` assumes about a quarter-core instance (a worker runs at full
speed while the period's budget lasts, then every runnable request waits for the next period)
is put to the test on its own, with the CPU prediction's errors taken out: at each topology
level the model is given what the lab *measured*, the requests per second each instance
served and the CPU each request took (the instance's CPU-group usage less the calibration's
idle line, over those requests), and its throttled share of periods (θ), its throttled time
share and its stall per throttled period are set beside the kernel's (``cpu.stat``:
``nr_throttled`` over ``nr_periods``, ``throttled_time`` per second, and their ratio times
the period). A model that gets θ right and the stall wrong holds the right picture of when a
budget runs out and the wrong one of how long the wait is. The model is given the lab's
placement as the lab profile gives it: every instance on the one service core
(``shared_cores``), so a backlogged instance spends its budget at its part of that core.

Only documents whose levels recorded the counters (``measured.throttling``, from
20261206T235843Z on) appear; a figure the document does not hold is shown as "-".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.lab.cgroups import PERIOD_US
from models.cpu_quota import quota_delay
from models.errors import UnstableError
from models.profile import LAB_SERVICE_CORES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
TOPOLOGY = "lab topology"
#: The lab's CFS period (harness/lab/cgroups.py), the one the model is given.
PERIOD_S = PERIOD_US / 1e6

Document = Mapping[str, Any]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _stall_ms(share: float, time_share: float) -> str:
    return "-" if share <= 0 else f"{time_share / share * PERIOD_S * 1e3:.0f}"


def level_row(
    name: str, level: Mapping[str, Any], instances: int, limit: float, idle: float, workers: int
) -> list[str] | None:
    """One topology level's row (module docstring); None without throttling counters."""
    measured = level.get("measured") or {}
    groups = measured.get("throttling") or []
    rate, cpu = measured.get("throughput_rps"), measured.get("cpu_utilization")
    if not groups or not rate or cpu is None:
        return None
    share = _mean([float(g["throttled_share"]) for g in groups])
    time_share = _mean([float(g["throttled_time_share"]) for g in groups])
    per_instance = float(rate) / instances
    cpu_s = (float(cpu) * limit - idle) / per_instance
    model = ["-", "-", "-"]
    if cpu_s > 0:
        try:
            q = quota_delay(per_instance, cpu_s, limit, PERIOD_S, workers,
                            LAB_SERVICE_CORES / instances)  # fmt: skip
        except UnstableError:
            model = ["saturated", "-", "-"]
        else:
            model = [
                f"{q.throttled_share:.3f}",
                f"{q.throttled_time_share:.3f}",
                _stall_ms(q.throttled_share, q.throttled_time_share),
            ]
    return [
        name,
        str(level["users"]),
        f"{float(cpu):.0%}",
        f"{per_instance:.1f} / {cpu_s * 1e3:.2f} ms" if cpu_s > 0 else f"{per_instance:.1f} / -",
        f"{share:.3f} / {model[0]}",
        f"{time_share:.3f} / {model[1]}",
        f"{_stall_ms(share, time_share)} / {model[2]}",
    ]


def document_rows(name: str, document: Document) -> Iterator[list[str]]:
    """Every topology level of one run that recorded the kernel's counters."""
    decision = document.get("decision") or {}
    line = (decision.get("calibration") or {}).get("lab_demands") or {}
    idle = line.get("idle_cpu_cores")
    topology = next((t for t in document.get("trials", []) if t.get("name") == TOPOLOGY), None)
    if topology is None or idle is None:
        return
    lab = topology.get("lab") or {}
    instances, limit = int(lab.get("instances", 0)), float(lab.get("cpu_limit", 0.0))
    if instances < 1 or limit <= 0:
        return
    workers = int(lab.get("workers_per_instance", 1))
    for level in topology.get("levels", []):
        row = level_row(name, level, instances, limit, float(idle), workers)
        if row is not None:
            yield row


def table(directory: Path = DOCUMENTS) -> str:
    header = [
        "run",
        "users",
        "CPU per instance",
        "per instance: req/s / CPU per request",
        "θ: kernel / model",
        "throttled time share: kernel / model",
        "stall per throttled period, ms: kernel / model",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        lines += ["| " + " | ".join(row) + " |" for row in document_rows(path.stem, document)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    if argv:
        print("usage: scripts/lab_throttling.py (no arguments)", file=sys.stderr)
        return 2
    sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
