"""The job board query: built once per *shape* of filter, then only re-bound.

``GET /jobs`` is the hottest request of every persona, so its statement is not rebuilt per
request: the combination of filters present (its `Shape`) selects a cached SQLAlchemy
statement whose values are bind parameters, and rows are serialized straight from the
driver's tuples. Building a ``select()`` with nine optional clauses and pydantic-validating
the rows on every request would cost as much CPU as running the query; this keeps the
request's cost in the database, where the capacity model expects it.

Constants of partial-index predicates (status, urgent) are part of the shape and inlined,
never bound (see ``api/queries.py``).

On SQLite, `search_page_on_loop` runs the same statement through the event loop's read-only
connection (``core/loop_reader.py``) and writes the same bytes; `search_page` is the general
path (PostgreSQL, full-text searches), through SQLAlchemy and the pool.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
    tuple_,
)

from target_app.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, encode_cursor
from target_app.api.queries import is_value
from target_app.core.errors import InvalidInput
from target_app.core.loop_reader import CompiledRead, LoopReader, compiled
from target_app.core.schema import PG_FULLTEXT_EXPR
from target_app.models import Bid, BidStatus, Job, JobStatus, TZDateTime
from target_app.schemas import MAX_INT, MAX_MONEY, Category

_MAX_TERMS = 8
_WORD = re.compile(r"\w+")

_COLUMNS = (
    Job.id,
    Job.title,
    Job.category,
    Job.budget,
    Job.urgent,
    Job.status,
    Job.territory_id,
    Job.homeowner_id,
    Job.created_at,
)

#: Each listed job's bids, withdrawn ones excluded: a correlated subquery, index-only on
#: idx_bids_job_count, evaluated for the rows of the page alone (the listing's index gives its
#: order, so nothing is sorted). One statement instead of a second ``IN (...)`` query: the
#: page and its counts come from one snapshot without an explicit transaction, and the fast
#: path saves a statement, its bind parameters and a BEGIN/COMMIT pair per request.
BID_COUNT = (
    select(func.count())
    .where(
        Bid.job_id == Job.id,
        Bid.status != literal_column(f"'{BidStatus.withdrawn.value}'"),
    )
    .correlate(Job)
    .scalar_subquery()
    .label("bid_count")
)
_KEYS = (*(c.key for c in _COLUMNS), "bid_count")


class JobQuery(BaseModel):
    """The query parameters of ``GET /jobs``.

    One model instead of ten separate parameters: FastAPI then validates them in a single
    pydantic call instead of one call per parameter.
    """

    territory_id: int | None = Field(None, ge=1, le=MAX_INT)
    status: JobStatus | None = Field(
        None, description="Default: `open` (all statuses with `mine=true`)."
    )
    category: Category | None = None
    urgent: bool | None = None
    min_budget: int | None = Field(None, ge=0, le=MAX_MONEY)
    max_budget: int | None = Field(None, ge=0, le=MAX_MONEY)
    q: str | None = Field(None, min_length=1, max_length=200, description="Full-text search.")
    mine: bool = Field(False, description="Only the caller's own jobs (homeowners).")
    page_size: int = Field(
        DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page (max 100)."
    )
    cursor: str | None = Field(
        None, max_length=200, description="`next_cursor` of the previous page."
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """Which filters a listing has (not their values): the cache key of its statement."""

    mine: bool = False
    territory: bool = False
    status: JobStatus | None = None
    category: bool = False
    urgent: bool | None = None
    min_budget: bool = False
    max_budget: bool = False
    search: bool = False
    cursor: bool = False


def search_terms(q: str) -> str:
    """The words of a search, so that no user text reaches FTS5 or tsquery syntax."""
    terms = _WORD.findall(q)[:_MAX_TERMS]
    if not terms:
        raise InvalidInput("The search `q` contains no words.")
    return " ".join(terms)


@lru_cache(maxsize=512)
def listing_statement(
    shape: Shape, sqlite: bool
) -> Select[int, str, str, int, bool, str, int, int, datetime, int]:
    """The statement for ``shape``, with bind parameters for every value."""
    statement = select(*_COLUMNS, BID_COUNT)
    if shape.mine:
        statement = statement.where(Job.homeowner_id == bindparam("owner"))
    if shape.territory:
        statement = statement.where(Job.territory_id == bindparam("territory"))
    if shape.status is not None:
        statement = statement.where(is_value(Job.status, shape.status))
    if shape.category:
        statement = statement.where(Job.category == bindparam("category"))
    if shape.urgent is not None:
        statement = statement.where(Job.urgent if shape.urgent else ~Job.urgent)
    if shape.min_budget:
        statement = statement.where(Job.budget >= bindparam("min_budget"))
    if shape.max_budget:
        statement = statement.where(Job.budget <= bindparam("max_budget"))
    if shape.search and sqlite:
        matching = text(
            "SELECT rowid FROM idx_jobs_fulltext_search WHERE idx_jobs_fulltext_search MATCH :fts"
        ).columns(column("rowid", Integer))
        statement = statement.where(Job.id.in_(matching))
    elif shape.search:
        # The expression must be the index's, verbatim, for PostgreSQL to use the GIN index.
        statement = statement.where(text(f"{PG_FULLTEXT_EXPR} @@ plainto_tsquery('english', :fts)"))
    if shape.cursor:
        after = tuple_(bindparam("after_time", type_=TZDateTime()), bindparam("after_id"))
        statement = statement.where(tuple_(Job.created_at, Job.id) < after)
    return statement.order_by(Job.created_at.desc(), Job.id.desc()).limit(bindparam("limit"))


def fts_query(terms: str, sqlite: bool) -> str:
    """``terms`` as the backend's full-text query: quoted FTS5 terms (ANDed) or plain words."""
    return " ".join(f'"{term}"' for term in terms.split()) if sqlite else terms


@lru_cache(maxsize=512)
def _loop_listing(shape: Shape, engine: Engine) -> CompiledRead:
    return compiled(listing_statement(shape, True), engine)


def search_page_on_loop(
    reader: LoopReader, engine: Engine, shape: Shape, params: dict[str, Any], page_size: int
) -> bytes:
    """`search_page` through the event loop's SQLite reader: the same SQL, the same JSON.

    Rows arrive as the driver's tuples and go through the column types' own result
    processors, as SQLAlchemy would have done.
    """
    to_bool, to_time = _result_processors(engine)
    rows = reader.read(_loop_listing(shape, engine), {**params, "limit": page_size + 1})
    page = rows[:page_size]
    # Unpacked by position (the order of _KEYS): the fastest way to build the items.
    items = []
    for job_id, title, category, budget, urgent, status, territory, owner, created, bids in page:
        items.append(
            {
                "id": job_id,
                "title": title,
                "category": category,
                "budget": budget,
                "urgent": to_bool(urgent),
                "status": status,
                "territory_id": territory,
                "homeowner_id": owner,
                "created_at": to_time(created),
                "bid_count": bids,
            }
        )
    next_cursor = None
    if len(rows) > page_size:
        last = page[-1]
        next_cursor = encode_cursor(_time_processor(engine)(last[8]), last[0])
    return _json({"items": items, "next_cursor": next_cursor})


_TIME_CACHE_SIZE = 16384
#: How SQLAlchemy stores a naive UTC datetime in SQLite (``DATETIME``'s storage format).
_SQLITE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def _sqlite_time_json(value: Any, process: Callable[[Any], Any]) -> Any:
    """A stored UTC time as the exact string pydantic writes for the aware datetime.

    Parsing to a datetime only for the JSON encoder to format it again would double the
    encoding's work; text in any other form goes through the column's processor.
    """
    if isinstance(value, str) and _SQLITE_TIME.fullmatch(value):
        fraction = "" if value.endswith(".000000") else value[19:]
        return f"{value[:10]}T{value[11:19]}{fraction}Z"
    return process(value)


@lru_cache(maxsize=8)
def _time_processor(engine: Engine) -> Callable[[Any], Any]:
    """``created_at``'s result processor: stored value to aware datetime."""
    dialect = engine.dialect
    process = Job.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else (lambda value: value)


@lru_cache(maxsize=8)
def _result_processors(engine: Engine) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """What SQLAlchemy does to the raw values of ``urgent`` (SQLite: 0/1 to bool) and
    ``created_at`` (text to the JSON string of the aware datetime); the other listing
    columns' values are final as the driver returns them (checked here, once)."""
    dialect = engine.dialect
    found: dict[str, Callable[[Any], Any]] = {}
    for column_ in _COLUMNS:
        process = column_.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is None:
            continue
        if column_.key not in ("urgent", "created_at"):
            raise RuntimeError(f"column {column_.key} needs a result processor on {dialect.name}")
        found[column_.key] = process
    to_bool = found.get("urgent", _unchanged)
    to_time = found.get("created_at", _unchanged)
    if dialect.name == "sqlite":
        # Memoized: a pure function of the stored text, and the newest jobs, whose times
        # recur in every first page, are most of what is listed (an entry is two short
        # strings, so the bounded cache stays small).
        convert = functools.partial(_sqlite_time_json, process=to_time)
        to_time = functools.lru_cache(maxsize=_TIME_CACHE_SIZE)(convert)
    return to_bool, to_time


def _unchanged(value: Any) -> Any:
    return value


def search_page(
    conn: Connection,
    shape: Shape,
    params: dict[str, Any],
    page_size: int,
    sqlite: bool,
) -> bytes:
    """One page of jobs as JSON bytes: ``{"items": [...], "next_cursor": ...}``."""
    rows = conn.execute(listing_statement(shape, sqlite), {**params, "limit": page_size + 1}).all()
    page = rows[:page_size]
    next_cursor = None
    if len(rows) > page_size:
        last_time: datetime = page[-1][8]
        next_cursor = encode_cursor(last_time, page[-1][0])
    return _page_json(page, next_cursor)


def _page_json(page: Sequence[Sequence[Any]], next_cursor: str | None) -> bytes:
    items = [dict(zip(_KEYS, row, strict=True)) for row in page]
    return _json({"items": items, "next_cursor": next_cursor})


def _json(page: dict[str, Any]) -> bytes:
    """A page as JSON, the bytes pydantic writes (UTC times end in ``Z``), by orjson, at a
    fraction of pydantic's cost (docs/benchmarks.md, "Service")."""
    return orjson.dumps(page, option=orjson.OPT_UTC_Z)
