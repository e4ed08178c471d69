"""Every scenario's stage table and tick sequence (the logic inside each load shape).

The Locust shape classes themselves are exercised in test_shapes.py, in a subprocess:
importing Locust here would monkey-patch this whole pytest process with gevent.
"""

from __future__ import annotations

import pytest

from journeys.stages import StageTable, scaled_stages
from models.profile import SCENARIO_NAMES, Stage, load_profile

PROFILE = load_profile()
SHAPED = sorted(n for n in PROFILE.scenarios if n in SCENARIO_NAMES)
NAMED_SHAPES = ("smoke", "load", "stress", "day1", "spike", "soak", "step")


def test_the_profile_has_every_named_shape() -> None:
    assert set(NAMED_SHAPES) <= set(SHAPED)


@pytest.mark.parametrize("scenario", NAMED_SHAPES)
def test_every_table_walks_its_profile_stages_then_stops(scenario: str) -> None:
    stages = scaled_stages(PROFILE, scenario, 0.1)
    table = StageTable(stages, scenario)
    seen: list[int] = []
    table.listeners.append(seen.append)
    probes = [
        start + s.duration_s / 2 for start, s in zip(table.stage_starts(), stages, strict=True)
    ]
    ticks = [table.tick(t) for t in [*probes, table.total_duration_s + 0.5]]
    assert ticks[:-1] == [(s.users, s.spawn_rate) for s in stages]
    assert ticks[-1] is None
    # Each stage announced once, in order; the end relabels nothing (samples stay in the last).
    assert seen == list(range(len(stages)))
    assert table.current_stage == len(stages)


@pytest.mark.parametrize("scenario", NAMED_SHAPES)
def test_every_ramp_fits_inside_its_stage(scenario: str) -> None:
    previous = 0
    for stage in scaled_stages(PROFILE, scenario, scale=1.0):
        assert abs(stage.users - previous) / stage.spawn_rate < stage.duration_s
        previous = stage.users


def test_tick_sequence_second_by_second() -> None:
    table = StageTable((Stage(users=2, duration_s=2.0, spawn_rate=4.0),
                        Stage(users=6, duration_s=3.0, spawn_rate=8.0)))  # fmt: skip
    ticks = [table.tick(t) for t in (0.0, 1.0, 1.999, 2.0, 3.0, 4.0, 4.999, 5.0, 6.0)]
    assert ticks == [(2, 4.0)] * 3 + [(6, 8.0)] * 4 + [None, None]


def test_the_default_tables_match_the_source_document() -> None:
    assert [s.users for s in scaled_stages(PROFILE, "smoke")] == [10]
    assert {s.users for s in scaled_stages(PROFILE, "load")} == {100}
    assert [s.users for s in scaled_stages(PROFILE, "stress")] == [100, 200, 300, 400, 500]
    spike = [s.users for s in scaled_stages(PROFILE, "spike")]
    assert spike[0] == spike[-1] < max(spike)
    soak = scaled_stages(PROFILE, "soak")
    assert sum(s.duration_s for s in soak) == pytest.approx(3600.0)


def test_day1_follows_the_launch_curve_compressed() -> None:
    table = StageTable(scaled_stages(PROFILE, "day1", scale=1.0), "day1")
    hours = PROFILE.day_one.hourly_fraction_of_peak
    assert len(table.stages) == 24
    assert table.total_duration_s == pytest.approx(900.0)
    assert [s.users for s in table.stages] == [round(2000 * f) for f in hours]
    assert table.stages[PROFILE.day_one.launch_hour].users == 2000


def test_time_scale_compresses_durations_and_keeps_ramps_inside() -> None:
    fast = scaled_stages(PROFILE, "stress", scale=0.1, time_scale=0.1)
    slow = scaled_stages(PROFILE, "stress", scale=0.1)
    for f, s in zip(fast, slow, strict=True):
        assert f.users == s.users
        assert f.duration_s == pytest.approx(s.duration_s * 0.1)
        assert f.spawn_rate == pytest.approx(s.spawn_rate / 0.1)
    with pytest.raises(ValueError, match="time_scale must be positive, got 0"):
        scaled_stages(PROFILE, "stress", time_scale=0)


def test_an_empty_table_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'smoke': needs at least one stage"):
        StageTable((), "smoke")
