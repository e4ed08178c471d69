"""Reading a run directory into typed records, checking every key the report uses.

The report reads only files (docs/artifacts.md), so a run can be re-reported on another
machine. Everything is checked here, once, with errors that name the file, the key and the bad
value; the rest of the package can then trust the records::

    runs/<id>/run.json             -> Run            (required)
    runs/<id>/profile.toml         -> Profile        (required)
    runs/<id>/stats/timeseries.json-> TimeSeries     (optional: chart omitted when missing)
    runs/<id>/server.json          -> list[Scrape]   (optional)
    runs/<id>/prediction.json      -> Prediction     (optional: the model did not run)
    runs/<id>/capacity.json        -> dict           (optional: `harness model --json` output)
    runs/<id>/simulation.json      -> list[dict]     (optional: per-minute simulation records)
    runs/<id>/trial.json           -> ComparedLevel (optional: a validation trial's first run)

Optional keys (``p90_ms``, ``machine``...) default to ``None`` so older runs still render.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from models.json_fields import JsonFields, RecordError
from models.profile import ProfileError, load_profile
from models.run_records import stage_key
from models.validation_records import ComparedLevel, TrialResult
from reports.records import (
    PredictedStage,
    Prediction,
    Run,
    RunArtifacts,
    Scrape,
    TimePoint,
    TimeSeries,
)


class ArtifactError(ValueError):
    """An artifact file that is missing or does not hold what docs/artifacts.md promises."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# --- Parsing ---------------------------------------------------------------------------------

T = TypeVar("T")


def _naming_the_file(
    parse: Callable[[Path, Any], T],
) -> Callable[[Path, Any], T]:
    """``parse(path, data)`` with a key that is missing or of the wrong type reported as an
    :class:`ArtifactError` naming the file (the record's error names the key and the value)."""

    @functools.wraps(parse)
    def parse_checked(path: Path, data: Any) -> T:
        try:
            return parse(path, data)
        except RecordError as exc:
            raise ArtifactError(path, exc.problem) from None

    return parse_checked


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"cannot be read: {exc}") from None


@_naming_the_file
def parse_run(path: Path, data: Any) -> Run:
    """``run.json``, every key checked (models/run_records.py)."""
    return Run.from_json(data)


@_naming_the_file
def parse_timeseries(path: Path, data: Any) -> TimeSeries:
    r = JsonFields(data)
    return TimeSeries(
        window_s=r.number("window_s"),
        records=tuple(
            TimePoint(
                t_s=p.number("t_s"),
                stage=stage_key(p.data.get("stage")),
                users=p.number("users"),
                rps=p.number("rps"),
                p50_ms=p.opt_number("p50_ms"),
                p95_ms=p.opt_number("p95_ms"),
                error_rate=p.opt_number("error_rate") or 0.0,
                availability=p.opt_number("availability"),
            )
            for p in r.items("records")
        ),
    )


@_naming_the_file
def parse_server(path: Path, data: Any) -> tuple[Scrape, ...]:
    r = JsonFields(data)
    return tuple(
        Scrape(
            t_s=s.number("t_s"),
            cpu_seconds=s.number("cpu_seconds"),
            pool_in_use=s.opt_number("pool_in_use"),
            pool_waiting=s.opt_number("pool_waiting"),
            pool_size=s.opt_number("pool_size"),
        )
        for s in r.items("scrapes")
    )


@_naming_the_file
def parse_prediction(path: Path, data: Any) -> Prediction:
    r = JsonFields(data)
    return Prediction(
        model=r.text("model"),
        calibrated=r.flag("calibrated"),
        stages=tuple(
            PredictedStage(
                users=s.number("users"),
                throughput_rps=s.number("throughput_rps"),
                throughput_rps_low=s.opt_number("throughput_rps_low"),
                throughput_rps_high=s.opt_number("throughput_rps_high"),
                mean_ms=s.opt_number("mean_ms"),
                p50_ms=s.opt_number("p50_ms"),
                p95_ms=s.opt_number("p95_ms"),
                cpu_utilization=s.opt_number("cpu_utilization"),
                error_rate=s.opt_number("error_rate"),
                p95_ms_low=s.opt_number("p95_ms_low"),
                p95_ms_high=s.opt_number("p95_ms_high"),
            )
            for s in r.items("stages")
        ),
    )


@_naming_the_file
def replicated_levels(path: Path, data: Any) -> tuple[ComparedLevel, ...]:
    """The levels of a validation trial (``trial.json``) measured by more than one run."""
    try:
        trial = TrialResult.from_json(data)
    except RecordError as exc:
        raise ArtifactError(path, exc.problem) from None
    return tuple(level for level in trial.levels if level.replications >= 2)


_SIMULATION_ALIASES = {"connections_in_use": ("connections_in_use", "db_connections")}


def simulation_records(path: Path | str, data: Any) -> tuple[Mapping[str, Any], ...]:
    """Per-minute simulation records in the report's vocabulary.

    Accepts a list, ``{"records": [...]}`` or the simulation's own ``{"minutes": [...]}``
    (``SimulationResult.to_dict()``), whose records name the minute ``minute``/``time_s`` and
    the pool ``db_connections``; they come out as ``t_min`` and ``connections_in_use``.
    """
    records = data
    if isinstance(data, Mapping):
        records = data.get("records", data.get("minutes"))
    if not isinstance(records, Sequence) or isinstance(records, str):
        raise ArtifactError(
            path, "expected per-minute records: a list, {'records': [...]} or {'minutes': [...]}"
        )
    try:
        return tuple(_simulation_row(record, f"records[{i}]") for i, record in enumerate(records))
    except RecordError as exc:
        raise ArtifactError(path, exc.problem) from None


def _simulation_row(record: object, where: str) -> dict[str, Any]:
    """One simulation record in the report's vocabulary (:func:`simulation_records`)."""
    reader = JsonFields(record, where)
    row = dict(reader.data)
    if "t_min" not in row:
        if "time_s" in row:
            row["t_min"] = reader.number("time_s") / 60
        elif "minute" in row:
            row["t_min"] = reader.number("minute")
    for name, aliases in _SIMULATION_ALIASES.items():
        row.setdefault(name, next((row[a] for a in aliases if a in row), None))
    checked_row = JsonFields(row, where)
    for key in ("t_min", "users", "instances"):
        checked_row.number(key)
    return row


def load_run(directory: Path | str) -> RunArtifacts:
    """Read and check a run directory; raises :class:`ArtifactError` naming what is wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ArtifactError(directory, "not a run directory (it does not exist)")
    run = parse_run(directory / "run.json", read_json(directory / "run.json"))
    profile_path = directory / "profile.toml"
    if not profile_path.is_file():
        raise ArtifactError(profile_path, "file not found")
    try:
        profile = load_profile(profile_path)
    except ProfileError as exc:
        raise ArtifactError(profile_path, str(exc)) from None

    def optional(name: str) -> tuple[Path, Any] | None:
        path = directory / name
        return (path, read_json(path)) if path.is_file() else None

    timeseries = optional("stats/timeseries.json")
    server = optional("server.json")
    prediction = optional("prediction.json")
    capacity = optional("capacity.json")
    simulation = optional("simulation.json")
    validation = optional("trial.json")
    if capacity is not None and not isinstance(capacity[1], Mapping):
        raise ArtifactError(capacity[0], "expected the `harness model --json` object")
    return RunArtifacts(
        directory=directory,
        run=run,
        profile=profile,
        profile_toml=profile_path.read_text("utf-8"),
        timeseries=parse_timeseries(*timeseries) if timeseries else None,
        scrapes=parse_server(*server) if server else (),
        prediction=parse_prediction(*prediction) if prediction else None,
        capacity=capacity[1] if capacity else None,
        simulation=simulation_records(*simulation) if simulation else (),
        replicated=replicated_levels(*validation) if validation else (),
    )
