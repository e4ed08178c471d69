"""The integrity audit: Jepsen's set check of the journeys' writes against the database.

The journeys log every write they attempt and whether the service acknowledged it (a 2xx with
the new row's id). After the run the database is read directly, not through the API, and::

    lost        = acknowledged writes that are not in the database        (must be 0)
    unexpected  = writes in the database that nobody attempted            (must be 0)
    recovered   = writes in the database whose acknowledgement never came (a timeout, a dropped
                  connection): indeterminate, and correct to be either there or not

"In the database" means created during the run: before the load starts, :func:`snapshot`
records the highest id of each table and which jobs were already awarded and which bids
already withdrawn, so the seeded data never counts. The five kinds of write (models.catalogue
``WriteKind``) and what proves each one::

    job         a row in jobs with that id          (id > the highest id before the run)
    bid         a row in bids with that id
    message     a row in messages with that id
    award       the job's status is 'awarded'       (job id)
    withdrawal  the bid's status is 'withdrawn'     (bid id)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text

from models.run_records import IntegrityAudit, KindCounts

KINDS = ("job", "bid", "message", "award", "withdrawal")


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One entry of the write log: which kind, the id written (None if never acknowledged)."""

    kind: str
    id: int | None
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the database held before the load: highest ids and already-changed states."""

    max_job_id: int
    max_bid_id: int
    max_message_id: int
    awarded_jobs: frozenset[int]
    withdrawn_bids: frozenset[int]


def not_checked(reason: str, acknowledged: int = 0) -> IntegrityAudit:
    """The audit could not run (an external host without database access, no write log)."""
    return IntegrityAudit(acknowledged, 0, 0, 0, checked=False, reason=reason)


def _scalar_ids(connection: Connection, query: str, **params: object) -> frozenset[int]:
    return frozenset(int(row[0]) for row in connection.execute(text(query), params))


def snapshot(database_url: str) -> Baseline:
    """Read the baseline before the load starts."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:

            def top(table: str) -> int:
                query = f"SELECT COALESCE(MAX(id), 0) FROM {table}"  # noqa: S608  # our own names
                return int(c.execute(text(query)).scalar_one())

            return Baseline(
                max_job_id=top("jobs"),
                max_bid_id=top("bids"),
                max_message_id=top("messages"),
                awarded_jobs=_scalar_ids(c, "SELECT id FROM jobs WHERE status = 'awarded'"),
                withdrawn_bids=_scalar_ids(c, "SELECT id FROM bids WHERE status = 'withdrawn'"),
            )
    finally:
        engine.dispose()


def present(database_url: str, baseline: Baseline) -> dict[str, frozenset[int]]:
    """Ids of each kind of write the database holds now that it did not hold at the baseline."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            return {
                "job": _scalar_ids(c, "SELECT id FROM jobs WHERE id > :m", m=baseline.max_job_id),
                "bid": _scalar_ids(c, "SELECT id FROM bids WHERE id > :m", m=baseline.max_bid_id),
                "message": _scalar_ids(
                    c, "SELECT id FROM messages WHERE id > :m", m=baseline.max_message_id
                ),
                "award": _scalar_ids(c, "SELECT id FROM jobs WHERE status = 'awarded'")
                - baseline.awarded_jobs,
                "withdrawal": _scalar_ids(c, "SELECT id FROM bids WHERE status = 'withdrawn'")
                - baseline.withdrawn_bids,
            }
    finally:
        engine.dispose()


def check(
    writes: Iterable[WriteRecord], in_database: Mapping[str, frozenset[int]]
) -> IntegrityAudit:
    """The set check itself, on plain data (the part the unit tests exercise directly).

    An unacknowledged attempt has no id, so it can explain any one present-but-unacknowledged
    row of its kind: those rows count as ``recovered`` up to the number of such attempts, and
    only the excess is ``unexpected``.
    """
    acked: dict[str, set[int]] = {kind: set() for kind in KINDS}
    unacked_attempts: dict[str, int] = dict.fromkeys(KINDS, 0)
    for write in writes:
        if write.kind not in acked:
            raise ValueError(f"write log has an unknown kind {write.kind!r} (known: {KINDS})")
        if write.acknowledged and write.id is not None:
            acked[write.kind].add(write.id)
        else:
            unacked_attempts[write.kind] += 1

    by_kind: dict[str, KindCounts] = {}
    recovered = 0
    lost_examples: list[str] = []
    unexpected_examples: list[str] = []
    for kind in KINDS:
        there = in_database.get(kind, frozenset())
        lost_ids = sorted(acked[kind] - there)
        extra_ids = sorted(there - acked[kind])
        explained = min(len(extra_ids), unacked_attempts[kind])
        unexpected_ids = extra_ids[explained:]
        recovered += explained
        lost_examples += [f"{kind} {i}" for i in lost_ids]
        unexpected_examples += [f"{kind} {i}" for i in unexpected_ids]
        by_kind[kind] = KindCounts(
            acknowledged=len(acked[kind]),
            unacknowledged_attempts=unacked_attempts[kind],
            in_database=len(there),
            lost=len(lost_ids),
            unexpected=len(unexpected_ids),
        )
    return IntegrityAudit(
        acknowledged_writes=sum(counts.acknowledged for counts in by_kind.values()),
        lost=sum(counts.lost for counts in by_kind.values()),
        unexpected=sum(counts.unexpected for counts in by_kind.values()),
        recovered=recovered,
        checked=True,
        by_kind=by_kind,
        lost_examples=tuple(lost_examples[: IntegrityAudit.EXAMPLES]),
        unexpected_examples=tuple(unexpected_examples[: IntegrityAudit.EXAMPLES]),
    )
