"""Records for the validation's tests, built with only the figures a test cares about."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.validate.plan import overlay
from models.prediction import LevelPrediction
from models.profile import Profile, load_profile
from models.validation_records import MeasuredLevel


def level_prediction(users: int, **figures: float) -> LevelPrediction:
    """A predicted level: the named ``figures``, the others 0 (intervals equal to them)."""
    values = {
        "throughput_rps": 0.0, "mean_ms": 0.0, "p50_ms": 0.0, "p95_ms": 0.0,
        "cpu_utilization": 0.0, "settling_time_s": 1.0, **figures,
    }  # fmt: skip
    return LevelPrediction(
        users=users,
        throughput_rps=values["throughput_rps"],
        throughput_rps_low=values["throughput_rps"],
        throughput_rps_high=values["throughput_rps"],
        mean_ms=values["mean_ms"],
        mean_ms_low=values["mean_ms"],
        mean_ms_high=values["mean_ms"],
        p50_ms=values["p50_ms"],
        p95_ms=values["p95_ms"],
        p95_ms_low=values["p95_ms"],
        p95_ms_high=values["p95_ms"],
        cpu_utilization=values["cpu_utilization"],
        db_utilization=None,
        settling_time_s=values["settling_time_s"],
    )


def one_run(
    users: int,
    rps: float,
    mean_ms: float,
    cpu: float | None = 0.5,
    loadgen: float = 0.3,
    **more: Any,
) -> MeasuredLevel:
    """One replication's measured level, as ``measured_levels`` makes it."""
    return MeasuredLevel(
        users=users, throughput_rps=rps, mean_ms=mean_ms, p50_ms=mean_ms * 0.8,
        p95_ms=mean_ms * 3, error_rate=0.0, requests=round(rps * 10),
        cpu_utilization=cpu, loadgen_cpu=loadgen, **more,
    )  # fmt: skip


#: Three calibration loads: (throughput req/s, CPU cores busy, mean, p50, p95 in ms).
LOADS = [(27.0, 0.10, 3.4, 3.1, 6.5), (132.0, 0.54, 3.6, 2.7, 8.4), (262.0, 0.82, 3.8, 2.6, 9.5)]
#: Three light calibration loads, every one at or under the calibration's 50% CPU.
LIGHT = [(27.0, 0.10, 3.4, 3.1, 6.5), (70.0, 0.25, 3.5, 2.9, 7.5), (132.0, 0.45, 3.6, 2.7, 8.4)]


Load = tuple[float, float, float, float, float]
"""A measured stage: (throughput req/s, CPU cores busy, mean, p50, p95 in ms)."""


def write_run(directory: Path, loads: list[Load], users: list[int] | None = None) -> Path:
    """A run directory whose stages alternate settle (10 s) and measure (30 s) per load; its
    scrapes count every request on one route, ``GET /jobs``, with half the service's CPU."""
    stages: list[dict[str, Any]] = []
    scrapes: list[dict[str, Any]] = []
    t, cpu, requests = 0.0, 0.0, 0.0
    counts = users or [20 * (i + 1) for i in range(len(loads))]
    for i, (x, u, mean, p50, p95) in enumerate(loads):
        stages.append({"index": 2 * i, "users": counts[i], "started_at_s": t, "elapsed_s": 10})
        t += 10.0
        cpu += 10.0 * u
        measure = {
            "index": 2 * i + 1,
            "users": counts[i],
            "started_at_s": t,
            "elapsed_s": 30.0,
            "throughput_rps": x,
            "mean_ms": mean,
            "p50_ms": p50,
            "p95_ms": p95,
            "requests": int(30 * x),
            "error_rate": 0.0,
        }
        stages.append(measure)
        for _ in range(16):  # a scrape every 2 s across the measure stage
            route = {"requests": requests, "cpu_seconds": cpu / 2, "db_seconds": requests * 1e-4}
            scrapes.append({"t_s": t, "cpu_seconds": cpu, "routes": {"GET /jobs": route}})
            t += 2.0
            cpu += 2.0 * u
            requests += 2.0 * x
        t -= 2.0
        cpu -= 2.0 * u
        requests -= 2.0 * x
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps({"stages": stages}))
    (directory / "server.json").write_text(json.dumps({"scrapes": scrapes}))
    return directory


def routes_profile() -> Profile:
    """The default profile with route CPU a quarter of its assumption: about 0.9 ms per
    request, what the bundled service's routes measure on their own (thread clock)."""
    profile = load_profile()
    demands = {
        route: {"cpu_ms": demand.cpu_ms / 4, "db_ms": demand.db_ms}
        for route, demand in profile.service_demands.items()
    }
    return overlay(profile, {"service_demands": demands})


def finished_run(
    directory: Path, loads: list[Any], complete: bool = True, users: list[int] | None = None
) -> Path:
    """:func:`write_run` with the run's own verdict on completeness."""
    run_dir = write_run(directory, loads, users)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**run, "complete": complete}))
    return run_dir


def synthetic_service(users: int) -> Load:
    """What a one-core service measures at ``users`` users of a 1.6 s think time: 3 ms of CPU
    per request, a 3 ms floor and processor-sharing stretch, 330 req/s at saturation."""
    cpu_s, floor_s, think_s = 0.003, 0.003, 1.6
    x = min(users / (think_s + floor_s), 0.999 / cpu_s)
    u = x * cpu_s
    mean = floor_s / (1 - min(u, 0.99)) * 1e3
    return (x, u, mean, mean * 0.8, mean * 2.5)


#: What a scripted burst stage measures (:class:`FakeRuns`): 3 ms of CPU per request, the
#: synthetic service's (test_runner.py), at a light 30% CPU.
BURST = [(100.0, 0.30, 40.0, 35.0, 80.0)]
#: And a scripted deep burst: the same throughput, 10% more CPU, a queue nine times deeper
#: (X·R / U: 121 requests in the service against the burst's 13).
DEEP_BURST = [(100.0, 0.33, 400.0, 350.0, 800.0)]


class FakeRuns:
    """Stands in for :class:`harness.validate.runs.Runs`: each ``step`` call takes the next
    entry of ``script`` (the loads a run measures, or a function of the users of each measure
    stage giving its load; with its exit code and completeness, and optionally a function that
    adds to the run's directory, e.g. :func:`with_lab_samples`; or an exception to raise) and
    writes that run's directory; the profiles asked for are kept. A burst stage (the ``tick``
    think mode) takes ``burst`` instead, and the next one (the deep burst) ``deep_burst``,
    leaving the script to the other runs."""

    def __init__(
        self, root: Path, *script: Any, burst: Any = BURST, deep_burst: Any = DEEP_BURST
    ) -> None:
        self.root = root
        self.burst = burst
        self.deep_burst = deep_burst
        self.thinks: list[str] = []
        self.script = list(script)
        self.profiles: list[Profile] = []
        self.plans: list[Profile | None] = []
        self.plan: Profile | None = None
        self.made: list[Path] = []
        self.lab: Any = None
        self.labs: list[Any] = []
        """The lab each run was asked for (None: the pinned service alone)."""

    def on_lab(self, lab: Any, database_url: str | None) -> FakeRuns:
        """Like :meth:`harness.validate.runs.Runs.on_lab`: each later run's lab."""
        self.lab = lab
        return self

    def planning(self, launch: Profile) -> FakeRuns:
        """Like :meth:`harness.validate.runs.Runs.planning`: each later run's plan."""
        self.plan = launch
        return self

    def step(self, profile: Profile, think: str = "profile") -> Any:
        from harness.validate.runs import RunResult

        self.profiles.append(profile)
        self.plans.append(self.plan)
        self.labs.append(self.lab)
        self.thinks.append(think)
        if think == "tick":
            entry = self.deep_burst if "tick" in self.thinks[:-1] else self.burst
        else:
            entry = self.script.pop(0)
        if isinstance(entry, BaseException):
            raise entry
        augment = None
        if isinstance(entry, tuple) and len(entry) == 4:
            *entry, augment = entry
            entry = tuple(entry)
        loads, code, complete = entry if isinstance(entry, tuple) else (entry, 0, True)
        if loads is None:
            return RunResult(code, None)
        users = None
        if callable(loads):
            users = [stage.users for stage in profile.scenario_stages("step")[1::2]]
            loads = [loads(n) for n in users]
        run_dir = finished_run(self.root / f"step-{len(self.made) + 1}", loads, complete, users)
        (run_dir / "profile.toml").write_text(profile.to_toml(), encoding="utf-8")
        if augment is not None:
            augment(run_dir)
        self.made.append(run_dir)
        return RunResult(code, run_dir)


#: The clock origin (unix time) of a scripted lab run: lab.jsonl's ``at`` minus it is ``t_s``.
LAB_ORIGIN = 1_000_000.0


def with_lab_samples(
    instances: int,
    busy: Callable[[int], list[int]],
    *,
    transactions_rps: float = 40.0,
    transaction_ms: float | None = None,
) -> Callable[[Path], None]:
    """What a lab run adds to a :func:`write_run` directory: each scrape's ``lab`` record
    (the instances share the scrape's CPU equally; the run's clock origin), and lab.jsonl's
    PgBouncer readings, one a second: ``busy(users)`` gives each measure stage's
    ``sv_active`` readings in turn (cycled), nobody waiting, ``transactions_rps``, each held
    ``transaction_ms`` (no ``transaction_s`` in the lines when None, as before it was
    sampled)."""

    def augment(run_dir: Path) -> None:
        server = json.loads((run_dir / "server.json").read_text())
        for scrape in server["scrapes"]:
            share = {"usage_s": scrape["cpu_seconds"] / instances}
            scrape["lab"] = {
                "instances": {f"instance_{i + 1}": dict(share) for i in range(instances)},
                "clock_origin": LAB_ORIGIN,
            }
        (run_dir / "server.json").write_text(json.dumps(server))
        run = json.loads((run_dir / "run.json").read_text())
        lines: list[dict[str, Any]] = []
        done = 0.0
        for stage in run["stages"][1::2]:
            readings = busy(int(stage["users"]))
            for second in range(int(stage["elapsed_s"]) + 1):
                at = LAB_ORIGIN + stage["started_at_s"] + second
                active = readings[second % len(readings)]
                lines.append({"at": at, "part": "pool", "database": "app", "user": "postgres",
                              "clients_active": 5, "clients_waiting": 0,
                              "servers_active": active, "servers_idle": 20 - active,
                              "servers_used": 0, "max_wait_s": 0.0})  # fmt: skip
                traffic = {"transactions": done, "queries": 2 * done, "wait_s": 0.0}
                if transaction_ms is not None:
                    traffic["transaction_s"] = done * transaction_ms / 1e3
                lines.append({"at": at, "part": "pooler_traffic", "database": "app", **traffic})
                done += transactions_rps
        (run_dir / "lab.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))

    return augment
