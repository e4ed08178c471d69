"""Keyset pagination with opaque cursors.

A page is ``ORDER BY <key> DESC, id DESC LIMIT page_size + 1``; the extra row tells whether
there is a next page, and the last row's key becomes the cursor. Unlike ``OFFSET``, the cost of
a page does not grow with its depth, and rows inserted meanwhile do not shift the pages.

Cursors are base64url JSON, e.g. ``["2026-11-28T15:00:00+00:00", 4182]``: opaque to clients,
but not secret (they only say where the previous page ended). A cursor that does not decode is
a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from target_app.core.errors import BadRequest
from target_app.schemas import MAX_INT

R = TypeVar("R")
S = TypeVar("S", bound=Select[Any])

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

PageSize = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page (max {MAX_PAGE_SIZE}).")
]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` of the previous page.")
]


def encode_cursor(key: datetime | int, row_id: int) -> str:
    """The cursor that continues after the row with ``key`` and ``row_id``."""
    raw = key.isoformat() if isinstance(key, datetime) else key
    return base64.urlsafe_b64encode(json.dumps([raw, row_id]).encode()).decode().rstrip("=")


def newest_by_id(
    statement: S, id_column: InstrumentedAttribute[int], page_size: int, cursor: str | None
) -> S:
    """``statement`` narrowed to one page, newest ``id_column`` first, after the row ``cursor``
    names (`BadRequest` for a cursor that does not decode), with the one row more that tells
    `cut_page` whether a next page exists."""
    if cursor is not None:
        statement = statement.where(id_column < decode_id_cursor(cursor))
    return statement.order_by(id_column.desc()).limit(page_size + 1)


def cut_page(
    rows: Sequence[R], page_size: int, key: Callable[[R], tuple[datetime | int, int]]
) -> tuple[Sequence[R], str | None]:
    """The page in ``rows`` (fetched with ``LIMIT page_size + 1``) and the cursor after its
    last row, None when the extra row did not come (the end). ``key(row)`` is the row's
    ``(key, id)``, as `encode_cursor` takes them."""
    page = rows[:page_size]
    if len(rows) <= page_size:
        return page, None
    return page, encode_cursor(*key(page[-1]))


def decode_time_cursor(cursor: str) -> tuple[datetime, int]:
    """``(timestamp, id)`` from a cursor of a time-ordered list; `BadRequest` when invalid."""
    key, row_id = _decode(cursor)
    try:
        moment = datetime.fromisoformat(str(key))
    except ValueError:
        raise BadRequest("Invalid cursor.") from None
    if moment.tzinfo is None:
        raise BadRequest("Invalid cursor.")
    return moment, row_id


def decode_id_cursor(cursor: str) -> int:
    """The id from a cursor of an id-ordered list; `BadRequest` when invalid."""
    key, row_id = _decode(cursor)
    if not isinstance(key, int) or key != row_id:
        raise BadRequest("Invalid cursor.")
    return row_id


def _decode(cursor: str) -> tuple[object, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("Invalid cursor.") from None
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 < row_id <= MAX_INT:
        raise BadRequest("Invalid cursor.")
    return key, row_id
