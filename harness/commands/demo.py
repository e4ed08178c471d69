"""``harness demo``: the main job in under five minutes, on embedded defaults.

1. The capacity plan for the launch profile, from the shipped (assumed) service demands.
2. A light calibration of the bundled service (SQLite, one worker): measured CPU demands (the
   database demands stay assumed: SQLite in-process measures no PostgreSQL connection time).
3. A load the calibration never saw, predicted first and then measured, through saturation:
   how close is the model here?
4. The plan again with the measured demands, a day-one timeline from the fast path, and the
   report; the last line says where it is and what it concludes, the validation's verdict
   included.

``--lab`` adds launch day in miniature (docs/lab.md; root, HAProxy and PgBouncer, and a
PostgreSQL through ``--database-url`` for the pooler and the replica): the instance decision
(the planner's K for a load one instance cannot carry, K-1 and K measured) and the lab
topology trial, at the demo's stage lengths (several minutes more). The verdict then weighs
the decision too: K instances that did not hold the load make it "Not ready".

The trial deliberately goes past this machine's saturation point (to check that the model
finds it), so its own run report shows breached objectives at the top levels; the launch
verdict comes from the calibrated capacity plan, and opens with the validation's outcome: a
model that missed its accuracy goals never backs a plain "Ready".
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.commands.common import add_profile_argument
from harness.commands.validate import checked_lab_mode
from harness.errors import UsageError
from harness.exit_codes import ExitCode
from harness.validate.plan import overlay
from harness.validate.runner import validate
from harness.validate.settings import ValidationSettings
from harness.validate.table import format_document
from models.fastpath import fast_day
from models.profile import Profile, load_profile, read_toml
from models.simulation import SimulationOptions
from models.simulation.result import summarise
from models.sizing import Sizing, size

#: Demo-sized validation: about three minutes of load on this 2-core machine. The protocol is
#: `harness validate`'s (a light calibration, then a load it never saw, through saturation),
#: with shorter stages, one run and no held-out trials.
DEMO_SETTINGS = ValidationSettings(
    think_scale=0.05,
    pilot_s=6.0,
    calibration_s=10.0,  # per calibration stage: three light loads, for the service curve
    burst_s=10.0,  # the burst stage: the busy cost per request, so the capacity
    # no deep burst: its backlog's cost is a diagnostic `harness validate` records, not in the
    # judged curve (harness/validate/settings.py, backlog_fit), and it would cost the demo 45 s
    deep_burst_period_s=0.0,
    extrapolation_cpu_targets=(0.25, 0.60, 0.85),
    beyond_factors=(3.0,),  # a level of its own only above the 85% level's users
    min_measure_s=20.0,
    max_measure_s=20.0,
    min_settle_s=6.0,
    max_settle_s=15.0,
    holdout_mix=False,
    holdout_think=False,
    # One run: a second would cost the trial's two minutes again (`harness validate`
    # replicates).
    replications=1,
    max_replications=1,
    # `--lab`: one run of each of K-1 and K (`harness validate --lab` interleaves two)
    decision_replications=1,
    decision_measure_s=20.0,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_profile_argument(parser)
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where runs go (runs/)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin service and load")
    parser.add_argument(
        "--lab",
        action="store_true",
        help="also the lab (the profile's [lab]): the instance decision and the topology "
        "trial on CPU-limited instances behind HAProxy, PgBouncer, a replica and the cache "
        "(several minutes more; docs/lab.md)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="--lab: the PostgreSQL the lab runs on (its pooler and replica need one)",
    )


def plan_lines(sizing: Sizing, title: str, *, database_assumed: bool = False) -> list[str]:
    """The plan in eight lines; ``database_assumed`` marks the connections as sized from the
    profile's assumed database demands (never as measured ones)."""
    data = sizing.to_json()
    instances, db = data["instances"], data["db_connections"]
    fits = {True: "fits", False: "DOES NOT FIT"}
    limits = data["limits"]
    return [
        title,
        f"  {data['users']:,} users, {data['dau']:,.0f} daily active, "
        f"{data['peak_concurrent']:,.0f} concurrent at peak, {data['peak_rps']:,.0f} requests/s",
        f"  app instances     {instances['required']} needed at peak "
        f"(bounds {instances['min']}-{instances['max']}: {fits[bool(instances['fits'])]})",
        f"  DB connections    {db['required']} needed at peak "
        f"(pool {db['pool_min']}-{db['pool_max']}: {fits[bool(db['fits'])]})"
        + (" -- ASSUMED database demands, for a PostgreSQL pool" if database_assumed else ""),
        f"  API latency       p50 {data['latency']['p50_ms']:.1f} ms, "
        f"p95 {data['latency']['p95_ms']:.1f} ms",
        f"  monthly cost      ${data['cost_monthly_usd']['total']:,.0f}",
        f"  breaks at         {limits['max_users_by_instances']:,.0f} users (instances), "
        f"{limits['max_users_by_db_pool']:,.0f} users (DB pool)",
    ]


def calibrated_profile(profile: Profile, directory: Path) -> Profile | None:
    """``profile`` with the CPU demands the calibration in ``directory`` measured; None when
    it wrote none.

    The database demands stay the profile's (assumed): the demo's calibration runs on SQLite
    inside the service process, whose time in the database says nothing about how long a
    request holds a PostgreSQL pool's connection.
    """
    overlay_path = directory / "calibration.toml"
    if not overlay_path.exists():
        return None
    measured = read_toml(overlay_path)
    demands = measured.get("service_demands", {})
    cpu_only = {
        endpoint: {key: value for key, value in figures.items() if key != "db_ms"}
        for endpoint, figures in demands.items()
    }
    return overlay(profile, {**measured, "service_demands": cpu_only})


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    profile = load_profile(args.profile)
    if args.database_url and not args.lab:
        raise UsageError("--database-url: only the lab uses one here; add --lab")
    lab = None
    if args.lab:  # checked before anything starts: exit 2 naming what does not fit
        most = DEMO_SETTINGS.decision_instances + int(DEMO_SETTINGS.decision_k_plus_one)
        lab = checked_lab_mode(profile, args.database_url, most)
    print("\n".join(plan_lines(size(profile), "1/4 capacity plan (assumed service demands)")))
    on_lab = ", then the instance decision and the topology trial on the lab" if lab else ""
    print(
        "\n2/4 a light calibration and 3/4 a predicted, then measured, load (about 3 minutes"
        f"{on_lab})"
    )
    outcome = validate(profile, DEMO_SETTINGS, args.out, pin=not args.no_pin, lab=lab)
    print(format_document(outcome.document.to_json()))
    calibrated = calibrated_profile(profile, outcome.directory)
    if calibrated is None:
        print(f"demo: the calibration did not finish; see {outcome.directory}")
        return ExitCode.UNREACHABLE

    # Imported here: the report pulls in matplotlib, which only this step needs.
    from reports.accuracy import accuracy_of
    from reports.planner import capacity_verdict, render_capacity_report

    sizing = size(calibrated)
    title = "4/4 capacity plan (measured CPU demands)"
    print("\n" + "\n".join(plan_lines(sizing, title, database_assumed=True)))
    accuracy = accuracy_of(outcome.document)
    day = summarise([fast_day(calibrated, SimulationOptions(hours=24.0, start_hour=0.0))])
    report = render_capacity_report(
        sizing,
        calibrated,
        outcome.directory / "report.html",
        simulation=day,
        basis=(
            "CPU demands measured by this demo's calibration run (calibration.json); database "
            "demands assumed (the profile's): the calibration ran on SQLite inside the service, "
            "which measures no PostgreSQL connection time"
        ),
        accuracy=accuracy,
    )
    verdict = capacity_verdict(sizing, calibrated, simulation=day, accuracy=accuracy)
    elapsed = time.monotonic() - started
    if outcome.report is not None:
        print(f"measurement report: {outcome.report}")
    print(f"demo finished in {elapsed:.0f} s")
    print(f"report: {report} -- verdict: {verdict.headline}")
    for reason in verdict.reasons[:1]:
        print(f"  {reason.text}")
    return outcome.exit_code
