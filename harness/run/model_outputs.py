"""The model's side of a run: ``capacity.json`` (the sizing of the run's profile),
``simulation.json`` (the run's profile's launch day through the analytic fast path, with the
autoscaler: the report's day-one timeline) and ``prediction.json`` (what the closed-network
model expects of each stage on this machine).

Written next to the measurements so that every report, not only ``harness validate``'s, puts
prediction and measurement side by side. The prediction needs to know the machine, so it is
made only for the bundled service (``servers`` = its worker processes, at most the cores);
for an external ``--host`` the machine is unknown and only the capacity plan is written. On
the lab (``--instances``/``--lab``) the prediction is the topology model's for the lab the run
asked for: K instances at their CPU limit behind the pooler, replicas and cache
(:class:`models.lab_prediction.FleetModel` over :meth:`models.profile.Profile.lab_profile`).

The three depend on the profile and the stages alone, so ``harness run`` computes them
(:class:`ModelOutputsAhead`) while the bundled service starts, and writes them at the end as
before. The model modules (scipy, SimPy: about a second to import) are imported only then,
on that thread, and so are the report's (matplotlib: over a second more), which every run
renders at its end: there they would add to each run's time after its load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from harness.artifacts import json_safe
from harness.run.lab_plan import LabRequest
from models.profile import Profile, Stage, merge, validate_profile

if TYPE_CHECKING:
    from models.prediction import Prediction
    from models.simulation import SimulationResult
    from models.sizing import Sizing

logger = logging.getLogger(__name__)
T = TypeVar("T")


def service_servers(service_workers: int) -> int:
    """CPU servers of the bundled service: one per worker process, at most one per core."""
    return max(1, min(service_workers, os.cpu_count() or 1))


def predict_stages(
    profile: Profile, stages: Sequence[Stage], servers: int, calibrated: bool = False
) -> Prediction | None:
    """The prediction for each distinct user level of ``stages`` (None when all are empty)."""
    from models.prediction import predict

    levels = sorted({stage.users for stage in stages if stage.users > 0})
    if not levels:
        return None
    spawn_rate = min(stage.spawn_rate for stage in stages)
    return predict(profile, levels, servers=servers, calibrated=calibrated, spawn_rate=spawn_rate)


def with_lab(profile: Profile, lab: LabRequest) -> Profile:
    """``profile`` whose ``[lab]`` is the lab a run asked for (its flags over the profile's)."""
    section = {
        "instances": lab.instances,
        "cpu_limit": lab.cpu_limit,
        "workers_per_instance": lab.workers_per_instance,
        "pooler": lab.pooler,
        "read_replicas": lab.read_replicas,
        "cache": lab.cache,
    }
    return validate_profile(merge(profile.model_dump(mode="json"), {"lab": section}), "lab flags")


def predict_lab_stages(
    profile: Profile, stages: Sequence[Stage], lab: LabRequest
) -> Prediction | None:
    """The topology model's prediction for each distinct user level of ``stages`` on ``lab``
    (None when all are empty)."""
    from models.lab_prediction import FleetModel

    levels = sorted({stage.users for stage in stages if stage.users > 0})
    if not levels:
        return None
    spawn_rate = min(stage.spawn_rate for stage in stages)
    model = FleetModel(with_lab(profile, lab).lab_profile(), lab.instances, spawn_rate)
    return model.predict(levels)


def _prediction(
    profile: Profile, stages: Sequence[Stage], servers: int, lab: LabRequest | None
) -> Prediction | None:
    if lab is not None:
        return predict_lab_stages(profile, stages, lab)
    return predict_stages(profile, stages, servers)


def _sizing(profile: Profile) -> Sizing:
    from models.sizing import size

    return size(profile)


def _simulated_day(profile: Profile) -> SimulationResult:
    """The profile's launch day through the fast path (well under a second for 24 hours,
    docs/simulation.md), so the report's timeline has the autoscaler's lag in it."""
    from models.fastpath import fast_day
    from models.simulation import SimulationOptions

    return fast_day(profile, SimulationOptions(hours=24.0, start_hour=0.0))


class _Outcome(Generic[T]):
    """A computation's value, or the exception it raised, which ``get()`` raises again."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._error: Exception | None = None
        try:
            self._value: T | None = compute()
        except Exception as exc:  # raised where the writer would have raised it (get)
            self._value, self._error = None, exc

    def get(self) -> T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # compute() returned it


@dataclass(frozen=True, slots=True)
class _Computed:
    sizing: _Outcome[Sizing]
    day: _Outcome[SimulationResult]
    prediction: _Outcome[Prediction | None] | None
    """None when not bundled: no prediction is written then."""


class ModelOutputsAhead:
    """What :func:`write_model_outputs` writes, computed on a thread from now on.

    ``harness run`` starts it once the bundled service's process is launched: the harness
    waits for the service anyway, and the service starts on one core while this runs on the
    other. It is waited for before the load starts, so none of it shares the CPU with the
    measured load. Each computation's exception is kept and raised where the writer would
    have raised it: the files and warnings are those of computing at the end.
    """

    def __init__(
        self,
        profile: Profile,
        stages: Sequence[Stage],
        *,
        service_workers: int,
        bundled: bool,
        plan_profile: Profile | None = None,
        lab: LabRequest | None = None,
    ) -> None:
        self._key = (profile, tuple(stages), service_servers(service_workers), bundled, lab)
        self._plan = plan_profile or profile
        self._computed: _Computed | None = None
        self._thread = threading.Thread(target=self._compute, name="model-outputs")
        self._thread.start()

    def _compute(self) -> None:
        profile, stages, servers, bundled, lab = self._key
        plan = self._plan
        self._computed = _Computed(
            sizing=_Outcome(lambda: _sizing(plan)),
            day=_Outcome(lambda: _simulated_day(plan)),
            prediction=_Outcome(lambda: _prediction(profile, stages, servers, lab))
            if bundled
            else None,
        )
        _import_report_modules()

    def wait(self) -> None:
        self._thread.join()

    def results(
        self,
        profile: Profile,
        stages: Sequence[Stage],
        service_workers: int,
        bundled: bool,
        lab: LabRequest | None = None,
    ) -> _Computed | None:
        """The computations, once finished, if they were made for exactly these inputs."""
        self.wait()
        key = (profile, tuple(stages), service_servers(service_workers), bundled, lab)
        same = key[0] is self._key[0] and key[1:] == self._key[1:]
        return self._computed if same else None


def _import_report_modules() -> None:
    """Import the report's modules now (module docstring); a failure is the report's to
    name when it renders (harness/artifacts.py)."""
    with contextlib.suppress(ImportError):
        import reports.render  # noqa: F401


def write_model_outputs(
    run_dir: Path,
    profile: Profile,
    stages: Sequence[Stage],
    *,
    service_workers: int,
    bundled: bool,
    ahead: ModelOutputsAhead | None = None,
    plan_profile: Profile | None = None,
    plan: bool = True,
    lab: LabRequest | None = None,
) -> None:
    """Write ``capacity.json`` and ``simulation.json`` (the launch planned for
    ``plan_profile``, by default the run's own; neither without ``plan``) and, for the
    bundled service, ``prediction.json`` (the run's own stages; on ``lab``, the topology
    model's).

    A model failure is logged and costs the run nothing else: the measurement stands alone.
    An existing ``prediction.json`` (a calibrated one from ``harness validate``) or
    ``simulation.json`` (one a user put there from ``harness simulate``) is kept. ``ahead``
    has them computed already (:class:`ModelOutputsAhead`); it is used only when it was made
    for these same arguments.
    """
    done = ahead.results(profile, stages, service_workers, bundled, lab) if ahead else None
    launch = plan_profile or profile
    try:
        if plan:
            _write_plan(run_dir, launch, done)
        prediction_path = run_dir / "prediction.json"
        if bundled and not prediction_path.exists():
            if done is not None and done.prediction is not None:
                prediction = done.prediction.get()
            else:
                servers = service_servers(service_workers)
                prediction = _prediction(profile, stages, servers, lab)
            if prediction is not None:
                prediction.write(prediction_path)
    except (ValueError, ArithmeticError, RuntimeError) as exc:
        logger.warning("model outputs not written for %s: %s", run_dir, exc)


def _write_plan(run_dir: Path, launch: Profile, done: _Computed | None) -> None:
    """capacity.json and, unless one is there already, simulation.json: the launch planned
    for ``launch``."""
    sizing = done.sizing.get() if done else _sizing(launch)
    (run_dir / "capacity.json").write_text(
        json.dumps(sizing.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    # Kept when present: a user may have put a full `harness simulate` result there.
    simulation_path = run_dir / "simulation.json"
    if not simulation_path.exists():
        day = done.day.get() if done else _simulated_day(launch)
        simulation_path.write_text(json.dumps(json_safe(day.to_dict())) + "\n", encoding="utf-8")
