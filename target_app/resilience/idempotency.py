"""``Idempotency-Key`` for writes: a retry returns the original response and writes nothing.

A client that sends a write and loses the connection before the answer cannot know whether the
write happened. With ``Idempotency-Key: <unique value>`` it can simply retry:

===============================================  ======================================
the retry                                        answer
===============================================  ======================================
same key, same payload, first one committed      the original response (status, body,
                                                 ``Location``), ``Idempotent-Replayed:
                                                 true``, and no new write
same key, different payload (or other endpoint)  422
same key while the first is still running        409 (retry later)
no key                                           an ordinary, non-idempotent write
===============================================  ======================================

Keys are scoped per user (two users may pick the same key). The key row is inserted at the
start of the write's own transaction and completed with the response at its end, so key and
write commit together or not at all: a crash in between leaves neither, and the retry then
performs the write once. The early insert doubles as the lock between concurrent duplicates
in different processes (the second blocks on the primary key, then fails -> 409); inside one
process an in-flight set answers 409 without touching the database. A write that fails
(4xx/5xx) rolls back its key too, so its retry runs again.

A route does not use the key's `Claim` directly: it gets an `IdempotentWrite` (the FastAPI
dependency ``IdempotentWriteDep``, ``api/deps.py``) and hands it the write::

    claim = write.claim(caller.user_id, {"job_id": job_id, **body.model_dump(mode="json")})
    return write.run(claim, lambda session: _insert_bid(session, ...))
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import delete, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction
from starlette.responses import Response

from target_app.core.errors import IdempotencyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey
from target_app.models import IdempotencyRecord, utcnow
from target_app.resilience.database import SessionFactory
from target_app.resilience.outbox import enqueued

MAX_KEY_LENGTH = 255

#: The request header that carries the key.
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: Response headers worth replaying (content type and where the created object lives).
REPLAYED_HEADERS = ("content-type", "location")

#: The header as a FastAPI parameter, so it appears in OpenAPI: ``key: IdempotencyKeyHeader``.
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        max_length=MAX_KEY_LENGTH,
        description="Makes the write safe to retry: a retry with the same key and body returns "
        "the original response and writes nothing; a different body gets 422.",
    ),
]


def request_hash(operation: str, payload: Any) -> str:
    """SHA-256 of the operation and its payload as canonical JSON (key order irrelevant)."""
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    """The key, if it is 1-255 printable ASCII characters; `InvalidIdempotencyKey` otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey(
            key[:40], f"Idempotency-Key {key[:40]!r} must be 1-{MAX_KEY_LENGTH} printable ASCII"
        )
    return key


class Claim:
    """One request's hold on a key; `begin` and `complete` run inside the write transaction.

    The key counts as in flight in this process from `begin` until the transaction ends
    (commit or rollback); a `with` block around the claim is optional.
    """

    def __init__(
        self, registry: Idempotency, key: str | None, user_id: str, fingerprint: str
    ) -> None:
        self._registry = registry
        self.key = key
        self.user_id = user_id
        self.fingerprint = fingerprint
        self.completed = False
        self._held = False

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Stop holding the key in this process (idempotent)."""
        if self._held and self.key is not None:
            self._held = False
            self._registry._release((self.user_id, self.key))

    def _transaction_ended(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:  # the outermost transaction: commit or rollback
            self.release()

    def begin(self, session: Session) -> Response | None:
        """The original response if this key was used before; else reserve the key.

        Raises `IdempotencyInFlight` (409) when this process or another transaction holds the
        key, and `IdempotencyKeyReused` (422) when it was used for a different payload.
        """
        if self.key is None:
            return None
        self._registry._hold((self.user_id, self.key))
        self._held = True
        event.listen(session, "after_transaction_end", self._transaction_ended)
        found = self._find(session)
        if found is not None:
            return self._replay(found)
        session.add(
            IdempotencyRecord(
                user_id=self.user_id,
                key=self.key,
                request_hash=self.fingerprint,
                status_code=0,
                created_at=utcnow(),
            )
        )
        try:
            session.flush()  # PostgreSQL: waits here for a concurrent holder of the same key
        except IntegrityError:
            raise IdempotencyInFlight(
                self.key, "A request with this Idempotency-Key was being processed; retry."
            ) from None
        return None

    def _find(self, session: Session) -> IdempotencyRecord | None:
        return session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == self.user_id, IdempotencyRecord.key == self.key
            )
        ).one_or_none()

    def _replay(self, record: IdempotencyRecord) -> Response:
        if record.request_hash != self.fingerprint:
            raise IdempotencyKeyReused(
                self.key or "",
                "This Idempotency-Key was already used for a different request; use a new key.",
            )
        headers = dict(json.loads(record.headers))
        headers["Idempotent-Replayed"] = "true"
        return Response(record.body, status_code=record.status_code, headers=headers)

    def complete(self, session: Session, response: Response) -> None:
        """Store ``response`` as the key's outcome, in the same transaction as the write."""
        if self.key is None:
            return
        record = self._find(session)
        if record is None:
            raise RuntimeError("Claim.complete() without Claim.begin() in this transaction")
        record.status_code = response.status_code
        record.headers = json.dumps(
            {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
        )
        record.body = bytes(response.body).decode()
        self.completed = True


class Idempotency:
    """Hands out `Claim`s and tracks which keys are in flight in this process."""

    def __init__(self) -> None:
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def claim(self, key: str | None, *, user_id: int | str, operation: str, payload: Any) -> Claim:
        """A claim on ``key`` (None: no key, the claim does nothing) for this request.

        ``operation`` names the endpoint (``"POST /jobs/{job_id}/bids"``) and ``payload`` is
        the JSON-ready request (path ids and body): both go into the fingerprint.
        """
        user = str(user_id)
        if key is None:
            return Claim(self, None, user, "")
        check_key(key)
        return Claim(self, key, user, request_hash(operation, payload))

    def _hold(self, slot: tuple[str, str]) -> None:
        with self._lock:
            if slot in self._in_flight:
                raise IdempotencyInFlight(
                    slot[1], "A request with this Idempotency-Key is being processed; retry."
                )
            self._in_flight.add(slot)

    def _release(self, slot: tuple[str, str]) -> None:
        with self._lock:
            self._in_flight.discard(slot)

    def in_flight(self) -> int:
        """Keys held by this process right now."""
        return len(self._in_flight)


#: ``write(session) -> response``: the write itself, run in the transaction the key commits in.
WriteFn = Callable[[Session], Response]


class IdempotentWrite:
    """One request's write, made safe to retry by its ``Idempotency-Key`` (None: no key).

    It knows the key and the ``operation`` (method and route template, part of the key's
    fingerprint); the route says who writes and what (`claim`) and how (`run`).
    """

    def __init__(
        self,
        idempotency: Idempotency,
        key: str | None,
        operation: str,
        sessions: SessionFactory,
        wake_outbox: Callable[[], None],
    ) -> None:
        self._idempotency = idempotency
        self.key = key
        self.operation = operation
        self._sessions = sessions
        self._wake_outbox = wake_outbox

    def claim(self, user_id: int | str, payload: Any) -> Claim:
        """The claim of ``user_id`` on the key for ``payload`` (the JSON-ready request: path
        ids and body). `InvalidIdempotencyKey` (400) for a malformed key: claim before any slow
        work the write waits for, so that such a request is refused first."""
        return self._idempotency.claim(
            self.key, user_id=user_id, operation=self.operation, payload=payload
        )

    def run(
        self,
        claim: Claim,
        write: WriteFn,
        *,
        after_commit: Callable[[Response], None] | None = None,
    ) -> Response:
        """``write`` in one write transaction with the key; or, for a key used before, the
        stored response (a replay, which writes nothing).

        After a new write commits, the outbox worker is woken if the write enqueued
        notifications, then ``after_commit(response)`` runs (work that must not hold the
        transaction open, such as a call to a provider). A replay does neither.
        """
        with self._sessions() as session, session.begin():
            replay = claim.begin(session)
            if replay is not None:
                return replay
            response = write(session)
            claim.complete(session, response)
            notifies = enqueued(session)
        if notifies:
            self._wake_outbox()
        if after_commit is not None:
            after_commit(response)
        return response


def purge_expired(session: Session, *, older_than: timedelta = timedelta(hours=24)) -> int:
    """Delete keys older than ``older_than`` (clients retry within minutes, not days)."""
    cutoff: datetime = utcnow() - older_than
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
