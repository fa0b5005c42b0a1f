"""Append-only schema migrations, one ``mNNN_name`` function each, recorded in a table.

Never edit a migration that has shipped: add a new one. The DDL is plain SQL that SQLite and
PostgreSQL both accept, so one code path serves both (tests check the exact schema on each).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tokenomy.store.db import Cursor, Database


def m001_calls(cur: Cursor, dialect: str) -> None:
    cur.execute(
        """
            CREATE TABLE calls (
                id TEXT NOT NULL PRIMARY KEY,
                source TEXT NOT NULL,
                dedupe_key TEXT NOT NULL,
                dedupe_rank INTEGER NOT NULL DEFAULT 0,
                dedupe_order BIGINT NOT NULL DEFAULT 0,
                started_at BIGINT NOT NULL,
                duration_ms BIGINT,
                ttft_ms BIGINT,
                operation TEXT NOT NULL,
                provider TEXT,
                request_model TEXT,
                response_model TEXT,
                project TEXT,
                "user" TEXT,
                api_key_id TEXT,
                org TEXT,
                session_id TEXT,
                trace_id TEXT,
                parent_id TEXT,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                cache_read_tokens BIGINT NOT NULL DEFAULT 0,
                cache_write_tokens BIGINT NOT NULL DEFAULT 0,
                cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                reasoning_tokens BIGINT NOT NULL DEFAULT 0,
                total_tokens BIGINT NOT NULL DEFAULT 0,
                cost_nanos BIGINT,
                cost_source TEXT NOT NULL,
                status TEXT NOT NULL,
                error_type TEXT,
                http_status INTEGER,
                finish_reason TEXT,
                cache_hit TEXT NOT NULL DEFAULT 'none',
                routed_from TEXT,
                route_policy TEXT,
                variant TEXT,
                prompt_hash TEXT,
                prefix_hash TEXT,
                attributes TEXT NOT NULL DEFAULT '{}',
                ingested_at BIGINT NOT NULL,
                CONSTRAINT uq_calls_source_dedupe UNIQUE (source, dedupe_key)
            )
        """
    )
    cur.execute("CREATE INDEX ix_calls_started_at ON calls (started_at)")
    cur.execute("CREATE INDEX ix_calls_session ON calls (session_id, started_at)")
    # One row per tool use, keyed by the provider's tool-use id: a response whose content
    # blocks arrive across two incremental reads still gets every tool exactly once.
    cur.execute(
        """
            CREATE TABLE call_tools (
                source TEXT NOT NULL,
                dedupe_key TEXT NOT NULL,
                use_id TEXT NOT NULL,
                name TEXT NOT NULL,
                mcp_server TEXT,
                CONSTRAINT pk_call_tools PRIMARY KEY (source, dedupe_key, use_id)
            )
        """
        # SQLite: the key is the only way in, so keep the rows in the key's B-tree itself.
        + (" WITHOUT ROWID" if dialect == "sqlite" else "")
    )
    cur.execute(
        """
            CREATE TABLE import_files (
                source TEXT NOT NULL,
                path TEXT NOT NULL,
                device BIGINT NOT NULL,
                inode BIGINT NOT NULL,
                size BIGINT NOT NULL,
                mtime_ns BIGINT NOT NULL,
                "offset" BIGINT NOT NULL,
                head_hash TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT '{}',
                updated_at BIGINT NOT NULL,
                CONSTRAINT pk_import_files PRIMARY KEY (source, path)
            )
        """
    )


def m002_api_keys(cur: Cursor, dialect: str) -> None:
    # Virtual keys for the gateway. Only a hash of each secret is kept (see tokenomy.keys);
    # ``prefix`` lets a person recognise a key in a list without the secret being stored.
    # The lookup goes through the UNIQUE constraint's index on key_hash.
    cur.execute(
        """
            CREATE TABLE api_keys (
                id TEXT NOT NULL PRIMARY KEY,
                key_hash TEXT NOT NULL,
                prefix TEXT NOT NULL,
                name TEXT,
                project TEXT,
                "user" TEXT,
                budget_nanos BIGINT,
                budget_period TEXT,
                created_at BIGINT NOT NULL,
                revoked_at BIGINT,
                CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
            )
        """
    )


def m003_call_content(cur: Cursor, dialect: str) -> None:
    # Prompt and response text, kept apart from the calls (and only with content capture
    # on) so that analytics never read it and it can be purged on its own.
    cur.execute(
        """
            CREATE TABLE call_content (
                source TEXT NOT NULL,
                dedupe_key TEXT NOT NULL,
                request TEXT,
                response TEXT,
                CONSTRAINT pk_call_content PRIMARY KEY (source, dedupe_key)
            )
        """
    )


def m004_rollups(cur: Cursor, dialect: str) -> None:
    # Sums of calls per hour and per UTC day, with and without the per-person dimensions,
    # so that a dashboard reads thousands of rows instead of millions (store/rollups.py).
    # The columns are written out here, not taken from the schema module: a shipped
    # migration must never change when a constant does.
    bounds = (
        10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1250, 1500,
        2000, 2500, 3000, 4000, 5000, 6500, 8000, 10000, 12500, 15000, 20000, 25000, 30000,
        40000, 50000, 65000, 80000, 100000, 150000, 200000, 300000, 600000,
    )  # fmt: skip
    lean: tuple[str, ...] = ("source", "provider", "model", "project", "status", "cache_hit")
    full = (*lean[:4], "user", "api_key_id", "org", *lean[4:])
    measures = ["calls", "failed_calls", "unknown_cost_calls", "cost_nanos"]
    measures += ["input_tokens", "cache_read_tokens", "cache_write_tokens"]
    measures += ["cache_write_1h_tokens", "output_tokens", "reasoning_tokens"]
    measures += ["duration_count", "duration_sum", *(f"lat_lt_{b}" for b in bounds)]
    for table, at, dims in (
        ("rollup_hour", "hour", full),
        ("rollup_hour_lean", "hour", lean),
        ("rollup_day", "day", full),
        ("rollup_day_lean", "day", lean),
    ):
        quoted = [f'"{d}"' for d in dims]
        columns = ", ".join(
            [f"{at} BIGINT NOT NULL"]
            + [f"{d} TEXT NOT NULL" for d in quoted]
            + [f"{m} BIGINT NOT NULL" for m in measures]
        )
        cur.execute(
            f"CREATE TABLE {table} ({columns}, "
            f"CONSTRAINT pk_{table} PRIMARY KEY ({at}, {', '.join(quoted)}))"
            # SQLite: rows clustered by time, so a time range is one contiguous read.
            + (" WITHOUT ROWID" if dialect == "sqlite" else "")
        )
    cur.execute(
        "CREATE TABLE rollup_dirty (hour BIGINT NOT NULL, mark TEXT NOT NULL, "
        "CONSTRAINT pk_rollup_dirty PRIMARY KEY (hour, mark))"
    )
    # Whatever was stored before this migration is marked, so the first refresh builds it.
    cur.execute(
        "INSERT INTO rollup_dirty (hour, mark) "
        "SELECT DISTINCT (started_at / 3600000) * 3600000, 'm004' FROM calls"
    )


Migration = Callable[[Cursor, str], None]

# Order is the version number: index 0 is version 1. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    m001_calls,
    m002_api_keys,
    m003_call_content,
    m004_rollups,
)


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; return the names."""
    with db.transaction() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in cur.fetchall()}
    applied = []
    for version, migration in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        with db.transaction() as cur:
            if db.dialect == "sqlite":
                cur.execute("BEGIN")  # sqlite3 would otherwise run DDL outside a transaction
            migration(cur, db.dialect)
            cur.execute(
                db.sql(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
                ),
                (version, migration.__name__, int(time.time() * 1000)),
            )
        applied.append(migration.__name__)
    return applied
