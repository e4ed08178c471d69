"""The users' logins in a measured window: counted from the client's histograms, their route's
CPU from the service's scrapes, recorded beside the figures (which stay as measured)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.validate.compare import saturation_check
from harness.validate.logins import LOGIN_ENDPOINT, login_cpu, window_logins
from harness.validate.measure import aggregate_replications, read_measured
from harness.validate.table import format_trial
from journeys.hdr import HistogramSet
from models.validation_records import MeasuredLevel, SaturationCheck
from tests.harness.validate.helpers import LIGHT, one_run, write_run
from tests.harness.validate.test_compare import saturated_level
from tests.harness.validate.test_table import trial


def write_histograms(run_dir: Path, index: int, logins: int, others: int) -> None:
    """The client's histograms of stage ``index``: ``logins`` sign-ins, ``others`` screen
    requests, and one page sample (never a request)."""
    histograms = HistogramSet()
    for _ in range(logins):
        histograms.record(index, "POST", "/auth/login", 900.0)
    for _ in range(others):
        histograms.record(index, "GET", "/jobs", 4.0)
    histograms.record(index, "PAGE", "login", 950.0)
    path = run_dir / "stats" / "histograms" / f"{index}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(histograms.encode()))


def test_the_login_endpoint_is_the_catalogues_sign_in() -> None:
    assert LOGIN_ENDPOINT == "POST /auth/login"


def test_window_logins_counts_the_sign_ins_of_one_stage(tmp_path: Path) -> None:
    write_histograms(tmp_path, 3, logins=7, others=40)
    write_histograms(tmp_path, 5, logins=0, others=40)
    assert window_logins(tmp_path, 3) == 7
    assert window_logins(tmp_path, 5) == 0
    assert window_logins(tmp_path, 1) is None  # no histograms written for it


def test_login_cpu_is_the_routes_cpu_between_two_scrapes() -> None:
    def scrape(t: float, login_s: float) -> dict[str, object]:
        routes = {LOGIN_ENDPOINT: {"requests": 1.0, "cpu_seconds": login_s}}
        return {"t_s": t, "cpu_seconds": t, "routes": routes}

    assert login_cpu(scrape(10.0, 1.0), scrape(30.0, 5.0)) == pytest.approx(0.2)
    assert login_cpu({"t_s": 0.0}, {"t_s": 10.0}) == 0.0  # no per-route figures
    assert login_cpu(scrape(10.0, 1.0), scrape(10.0, 5.0)) == 0.0  # no time between them


def test_a_window_that_held_logins_records_them_and_keeps_its_figures(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", LIGHT)
    scrapes = json.loads((run_dir / "server.json").read_text())["scrapes"]
    for scrape in scrapes:  # the logins' route: a tenth of a core from the start
        scrape["routes"][LOGIN_ENDPOINT] = {"requests": 0.0, "cpu_seconds": 0.1 * scrape["t_s"]}
    (run_dir / "server.json").write_text(json.dumps({"scrapes": scrapes}))
    write_histograms(run_dir, 3, logins=12, others=30)  # the second measure stage
    write_histograms(run_dir, 5, logins=0, others=30)
    before = read_measured(write_run(tmp_path / "plain", LIGHT))
    first, second, third = read_measured(run_dir)
    assert (first.logins, first.login_cpu) == (None, None)  # no histograms for stage 1
    assert second.logins == 12 and second.login_cpu == pytest.approx(0.1)
    assert (third.logins, third.login_cpu) == (None, None)  # its window held none
    # A diagnostic: every judged figure is what the run measured.
    for plain, recorded in zip(before, (first, second, third), strict=True):
        assert recorded.figures() == plain.figures()
    data = second.to_json()
    assert data["logins"] == 12 and data["login_cpu"] == pytest.approx(0.1)
    again = MeasuredLevel.from_json(second.users, data)
    assert again.logins == 12 and again.login_cpu == pytest.approx(0.1)
    assert "logins" not in first.to_json()  # documents without logins stay as they were


def test_replications_average_the_logins_counting_a_run_without_as_none_taken() -> None:
    (level,) = aggregate_replications(
        [
            [one_run(300, 500.0, 40.0, cpu=0.99, logins=40, login_cpu=0.2)],
            [one_run(300, 520.0, 40.0, cpu=0.99)],
        ]
    )
    assert level.mean.logins == 20 and level.mean.login_cpu == pytest.approx(0.1)
    (plain,) = aggregate_replications([[one_run(300, 500.0, 40.0)]])
    assert (plain.mean.logins, plain.mean.login_cpu) == (None, None)


def test_the_saturation_record_shows_the_logins_cpu_and_judges_as_measured() -> None:
    plain = saturated_level(300, 540.0, 500.0, 0.99)
    assert saturation_check([plain], None).login_cpu is None
    with_logins = saturated_level(300, 540.0, 500.0, 0.99, logins=80, login_cpu=0.15)
    check = saturation_check([with_logins], None)
    assert check.login_cpu == pytest.approx(0.15)
    assert check.measured_rps == pytest.approx(500.0)  # the figure judged is unchanged
    assert SaturationCheck.from_json(check.to_json()) == check
    text = format_trial(trial(saturation=check.to_json()))
    assert "the users' logins took 15% of the core there (counted in)" in text
