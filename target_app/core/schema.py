"""The versioned schema: tables, the named indexes of the scaling plan, full-text search.

``ensure_schema(engine)`` creates everything on an empty database and records
``SCHEMA_VERSION`` in the ``schema_version`` table; on a database that already has this
version it does nothing, on an older one it applies the `MIGRATIONS` in order, and on any
other version it refuses (a migration is then due).

The indexes are those the launch plan names (docs/api.md lists them), each with the query it
serves. Partial indexes only help a query whose ``WHERE`` clause repeats the index
predicate *as literals*: a bound parameter (``status = ?``) cannot prove ``status = 'open'``,
neither to SQLite's planner nor to a generic PostgreSQL plan. The queries therefore inline
those constants (``core/literals`` in ``api/queries.py``).

Full-text search differs by backend: an FTS5 external-content table kept in sync by triggers
on SQLite, a GIN index over a ``tsvector`` expression on PostgreSQL. Both go by the name
``idx_jobs_fulltext_search``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, text

from target_app.core.errors import SchemaVersionError
from target_app.models import Base

SCHEMA_VERSION = 3

#: The expression the PostgreSQL full-text index is built on; queries must repeat it verbatim.
PG_FULLTEXT_EXPR = "to_tsvector('english', title || ' ' || description)"


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index: its name, the query it serves, and its DDL per backend."""

    name: str
    serves: str
    sqlite: str
    postgresql: str


def _same(name: str, serves: str, ddl: str) -> IndexSpec:
    return IndexSpec(name, serves, ddl, ddl)


#: The listing's columns that no board index has in its key (``api/job_search.py``).
_BOARD_PAYLOAD = "budget, urgent, homeowner_id, title"
_BOARD_PAYLOAD_WITH_CATEGORY = f"category, {_BOARD_PAYLOAD}"

INDEXES: tuple[IndexSpec, ...] = (
    # The two board indexes carry the listing's other columns (covering): a page of 20 is then
    # read from the index alone, without 20 lookups into the table (docs/benchmarks.md,
    # "Service"). PostgreSQL keeps them out of the key with INCLUDE. Version 2 had them
    # without; MIGRATIONS rebuilds them.
    IndexSpec(
        "idx_jobs_territory_status_created",
        "GET /jobs?territory_id=&status= (the job board, newest first; covering)",
        "CREATE INDEX idx_jobs_territory_status_created "
        f"ON jobs (territory_id, status, created_at DESC, id DESC, {_BOARD_PAYLOAD_WITH_CATEGORY})",
        "CREATE INDEX idx_jobs_territory_status_created "
        f"ON jobs (territory_id, status, created_at DESC, id DESC) "
        f"INCLUDE ({_BOARD_PAYLOAD_WITH_CATEGORY})",
    ),
    IndexSpec(
        "idx_jobs_composite_search",
        "GET /jobs?territory_id=&status=&category= (filtered search; covering)",
        "CREATE INDEX idx_jobs_composite_search "
        f"ON jobs (territory_id, status, category, created_at DESC, id DESC, {_BOARD_PAYLOAD})",
        "CREATE INDEX idx_jobs_composite_search "
        f"ON jobs (territory_id, status, category, created_at DESC, id DESC) "
        f"INCLUDE ({_BOARD_PAYLOAD})",
    ),
    IndexSpec(
        "idx_jobs_urgent",
        "GET /jobs?territory_id=&urgent=true (open urgent jobs; partial)",
        "CREATE INDEX idx_jobs_urgent ON jobs (territory_id, created_at DESC, id DESC) "
        "WHERE urgent = 1 AND status = 'open'",
        "CREATE INDEX idx_jobs_urgent ON jobs (territory_id, created_at DESC, id DESC) "
        "WHERE urgent AND status = 'open'",
    ),
    IndexSpec(
        "idx_jobs_listing_cover",
        "GET /jobs?status= without territory (covering: no table lookups for a page)",
        "CREATE INDEX idx_jobs_listing_cover ON jobs (status, created_at DESC, id DESC, "
        "territory_id, category, budget, urgent, homeowner_id, title)",
        "CREATE INDEX idx_jobs_listing_cover ON jobs (status, created_at DESC, id DESC) "
        "INCLUDE (territory_id, category, budget, urgent, homeowner_id, title)",
    ),
    IndexSpec(
        "idx_jobs_fulltext_search",
        "GET /jobs?q= (full-text search over title and description)",
        "CREATE VIRTUAL TABLE idx_jobs_fulltext_search USING fts5("
        "title, description, content='jobs', content_rowid='id', tokenize='porter unicode61')",
        f"CREATE INDEX idx_jobs_fulltext_search ON jobs USING GIN ({PG_FULLTEXT_EXPR})",
    ),
    _same(
        "idx_jobs_recent_activity",
        "GET /operator/dashboard (jobs of the last 30 days by status)",
        "CREATE INDEX idx_jobs_recent_activity ON jobs (created_at DESC, status)",
    ),
    _same(
        "idx_jobs_territory_metrics",
        "GET /operator/territories/{territory_id}/metrics (a territory's last 30 days)",
        "CREATE INDEX idx_jobs_territory_metrics ON jobs (territory_id, created_at, status)",
    ),
    _same(
        "idx_bids_contractor_active",
        "GET /me/bids?status=active (a contractor's active bids; partial)",
        "CREATE INDEX idx_bids_contractor_active ON bids (contractor_id, id DESC) "
        "WHERE status = 'active'",
    ),
    _same(
        "idx_bids_job_count",
        "bid counts per job on every job page and listing",
        "CREATE INDEX idx_bids_job_count ON bids (job_id, status)",
    ),
    _same(
        "idx_bids_response_time",
        "time to first bid per job (operator metrics)",
        "CREATE INDEX idx_bids_response_time ON bids (job_id, created_at)",
    ),
    _same(
        "idx_users_role_territory",
        "GET /contractors?territory_id= and user counts by role",
        "CREATE INDEX idx_users_role_territory ON users (role, territory_id)",
    ),
    _same(
        "idx_users_pro",
        "pro contractors per territory (partial)",
        "CREATE INDEX idx_users_pro ON users (territory_id) WHERE tier = 'pro'",
    ),
    IndexSpec(
        "idx_users_available_contractors",
        "GET /contractors?territory_id=&available=true (partial)",
        "CREATE INDEX idx_users_available_contractors ON users (territory_id, id) "
        "WHERE role = 'contractor' AND available = 1",
        "CREATE INDEX idx_users_available_contractors ON users (territory_id, id) "
        "WHERE role = 'contractor' AND available",
    ),
    _same(
        "idx_users_referrals",
        "referral tracking (partial: most users were not referred)",
        "CREATE INDEX idx_users_referrals ON users (referred_by) WHERE referred_by IS NOT NULL",
    ),
    # Supporting indexes the plan does not name but the API needs.
    _same(
        "uq_bids_job_contractor_active",
        "one active bid per contractor per job (a second one is a 409)",
        "CREATE UNIQUE INDEX uq_bids_job_contractor_active ON bids (job_id, contractor_id) "
        "WHERE status = 'active'",
    ),
    _same(
        "ix_bids_contractor",
        "GET /me/bids (all statuses)",
        "CREATE INDEX ix_bids_contractor ON bids (contractor_id, id DESC)",
    ),
    _same(
        "ix_jobs_homeowner",
        "GET /jobs?mine=true",
        "CREATE INDEX ix_jobs_homeowner ON jobs (homeowner_id, created_at DESC, id DESC)",
    ),
    _same(
        "ix_threads_homeowner",
        "GET /threads for a homeowner",
        "CREATE INDEX ix_threads_homeowner "
        "ON threads (homeowner_id, last_message_at DESC, id DESC)",
    ),
    _same(
        "ix_threads_contractor",
        "GET /threads for a contractor",
        "CREATE INDEX ix_threads_contractor "
        "ON threads (contractor_id, last_message_at DESC, id DESC)",
    ),
    _same(
        "ix_messages_thread",
        "GET /threads/{thread_id}/messages",
        "CREATE INDEX ix_messages_thread ON messages (thread_id, id DESC)",
    ),
)

#: Keep the FTS5 table in step with ``jobs`` (external-content tables do not sync themselves).
SQLITE_FTS_TRIGGERS = (
    "CREATE TRIGGER jobs_fts_insert AFTER INSERT ON jobs BEGIN "
    "INSERT INTO idx_jobs_fulltext_search(rowid, title, description) "
    "VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER jobs_fts_delete AFTER DELETE ON jobs BEGIN "
    "INSERT INTO idx_jobs_fulltext_search(idx_jobs_fulltext_search, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); END",
    "CREATE TRIGGER jobs_fts_update AFTER UPDATE OF title, description ON jobs BEGIN "
    "INSERT INTO idx_jobs_fulltext_search(idx_jobs_fulltext_search, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); "
    "INSERT INTO idx_jobs_fulltext_search(rowid, title, description) "
    "VALUES (new.id, new.title, new.description); END",
)


def current_version(conn: Connection) -> int | None:
    """The recorded schema version, or None on an empty database."""
    if not inspect(conn).has_table("schema_version"):
        return None
    return conn.execute(text("SELECT max(version) FROM schema_version")).scalar_one_or_none()


def create_tables(conn: Connection) -> None:
    """Create the tables (no secondary indexes) and record the version."""
    Base.metadata.create_all(conn)
    conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
    conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": SCHEMA_VERSION})


def create_indexes(conn: Connection) -> None:
    """Create every secondary index (and, on SQLite, fill the full-text table)."""
    sqlite = conn.dialect.name == "sqlite"
    for spec in INDEXES:
        conn.execute(text(spec.sqlite if sqlite else spec.postgresql))
    if sqlite:
        conn.execute(
            text(
                "INSERT INTO idx_jobs_fulltext_search(idx_jobs_fulltext_search) VALUES ('rebuild')"
            )
        )
        for trigger in SQLITE_FTS_TRIGGERS:
            conn.execute(text(trigger))
        conn.execute(text("PRAGMA analysis_limit=1000"))  # sampled statistics: seconds, not minutes
        conn.execute(text("ANALYZE"))
    else:
        # Only our tables: a bare ANALYZE would visit every table of the database.
        names = ", ".join(table.name for table in Base.metadata.sorted_tables)
        conn.execute(text(f"ANALYZE {names}"))


def _recreate_indexes(*names: str) -> Callable[[Connection], None]:
    """A migration that rebuilds the named indexes to their current definition."""

    def migrate(conn: Connection) -> None:
        sqlite = conn.dialect.name == "sqlite"
        for spec in INDEXES:
            if spec.name in names:
                conn.execute(text(f"DROP INDEX IF EXISTS {spec.name}"))
                conn.execute(text(spec.sqlite if sqlite else spec.postgresql))

    return migrate


#: In-place upgrades, by the version they start from (each leads to the next version).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _recreate_indexes("idx_jobs_territory_status_created", "idx_jobs_composite_search"),
}


def migrate(conn: Connection, found: int) -> None:
    """Bring a database at version ``found`` to `SCHEMA_VERSION` (SchemaVersionError if no
    migration path exists). Each step is recorded in ``schema_version``."""
    steps = range(found, SCHEMA_VERSION)
    if not steps or any(version not in MIGRATIONS for version in steps):
        raise SchemaVersionError(found, SCHEMA_VERSION)
    for version in steps:
        MIGRATIONS[version](conn)
        conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version + 1})


def ensure_schema(engine: Engine) -> bool:
    """Create the schema if the database is empty, or migrate an older one in place.
    Returns True when it created or changed it."""
    with engine.begin() as conn:
        found = current_version(conn)
        if found == SCHEMA_VERSION:
            return False
        if found is not None:
            migrate(conn, found)
            return True
        create_tables(conn)
        create_indexes(conn)
        return True
