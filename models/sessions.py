"""Session starts: the logins, an arrival stream of their own beside the screens.

A person who signs in makes the ``LOGIN_CALLS`` once (``POST /auth/login`` hashes the password
on purpose, so it costs far more CPU than a screen's call), then opens screens every think
time. Logins come from two sources:

* **turnover**: with N users online and sessions lasting ``population.session_minutes`` on
  average, ``N / session_s`` sessions end, and as many start, every second;
* **joining**: when the number online rises, every new user signs in: at the ramp's
  ``spawn_rate`` in a staged scenario (as Locust spawns them), and, for the day-one curve's
  hourly steps, within the step's first :data:`RUSH_S` seconds (the launch announcement
  brings its users at once, not spread over the hour).

So the login rate at t is ``N(t)/session_s + joining(t)``, and each login adds its three calls
(each with its routes through the topology, :mod:`models.topology`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.errors import ParameterError
from models.profile import Profile, Stage

__all__ = ["RUSH_S", "LoginRush", "StagedUsers", "login_rate", "login_rush", "rush_joining"]

RUSH_S = 60.0
"""Seconds over which the new users of a day-one step sign in."""


def login_rate(profile: Profile, users: float, joining_per_s: float) -> float:
    """Logins per second with ``users`` online and ``joining_per_s`` new ones arriving."""
    return users / (profile.population.session_minutes * 60.0) + max(0.0, joining_per_s)


def rush_joining(previous: float, current: float, seconds_into_step: float) -> float:
    """Users joining per second ``seconds_into_step`` after a step from ``previous`` to
    ``current`` users online (the rise signs in during the first :data:`RUSH_S` seconds)."""
    if current <= previous or not 0.0 <= seconds_into_step < RUSH_S:
        return 0.0
    return (current - previous) / RUSH_S


@dataclass(frozen=True)
class StagedUsers:
    """Users online over a staged scenario (``Profile.scenario_stages``), ramped as Locust
    ramps them: each stage moves from the previous stage's users at ``spawn_rate`` per
    second, then holds. After the last stage, its users stay."""

    stages: tuple[Stage, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ParameterError("a staged scenario needs at least one stage")

    @classmethod
    def from_profile(cls, profile: Profile, scenario: str, scale: float = 1.0) -> StagedUsers:
        return cls(profile.scenario_stages(scenario, scale))

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    def _locate(self, t_s: float) -> tuple[float, Stage, float]:
        """(users before the stage, the stage, seconds into it) at ``t_s``."""
        previous = 0.0
        start = 0.0
        for stage in self.stages:
            if t_s < start + stage.duration_s:
                return previous, stage, t_s - start
            previous = float(stage.users)
            start += stage.duration_s
        last = self.stages[-1]
        return float(last.users), last, math.inf

    def users(self, t_s: float) -> float:
        previous, stage, into = self._locate(t_s)
        if math.isinf(into):
            return previous
        step = stage.spawn_rate * into
        if stage.users >= previous:
            return min(float(stage.users), previous + step)
        return max(float(stage.users), previous - step)

    def joining(self, t_s: float) -> float:
        """Users per second signing in at ``t_s`` (the ramp up, 0 while holding or falling)."""
        previous, stage, into = self._locate(t_s)
        if math.isinf(into) or stage.users <= previous:
            return 0.0
        return stage.spawn_rate if previous + stage.spawn_rate * into < stage.users else 0.0


@dataclass(frozen=True, slots=True)
class LoginRush:
    """The launch step's rush: its new users signing in within :data:`RUSH_S` seconds, beside
    the screens, on the fleet that was serving before the step (the autoscaler reads a whole
    evaluation period and then waits for provisioning, so it cannot help within the minute)."""

    joining: float
    """Users the launch hour adds to the hour before it."""
    logins_per_s: float
    worker_s_per_login: float
    """Worker time of one login's calls at the instance's CPU limit."""
    busy_workers: float
    """Workers busy during the rush: the logins' and the peak screens' work per second."""
    workers: int
    """Workers of the fleet serving when the step comes (the peak's provisioned instances)."""
    workers_per_instance: int = 1

    @property
    def fits(self) -> bool:
        return self.busy_workers < self.workers

    @property
    def instances_needed(self) -> int:
        """Instances that would keep the rush minute under full load (at least one)."""
        per_instance = self.workers_per_instance
        return max(1, math.ceil(self.busy_workers / per_instance - 1e-9))

    def to_json(self) -> dict[str, object]:
        return {
            "joining": round(self.joining, 1),
            "logins_per_s": round(self.logins_per_s, 2),
            "worker_ms_per_login": round(self.worker_s_per_login * 1e3, 3),
            "busy_workers": round(self.busy_workers, 2),
            "workers": self.workers,
            "instances_needed": self.instances_needed,
            "fits": self.fits,
        }


def login_rush(
    profile: Profile, *, worker_s_per_login: float, screen_busy_workers: float, instances: int
) -> LoginRush:
    """The rush of the day-one curve's launch hour (``day_one.launch_hour``) at the peak."""
    hours = profile.day_one.hourly_fraction_of_peak
    launch = profile.day_one.launch_hour
    peak = profile.peak_concurrent()
    joining = max(0.0, peak * (hours[launch] - hours[launch - 1]))
    logins = login_rate(profile, peak, joining / RUSH_S)
    workers = profile.infrastructure.workers_per_instance
    return LoginRush(
        joining=joining,
        logins_per_s=logins,
        worker_s_per_login=worker_s_per_login,
        busy_workers=screen_busy_workers + logins * worker_s_per_login,
        workers=instances * workers,
        workers_per_instance=workers,
    )
