"""A validation's runs: pinning the load generator off the service's core, how a run went,
and Ctrl-C stopping the validation rather than only the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.run.orchestrate import INTERRUPTS
from harness.run.run_request import RunRequest
from harness.validate import runs as runs_module
from harness.validate.runs import NO_PLAN_YET, CpuPinning, RunResult, Runs, pinned_cpus
from models.profile import load_profile


def test_pinning_keeps_the_load_generator_off_the_service_core() -> None:
    cores = sorted(os.sched_getaffinity(0))
    with pinned_cpus(False) as off:
        assert off.to_json() == {"pinned": False, "reason": "disabled"}
    if len(cores) < 2:
        with pinned_cpus(True) as one:
            assert one.to_json() == {"pinned": False, "reason": "fewer than 2 cores"}
        return
    with pinned_cpus(True) as pinning:
        assert pinning.service_cpus == (cores[0],)
        assert sorted(os.sched_getaffinity(0)) == list(pinning.load_generator_cpus) == cores[1:]
    assert sorted(os.sched_getaffinity(0)) == cores  # restored


def test_a_run_is_complete_only_when_its_run_json_says_so(tmp_path: Path) -> None:
    assert not RunResult(0, None).complete and not RunResult(0, None).wrote_run_json
    (tmp_path / "run.json").write_text(json.dumps({"complete": True}))
    assert RunResult(0, tmp_path).complete
    assert not RunResult(3, tmp_path).complete  # exit 3: incomplete, whatever the file says
    (tmp_path / "run.json").write_text(json.dumps({"complete": False}))
    assert not RunResult(0, tmp_path).complete and RunResult(0, tmp_path).wrote_run_json


def test_ctrl_c_during_a_run_stops_the_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run stopped by Ctrl-C returns normally (its artifacts written, marked incomplete);
    # the validation must not go on to the next run as if nothing happened.
    requests: list[RunRequest] = []

    def interrupted(request: RunRequest, progress_stream: object = None) -> tuple[int, Path]:
        requests.append(request)
        INTERRUPTS.count = 1
        return 3, tmp_path

    monkeypatch.setattr(runs_module, "execute", interrupted)
    runs = Runs(tmp_path, CpuPinning(True, None, (0,), (1,)), seed_scale=0.02)
    try:
        with pytest.raises(KeyboardInterrupt):
            runs.step(load_profile())
    finally:
        INTERRUPTS.count = 0
    (request,) = requests
    assert request.scenario == "step" and request.out == tmp_path
    assert request.service_cpus == frozenset({0}) and request.seed_scale == 0.02
    # Before the calibration a run plans no launch, and its notes will say why.
    assert request.plan_profile is None and request.no_plan_reason == NO_PLAN_YET
    launch = load_profile()
    try:
        with pytest.raises(KeyboardInterrupt):
            runs.planning(launch).step(load_profile())
    finally:
        INTERRUPTS.count = 0
    assert requests[1].plan_profile is launch and requests[1].no_plan_reason is None
