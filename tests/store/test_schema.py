"""Migrations produce exactly the schema the code queries, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger, Engine, Integer, Text, inspect, text

from tokenomy.store.migrations import MIGRATIONS, migrate
from tokenomy.store.schema import metadata


def _kind(type_: object) -> str:
    if isinstance(type_, BigInteger):
        return "bigint"
    if isinstance(type_, Integer):
        return "integer"
    if isinstance(type_, Text):
        return "text"
    name = str(type_).lower()
    return {"bigint": "bigint", "integer": "integer", "text": "text"}.get(name, name)


def test_migrated_schema_matches_declared_tables(engine: Engine) -> None:
    insp = inspect(engine)
    assert set(insp.get_table_names()) == set(metadata.tables)
    for table in metadata.tables.values():
        reflected = {c["name"]: c for c in insp.get_columns(table.name)}
        assert list(reflected) == [c.name for c in table.columns], table.name
        for col in table.columns:
            got = reflected[col.name]
            assert _kind(got["type"]) == _kind(col.type), (table.name, col.name, got["type"])
            assert got["nullable"] == col.nullable, (table.name, col.name)
        pk = insp.get_pk_constraint(table.name)["constrained_columns"]
        assert pk == [c.name for c in table.primary_key.columns], table.name


def test_calls_has_unique_dedupe_key_and_time_indexes(engine: Engine) -> None:
    insp = inspect(engine)
    uniques = [u["column_names"] for u in insp.get_unique_constraints("calls")]
    assert ["source", "dedupe_key"] in uniques
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("calls")}
    assert indexes["ix_calls_started_at"] == ["started_at"]
    assert indexes["ix_calls_session"] == ["session_id", "started_at"]


def test_migrations_are_recorded_and_run_once(engine: Engine) -> None:
    with engine.begin() as conn:
        assert migrate(conn) == []
        rows = conn.execute(text("SELECT version, name FROM schema_migrations ORDER BY version"))
        assert [tuple(r) for r in rows] == [
            (i, m.__name__) for i, m in enumerate(MIGRATIONS, start=1)
        ]
