"""A tiny FastAPI app whose one write uses the resilience seam exactly as the service's do.

``POST /notes`` inserts a note through an `IdempotentWrite`, with an outbox notification, all
in one transaction with its Idempotency-Key; ``?pause=S`` holds the transaction open for S
seconds (to make requests overlap) and ``?between=1`` calls ``hooks.between`` after the first
of two inserts (to cut the database connection mid-transaction).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import FastAPI, Header, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import ForeignKey, Integer, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from target_app.core.config import Settings
from target_app.core.problems import install_problem_handlers
from target_app.resilience.database import SessionSource
from target_app.resilience.idempotency import IdempotencyKeyHeader
from target_app.resilience.identity import anonymous
from target_app.resilience.install import Resilience, install_resilience


class NotesBase(DeclarativeBase):
    """Test-only tables, created next to the service's in the same database."""


class Note(NotesBase):
    __tablename__ = "test_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(200))


class NotePart(NotesBase):
    __tablename__ = "test_note_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("test_notes.id"))


class NoteIn(BaseModel):
    text: str


class Hooks:
    """Callbacks a test sets to act in the middle of a request."""

    between: Callable[[], object] = staticmethod(lambda: None)


def build(
    db: SessionSource, settings: Settings, hooks: Hooks | None = None
) -> tuple[FastAPI, Resilience]:
    """The app and its `Resilience`; the database is guarded by the database breaker."""
    app = FastAPI()
    install_problem_handlers(app)  # the service's own: database errors -> 503
    resilience = install_resilience(app, settings, anonymous, database=db)
    guarded = resilience.database
    assert guarded is not None
    hooks = hooks or Hooks()

    @app.post("/notes", status_code=201)
    def create_note(
        body: NoteIn,
        key: IdempotencyKeyHeader = None,
        user: Annotated[str, Header(alias="X-User")] = "alice",
        pause: Annotated[float, Query(ge=0, le=5)] = 0.0,
        between: bool = False,
    ) -> Response:
        write = resilience.idempotent_write(key, "POST /notes")
        claim = write.claim(user, body.model_dump())

        def insert(session: Session) -> Response:
            note = Note(owner=user, text=body.text)
            session.add(note)
            session.flush()
            if between:
                hooks.between()
            session.add(NotePart(note_id=note.id))
            resilience.notify(session, "message_posted", 1, {"thread_id": note.id})
            time.sleep(pause)
            session.flush()
            return Response(
                f'{{"id": {note.id}, "text": "{body.text}"}}',
                status_code=201,
                media_type="application/json",
                headers={"Location": f"/notes/{note.id}"},
            )

        return write.run(claim, insert)

    @app.get("/notes/count")
    def count() -> dict[str, int]:
        with guarded.read_session() as session:
            return {
                "notes": session.scalar(select(func.count()).select_from(Note)) or 0,
                "parts": session.scalar(select(func.count()).select_from(NotePart)) or 0,
            }

    return app, resilience
