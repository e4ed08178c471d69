"""A validation as plain text: what ``harness validate`` and ``harness demo`` print, and what
``scripts/validation_table.py`` turns committed documents into. It reads a ``validation.json``
document (:meth:`models.validation_records.ValidationDocument.to_json`), so a committed
document prints the same table as the run that wrote it.

Each judged figure stands beside the naive baseline's error (harness/validate/baseline.py):
a model is worth its assumptions only where it beats that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["format_decision", "format_document", "format_trial", "measured_says"]

_HEADER = (
    "  users | CPU pred  meas    err  (base) | mean ms pred  meas    err  (base) "
    "| p95 ms pred  meas    err  (base) | req/s pred  meas  zero-latency | judged"
)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _num(value: Any, pattern: str = "{:.1f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _metric(level: Mapping[str, Any], key: str, pattern: str) -> str:
    predicted, measured = level["predicted"].get(key), level["measured"].get(key)
    error = level["relative_error"].get(key)
    base = (level.get("baseline_error") or {}).get(key)
    return (
        f"{_num(predicted, pattern):>5} {_num(measured, pattern):>5} {_pct(error):>7} "
        f"({_pct(base):>7})"
    )


def _level_line(level: Mapping[str, Any]) -> str:
    judged = "yes" if level.get("judged") else f"no: {level.get('excluded_because')}"
    if level.get("judged") and not level.get("meets_goals"):
        judged = "yes, MISSED"
    throughput = (
        f"{_num(level['predicted'].get('throughput_rps')):>6} "
        f"{_num(level['measured'].get('throughput_rps')):>6} "
        f"{_num((level.get('baseline') or {}).get('throughput_rps')):>6}"
    )
    return (
        f"{level['users']:>7} | {_metric(level, 'cpu_utilization', '{:.0%}')} "
        f"| {_metric(level, 'mean_ms', '{:.1f}')} | {_metric(level, 'p95_ms', '{:.1f}')} "
        f"| {throughput} | {judged}{_runs_note(level)}"
    )


def _runs_note(level: Mapping[str, Any]) -> str:
    """How many runs a level's figures are the mean of, and, where it ran more than once,
    each run's CPU and its error: two runs at two machine speeds can meet the CPU goal on
    their mean and miss the latency's (whose stretch is convex in the CPU)."""
    runs = level.get("replications", 1)
    if runs <= 1:
        return ""
    predicted = level["predicted"].get("cpu_utilization")
    cpus = [r.get("cpu_utilization") for r in level.get("per_replication", [])]
    if not cpus or predicted is None or any(not u for u in cpus):
        return f" ({runs} runs)"
    measured = " / ".join(f"{u:.0%}" for u in cpus)
    errors = " / ".join(_pct(predicted / u - 1.0) for u in cpus)
    return f" ({runs} runs: CPU {measured}, {errors})"


def _saturation_line(saturation: Mapping[str, Any]) -> str:
    if not saturation.get("judged"):
        return f"  saturation: not judged: {saturation.get('reason')}"
    line = (
        f"  saturation at {saturation['users']} users: predicted "
        f"{_num(saturation['predicted_rps'], '{:.0f}')} req/s, measured "
        f"{_num(saturation['measured_rps'], '{:.0f}')} req/s "
        f"({_pct(saturation['relative_error'])}; goal ±10%): "
        f"{'met' if saturation.get('meets_goal') else 'MISSED'}; naive baseline "
        f"{_num(saturation.get('baseline_rps'), '{:.0f}')} req/s "
        f"({_pct(saturation.get('baseline_error'))})"
    )
    if saturation.get("alternative_rps") is not None:
        line += (
            f"; the other fit {_num(saturation['alternative_rps'], '{:.0f}')} req/s "
            f"({_pct(saturation.get('alternative_error'))})"
        )
    if saturation.get("login_cpu"):
        line += (
            f"; the users' logins took {saturation['login_cpu']:.0%} of the core there (counted in)"
        )
    return line


def _pooler_line(level: Mapping[str, Any]) -> str | None:
    """The lab topology trial's second line of a level: CPU per instance, then the pooler's
    connections busy (judged) and its wait (shown), predicted against measured."""
    measured = level.get("measured") or {}
    instances = measured.get("cpu_per_instance") or []
    pooler = level.get("pooler")
    if not instances and not pooler:
        return None
    parts = []
    if instances:
        parts.append("CPU per instance " + " ".join(f"{one:.0%}" for one in instances))
    throttling = measured.get("throttling") or []
    if throttling:  # the kernel's counters, shown (scripts/lab_throttling.py sets the model's)
        parts.append(
            "periods throttled "
            + " ".join(f"{one['throttled_share']:.0%}" for one in throttling)
            + ", throttled time "
            + " ".join(f"{one['throttled_time_share']:.0%}" for one in throttling)
        )
    if pooler:
        p, m = pooler["predicted"], pooler.get("measured") or {}
        verdict = {True: "met", False: "MISSED", None: "not judged"}[pooler.get("meets_goal")]
        parts.append(
            f"connections busy pred {_num(p['busy_mean'], '{:.2f}')} (p95 "
            f"{_num(p['busy_p95'], '{:.0f}')}) meas {_num(m.get('busy_mean'), '{:.2f}')} (p95 "
            f"{_num(m.get('busy_p95'), '{:.0f}')}): {verdict}"
        )
        parts.append(
            f"pooler waiting pred {_num(p.get('waiting_mean'), '{:.2f}')} meas "
            f"{_num(m.get('waiting_mean'), '{:.2f}')}, wait per transaction pred "
            f"{_num(p.get('wait_mean_ms'), '{:.1f} ms')} meas "
            f"{_num(m.get('wait_mean_ms'), '{:.1f} ms')}, longest "
            f"{_num(m.get('max_wait_ms'), '{:.0f} ms')} (p95 pred "
            f"{_num(p.get('wait_p95_ms'), '{:.0f} ms')})"
        )
    return "          " + "; ".join(parts)


def format_trial(trial: Mapping[str, Any]) -> str:
    """One trial: its levels, its saturation check and its summary (on the lab's topology
    trial, each level's CPU per instance and pooler figures on a line of their own)."""
    lines = [f"-- {trial['name']}: {trial.get('what_differs', '')} --", _HEADER]
    for level in trial.get("levels", []):
        lines.append(_level_line(level))
        if (pooler := _pooler_line(level)) is not None:
            lines.append(pooler)
    if trial.get("saturation"):
        lines.append(_saturation_line(trial["saturation"]))
    summary = trial.get("summary")
    if summary:
        worst, base = (
            summary["worst_abs_relative_error"],
            summary["baseline_worst_abs_relative_error"],
        )
        figures = ", ".join(
            f"{label} {_num(worst.get(key), '{:.1%}')} (baseline {_num(base.get(key), '{:.1%}')})"
            for key, label in (("cpu_utilization", "CPU"), ("mean_ms", "mean"), ("p95_ms", "p95"))
        )
        verdict = "every judged goal met" if summary["goals_met"] else "MISSED"
        lines.append(
            f"  worst judged error over {summary['levels_judged']} level(s): {figures} -> {verdict}"
        )
        lines.extend(f"  miss: {miss}" for miss in summary.get("misses", []))
    if not trial.get("complete"):
        lines.append(f"  incomplete: {'; '.join(trial.get('incomplete_reasons', [])) or 'yes'}")
    return "\n".join(lines)


def _calibration_line(calibration: Mapping[str, Any]) -> str:
    stages = calibration.get("stages", [])
    used = set(calibration.get("used_users", []))
    loads = ", ".join(
        f"{s['users']} users at {_num(s.get('cpu_utilization'), '{:.0%}')} CPU"
        + ("" if s["users"] in used else " (left out)")
        for s in stages
    )
    per_user = calibration.get("pilot_cpu_per_user")
    return (
        f"calibration (light load only, limit {calibration.get('cpu_limit', 0.5):.0%} CPU): "
        f"{loads or 'none'}; pilot {_num(per_user, '{:.4f}')} cores per user"
    )


def _burst_line(burst: Mapping[str, Any], curve: Mapping[str, Any]) -> str:
    """The burst stage: what it measured, and the busy cost and capacity the curve took."""
    measured = (
        f"burst stage: {burst['users']} users on a {burst['period_s']:g} s clock, "
        f"{_num(burst.get('throughput_rps'), '{:.0f}')} req/s at "
        f"{_num(burst.get('cpu_utilization'), '{:.0%}')} CPU, "
        f"{_num(burst.get('cpu_per_request_ms'), '{:.2f}')} ms CPU per request"
    )
    if not burst.get("used"):
        return f"{measured}; not used: {burst.get('reason')}"
    return (
        f"{measured}; busy cost {_num(curve.get('busy_cpu_ms'), '{:.2f}')} ms, capacity "
        f"{_num(curve.get('max_throughput_rps'), '{:.0f}')} req/s"
    )


def _deep_burst_line(deep: Mapping[str, Any], backlog: Mapping[str, Any] | None) -> str:
    """The deep burst: what it measured (its queue's depth too), the backlog's cost it gave,
    and whether the judged curve took it."""
    measured = (
        f"deep burst: {deep['users']} users on a {deep['period_s']:g} s clock, "
        f"{_num(deep.get('cpu_per_request_ms'), '{:.2f}')} ms CPU per request with "
        f"{_num(deep.get('in_service'), '{:.0f}')} requests in the service"
    )
    if not deep.get("used"):
        return f"{measured}; not used: {deep.get('reason')}"
    if not backlog:
        return f"{measured}; no backlog's cost (its queue was no deeper than the burst's)"
    return (
        f"{measured}; backlog {_num(backlog.get('cpu_ms_per_doubling'), '{:.3f}')} ms a "
        f"request per doubling of the requests in the service from "
        f"{_num(backlog.get('from_in_service'), '{:.0f}')} ({_backlog_sides(backlog)})"
    )


def _backlog_sides(backlog: Mapping[str, Any]) -> str:
    """Where the judged curve took the backlog's law: documents written before the shallow
    side existed say only ``in_fit`` (then past the burst's depth)."""
    if not backlog.get("in_fit"):
        return "measured, not in the judged fit"
    below, past = backlog.get("below_depth", False), backlog.get("past_depth", True)
    sides = [side for side, taken in (("below", below), ("past", past)) if taken]
    return f"in the judged fit, {' and '.join(sides)} the burst's depth"


def format_decision(decision: Mapping[str, Any]) -> list[str]:
    """The instance decision: the planner's K at its load, then each count predicted and
    measured (p95 and CPU per instance, held or broken)."""
    planned = decision.get("planned")
    if decision.get("asked") is False:
        return ["-- instance decision: not asked for (--no-instance-decision)"]
    if not planned:
        return [f"-- instance decision: not planned ({decision.get('reason') or 'no reason'})"]
    right = {True: "RIGHT", False: "WRONG", None: "not judged"}[decision.get("right")]
    lines = [
        f"-- instance decision on the lab: {planned['users']} users, the planner names "
        f"{planned['instances']} instances of {planned['cpu_limit']:g} cores "
        f"(objective p95 {planned['p95_objective_ms']:g} ms, CPU target "
        f"{planned['cpu_target']:.0%}): {right}",
        "   instances  predicted p95  CPU/inst  holds   measured p95  CPU/inst  holds  runs",
    ]
    measured = {m["instances"]: m for m in decision.get("measured", [])}
    order = _run_order(decision)
    if order:
        lines.insert(
            1,
            f"   measured in the order {order} instances, each count on the mean of its runs "
            "(CPU per instance of each run under runs)",
        )
    line = _lab_line(decision)
    if line:
        lines.insert(1, line)
    baseline = decision.get("baseline_instances")
    if baseline is not None:
        said = {True: "right", False: "WRONG", None: "not judged by these counts"}
        lines.insert(
            1,
            f"   the naive baseline (CPU target alone, nothing queueing) would have said "
            f"{baseline}: {said[decision.get('baseline_right')]}; measured says "
            f"{measured_says(decision)}",
        )
    for predicted in planned["predicted"]:
        count = predicted["instances"]
        got = measured.get(count, {})
        lines.append(
            f"   {count:>9}  {_num(predicted.get('p95_ms'), '{:.0f} ms'):>13}  "
            f"{_num(predicted.get('cpu_per_instance'), '{:.0%}'):>8}  "
            f"{_held(predicted.get('holds')):>5}   "
            f"{_num(got.get('p95_ms'), '{:.0f} ms'):>12}  "
            f"{_num(got.get('cpu_per_instance'), '{:.0%}'):>8}  {_held(got.get('holds')):>5}  "
            f"{_runs_cpu(got)}"
        )
    return lines


def _lab_line(decision: Mapping[str, Any]) -> str:
    """The lab calibration's CPU line per instance, and whether its idle CPU was measured."""
    line = (decision.get("calibration") or {}).get("lab_demands") or {}
    idle, slope = line.get("idle_cpu_cores"), line.get("cpu_cores_per_rps")
    if idle is None or slope is None:
        return ""
    how = "measured idle" if line.get("idle_measured") else "fitted intercept"
    return (
        f"   CPU per instance from the lab calibration: {idle:.4f} cores ({how}) + "
        f"{slope * 1e3:.2f} ms per request"
    )


def _run_order(decision: Mapping[str, Any]) -> str:
    """The counts in the order their runs ran, when some count ran more than once."""
    runs = [
        (one.get("order", 0), m["instances"])
        for m in decision.get("measured", [])
        for one in m.get("replications", [])
    ]
    if len(runs) <= len(decision.get("measured", [])):
        return ""
    return ", ".join(str(count) for _, count in sorted(runs))


def _runs_cpu(measured: Mapping[str, Any]) -> str:
    """Each run's CPU per instance, in the order they ran (n/a: the run measured none)."""
    return ", ".join(
        _num(one.get("cpu_per_instance"), "{:.0%}") for one in measured.get("replications", [])
    )


def measured_says(decision: Mapping[str, Any]) -> str:
    """The instance count the measured runs point to: the fewest that held where one fewer
    broke, else the bound they give."""
    counts = sorted(
        (m["instances"], m.get("holds"))
        for m in decision.get("measured", [])
        if m.get("holds") is not None
    )
    held = [count for count, holds in counts if holds]
    broke = [count for count, holds in counts if not holds]
    if not counts:
        return "nothing (no count was measured)"
    if held and (min(held) == 1 or min(held) - 1 in broke):
        return f"{min(held)}"
    if held:
        return f"at most {min(held)}"
    return f"more than {max(broke)}"


def _held(holds: object) -> str:
    if holds is None:
        return "n/a"
    return "yes" if holds else "no"


def format_document(document: Mapping[str, Any]) -> str:
    """The whole validation: the calibration, every trial, the verdict and the warnings."""
    calibration = document.get("calibration") or {}
    # --lab-only calibrates the lab instance alone: no single-instance line to show
    ran = calibration.get("pilot_run") or calibration.get("stages")
    lines = [_calibration_line(calibration)] if ran else []
    if calibration.get("burst"):
        lines.append(_burst_line(calibration["burst"], document.get("service_curve") or {}))
    if calibration.get("deep_burst"):
        lines.append(_deep_burst_line(calibration["deep_burst"], calibration.get("backlog")))
    for trial in document.get("trials", []):
        lines.append(format_trial(trial))
    probe = document.get("probe")
    if probe:
        lines.append(
            f"capacity probe (diagnostic, not judged): {probe['users']} users, measured "
            f"{_num(probe.get('throughput_rps'), '{:.0f}')} req/s at "
            f"{_num(probe.get('cpu_utilization'), '{:.0%}')} CPU; probe-informed capacity "
            f"{_num(probe.get('probe_informed_saturation_rps'), '{:.0f}')} req/s"
        )
    decision = document.get("decision")
    if decision:
        lines.extend(format_decision(decision))
    summary = document.get("summary") or {}
    misses = summary.get("misses", [])
    verdict = "every judged goal met" if summary.get("goals_met") else f"{len(misses)} miss(es)"
    lines.append(f"verdict: {verdict}")
    lines.extend(f"  miss: {miss}" for miss in misses)
    lines.extend(f"warning: {text}" for text in document.get("warnings", []))
    return "\n".join(lines)
