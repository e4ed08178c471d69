"""Trial (b): the lab's topology, predicted by the topology model and measured.

    one lab instance, calibrated at light load (the decision's calibration, decision_trial.py)
        │ demands
        ▼
    TopologyModel: the planner's stations (CPU limit, cache, pooler, replicas: models/topology.py)
        for the lab's K instances, closed over the users' loop (models/lab_prediction.py)
        │ levels where it predicts each ``topology_cpu_targets`` CPU per instance
        ▼
    Trial (trial.py): settle + measure stage per level, one run on the whole lab (K instances
        behind HAProxy, PgBouncer, PostgreSQL with its replicas, the cache), compared per level

Judged per level, where the model predicted at most 85% CPU, like every trial: CPU per instance
(its CPU group's usage over the limit), mean and p95 latency against the same goals, and the
pooler's connections busy (mean and p95 of PgBouncer's ``sv_active``) within 20% or one
connection; the pooler's wait (``cl_waiting``, ``maxwait``, the wait per transaction) is shown
beside the Erlang-C wait, not judged. The top levels are loads the calibration never came near:
K instances at up to 85% of their limit, where one instance was calibrated at 50% at most.

The naive baseline is the lab calibration's heaviest stage: its CPU per request spread over the
fleet, its latency held constant.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from harness.run.lab_plan import LabRequest
from harness.validate.baseline import NaiveBaseline
from harness.validate.decision_trial import LabCalibrated
from harness.validate.fit import Models, login_cpu_ms
from harness.validate.lab_measure import read_lab_measured
from harness.validate.plan import levels_at_cpu
from harness.validate.settings import ValidationSettings
from harness.validate.trial import Trial
from models.lab_calibration import LabDemands
from models.lab_prediction import FleetModel
from models.pooler_records import PoolerPrediction
from models.prediction import Prediction
from models.profile import Profile

__all__ = [
    "ABOVE_IDLE",
    "TOPOLOGY_TRIAL",
    "TopologyModel",
    "describe_lab",
    "over_idle",
    "topology_trial",
]

#: The trial's name in validation.json.
TOPOLOGY_TRIAL = "lab topology"
#: How far over the instance's idle CPU (a fraction of its limit) a level's target must be.
ABOVE_IDLE = 0.10


def over_idle(
    targets: Sequence[float], measured: LabDemands | None, cpu_limit: float
) -> tuple[float, ...]:
    """The CPU targets with each at least :data:`ABOVE_IDLE` of the limit over the idle CPU the
    lab calibration measured (unchanged without it). An instance's CPU group spends its idle
    line with no requests at all (0.04 of 0.25 cores in the runs of 2026-12-07 evening), so a
    15% target fell on it: the model put the level at one user, and its CPU judged the idle
    reading's noise (+58.6% and +38.5%), not a load."""
    if measured is None or not cpu_limit > 0:
        return tuple(targets)
    least = measured.idle_cpu_cores / cpu_limit + ABOVE_IDLE
    return tuple(sorted({round(max(t, least), 6) for t in targets}))


@dataclass(frozen=True)
class TopologyModel:
    """The topology model of the lab at ``instances`` instances: a trial's
    :class:`~harness.validate.fit.Predictor`. ``calibrated`` is the profile the runs use (the
    validation's think times, the lab calibration's demands); the model sees its lab section
    as the infrastructure (:meth:`~models.profile.Profile.lab_profile`)."""

    calibrated: Profile
    instances: int
    spawn_rate: float
    measured: LabDemands | None = None
    """What the lab calibration measured beside the demands (models/lab_calibration.py)."""

    @cached_property
    def fleet(self) -> FleetModel:
        return FleetModel(
            self.calibrated.lab_profile(), self.instances, self.spawn_rate, self.measured
        )

    def predict(self, levels: Sequence[int]) -> Prediction:
        return self.fleet.predict(levels)

    def pooler_at(self, users: int) -> PoolerPrediction | None:
        """The pooler station at ``users`` (None: the lab has no pooler)."""
        return self.fleet.at(users).pooler

    def cpu_at(self, users: int) -> float:
        """CPU per instance at ``users`` users, as a fraction of the instance's limit."""
        return self.fleet.at(users).level.cpu_utilization

    @property
    def saturation_users(self) -> float:
        return self.fleet.saturation_users

    def levels_at_cpu(self, targets: Sequence[float]) -> list[int]:
        return levels_at_cpu(self.cpu_at, targets, self.saturation_users)

    @property
    def login_cpu_ms(self) -> float:
        """How long one login keeps the fleet, for the settle stages: its CPU over the
        instances' cores together (the logins of arriving users spread over them)."""
        return login_cpu_ms(self.calibrated) / (self.instances * self.calibrated.lab.cpu_limit)

    @property
    def shares(self) -> dict[str, float]:
        return {name: persona.share for name, persona in self.calibrated.personas.items()}

    def for_mix(self, transform: Callable[[Profile], Profile]) -> TopologyModel:
        return dataclasses.replace(self, calibrated=transform(self.calibrated))


def describe_lab(lab: LabRequest) -> str:
    """The lab in words: ``3 instances of 0.25 cores behind HAProxy, PgBouncer, ...``."""
    parts = ["HAProxy"]
    if lab.pooler:
        parts.append("PgBouncer")
    replicas = lab.read_replicas
    parts.append(
        f"PostgreSQL with {replicas} read replica{'s' if replicas != 1 else ''}"
        if replicas
        else "the database"
    )
    if lab.cache:
        parts.append("the Redis cache")
    plural = "s" if lab.instances != 1 else ""
    return f"{lab.instances} instance{plural} of {lab.cpu_limit:g} cores behind {', '.join(parts)}"


def topology_trial(calibrated: LabCalibrated, settings: ValidationSettings) -> Trial:
    """The trial on the lab as the profile's ``[lab]`` section has it: levels where the
    topology model predicts each of ``topology_cpu_targets``, one run."""
    lab = calibrated.lab
    model = TopologyModel(
        calibrated.profile, lab.instances, settings.spawn_rate, calibrated.measured
    )
    targets = over_idle(settings.topology_cpu_targets, calibrated.measured, lab.cpu_limit)
    levels = tuple(model.levels_at_cpu(targets))
    heaviest = calibrated.heaviest
    fleet_cores = lab.instances * lab.cpu_limit
    baseline = None if heaviest is None else NaiveBaseline.of(heaviest, cores=fleet_cores)
    beyond = (
        ""
        if heaviest is None
        else f", at up to {max(levels) / heaviest.users:.1f} times the lab calibration's "
        f"heaviest load ({heaviest.users} users on one instance)"
    )
    return Trial(
        name=TOPOLOGY_TRIAL,
        what_differs=f"{describe_lab(lab)}{beyond}",
        models=Models(judged=model, alternative=None, alternative_fit="", baseline=baseline),
        levels=levels,
        settings=settings,
        think_scale=settings.think_scale,
        measure=functools.partial(read_lab_measured, cpu_limit=lab.cpu_limit),
        pooler_at=model.pooler_at,
        lab=dataclasses.asdict(lab),
    )
