"""Reading artifacts: a bad run directory is refused with the file, the key and the value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports.load import ArtifactError, load_run
from tests.reports.factory import read_run


def _rewrite(run_dir: Path, **changes: object) -> None:
    run = read_run(run_dir)
    run.update(changes)
    (run_dir / "run.json").write_text(json.dumps(run))


def test_a_complete_directory_loads_every_file(passing_run: Path) -> None:
    artifacts = load_run(passing_run)
    assert artifacts.run.scenario == "step"
    assert [s.users for s in artifacts.run.stages] == [100, 200, 300, 400, 500]
    assert artifacts.timeseries is not None
    assert len(artifacts.timeseries.records) == 5 * 30
    assert artifacts.prediction is not None and artifacts.prediction.model == "mva"
    assert artifacts.capacity is not None and artifacts.capacity["users"] == 400_000
    assert len(artifacts.scrapes) == 61
    assert artifacts.profile.name == "launch-day-400k"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a run directory"):
        load_run(tmp_path / "nope")


def test_missing_run_json(passing_run: Path) -> None:
    (passing_run / "run.json").unlink()
    with pytest.raises(ArtifactError, match=r"run\.json: file not found"):
        load_run(passing_run)


def test_invalid_json_names_the_file(passing_run: Path) -> None:
    (passing_run / "prediction.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"prediction\.json: not valid JSON"):
        load_run(passing_run)


def test_unknown_schema_version(passing_run: Path) -> None:
    _rewrite(passing_run, schema_version=2)
    expected = "schema_version = 2: expected 1, the version read here"
    with pytest.raises(ArtifactError, match=expected):
        load_run(passing_run)


def test_missing_key_names_its_path(passing_run: Path) -> None:
    run = read_run(passing_run)
    del run["stages"][1]["p95_ms"]
    (passing_run / "run.json").write_text(json.dumps(run))
    with pytest.raises(ArtifactError, match=r"required key 'stages\[1\]\.p95_ms' is missing"):
        load_run(passing_run)


def test_wrong_type_names_key_and_value(passing_run: Path) -> None:
    run = read_run(passing_run)
    run["endpoints"][0]["requests"] = "many"
    (passing_run / "run.json").write_text(json.dumps(run))
    with pytest.raises(ArtifactError, match=r"endpoints\[0\]\.requests = 'many': expected an int"):
        load_run(passing_run)


def test_invalid_profile_is_an_artifact_error(passing_run: Path) -> None:
    (passing_run / "profile.toml").write_text("[population]\ndau_ratio = 1.4\n")
    with pytest.raises(ArtifactError, match=r"population\.dau_ratio = 1\.4"):
        load_run(passing_run)
