"""The current schema, declared as data. Migrations create it; a test checks that the
migrated database matches these declarations exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

from tokenomy.record import TOKEN_FIELDS


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # TEXT, BIGINT or INTEGER
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _req(name: str, type_: str) -> Column:
    return Column(name, type_, nullable=False)


_TOKENS = tuple(_req(n, "BIGINT") for n in (*TOKEN_FIELDS, "total_tokens"))

CALLS = Table(
    "calls",
    (
        _req("id", "TEXT"),
        _req("source", "TEXT"),
        _req("dedupe_key", "TEXT"),
        _req("dedupe_rank", "INTEGER"),
        _req("dedupe_order", "BIGINT"),
        _req("started_at", "BIGINT"),
        Column("duration_ms", "BIGINT"),
        Column("ttft_ms", "BIGINT"),
        _req("operation", "TEXT"),
        Column("provider", "TEXT"),
        Column("request_model", "TEXT"),
        Column("response_model", "TEXT"),
        Column("project", "TEXT"),
        Column("user", "TEXT"),
        Column("api_key_id", "TEXT"),
        Column("org", "TEXT"),
        Column("session_id", "TEXT"),
        Column("trace_id", "TEXT"),
        Column("parent_id", "TEXT"),
        *_TOKENS,
        Column("cost_nanos", "BIGINT"),
        _req("cost_source", "TEXT"),
        _req("status", "TEXT"),
        Column("error_type", "TEXT"),
        Column("http_status", "INTEGER"),
        Column("finish_reason", "TEXT"),
        _req("cache_hit", "TEXT"),
        Column("routed_from", "TEXT"),
        Column("route_policy", "TEXT"),
        Column("variant", "TEXT"),
        Column("prompt_hash", "TEXT"),
        Column("prefix_hash", "TEXT"),
        _req("attributes", "TEXT"),
        _req("ingested_at", "BIGINT"),
    ),
    ("id",),
)

CALL_TOOLS = Table(
    "call_tools",
    (
        _req("source", "TEXT"),
        _req("dedupe_key", "TEXT"),
        _req("use_id", "TEXT"),
        _req("name", "TEXT"),
        Column("mcp_server", "TEXT"),
    ),
    ("source", "dedupe_key", "use_id"),
)

CALL_CONTENT = Table(
    "call_content",
    (
        _req("source", "TEXT"),
        _req("dedupe_key", "TEXT"),
        Column("request", "TEXT"),
        Column("response", "TEXT"),
    ),
    ("source", "dedupe_key"),
)

IMPORT_FILES = Table(
    "import_files",
    (
        _req("source", "TEXT"),
        _req("path", "TEXT"),
        _req("device", "BIGINT"),
        _req("inode", "BIGINT"),
        _req("size", "BIGINT"),
        _req("mtime_ns", "BIGINT"),
        _req("offset", "BIGINT"),
        _req("head_hash", "TEXT"),
        _req("state", "TEXT"),
        _req("updated_at", "BIGINT"),
    ),
    ("source", "path"),
)

API_KEYS = Table(
    "api_keys",
    (
        _req("id", "TEXT"),
        _req("key_hash", "TEXT"),
        _req("prefix", "TEXT"),
        Column("name", "TEXT"),
        Column("project", "TEXT"),
        Column("user", "TEXT"),
        Column("budget_nanos", "BIGINT"),
        Column("budget_period", "TEXT"),
        _req("created_at", "BIGINT"),
        Column("revoked_at", "BIGINT"),
    ),
    ("id",),
)

SCHEMA_MIGRATIONS = Table(
    "schema_migrations",
    (_req("version", "INTEGER"), _req("name", "TEXT"), _req("applied_at", "BIGINT")),
    ("version",),
)

TABLES: tuple[Table, ...] = (
    CALLS,
    CALL_TOOLS,
    CALL_CONTENT,
    IMPORT_FILES,
    API_KEYS,
    SCHEMA_MIGRATIONS,
)

# Columns of ``calls`` in insert order; the writer builds its SQL from this.
CALL_COLUMNS: tuple[str, ...] = CALLS.column_names
