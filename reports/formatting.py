"""Numbers as a reader wants them: with units, thousands separators and sensible rounding.

Each function is also a Jinja filter (``{{ stage.p95_ms | ms }}``). ``None`` (a figure the
run or the model did not produce) renders as an em dash, never as ``None`` or ``nan``::

    ms(4.236) -> "4.2 ms"     ms(183.4) -> "183 ms"     ms(1520) -> "1.52 s"
    rps(0.524) -> "0.52 req/s"   rps(1234.5) -> "1,235 req/s"
    pct(0.0123) -> "1.23%"   pct(0.2943) -> "29.4%"   pct(0.41) -> "41%"   pct(0.99996) -> "99.996%"
    usd(8500) -> "$8,500"    usd(0.35) -> "$0.35"       users(20000) -> "20,000 users"
    connections(0.342) -> "0.34"   connections(4.21) -> "4.2"   connections(37.4) -> "37"
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

MISSING = "—"

Better = Literal["lower", "higher"]


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | None, digits: int = 3) -> str:
    """``digits`` significant figures, thousands separators, no trailing zeros past them."""
    if value is None or _missing(value):
        return MISSING
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def ms(value: float | None) -> str:
    """A latency in milliseconds; one second and above in seconds."""
    if value is None or _missing(value):
        return MISSING
    if abs(value) >= 1000:
        return f"{number(value / 1000, 3)} s"
    return f"{number(value, 2 if abs(value) < 10 else 3)} ms"


def rps(value: float | None) -> str:
    if value is None or _missing(value):
        return MISSING
    if abs(value) >= 100:
        return f"{value:,.0f} req/s"
    return f"{number(value, 3)} req/s"


def pct(value: float | None) -> str:
    """A ratio in [0, 1] as a percentage that never rounds 99.996% up to 100%."""
    if value is None or _missing(value):
        return MISSING
    percent = value * 100
    if percent in (0, 100):
        return f"{percent:.0f}%"
    if 0 < abs(percent) < 0.01:
        return "<0.01%"
    decimals = 2 if abs(percent) < 10 else 1  # 1.23%, 29.4%: three significant figures
    # Near 100% the interesting digits are the nines: keep going until the figure is honest.
    while decimals < 5 and round(percent, decimals) >= 100 and percent < 100:
        decimals += 1
    text = f"{percent:.{decimals}f}".rstrip("0").rstrip(".")  # 41.00 -> 41, 99.50 -> 99.5
    return f"{text}%"


def usd(value: float | None) -> str:
    if value is None or _missing(value):
        return MISSING
    if abs(value) < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def count(value: float | None) -> str:
    """A whole count with thousands separators."""
    if value is None or _missing(value):
        return MISSING
    return f"{round(value):,}"


def connections(value: float | None) -> str:
    """Database connections in use, a mean over a minute or an hour: ``0.34``, ``4.2``, ``37``.

    Below ten, two significant figures: a pool that is a third busy is not "0 connections".
    """
    if value is None or _missing(value):
        return MISSING
    if abs(value) < 9.95:  # 9.96 would show as "10.0"
        return number(value, 2)
    return count(value)


def users(value: float | None) -> str:
    if value is None or _missing(value):
        return MISSING
    return f"{round(value):,} users"


def seconds(value: float | None) -> str:
    """A duration: ``45 s``, ``4 min 10 s``, ``15 min``, ``1 h 30 min``."""
    if value is None or _missing(value):
        return MISSING
    if value < 120:
        return f"{number(value, 2)} s"
    if value < 3600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    minutes = round(value / 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def signed_pct(ratio: float | None) -> str:
    """A relative change: ``+12.3%``, ``−4.0%`` (true minus sign), ``±0%``."""
    if ratio is None or _missing(ratio):
        return MISSING
    percent = ratio * 100
    if abs(percent) < 0.05:
        return "±0%"
    sign = "+" if percent > 0 else "−"
    return f"{sign}{abs(percent):.1f}%"


def relative_change(new: float | None, old: float | None) -> float | None:
    """``(new - old) / old``; ``None`` when either is missing or old is zero."""
    if new is None or old is None or _missing(new) or _missing(old) or old == 0:
        return None
    return (new - old) / abs(old)


def metric_kind(name: str) -> Literal["ms", "ratio", "rps", "count", "seconds"]:
    """How to show a metric, from its name (``api_p95_ms``, ``error_rate``, ``throughput_rps``,
    ``chaos_recovery_s``; an endpoint's objective ``p95_ms[GET /x]`` by its figure)."""
    name = name.split("[", 1)[0]
    if name.endswith("_ms"):
        return "ms"
    if name.endswith("_rps") or name == "rps":
        return "rps"
    if name.endswith("_s"):
        return "seconds"
    ratios = {"error_rate", "availability", "failure_rate", "cpu", "cpu_utilization"}
    if name in ratios or name.endswith("_error_rate"):
        return "ratio"
    return "count"


def metric(value: float | None, name: str) -> str:
    """Format ``value`` the way a metric called ``name`` should look."""
    formatters: dict[str, Callable[[float | None], str]] = {
        "ms": ms,
        "ratio": pct,
        "rps": rps,
        "count": number,
        "seconds": seconds,
    }
    return formatters[metric_kind(name)](value)


def objective(name: str, target: float) -> str:
    """An SLO target as a condition: ``< 800 ms``, ``≥ 99.5%``, ``< 1%``."""
    # Availability must reach its target; counts (integrity_lost) may equal theirs (0 lost).
    if name == "run_marked_incomplete":  # a yes/no gate: the run must say it lost a worker
        return "= 1 (yes)"
    op = (
        "≥"
        if name in ("availability", "throughput_min_rps")
        else ("≤" if metric_kind(name) in {"count", "seconds"} else "<")
    )
    return f"{op} {metric(target, name)}"


FILTERS: dict[str, Callable[..., str]] = {
    "number": number,
    "ms": ms,
    "rps": rps,
    "pct": pct,
    "usd": usd,
    "count": count,
    "connections": connections,
    "users": users,
    "seconds": seconds,
    "signed_pct": signed_pct,
    "metric": metric,
}
