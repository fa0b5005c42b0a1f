"""The current schema as SQLAlchemy tables, for queries. Migrations create it; a test checks
that the migrated database matches these definitions exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text

metadata = MetaData()


def _tokens(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, server_default="0")


calls = Table(
    "calls",
    metadata,
    Column("id", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("dedupe_rank", Integer, nullable=False, server_default="0"),
    Column("started_at", BigInteger, nullable=False),
    Column("duration_ms", BigInteger),
    Column("ttft_ms", BigInteger),
    Column("operation", Text, nullable=False),
    Column("provider", Text),
    Column("request_model", Text),
    Column("response_model", Text),
    Column("project", Text),
    Column("user", Text),
    Column("api_key_id", Text),
    Column("org", Text),
    Column("session_id", Text),
    Column("trace_id", Text),
    Column("parent_id", Text),
    _tokens("input_tokens"),
    _tokens("cache_read_tokens"),
    _tokens("cache_write_tokens"),
    _tokens("cache_write_1h_tokens"),
    _tokens("output_tokens"),
    _tokens("reasoning_tokens"),
    _tokens("total_tokens"),
    Column("cost_nanos", BigInteger),
    Column("cost_source", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error_type", Text),
    Column("http_status", Integer),
    Column("finish_reason", Text),
    Column("cache_hit", Text, nullable=False, server_default="none"),
    Column("routed_from", Text),
    Column("route_policy", Text),
    Column("variant", Text),
    Column("prompt_hash", Text),
    Column("prefix_hash", Text),
    Column("attributes", Text, nullable=False, server_default="{}"),
    Column("ingested_at", BigInteger, nullable=False),
)

call_tools = Table(
    "call_tools",
    metadata,
    Column("source", Text, primary_key=True),
    Column("dedupe_key", Text, primary_key=True),
    Column("use_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("mcp_server", Text),
)

import_files = Table(
    "import_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("device", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("head_hash", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="{}"),
    Column("updated_at", BigInteger, nullable=False),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

# Columns of ``calls`` in insert order; the writer builds its SQL from this.
CALL_COLUMNS: tuple[str, ...] = tuple(c.name for c in calls.columns)
