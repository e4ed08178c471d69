"""``harness model``: the capacity plan for the profile (analytic, in milliseconds).

    harness model                                  the default profile: 400k users
    harness model --users 500_000 --json           one point as JSON (capacity.json in
                                                   docs/artifacts.md)
    harness model --users 100000:1000000:100000    a sweep: one table row (or JSON object) per point
    harness model --report plan.html               the capacity report (reports.planner)

Exit codes: 0 when every point fits the profile's bounds (instances and pool), 1 when one
does not (the plan is printed all the same), 2 for bad flags or a bad profile.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.commands.common import add_profile_argument, population_overrides
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from models.profile import Profile, load_profile
from models.sizing import Sizing, size
from reports import render_capacity_report

MAX_SWEEP_POINTS = 1000
#: What ``--users`` accepts for one number: ASCII digits, underscores only between them.
WHOLE_NUMBER = re.compile(r"[0-9]+(?:_[0-9]+)*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument(
        "--users",
        dest="users_spec",
        metavar="N|START:STOP:STEP",
        help="override population.users: a whole number, digits with optional underscores "
        "between groups (400000 or 400_000; no commas), or START:STOP:STEP of such numbers, "
        "an inclusive sweep (100_000:1_000_000:100_000)",
    )
    parser.add_argument("--dau-ratio", type=float, help="override population.dau_ratio")
    parser.add_argument(
        "--concurrency-ratio", type=float, help="override population.concurrency_ratio"
    )
    parser.add_argument("--json", action="store_true", help="print JSON (a list for a sweep)")
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="also write the capacity report (HTML)"
    )


def parse_users(spec: str | None) -> list[int] | None:
    """``None``, ``"400000"`` (or ``"400_000"``) or ``"100000:1000000:100000"`` (inclusive) as
    user counts.

    A comma is refused, not read as a thousands separator: ``400000,500000`` looks like a list
    of two populations and would silently become one of 400,000,500,000 users. Raises
    UsageError naming the value; the counts themselves are validated by the profile.
    """
    if spec is None:
        return None
    if "," in spec:
        raise UsageError(
            f"--users {spec!r}: a comma is neither a thousands separator nor a list here; write "
            "400000 or 400_000, and START:STOP:STEP for several populations"
        )
    parts = spec.split(":")
    if not all(WHOLE_NUMBER.fullmatch(part) for part in parts):
        raise UsageError(
            f"--users {spec!r}: expected a whole number (digits, optionally grouped by "
            "underscores: 400_000) or START:STOP:STEP of whole numbers"
        )
    numbers = [int(part) for part in parts]
    if len(numbers) == 1:
        return numbers
    if len(numbers) != 3:
        raise UsageError(f"--users {spec!r}: a sweep is START:STOP:STEP (three numbers)")
    start, stop, step = numbers
    if start < 1 or step < 1 or stop < start:
        raise UsageError(
            f"--users {spec!r}: need START >= 1, STOP >= START and STEP >= 1 "
            f"(got start={start}, stop={stop}, step={step})"
        )
    count = (stop - start) // step + 1
    if count > MAX_SWEEP_POINTS:
        raise UsageError(f"--users {spec!r}: {count} points; at most {MAX_SWEEP_POINTS}")
    return list(range(start, stop + 1, step))


def _profile(args: argparse.Namespace, users: int | None) -> Profile:
    overrides: dict[str, Any] = population_overrides(args)
    if users is not None:
        overrides.setdefault("population", {})["users"] = users
    return load_profile(args.profile, overrides=overrides or None)


def run(args: argparse.Namespace) -> int:
    counts = parse_users(args.users_spec)
    sweep = counts is not None and len(counts) > 1
    if args.report is not None and sweep:
        raise UsageError("--report takes a single point, not a --users sweep")
    points = [None] if counts is None else counts
    # Every profile is validated before any sizing, so a bad override fails fast (exit 2).
    profiles = [_profile(args, users) for users in points]
    plans = [size(profile, compare_costs=not sweep) for profile in profiles]
    if args.report is not None:
        _write_report(plans[0], profiles[0], args.report)
    if args.json:
        payload = [p.to_json() for p in plans] if sweep else plans[0].to_json()
        print(json.dumps(payload, indent=2))
    else:
        console = Console(width=max(Console().width, 110))
        if sweep:
            console.print(sweep_table(plans))
            _print_assumptions(console, plans[0])
        else:
            print_plan(console, plans[0])
        if args.report is not None:
            console.print(f"report: {args.report}")
    return ExitCode.OK if all(p.fits for p in plans) else ExitCode.BREACH


def _write_report(plan: Sizing, profile: Profile, path: Path) -> None:
    render_capacity_report(plan, profile, path)


# --- Rendering -------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "overloaded" if value is None else f"{value:,.1f} ms"


def _users(value: int | None) -> str:
    return "unbounded" if value is None else f"{value:,}"


def _fits(ok: bool) -> str:
    return "[green]fits[/green]" if ok else "[bold red]DOES NOT FIT[/bold red]"


def print_plan(console: Console, plan: Sizing) -> None:
    """The single-point plan: every number a capacity planner asks for, then assumptions."""
    console.print(
        f"[bold]Capacity plan[/bold]: {plan.users:,} users, {plan.dau:,.0f} daily active, "
        f"{plan.peak_concurrent:,.0f} concurrent at the peak, {plan.peak_rps:,.0f} API "
        "requests/s"
    )
    tiers = Table(title="Peak", show_header=True, header_style="bold")
    for column in ("", "required", "bounds", "provisioned", "verdict"):
        tiers.add_column(column, justify="right" if column else "left")
    i = plan.instances
    tiers.add_row(
        "app instances",
        f"{i.required}",
        f"{i.min}-{i.max}",
        f"{i.provisioned} (CPU alone: {i.by_cpu})",
        _fits(i.fits),
    )
    c = plan.db_connections
    tiers.add_row(
        "database connections",
        f"{c.required}",
        f"{c.pool_min}-{c.pool_max}",
        f"{c.busy:,.1f} busy on average",
        _fits(c.fits),
    )
    console.print(tiers)

    console.print(_performance(plan))
    _print_topology(console, plan)

    cost = Table(title="Monthly cost (USD)", header_style="bold")
    source = {row.item: row for row in plan.cost_breakdown}
    at = plan.cost_breakdown[0].users if plan.cost_breakdown else plan.users
    other = at != plan.users
    columns = ["component", f"model ({plan.users:,} users)"]
    columns += [f"model ({at:,})"] if other else []
    columns += [f"source ({at:,})", "difference"]
    for column in columns:
        first = column == "component"
        cost.add_column(column, justify="left" if first else "right", no_wrap=first)
    for name, value in plan.cost.to_json().items():
        row = source.get(name)
        cells = [name, f"{value:,.0f}"]
        if other:
            cells.append(f"{row.model_usd:,.0f}" if row else "")
        cells += [
            f"{row.source_usd:,.0f}" if row else "",
            _difference(row.relative_difference, row.disagrees) if row else "",
        ]
        cost.add_row(*cells)
    if plan.cost_claims:
        cost.add_section()  # below: the source's totals at other populations
    for claim in plan.cost_claims:
        cells = [claim.item, ""] if other else [claim.item]
        cells += [
            f"{claim.model_usd:,.0f}",
            f"{claim.source_usd:,.0f}",
            _difference(claim.relative_difference, claim.disagrees),
        ]
        cost.add_row(*cells)
    console.print(cost)
    console.print(
        f"  {plan.cost.mean_instances:,.1f} instances on average over the day-one curve, "
        f"database tier '{plan.cost.database_tier}' for {plan.cost.database_connections} "
        f"connections and {plan.cost.database_cores:.2f} cores"
        + (
            f", cache tier '{plan.cost.cache_tier}' for a {plan.cost.cache_gb * 1024:,.0f} MB "
            "working set"
            if plan.cost.cache_tier
            else ""
        )
        + "; a claim row is the model's total at the claim's users; differences above 15% "
        "are flagged",
        soft_wrap=True,
    )
    _print_claims_and_reasons(console, plan)


def _print_claims_and_reasons(console: Console, plan: Sizing) -> None:
    for explanation in plan.claim_explanations:
        console.print(f"  claim at {explanation.summary}", soft_wrap=True, highlight=False)
    for reason in plan.reasons:
        console.print(f"[bold red]![/bold red] {reason}")
    _print_assumptions(console, plan)


def _performance(plan: Sizing) -> Table:
    perf = Table(title="Latency and utilization at the peak", header_style="bold")
    perf.add_column("metric")
    perf.add_column("value", justify="right")
    perf.add_row("API p50 (app + database)", _ms(plan.latency.p50_ms))
    perf.add_row("API p95 (app + database)", _ms(plan.latency.p95_ms))
    for tier, value in plan.utilization.items():
        perf.add_row(f"utilization: {tier.replace('_', ' ')}", f"{value:.1%}")
    perf.add_row("users when max_instances runs out", _users(plan.limits.max_users_by_instances))
    perf.add_row("users when pool_max runs out", _users(plan.limits.max_users_by_db_pool))
    return perf


def _print_topology(console: Console, plan: Sizing) -> None:
    """The stations at the peak, then the connections opened and busy against the limits."""
    stations = Table(title="Stations at the peak (M/M/c each)", header_style="bold")
    for column in ("station", "servers", "visits/s", "service", "utilization", "P(wait)",
                   "mean wait", "p95 wait", "beyond max wait"):  # fmt: skip
        stations.add_column(column, justify="left" if column == "station" else "right")
    for s in plan.stations:
        waits = (
            ("overloaded", "overloaded")
            if s.mean_wait_s is None or s.p95_wait_s is None
            else (f"{s.mean_wait_s * 1e3:,.2f} ms", f"{s.p95_wait_s * 1e3:,.2f} ms")
        )
        stations.add_row(
            s.name, f"{s.servers:,}", f"{s.arrival_rps:,.1f}", f"{s.service_s * 1e3:,.2f} ms",
            f"{s.utilization:.1%}", f"{s.wait_probability:.2%}", *waits,
            f"{s.timeout_share:.2%} (> {s.max_wait_s:g} s)",
        )  # fmt: skip
    console.print(stations)
    topology, conn = plan.topology, plan.connections
    if topology is not None:
        console.print(
            f"  topology: each worker {topology.cpu_speed:.0%} of a core, "
            f"{'a pooler' if topology.pooler else 'no pooler'}, {topology.replicas} read "
            f"replica(s), cache hit ratio {topology.cache_hit_ratio:.0%}, "
            f"read-your-writes share {topology.read_your_writes:.2%}",
            soft_wrap=True,
        )
    if topology is not None:
        console.print(
            f"  load balancer: {topology.load_balancer} ("
            + ("one shared queue over every worker"
               if topology.load_balancer == "leastconn"
               else "each instance its own queue at 1/n of the calls")
            + ")",
            soft_wrap=True,
        )  # fmt: skip
    _print_quota_and_background(console, plan)
    rush = plan.login_rush
    if rush is not None:
        console.print(
            f"  login rush at the launch hour: {rush.joining:,.0f} users sign in within a "
            f"minute ({rush.logins_per_s:,.0f} logins/s, {rush.worker_s_per_login * 1e3:,.1f} "
            f"ms of worker time each): {rush.busy_workers:,.1f} workers busy of the "
            f"{rush.workers} serving before it ({'fits' if rush.fits else 'DOES NOT FIT'})",
            soft_wrap=True,
        )
    if conn is not None:
        limit = (
            f"pooler's max_client_connections {conn.max_client_connections:,}"
            if conn.max_client_connections is not None
            else f"{conn.database_tier} tier's {conn.database_max_connections:,}"
        )
        console.print(
            f"  connections: the fleet opens {conn.opened_at_min_instances:,} at min and "
            f"{conn.opened_at_max_instances:,} at max instances (against the {limit}); "
            f"{conn.busy_at_peak:,.1f} busy at the peak; the primary accepts "
            f"{conn.primary_at_max_instances:,} at max instances against the "
            f"{conn.database_tier} tier's {conn.database_max_connections:,} "
            f"({'fits' if conn.fits else 'DOES NOT FIT'})",
            soft_wrap=True,
        )


def _print_quota_and_background(console: Console, plan: Sizing) -> None:
    """The CFS quota's throttling of one instance, and the work no user waits for."""
    quota = plan.cpu_quota
    if quota is not None:
        console.print(
            f"  CPU quota: {quota.quota_cores:g} cores per {quota.period_s * 1e3:g} ms period, "
            f"{quota.workers} worker(s), {quota.arrival_rps:,.1f} requests/s per instance at "
            f"{quota.utilization:.0%} of the quota: {quota.throttled_share:.1%} of periods "
            f"throttled ({quota.throttled_time_share:.1%} of the time), "
            f"{quota.stall_per_request_s * 1e3:,.2f} ms of stall per request; mean "
            f"{quota.mean_response_s * 1e3:,.2f} ms at the instance against "
            f"{quota.unlimited_response_s * 1e3:,.2f} ms without the quota "
            f"({quota.extra_s * 1e3:+,.2f} ms)",
            soft_wrap=True,
        )
    active = [b for b in plan.background if b.per_call > 0]
    if active:
        console.print(
            "  background work per user call: "
            + "; ".join(
                f"{b.name} {b.per_call:.4f} x ({b.cpu_s * 1e3:g} ms CPU, "
                f"{b.db_s * 1e3:g} ms primary)"
                for b in active
            )
            + " (in the utilizations above)",
            soft_wrap=True,
        )


def _difference(value: float, disagrees: bool) -> str:
    text = "n/a" if not math.isfinite(value) else f"{value:+.0%}"
    return f"[bold yellow]{text} disagrees[/bold yellow]" if disagrees else text


def _print_assumptions(console: Console, plan: Sizing) -> None:
    console.print("[bold]Assumptions[/bold]")
    for line in plan.assumptions:
        console.print(f"  - {line}", highlight=False, soft_wrap=True)


def sweep_table(plans: list[Sizing]) -> Table:
    table = Table(title="Capacity sweep", header_style="bold")
    for column in (
        "users",
        "peak rps",
        "instances",
        "connections",
        "p50",
        "p95",
        "app CPU",
        "cost/month",
        "fits",
    ):
        table.add_column(column, justify="right")
    for p in plans:
        db = p.db_connections
        table.add_row(
            f"{p.users:,}",
            f"{p.peak_rps:,.0f}",
            f"{p.instances.required} ({p.instances.min}-{p.instances.max})",
            f"{db.required} ({db.pool_min}-{db.pool_max})",
            _ms(p.latency.p50_ms),
            _ms(p.latency.p95_ms),
            f"{p.utilization['app_cpu']:.0%}",
            f"${p.cost.total:,.0f}",
            _fits(p.fits),
        )
    return table
