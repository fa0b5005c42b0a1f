"""Rollups of the calls table, kept current as records arrive.

A dashboard over ten million calls cannot sum them on every request. The rollups hold the
sums of every measure and a latency histogram per combination of the low-cardinality
dimensions (source, provider, model, project, user, key, org, status, cache hit), per UTC
hour (``rollup_hour``) and day (``rollup_day``); and the same without the per-person
dimensions user, key and org (``rollup_hour_lean``, ``rollup_day_lean``), which multiply
the rows by the team's size and most questions do not ask about. A query reads the
smallest that can answer it (api/sums.py). Sessions, prompts and prefixes, which have as
many values as there are calls, have rollups of their own, refreshed with the same hours
(key_rollups.py); so have failed calls (failed_calls.py) and duplicate prompts
(dup_rollups.py).

How it stays current: every write to ``calls`` (the upsert, a reprice) adds a mark per
hour it touched to ``rollup_dirty``, in the same transaction as the rows. :func:`refresh`
recomputes the marked hours from the calls themselves (then the lean hours and the days
from those sums) and removes exactly the marks it
read, so a write that lands while a refresh runs leaves its mark for the next one. The
recomputation, not a running delta, is what keeps rollups exact under the upsert's
replacements (a streamed partial replaced by the complete response) and reprices; it
costs one indexed read of the hour's calls, and adds nothing per row to the write path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

from tokenomy.record import TOKEN_FIELDS, new_ulid
from tokenomy.store import dup_rollups, failed_calls, key_rollups, rollup_stage
from tokenomy.store.db import Cursor, Database
from tokenomy.store.schema import (
    LATENCY_BOUNDS_MS,
    PEOPLE_DIMS,
    ROLLUP_DIMS,
    ROLLUP_MEASURES,
)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# Each dimension as SQL over ``calls c``: NULL becomes '' (see schema.ROLLUP_DIMS).
RAW_DIMS: dict[str, str] = {
    "source": "c.source",
    "provider": "COALESCE(c.provider, '')",
    "model": "COALESCE(c.response_model, c.request_model, '')",
    "project": "COALESCE(c.project, '')",
    "user": "COALESCE(c.\"user\", '')",
    "api_key_id": "COALESCE(c.api_key_id, '')",
    "org": "COALESCE(c.org, '')",
    "status": "c.status",
    "cache_hit": "c.cache_hit",
}
# Each measure as an aggregate over ``calls c`` (what a rollup row holds for its calls).
RAW_MEASURES: dict[str, str] = {
    "calls": "COUNT(*)",
    "failed_calls": "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END)",
    "unknown_cost_calls": "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END)",
    "cost_nanos": "COALESCE(SUM(c.cost_nanos), 0)",
    **{t: f"SUM(c.{t})" for t in TOKEN_FIELDS},
    "duration_count": "COUNT(c.duration_ms)",
    "duration_sum": "COALESCE(SUM(c.duration_ms), 0)",
    **{
        f"lat_lt_{b}": f"SUM(CASE WHEN c.duration_ms < {b} THEN 1 ELSE 0 END)"
        for b in LATENCY_BOUNDS_MS
    },
    "cache_read_calls": "SUM(CASE WHEN c.cache_read_tokens > 0 THEN 1 ELSE 0 END)",
}
assert tuple(RAW_DIMS) == ROLLUP_DIMS and tuple(RAW_MEASURES) == ROLLUP_MEASURES

_DIRTY_SQL = "INSERT INTO rollup_dirty (hour, mark) VALUES (?, ?) ON CONFLICT DO NOTHING"
# Two PostgreSQL processes refreshing the same hour at once would both insert its rows.
_PG_REFRESH_LOCK = 7_431_001
# PostgreSQL's memory per sort or hash while a refresh runs (its default is 4 MB).
PG_WORK_MEM = "256MB"
# Hours recomputed per transaction: short enough that writers never wait long.
HOURS_PER_TRANSACTION = 48


def hour_of(ms: int) -> int:
    return ms // HOUR_MS * HOUR_MS


def mark_hours(db: Database, cur: Cursor, hours: Iterable[int]) -> None:
    """Mark the hours (ms at the hour's start) whose calls were just written."""
    mark = new_ulid()
    cur.executemany(db.sql(_DIRTY_SQL), [(h, mark) for h in sorted(set(hours))])


def mark_rows(db: Database, cur: Cursor, started_at: Iterable[int]) -> None:
    """Mark the hours of calls that start at these times (ms)."""
    mark_hours(db, cur, {t // HOUR_MS * HOUR_MS for t in started_at})


def pending_hours(db: Database) -> int:
    """How many hours wait to be recomputed."""
    return int(db.query("SELECT COUNT(DISTINCT hour) FROM rollup_dirty")[0][0])


def has_pending(db: Database) -> bool:
    return bool(db.query("SELECT 1 FROM rollup_dirty LIMIT 1"))


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


_HOUR_OF = f"(c.started_at / {HOUR_MS}) * {HOUR_MS}"
# rollup_hour from the calls of a range of hours: its columns, and the SELECT of them.
_HOUR_INTO = (
    f"hour, {_quoted(ROLLUP_DIMS)}, {_quoted(ROLLUP_MEASURES)}",
    f"SELECT {_HOUR_OF}, {', '.join(RAW_DIMS.values())}, {', '.join(RAW_MEASURES.values())} "
    "FROM calls c WHERE c.started_at >= ? AND c.started_at < ? "
    f"GROUP BY {_HOUR_OF}, {', '.join(RAW_DIMS.values())}",
)
_HOUR_SQL = f"INSERT INTO rollup_hour ({_HOUR_INTO[0]}) {_HOUR_INTO[1]}"
_SUMS = ", ".join(f'SUM("{m}")' for m in ROLLUP_MEASURES)
_LEAN = _quoted(d for d in ROLLUP_DIMS if d not in PEOPLE_DIMS)
# The coarser rollups from rollup_hour (a few hundred rows an hour, not the calls).
_LEAN_SQL = (
    f"INSERT INTO rollup_hour_lean (hour, {_LEAN}, {_quoted(ROLLUP_MEASURES)}) "
    f"SELECT hour, {_LEAN}, {_SUMS} FROM rollup_hour WHERE hour >= ? AND hour < ? "
    f"GROUP BY hour, {_LEAN}"
)
_DAY_OF = f"(hour / {DAY_MS}) * {DAY_MS}"


def _day_sql(table: str, source: str, dims: str) -> str:
    return (
        f"INSERT INTO {table} (day, {dims}, {_quoted(ROLLUP_MEASURES)}) "
        f"SELECT {_DAY_OF}, {dims}, {_SUMS} FROM {source} "
        f"WHERE hour >= ? AND hour < ? GROUP BY {_DAY_OF}, {dims}"
    )


_DAYS = (
    ("rollup_day", _day_sql("rollup_day", "rollup_hour", _quoted(ROLLUP_DIMS))),
    ("rollup_day_lean", _day_sql("rollup_day_lean", "rollup_hour_lean", _LEAN)),
)


def _runs(times: Iterable[int], step: int) -> list[tuple[int, int]]:
    """Sorted times as [start, end) ranges of consecutive steps (one indexed read each)."""
    runs: list[tuple[int, int]] = []
    for t in times:
        if runs and runs[-1][1] == t:
            runs[-1] = (runs[-1][0], t + step)
        else:
            runs.append((t, t + step))
    return runs


def refresh(
    db: Database,
    progress: Callable[[int, int], None] | None = None,
    *,
    before: int | None = None,
) -> int:
    """Recompute every marked hour (and the days they are in, and the sessions, prompts and
    prefixes they hold: key_rollups.py); return how many hours were recomputed.
    ``progress(done, total)`` is called after each transaction.

    ``before`` (ms): only the marked hours of the whole UTC days before that time, for a
    refresh beside an import that is still writing later hours (background_refresh.py).
    On SQLite it groups the calls outside the write lock (rollup_stage.py), and a first
    build's per-key totals wait for a complete refresh."""
    if before is None:
        found = db.query("SELECT DISTINCT hour FROM rollup_dirty")
    else:
        found = db.query(
            "SELECT DISTINCT hour FROM rollup_dirty WHERE hour < ?", (before // DAY_MS * DAY_MS,)
        )
    hours = sorted(int(r[0]) for r in found)
    if not hours:
        return 0
    bulk = key_rollups.empty_totals(db)
    chunks = list(_whole_days(hours))
    staging = before is not None and db.dialect == "sqlite"
    done = 0
    for i, chunk in enumerate(chunks):
        runs = _runs(chunk, HOUR_MS)
        staged = rollup_stage.stage(db, runs, _staged_inserts(bulk)) if staging else None
        with db.transaction() as cur:
            _recompute(db, cur, chunk, bulk, staged)
            if bulk and before is None and i == len(chunks) - 1:
                # With the last marks: an interrupted refresh leaves marks, and the next
                # one finds the per-key tables still empty and builds them.
                key_rollups.rebuild_totals(db, cur, bulk)
                if key_rollups.PROMPTS in bulk:  # read from the copy just made
                    dup_rollups.rebuild(db, cur)
        done += len(chunk)
        if progress is not None:
            progress(done, len(hours))
    return done


def _staged_inserts(bulk: Collection[key_rollups.Grouping]) -> dict[str, tuple[str, str]]:
    """What a staged refresh groups outside the write lock: the hourly rollup, and the hour
    rows of the per-key rollups built in bulk (the others move their totals by what the
    hour rows were, read inside the write)."""
    inserts = {"rollup_hour": _HOUR_INTO}
    for g in bulk:
        inserts[g.hourly] = key_rollups.hour_into(g)
    return inserts


def _whole_days(hours: Sequence[int]) -> Iterator[list[int]]:
    """Sorted hours in chunks of about ``HOURS_PER_TRANSACTION`` that never split a day,
    so each day's rollup is recomputed once."""
    chunk: list[int] = []
    for h in hours:
        if len(chunk) >= HOURS_PER_TRANSACTION and h // DAY_MS != chunk[-1] // DAY_MS:
            yield chunk
            chunk = []
        chunk.append(h)
    if chunk:
        yield chunk


def _recompute(
    db: Database,
    cur: Cursor,
    hours: Sequence[int],
    bulk: Collection[key_rollups.Grouping],
    staged: rollup_stage.Stage | None = None,
) -> None:
    if db.dialect == "postgresql":
        cur.execute(f"SELECT pg_advisory_xact_lock({_PG_REFRESH_LOCK})")
        # Grouping a chunk of calls (or, in a first build, every key's hour rows) in memory
        # rather than in 4 MB batches on disk, and indexes sorted in one pass.
        cur.execute(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
        cur.execute(f"SET LOCAL maintenance_work_mem = '{PG_WORK_MEM}'")
    runs = _runs(hours, HOUR_MS)
    # The marks are read before the calls: a mark that commits after this read is left for
    # the next refresh, whose read of the calls will see its rows.
    marks = rollup_stage.read_marks(db, cur, runs)
    if staged is not None and not rollup_stage.still_valid(marks, staged):
        staged = None  # another refresh wrote these hours since: group them here
    if staged is not None:
        marks = list(staged.marks)  # the others' calls were not in the stage
    for start, end in runs:
        cur.execute(db.sql("DELETE FROM rollup_hour WHERE hour >= ? AND hour < ?"), (start, end))
        if staged is None:
            cur.execute(db.sql(_HOUR_SQL), (start, end))
    if staged is not None:
        rollup_stage.copy_in(cur, staged, "rollup_hour")
    for start, end in runs:
        cur.execute(
            db.sql("DELETE FROM rollup_hour_lean WHERE hour >= ? AND hour < ?"), (start, end)
        )
        cur.execute(db.sql(_LEAN_SQL), (start, end))
        key_rollups.recompute_hours(db, cur, start, end, bulk, staged=staged is not None)
        failed_calls.recompute_hours(db, cur, start, end)
    if staged is not None:
        for g in bulk:
            rollup_stage.copy_in(cur, staged, g.hourly)
    days = _runs(sorted({h // DAY_MS * DAY_MS for h in hours}), DAY_MS)
    for start, end in days:
        for table, sql in _DAYS:
            cur.execute(db.sql(f"DELETE FROM {table} WHERE day >= ? AND day < ?"), (start, end))
            cur.execute(db.sql(sql), (start, end))
    if key_rollups.PROMPTS not in bulk:  # else built once the copy is complete
        dup_rollups.recompute_days(db, cur, days)
    cur.executemany(db.sql("DELETE FROM rollup_dirty WHERE hour = ? AND mark = ?"), marks)


def rebuild(db: Database, progress: Callable[[int, int], None] | None = None) -> int:
    """Throw the rollups away and compute them again from every stored call (after a bulk
    change made behind the store's back, or to check them); return the hours built."""
    with db.transaction() as cur:
        for table in ("rollup_hour", "rollup_hour_lean", "rollup_day", "rollup_day_lean"):
            cur.execute(f"DELETE FROM {table}")
        key_rollups.clear(cur)
        failed_calls.clear(cur)
        dup_rollups.clear(cur)
        cur.execute(
            db.sql(
                "INSERT INTO rollup_dirty (hour, mark) SELECT DISTINCT "
                f"(started_at / {HOUR_MS}) * {HOUR_MS}, ? FROM calls "
                # WHERE: SQLite would read ON as a join's ON without it.
                "WHERE started_at IS NOT NULL ON CONFLICT DO NOTHING"
            ),
            (new_ulid(),),
        )
    return refresh(db, progress)
