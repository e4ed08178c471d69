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
    runs/<id>/validation.json      -> ReplicatedLevel (optional: a replicated validation step)

Optional keys (``p90_ms``, ``machine``...) default to ``None`` so older runs still render.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.profile import ProfileError, load_profile
from models.run_schema import RUN_KEYS, RUN_SCHEMA_VERSION
from reports.records import (
    Alert,
    EndpointResult,
    PredictedStage,
    Prediction,
    ReplicatedLevel,
    Run,
    RunArtifacts,
    Scrape,
    SloResult,
    StageResult,
    TimePoint,
    TimeSeries,
)

SCHEMA_VERSION = RUN_SCHEMA_VERSION


class ArtifactError(ValueError):
    """An artifact file that is missing or does not hold what docs/artifacts.md promises."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# --- Small checked accessors: every error names the key path and the value -----------------


class _Reader:
    """Reads keys out of one JSON object, remembering where it is for error messages."""

    def __init__(self, path: Path, data: Any, where: str = "") -> None:
        if not isinstance(data, Mapping):
            at = where or "top level"
            raise ArtifactError(path, f"{at}: expected an object, got {type(data).__name__}")
        self.path = path
        self.data: Mapping[str, Any] = data
        self.where = where

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise ArtifactError(self.path, f"required key {self._key(key)!r} is missing")
        return self.data[key]

    def number(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ArtifactError(self.path, f"{self._key(key)} = {value!r}: expected a number")
        return float(value)

    def opt_number(self, key: str) -> float | None:
        return None if self.data.get(key) is None else self.number(key)

    def integer(self, key: str) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArtifactError(self.path, f"{self._key(key)} = {value!r}: expected an integer")
        return value

    def text(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise ArtifactError(self.path, f"{self._key(key)} = {value!r}: expected a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            raise ArtifactError(self.path, f"{self._key(key)} = {value!r}: expected true/false")
        return value

    def items(self, key: str) -> list[_Reader]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise ArtifactError(self.path, f"{self._key(key)}: expected a list")
        return [_Reader(self.path, v, f"{self._key(key)}[{i}]") for i, v in enumerate(value)]

    def child(self, key: str) -> _Reader:
        return _Reader(self.path, self.raw(key), self._key(key))


# --- Parsing ---------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ArtifactError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"not valid JSON: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"cannot be read: {exc}") from None


def _stage_key(value: Any) -> int | str | None:
    return value if value is None or isinstance(value, int | str) else str(value)


def parse_run(path: Path, data: Any) -> Run:
    r = _Reader(path, data)
    version = r.integer("schema_version")
    if version != SCHEMA_VERSION:
        raise ArtifactError(path, f"schema_version = {version}: this report reads version 1")
    stages = tuple(
        StageResult(
            index=s.integer("index") if "index" in s.data else i,
            name=str(s.data.get("name", f"stage {i + 1}")),
            users=int(s.number("users")),
            duration_s=s.number("duration_s"),
            started_at_s=s.opt_number("started_at_s") or 0.0,
            throughput_rps=s.number("throughput_rps"),
            requests=int(s.opt_number("requests") or 0),
            failures=int(s.opt_number("failures") or 0),
            p50_ms=s.number("p50_ms"),
            p95_ms=s.number("p95_ms"),
            p99_ms=s.number("p99_ms"),
            mean_ms=s.opt_number("mean_ms"),
            error_rate=s.number("error_rate"),
            page_p95_ms=s.opt_number("page_p95_ms"),
            availability=s.opt_number("availability"),
        )
        for i, s in enumerate(r.items("stages"))
    )
    endpoints = tuple(
        EndpointResult(
            endpoint=e.text("endpoint"),
            method=e.text("method"),
            name=e.text("name"),
            requests=e.integer("requests"),
            failures=e.integer("failures"),
            failure_rate=e.number("failure_rate"),
            mean_ms=e.opt_number("mean_ms"),
            p50_ms=e.number("p50_ms"),
            p90_ms=e.opt_number("p90_ms"),
            p95_ms=e.number("p95_ms"),
            p99_ms=e.number("p99_ms"),
            max_ms=e.opt_number("max_ms"),
        )
        for e in r.items("endpoints")
    )
    mix = r.child("persona_mix")
    slo = tuple(
        SloResult(
            name=s.text("name"),
            target=s.number("target"),
            measured=s.opt_number("measured"),
            passed=s.flag("passed"),
            stage=_stage_key(s.data.get("stage")),
            judged=s.flag("judged") if "judged" in s.data else True,
        )
        for s in r.items("slo")
    )
    alerts = tuple(
        Alert(
            severity=a.text("severity"),
            metric=a.text("metric"),
            op=a.text("op"),
            threshold=a.number("threshold"),
            fired_at_s=a.number("fired_at_s"),
            value=a.number("value"),
        )
        for a in r.items("alerts")
    )
    reasons = r.raw("incomplete_reasons")
    if not isinstance(reasons, list):
        raise ArtifactError(path, "incomplete_reasons: expected a list of strings")
    exit_code = r.data.get("exit_code")
    machine = r.data.get("machine")
    return Run(
        scenario=r.text("scenario"),
        started_at=r.text("started_at"),
        finished_at=r.text("finished_at"),
        complete=r.flag("complete"),
        incomplete_reasons=tuple(str(x) for x in reasons),
        target=r.child("target").data,
        load_generator=r.child("load_generator").data,
        stages=stages,
        endpoints=endpoints,
        persona_target=_shares(path, mix.child("target")),
        persona_achieved=_shares(path, mix.child("achieved")),
        slo=slo,
        alerts=alerts,
        integrity=r.child("integrity").data,
        server_vs_client=r.child("server_vs_client").data,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        machine=machine if isinstance(machine, Mapping) else None,
        extra={k: v for k, v in r.data.items() if k not in _RUN_KEYS},
    )


_RUN_KEYS = frozenset({*RUN_KEYS, "machine"})


def _shares(path: Path, reader: _Reader) -> dict[str, float]:
    return {str(k): reader.number(str(k)) for k in reader.data}


def parse_timeseries(path: Path, data: Any) -> TimeSeries:
    r = _Reader(path, data)
    return TimeSeries(
        window_s=r.number("window_s"),
        records=tuple(
            TimePoint(
                t_s=p.number("t_s"),
                stage=_stage_key(p.data.get("stage")),
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


def parse_server(path: Path, data: Any) -> tuple[Scrape, ...]:
    r = _Reader(path, data)
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


def parse_prediction(path: Path, data: Any) -> Prediction:
    r = _Reader(path, data)
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


def replicated_levels(path: Path, data: Any) -> tuple[ReplicatedLevel, ...]:
    """The levels of ``validation.json`` measured by more than one replication.

    Documents written before replications existed (no ``replications`` key) give none.
    """
    levels = []
    for level in _Reader(path, data).items("levels"):
        if "replications" not in level.data or level.integer("replications") < 2:
            continue
        measured, spread = level.child("measured"), level.child("spread")
        ranges = {}
        for metric in spread.data:
            bounds = spread.child(metric)
            ranges[metric] = (bounds.number("min"), bounds.number("max"))
        levels.append(
            ReplicatedLevel(
                users=level.integer("users"),
                replications=level.integer("replications"),
                mean={metric: measured.opt_number(metric) for metric in ranges},
                range=ranges,
            )
        )
    return tuple(levels)


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
    checked = []
    for i, record in enumerate(records):
        reader = _Reader(Path(path), record, f"records[{i}]")
        row = dict(reader.data)
        if "t_min" not in row:
            if "time_s" in row:
                row["t_min"] = reader.number("time_s") / 60
            elif "minute" in row:
                row["t_min"] = reader.number("minute")
        for name, aliases in _SIMULATION_ALIASES.items():
            row.setdefault(name, next((row[a] for a in aliases if a in row), None))
        checked_row = _Reader(Path(path), row, f"records[{i}]")
        for key in ("t_min", "users", "instances"):
            checked_row.number(key)
        checked.append(row)
    return tuple(checked)


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
    validation = optional("validation.json")
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
