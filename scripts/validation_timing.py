"""Where a ``harness validate`` run's time went, part by part, from its committed documents.

    .venv/bin/python scripts/validation_timing.py                 # every --lab document
    .venv/bin/python scripts/validation_timing.py docs/validation/20261207T090147Z.json

A document names every run it made by its directory, ``<stamp>-step`` (the moment the run
started, to the second), and the validation's own ``started_at`` and ``finished_at``. A run
lasted until the next one started (the last until the validation finished), which counts its
service's or lab's start, its stages and its artifacts alike. Each run is put in its part
(the pilot, the calibration, the burst stage and its deep burst, each trial, the lab's pilot
and calibration, the instance decision) from the keys that name it; the table gives each
part's minutes beside the plan's whole (``protocol.planned_duration_s``) and the 30-minute
budget.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "docs" / "validation"
#: The budget ``harness validate --lab`` keeps to (harness/validate/duration.py).
BUDGET_MIN = 30.0
#: The parts in the order a validation runs them, with the table's short names.
PARTS = {
    "pilot": "pilot",
    "calibration": "calibration",
    "burst stage": "burst",
    "probe": "probe",
    "far beyond the calibration": "far",
    "held-out mix": "mix",
    "held-out think time": "think",
    "lab pilot": "lab pilot",
    "lab calibration": "lab calibration",
    "instance decision": "decision",
    "lab topology": "topology",
}
_STAMP = re.compile(r"(\d{8}T\d{6}Z)-step")

Document = Mapping[str, Any]


@dataclass(frozen=True)
class TimedRun:
    """One run of a validation: the part it belongs to, when it started, how long it took."""

    part: str
    started: datetime
    seconds: float


def _stamp(run: str | None) -> datetime | None:
    """When a run started, from its directory's name (None without one)."""
    found = _STAMP.search(run or "")
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _when(iso: str | None) -> datetime | None:
    if not iso:
        return None
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _named_runs(document: Document) -> Iterator[tuple[str, str | None]]:
    """(part, run directory) for every run the document names."""
    calibration = document.get("calibration") or {}
    yield "pilot", calibration.get("pilot_run")
    yield "calibration", calibration.get("run")
    # the deep burst, from dff37fc, is counted with the burst stage: the table's "burst"
    for burst in ("burst", "deep_burst"):
        yield "burst stage", (calibration.get(burst) or {}).get("run")
    yield "probe", (document.get("probe") or {}).get("run")
    for trial in document.get("trials", []):
        for run in trial.get("runs", []):
            yield str(trial["name"]), run
    decision = document.get("decision") or {}
    lab_calibration = decision.get("calibration") or {}
    yield "lab pilot", lab_calibration.get("pilot_run")
    yield "lab calibration", lab_calibration.get("run")
    for count in decision.get("measured", []):
        for one in count.get("replications") or [{"run": count.get("run")}]:
            yield "instance decision", one.get("run")


def timed_runs(document: Document) -> list[TimedRun]:
    """The document's runs in the order they started, each with its seconds until the next
    one started (the last, until the validation finished)."""
    started = {
        when: part for part, run in _named_runs(document) if (when := _stamp(run)) is not None
    }
    order = sorted(started)
    finished = _when(document.get("finished_at"))
    ends = [*order[1:], finished]
    return [
        TimedRun(started[when], when, (end - when).total_seconds() if end else 0.0)
        for when, end in zip(order, ends, strict=True)
    ]


def part_minutes(document: Document) -> tuple[dict[str, float], float]:
    """Minutes per part and the whole validation's minutes (which also hold the moments
    before the first run and the document's last writing)."""
    began, finished = _when(document.get("started_at")), _when(document.get("finished_at"))
    if began is None or finished is None:
        return {}, 0.0
    parts: dict[str, float] = {}
    for run in timed_runs(document):
        parts[run.part] = parts.get(run.part, 0.0) + run.seconds / 60
    return parts, (finished - began).total_seconds() / 60


def table(documents: Sequence[tuple[str, Document]]) -> list[str]:
    """One Markdown row per document of a whole ``--lab`` validation (the single instance's
    trials and the lab's), a column per part."""
    rows = [(name, *part_minutes(document)) for name, document in documents]
    rows = [row for row in rows if {"far beyond the calibration", "lab calibration"} <= set(row[1])]
    seen = {part for _, parts, _ in rows for part in parts}
    names = [part for part in PARTS if part in seen] + sorted(seen - set(PARTS))
    lines = [
        "| run | " + " | ".join(PARTS.get(part, part) for part in names) + " | total | planned "
        "| budget |",
        "|---|" + "---:|" * (len(names) + 3),
    ]
    for name, parts, total in rows:
        document = dict(documents)[name]
        planned = ((document.get("protocol") or {}).get("planned_duration_s") or {}).get("expected")
        cells = [f"{parts[part]:.1f}" if part in parts else "-" for part in names]
        over = "over" if total > BUDGET_MIN else "within"
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {total:.1f} | {'-' if planned is None else f'{planned / 60:.1f}'} | {over} |"
        )
    return lines


def main(argv: Sequence[str]) -> int:
    paths = [Path(arg) for arg in argv] or sorted(DOCUMENTS.glob("*.json"))
    documents = [(path.stem, json.loads(path.read_text(encoding="utf-8"))) for path in paths]
    print("\n".join(table(documents)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
