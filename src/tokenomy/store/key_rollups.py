"""Per-session, per-prompt and per-prefix rollups, for the ranked lists
(``api/threshold.py``) and poor cache reuse (``api/reuse.py``).

Top sessions and top prompts group calls by a key with about as many values as there are
calls, which the hourly rollups cannot hold. Three tables per key (schema.py):

- ``rollup_<kind>_hour``: the sums of each key's calls in each UTC hour, recomputed from the
  calls with the hour (the same dirty-hour marks as ``rollups.py``). Clustered by hour, so a
  refresh appends; and a record of what each hour contributed, so a refresh can take the old
  contribution away, even from a key a replaced call has left.
- ``rollup_<kind>``: per key, the sums over all its hours, indexed by ``cost_bound`` so the
  most expensive groups come first. A refresh adds the difference between an hour's new and
  old rows (one upsert per key it touched), so a prompt sent every day for months is not
  summed again from its thousands of calls each hour.
- ``rollup_<kind>_calls``: a copy of the calls of *heavy* keys, clustered by key and time.
  A ranked list reads every call of the groups it returns (distinct sessions, models, the
  most expensive calls); for a prompt sent ten thousand times a month that is ten thousand
  random reads of the calls table (about 70 ms a pass on SQLite), and one short sweep here.
  Heavy: ``HEAVY_CALLS`` calls or more; and for prompts and prefixes, which the calls table
  has no index for (one on a random hash would halve the import rate), any whose calls are
  not all at one instant; for prompts, any sent twice (the duplicate prompts of
  dup_rollups.py are read from their copy). A light prompt's calls are then found by the
  time index alone (almost all prompts are sent once). A refresh replaces the copied calls
  of the hours it recomputes; a key that becomes heavy has all its calls copied; heavy stays
  heavy.

Exact where it matters: ``calls``, ``cost_nanos``, ``cost_bound`` and the copy are kept
exactly. The rest only ever errs on the safe side: ``first_at``/``last_at`` may be wider than
the key's calls and a dimension may read as mixed when it is not (both only after a call left
the key through a replacement), and the reader treats them as bounds.

Bulk: when a per-key table is empty (a first build, a rebuild), a refresh does not add
differences to it chunk by chunk but sums it from the hour rows once, in key order, in the
transaction of its last chunk (and copies the heavy keys' calls then): adding millions of
keys one upsert at a time into a table ordered by a random key would rewrite most of its
pages for every chunk of hours. An import of many hours into a database that already has
rows takes the upsert path: correct, slower.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from tokenomy.store.db import Cursor, Database
from tokenomy.store.schema import GROUP_CALL_COLUMNS, GROUP_DIMS, PROMPT_DIMS, REUSE_SUMS

# From this many calls a key's calls are copied (rollup_<kind>_calls): reading fewer from
# the calls table costs at most a few milliseconds per group.
HEAVY_CALLS = 64


@dataclass(frozen=True, slots=True)
class Grouping:
    """One kind of key: its column in ``calls``, the dimensions its rollups keep, whether
    ``calls`` has an index by it (else a light key's calls must all be at one instant, its
    ``first_at``), whether its sums hold ``REUSE_SUMS`` (poor cache reuse), from how many
    calls a key is heavy (None: ``HEAVY_CALLS``), and its tables."""

    kind: str
    column: str
    dims: tuple[str, ...]
    indexed: bool
    reuse: bool = False
    heavy_calls: int | None = None

    @property
    def hourly(self) -> str:
        return f"rollup_{self.kind}_hour"

    @property
    def totals(self) -> str:
        return f"rollup_{self.kind}"

    @property
    def copy(self) -> str:
        return f"rollup_{self.kind}_calls"

    @property
    def cost_index(self) -> str:
        """The index the ranked lists walk (as migration m005 creates it)."""
        return (
            f"CREATE INDEX ix_rollup_{self.kind}_cost ON {self.totals} (cost_bound, {self.column})"
        )

    @property
    def reuse_indexes(self) -> dict[str, str]:
        """The indexes the poor-reuse walk reads (as migration m007 creates them)."""
        if not self.reuse:
            return {}
        name = f"ix_rollup_{self.kind}_reuse"
        return {
            name: f"CREATE INDEX {name} ON {self.totals} "
            f"(provider, model, input_tokens, {self.column})",
            f"{name}_mixed": f"CREATE INDEX {name}_mixed ON {self.totals} "
            f"(input_tokens, {self.column}) WHERE (mixed & {REUSE_MIXED}) <> 0",
        }


SESSIONS = Grouping("session", "session_id", GROUP_DIMS, indexed=True, reuse=True)
# Every prompt sent more than once is heavy: duplicate prompts (dup_rollups.py) are read
# from the copy of their calls.
PROMPTS = Grouping("prompt", "prompt_hash", PROMPT_DIMS, indexed=False, heavy_calls=2)
PREFIXES = Grouping("prefix", "prefix_hash", GROUP_DIMS, indexed=False, reuse=True)
GROUPINGS = (SESSIONS, PROMPTS, PREFIXES)

# Each dimension of GROUP_DIMS as SQL over ``calls c``: raw values, NULL kept.
CALL_DIMS: dict[str, str] = {
    "source": "c.source",
    "provider": "c.provider",
    "model": "COALESCE(c.response_model, c.request_model)",
    "project": "c.project",
    "user": 'c."user"',
    "api_key_id": "c.api_key_id",
    "org": "c.org",
    "status": "c.status",
}
assert tuple(CALL_DIMS) == GROUP_DIMS
MIXED_BIT: dict[str, int] = {d: 1 << i for i, d in enumerate(GROUP_DIMS)}
# A key whose calls mix providers or models: what it could save is bounded with the
# dearest model's rates (api/reuse.py).
REUSE_MIXED = MIXED_BIT["provider"] | MIXED_BIT["model"]
# REUSE_SUMS as SQL over ``calls c``.
REUSE_SQL: dict[str, str] = {
    "input_tokens": "c.input_tokens",
    "cache_read_tokens": "c.cache_read_tokens",
    "prompt_tokens": "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens "
    "+ c.cache_write_1h_tokens",
}
assert tuple(REUSE_SQL) == REUSE_SUMS
_HOUR_MS = 3_600_000
_COPIED = ", ".join(f'"{c}"' for c in GROUP_CALL_COLUMNS)

_COPIED_FROM = ", ".join(f'c."{c}"' for c in GROUP_CALL_COLUMNS)


def _q(name: str) -> str:
    return f'"{name}"'


def _in_key_order(g: Grouping) -> str:
    """Copies are inserted in key order: PostgreSQL keeps rows where they were inserted,
    so a group's calls then share pages (SQLite's tables are clustered by key anyway)."""
    return f" ORDER BY c.{g.column}, c.started_at"


def _heavy(g: Grouping, calls: str, first: str, last: str) -> str:
    """SQL: whether a key with these calls, first and last call is heavy."""
    spread = "" if g.indexed else f" OR {last} > {first}"
    return f"({calls} >= {g.heavy_calls or HEAVY_CALLS}{spread})"


def _reuse(g: Grouping) -> tuple[str, ...]:
    return REUSE_SUMS if g.reuse else ()


def _sums(g: Grouping) -> str:
    return "calls, cost_nanos, cost_bound, first_at, last_at, mixed, " + ", ".join(
        [_q(d) for d in g.dims] + list(_reuse(g))
    )


def _differ(values: str, bit: int) -> str:
    """``bit`` if the grouped rows' ``values`` are not all equal (NULL counts as a value)."""
    return (
        f"CASE WHEN MIN({values}) <> MAX({values}) OR COUNT({values}) NOT IN (0, COUNT(*)) "
        f"THEN {bit} ELSE 0 END"
    )


def _hour_sql(g: Grouping) -> str:
    """The hour rows of a range of hours, from its calls."""
    columns, select = hour_into(g)
    return f"INSERT INTO {g.hourly} ({columns}) {select}"


def hour_into(g: Grouping) -> tuple[str, str]:
    """The columns of ``g``'s hour rows, and the SELECT of them from the calls of a range
    of hours (also grouped outside the write lock: rollup_stage.py)."""
    hour = f"(c.started_at / {_HOUR_MS}) * {_HOUR_MS}"
    mixed = " + ".join(_differ(CALL_DIMS[d], MIXED_BIT[d]) for d in g.dims)
    return (
        f"hour, {g.column}, {_sums(g)}",
        f"SELECT {hour}, c.{g.column}, COUNT(*), COALESCE(SUM(c.cost_nanos), 0), "
        "COALESCE(SUM(CASE WHEN c.cost_nanos > 0 THEN c.cost_nanos ELSE 0 END), 0), "
        f"MIN(c.started_at), MAX(c.started_at), {mixed}, "
        + ", ".join(
            [f"MIN({CALL_DIMS[d]})" for d in g.dims] + [f"SUM({REUSE_SQL[n]})" for n in _reuse(g)]
        )
        + f" FROM calls c WHERE c.started_at >= ? AND c.started_at < ? AND c.{g.column} IS NOT NULL"
        f" GROUP BY {hour}, c.{g.column}",
    )


def _summed(g: Grouping, where: str, heavy: str) -> str:
    """Hour rows summed per key (then ``heavy``): a row is mixed where any of its hours
    is, or where its hours disagree."""
    mixed = " + ".join(
        f"(MAX(r.mixed & {MIXED_BIT[d]}) | {_differ(f'r.{_q(d)}', MIXED_BIT[d])})" for d in g.dims
    )
    return (
        f"SELECT r.{g.column}, SUM(r.calls), SUM(r.cost_nanos), SUM(r.cost_bound), "
        f"MIN(r.first_at), MAX(r.last_at), {mixed}, "
        + ", ".join([f"MIN(r.{_q(d)})" for d in g.dims] + [f"SUM(r.{n})" for n in _reuse(g)])
        + f", {heavy} FROM {g.hourly} r{where} GROUP BY r.{g.column}"
    )


def _added_sql(g: Grouping) -> str:
    """Add the hour rows of a range of hours to the per-key rows. A key whose calls were
    all in these hours (its count fell to 0 when their old rows were taken away) takes the
    new values as they are; any other widens its span and merges its dimensions. Whether
    it is heavy is left to ``_heavier`` and ``_flag_heavy``."""
    t = g.totals

    def fresh_or(expr: str, name: str) -> str:
        return f"CASE WHEN {t}.calls = 0 THEN excluded.{name} ELSE {expr} END"

    def wider(name: str, op: str) -> str:
        return f"CASE WHEN excluded.{name} {op} {t}.{name} THEN excluded.{name} ELSE {t}.{name} END"

    differ = " + ".join(
        f"CASE WHEN {t}.{_q(d)} = excluded.{_q(d)} OR ({t}.{_q(d)} IS NULL AND "
        f"excluded.{_q(d)} IS NULL) THEN 0 ELSE {MIXED_BIT[d]} END"
        for d in g.dims
    )
    sets = [
        *(f"{m} = {t}.{m} + excluded.{m}" for m in _exact(g)),
        f"first_at = {fresh_or(wider('first_at', '<'), 'first_at')}",
        f"last_at = {fresh_or(wider('last_at', '>'), 'last_at')}",
        f"mixed = {fresh_or(f'({t}.mixed | excluded.mixed | ({differ}))', 'mixed')}",
        *(f"{_q(d)} = {fresh_or(f'{t}.{_q(d)}', _q(d))}" for d in g.dims),
    ]
    return (
        f"INSERT INTO {t} ({g.column}, {_sums(g)}, heavy) "
        # New keys start light: _flag_heavy marks those that are not.
        + _summed(g, " WHERE r.hour >= ? AND r.hour < ?", "0")
        + f" ON CONFLICT ({g.column}) DO UPDATE SET "
        + ", ".join(sets)
    )


def _exact(g: Grouping) -> tuple[str, ...]:
    """The per-key sums kept exactly (moved by differences)."""
    return ("calls", "cost_nanos", "cost_bound", *_reuse(g))


def _taken_sql(g: Grouping) -> str:
    """Take the hour rows of a range of hours away from the per-key rows (before those
    hours are recomputed): only the exact sums change."""
    t = g.totals
    exact = _exact(g)
    return (
        f"INSERT INTO {t} ({g.column}, {', '.join(exact)}, first_at, last_at, mixed, heavy) "
        f"SELECT r.{g.column}, {', '.join(f'-SUM(r.{m})' for m in exact)}, "
        f"MIN(r.first_at), MAX(r.last_at), 0, 0 FROM {g.hourly} r "
        f"WHERE r.hour >= ? AND r.hour < ? GROUP BY r.{g.column} "
        f"ON CONFLICT ({g.column}) DO UPDATE SET "
        + ", ".join(f"{m} = {t}.{m} + excluded.{m}" for m in exact)
    )


def _heavier(db: Database, cur: Cursor, g: Grouping, start: int, end: int) -> None:
    """Copy the calls outside [start, end) of the light keys the new hour rows of those
    hours make heavy, before those rows are added to the per-key rows: a light key's
    calls are then all found by its index, or for a grouping without one at its
    ``first_at`` (the calls inside, with every heavy key's, by ``_copy_hours``)."""
    t = g.totals
    new = (
        f"SELECT r.{g.column} AS k, SUM(r.calls) AS n, MIN(r.first_at) AS f, "
        f"MAX(r.last_at) AS l FROM {g.hourly} r WHERE r.hour >= ? AND r.hour < ? "
        f"GROUP BY r.{g.column}"
    )
    merged = _heavy(
        g,
        f"{t}.calls + r.n",
        f"CASE WHEN r.f < {t}.first_at THEN r.f ELSE {t}.first_at END",
        f"CASE WHEN r.l > {t}.last_at THEN r.l ELSE {t}.last_at END",
    )
    where = "" if g.indexed else f" AND c.started_at = {t}.first_at"
    cur.execute(
        db.sql(
            f"INSERT INTO {g.copy} ({_COPIED}) SELECT {_COPIED_FROM} FROM ({new}) r "
            f"JOIN {t} ON {t}.{g.column} = r.k "
            f"JOIN calls c ON c.{g.column} = {t}.{g.column}{where} "
            f"WHERE {t}.heavy = 0 AND {t}.calls > 0 AND {merged} "
            f"AND (c.started_at < ? OR c.started_at >= ?){_in_key_order(g)}"
        ),
        (start, end, start, end),
    )


def _flag_heavy(db: Database, cur: Cursor, g: Grouping, start: int, end: int) -> None:
    """Mark the keys of [start, end) that are heavy now (after ``_heavier`` copied their
    older calls)."""
    cur.execute(
        db.sql(
            f"UPDATE {g.totals} SET heavy = 1 WHERE heavy = 0 AND "
            f"{_heavy(g, 'calls', 'first_at', 'last_at')} AND {g.column} IN "
            f"(SELECT r.{g.column} FROM {g.hourly} r WHERE r.hour >= ? AND r.hour < ?)"
        ),
        (start, end),
    )


def _copy_hours(db: Database, cur: Cursor, g: Grouping, start: int, end: int) -> None:
    """The copied calls of [start, end): those of the keys that are heavy now."""
    cur.execute(
        db.sql(f"DELETE FROM {g.copy} WHERE started_at >= ? AND started_at < ?"), (start, end)
    )
    cur.execute(
        db.sql(
            f"INSERT INTO {g.copy} ({_COPIED}) SELECT {_COPIED_FROM} FROM calls c "
            f"JOIN {g.totals} t ON t.{g.column} = c.{g.column} "
            f"WHERE c.started_at >= ? AND c.started_at < ? AND t.heavy = 1{_in_key_order(g)}"
        ),
        (start, end),
    )


def recompute_hours(
    db: Database,
    cur: Cursor,
    start: int,
    end: int,
    bulk: Collection[Grouping],
    *,
    staged: bool = False,
) -> None:
    """Recompute the hour rows of [start, end) from the calls, and move the per-key rows
    by the difference and the copied calls with them (except for the groupings in
    ``bulk``: rebuilt at the end). ``staged``: the new hour rows of the groupings in
    ``bulk`` were grouped outside the write (rollup_stage.py) and are copied in by the
    caller; here their old ones are only deleted."""
    for g in GROUPINGS:
        if g not in bulk:
            cur.execute(db.sql(_taken_sql(g)), (start, end))
        cur.execute(db.sql(f"DELETE FROM {g.hourly} WHERE hour >= ? AND hour < ?"), (start, end))
        if not (staged and g in bulk):
            cur.execute(db.sql(_hour_sql(g)), (start, end))
        if g not in bulk:
            _heavier(db, cur, g, start, end)
            cur.execute(db.sql(_added_sql(g)), (start, end))
            _flag_heavy(db, cur, g, start, end)
            _copy_hours(db, cur, g, start, end)


def empty_totals(db: Database) -> frozenset[Grouping]:
    """The groupings whose per-key table is empty: a first build or a rebuild (or none of
    the calls has such a key), which a refresh sums from the hour rows at its end.

    Nothing else ever empties them, and they are filled in the transaction that removes
    the last marks of such a refresh: empty with no marks left means no call has the key.
    """
    return frozenset(g for g in GROUPINGS if not db.query(f"SELECT 1 FROM {g.totals} LIMIT 1"))


def rebuild_totals(db: Database, cur: Cursor, groupings: Collection[Grouping]) -> None:
    """The per-key rows summed again from every hour row, in key order, and the calls of
    the heavy keys copied again."""
    for g in groupings:
        # Filled without its indexes, which are then built in one sorted pass: inserting
        # millions of keys into one in cost order, not key order, took three times as long.
        cur.execute(f"DROP INDEX ix_rollup_{g.kind}_cost")
        for name in g.reuse_indexes:
            cur.execute(f"DROP INDEX {name}")
        cur.execute(f"DELETE FROM {g.totals}")
        # PostgreSQL: the key's own index too (a million prompts: 2.6 s to fill the table
        # without it and 1.0 - 1.5 s to build it, against 7.6 - 8.7 s with it). SQLite's
        # tables are clustered by the key (WITHOUT ROWID): there is no index to drop.
        key = f"pk_{g.totals}"
        if db.dialect == "postgresql":
            cur.execute(f"ALTER TABLE {g.totals} DROP CONSTRAINT {key}")
        heavy = (
            f"CASE WHEN {_heavy(g, 'SUM(r.calls)', 'MIN(r.first_at)', 'MAX(r.last_at)')} "
            "THEN 1 ELSE 0 END"
        )
        cur.execute(
            f"INSERT INTO {g.totals} ({g.column}, {_sums(g)}, heavy) " + _summed(g, "", heavy)
        )
        if db.dialect == "postgresql":
            cur.execute(f"ALTER TABLE {g.totals} ADD CONSTRAINT {key} PRIMARY KEY ({g.column})")
        cur.execute(g.cost_index)
        for create in g.reuse_indexes.values():
            cur.execute(create)
        cur.execute(f"DELETE FROM {g.copy}")
        cur.execute(f"SELECT 1 FROM {g.totals} WHERE heavy = 1 LIMIT 1")
        if cur.fetchone() is not None:  # else no need to read every call
            cur.execute(
                f"INSERT INTO {g.copy} ({_COPIED}) SELECT {_COPIED_FROM} FROM calls c WHERE "
                f"c.{g.column} IN (SELECT t.{g.column} FROM {g.totals} t WHERE t.heavy = 1)"
                + _in_key_order(g)
            )


def clear(cur: Cursor) -> None:
    for g in GROUPINGS:
        for table in (g.hourly, g.totals, g.copy):
            cur.execute(f"DELETE FROM {table}")
