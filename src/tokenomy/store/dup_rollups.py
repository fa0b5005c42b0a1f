"""Rollups of duplicate prompts, for the second half of ``GET /api/v1/cache``.

That answer counts, over a range, the prompts (``prompt_hash``) sent more than once, their
repeats, the repeats our response cache answered, and what the others cost (every call
after a prompt's first one in the range that the cache did not answer); and lists the
prompts whose repeats cost the most. None of it adds up across time: a prompt sent on
Monday and again on Tuesday is a duplicate of the two days, of neither day alone. At 10M
calls, 133,000 prompts repeat in a month; grouping their calls took 20 s.

What this keeps, over the calls the API counts by default (every source but ``runner``),
read from the copy of repeated prompts' calls (key_rollups.PROMPTS: every prompt sent
twice or more is heavy, so the copy holds every call that can be a duplicate):

- ``rollup_dup_day``: per UTC day, the duplicate figures of that day's calls alone.
- ``rollup_prompt_wide``: the prompts whose calls fall on more than one UTC day (in the
  benchmark, the 300 templates; a prompt stays listed once it got there).
- ``rollup_prompt_day``: per UTC day, the sums of each of those prompts' calls (and its
  distinct sessions, marked when one of them sent it on another day too), with the
  running totals of its days so far, so that a range is read as two rows per prompt; and
  ``rollup_prompt_day_top``, the day's most expensive calls (the rows' evidence).
- ``rollup_dup_top``: per UTC day, the prompts of that day alone (not wide) whose repeats
  cost the most, ``TOP_PER_DAY`` of them and any tied with the last; a prompt that becomes
  wide leaves the lists it was on.

A range of whole days is then the days' figures, minus the wide prompts' share of them
(read from their day rows), plus the wide prompts' figures over the whole range; the
prompts that are not wide each fall within one day, so a day's figures are theirs.
api/duplicates.py reads the partial days at a range's ends from the copy itself.

Refreshed with the hours the writer marks (rollups.py), a day at a time, after the copy of
the prompts' calls; built in bulk at the end of a first build, like the per-key tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tokenomy.record import Source
from tokenomy.store.db import Cursor, Database
from tokenomy.store.key_rollups import PROMPTS
from tokenomy.store.schema import PROMPT_DAY_SUMS

DAY_MS = 86_400_000
# Prompts listed per day: the largest ``limit`` the API takes (app.LIST_LIMIT).
TOP_PER_DAY = 200
# The calls the API counts unless asked for a source: runner records sum agent runs whose
# calls the agents' logs also hold (api/params.py, DOUBLE_COUNTED_SOURCE).
LEFT_OUT_SOURCE = Source.RUNNER.value
COPY = PROMPTS.copy
TABLES = (
    "rollup_dup_day",
    "rollup_dup_top",
    "rollup_prompt_wide",
    "rollup_prompt_day",
    "rollup_prompt_day_top",
)
_DAY = f"(c.started_at / {DAY_MS}) * {DAY_MS}"
# Whether the session of call ``c`` sent its prompt on another day: before the call's day,
# or after it (each a range of ix_rollup_prompt_calls_session, which holds all it reads).
_ELSEWHERE = " OR ".join(
    f"EXISTS (SELECT 1 FROM {COPY} o WHERE o.prompt_hash = c.prompt_hash AND "
    f"o.session_id = c.session_id AND o.started_at {side} AND "
    f"o.source <> '{LEFT_OUT_SOURCE}')"
    for side in (f"< {_DAY}", f">= {_DAY} + {DAY_MS}")
)


def day_sums_sql(where: str, *, wide: bool = False) -> str:
    """Per (UTC day, prompt) over the copy rows matching ``where`` (over ``c``): calls,
    cache hits, cost, unknown costs, the cost of the calls the response cache did not
    answer and of the first call if it is one of them, first and last call. ``k`` is the
    prompt hash. With ``wide``: also the day's distinct sessions, and whether one of them
    sent the prompt on another day (an indexed lookup per call)."""
    crossing = (
        f", CASE WHEN c.session_id IS NOT NULL AND ({_ELSEWHERE}) THEN 1 ELSE 0 END AS crossing"
        if wide
        else ""
    )
    numbered = (
        f"SELECT c.prompt_hash AS k, {_DAY} AS day, c.cost_nanos AS cost, "
        "c.cache_hit AS hit, c.started_at AS at, c.session_id AS sid, ROW_NUMBER() OVER "
        f"(PARTITION BY c.prompt_hash, {_DAY} ORDER BY c.started_at, c.id) AS rn{crossing} "
        f"FROM {COPY} c WHERE {where}"
    )
    sessions = ", COUNT(DISTINCT x.sid) AS sessions, MAX(x.crossing) AS crossing" if wide else ""
    return (
        "SELECT x.day AS day, x.k AS k, COUNT(*) AS n, "
        "SUM(CASE WHEN x.hit <> 'none' THEN 1 ELSE 0 END) AS hits, "
        "COALESCE(SUM(x.cost), 0) AS cost, "
        "SUM(CASE WHEN x.cost IS NULL THEN 1 ELSE 0 END) AS unknown, "
        "COALESCE(SUM(CASE WHEN x.hit = 'none' THEN x.cost ELSE 0 END), 0) AS miss, "
        "COALESCE(SUM(CASE WHEN x.rn = 1 AND x.hit = 'none' THEN x.cost ELSE 0 END), 0) "
        f"AS first_miss, MIN(x.at) AS first_at, MAX(x.at) AS last_at{sessions} "
        f"FROM ({numbered}) x GROUP BY x.day, x.k"
    )


_COUNTED = f"c.source <> '{LEFT_OUT_SOURCE}'"
_IN_DAYS = f"c.started_at >= ? AND c.started_at < ? AND {_COUNTED}"
_WIDE = "SELECT w.prompt_hash FROM rollup_prompt_wide w"
_OWN = ", ".join(PROMPT_DAY_SUMS)
_RUNNING = ", ".join(f"cum_{n}" for n in PROMPT_DAY_SUMS)
_DAY_ROWS = (
    f"INSERT INTO rollup_prompt_day (prompt_hash, day, {_OWN}, first_miss_cost_nanos, "
    f"first_at, last_at, {_RUNNING}) SELECT s.k, s.day, s.n, s.hits, s.cost, s.unknown, "
    "s.miss, CASE WHEN s.n > 1 THEN 1 ELSE 0 END, CASE WHEN s.n > 1 THEN s.n - 1 ELSE 0 END, "
    "CASE WHEN s.n > 1 THEN s.hits ELSE 0 END, "
    "CASE WHEN s.n > 1 THEN s.miss - s.first_miss ELSE 0 END, s.sessions, s.crossing, "
    f"s.first_miss, s.first_at, s.last_at, {', '.join('0' for _ in PROMPT_DAY_SUMS)} "
    "FROM ({sums}) s"
)
# A wide prompt's day's most expensive calls (api/ranked.py's EXPENSIVE_FIRST).
EVIDENCE = 3
_DAY_TOP = (
    "INSERT INTO rollup_prompt_day_top (prompt_hash, day, place, id, cost_nanos, total_tokens) "
    "SELECT t.k, t.day, t.place, t.id, t.cost, t.tokens FROM (SELECT c.prompt_hash AS k, "
    f"{_DAY} AS day, c.id AS id, c.cost_nanos AS cost, c.total_tokens AS tokens, "
    f"ROW_NUMBER() OVER (PARTITION BY c.prompt_hash, {_DAY} ORDER BY "
    "COALESCE(c.cost_nanos, -1) DESC, c.total_tokens DESC, c.id) AS place "
    "FROM {copy} c WHERE {where}) t WHERE t.place <= {evidence}"
)
# The running totals of rows whose day is at least a given one: each the sum of its
# prompt's days up to it (a self-join on the key; the rows before are as they were).
_RUNNING_SQL = (
    "UPDATE rollup_prompt_day SET "
    + ", ".join(f"cum_{n} = r.{n}" for n in PROMPT_DAY_SUMS)
    + " FROM (SELECT a.prompt_hash AS k, a.day AS day, "
    + ", ".join(f"SUM(b.{n}) AS {n}" for n in PROMPT_DAY_SUMS)
    + " FROM rollup_prompt_day a JOIN rollup_prompt_day b ON b.prompt_hash = a.prompt_hash "
    "AND b.day <= a.day WHERE {where} GROUP BY a.prompt_hash, a.day) r "
    "WHERE rollup_prompt_day.prompt_hash = r.k AND rollup_prompt_day.day = r.day"
)
# ``listed`` holds the number of repeated prompts that are not wide until _LISTED.
_DUP_DAY = (
    "INSERT INTO rollup_dup_day (day, prompts, repeats, cache_hits, repeat_cost_nanos, "
    "listed, complete) SELECT s.day, COUNT(*), SUM(s.n - 1), SUM(s.hits), "
    f"SUM(s.miss - s.first_miss), SUM(CASE WHEN s.k IN ({_WIDE}) THEN 0 ELSE 1 END), 0 "
    "FROM ({sums}) s WHERE s.n > 1 GROUP BY s.day"
)
# RANK, not ROW_NUMBER: every prompt tied with the last one listed is listed too, so which
# of them a range's answer shows never depends on the engine's text order.
_DUP_TOP = (
    "INSERT INTO rollup_dup_top (day, prompt_hash, calls, repeat_cost_nanos) "
    "SELECT t.day, t.k, t.n, t.saved FROM (SELECT s.day AS day, s.k AS k, s.n AS n, "
    "s.miss - s.first_miss AS saved, RANK() OVER (PARTITION BY s.day ORDER BY "
    "s.miss - s.first_miss DESC, s.n DESC) AS place FROM ({sums}) s "
    f"WHERE s.n > 1 AND s.k NOT IN ({_WIDE})) t WHERE t.place <= {{top}}"
)
# How many a day lists, and whether that is all its repeated prompts that are not wide
# (both sides of SET read the row as it was).
_LISTED_COUNT = "(SELECT COUNT(*) FROM rollup_dup_top t WHERE t.day = rollup_dup_day.day)"
_LISTED = (
    f"UPDATE rollup_dup_day SET complete = CASE WHEN {_LISTED_COUNT} = listed THEN 1 ELSE 0 "
    f"END, listed = {_LISTED_COUNT} WHERE day >= ? AND day < ?"
)


def recompute_days(db: Database, cur: Cursor, days: Iterable[tuple[int, int]]) -> None:
    """After the copy of these hours was refreshed: the prompts that now fall on several
    days (with their day rows, all of them), then every table's rows of these ranges of
    whole UTC days [start, end)."""
    ranges = list(days)
    if not ranges:
        return
    _newly_wide(db, cur, ranges)
    for start, end in ranges:
        for table in TABLES[:2] + TABLES[3:]:
            cur.execute(db.sql(f"DELETE FROM {table} WHERE day >= ? AND day < ?"), (start, end))
        _fill(db, cur, _IN_DAYS, (start, end), start, end)
    crossed = _crossing(db, cur, ranges)
    first = ranges[0][0] if crossed is None else min(ranges[0][0], crossed)
    cur.execute(db.sql(_RUNNING_SQL.format(where="a.day >= ?")), (first,))


def rebuild(db: Database, cur: Cursor) -> None:
    """Every table again from the whole copy (a first build, a rebuild)."""
    clear(cur)
    cur.execute(
        f"INSERT INTO rollup_prompt_wide (prompt_hash) SELECT c.prompt_hash FROM {COPY} c "
        f"GROUP BY c.prompt_hash HAVING MIN({_DAY}) < MAX({_DAY})"
    )
    _fill(db, cur, _COUNTED, (), None, None)
    cur.execute(_RUNNING_SQL.format(where="1 = 1"))


def _fill(
    db: Database,
    cur: Cursor,
    where: str,
    params: Sequence[int],
    start: int | None,
    end: int | None,
) -> None:
    wide = f"{where} AND c.prompt_hash IN ({_WIDE})"
    cur.execute(db.sql(_DAY_ROWS.format(sums=day_sums_sql(wide, wide=True))), params)
    cur.execute(db.sql(_DAY_TOP.format(copy=COPY, where=wide, evidence=EVIDENCE)), params)
    sums = day_sums_sql(where)
    bulk = start is None
    if bulk:  # every day: the sums once, read twice (a temporary table, dropped below)
        cur.execute(db.sql(f"CREATE TEMPORARY TABLE dup_day_sums AS {sums}"), params)
        sums, params = "SELECT * FROM dup_day_sums", ()
    cur.execute(db.sql(_DUP_DAY.format(sums=sums)), params)
    cur.execute(db.sql(_DUP_TOP.format(sums=sums, top=TOP_PER_DAY)), params)
    if bulk:
        cur.execute("DROP TABLE dup_day_sums")
    span = (start if start is not None else -(2**62), end if end is not None else 2**62)
    cur.execute(db.sql(_LISTED), span)


def _newly_wide(db: Database, cur: Cursor, ranges: Sequence[tuple[int, int]]) -> None:
    """Prompts of these days whose calls now fall on more than one day: listed, and their
    day rows built from every call of theirs."""
    found: list[str] = []
    for start, end in ranges:
        cur.execute(
            db.sql(
                f"SELECT t.prompt_hash FROM {PROMPTS.totals} t WHERE t.prompt_hash IN "
                f"(SELECT r.prompt_hash FROM {PROMPTS.hourly} r WHERE r.hour >= ? AND r.hour < ?) "
                f"AND t.first_at / {DAY_MS} < t.last_at / {DAY_MS} AND t.prompt_hash NOT IN "
                f"({_WIDE})"
            ),
            (start, end),
        )
        found += [r[0] for r in cur.fetchall()]
    for at in range(0, len(found), 500):
        keys = sorted(set(found[at : at + 500]))
        marks = ", ".join("?" * len(keys))
        cur.executemany(
            db.sql("INSERT INTO rollup_prompt_wide (prompt_hash) VALUES (?)"), [(k,) for k in keys]
        )
        # Out of the days' lists, which only ever hold prompts of one day (removing some
        # leaves each list the costliest of the rest).
        cur.execute(
            db.sql(
                "UPDATE rollup_dup_day SET listed = listed - (SELECT COUNT(*) FROM "
                "rollup_dup_top t WHERE t.day = rollup_dup_day.day AND t.prompt_hash IN "
                f"({marks})) WHERE day IN (SELECT t.day FROM rollup_dup_top t WHERE "
                f"t.prompt_hash IN ({marks}))"
            ),
            keys * 2,
        )
        cur.execute(db.sql(f"DELETE FROM rollup_dup_top WHERE prompt_hash IN ({marks})"), keys)
        named = f"{_COUNTED} AND c.prompt_hash IN ({marks})"
        for table in ("rollup_prompt_day", "rollup_prompt_day_top"):
            cur.execute(db.sql(f"DELETE FROM {table} WHERE prompt_hash IN ({marks})"), keys)
        cur.execute(db.sql(_DAY_ROWS.format(sums=day_sums_sql(named, wide=True))), keys)
        cur.execute(db.sql(_DAY_TOP.format(copy=COPY, where=named, evidence=EVIDENCE)), keys)
        cur.execute(db.sql(_RUNNING_SQL.format(where=f"a.prompt_hash IN ({marks})")), keys)


def _crossing(db: Database, cur: Cursor, ranges: Sequence[tuple[int, int]]) -> int | None:
    """Mark the days, outside these ranges, on which a session of these days sent the same
    wide prompt; return the first day marked (None: none)."""
    pairs: set[tuple[str, str]] = set()
    for start, end in ranges:
        cur.execute(
            db.sql(
                f"SELECT DISTINCT c.prompt_hash, c.session_id FROM {COPY} c WHERE {_IN_DAYS} "
                f"AND c.session_id IS NOT NULL AND c.prompt_hash IN ({_WIDE}) "
                f"AND ({_ELSEWHERE})"
            ),
            (start, end),
        )
        pairs.update((r[0], r[1]) for r in cur.fetchall())
    first: int | None = None
    for prompt, session in sorted(pairs):
        cur.execute(
            db.sql(
                "UPDATE rollup_prompt_day SET crossing = 1 WHERE prompt_hash = ? AND day IN "
                f"(SELECT DISTINCT {_DAY} FROM {COPY} c WHERE c.prompt_hash = ? AND "
                f"c.session_id = ? AND {_COUNTED})"
            ),
            (prompt, prompt, session),
        )
        cur.execute(
            db.sql(
                f"SELECT MIN({_DAY}) FROM {COPY} c WHERE c.prompt_hash = ? AND "
                f"c.session_id = ? AND {_COUNTED}"
            ),
            (prompt, session),
        )
        day = int(cur.fetchone()[0])
        first = day if first is None else min(first, day)
    return first


def clear(cur: Cursor) -> None:
    for table in TABLES:
        cur.execute(f"DELETE FROM {table}")
