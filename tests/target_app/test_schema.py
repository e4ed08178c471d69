"""The versioned schema: created on an empty database, migrated in place from an older
version, refused from a version no migration starts from."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, create_engine, text

from target_app.core.errors import SchemaVersionError
from target_app.core.schema import INDEXES, SCHEMA_VERSION, current_version, ensure_schema

#: The board indexes as schema version 2 defined them (no listing columns, so not covering).
VERSION_2_INDEXES = {
    "idx_jobs_territory_status_created": "CREATE INDEX idx_jobs_territory_status_created "
    "ON jobs (territory_id, status, created_at DESC, id DESC)",
    "idx_jobs_composite_search": "CREATE INDEX idx_jobs_composite_search "
    "ON jobs (territory_id, status, category, created_at DESC, id DESC)",
}


def index_definition(conn: Connection, name: str) -> str:
    """The index's DDL as the database reports it (normalised to lower case, no quotes)."""
    if conn.dialect.name == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"  # noqa: E501
    found = conn.execute(text(query), {"name": name}).scalar_one()
    return str(found).lower().replace('"', "")


def downgrade_to_version_2(conn: Connection) -> None:
    for name, ddl in VERSION_2_INDEXES.items():
        conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(text(ddl))
    conn.execute(text("DELETE FROM schema_version"))
    conn.execute(text("INSERT INTO schema_version (version) VALUES (2)"))


def test_a_version_2_database_is_migrated_in_place(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        assert ensure_schema(engine) is True  # created
        with engine.begin() as conn:
            current = {name: index_definition(conn, name) for name in VERSION_2_INDEXES}
            insert = "INSERT INTO territories (code, name, state) VALUES ('K1', 'kept', 'CA')"
            conn.execute(text(insert))
            downgrade_to_version_2(conn)
            assert "title" not in index_definition(conn, "idx_jobs_composite_search")

        assert ensure_schema(engine) is True  # migrated
        with engine.connect() as conn:
            assert current_version(conn) == SCHEMA_VERSION
            for name in VERSION_2_INDEXES:
                assert index_definition(conn, name) == current[name]
                assert "title" in current[name], "the board indexes cover the listing"
            kept = conn.execute(text("SELECT name FROM territories")).scalars().all()
            assert kept == ["kept"], "a migration keeps the data"
        assert ensure_schema(engine) is False  # nothing left to do
    finally:
        engine.dispose()


@pytest.mark.parametrize("version", [1, SCHEMA_VERSION + 1])
def test_a_version_without_a_migration_path_is_refused(tmp_path: object, version: int) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/marketplace.db")
    try:
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM schema_version"))
            conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
        with pytest.raises(SchemaVersionError, match=f"version {version}, this code needs"):
            ensure_schema(engine)
    finally:
        engine.dispose()


def test_every_index_has_a_definition_for_each_backend() -> None:
    for spec in INDEXES:
        assert spec.name in spec.sqlite and spec.name in spec.postgresql
