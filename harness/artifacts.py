"""Writing a run directory exactly as docs/artifacts.md describes it.

The report, the calibration and any later re-reporting read only these files, so this module
is the one place their layout is decided::

    runs/<UTC timestamp>-<scenario>/
      profile.toml  run.json  server.json  report.html
      stats/histograms/<stage index>.json  stats/timeseries.json  stats/failures.json
      stats/writes.jsonl  (written by the journeys during the run)
      logs/         the processes' own logs and the plugin's live feed (not part of the contract)

Every file is written whole to a temporary name and then renamed, so a reader never sees half
a file, and a run that dies half-way leaves complete files of everything it got to.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.run_records import Run

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def unique_dir(out: Path, label: str, moment: datetime | None = None) -> Path:
    """Create and return ``out/<UTC timestamp>-<label>``, with a suffix if it exists already."""
    stamp = (moment or utc_now()).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = out / f"{stamp}-{label}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = out / f"{stamp}-{label}-{suffix}"
    candidate.mkdir(parents=True)
    return candidate


def new_run_dir(out: Path, scenario: str, moment: datetime | None = None) -> Path:
    """A run directory (``unique_dir``) with its ``stats/histograms`` and ``logs`` folders."""
    candidate = unique_dir(out, scenario, moment)
    (candidate / "stats" / "histograms").mkdir(parents=True)
    (candidate / "logs").mkdir()
    return candidate


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as null, recursively: JSON has no NaN, and an
    undefined figure (a minute without requests has no p95; one replication has no interval)
    is what null says."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def write_run(run_dir: Path, run: Run, *, contract_only: bool = False) -> Path:
    """Write ``run.json`` (``contract_only``: the contract's keys alone, for a run whose load
    never started; models/run_records.py)."""
    path = run_dir / "run.json"
    write_json(path, run.to_json(contract_only=contract_only))
    return path


def machine() -> dict[str, Any]:
    """Which machine produced the absolute figures (the report prints it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        locust_version = version("locust")
    except PackageNotFoundError:
        locust_version = "unknown"
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "locust": locust_version,
        "timezone": time.strftime("%Z"),
    }


def render_report(run_dir: Path, baseline: Path | None = None) -> Path | None:
    """Render ``report.html`` with the reports package (beside ``baseline``'s figures when
    given); None (and a logged note) if it fails.

    A report that cannot be rendered never costs the run its other artifacts or exit code.
    """
    try:
        from reports.render import render_run_report
    except ImportError as exc:
        logger.warning("report.html not written: the reports package is not available (%s)", exc)
        return None
    try:
        return render_run_report(run_dir, baseline_dir=baseline)
    except Exception as exc:  # the report is a view of the artifacts; its failure is reported
        logger.warning("report.html not written: %s: %s", type(exc).__name__, exc)
        return None


def regressions(run_dir: Path, baseline: Path, percent: float) -> list[str]:
    """Every figure of ``run_dir`` worse than in ``baseline`` by more than ``percent``, one
    sentence each naming the stage or endpoint and the figure (reports/baseline.py decides
    what "worse" is). Raises ``reports.ArtifactError`` for a missing or malformed directory."""
    from reports import load_run
    from reports.baseline import compare

    new, old = load_run(run_dir), load_run(baseline)
    return compare(new.run, old.run, percent / 100.0, old.directory.name).regressions
