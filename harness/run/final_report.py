"""The Locust master's last word on a run (``HARNESS_FINAL``, written by
harness/run/locust_plugin.py when Locust quits), read back with its types checked.

It says when the load started and stopped, whether the shape ran its last stage, which
workers were lost or never sent their final report, the peak users and the persona mix, the
busiest process's CPU, and every failure with when it was first and last seen. A report that
is missing or unreadable means the master did not quit cleanly: the run is then incomplete.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from models.json_fields import JsonFields


@dataclass(frozen=True, slots=True)
class FailureSeen:
    """One kind of failure: a (method, name, error) and how often, wall-clock times."""

    method: str
    name: str
    error: str
    occurrences: int
    first_seen: float | None
    last_seen: float | None

    def to_json(self, t0: float) -> dict[str, object]:
        """The ``stats/failures.json`` row: times as seconds since ``t0`` (the run's start)."""

        def since(wall: float | None) -> float | None:
            return None if wall is None else round(wall - t0, 3)

        return {
            "method": self.method,
            "name": self.name,
            "error": self.error,
            "occurrences": self.occurrences,
            "first_seen_s": since(self.first_seen),
            "last_seen_s": since(self.last_seen),
        }


@dataclass(frozen=True, slots=True)
class FinalReport:
    """The master's final report (the module docstring)."""

    wall: float
    """When it was written (wall clock)."""
    test_started_at: float | None
    finished_at: float | None
    """When the users were stopped (None: the test never got to stop them)."""
    stages_completed: bool
    stop_reason: str | None
    lost_workers: Mapping[str, str] = field(default_factory=dict)
    """Worker id -> how it was lost (``"stopped sending heartbeats at ..."``)."""
    missing_final_report: tuple[str, ...] = ()
    peak_users: int = 0
    user_classes: Mapping[str, int] = field(default_factory=dict)
    """Users per Locust user class at the peak."""
    cpu_max: float = 0.0
    failures: tuple[FailureSeen, ...] = ()

    @property
    def stopped_wall(self) -> float:
        """When the load was stopped (the report's own time if the users never were)."""
        return self.finished_at or self.wall

    @classmethod
    def from_json(cls, data: object) -> FinalReport:
        fields = JsonFields(data)
        lost = fields.opt_child("lost_workers")
        classes = fields.opt_child("user_classes")
        return FinalReport(
            wall=fields.number("wall"),
            test_started_at=fields.opt_number("test_started_at"),
            finished_at=fields.opt_number("finished_at"),
            stages_completed=bool(fields.data.get("stages_completed")),
            stop_reason=fields.opt_text("stop_reason"),
            lost_workers={} if lost is None else {k: lost.text(k) for k in lost.data},
            missing_final_report=fields.opt_texts("missing_final_report"),
            peak_users=fields.opt_integer("peak_users") or 0,
            user_classes={} if classes is None else classes.integers(),
            cpu_max=fields.opt_number("cpu_max") or 0.0,
            failures=tuple(
                FailureSeen(
                    method=f.text("method"),
                    name=f.text("name"),
                    error=f.text("error"),
                    occurrences=f.integer("occurrences"),
                    first_seen=f.opt_number("first_seen"),
                    last_seen=f.opt_number("last_seen"),
                )
                for f in fields.opt_items("failures")
            ),
        )


def read_final_report(path: Path) -> FinalReport | None:
    """The report at ``path``; None when it is missing or not what the plugin writes."""
    try:
        return FinalReport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):  # RecordError and JSONDecodeError are ValueErrors
        return None
