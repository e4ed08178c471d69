"""The validation's per-level comparison as a plain table: what ``harness validate`` and
``harness demo`` print, and what the README's headline shows. It reads a ``validation.json``
document (:meth:`models.validation_records.ValidationDocument.to_json`), so a committed
document prints the same table as the run that wrote it.
"""

from __future__ import annotations

from typing import Any

from harness.validate.settings import GOALS, REPLICATED

__all__ = ["format_levels"]


def _pct(value: Any) -> str:
    return "   n/a" if value is None else f"{value:+6.1%}"


def format_levels(document: dict[str, Any]) -> str:
    """The per-level comparison as a plain table (what the README's headline shows)."""
    lines = [
        "users  X pred  X meas   err  |  p95 pred  p95 meas    err  |  mean err  cpu meas"
        "  spread X/mean (runs)  err at measured speed X/mean/p95  note",
    ]
    sections = [("", document.get("levels", []))]
    holdout = document.get("holdout") or {}
    if holdout.get("levels"):
        sections.append(("held-out mix", holdout["levels"]))
    for title, levels in sections:
        if title:
            lines.append(f"-- {title} --")
        for level in levels:
            p, m, e = level["predicted"], level["measured"], level["relative_error"]
            cpu = m.get("cpu_utilization")
            note = "" if level.get("loadgen_trustworthy", True) else "load generator > 80% CPU"
            if not level.get("within_goal_range", True):
                note = (note + "; " if note else "") + "above 85% CPU"
            lines.append(
                f"{level['users']:>5} {p['throughput_rps'] or 0:>7.1f} "
                f"{m['throughput_rps'] or 0:>7.1f} {_pct(e['throughput_rps'])} | "
                f"{p['p95_ms'] or 0:>7.1f}ms {m['p95_ms'] or 0:>7.1f}ms {_pct(e['p95_ms'])} | "
                f"{_pct(e['mean_ms'])}  {'' if cpu is None else f'{cpu:6.0%}':>8}  "
                f"{_spread(level):<20}  {_at_speed(level):<33}  {note}"
            )
    for title, summary in (
        ("", document.get("summary")),
        ("held-out mix: ", holdout.get("summary")),
    ):
        if summary:
            lines.append(title + _summary_line(summary))
    saturation = document.get("saturation_throughput")
    if saturation:
        lines.append(_saturation_line(saturation))
    lines.extend(f"warning: {text}" for text in document.get("warnings", []))
    return "\n".join(lines)


def _at_speed(level: dict[str, Any]) -> str:
    """The errors of the prediction moved to the machine speed measured at the level."""
    block = level.get("at_measured_speed")
    if not block:
        return "speed not measured"
    e = block["relative_error"]
    errors = "/".join(_pct(e.get(k)).strip() for k in ("throughput_rps", "mean_ms", "p95_ms"))
    return f"{errors} (x{block['speed_factor']:.2f})"


def _spread(level: dict[str, Any]) -> str:
    """Throughput's and mean response time's relative half-range over the replications
    (every run within about that of their middle), and how many runs there were."""
    runs = level.get("replications")
    if not runs:
        return ""  # a document from before replications
    if runs == 1:
        return "1 run"
    spread = level.get("spread") or {}
    halves = [spread.get(key, {}).get("relative_half_range") for key in REPLICATED]
    return "/".join(_plus_minus(h) for h in halves) + f" ({runs})"


def _summary_line(summary: dict[str, Any]) -> str:
    worst = summary["worst_abs_relative_error"]
    goals = ", ".join(f"{k} {v:.0%}" for k, v in GOALS.items())
    line = (
        f"worst error up to 85% CPU: throughput {_fmt(worst.get('throughput_rps'))}, "
        f"mean {_fmt(worst.get('mean_ms'))}, p95 {_fmt(worst.get('p95_ms'))} "
        f"(goals: {goals}) -> {'met' if summary['goals_met'] else 'not met'}"
    )
    at_speed = summary.get("at_measured_speed")
    if at_speed:
        worst = at_speed["worst_abs_relative_error"]
        line += (
            f"; at the measured machine speed: throughput {_fmt(worst.get('throughput_rps'))}, "
            f"mean {_fmt(worst.get('mean_ms'))}, p95 {_fmt(worst.get('p95_ms'))} -> "
            f"{'met' if at_speed['goals_met'] else 'not met'}"
        )
    widest = summary.get("widest_spread") or {}
    if summary.get("replications", 1) > 1:
        line += (
            f"; mean of up to {summary['replications']} runs, widest spread: throughput "
            f"{_plus_minus(widest.get('throughput_rps'))}, "
            f"mean {_plus_minus(widest.get('mean_ms'))}"
        )
    return line


def _saturation_line(saturation: dict[str, Any]) -> str:
    cpu = saturation.get("measured_cpu_utilization")
    line = (
        f"saturation: predicted {saturation['predicted_rps']:.0f} req/s, measured "
        f"{saturation['measured_rps']:.0f} req/s at {saturation['users']} users "
        f"({_pct(saturation['relative_error']).strip()}"
        + ("" if cpu is None else f", service CPU {cpu:.0%}")
        + ")"
    )
    at_speed = saturation.get("at_measured_speed")
    if at_speed:
        line += (
            f"; at the measured machine speed (x{at_speed['speed_factor']:.2f}): predicted "
            f"{at_speed['predicted_rps']:.0f} req/s ({_pct(at_speed['relative_error']).strip()})"
        )
    if not saturation.get("saturated"):
        line += "; the service was not saturated there, so the measured figure is a lower bound"
    return line


def _plus_minus(value: Any) -> str:
    return "n/a" if value is None else f"±{value:.1%}"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1%}"
