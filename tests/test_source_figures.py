"""docs/source-figures.md stays true: every profile key it names exists in the shipped profile,
and every value it gives a key (`key` = value) is the shipped value."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "source-figures.md").read_text(encoding="utf-8")
PROFILE = tomllib.loads((ROOT / "models" / "default_profile.toml").read_text(encoding="utf-8"))

#: A dotted key in backticks whose first part is a profile table, optionally `= value` after it.
KEY = re.compile(r"`((?:" + "|".join(PROFILE) + r")\.[a-z0-9_.]+)`(?: = ([0-9.]+))?")


def lookup(path: str) -> Any:
    value: Any = PROFILE
    for part in path.split("."):
        assert isinstance(value, dict) and part in value, f"{path}: no {part!r} in the profile"
        value = value[part]
    return value


def test_the_page_names_profile_keys() -> None:
    assert len(KEY.findall(DOC)) >= 40


def test_every_named_key_exists_with_the_value_given() -> None:
    for path, stated in KEY.findall(DOC):
        value = lookup(path)
        if stated:
            assert float(value) == float(stated), (
                f"{path}: the page says {stated}, the profile {value}"
            )


def test_the_figures_of_the_source_are_the_profiles() -> None:
    rows = {
        "population.users": 400_000,
        "business.jobs_per_day": 1_500,
        "business.bids_per_day": 7_500,
        "business.messages_per_day": 15_000,
        "infrastructure.autoscaling.min_instances": 8,
        "infrastructure.autoscaling.max_instances": 50,
        "infrastructure.autoscaling.cooldown_s": 180,
        "infrastructure.database.pool_min": 20,
        "infrastructure.database.pool_max": 100,
        "infrastructure.rate_limits.anonymous": 60,
        "infrastructure.rate_limits.authenticated": 200,
        "infrastructure.rate_limits.pro": 500,
        "infrastructure.rate_limits.operator": 1_000,
        "scenarios.day1.day_curve.peak_users": 2_000,
        "scenarios.day1.day_curve.duration_s": 900,
        "personas.homeowner.share": 0.60,
        "personas.contractor.share": 0.35,
        "personas.operator.share": 0.05,
    }
    for path, figure in rows.items():
        assert lookup(path) == figure, path
    claims = {claim["users"]: claim["monthly_usd"] for claim in lookup("cost.claims")}
    assert claims == {400_000: 8_500, 500_000: 10_000, 750_000: 14_000, 1_000_000: 18_000}
    breakers = lookup("infrastructure.breakers")
    rows_in_doc = {
        "database": "5 / 10 s / 30 s", "ai": "3 / 30 s / 60 s", "payments": "5 / 15 s / 30 s",
        "sms": "5 / 10 s / 30 s", "email": "5 / 10 s / 30 s", "storage": "5 / 15 s / 30 s",
    }  # fmt: skip
    for name, text in rows_in_doc.items():
        b = breakers[name]
        assert f"{b['failures']} / {b['timeout_s']:g} s / {b['reset_s']:g} s" == text, name
        assert text in DOC, name


def test_the_alert_rules_are_the_sources() -> None:
    def rules(level: str) -> dict[str, tuple[str, float]]:
        return {r["metric"]: (r["op"], r["threshold"]) for r in lookup(f"alerts.{level}")}

    assert rules("critical") == {
        "error_rate": (">", 0.05), "p95_ms": (">", 2000), "cpu": (">", 0.90),
        "db_connections": (">", 95), "memory": (">", 0.90), "disk": (">", 0.95),
    }  # fmt: skip
    assert rules("warning") == {
        "error_rate": (">", 0.02), "p95_ms": (">", 1000), "cpu": (">", 0.70),
        "db_connections": (">", 80), "memory": (">", 0.75), "disk": (">", 0.80),
        "cache_hit_ratio": ("<", 0.70),
    }  # fmt: skip
