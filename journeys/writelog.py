"""The write log: every write the service acknowledged, for the integrity audit afterwards.

A write screen (post a job, place a bid, send a message, award a bid, withdraw a bid) that gets
a success response with the new object's id appends one :class:`WriteRecord`. After the run
the harness checks the database against the log (Jepsen's set check): every logged id must be
present exactly once (``lost`` = logged but missing), and every row the run created must be
logged (``unexpected`` = present but never acknowledged).

Where records go: in a single-process run they are appended to the JSONL file directly. In a
distributed run each worker buffers its records and ships them to the master with its regular
report (the same channel as the histograms), and the master appends them, so the log is one
file on the master's machine even when the workers run elsewhere. One JSON object per line::

    {"kind": "bid", "id": 812, "persona": "contractor", "account": "contractor7@seed.example",
     "parent_id": 91, "stage": 2, "at": 1764342000.12, "worker": 0}

``id`` is the created object's id (job, bid, message); for an award it is the accepted bid's
id and ``parent_id`` the job; for a withdrawal the withdrawn bid's id and ``parent_id`` its job.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.catalogue import PERSONAS, PersonaName, WriteKind


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One write: acknowledged (with the new object's id), or attempted with no verdict.

    An attempt that got no response, or a 5xx, may or may not have been committed (the
    service can lose the database's acknowledgement of a COMMIT that happened), so it is
    logged with ``acknowledged=False`` and ``id=None``: the audit lets it explain one row of
    its kind that no acknowledgement names (``recovered``), instead of calling it unexpected.
    A 4xx is a definite refusal and is not logged.
    """

    kind: WriteKind
    id: int | None
    persona: PersonaName
    account: str
    parent_id: int | None = None
    stage: int = 0
    at: float = 0.0
    """Wall-clock time (seconds since the epoch) of the acknowledgement or the failure."""
    worker: int = 0
    acknowledged: bool = True

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WriteRecord:
        persona = data["persona"]
        if persona not in PERSONAS:
            raise ValueError(f"write record persona {persona!r}: expected one of {PERSONAS}")
        parent = data.get("parent_id")
        return cls(
            kind=WriteKind(data["kind"]),
            id=None if data.get("id") is None else int(data["id"]),
            persona=persona,
            account=str(data["account"]),
            parent_id=None if parent is None else int(parent),
            stage=int(data.get("stage", 0)),
            at=float(data.get("at", 0.0)),
            worker=int(data.get("worker", 0)),
            acknowledged=bool(data.get("acknowledged", True)),
        )


class WriteLog:
    """Collects records; appends them to ``path`` (if given) and/or buffers them for shipping.

    ``ship=True`` (a distributed worker) buffers records until :meth:`drain`; otherwise every
    record is written through to the file at once and kept in :attr:`records`.
    """

    def __init__(self, path: Path | None, *, ship: bool = False) -> None:
        self.path = path
        self.ship = ship
        self.records: list[WriteRecord] = []
        self._pending: list[WriteRecord] = []
        self._lock = threading.Lock()
        self.count = 0
        if path is not None and not ship:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()

    def append(self, record: WriteRecord) -> None:
        self.add_many([record])

    def add_many(self, records: Iterable[WriteRecord]) -> None:
        batch = list(records)
        if not batch:
            return
        with self._lock:
            self.count += len(batch)
            if self.ship:
                self._pending.extend(batch)
                return
            self.records.extend(batch)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.writelines(json.dumps(r.to_json()) + "\n" for r in batch)

    def drain(self) -> list[dict[str, Any]]:
        """The buffered records as JSON objects, emptied (a worker's report payload)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return [r.to_json() for r in pending]


def read_write_log(path: Path) -> list[WriteRecord]:
    """Every record of a JSONL write log; a bad line is a ValueError naming file and line."""
    return list(iter_write_log(path))


def iter_write_log(path: Path) -> Iterator[WriteRecord]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield WriteRecord.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a write record ({exc})") from None
