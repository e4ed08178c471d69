"""The fault's timeline on plain data: inject, escalate half-way, heal, watch the recovery,
and every failing action recorded instead of raised."""

from __future__ import annotations

from harness.run.chaos import controller as timeline
from models.profile import Fault
from models.run_records import Backlog
from tests.harness.chaos.doubles import FAULT, RecordingInjector


def test_the_controller_injects_escalates_heals_and_watches_recovery_in_order() -> None:
    injector = RecordingInjector()
    controller = timeline.ChaosController(FAULT, injector)
    for load_s in [0.0, 5.0, 10.2, 15.0, 20.1, 25.0, 30.3, 31.5, 32.6, 40.0]:
        controller.tick(load_s)
    actions = [e.action for e in controller.events]
    assert actions == ["inject", "escalate", "heal", "recovered"]
    assert controller.injected_at == 10.2 and controller.midpoint_at == 20.1
    assert controller.healed_at == 30.3 and controller.dependency_recovered_at == 32.6
    assert injector.calls.count("inject") == injector.calls.count("heal") == 1


def test_a_failing_action_is_recorded_and_the_fault_healed_on_close() -> None:
    class Broken(RecordingInjector):
        def midpoint(self) -> str | None:
            raise ConnectionError("proxy gone")

    injector = Broken()
    controller = timeline.ChaosController(FAULT, injector)
    for load_s in [10.0, 20.0, 21.0]:
        controller.tick(load_s)
    assert controller.error == "ConnectionError: proxy gone"
    assert controller.events[-1].action == "error"
    controller.close(22.0)
    assert injector.calls[-1] == "heal" and controller.healed_at == 22.0


def test_a_heal_that_fails_is_tried_again_until_it_works() -> None:
    class Flaky(RecordingInjector):
        failures = 2

        def heal(self) -> str:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("429 Too Many Requests")
            return super().heal()

    controller = timeline.ChaosController(FAULT, Flaky())
    for load_s in [10.0, 30.0, 30.5, 31.0]:
        controller.tick(load_s)
    actions = [e.action for e in controller.events]
    assert actions == ["inject", "escalate", "heal failed", "heal failed", "heal"]
    assert controller.healed_at == 31.0 and controller.error is None


def test_a_fault_that_cannot_be_healed_is_an_error_at_the_end() -> None:
    class Stuck(RecordingInjector):
        def heal(self) -> str:
            raise ConnectionError("service gone")

    controller = timeline.ChaosController(FAULT, Stuck())
    controller.tick(10.0)
    controller.close(12.0)
    assert controller.healed_at is None
    assert controller.error == "the fault could not be healed; the service stayed broken"


def test_fault_times_shrink_with_the_duration_scale_but_the_service_clocks_do_not() -> None:
    fast = timeline.scaled(FAULT, 0.25)
    assert (fast.start_s, fast.duration_s) == (2.5, 5.0)
    assert (fast.recovery_s, fast.drain_s, fast.error_budget) == (15.0, 60.0, 0.05)


def test_the_backlog_is_sampled_while_the_fault_lasts_and_its_peak_kept() -> None:
    readings = iter([Backlog(3, 0), Backlog(7, 1), Backlog(2, 4)])
    controller = timeline.ChaosController(FAULT, RecordingInjector())
    controller.backlog = lambda: next(readings)
    for load_s in [10.0, 12.0, 13.0, 14.5, 30.5, 32.0]:  # fault from 10 s to 30 s
        controller.tick(load_s)
    assert controller.backlog_max == Backlog(7, 4)  # each count's own peak


def test_describe_says_what_happens_when() -> None:
    once = Fault(kind="worker", start_s=5.0, duration_s=0.0, error_budget=0.1, recovery_s=9.0)
    assert timeline.describe(FAULT) == "chaos: payments fault at t+10 s for 20 s"
    assert timeline.describe(once) == "chaos: worker fault at t+5 s once"
