"""``harness calibrate RUN_DIR``: overlay written and usable; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from models.profile import load_profile
from tests.models.synthetic_server import synthetic_server_json

TRUE = {"GET /jobs": (5.0, 3.0), "GET /jobs/{job_id}": (2.0, 0.8), "GET /threads": (3.0, 1.5)}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "20261128T153000Z-step"
    directory.mkdir()
    payload = synthetic_server_json(TRUE, overhead_ms=0.0, background_cores=0.0)
    (directory / "server.json").write_text(json.dumps(payload), "utf-8")
    return directory


def test_writes_an_overlay_that_profiles_accept(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", str(run_dir)]) == 0
    out = capsys.readouterr().out
    overlay = run_dir / "calibration.toml"
    assert f"overlay (law): {overlay}" in out
    assert "GET /jobs" in out and "agreement" in out
    profile = load_profile(extra_layers=[overlay])
    for endpoint, (cpu, db) in TRUE.items():
        assert profile.service_demands[endpoint].cpu_ms == pytest.approx(cpu, rel=0.03)
        assert profile.service_demands[endpoint].db_ms == pytest.approx(db, rel=0.03)
    # The model runs on it, and says the demands differ from the shipped assumptions.
    assert main(["model", "--profile", str(overlay), "--json"]) == 0
    assumptions = json.loads(capsys.readouterr().out)["assumptions"]
    assert any("3 of 17 endpoints differ" in line for line in assumptions)


def test_json_and_out_and_method(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nnls.toml"
    assert main(["calibrate", str(run_dir), "--out", str(out), "--method", "nnls", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "nnls" and data["overlay_path"] == str(out)
    assert {e["endpoint"] for e in data["endpoints"]} == set(TRUE)
    assert data["nnls"]["identifiable"] is True
    for e in data["endpoints"]:
        assert e["agreement"] < 0.1
        assert data["overlay"][e["endpoint"]]["cpu_ms"] == pytest.approx(e["nnls"]["cpu_ms"])
    assert "GET /contractors" in data["unseen_endpoints"]
    assert out.is_file()


@pytest.mark.parametrize(
    ("server_json", "message"),
    [(None, "file not found"), ('{"scrapes": []}', "0 scrape(s)"),
     ("[1, 2]", "'scrapes' list"), ("{", "not valid JSON")],
)  # fmt: skip
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, server_json: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if server_json is not None:
        (tmp_path / "server.json").write_text(server_json, "utf-8")
    assert main(["calibrate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "server.json" in err or "0 scrape(s)" in err
    assert not (tmp_path / "calibration.toml").exists()


def test_missing_run_dir_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
