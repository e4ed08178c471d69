"""The records of ``run.json``, defined once for the harness that writes them and the report
that reads them (docs/artifacts.md lists every key).

Each record is a frozen dataclass with ``to_json`` (the object exactly as ``run.json`` holds
it: same keys, same order) and ``from_json`` (the object read back, every key checked, raising
:class:`~models.json_fields.RecordError` with the key's path, the value and what was
expected). The keys the schema had from its first version are required when reading; keys
added since (``elapsed_s``, ``rate_limited``, ``overall``, ``notes``...) are optional, so older
run directories still read, and come back as None or empty::

    Run                 run.json
      Target              target
      LoadGenerator       load_generator
      StageResult         stages[]          (a RequestFigures placed on the run's clock)
      RequestFigures      overall
      EndpointResult      endpoints[]
      PersonaMix          persona_mix
      SloResult           slo[]             (objectives, audit and chaos gates alike)
      FiredAlert          alerts[]
      IntegrityAudit      integrity         (KindCounts per kind of write)
      ChaosResult         chaos             (ChaosEvent, Backlog, Drain, ChaosFigures)
      ServerVsClient      server_vs_client  (EndpointCounts per endpoint)
      LabRecord           lab               (models/lab_records.py; None off the lab)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar

from models.json_fields import JsonFields, RecordError
from models.lab_records import LabRecord
from models.run_schema import RUN_KEYS, RUN_SCHEMA_VERSION

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "Backlog",
    "ChaosEvent",
    "ChaosFigures",
    "ChaosResult",
    "Drain",
    "EndpointCounts",
    "EndpointResult",
    "FiredAlert",
    "IntegrityAudit",
    "KindCounts",
    "LoadGenerator",
    "PersonaMix",
    "PlannedFault",
    "RequestFigures",
    "Run",
    "ServerVsClient",
    "SloResult",
    "StageKey",
    "StageResult",
    "Target",
    "stage_key",
]

StageKey = int | str | None
"""Which stage an ``slo`` row judges: its name (``"stage 1"``), or None for the whole run.
An index is read as well (older files and hand-written fixtures use one)."""


def stage_key(value: object) -> StageKey:
    """A JSON value as a :data:`StageKey` (anything else as its text)."""
    return value if value is None or isinstance(value, int | str) else str(value)


def _as_written(record: DataclassInstance) -> dict[str, object]:
    """A flat record as run.json holds it: its fields, in their order, under their own names."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _p999(value: float | None) -> dict[str, object]:
    return {} if value is None else {"p999_ms": value}


def _without_absent_p999(document: dict[str, object]) -> dict[str, object]:
    """Older files had no p99.9: a record read from one is written back as it was."""
    if document.get("p999_ms", 0.0) is None:
        del document["p999_ms"]
    return document


@dataclass(frozen=True, slots=True)
class RequestFigures:
    """The API requests of one span of the run (``overall``: the whole load) and how they went.

    Latencies and the error rate are over API requests only; ``page_p95_ms`` is over the PAGE
    samples (a screen's calls as its user waited for them), None when there were none.
    """

    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float | None
    error_rate: float
    page_p95_ms: float | None
    throughput_rps: float
    availability: float | None
    """The /health probe's share of successes over the span; None without a probe."""
    p999_ms: float | None
    """p99.9; None in files written before it was recorded (and then not written)."""

    def _figures_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            **_p999(self.p999_ms),
            "mean_ms": self.mean_ms,
            "error_rate": self.error_rate,
            "page_p95_ms": self.page_p95_ms,
        }

    def to_json(self) -> dict[str, object]:
        return _without_absent_p999(_as_written(self))

    @classmethod
    def from_json(cls, fields: JsonFields) -> RequestFigures:
        return RequestFigures(
            requests=int(fields.opt_number("requests") or 0),
            failures=int(fields.opt_number("failures") or 0),
            p50_ms=fields.number("p50_ms"),
            p95_ms=fields.number("p95_ms"),
            p99_ms=fields.number("p99_ms"),
            mean_ms=fields.opt_number("mean_ms"),
            error_rate=fields.number("error_rate"),
            page_p95_ms=fields.opt_number("page_p95_ms"),
            throughput_rps=fields.number("throughput_rps"),
            availability=fields.opt_number("availability"),
            p999_ms=fields.opt_number("p999_ms"),
        )


@dataclass(frozen=True, slots=True)
class StageResult(RequestFigures):
    """One planned stage: its figures, and where it sat on the run's clock."""

    index: int
    name: str
    users: int
    duration_s: float
    """The planned duration."""
    started_at_s: float
    elapsed_s: float | None
    """How long it actually ran (the last stage ends when the load ended)."""

    @classmethod
    def placed(
        cls,
        figures: RequestFigures,
        *,
        index: int,
        name: str,
        users: int,
        duration_s: float,
        started_at_s: float,
        elapsed_s: float | None,
    ) -> StageResult:
        """``figures`` as the record of the stage at ``index``."""
        return StageResult(
            index=index,
            name=name,
            users=users,
            duration_s=duration_s,
            started_at_s=started_at_s,
            elapsed_s=elapsed_s,
            requests=figures.requests,
            failures=figures.failures,
            p50_ms=figures.p50_ms,
            p95_ms=figures.p95_ms,
            p99_ms=figures.p99_ms,
            mean_ms=figures.mean_ms,
            error_rate=figures.error_rate,
            page_p95_ms=figures.page_p95_ms,
            throughput_rps=figures.throughput_rps,
            availability=figures.availability,
            p999_ms=figures.p999_ms,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "name": self.name,
            "users": self.users,
            "duration_s": self.duration_s,
            "started_at_s": self.started_at_s,
            "elapsed_s": self.elapsed_s,
            "throughput_rps": self.throughput_rps,
            **RequestFigures._figures_json(self),
            "availability": self.availability,
        }

    @classmethod
    def from_json(cls, fields: JsonFields, position: int = 0) -> StageResult:
        """The stage record at ``position`` in ``stages`` (its index and name when absent)."""
        return StageResult.placed(
            RequestFigures.from_json(fields),
            index=fields.integer("index") if fields.has("index") else position,
            name=fields.opt_text("name") or f"stage {position + 1}",
            users=int(fields.number("users")),
            duration_s=fields.number("duration_s"),
            started_at_s=fields.opt_number("started_at_s") or 0.0,
            elapsed_s=fields.opt_number("elapsed_s"),
        )


@dataclass(frozen=True, slots=True)
class EndpointResult:
    """One ``(method, name)`` over the whole run; PAGE rows are screens, not API calls."""

    endpoint: str
    """``"GET /jobs/{job_id}"``, or ``"PAGE homeowner.dashboard"``."""
    method: str
    name: str
    requests: int
    failures: int
    rate_limited: int | None
    """How many of the failures were 429s (None in files that did not count them)."""
    failure_rate: float
    mean_ms: float | None
    p50_ms: float
    p90_ms: float | None
    p95_ms: float
    p99_ms: float
    max_ms: float | None
    p999_ms: float | None = None
    """p99.9; None in files written before it was recorded (and then not written)."""

    @property
    def is_page(self) -> bool:
        return self.method == "PAGE"

    def to_json(self) -> dict[str, object]:
        return _without_absent_p999(_as_written(self))

    @classmethod
    def from_json(cls, fields: JsonFields) -> EndpointResult:
        return EndpointResult(
            endpoint=fields.text("endpoint"),
            method=fields.text("method"),
            name=fields.text("name"),
            requests=fields.integer("requests"),
            failures=fields.integer("failures"),
            rate_limited=fields.opt_integer("rate_limited"),
            failure_rate=fields.number("failure_rate"),
            mean_ms=fields.opt_number("mean_ms"),
            p50_ms=fields.number("p50_ms"),
            p90_ms=fields.opt_number("p90_ms"),
            p95_ms=fields.number("p95_ms"),
            p99_ms=fields.number("p99_ms"),
            max_ms=fields.opt_number("max_ms"),
            p999_ms=fields.opt_number("p999_ms"),
        )


@dataclass(frozen=True, slots=True)
class SloResult:
    """One gate: an objective of the profile, an integrity count or a chaos scenario's gate."""

    name: str
    target: float
    measured: float | None
    """None when nothing was measured: the gate then fails."""
    passed: bool
    stage: StageKey
    judged: bool = True
    """False for the steady-state objectives of a chaos run (recorded; its own gates decide).
    Written only when False."""

    def to_json(self) -> dict[str, object]:
        row: dict[str, object] = {
            "name": self.name,
            "target": self.target,
            "measured": self.measured,
            "passed": self.passed,
            "stage": self.stage,
        }
        if not self.judged:
            row["judged"] = False
        return row

    @classmethod
    def from_json(cls, fields: JsonFields) -> SloResult:
        return SloResult(
            name=fields.text("name"),
            target=fields.amount("target"),
            measured=fields.opt_amount("measured"),
            passed=fields.flag("passed"),
            stage=stage_key(fields.data.get("stage")),
            judged=fields.flag("judged") if fields.has("judged") else True,
        )


@dataclass(frozen=True, slots=True)
class FiredAlert:
    """One firing of an alert rule of the profile, replayed over the run's time series."""

    severity: str
    metric: str
    op: str
    threshold: float
    fired_at_s: float
    value: float
    resolved_at_s: float | None = None
    """None while it was still firing when the run ended."""

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> FiredAlert:
        return FiredAlert(
            severity=fields.text("severity"),
            metric=fields.text("metric"),
            op=fields.text("op"),
            threshold=fields.number("threshold"),
            fired_at_s=fields.number("fired_at_s"),
            value=fields.number("value"),
            resolved_at_s=fields.opt_number("resolved_at_s"),
        )


@dataclass(frozen=True, slots=True)
class KindCounts:
    """The audit's counts for one kind of write (job, bid, message, award, withdrawal)."""

    acknowledged: int
    unacknowledged_attempts: int
    in_database: int
    lost: int
    unexpected: int

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> KindCounts:
        return KindCounts(**{key: fields.integer(key) for key in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class IntegrityAudit:
    """The set check of the journeys' writes against the database (harness/run/integrity.py)."""

    EXAMPLES: ClassVar[int] = 20
    """How many lost and unexpected writes are named, at most."""

    acknowledged_writes: int
    lost: int
    unexpected: int
    recovered: int
    checked: bool
    by_kind: Mapping[str, KindCounts] = field(default_factory=dict)
    lost_examples: tuple[str, ...] = ()
    unexpected_examples: tuple[str, ...] = ()
    reason: str = ""
    """Why the audit was not checked (written only when there is one)."""

    def to_json(self) -> dict[str, object]:
        record: dict[str, object] = {
            "acknowledged_writes": self.acknowledged_writes,
            "lost": self.lost,
            "unexpected": self.unexpected,
            "recovered": self.recovered,
            "checked": self.checked,
            "by_kind": {kind: counts.to_json() for kind, counts in self.by_kind.items()},
            "lost_examples": list(self.lost_examples[: self.EXAMPLES]),
            "unexpected_examples": list(self.unexpected_examples[: self.EXAMPLES]),
        }
        if self.reason:
            record["reason"] = self.reason
        return record

    @classmethod
    def from_json(cls, fields: JsonFields) -> IntegrityAudit:
        by_kind = fields.opt_child("by_kind")
        return IntegrityAudit(
            acknowledged_writes=fields.integer("acknowledged_writes"),
            lost=fields.integer("lost"),
            unexpected=fields.integer("unexpected"),
            recovered=fields.opt_integer("recovered") or 0,
            checked=fields.flag("checked"),
            by_kind={}
            if by_kind is None
            else {
                str(kind): KindCounts.from_json(by_kind.child(str(kind))) for kind in by_kind.data
            },
            lost_examples=fields.opt_texts("lost_examples"),
            unexpected_examples=fields.opt_texts("unexpected_examples"),
            reason=fields.opt_text("reason") or "",
        )


@dataclass(frozen=True, slots=True)
class EndpointCounts:
    """One endpoint's requests as the load generator and the service counted them."""

    endpoint: str
    client: int
    server: int

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> EndpointCounts:
        return EndpointCounts(
            fields.text("endpoint"), fields.integer("client"), fields.integer("server")
        )


@dataclass(frozen=True, slots=True)
class ServerVsClient:
    """Client against server request counts (harness/run/reconcile.py)."""

    client_total: int
    server_total: int
    match: bool
    by_endpoint: tuple[EndpointCounts, ...] = ()
    mismatched: tuple[str, ...] = ()
    unavailable: str | None = None
    """Why the service's counts could not be read (written only then)."""

    def to_json(self) -> dict[str, object]:
        record: dict[str, object] = {
            "client_total": self.client_total,
            "server_total": self.server_total,
            "match": self.match,
            "by_endpoint": [row.to_json() for row in self.by_endpoint],
            "mismatched": list(self.mismatched),
        }
        if self.unavailable is not None:
            record["unavailable"] = self.unavailable
        return record

    @classmethod
    def from_json(cls, fields: JsonFields) -> ServerVsClient:
        return ServerVsClient(
            client_total=fields.integer("client_total"),
            server_total=fields.integer("server_total"),
            match=fields.flag("match"),
            by_endpoint=tuple(EndpointCounts.from_json(r) for r in fields.opt_items("by_endpoint")),
            mismatched=fields.opt_texts("mismatched"),
            unavailable=fields.opt_text("unavailable"),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """What was measured: the bundled service or an external ``--host``."""

    host: str | None
    workers: int | None
    """Service processes (None for an external host: not known)."""
    database: str
    """``sqlite``, ``postgresql`` or ``external``."""
    bundled: bool
    seed_scale: float | None = None

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> Target:
        return Target(
            host=fields.opt_text("host"),
            workers=fields.opt_integer("workers"),
            database=fields.text("database"),
            bundled=fields.flag("bundled"),
            seed_scale=fields.opt_number("seed_scale"),
        )


@dataclass(frozen=True, slots=True)
class LoadGenerator:
    """The Locust side: how many processes, how busy the busiest was, whether to trust it."""

    workers: int
    """Locust worker processes (0: one local process)."""
    processes: int
    users_per_process: float
    cpu_max: float
    """The highest CPU fraction any load-generator process reached."""
    unreliable: bool
    """``cpu_max`` above ``gates.loadgen_cpu_unreliable``: its latencies are not to be trusted."""
    cpu_unreliable_threshold: float | None = None
    mode: str | None = None
    """``local``, ``local-distributed`` or ``remote``."""

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> LoadGenerator:
        return LoadGenerator(
            workers=fields.integer("workers"),
            processes=fields.integer("processes"),
            users_per_process=fields.amount("users_per_process"),
            cpu_max=fields.number("cpu_max"),
            unreliable=fields.flag("unreliable"),
            cpu_unreliable_threshold=fields.opt_number("cpu_unreliable_threshold"),
            mode=fields.opt_text("mode"),
        )


@dataclass(frozen=True, slots=True)
class PersonaMix:
    """The personas' shares of the users: as the profile asks, as the run achieved."""

    target: Mapping[str, float]
    achieved: Mapping[str, float]
    users: Mapping[str, int] = field(default_factory=dict)
    """Users started per persona."""

    def to_json(self) -> dict[str, object]:
        return {
            "target": dict(self.target),
            "achieved": dict(self.achieved),
            "users": dict(self.users),
        }

    @classmethod
    def from_json(cls, fields: JsonFields) -> PersonaMix:
        users = fields.opt_child("users")
        return PersonaMix(
            target=fields.child("target").numbers(),
            achieved=fields.child("achieved").numbers(),
            users={} if users is None else users.integers(),
        )


@dataclass(frozen=True, slots=True)
class ChaosEvent:
    """Something the fault's controller did, in seconds after the load started."""

    at_s: float
    action: str
    """``inject``, ``escalate``, ``heal``, ``heal failed``, ``recovered`` or ``error``."""
    detail: str

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> ChaosEvent:
        return ChaosEvent(fields.number("at_s"), fields.text("action"), fields.text("detail"))


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """When the fault was planned, in seconds after the load started (scaled like the load)."""

    start_s: float
    duration_s: float

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> PlannedFault:
        return PlannedFault(fields.number("start_s"), fields.number("duration_s"))


@dataclass(frozen=True, slots=True)
class Backlog:
    """Undelivered notifications and unsettled payment holds."""

    outbox_pending: int
    payments_pending: int

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> Backlog:
        return Backlog(fields.integer("outbox_pending"), fields.integer("payments_pending"))


@dataclass(frozen=True, slots=True)
class Drain:
    """Notifications and payment holds still owed after the load (None: not readable)."""

    outbox_pending: int | None
    payments_pending: int | None
    waited_s: float
    note: str = ""
    """Why the backlog could not be read, if it could not."""

    def to_json(self) -> dict[str, object]:
        return _as_written(self)

    @classmethod
    def from_json(cls, fields: JsonFields) -> Drain:
        return Drain(
            outbox_pending=fields.opt_integer("outbox_pending"),
            payments_pending=fields.opt_integer("payments_pending"),
            waited_s=fields.number("waited_s"),
            note=fields.opt_text("note") or "",
        )


@dataclass(frozen=True, slots=True)
class ChaosFigures:
    """How the load went from the fault to the end of its error budget, and the recovery."""

    baseline_error_rate: float
    """Before the fault."""
    normal_error_rate: float | None
    """The error rate that counts as recovered (None in files that did not record it)."""
    window_start_s: float
    window_end_s: float
    requests: int
    failures: int
    error_rate: float
    recovery_s: float | None
    """From the heal until errors were normal and the dependency whole (None: never)."""

    def to_json(self) -> dict[str, object]:
        return {
            "baseline_error_rate": self.baseline_error_rate,
            "normal_error_rate": self.normal_error_rate,
            "window": {"start_s": self.window_start_s, "end_s": self.window_end_s},
            "requests": self.requests,
            "failures": self.failures,
            "error_rate": self.error_rate,
            "recovery_s": self.recovery_s,
        }

    @classmethod
    def from_json(cls, fields: JsonFields) -> ChaosFigures:
        window = fields.child("window")
        return ChaosFigures(
            baseline_error_rate=fields.number("baseline_error_rate"),
            normal_error_rate=fields.opt_number("normal_error_rate"),
            window_start_s=window.number("start_s"),
            window_end_s=window.number("end_s"),
            requests=fields.integer("requests"),
            failures=fields.integer("failures"),
            error_rate=fields.number("error_rate"),
            recovery_s=fields.opt_number("recovery_s"),
        )


@dataclass(frozen=True, slots=True)
class ChaosResult:
    """The ``chaos`` section of a chaos scenario's run (docs/reliability.md)."""

    kind: str
    planned: PlannedFault
    events: tuple[ChaosEvent, ...]
    error: str | None
    """Why the fault could not be carried out, if it could not."""
    details: Mapping[str, object]
    """What the fault's injector saw (breaker states, the killed pid): its own keys."""
    backlog_max_during_fault: Backlog
    drain: Drain | None
    run_marked_incomplete: bool | None = None
    """``loadgen`` only: whether the run said it was incomplete, as it must."""
    note: str | None = None
    """Why there are no figures (the fault was never injected, or failed)."""
    figures: ChaosFigures | None = None

    @property
    def breaker_opened(self) -> bool | None:
        """Whether a breaker opened during the fault (None: the injector does not watch one)."""
        opened = self.details.get("breaker_opened")
        return opened if isinstance(opened, bool) else None

    def to_json(self) -> dict[str, object]:
        section: dict[str, object] = {
            "kind": self.kind,
            "planned": self.planned.to_json(),
            "events": [event.to_json() for event in self.events],
            "error": self.error,
            "details": dict(self.details),
            "backlog_max_during_fault": self.backlog_max_during_fault.to_json(),
            "drain": None if self.drain is None else self.drain.to_json(),
        }
        if self.run_marked_incomplete is not None:
            section["run_marked_incomplete"] = self.run_marked_incomplete
        if self.note is not None:
            section["note"] = self.note
        if self.figures is not None:
            section.update(self.figures.to_json())
        return section

    @classmethod
    def from_json(cls, fields: JsonFields) -> ChaosResult:
        details, backlog, drain = (
            fields.opt_child(k) for k in ("details", "backlog_max_during_fault", "drain")
        )
        return ChaosResult(
            kind=fields.text("kind"),
            planned=PlannedFault.from_json(fields.child("planned")),
            events=tuple(ChaosEvent.from_json(e) for e in fields.items("events")),
            error=fields.opt_text("error"),
            details={} if details is None else dict(details.data),
            backlog_max_during_fault=Backlog(0, 0)
            if backlog is None
            else Backlog.from_json(backlog),
            drain=None if drain is None else Drain.from_json(drain),
            run_marked_incomplete=fields.flag("run_marked_incomplete")
            if fields.has("run_marked_incomplete")
            else None,
            note=fields.opt_text("note"),
            figures=ChaosFigures.from_json(fields) if fields.has("error_rate") else None,
        )


#: The keys of the objects whose first-version keys are the contract (docs/artifacts.md): a
#: run whose load never started writes these and no more.
_CONTRACT_KEYS: Mapping[str, tuple[str, ...]] = {
    "target": ("host", "workers", "database", "bundled"),
    "load_generator": ("workers", "processes", "users_per_process", "cpu_max", "unreliable"),
    "persona_mix": ("target", "achieved"),
}


def _contract_only(document: Mapping[str, object]) -> dict[str, object]:
    """``document`` cut down to the contract's keys (RUN_KEYS, and :data:`_CONTRACT_KEYS`)."""
    cut: dict[str, object] = {}
    for key in RUN_KEYS:
        value = document[key]
        inner = _CONTRACT_KEYS.get(key)
        if inner is not None and isinstance(value, Mapping):
            value = {k: value[k] for k in inner}
        cut[key] = value
    return cut


@dataclass(frozen=True, slots=True)
class Run:
    """``run.json``: the summary of one run."""

    scenario: str
    started_at: str
    """ISO 8601 UTC."""
    finished_at: str
    complete: bool
    """False when anything was lost or cut short (``incomplete_reasons`` says what)."""
    incomplete_reasons: tuple[str, ...]
    target: Target
    load_generator: LoadGenerator
    stages: tuple[StageResult, ...]
    endpoints: tuple[EndpointResult, ...]
    persona_mix: PersonaMix
    slo: tuple[SloResult, ...]
    alerts: tuple[FiredAlert, ...]
    integrity: IntegrityAudit
    server_vs_client: ServerVsClient
    exit_code: int | None
    overall: RequestFigures | None = None
    alerts_not_evaluated: tuple[str, ...] = ()
    chaos: ChaosResult | None = None
    duration_scale: float | None = None
    scale: float | None = None
    percentiles: str | None = None
    """Where the percentiles come from, in words."""
    load_model: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    machine: Mapping[str, object] | None = None
    """Host name, CPU count, Python and package versions (None: not recorded)."""
    command: str | None = None
    lab: LabRecord | None = None
    """The lab's topology and what its parts did (None: the service ran alone)."""
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Checks this run could not make, each with why (a user's own locustfile keeps no write
    log, so the lost-write audit is skipped, ...)."""

    @property
    def loadgen_unreliable(self) -> bool:
        return self.load_generator.unreliable

    def stage_named(self, key: StageKey) -> StageResult | None:
        """The stage an SLO record points at, by index or by name."""
        for stage in self.stages:
            if key in (stage.index, stage.name):
                return stage
        return None

    def to_json(self, *, contract_only: bool = False) -> dict[str, object]:
        """``run.json`` as written; ``contract_only`` for a run whose load never started: the
        contract's keys alone (nothing else was measured)."""
        document: dict[str, object] = {
            "schema_version": RUN_SCHEMA_VERSION,
            "scenario": self.scenario,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "complete": self.complete,
            "incomplete_reasons": list(self.incomplete_reasons),
            "target": self.target.to_json(),
            "load_generator": self.load_generator.to_json(),
            "stages": [stage.to_json() for stage in self.stages],
            "overall": None if self.overall is None else self.overall.to_json(),
            "endpoints": [endpoint.to_json() for endpoint in self.endpoints],
            "persona_mix": self.persona_mix.to_json(),
            "slo": [row.to_json() for row in self.slo],
            "alerts": [alert.to_json() for alert in self.alerts],
            "alerts_not_evaluated": list(self.alerts_not_evaluated),
            "integrity": self.integrity.to_json(),
            "chaos": None if self.chaos is None else self.chaos.to_json(),
            "server_vs_client": self.server_vs_client.to_json(),
            "exit_code": self.exit_code,
            "duration_scale": self.duration_scale,
            "scale": self.scale,
            "percentiles": self.percentiles,
            "load_model": self.load_model,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "machine": None if self.machine is None else dict(self.machine),
            "command": self.command,
            "skipped": dict(self.skipped),
        }
        if self.lab is not None:  # only a run on the lab has the key
            document["lab"] = self.lab.to_json()
        return _contract_only(document) if contract_only else document

    @classmethod
    def from_json(cls, data: object) -> Run:
        """Read and check a ``run.json`` document (RecordError names what is wrong)."""
        fields = JsonFields(data)
        version = fields.integer("schema_version")
        if version != RUN_SCHEMA_VERSION:
            raise RecordError(
                "schema_version",
                f"schema_version = {version}: expected {RUN_SCHEMA_VERSION}, the version read here",
            )
        overall, chaos = fields.opt_child("overall"), fields.opt_child("chaos")
        lab = fields.opt_child("lab")
        machine = fields.data.get("machine")
        return Run(
            scenario=fields.text("scenario"),
            started_at=fields.text("started_at"),
            finished_at=fields.text("finished_at"),
            complete=fields.flag("complete"),
            incomplete_reasons=fields.texts("incomplete_reasons"),
            target=Target.from_json(fields.child("target")),
            load_generator=LoadGenerator.from_json(fields.child("load_generator")),
            stages=tuple(
                StageResult.from_json(s, position)
                for position, s in enumerate(fields.items("stages"))
            ),
            endpoints=tuple(EndpointResult.from_json(e) for e in fields.items("endpoints")),
            persona_mix=PersonaMix.from_json(fields.child("persona_mix")),
            slo=tuple(SloResult.from_json(s) for s in fields.items("slo")),
            alerts=tuple(FiredAlert.from_json(a) for a in fields.items("alerts")),
            integrity=IntegrityAudit.from_json(fields.child("integrity")),
            server_vs_client=ServerVsClient.from_json(fields.child("server_vs_client")),
            exit_code=fields.opt_integer("exit_code"),
            overall=None if overall is None else RequestFigures.from_json(overall),
            alerts_not_evaluated=fields.opt_texts("alerts_not_evaluated"),
            chaos=None if chaos is None else ChaosResult.from_json(chaos),
            duration_scale=fields.opt_number("duration_scale"),
            scale=fields.opt_number("scale"),
            percentiles=fields.opt_text("percentiles"),
            load_model=fields.opt_text("load_model"),
            notes=fields.opt_texts("notes"),
            warnings=fields.opt_texts("warnings"),
            machine=dict(machine) if isinstance(machine, Mapping) else None,
            command=fields.opt_text("command"),
            lab=None if lab is None else LabRecord.from_json(lab),
            skipped=_texts_by_name(fields.data.get("skipped")),
        )


def _texts_by_name(value: object) -> dict[str, str]:
    """A mapping of names to texts (``skipped``); absent in older files: empty."""
    if not isinstance(value, Mapping):
        return {}
    return {str(name): str(text) for name, text in value.items()}
