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

# Upper bounds (ms, exclusive) of the latency histogram kept per rollup row: about 25%
# apart from 10 ms to 10 minutes, so a percentile read from it is off by at most half a
# bucket (Prometheus-style cumulative counts: ``lat_lt_<bound>`` calls faster than bound).
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1250, 1500, 2000,
    2500, 3000, 4000, 5000, 6500, 8000, 10000, 12500, 15000, 20000, 25000, 30000, 40000,
    50000, 65000, 80000, 100000, 150000, 200000, 300000, 600000,
)  # fmt: skip
LATENCY_COLUMNS: tuple[str, ...] = tuple(f"lat_lt_{b}" for b in LATENCY_BOUNDS_MS)
# The dimensions a rollup row is keyed by besides its time ('' stands for NULL: a NULL in
# a key would make every row its own group on both engines' unique indexes).
ROLLUP_DIMS: tuple[str, ...] = (
    "source",
    "provider",
    "model",
    "project",
    "user",
    "api_key_id",
    "org",
    "status",
    "cache_hit",
)
# People: the dimensions with as many values as a team has members. An hour of a lean
# rollup leaves them out, so it has a few rows per model and project, not per person.
PEOPLE_DIMS: tuple[str, ...] = ("user", "api_key_id", "org")
ROLLUP_MEASURES: tuple[str, ...] = (
    "calls",
    "failed_calls",
    "unknown_cost_calls",
    "cost_nanos",
    *TOKEN_FIELDS,
    "duration_count",
    "duration_sum",
    *LATENCY_COLUMNS,
)


def _rollup(name: str, time: str, dims: tuple[str, ...]) -> Table:
    return Table(
        name,
        (
            _req(time, "BIGINT"),
            *(_req(d, "TEXT") for d in dims),
            *(_req(m, "BIGINT") for m in ROLLUP_MEASURES),
        ),
        (time, *dims),
    )


# The same sums at four grains (store/rollups.py): per hour and per UTC day, each with
# every dimension and without the people.
LEAN_DIMS = tuple(d for d in ROLLUP_DIMS if d not in PEOPLE_DIMS)
ROLLUP_HOUR = _rollup("rollup_hour", "hour", ROLLUP_DIMS)
ROLLUP_HOUR_LEAN = _rollup("rollup_hour_lean", "hour", LEAN_DIMS)
ROLLUP_DAY = _rollup("rollup_day", "day", ROLLUP_DIMS)
ROLLUP_DAY_LEAN = _rollup("rollup_day_lean", "day", LEAN_DIMS)

# Hours whose rollup rows are stale: every write to calls adds (hour, mark) in its own
# transaction; a refresh recomputes those hours and removes exactly the marks it read.
ROLLUP_DIRTY = Table(
    "rollup_dirty",
    (_req("hour", "BIGINT"), _req("mark", "TEXT")),
    ("hour", "mark"),
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
    ROLLUP_HOUR,
    ROLLUP_HOUR_LEAN,
    ROLLUP_DAY,
    ROLLUP_DAY_LEAN,
    ROLLUP_DIRTY,
    SCHEMA_MIGRATIONS,
)

# Columns of ``calls`` in insert order; the writer builds its SQL from this.
CALL_COLUMNS: tuple[str, ...] = CALLS.column_names
