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


def m005_group_rollups(cur: Cursor, dialect: str) -> None:
    # Per-session and per-prompt sums, per hour and in total, from which the ranked lists
    # (top sessions, top prompts) pick their groups without grouping millions of calls,
    # and a copy of the calls of the groups with many calls, clustered by group
    # (store/key_rollups.py). Written out, not taken from the schema module (see m004).
    dims = ("source", "provider", "model", "project", "user", "api_key_id", "org", "status")
    # SQLite: rows clustered by their key (hour first: a refresh appends).
    clustered = " WITHOUT ROWID" if dialect == "sqlite" else ""
    for kind, key, kept in (
        ("session", "session_id", dims),
        ("prompt", "prompt_hash", dims[:1]),  # as many as the calls: the source alone
    ):
        sums = ", ".join(
            [f"{m} BIGINT NOT NULL" for m in ("calls", "cost_nanos", "cost_bound", "first_at")]
            + ["last_at BIGINT NOT NULL", "mixed INTEGER NOT NULL"]
            + [f'"{d}" TEXT' for d in kept]
        )
        cur.execute(
            f"CREATE TABLE rollup_{kind}_hour (hour BIGINT NOT NULL, {key} TEXT NOT NULL, "
            f"{sums}, CONSTRAINT pk_rollup_{kind}_hour PRIMARY KEY (hour, {key})){clustered}"
        )
        cur.execute(
            f"CREATE TABLE rollup_{kind} ({key} TEXT NOT NULL, {sums}, heavy INTEGER NOT NULL, "
            f"CONSTRAINT pk_rollup_{kind} PRIMARY KEY ({key})){clustered}"
        )
        # The ranked lists walk groups from the most expensive down.
        cur.execute(f"CREATE INDEX ix_rollup_{kind}_cost ON rollup_{kind} (cost_bound, {key})")
        # The key is required in the copy; the other one is as in calls.
        session = "session_id TEXT" + (" NOT NULL" if key == "session_id" else "")
        prompt = "prompt_hash TEXT" + (" NOT NULL" if key == "prompt_hash" else "")
        cur.execute(
            f"CREATE TABLE rollup_{kind}_calls (id TEXT NOT NULL, source TEXT NOT NULL, "
            "dedupe_key TEXT NOT NULL, started_at BIGINT NOT NULL, provider TEXT, "
            'request_model TEXT, response_model TEXT, project TEXT, "user" TEXT, '
            f"api_key_id TEXT, org TEXT, {session}, input_tokens BIGINT NOT NULL, "
            "cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL, "
            "cache_write_1h_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, "
            "reasoning_tokens BIGINT NOT NULL, total_tokens BIGINT NOT NULL, cost_nanos BIGINT, "
            f"status TEXT NOT NULL, {prompt}, "
            f"CONSTRAINT pk_rollup_{kind}_calls PRIMARY KEY ({key}, started_at, id)){clustered}"
        )
        # A refresh replaces the copied calls of the hours it recomputes.
        cur.execute(f"CREATE INDEX ix_rollup_{kind}_calls_at ON rollup_{kind}_calls (started_at)")
    # A prompt's calls, for the few prompts a ranked list returns or must look into. Partial:
    # calls without a prompt hash (agent logs, the gateway) cost it nothing to write.
    cur.execute(
        "CREATE INDEX ix_calls_prompt ON calls (prompt_hash, started_at) "
        "WHERE prompt_hash IS NOT NULL"
    )
    # Every stored hour is marked, so the first refresh builds the new rollups.
    cur.execute(
        "INSERT INTO rollup_dirty (hour, mark) "
        "SELECT DISTINCT (started_at / 3600000) * 3600000, 'm005' FROM calls"
    )


def m006_evidence_from_copies(cur: Cursor, dialect: str) -> None:
    # The prompt index of m005 halved the write rate of big imports (every call with a
    # prompt hash updated it); the copies of the heavy groups' calls answer instead. Their
    # evidence (the most expensive calls, in order, read until three match) gets an index.
    cur.execute("DROP INDEX ix_calls_prompt")
    for kind, key in (("session", "session_id"), ("prompt", "prompt_hash")):
        cur.execute(
            f"CREATE INDEX ix_rollup_{kind}_calls_cost ON rollup_{kind}_calls "
            f"({key}, COALESCE(cost_nanos, -1) DESC, total_tokens DESC, id)"
        )


def m007_failure_and_cache_rollups(cur: Cursor, dialect: str) -> None:
    # /failures and /cache from rollups instead of every call of their range (written out,
    # not taken from the schema module: see m004). SQLite: rows clustered by their key.
    clustered = " WITHOUT ROWID" if dialect == "sqlite" else ""
    # Calls that read from the provider's prompt cache, per rollup row.
    for table in ("rollup_hour", "rollup_hour_lean", "rollup_day", "rollup_day_lean"):
        cur.execute(f"ALTER TABLE {table} ADD COLUMN cache_read_calls BIGINT NOT NULL DEFAULT 0")
    # Per session (and per prefix, below): what poor cache reuse is judged and bounded by.
    reuse = ("input_tokens", "cache_read_tokens", "prompt_tokens")
    for table in ("rollup_session_hour", "rollup_session"):
        for column in reuse:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN {column} BIGINT NOT NULL DEFAULT 0")
    # The copies of heavy groups' calls keep what duplicate prompts and prefixes read.
    for kind in ("session", "prompt"):
        cur.execute(
            f"ALTER TABLE rollup_{kind}_calls ADD COLUMN cache_hit TEXT NOT NULL DEFAULT 'none'"
        )
        cur.execute(f"ALTER TABLE rollup_{kind}_calls ADD COLUMN prefix_hash TEXT")
    # Per prompt prefix, as per session in m005 (with the sums above).
    dims = ("source", "provider", "model", "project", "user", "api_key_id", "org", "status")
    sums = ", ".join(
        [f"{m} BIGINT NOT NULL" for m in ("calls", "cost_nanos", "cost_bound", "first_at")]
        + ["last_at BIGINT NOT NULL", "mixed INTEGER NOT NULL"]
        + [f'"{d}" TEXT' for d in dims]
    )
    tokens = ", ".join(f"{column} BIGINT NOT NULL" for column in reuse)
    cur.execute(
        f"CREATE TABLE rollup_prefix_hour (hour BIGINT NOT NULL, prefix_hash TEXT NOT NULL, "
        f"{sums}, {tokens}, CONSTRAINT pk_rollup_prefix_hour PRIMARY KEY (hour, prefix_hash))"
        f"{clustered}"
    )
    cur.execute(
        f"CREATE TABLE rollup_prefix (prefix_hash TEXT NOT NULL, {sums}, "
        f"heavy INTEGER NOT NULL, {tokens}, "
        f"CONSTRAINT pk_rollup_prefix PRIMARY KEY (prefix_hash)){clustered}"
    )
    cur.execute("CREATE INDEX ix_rollup_prefix_cost ON rollup_prefix (cost_bound, prefix_hash)")
    cur.execute(
        "CREATE TABLE rollup_prefix_calls (id TEXT NOT NULL, source TEXT NOT NULL, "
        "dedupe_key TEXT NOT NULL, started_at BIGINT NOT NULL, provider TEXT, "
        'request_model TEXT, response_model TEXT, project TEXT, "user" TEXT, '
        "api_key_id TEXT, org TEXT, session_id TEXT, input_tokens BIGINT NOT NULL, "
        "cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL, "
        "cache_write_1h_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, "
        "reasoning_tokens BIGINT NOT NULL, total_tokens BIGINT NOT NULL, cost_nanos BIGINT, "
        "status TEXT NOT NULL, prompt_hash TEXT, cache_hit TEXT NOT NULL, "
        "prefix_hash TEXT NOT NULL, "
        f"CONSTRAINT pk_rollup_prefix_calls PRIMARY KEY (prefix_hash, started_at, id)){clustered}"
    )
    cur.execute("CREATE INDEX ix_rollup_prefix_calls_at ON rollup_prefix_calls (started_at)")
    cur.execute(
        "CREATE INDEX ix_rollup_prefix_calls_cost ON rollup_prefix_calls "
        "(prefix_hash, COALESCE(cost_nanos, -1) DESC, total_tokens DESC, id)"
    )
    # The poor-reuse walk: keys of one provider and model by uncached input, and those
    # whose calls mix providers or models (mixed bits 2 and 4) by uncached input.
    for kind, key in (("session", "session_id"), ("prefix", "prefix_hash")):
        cur.execute(
            f"CREATE INDEX ix_rollup_{kind}_reuse ON rollup_{kind} "
            f"(provider, model, input_tokens, {key})"
        )
        cur.execute(
            f"CREATE INDEX ix_rollup_{kind}_reuse_mixed ON rollup_{kind} "
            f"(input_tokens, {key}) WHERE (mixed & 6) <> 0"
        )
    # The failed calls, clustered by time; their (error type, provider, model) numbered.
    cur.execute(
        "CREATE TABLE rollup_failed_calls (started_at BIGINT NOT NULL, id TEXT NOT NULL, "
        "failure_group INTEGER NOT NULL, http_status INTEGER, session_id TEXT, "
        "cost_nanos BIGINT, source TEXT NOT NULL, dedupe_key TEXT NOT NULL, provider TEXT, "
        'request_model TEXT, response_model TEXT, project TEXT, "user" TEXT, '
        "api_key_id TEXT, org TEXT, status TEXT NOT NULL, "
        f"CONSTRAINT pk_rollup_failed_calls PRIMARY KEY (started_at, id)){clustered}"
    )
    # A group's latest failures.
    cur.execute(
        "CREATE INDEX ix_rollup_failed_calls_group ON rollup_failed_calls "
        "(failure_group, started_at, id)"
    )
    cur.execute(
        "CREATE TABLE rollup_failure_groups (failure_group INTEGER NOT NULL, error_type TEXT, "
        "provider TEXT, model TEXT, "
        "CONSTRAINT pk_rollup_failure_groups PRIMARY KEY (failure_group))"
    )
    # Duplicate prompts: within each UTC day, the day's most costly repeats, the prompts
    # sent on several days, and their sums per day.
    cur.execute(
        "CREATE TABLE rollup_dup_day (day BIGINT NOT NULL, prompts BIGINT NOT NULL, "
        "repeats BIGINT NOT NULL, cache_hits BIGINT NOT NULL, "
        "repeat_cost_nanos BIGINT NOT NULL, listed BIGINT NOT NULL, complete INTEGER NOT NULL, "
        "CONSTRAINT pk_rollup_dup_day PRIMARY KEY (day))"
    )
    cur.execute(
        "CREATE TABLE rollup_dup_top (day BIGINT NOT NULL, prompt_hash TEXT NOT NULL, "
        "calls BIGINT NOT NULL, repeat_cost_nanos BIGINT NOT NULL, "
        f"CONSTRAINT pk_rollup_dup_top PRIMARY KEY (day, prompt_hash)){clustered}"
    )
    # The costliest of a range's lists first (PostgreSQL reads them in order, 5 ms less).
    cur.execute(
        "CREATE INDEX ix_rollup_dup_top_cost ON rollup_dup_top "
        "(repeat_cost_nanos DESC, calls DESC, prompt_hash)"
    )
    cur.execute(
        "CREATE TABLE rollup_prompt_wide (prompt_hash TEXT NOT NULL, "
        f"CONSTRAINT pk_rollup_prompt_wide PRIMARY KEY (prompt_hash)){clustered}"
    )
    day_sums = ["calls", "cache_hits", "cost_nanos", "unknown_cost_calls", "miss_cost_nanos"]
    day_sums += ["dup_prompts", "dup_repeats", "dup_cache_hits", "dup_repeat_cost_nanos"]
    day_sums += ["sessions", "crossing"]
    own = ", ".join(f"{n} BIGINT NOT NULL" for n in day_sums)
    running = ", ".join(f"cum_{n} BIGINT NOT NULL" for n in day_sums)
    cur.execute(
        "CREATE TABLE rollup_prompt_day (prompt_hash TEXT NOT NULL, day BIGINT NOT NULL, "
        f"{own}, first_miss_cost_nanos BIGINT NOT NULL, first_at BIGINT NOT NULL, "
        f"last_at BIGINT NOT NULL, {running}, "
        f"CONSTRAINT pk_rollup_prompt_day PRIMARY KEY (prompt_hash, day)){clustered}"
    )
    cur.execute(
        "CREATE TABLE rollup_prompt_day_top (prompt_hash TEXT NOT NULL, day BIGINT NOT NULL, "
        "place INTEGER NOT NULL, id TEXT NOT NULL, cost_nanos BIGINT, "
        "total_tokens BIGINT NOT NULL, "
        f"CONSTRAINT pk_rollup_prompt_day_top PRIMARY KEY (prompt_hash, day, place)){clustered}"
    )
    # A refresh replaces days; whether a session sent a prompt on other days is looked up.
    for table in ("rollup_prompt_day", "rollup_prompt_day_top"):
        cur.execute(f"CREATE INDEX ix_{table}_day ON {table} (day)")
    cur.execute(
        "CREATE INDEX ix_rollup_prompt_calls_session ON rollup_prompt_calls "
        "(prompt_hash, session_id, started_at, source)"
    )
    # Old rollup rows lack what was just added: all of them are built again, in bulk, by
    # the next refresh.
    for table in (
        "rollup_hour",
        "rollup_hour_lean",
        "rollup_day",
        "rollup_day_lean",
        *(f"rollup_{k}{s}" for k in ("session", "prompt") for s in ("_hour", "", "_calls")),
    ):
        cur.execute(f"DELETE FROM {table}")
    cur.execute(
        "INSERT INTO rollup_dirty (hour, mark) "
        "SELECT DISTINCT (started_at / 3600000) * 3600000, 'm007' FROM calls "
        "WHERE started_at IS NOT NULL ON CONFLICT DO NOTHING"
    )


def m008_moved_calls_mark_their_old_hour(cur: Cursor, dialect: str) -> None:
    """A better copy of a call (same source and dedupe key, more tokens) can carry another
    ``started_at``: the writer marks the new hour, and this trigger the old one, whose
    rollups still count the call. Only such rare updates fire it; inserts never do. Each
    mark is unique, so a move that lands while a refresh runs keeps its mark."""
    moved = "(old.started_at / 3600000) <> (new.started_at / 3600000)"
    if dialect == "sqlite":
        cur.execute(
            "CREATE TRIGGER calls_moved_hour AFTER UPDATE OF started_at ON calls "
            f"WHEN {moved} BEGIN "
            "INSERT OR IGNORE INTO rollup_dirty (hour, mark) "
            "VALUES ((old.started_at / 3600000) * 3600000, 'moved-' || hex(randomblob(10))); "
            "END"
        )
        return
    cur.execute(
        "CREATE FUNCTION tokenomy_mark_moved_hour() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN INSERT INTO rollup_dirty (hour, mark) "
        "VALUES ((OLD.started_at / 3600000) * 3600000, 'moved-' || gen_random_uuid()::text) "
        "ON CONFLICT DO NOTHING; RETURN NULL; END $$"
    )
    cur.execute(
        "CREATE TRIGGER calls_moved_hour AFTER UPDATE OF started_at ON calls FOR EACH ROW "
        f"WHEN ({moved.replace('old.', 'OLD.').replace('new.', 'NEW.')}) "
        "EXECUTE FUNCTION tokenomy_mark_moved_hour()"
    )


def m009_project_paths(cur: Cursor, dialect: str) -> None:
    # One unique name per project directory (store/project_names.py): two directories
    # with the same last part used to become one project.
    cur.execute(
        "CREATE TABLE project_paths (path TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, "
        "claimed_at BIGINT NOT NULL, CONSTRAINT uq_project_paths_name UNIQUE (name))"
    )


Migration = Callable[[Cursor, str], None]

# Order is the version number: index 0 is version 1. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    m001_calls,
    m002_api_keys,
    m003_call_content,
    m004_rollups,
    m005_group_rollups,
    m006_evidence_from_copies,
    m007_failure_and_cache_rollups,
    m008_moved_calls_mark_their_old_hour,
    m009_project_paths,
)


# A constant key for PostgreSQL's advisory lock that serialises migrations.
_MIGRATION_LOCK = 7_461_521_093


def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded, each in its own transaction; return the names."""
    with db.transaction() as cur:
        if db.dialect != "sqlite":  # two CREATE ... IF NOT EXISTS at once can still collide
            cur.execute(db.sql("SELECT pg_advisory_xact_lock(?)"), (_MIGRATION_LOCK,))
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
            # Under the write lock, and checked again: workers of one `serve --workers N`
            # (or replicas on one PostgreSQL) start together and would otherwise both apply
            # the same migration ("duplicate column", a worker gone).
            if db.dialect == "sqlite":
                cur.execute("BEGIN IMMEDIATE")  # also: sqlite3 would run DDL outside it
            else:
                cur.execute(db.sql("SELECT pg_advisory_xact_lock(?)"), (_MIGRATION_LOCK,))
            cur.execute(db.sql("SELECT 1 FROM schema_migrations WHERE version = ?"), (version,))
            if cur.fetchall():
                continue  # another process applied it meanwhile
            migration(cur, db.dialect)
            cur.execute(
                db.sql(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
                ),
                (version, migration.__name__, int(time.time() * 1000)),
            )
        applied.append(migration.__name__)
    return applied
