"""The model's side of a run: ``capacity.json`` (the sizing of the run's profile),
``simulation.json`` (the run's profile's launch day through the analytic fast path, with the
autoscaler: the report's day-one timeline) and ``prediction.json`` (what the closed-network
model expects of each stage on this machine).

Written next to the measurements so that every report, not only ``harness validate``'s, puts
prediction and measurement side by side. The prediction needs to know the machine, so it is
made only for the bundled service (``servers`` = its worker processes, at most the cores);
for an external ``--host`` the machine is unknown and only the capacity plan is written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from harness.artifacts import json_safe
from models.fastpath import fast_day
from models.prediction import Prediction, predict
from models.profile import Profile, Stage
from models.simulation import SimulationOptions
from models.sizing import size

logger = logging.getLogger(__name__)


def service_servers(service_workers: int) -> int:
    """CPU servers of the bundled service: one per worker process, at most one per core."""
    return max(1, min(service_workers, os.cpu_count() or 1))


def predict_stages(
    profile: Profile, stages: Sequence[Stage], servers: int, calibrated: bool = False
) -> Prediction | None:
    """The prediction for each distinct user level of ``stages`` (None when all are empty)."""
    levels = sorted({stage.users for stage in stages if stage.users > 0})
    if not levels:
        return None
    spawn_rate = min(stage.spawn_rate for stage in stages)
    return predict(profile, levels, servers=servers, calibrated=calibrated, spawn_rate=spawn_rate)


def write_model_outputs(
    run_dir: Path,
    profile: Profile,
    stages: Sequence[Stage],
    *,
    service_workers: int,
    bundled: bool,
) -> None:
    """Write ``capacity.json``, ``simulation.json`` and, for the bundled service,
    ``prediction.json``.

    A model failure is logged and costs the run nothing else: the measurement stands alone.
    An existing ``prediction.json`` (a calibrated one from ``harness validate``) or
    ``simulation.json`` (one a user put there from ``harness simulate``) is kept.
    """
    try:
        sizing = size(profile)
        (run_dir / "capacity.json").write_text(
            json.dumps(sizing.to_json(), indent=2) + "\n", encoding="utf-8"
        )
        _write_simulated_day(run_dir / "simulation.json", profile)
        prediction_path = run_dir / "prediction.json"
        if bundled and not prediction_path.exists():
            prediction = predict_stages(profile, stages, service_servers(service_workers))
            if prediction is not None:
                prediction.write(prediction_path)
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        logger.warning("model outputs not written for %s: %s", run_dir, exc)


def _write_simulated_day(path: Path, profile: Profile) -> None:
    """The profile's launch day through the fast path (well under a second for 24 hours,
    docs/simulation.md), so the report's timeline has the autoscaler's lag in it. Kept when
    present: a user may have put a full ``harness simulate`` result there."""
    if path.exists():
        return
    day = fast_day(profile, SimulationOptions(hours=24.0, start_hour=0.0))
    path.write_text(json.dumps(json_safe(day.to_dict())) + "\n", encoding="utf-8")
