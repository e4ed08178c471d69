"""The light calibration, for one instance wherever it runs: a pilot stage sizes the loads, then
stages at CPU targets well under the instance's capacity measure the demands.

The single-instance protocol calibrates the pinned service (a whole core); the instance
decision calibrates one lab instance under its CPU limit. Both go through :func:`calibrate_light`
with the capacity they have (``cpu_cores``): every CPU target, and the limit no stage the fit
uses may pass, are fractions of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.exit_codes import ExitCode
from harness.validate.fit import Calibrated, calibrate, light_stages, login_cpu_ms
from harness.validate.measure import read_measured
from harness.validate.plan import (
    calibration_stages,
    calibration_users,
    pilot_stages,
    with_step_stages,
)
from harness.validate.runs import Runs
from harness.validate.settings import CALIBRATION_CPU_LIMIT, ValidationSettings
from models.calibration import CalibrationError
from models.profile import Profile
from models.validation_records import CalibrationRecord

__all__ = ["LightCalibration", "calibrate_light"]


@dataclass(frozen=True)
class LightCalibration:
    """Where a light calibration reports: its record, the capacity it measures against, the
    directory its ``calibration.toml`` goes to, and how it says what went wrong."""

    record: CalibrationRecord
    cpu_cores: float
    """The instance's capacity: 1 for the pinned service, the CPU limit on the lab."""
    directory: Path
    label: str
    """Put before "pilot" and "calibration" in messages: "" or "lab "."""
    incomplete: Callable[[str], None]
    warn: Callable[[str], None]
    save: Callable[[], None]
    idle_s: float = 0.0
    """A last, idle stage of this many seconds (no users; 0: none): the instance's CPU with
    no requests, which the lab's CPU line takes as its intercept."""

    @property
    def cpu_limit(self) -> float:
        """The CPU no stage the fit uses may pass, in cores."""
        return CALIBRATION_CPU_LIMIT * self.cpu_cores

    def login_ms(self, profile: Profile) -> float:
        """How long one login keeps the instance, for the settle stages: its CPU over the
        instance's cores (a quarter-core instance takes four times as long)."""
        return login_cpu_ms(profile) / self.cpu_cores


def calibrate_light(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    into: LightCalibration,
    log: TextIO,
) -> Calibrated | None:
    """The pilot, then the light stages; the demands they give (None, with the reason
    recorded, when either run gave nothing to calibrate on)."""
    record = into.record
    record.cpu_limit = into.cpu_limit
    cpu_per_user = _pilot(profile, settings, runs, into, log)
    if cpu_per_user is None:
        return None
    scaled = dataclasses.replace(
        settings,
        calibration_cpu_targets=tuple(t * into.cpu_cores for t in settings.calibration_cpu_targets),
    )
    users = calibration_users(cpu_per_user, scaled)
    print(f"validate: {into.label}calibration, {users} users (light load only)", file=log)
    result = runs.step(
        with_step_stages(
            profile, calibration_stages(users, settings, into.login_ms(profile), into.idle_s)
        )
    )
    record.run = None if result.directory is None else str(result.directory)
    if result.code == ExitCode.UNREACHABLE or result.directory is None:
        into.incomplete(f"the {into.label}calibration run did not complete")
        return None
    try:
        calibration = calibrate(result.directory, profile)
    except CalibrationError as exc:
        into.incomplete(f"the {into.label}calibration run gave nothing to calibrate on: {exc}")
        return None
    record.stages, record.used_users = light_stages(result.directory, into.cpu_limit)
    over = [s.users for s in record.stages if s.users and s.users not in record.used_users]
    if over:
        into.warn(
            f"{into.label}calibration stages at {over} users ran over {into.cpu_limit:.0%} "
            "CPU (or had no CPU figure) and were left out of the fit"
        )
    into.directory.mkdir(parents=True, exist_ok=True)
    calibration.write(into.directory)
    into.save()
    return calibration


def _pilot(
    profile: Profile,
    settings: ValidationSettings,
    runs: Runs,
    into: LightCalibration,
    log: TextIO,
) -> float | None:
    """The pilot stage's CPU per user, which sizes the calibration (None: reason recorded)."""
    print(f"validate: {into.label}pilot, {settings.pilot_users} users", file=log)
    stages = pilot_stages(settings, into.login_ms(profile))
    result = runs.step(with_step_stages(profile, stages))
    into.record.pilot_run = None if result.directory is None else str(result.directory)
    if result.directory is None or not result.wrote_run_json:
        into.incomplete(f"the {into.label}pilot run did not complete")
        return None
    levels = read_measured(result.directory)
    cpu = levels[-1].cpu_utilization if levels else None
    if not cpu:
        into.incomplete(
            f"the {into.label}pilot run measured no service CPU (two scrapes are needed)"
        )
        return None
    into.record.pilot_cpu_per_user = cpu / settings.pilot_users
    into.save()
    return into.record.pilot_cpu_per_user
