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
    # Calls that read from the provider's prompt cache (/cache), added by migration m007.
    "cache_read_calls",
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

# The per-session and per-prompt rollups behind the ranked lists (store/key_rollups.py).
# A row sums one group's calls; each dimension a filter can name that it keeps holds its
# value when all those calls share it (NULL: they all have none), and ``mixed`` has bit
# ``1 << i`` set for the i-th dimension of GROUP_DIMS when they do not (the value is then
# one of theirs). Raw values, not '' for NULL: a filter compares them as the calls table
# does. Prompts keep only the source: they are about as many as the calls, and a filter on
# anything else checks each candidate against its own calls.
# The rollups' dimensions, less cache_hit.
GROUP_DIMS: tuple[str, ...] = tuple(d for d in ROLLUP_DIMS if d != "cache_hit")
PROMPT_DIMS: tuple[str, ...] = ("source",)


def _group_sums(dims: tuple[str, ...]) -> tuple[Column, ...]:
    """What a group row holds: enough to rank groups and to tell when a row answers a
    range and filter as it is (calls; cost and cost_bound, the sum of the positive costs,
    an upper bound of the cost of any subset of the calls; first and last call)."""
    return (
        _req("calls", "BIGINT"),
        _req("cost_nanos", "BIGINT"),
        _req("cost_bound", "BIGINT"),
        _req("first_at", "BIGINT"),
        _req("last_at", "BIGINT"),
        _req("mixed", "INTEGER"),
        *(Column(d, "TEXT") for d in dims),
    )


# The columns of ``calls`` the ranked lists' SQL reads (and filters on): what the copy of a
# heavy group's calls keeps. ``cache_hit`` and ``prefix_hash`` came with m007 (duplicate
# prompts and poor reuse per prefix read them).
GROUP_CALL_COLUMNS: tuple[str, ...] = (
    "id",
    "source",
    "dedupe_key",
    "started_at",
    "provider",
    "request_model",
    "response_model",
    "project",
    "user",
    "api_key_id",
    "org",
    "session_id",
    *TOKEN_FIELDS,
    "total_tokens",
    "cost_nanos",
    "status",
    "prompt_hash",
    "cache_hit",
    "prefix_hash",
)
# What the poor-reuse walk (api/reuse.py) reads of a session's or prefix's calls, summed
# per hour and per key like calls and cost (m007): the uncached input (its bound on what
# better reuse could save), the cache reads and the whole prompt.
REUSE_SUMS: tuple[str, ...] = ("input_tokens", "cache_read_tokens", "prompt_tokens")


def _group_rollups(
    kind: str, key: str, dims: tuple[str, ...], *, reuse: bool = False
) -> tuple[Table, Table, Table]:
    """Per UTC hour and key (the calls of each hour, as refreshed); per key (the sums of
    its hour rows; ``heavy``: its calls are copied, see below); and the copy of the calls
    of heavy keys, clustered by key, so the few groups with thousands of calls in a range
    are read in one sweep instead of a random read per call. With ``reuse``, both sums
    also hold ``REUSE_SUMS``."""
    extra = tuple(_req(n, "BIGINT") for n in REUSE_SUMS) if reuse else ()
    hourly = Table(
        f"rollup_{kind}_hour",
        (_req("hour", "BIGINT"), _req(key, "TEXT"), *_group_sums(dims), *extra),
        ("hour", key),
    )
    totals = Table(
        f"rollup_{kind}",
        (_req(key, "TEXT"), *_group_sums(dims), _req("heavy", "INTEGER"), *extra),
        (key,),
    )
    by_name = {c.name: c for c in CALLS.columns}
    copy = Table(
        f"rollup_{kind}_calls",
        tuple(_req(key, "TEXT") if name == key else by_name[name] for name in GROUP_CALL_COLUMNS),
        (key, "started_at", "id"),
    )
    return hourly, totals, copy


ROLLUP_SESSION_HOUR, ROLLUP_SESSION, ROLLUP_SESSION_CALLS = _group_rollups(
    "session", "session_id", GROUP_DIMS, reuse=True
)
ROLLUP_PROMPT_HOUR, ROLLUP_PROMPT, ROLLUP_PROMPT_CALLS = _group_rollups(
    "prompt", "prompt_hash", PROMPT_DIMS
)
# Prompt prefixes (m007), for poor cache reuse per prefix: kept like sessions.
ROLLUP_PREFIX_HOUR, ROLLUP_PREFIX, ROLLUP_PREFIX_CALLS = _group_rollups(
    "prefix", "prefix_hash", GROUP_DIMS, reuse=True
)

# A copy of the failed calls (store/failed_calls.py, m007): a few percent of the calls,
# clustered by time, with what /failures groups, filters and shows. The group (error type,
# provider, model) is a number (``rollup_failure_groups``): SQLite sorts one integer in a
# fraction of the time it takes to sort three texts.
_BY_NAME = {c.name: c for c in CALLS.columns}
FAILED_CALL_COLUMNS: tuple[str, ...] = (
    "started_at",
    "id",
    "failure_group",
    "http_status",
    "session_id",
    "cost_nanos",
    "source",
    "dedupe_key",
    "provider",
    "request_model",
    "response_model",
    "project",
    "user",
    "api_key_id",
    "org",
    "status",
)
ROLLUP_FAILED_CALLS = Table(
    "rollup_failed_calls",
    tuple(_req(n, "INTEGER") if n == "failure_group" else _BY_NAME[n] for n in FAILED_CALL_COLUMNS),
    ("started_at", "id"),
)
ROLLUP_FAILURE_GROUPS = Table(
    "rollup_failure_groups",
    (
        _req("failure_group", "INTEGER"),
        Column("error_type", "TEXT"),
        Column("provider", "TEXT"),
        Column("model", "TEXT"),
    ),
    ("failure_group",),
)

# Duplicate prompts (store/dup_rollups.py, m007), over the calls the API counts by default
# (every source but runner records). Per UTC day, what the prompts sent more than once that
# day add up to, within the day; the day's most costly repeats among prompts whose calls
# all fall on one day (``listed``: how many it has; ``complete``: all of them); and per day
# the sums of each prompt whose calls fall on several days (``rollup_prompt_wide``), which
# the API combines across the days of a range.
_DUP_SUMS = ("prompts", "repeats", "cache_hits", "repeat_cost_nanos")
ROLLUP_DUP_DAY = Table(
    "rollup_dup_day",
    (
        _req("day", "BIGINT"),
        *(_req(n, "BIGINT") for n in _DUP_SUMS),
        _req("listed", "BIGINT"),
        _req("complete", "INTEGER"),
    ),
    ("day",),
)
ROLLUP_DUP_TOP = Table(
    "rollup_dup_top",
    (
        _req("day", "BIGINT"),
        _req("prompt_hash", "TEXT"),
        _req("calls", "BIGINT"),
        _req("repeat_cost_nanos", "BIGINT"),
    ),
    ("day", "prompt_hash"),
)
ROLLUP_PROMPT_WIDE = Table("rollup_prompt_wide", (_req("prompt_hash", "TEXT"),), ("prompt_hash",))
# A wide prompt's day: its own sums (``miss``: the cost of the calls our cache did not
# answer; ``first_miss``: that of the day's first call if it is one of them; ``dup_*``: the
# day's own duplicate figures for the prompt), and the running totals of its days up to
# this one, so a range of days is two rows per prompt, whatever its length.
PROMPT_DAY_SUMS: tuple[str, ...] = (
    "calls",
    "cache_hits",
    "cost_nanos",
    "unknown_cost_calls",
    "miss_cost_nanos",
    "dup_prompts",
    "dup_repeats",
    "dup_cache_hits",
    "dup_repeat_cost_nanos",
    # Distinct sessions of the day, and 1 if one of them sent the prompt on another day too
    # (then sessions over days do not add up; once set, it stays).
    "sessions",
    "crossing",
)
ROLLUP_PROMPT_DAY = Table(
    "rollup_prompt_day",
    (
        _req("prompt_hash", "TEXT"),
        _req("day", "BIGINT"),
        *(_req(n, "BIGINT") for n in PROMPT_DAY_SUMS),
        _req("first_miss_cost_nanos", "BIGINT"),
        _req("first_at", "BIGINT"),
        _req("last_at", "BIGINT"),
        *(_req(f"cum_{n}", "BIGINT") for n in PROMPT_DAY_SUMS),
    ),
    ("prompt_hash", "day"),
)
# The evidence of a wide prompt's day: its most expensive calls, in the API's order.
ROLLUP_PROMPT_DAY_TOP = Table(
    "rollup_prompt_day_top",
    (
        _req("prompt_hash", "TEXT"),
        _req("day", "BIGINT"),
        _req("place", "INTEGER"),
        _req("id", "TEXT"),
        Column("cost_nanos", "BIGINT"),
        _req("total_tokens", "BIGINT"),
    ),
    ("prompt_hash", "day", "place"),
)

# Hours whose rollup rows are stale: every write to calls adds (hour, mark) in its own
# transaction; a refresh recomputes those hours and removes exactly the marks it read.
ROLLUP_DIRTY = Table(
    "rollup_dirty",
    (_req("hour", "BIGINT"), _req("mark", "TEXT")),
    ("hour", "mark"),
)

# The unique readable name of each project directory (store/project_names.py).
PROJECT_PATHS = Table(
    "project_paths",
    (_req("path", "TEXT"), _req("name", "TEXT"), _req("claimed_at", "BIGINT")),
    ("path",),
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
    ROLLUP_SESSION_HOUR,
    ROLLUP_SESSION,
    ROLLUP_SESSION_CALLS,
    ROLLUP_PROMPT_HOUR,
    ROLLUP_PROMPT,
    ROLLUP_PROMPT_CALLS,
    ROLLUP_PREFIX_HOUR,
    ROLLUP_PREFIX,
    ROLLUP_PREFIX_CALLS,
    ROLLUP_FAILED_CALLS,
    ROLLUP_FAILURE_GROUPS,
    ROLLUP_DUP_DAY,
    ROLLUP_DUP_TOP,
    ROLLUP_PROMPT_WIDE,
    ROLLUP_PROMPT_DAY,
    ROLLUP_PROMPT_DAY_TOP,
    ROLLUP_DIRTY,
    PROJECT_PATHS,
    SCHEMA_MIGRATIONS,
)

# Columns of ``calls`` in insert order; the writer builds its SQL from this.
CALL_COLUMNS: tuple[str, ...] = CALLS.column_names
