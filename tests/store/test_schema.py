"""Migrations produce exactly the declared schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenomy.keys import KeyStore
from tokenomy.record import CallRecord, TokenUsage
from tokenomy.store import Database, write_records
from tokenomy.store.migrations import MIGRATIONS, m001_calls, migrate
from tokenomy.store.rollups import rebuild
from tokenomy.store.schema import TABLES


def _columns(db: Database, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) in table order, as the database reports them."""
    if db.dialect == "sqlite":
        rows = db.query(f"PRAGMA table_info({table})")
        return [(r[1], r[2].upper(), not r[3]) for r in rows]
    rows = db.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [(r[0], r[1].upper(), r[2] == "YES") for r in rows]


def _primary_key(db: Database, table: str) -> list[str]:
    if db.dialect == "sqlite":
        rows = db.query(f"PRAGMA table_info({table})")
        return [r[1] for r in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
    rows = db.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = ?::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey, a.attnum)",
        (table,),
    )
    return [r[0] for r in rows]


def _indexes(db: Database, table: str) -> dict[str, list[str]]:
    if db.dialect == "sqlite":
        out = {}
        for r in db.query(f"PRAGMA index_list({table})"):
            out[r[1]] = [c[2] for c in db.query(f"PRAGMA index_info({r[1]})")]
        return out
    rows = db.query(
        "SELECT ic.relname, a.attname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = ?::regclass ORDER BY ic.relname, array_position(i.indkey, a.attnum)",
        (table,),
    )
    result: dict[str, list[str]] = {}
    for name, col in rows:
        result.setdefault(name, []).append(col)
    return result


def test_migrated_schema_matches_declared_tables(db: Database) -> None:
    _assert_schema_is_declared(db)


def _assert_schema_is_declared(db: Database) -> None:
    for table in TABLES:
        declared = [(c.name, c.type, c.nullable) for c in table.columns]
        assert _columns(db, table.name) == declared, table.name
        assert _primary_key(db, table.name) == list(table.primary_key), table.name


def test_calls_has_unique_dedupe_key_and_time_indexes(db: Database) -> None:
    indexes = _indexes(db, "calls")
    assert ["source", "dedupe_key"] in indexes.values()
    assert indexes["ix_calls_started_at"] == ["started_at"]
    assert indexes["ix_calls_session"] == ["session_id", "started_at"]


def test_ranked_lists_walk_an_index_by_cost_bound_even_after_a_rebuild(db: Database) -> None:
    write_records(db, [CallRecord("sdk", "k", 1, TokenUsage(), session_id="s", prompt_hash="p")])
    for _ in range(2):  # as migrated, then as a rebuild drops and builds it again
        assert _indexes(db, "rollup_session")["ix_rollup_session_cost"] == [
            "cost_bound",
            "session_id",
        ]
        assert _indexes(db, "rollup_prompt")["ix_rollup_prompt_cost"] == [
            "cost_bound",
            "prompt_hash",
        ]
        assert _indexes(db, "rollup_prompt_calls")["ix_rollup_prompt_calls_at"] == ["started_at"]
        assert rebuild(db) == 1


def test_migrations_are_recorded_and_run_once(db: Database) -> None:
    assert migrate(db) == []
    rows = db.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [tuple(r) for r in rows] == [(i, m.__name__) for i, m in enumerate(MIGRATIONS, start=1)]


def test_api_keys_hash_is_unique(db: Database) -> None:
    assert ["key_hash"] in _indexes(db, "api_keys").values()


@pytest.fixture
def blank_db(blank_url: str) -> Iterator[Database]:
    """A database with no tables at all, to build an old version in."""
    db = Database(blank_url)
    yield db
    db.close()


def _at_version_1(db: Database) -> None:
    """What the first release left behind: its migration table, m001, one stored call."""
    with db.transaction() as cur:
        cur.execute(
            "CREATE TABLE schema_migrations ("
            "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
    with db.transaction() as cur:
        if db.dialect == "sqlite":
            cur.execute("BEGIN")
        m001_calls(cur, db.dialect)
        cur.execute(
            db.sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
            (1, "m001_calls", 1),
        )
        cur.execute(
            db.sql(
                "INSERT INTO calls (id, source, dedupe_key, started_at, operation, cost_source, "
                "status, ingested_at, project) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            ("c1", "gateway", "k1", 1, "chat", "computed", "ok", 2, "kept"),
        )


def test_a_version_1_database_migrates_to_the_current_schema(blank_db: Database) -> None:
    _at_version_1(blank_db)
    assert migrate(blank_db) == [m.__name__ for m in MIGRATIONS[1:]]
    _assert_schema_is_declared(blank_db)
    assert blank_db.query("SELECT id, project FROM calls") == [("c1", "kept")]
    secret, key = KeyStore(blank_db).create(project="p")
    assert KeyStore(blank_db).find(secret) == key
