"""Calibration recovers known demands from synthetic scrapes, and refuses bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.calibration import (
    CalibrationError,
    calibrate,
    calibrate_run,
    endpoint_name,
    read_scrapes,
)
from models.profile import Profile, load_profile
from tests.models.synthetic_server import Demands, synthetic_server_json

TRUE: Demands = {
    "GET /jobs": (5.0, 3.0),
    "GET /me": (1.5, 0.5),
    "GET /threads": (3.0, 1.5),
    "POST /jobs": (4.0, 3.0),
    "GET /operator/dashboard": (8.0, 8.0),
}
OVERHEAD_MS = 0.4


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile()


def _run_dir(tmp_path: Path, payload: object) -> Path:
    (tmp_path / "server.json").write_text(json.dumps(payload), "utf-8")
    return tmp_path


def test_demand_law_is_exact_without_noise(tmp_path: Path, profile: Profile) -> None:
    payload = synthetic_server_json(TRUE, noise=False, background_cores=0.0)
    result = calibrate_run(_run_dir(tmp_path, payload), profile)
    for estimate in result.estimates:
        cpu, db = TRUE[estimate.endpoint]
        assert estimate.law_cpu_ms == pytest.approx(cpu, rel=1e-9)
        assert estimate.law_db_ms == pytest.approx(db, rel=1e-9)
        # NNLS sees process CPU: the demand plus the unattributed per-request overhead.
        assert estimate.nnls_cpu_ms == pytest.approx(cpu + OVERHEAD_MS, rel=1e-6)
        assert estimate.agreement == pytest.approx(0.0, abs=1e-6)
    assert result.overhead_cpu_ms == pytest.approx(OVERHEAD_MS, rel=1e-9)
    assert result.nnls_identifiable


def test_both_estimators_recover_demands_through_noise(tmp_path: Path, profile: Profile) -> None:
    payload = synthetic_server_json(TRUE, background_cores=0.02)
    result = calibrate_run(_run_dir(tmp_path, payload), profile)
    assert {e.endpoint for e in result.estimates} == set(TRUE)
    for estimate in result.estimates:
        cpu, db = TRUE[estimate.endpoint]
        assert estimate.law_cpu_ms == pytest.approx(cpu, rel=0.03)
        assert estimate.law_db_ms == pytest.approx(db, rel=0.03)
        assert estimate.nnls_cpu_ms == pytest.approx(cpu + OVERHEAD_MS, rel=0.10)
        assert estimate.nnls_db_ms == pytest.approx(db, rel=0.10)
    assert result.nnls_background_cores == pytest.approx(0.02, abs=0.02)
    assert result.total_agreement is not None and result.total_agreement < 0.02
    # The overlay carries law + overhead: what the processes actually burn per request.
    for endpoint, (cpu_ms, db_ms) in result.demands.items():
        assert cpu_ms == pytest.approx(TRUE[endpoint][0] + OVERHEAD_MS, rel=0.05)
        assert db_ms == pytest.approx(TRUE[endpoint][1], rel=0.03)


def test_overlay_loads_as_a_profile_layer(tmp_path: Path, profile: Profile) -> None:
    result = calibrate_run(_run_dir(tmp_path, synthetic_server_json(TRUE)), profile)
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(result.overlay_toml(), "utf-8")
    calibrated = load_profile(extra_layers=[overlay])
    for endpoint, (cpu_ms, db_ms) in result.demands.items():
        assert calibrated.service_demands[endpoint].cpu_ms == pytest.approx(cpu_ms, abs=1e-4)
        assert calibrated.service_demands[endpoint].db_ms == pytest.approx(db_ms, abs=1e-4)
    # Endpoints the run never exercised keep the profile's value, and are reported.
    assert "GET /contractors" in result.unseen_endpoints
    assert (
        calibrated.service_demands["GET /contractors"]
        == profile.service_demands["GET /contractors"]
    )


def test_fixed_mix_is_reported_as_not_identifiable(tmp_path: Path, profile: Profile) -> None:
    payload = synthetic_server_json(TRUE, noise=False)
    # Make every window's mix identical: the same counts in every window.
    scrapes = payload["scrapes"]
    first = scrapes[1]
    for i, scrape in enumerate(scrapes):
        for name, counters in scrape["routes"].items():
            for key in ("requests", "cpu_seconds", "db_seconds"):
                counters[key] = first["routes"][name][key] * i
        scrape["cpu_seconds"] = first["cpu_seconds"] * i
    result = calibrate_run(_run_dir(tmp_path, payload), profile)
    assert not result.nnls_identifiable
    assert any("cannot separate" in note for note in result.notes)
    for estimate in result.estimates:  # the law is unaffected
        assert estimate.law_cpu_ms == pytest.approx(TRUE[estimate.endpoint][0], rel=1e-9)


def test_unknown_routes_are_skipped_and_reported(tmp_path: Path, profile: Profile) -> None:
    demands = {**TRUE, "GET /metrics": (1.0, 0.0)}
    result = calibrate_run(_run_dir(tmp_path, synthetic_server_json(demands)), profile)
    assert result.unknown_endpoints == ("GET /metrics",)
    assert "GET /metrics" not in result.demands
    assert any("GET /metrics" in note for note in result.notes)


def test_route_and_method_labels_map_to_endpoint_names(tmp_path: Path) -> None:
    assert endpoint_name("/jobs/{job_id}", "get") == "GET /jobs/{job_id}"
    assert endpoint_name("post /jobs") == "POST /jobs"
    with pytest.raises(CalibrationError, match="no method"):
        endpoint_name("/jobs")
    payload = {
        "scrapes": [
            {"t_s": t, "cpu_seconds": t, "routes": {"/jobs/{job_id}": {
                "method": "GET", "requests": 10 * t, "cpu_seconds": 0.02 * t,
                "db_seconds": 0.01 * t}}}
            for t in (0.0, 1.0, 2.0)
        ]
    }  # fmt: skip
    path = tmp_path / "server.json"
    path.write_text(json.dumps(payload), "utf-8")
    scrapes = read_scrapes(path)
    assert set(scrapes[0].routes) == {"GET /jobs/{job_id}"}
    result = calibrate(scrapes, load_profile())
    assert result.demands["GET /jobs/{job_id}"][1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("{not json", "not valid JSON"),
        ('{"scrapes": []}', "0 scrape"),
        ('{"samples": []}', "'scrapes' list"),
        ('{"scrapes": [{"t_s": 0, "cpu_seconds": "x", "routes": {}}]}', "cpu_seconds = 'x'"),
        (
            '{"scrapes": [{"t_s": 0, "cpu_seconds": 0, "routes": {}},'
            ' {"t_s": 5, "cpu_seconds": 1, "routes": {}}]}',
            "no requests to any catalogue endpoint",
        ),
    ],
)
def test_bad_input_names_the_problem(
    tmp_path: Path, profile: Profile, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "server.json").write_text(content, "utf-8")
    with pytest.raises(CalibrationError, match=message):
        calibrate_run(tmp_path, profile)


def test_counter_reset_windows_are_dropped(tmp_path: Path, profile: Profile) -> None:
    payload = synthetic_server_json(TRUE, noise=False, windows=20)
    scrapes = payload["scrapes"]
    # A restart: counters after scrape 10 start again from zero, then keep growing.
    base = scrapes[10]
    for scrape in scrapes[11:]:
        scrape["cpu_seconds"] -= base["cpu_seconds"]
        for name, counters in scrape["routes"].items():
            for key in ("requests", "cpu_seconds", "db_seconds"):
                counters[key] -= base["routes"][name][key]
    result = calibrate_run(_run_dir(tmp_path, payload), profile)
    assert result.windows == 19
    assert any("dropped" in note for note in result.notes)
    for estimate in result.estimates:
        assert estimate.law_cpu_ms == pytest.approx(TRUE[estimate.endpoint][0], rel=1e-9)
