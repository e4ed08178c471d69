"""The profile's rules for a chaos scenario's fault, and what the bundled service is told."""

from __future__ import annotations

from typing import Any

import pytest

from models.profile import ProfileError, load_profile, validate_profile

ONE_STAGE = [{"users": 10, "duration_s": 60.0, "spawn_rate": 10.0}]
GOOD_FAULT = {"kind": "payments", "start_s": 10.0, "duration_s": 20.0, "error_budget": 0.01,
              "recovery_s": 30.0}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "fault", "expected"),
    [
        ("load", GOOD_FAULT, "scenarios.load.fault: only chaos-* scenarios"),
        ("chaos-notify", GOOD_FAULT, "chaos-notify.fault.kind = 'payments': must be 'notify'"),
        ("chaos-payments", GOOD_FAULT | {"start_s": 45.0}, "must end before the load does (60 s)"),
        ("chaos-payments", None, "chaos-payments: a chaos scenario needs a [fault] table"),
        ("chaos-payments", GOOD_FAULT | {"kind": "disk"}, "scenarios.chaos-payments.fault.kind"),
        ("chaos-payments", GOOD_FAULT | {"error_budget": 2.0}, "must be between 0 and 1"),
    ],
)
def test_the_profile_refuses_faults_that_cannot_be_run(
    name: str, fault: dict[str, Any] | None, expected: str
) -> None:
    data = load_profile().model_dump(mode="json", exclude_none=True)
    data["scenarios"][name] = {"stages": ONE_STAGE} | ({"fault": fault} if fault else {})
    with pytest.raises(ProfileError) as caught:
        validate_profile(data)
    assert expected in str(caught.value)


def test_every_shipped_chaos_scenario_has_a_fault_of_its_own_kind() -> None:
    profile = load_profile()
    chaos_names = sorted(n for n in profile.scenarios if n.startswith("chaos-"))
    assert chaos_names == ["chaos-cache", "chaos-db", "chaos-instance", "chaos-loadgen",
                           "chaos-notify", "chaos-payments", "chaos-replica",
                           "chaos-worker"]  # fmt: skip
    for name in chaos_names:
        fault = profile.scenarios[name].fault
        assert fault is not None and fault.kind == name.removeprefix("chaos-")


def test_the_profiles_retry_times_reach_the_bundled_service() -> None:
    from harness.run.service import profile_environment

    environment = dict(profile_environment(load_profile()))
    assert environment["PAYMENT_RETRY_S"] == "30" and environment["OUTBOX_BACKOFF_MAX_S"] == "60"
    assert environment["BREAKER_PAYMENTS"] == "5/15/30"
