"""Realistic run directories for report tests: every file of docs/artifacts.md, consistent.

The figures follow a small, deterministic story (fixed seed) so tests can recompute what the
report must say: latency grows with users, the SLO records are computed from the stage records
against the profile's objectives, the time series and scrapes cover every stage, and the
prediction is the measurement's trend with a band. Variants:

    RunSpec()                            passing 5-stage step run with prediction and sizing
    RunSpec(failing=True)                p95 breaks its objective from 400 users
    RunSpec(incomplete=True)             a worker died: complete=false, counts disagree
    RunSpec(latency_factor=1.3)          the same run 30% slower (a baseline's regression)
    RunSpec(stages=(..), endpoints=50)   the benchmark's one-hour, 50-endpoint run
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.catalogue import endpoints as catalogue_endpoints
from models.catalogue import split_endpoint
from models.profile import Profile, load_profile

HOST = "http://127.0.0.1:8765"
PAGES = (
    "homeowner.dashboard",
    "homeowner.browse_jobs",
    "contractor.browse_open_jobs",
    "contractor.view_job",
    "operator.operator_dashboard",
)


@dataclass(frozen=True)
class RunSpec:
    stages: tuple[int, ...] = (100, 200, 300, 400, 500)
    stage_s: float = 60.0
    window_s: float = 2.0
    failing: bool = False
    incomplete: bool = False
    loadgen_unreliable: bool = False
    latency_factor: float = 1.0
    endpoints: int | None = None
    prediction: bool = True
    sizing: bool = True
    simulation: bool = False
    seed: int = 7
    scenario: str = "step"


def base_p50(users: float, spec: RunSpec) -> float:
    """The story's p50 at ``users``: a gentle rise, then a knee past 300 users when failing."""
    p50 = 18.0 + 0.04 * users
    if spec.failing and users >= 400:
        p50 += 0.9 * (users - 300)
    return p50 * spec.latency_factor


def stage_record(index: int, users: int, spec: RunSpec) -> dict[str, Any]:
    p50 = base_p50(users, spec)
    p95 = p50 * 3.2
    throughput = users / 25.0  # closed workload: about one request per 25 s of think time
    requests = round(throughput * spec.stage_s)
    error_rate = 0.02 if spec.failing and users >= 500 else 0.001
    failures = round(requests * error_rate)
    return {
        "index": index,
        "name": f"stage {index + 1}",
        "users": users,
        "duration_s": spec.stage_s,
        "started_at_s": index * spec.stage_s,
        "throughput_rps": throughput,
        "requests": requests,
        "failures": failures,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p95 * 1.6,
        "p999_ms": p95 * 2.2,
        "mean_ms": p50 * 1.3,
        "error_rate": failures / requests if requests else 0.0,
        "page_p95_ms": p95 * 2.1,
        "availability": 0.99 if spec.failing and users >= 500 else 1.0,
    }


def slo_records(stages: list[dict[str, Any]], profile: Profile) -> list[dict[str, Any]]:
    """The gates as the harness computes them: per stage, and overall (stage null)."""
    slo = profile.slo
    checks = (
        ("api_p50_ms", slo.api_p50_ms, "p50_ms"),
        ("api_p95_ms", slo.api_p95_ms, "p95_ms"),
        ("page_p95_ms", slo.page_p95_ms, "page_p95_ms"),
        ("error_rate", slo.error_rate, "error_rate"),
        ("availability", slo.availability, "availability"),
    )
    records = []
    for stage in [*stages, None]:
        for name, target, key in checks:
            measured = (
                stage[key]
                if stage is not None
                else (min if name == "availability" else max)(s[key] for s in stages)
            )
            passed = measured >= target if name == "availability" else measured < target
            records.append(
                {
                    "name": name,
                    "target": target,
                    "measured": measured,
                    "passed": passed,
                    "stage": None if stage is None else stage["index"],
                }
            )
    return records


def endpoint_names(count: int | None) -> list[str]:
    names = list(catalogue_endpoints())
    if count is None:
        return names
    extra = [f"GET /synthetic/{i}/{{item_id}}" for i in range(max(0, count - len(names)))]
    return (names + extra)[:count]


def endpoint_records(spec: RunSpec, stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(spec.seed)
    total = sum(s["requests"] for s in stages)
    names = endpoint_names(spec.endpoints)
    weights = [rng.uniform(0.5, 3.0) for _ in names]
    top = stages[-1]
    records = []
    for name, weight in zip(names, weights, strict=True):
        method, route = split_endpoint(name)
        requests = round(total * weight / sum(weights))
        scale = rng.uniform(0.6, 1.5)
        failures = round(requests * top["error_rate"])
        p50 = top["p50_ms"] * scale
        records.append(
            {
                "endpoint": name,
                "method": method,
                "name": route,
                "requests": requests,
                "failures": failures,
                "failure_rate": failures / requests if requests else 0.0,
                "mean_ms": p50 * 1.3,
                "p50_ms": p50,
                "p90_ms": p50 * 2.4,
                "p95_ms": p50 * 3.2,
                "p99_ms": p50 * 5.1,
                "max_ms": p50 * 9.0,
                "p999_ms": p50 * 7.3,
            }
        )
    for page in PAGES:
        requests = round(total / 12)
        p50 = top["p50_ms"] * 2.0
        records.append(
            {
                "endpoint": f"PAGE {page}",
                "method": "PAGE",
                "name": page,
                "requests": requests,
                "failures": 0,
                "failure_rate": 0.0,
                "mean_ms": p50 * 1.2,
                "p50_ms": p50,
                "p90_ms": p50 * 2.0,
                "p95_ms": p50 * 2.4,
                "p99_ms": p50 * 3.5,
                "max_ms": p50 * 6.0,
            }
        )
    return records


def timeseries(spec: RunSpec, stages: list[dict[str, Any]]) -> dict[str, Any]:
    rng = random.Random(spec.seed + 1)
    records = []
    for stage in stages:
        windows = int(stage["duration_s"] / spec.window_s)
        for w in range(windows):
            t = stage["started_at_s"] + w * spec.window_s
            ramp = min(1.0, (w + 1) / 5)  # users arrive over the first windows of a stage
            previous = stages[stage["index"] - 1]["users"] if stage["index"] else 0
            users = previous + (stage["users"] - previous) * ramp
            noise = rng.uniform(0.85, 1.15)
            records.append(
                {
                    "t_s": t,
                    "stage": stage["index"],
                    "users": round(users),
                    "rps": stage["throughput_rps"] * ramp * noise,
                    "p50_ms": stage["p50_ms"] * noise,
                    "p95_ms": stage["p95_ms"] * noise,
                    "error_rate": stage["error_rate"],
                    "availability": stage["availability"],
                }
            )
    return {"window_s": spec.window_s, "records": records}


def server(spec: RunSpec, stages: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    scrapes, cpu = [], 0.0
    step = 5.0
    end = sum(s["duration_s"] for s in stages)
    t = 0.0
    while t <= end:
        stage = stages[min(int(t // spec.stage_s), len(stages) - 1)]
        cpu += step * min(2.0, stage["throughput_rps"] * 0.004)
        in_use = min(20.0, stage["users"] / 40)
        scrapes.append(
            {
                "t_s": t,
                "cpu_seconds": cpu,
                "pool_in_use": in_use,
                "pool_waiting": max(0.0, stage["users"] / 40 - 20),
                "pool_size": 20.0,
                "routes": {
                    n: {
                        "requests": 0,
                        "errors": 0,
                        "cpu_seconds": 0.0,
                        "db_seconds": 0.0,
                        "duration_seconds": 0.0,
                    }
                    for n in names[:3]
                },
            }
        )
        t += step
    return {"scrapes": scrapes}


def prediction(spec: RunSpec, stages: list[dict[str, Any]]) -> dict[str, Any]:
    # The model's curve over a wider range than the run, so the chart shows the trend.
    users_axis = sorted({*(s["users"] for s in stages), 0, 600})
    base = RunSpec(stages=spec.stages)  # the model never knows the run will be slow
    out = []
    for users in users_axis:
        throughput = users / 25.0 * 1.02
        p50 = base_p50(users, base) * 1.08
        out.append(
            {
                "users": users,
                "throughput_rps": throughput,
                "throughput_rps_low": throughput * 0.93,
                "throughput_rps_high": throughput * 1.07,
                "mean_ms": p50 * 1.3,
                "p50_ms": p50,
                "p95_ms": p50 * 3.0,
                "cpu_utilization": min(1.0, users / 800),
                "error_rate": 0.0,
            }
        )
    return {"model": "mva", "calibrated": True, "stages": out}


def sizing_result(
    profile: Profile, users: int | None = None, *, fits: bool = True
) -> dict[str, Any]:
    """A ``harness model --json`` object, shaped as docs/artifacts.md ("capacity.json") says."""
    users = users or profile.population.users
    peak = users * profile.population.dau_ratio * profile.population.concurrency_ratio
    instances = math.ceil(peak / 800)
    connections = math.ceil(peak / 260)
    auto = profile.infrastructure.autoscaling
    pool = profile.infrastructure.database
    compute = instances * profile.cost.instance_hourly_usd * profile.cost.hours_per_month
    cost = {
        "compute": compute,
        "database": 2500.0,
        "cache": 500.0,
        "storage_cdn": users * 0.0025,
        "monitoring": 300.0 + 20 * instances,
    }
    cost["total"] = sum(cost.values())
    return {
        "users": users,
        "dau": users * profile.population.dau_ratio,
        "peak_concurrent": peak,
        "peak_rps": peak / 25.0,
        "instances": {
            "required": instances,
            "min": auto.min_instances,
            "max": auto.max_instances,
            "fits": instances <= auto.max_instances,
        },
        "db_connections": {
            "required": connections if fits else 140,
            "pool_min": pool.pool_min,
            "pool_max": pool.pool_max,
            "fits": fits,
        },
        "latency": {"p50_ms": 42.0, "p95_ms": 180.0},
        "utilization": {"app_cpu": 0.62, "db_pool": 0.71},
        "cost_monthly_usd": cost,
        "limits": {
            "max_users_by_instances": 1_600_000,
            "max_users_by_db_pool": 520_000 if fits else 285_000,
        },
        "assumptions": {
            "think_time_s": "30/20/45 s by persona",
            "service_demands": "profile defaults (uncalibrated)",
        },
    }


def simulation(profile: Profile, hours: int = 24) -> list[dict[str, Any]]:
    """Per-minute records of a simulated launch day, shaped as the simulation writes them."""
    peak = profile.peak_concurrent()
    curve = profile.day_one.hourly_fraction_of_peak
    records = []
    for minute in range(hours * 60):
        users = peak * curve[(minute // 60) % 24]
        instances = min(50, max(8, math.ceil(users / 800)))
        records.append(
            {
                "t_min": float(minute),
                "users": users,
                "rps": users / 25,
                "p50_ms": 40 + users / 2000,
                "p95_ms": 150 + users / 200,
                "error_rate": 0.0005,
                "instances": instances,
                "connections_in_use": users / 260,
                "cpu": 0.55,
            }
        )
    return records


def write_run(directory: Path, spec: RunSpec = RunSpec()) -> Path:
    """Write a complete run directory for ``spec`` into ``directory``; return it."""
    profile = load_profile()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stats").mkdir(exist_ok=True)
    stages = [stage_record(i, u, spec) for i, u in enumerate(spec.stages)]
    names = endpoint_names(spec.endpoints)
    endpoints = endpoint_records(spec, stages)
    api = [e for e in endpoints if e["method"] != "PAGE"]
    client_total = sum(e["requests"] for e in api)
    by_endpoint = [
        {
            "endpoint": e["endpoint"],
            "client": e["requests"],
            "server": e["requests"] - (3 if spec.incomplete and i == 0 else 0),
        }
        for i, e in enumerate(api)
    ]
    server_total = sum(row["server"] for row in by_endpoint)
    slo = slo_records(stages, profile)
    alerts = []
    if spec.failing:
        alerts = [
            {
                "severity": "warning",
                "metric": "p95_ms",
                "op": ">",
                "threshold": 1000.0,
                "fired_at_s": 250.0,
                "value": 1180.0,
            },
            {
                "severity": "critical",
                "metric": "p95_ms",
                "op": ">",
                "threshold": 2000.0,
                "fired_at_s": 262.0,
                "value": 2040.0,
            },
        ]
    run = {
        "schema_version": 1,
        "scenario": spec.scenario,
        "started_at": "2026-11-28T15:30:00Z",
        "finished_at": "2026-11-28T15:35:00Z",
        "complete": not spec.incomplete,
        "incomplete_reasons": ["worker 2 stopped sending reports at 181 s (heartbeat lost)"]
        if spec.incomplete
        else [],
        "target": {"host": HOST, "workers": 2, "database": "sqlite", "bundled": True},
        "load_generator": {
            "workers": 2,
            "processes": 2,
            "users_per_process": 250,
            "cpu_max": 0.95 if spec.loadgen_unreliable else 0.41,
            "unreliable": spec.loadgen_unreliable,
        },
        "stages": stages,
        "endpoints": endpoints,
        "persona_mix": {
            "target": {"homeowner": 0.6, "contractor": 0.35, "operator": 0.05},
            "achieved": {"homeowner": 0.598, "contractor": 0.352, "operator": 0.05},
        },
        "slo": slo,
        "alerts": alerts,
        "integrity": {"acknowledged_writes": 412, "lost": 0, "unexpected": 0, "checked": True},
        "server_vs_client": {
            "client_total": client_total,
            "server_total": server_total,
            "match": client_total == server_total,
            "by_endpoint": by_endpoint,
        },
        "exit_code": 3 if spec.incomplete else (0 if all(s["passed"] for s in slo) else 1),
    }
    _dump(directory / "run.json", run)
    (directory / "profile.toml").write_text(profile.to_toml(), "utf-8")
    _dump(directory / "stats" / "timeseries.json", timeseries(spec, stages))
    _dump(directory / "server.json", server(spec, stages, names))
    if spec.prediction:
        _dump(directory / "prediction.json", prediction(spec, stages))
    if spec.sizing:
        _dump(directory / "capacity.json", sizing_result(profile))
    if spec.simulation:
        _dump(directory / "simulation.json", {"records": simulation(profile)})
    return directory


def read_run(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "run.json").read_text("utf-8"))
    return data


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1), "utf-8")
