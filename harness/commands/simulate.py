"""``harness simulate``: launch day, request by request, with the autoscaler (SimPy).

    harness simulate --hours 1 --start-hour 9            the launch hour, default profile
    harness simulate --hours 24 --fast                   the whole day by the analytic fast path
    harness simulate --hours 1 --replications 5 --json   confidence intervals, JSON on stdout
    harness simulate --mode closed --users 20000 --concurrency-ratio 0.0625 --hours 0.5
    harness simulate --hours 2 --report day.html         also the HTML report (reports.planner)
    harness simulate --scenario day1 --profile lab.toml  a load scenario's stages (ramps at
                                                         its spawn rates), logins included
    harness simulate --external "payments:POST /jobs/{job_id}/award:200:0.5"
                                                         a failing dependency behind its breaker

Writes ``simulation.json`` (totals with intervals, actions, assumptions, per-minute series,
and for runs of 24 hours or more the monthly bill priced on the simulated instance-hours),
``simulation.csv`` (the per-minute series) and ``profile.toml`` to ``--out`` (default
``runs/<UTC timestamp>-simulate/``). A progress bar goes to stderr.

Exit codes: 0 when the report would say Ready: every minute keeps the API p50, p95 and
error-rate objectives and the span keeps its p95, error rate and availability; 1 otherwise
(everything is written all the same), 2 for bad flags or a bad profile. The profile's alert
rules are replayed over the simulated minutes and printed (``alerts`` in ``--json``); rules on
metrics the simulation has no model of are listed as not evaluable, with the reason.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from harness.artifacts import json_safe
from harness.commands.common import (
    add_population_overrides,
    add_profile_argument,
    profile_from_args,
)
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from harness.run.alerts import evaluate
from models.cost import CostEstimate, simulated_cost
from models.fastpath import fast_day
from models.profile import Profile
from models.simulation import (
    ExternalCall,
    MinuteRecord,
    ServiceDraws,
    SimulationOptions,
    SimulationSummary,
    simulate_day,
)
from models.simulation.result import summarise
from reports import render_simulation_report, simulation_verdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    add_population_overrides(parser)
    parser.add_argument(
        "--hours", type=float, default=None,
        help="hours to simulate (default 1, or the --scenario's length)",
    )  # fmt: skip
    parser.add_argument(
        "--start-hour", type=float, default=None, metavar="H0",
        help="hour of launch day to start at (default: the profile's launch_hour, or "
        "midnight for runs of 24 hours or more)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--replications", type=int, default=1, metavar="R",
        help="independent runs (seeds S, S+1, ...) for 95%% confidence intervals",
    )  # fmt: skip
    parser.add_argument(
        "--mode", choices=("open", "closed"), default="open",
        help="open: aggregated Poisson arrivals (any population); closed: one cycle per user "
        "with think time (load-test sized populations)",
    )  # fmt: skip
    parser.add_argument(
        "--scv", type=float, default=1.0,
        help="squared coefficient of variation of service times (1 = exponential)",
    )  # fmt: skip
    parser.add_argument(
        "--fast", action="store_true",
        help="the analytic fast path instead of the simulation (whole day in well under 5 s)",
    )  # fmt: skip
    parser.add_argument(
        "--external", action="append", default=[], metavar="SERVICE:ENDPOINTS:MS[:P]",
        help="endpoints (comma-separated) call SERVICE (a breaker of the profile: payments, "
        "sms, email, storage, ai) with exponential latency of mean MS and failure "
        "probability P (default 0); repeatable. Simulation only (not --fast)",
    )  # fmt: skip
    parser.add_argument(
        "--scenario", metavar="NAME",
        help="a scenario of the profile (day1, step, stress, ...) instead of the day-one "
        "curve: its stages, users ramped at each stage's spawn rate; --hours defaults to its "
        "length",
    )  # fmt: skip
    parser.add_argument(
        "--no-logins", action="store_true",
        help="leave out the session starts (each a login and two calls) the users make",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where to write the series")
    parser.add_argument("--report", type=Path, metavar="FILE", help="also write the HTML report")


def _hours(args: argparse.Namespace, profile: Profile) -> float:
    """``--hours``, or the scenario's own length (whole minutes), or one hour."""
    if args.scenario is not None and args.scenario not in profile.scenarios:
        known = ", ".join(sorted(profile.scenarios))
        raise UsageError(f"--scenario {args.scenario!r}: not a scenario of the profile ({known})")
    if args.hours is not None:
        return float(args.hours)
    if args.scenario is None:
        return 1.0
    seconds = sum(s.duration_s for s in profile.scenario_stages(args.scenario))
    return math.ceil(seconds / 60.0) / 60.0


def _options(args: argparse.Namespace, profile: Profile) -> SimulationOptions:
    args.hours = _hours(args, profile)
    start = args.start_hour
    if start is None:  # a scenario's minutes count from its start
        whole_day = args.hours >= 24 or args.scenario is not None
        start = 0.0 if whole_day else float(profile.day_one.launch_hour)
    if args.mode == "closed" and args.fast:
        raise UsageError("--fast solves the open model; drop --mode closed or --fast")
    if args.external and args.fast:
        raise UsageError("--external is simulated only: the fast path has no external calls")
    externals = tuple(parse_external(spec, profile) for spec in args.external)
    try:
        ServiceDraws(args.scv)  # the simulation's own rule for --scv, checked before anything runs
        return SimulationOptions(
            hours=args.hours, start_hour=start, seed=args.seed,
            replications=args.replications, mode=args.mode, scv=args.scv,
            externals=externals, scenario=args.scenario, logins=not args.no_logins,
        )  # fmt: skip
    except ValueError as exc:
        raise UsageError(f"{exc} (see harness simulate --help)") from None


def parse_external(spec: str, profile: Profile) -> ExternalCall:
    """``SERVICE:ENDPOINT[,ENDPOINT...]:LATENCY_MS[:FAILURE_PROBABILITY]`` as an ExternalCall.

    The service must have a breaker in the profile and every endpoint a service demand;
    UsageError names the value and what was expected.
    """
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise UsageError(
            f"--external {spec!r}: expected SERVICE:ENDPOINT[,ENDPOINT...]:LATENCY_MS"
            "[:FAILURE_PROBABILITY], e.g. 'payments:POST /jobs/{job_id}/award:200:0.1'"
        )
    service, endpoint_list, latency_text = (p.strip() for p in parts[:3])
    services = sorted(name for name in type(profile.infrastructure.breakers).model_fields
                      if name != "database")  # fmt: skip
    if service not in services:
        raise UsageError(
            f"--external {spec!r}: service {service!r} has no breaker in the profile "
            f"(expected one of {', '.join(services)})"
        )
    endpoints = tuple(e.strip() for e in endpoint_list.split(",") if e.strip())
    unknown = [e for e in endpoints if e not in profile.service_demands]
    if not endpoints or unknown:
        raise UsageError(
            f"--external {spec!r}: unknown endpoint {', '.join(map(repr, unknown)) or '(none)'}"
            " (endpoints are named like 'POST /jobs/{job_id}/bids'; see harness profile show)"
        )
    try:
        latency_ms = float(latency_text)
        failure = float(parts[3]) if len(parts) == 4 else 0.0
    except ValueError:
        raise UsageError(f"--external {spec!r}: latency and probability must be numbers") from None
    if not 0 <= latency_ms < math.inf:
        raise UsageError(
            f"--external {spec!r}: latency must be >= 0 ms, got {latency_text} (expected a "
            "finite number of milliseconds)"
        )
    try:
        return ExternalCall(service, endpoints, latency_ms / 1000.0, failure)
    except ValueError as exc:
        raise UsageError(f"--external {spec!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    profile = profile_from_args(args)
    options = _options(args, profile)
    summary = _simulate(profile, options, args.fast, quiet=args.json)
    out = args.out or _default_out()
    cost = day_cost(profile, summary)
    _write(out, profile, summary, cost)
    breaches = _breaches(profile, summary)
    alerts = simulated_alerts(profile, summary)
    if args.report is not None:
        written = render_simulation_report(summary, profile, args.report)
        print(f"report: {written}", file=sys.stderr)
    if args.json:
        document = _document(summary, cost) | {
            "breaches": breaches,
            "alerts": alerts,
            "out": str(out),
        }
        print(json.dumps(json_safe(document), indent=1))
    else:
        _print_human(profile, summary, breaches, out, cost)
        _print_alerts(alerts)
    return ExitCode.BREACH if breaches else ExitCode.OK


def day_cost(profile: Profile, summary: SimulationSummary) -> CostEstimate | None:
    """The monthly bill on the run's billed instance-hours, for runs of whole days (else None).

    A shorter window is one part of the day-one curve and says nothing about a month.
    """
    first = summary.first
    if first.hours < 24:
        return None
    totals = summary.totals
    return simulated_cost(
        profile,
        instance_minutes=totals["instance_minutes"].mean,
        hours=first.hours,
        peak_connections_in_use=totals["max_db_connections"].mean,
        basis=first.method,
    )


def _document(summary: SimulationSummary, cost: CostEstimate | None) -> dict[str, Any]:
    """``simulation.json``: the summary, plus ``cost_monthly_usd`` (by component and
    ``total``, as ``harness model`` prints it) and ``cost_basis``; both null under 24 hours."""
    basis = None
    if cost is not None:
        basis = {
            "method": cost.basis,
            "instance_hours_per_month": round(cost.instance_hours, 2),
            "mean_instances": round(cost.mean_instances, 3),
            "database_tier": cost.database_tier,
            "database_connections": cost.database_connections,
        }
    return summary.to_dict() | {
        "cost_monthly_usd": None if cost is None else cost.to_json(),
        "cost_basis": basis,
    }


def _simulate(profile: Profile, options: SimulationOptions, fast: bool,
              quiet: bool) -> SimulationSummary:  # fmt: skip
    console = Console(stderr=True)
    label = "fast path" if fast else f"simulating ({options.mode})"
    with Progress(
        TextColumn(f"[bold]{label}[/]"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=quiet,
        disable=quiet and not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=1.0)

        def progress(fraction: float) -> None:
            bar.update(task, completed=fraction)

        if fast:
            summary = summarise([fast_day(profile, options, progress)])
        else:
            summary = simulate_day(profile, options, progress)
        bar.update(task, completed=1.0)
    return summary


def _default_out() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = Path("runs") / f"{stamp}-simulate"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path("runs") / f"{stamp}-simulate-{suffix}"
    return candidate


def _write(out: Path, profile: Profile, summary: SimulationSummary,
           cost: CostEstimate | None) -> None:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.toml").write_text(profile.to_toml(), encoding="utf-8")
    (out / "simulation.json").write_text(
        json.dumps(json_safe(_document(summary, cost)), indent=1) + "\n", encoding="utf-8"
    )
    with (out / "simulation.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(MinuteRecord)])
        writer.writeheader()
        writer.writerows(asdict(m) for m in summary.minutes)


#: Alert metrics the simulated minutes cannot give, and why.
NOT_SIMULATED = {
    "memory": "the simulation has no memory model of an instance",
    "disk": "the simulation has no disk",
}


def simulated_alerts(profile: Profile, summary: SimulationSummary) -> dict[str, Any]:
    """The profile's alert rules replayed over the first run's minutes (``for_s`` as in a
    run): ``fired`` (each firing) and ``not_evaluable`` (each rule with the reason)."""
    minutes = summary.first.minutes
    series: dict[str, list[tuple[float, float]]] = {
        "error_rate": [(m.time_s, m.error_rate) for m in minutes],
        "p95_ms": [(m.time_s, m.p95_ms) for m in minutes if not math.isnan(m.p95_ms)],
        "cpu": [(m.time_s, m.cpu) for m in minutes],
        "db_connections": [(m.time_s, m.db_connections) for m in minutes],
    }
    cache = profile.infrastructure.cache
    if cache.enabled:  # the simulation draws hits at the profile's ratio, every minute
        series["cache_hit_ratio"] = [(m.time_s, cache.hit_ratio) for m in minutes]
    fired, _ = evaluate(profile.alerts, series)
    reasons = NOT_SIMULATED | ({} if cache.enabled else {"cache_hit_ratio": "no cache"})
    not_evaluable = [
        f"{severity}: {rule.metric} {rule.op} {rule.threshold:g} ({reasons[rule.metric]})"
        for severity, rules in (
            ("critical", profile.alerts.critical),
            ("warning", profile.alerts.warning),
        )
        for rule in rules
        if rule.metric in reasons
    ]
    return {"fired": [asdict(a) for a in fired], "not_evaluable": not_evaluable}


def _print_alerts(alerts: dict[str, Any]) -> None:
    console = Console(highlight=False)
    fired = alerts["fired"]
    console.print(f"alerts on the simulated minutes: {len(fired)} fired")
    for alert in fired[:10]:
        console.print(
            f"  {alert['severity']}: {alert['metric']} {alert['op']} {alert['threshold']:g} "
            f"at {_clock(alert['fired_at_s'])} ({alert['value']:.4g})"
        )
    for text in alerts["not_evaluable"]:
        console.print(f"  not evaluable: {text}")


def _breaches(profile: Profile, summary: SimulationSummary) -> list[str]:
    """Every objective the report shows, gated: the whole span's figures, then each failure
    of the report's verdict (a minute breaking an objective, the span's availability)."""
    found = _total_breaches(profile, summary)
    verdict = simulation_verdict(summary, profile)
    found.extend(r.text for r in verdict.reasons if r.severity == "fail")
    return found


def _total_breaches(profile: Profile, summary: SimulationSummary) -> list[str]:
    totals = summary.totals
    found = []
    if totals["p95_ms"].mean > profile.slo.api_p95_ms:
        found.append(f"API p95 {totals['p95_ms'].mean:.0f} ms > {profile.slo.api_p95_ms:g} ms")
    if totals["error_rate"].mean > profile.slo.error_rate:
        found.append(f"error rate {totals['error_rate'].mean:.2%} > {profile.slo.error_rate:.2%}")
    return found


def _fmt(mean: float, half: float, spec: str) -> str:
    text = format(mean, spec)
    return text if math.isnan(half) else f"{text} ± {format(half, spec)}"


def _print_human(profile: Profile, summary: SimulationSummary, breaches: list[str],
                 out: Path, cost: CostEstimate | None) -> None:  # fmt: skip
    console = Console(highlight=False)
    first = summary.first
    runs = len(summary.runs)
    console.print(
        f"[bold]{first.method}[/] of {profile.name}: {first.hours:g} h from "
        f"{_clock(first.start_s)}, {first.mode} mode, "
        f"{runs} replication{'s' if runs > 1 else ''} ({summary.to_dict()['wall_s']:.1f} s)"
    )
    hours = Table(title="per hour (means over the hour's minutes)")
    for column in ("from", "users", "req/s", "p50 ms", "max p95 ms", "errors", "instances",
                   "cpu", "db conns"):  # fmt: skip
        hours.add_column(column, justify="right")
    for start in range(0, len(summary.minutes), 60):
        block = summary.minutes[start : start + 60]
        hours.add_row(
            _clock(block[0].time_s),
            f"{_mean(block, 'users'):,.0f}",
            f"{_mean(block, 'rps'):,.0f}",
            f"{_mean(block, 'p50_ms'):.1f}",
            f"{max(m.p95_ms for m in block):.1f}",
            f"{sum(m.errors for m in block) / max(sum(m.requests for m in block), 1):.2%}",
            f"{_mean(block, 'instances'):.1f}",
            f"{_mean(block, 'cpu'):.0%}",
            f"{_mean(block, 'db_connections'):.1f}",
        )
    console.print(hours)
    t = summary.totals
    console.print(
        f"requests {_fmt(t['requests'].mean, t['requests'].half_width, ',.0f')}; "
        f"p95 {_fmt(t['p95_ms'].mean, t['p95_ms'].half_width, '.1f')} ms; "
        f"errors {_fmt(t['error_rate'].mean * 100, t['error_rate'].half_width * 100, '.3f')}%; "
        f"instance-hours {_fmt(t['instance_minutes'].mean / 60, t['instance_minutes'].half_width / 60, '.1f')}; "  # noqa: E501
        f"peak instances {t['peak_instances'].mean:.0f}; "
        f"scaling actions {t['scaling_actions'].mean:.0f}"
    )
    for action in first.actions[:20]:
        console.print(
            f"  {action.time_s / 60:7.1f} min  {action.before:>3} -> {action.after:<3} "
            f"({action.reason})"
        )
    if cost is None:
        console.print("monthly cost: simulate 24 hours or more (--hours 24) to price a month")
    else:
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in cost.to_json().items() if k != "total")
        console.print(
            f"monthly cost on these instance-hours ({cost.mean_instances:.1f} instances on "
            f"average, every day like this one): ${cost.total:,.0f} ({parts}; database tier "
            f"'{cost.database_tier}')"
        )
    console.print("assumptions:")
    for item in first.assumptions:
        console.print(f"  - {item}")
    for breach in breaches:
        console.print(f"[red]BREACH[/] {breach}")
    console.print(f"written: {out}/simulation.json, simulation.csv")


def _mean(block: tuple[MinuteRecord, ...], name: str) -> float:
    values = [getattr(m, name) for m in block if not math.isnan(getattr(m, name))]
    return sum(values) / len(values) if values else math.nan


def _clock(seconds: float) -> str:
    minutes = int(seconds // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
