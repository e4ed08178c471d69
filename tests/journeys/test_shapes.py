"""The Locust load shapes themselves (``journeys.shapes``), ticked second by second.

``test_stages.py`` checks the stage-table logic without Locust. This file checks the
``LoadTestShape`` classes built on it: each named shape, driven by a fake clock through its
whole table, asks for the profile's users and spawn rate in every second of every stage, labels
each stage once, and ends; a distributed run adds its drain; the locustfile exposes the shape of
``JOURNEYS_SCENARIO`` to Locust. Importing Locust monkey-patches the standard library with
gevent, so the shapes are driven in one subprocess (about two seconds) that prints what it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from journeys.stages import scaled_stages
from models.profile import Stage, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_profile()
NAMED_SHAPES = ("smoke", "load", "stress", "day1", "spike", "soak", "step")
SCALE = 0.1

DRIVER = r"""
import json, os, sys
from locust.util.load_locustfile import is_shape_class, load_locustfile
from journeys.shapes import DRAIN_S, DRAIN_SPAWN_RATE, SHAPES, StagedShape, shape_class_for
from journeys.stages import scaled_stages
from models.profile import load_profile

profile = load_profile()
now = [0.0]
out = {"shapes": {}}
for name, cls in SHAPES.items():
    now[0] = 0.0  # the shape's clock starts at its construction
    shape = cls(stages=scaled_stages(profile, name, float(sys.argv[1])), clock=lambda: now[0])
    labels = []
    shape.listeners.append(labels.append)
    ticks = []
    for second in range(int(shape.total_duration_s) + 3):
        now[0] = float(second)
        ticks.append([second, shape.tick(), shape.current_stage])
    out["shapes"][name] = {
        "class": cls.__name__, "scenario": cls.scenario, "found_by_locust": is_shape_class(cls),
        "stages": [[s.users, s.duration_s, s.spawn_rate] for s in shape.stages],
        "ticks": ticks, "labels": labels,
    }

# A distributed run (Locust's MasterRunner) drains for DRAIN_S at 0 users after the last stage.
class MasterRunner:
    pass
now[0] = 100.0
drained = SHAPES["smoke"](stages=scaled_stages(profile, "smoke", 1.0), clock=lambda: now[0])
drained.runner = MasterRunner()
end = drained.total_duration_s
out["drain"] = {"end": end, "drain_s": DRAIN_S, "drain_rate": DRAIN_SPAWN_RATE, "ticks": []}
for offset in (end - 1.0, end, end + DRAIN_S - 0.5, end + DRAIN_S):
    now[0] = 100.0 + offset
    out["drain"]["ticks"].append([offset, drained.tick()])

# A shape without a table says how to get one; a chaos scenario gets a generic shape.
try:
    SHAPES["load"]().tick()
    out["unconfigured"] = None
except RuntimeError as exc:
    out["unconfigured"] = str(exc)
chaos = shape_class_for("chaos-loadgen")
out["chaos"] = {"class": chaos.__name__, "scenario": chaos.scenario,
                "staged": issubclass(chaos, StagedShape), "found_by_locust": is_shape_class(chaos)}

# What Locust itself finds in the locustfile when JOURNEYS_SCENARIO names a scenario.
os.environ["JOURNEYS_SCENARIO"] = "step"
users, shapes = load_locustfile(os.path.join("journeys", "locustfile.py"))
out["locustfile"] = {"users": sorted(users), "shapes": [type(s).__name__ for s in shapes],
                     "configured": [s.configured for s in shapes]}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def observed() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(SCALE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return data


def _expected(stages: tuple[Stage, ...], second: int) -> tuple[list[float] | None, int]:
    """(users, spawn rate) wanted at ``second`` and the stage index, from the table itself."""
    end = 0.0
    for index, stage in enumerate(stages):
        end += stage.duration_s
        if second < end:
            return [stage.users, stage.spawn_rate], index
    return None, len(stages)


@pytest.mark.parametrize("scenario", NAMED_SHAPES)
def test_each_shape_ticks_through_its_profile_stages_second_by_second(
    observed: dict[str, Any], scenario: str
) -> None:
    seen = observed["shapes"][scenario]
    stages = scaled_stages(PROFILE, scenario, SCALE)
    assert seen["scenario"] == scenario and seen["found_by_locust"]
    assert seen["stages"] == [[s.users, s.duration_s, s.spawn_rate] for s in stages]
    for second, wanted, current in seen["ticks"]:
        assert (wanted, current) == _expected(stages, second), (scenario, second)
    assert seen["ticks"][-1][1] is None  # the test ends after the last stage
    # Each stage labelled once, in order; the end relabels nothing (late samples stay in the last).
    assert seen["labels"] == list(range(len(stages)))


def test_the_shape_classes_are_named_after_their_scenarios(observed: dict[str, Any]) -> None:
    assert {name: seen["class"] for name, seen in observed["shapes"].items()} == {
        "smoke": "SmokeShape",
        "load": "LoadShape",
        "stress": "StressShape",
        "day1": "Day1Shape",
        "spike": "SpikeShape",
        "soak": "SoakShape",
        "step": "StepShape",
    }


def test_a_distributed_run_drains_at_zero_users_before_it_ends(observed: dict[str, Any]) -> None:
    drain = observed["drain"]
    [smoke] = scaled_stages(PROFILE, "smoke", 1.0)
    rate = drain["drain_rate"]
    assert drain["ticks"] == [
        [drain["end"] - 1.0, [smoke.users, smoke.spawn_rate]],
        [drain["end"], [0, rate]],
        [drain["end"] + drain["drain_s"] - 0.5, [0, rate]],
        [drain["end"] + drain["drain_s"], None],
    ]


def test_an_unconfigured_shape_says_how_to_configure_it(observed: dict[str, Any]) -> None:
    assert "LoadShape (scenario 'load') has no stage table" in observed["unconfigured"]
    assert "journeys.install" in observed["unconfigured"]


def test_a_chaos_scenario_gets_a_generic_staged_shape(observed: dict[str, Any]) -> None:
    assert observed["chaos"] == {
        "class": "ChaosLoadgenShape",
        "scenario": "chaos-loadgen",
        "staged": True,
        "found_by_locust": True,
    }


def test_locust_finds_the_scenario_shape_and_the_personas_in_the_locustfile(
    observed: dict[str, Any],
) -> None:
    found = observed["locustfile"]
    assert found["users"] == ["ContractorUser", "HomeownerUser", "OperatorUser"]
    # One shape, the scenario's; its table is read from the profile when the run is installed.
    assert found["shapes"] == ["StepShape"] and found["configured"] == [False]
