"""Numbers with units and sensible rounding: the filters every figure of a report goes through."""

from __future__ import annotations

import math

import pytest

from reports import formatting as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4.236, "4.2 ms"),
        (183.4, "183 ms"),
        (12.345, "12.3 ms"),
        (1520.0, "1.52 s"),
        (0.0, "0 ms"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_ms(value: float | None, text: str) -> None:
    assert fmt.ms(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.524, "0.524 req/s"), (12.34, "12.3 req/s"), (1234.5, "1,234 req/s"), (None, "—")],
)
def test_rps(value: float | None, text: str) -> None:
    assert fmt.rps(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0123, "1.23%"),
        (0.41, "41%"),
        (0.2943, "29.4%"),
        (0.8889, "88.9%"),
        (0.995, "99.5%"),
        (0.99951, "99.95%"),
        (0.999996, "99.9996%"),
        (1.0, "100%"),
        (0.0, "0%"),
        (0.00001, "<0.01%"),
        (None, "—"),
    ],
)
def test_pct_never_rounds_up_to_a_hundred(value: float | None, text: str) -> None:
    assert fmt.pct(value) == text


def test_money_counts_and_users() -> None:
    assert fmt.usd(8500) == "$8,500"
    assert fmt.usd(11188.4) == "$11,188"
    assert fmt.usd(0.35) == "$0.35"
    assert fmt.count(20000.4) == "20,000"
    assert fmt.users(400_000) == "400,000 users"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.342, "0.34"),
        (0.0, "0"),
        (4.21, "4.2"),
        (9.94, "9.9"),
        (9.96, "10"),
        (37.4, "37"),
        (None, "—"),
    ],
)
def test_connections_keep_fractions_below_ten(value: float | None, text: str) -> None:
    """Mean connections in use: a pool a third busy is "0.34", never "0"."""
    assert fmt.connections(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(45, "45 s"), (250, "4 min 10 s"), (900, "15 min"), (5400, "1 h 30 min"), (7200, "2 h")],
)
def test_seconds(value: float, text: str) -> None:
    assert fmt.seconds(value) == text


def test_relative_changes() -> None:
    assert fmt.relative_change(130, 100) == pytest.approx(0.3)
    assert fmt.relative_change(1, 0) is None
    assert fmt.signed_pct(0.3) == "+30.0%"
    assert fmt.signed_pct(-0.04) == "−4.0%"
    assert fmt.signed_pct(0.0001) == "±0%"


def test_metrics_format_by_name() -> None:
    assert fmt.metric(812.0, "api_p95_ms") == "812 ms"
    assert fmt.metric(0.012, "error_rate") == "1.2%"
    assert fmt.metric(20.0, "throughput_rps") == "20.0 req/s"
    assert fmt.objective("api_p95_ms", 800.0) == "< 800 ms"
    assert fmt.objective("availability", 0.995) == "≥ 99.5%"
