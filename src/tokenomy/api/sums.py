"""Where an analytics query reads its sums.

A range is cut into the pieces each rollup can answer, coarsest first: whole UTC days from
``rollup_day_lean``, the whole hours left at the edges from ``rollup_hour_lean`` (or
``rollup_day`` and ``rollup_hour`` when the question is about people: user, key, org),
and the minutes left
from the calls themselves (an indexed read of at most two partial hours). All pieces are
added up in one statement. A rollup is skipped when it cannot answer: a filter or grouping
on session or tool (kept only in calls), or time buckets that its grain does not divide
(minutes; local days in a zone whose offset is not whole days for ``rollup_day``, not
whole hours for the hourly ones).

Grouping keys are SQL for both sides (:class:`Key`); a dimension with no value is '' on
both (the rollups' convention) and :func:`value` turns it back into None.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.query import offset_periods, offset_sql
from tokenomy.api.params import DIMENSIONS, Scope
from tokenomy.store import rollups
from tokenomy.store.db import Database
from tokenomy.store.rollups import DAY_MS, HOUR_MS, RAW_DIMS, RAW_MEASURES
from tokenomy.store.schema import LEAN_DIMS, ROLLUP_DIMS

# API dimension -> rollup column, for the dimensions the rollups keep.
_COLUMN_OF = {"key": "api_key_id"}
ROLLUP_COLUMNS: dict[str, str] = {
    name: f'r."{_COLUMN_OF.get(name, name)}"'
    for name in ("project", "model", "provider", "user", "key", "source", "status", "org")
}
_TIME = "{time}"  # the rollup's time column, filled in per rollup


@dataclass(frozen=True, slots=True)
class Key:
    """A grouping key (or condition): SQL over a rollup ``r`` (None: rollups cannot give
    it; ``{time}`` stands for its time column) and over ``calls c``. ``columns`` are the
    rollup dimensions it reads; ``divisor`` is a length of time every rollup grain used
    must divide (0: any); ``at`` gives the key of an instant (ms), for time buckets, so
    hours a coarser rollup places in the wrong bucket can be found and moved."""

    rollup: str | None
    raw: str
    columns: frozenset[str] = field(default_factory=frozenset)
    divisor: int = 0
    at: Callable[[int], int] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Rollup:
    """A rollup table; with ``moved_from`` (a coarser grain), the hours this (hourly)
    rollup reads are those a rollup of that grain placed in another bucket than their
    own (see the module docstring)."""

    table: str
    time: str
    grain: int
    columns: frozenset[str]
    moved_from: int = 0


ROLLUPS = (  # coarsest first; of two with one grain, the smaller first
    Rollup("rollup_day_lean", "day", DAY_MS, frozenset(LEAN_DIMS)),
    Rollup("rollup_day", "day", DAY_MS, frozenset(ROLLUP_DIMS)),
    Rollup("rollup_hour_lean", "hour", HOUR_MS, frozenset(LEAN_DIMS)),
    Rollup("rollup_hour", "hour", HOUR_MS, frozenset(ROLLUP_DIMS)),
)


def dimension(name: str) -> Key:
    """The key of an API dimension (project, model, ..., session)."""
    if name in ROLLUP_COLUMNS:
        column = _COLUMN_OF.get(name, name)
        return Key(ROLLUP_COLUMNS[name], RAW_DIMS[column], frozenset({column}))
    return Key(None, f"COALESCE({DIMENSIONS[name]}, '')")


def condition(rollup_sql: str, raw_sql: str, *columns: str) -> Key:
    return Key(rollup_sql, raw_sql, frozenset(columns))


def bucket(scope: Scope, step_ms: int, start_ms: int, end_ms: int) -> Key:
    """The local time bucket (number of ``step_ms`` since the local epoch) of a row: a
    rollup can give it if its grain divides the step and every offset of the zone (and
    the daily rollups with hours moved, if the hourly ones can)."""
    periods = offset_periods(scope.tz, start_ms, end_ms)
    starts = [since for since, _ in periods]

    def at(ms: int) -> int:  # the SQL below, in Python: the offset in force at ``ms``
        offset = periods[max(0, bisect.bisect_right(starts, ms) - 1)][1]
        return (ms + offset) // step_ms

    raw = f"(c.started_at + {offset_sql(scope.tz, start_ms, end_ms)}) / {step_ms}"
    rolled = f"({_TIME} + {offset_sql(scope.tz, start_ms, end_ms, _TIME)}) / {step_ms}"
    return Key(rolled, raw, divisor=math.gcd(step_ms, *(off for _, off in periods)), at=at)


@dataclass(frozen=True, slots=True)
class Clock:
    """Buckets of ``step_ms`` that are real stretches of time: each starts where the local
    clock reaches a multiple of the step, or where the zone's offset changes. When clocks
    go back, the repeated hour is two buckets (one per offset); when they go forward, the
    hour they skip has none. A bucket is named by the instant it starts (UTC ms).

    ``periods`` are the zone's (from_ms, offset_ms) from a little before the range (see
    :meth:`of`), so a change just before its start still cuts the first bucket."""

    step: int
    periods: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, scope: Scope, step_ms: int, start_ms: int, end_ms: int) -> Clock:
        # From a UTC hour a step before the start: offset_periods reads the offset at
        # whole hours, and a bucket holding the start begins at most a step before it.
        since = (start_ms - step_ms) // HOUR_MS * HOUR_MS
        return cls(step_ms, tuple(offset_periods(scope.tz, since, end_ms)))

    def start_of(self, ms: int) -> int:
        """The start of the bucket holding ``ms`` (the SQL of :meth:`sql`, in Python)."""
        i = max(0, bisect.bisect_right([since for since, _ in self.periods], ms) - 1)
        since, offset = self.periods[i]
        nominal = (ms + offset) // self.step * self.step - offset
        return max(since, nominal) if i else nominal

    def count(self, start_ms: int, end_ms: int) -> int:
        """How many buckets meet [start, end)."""
        return sum(last - first + 1 for _, _, first, last in self._pieces(start_ms, end_ms))

    def starts(self, start_ms: int, end_ms: int) -> list[int]:
        """The start of every bucket that meets [start, end), in order."""
        return [
            max(floor, n * self.step - offset)
            for floor, offset, first, last in self._pieces(start_ms, end_ms)
            for n in range(first, last + 1)
        ]

    def _pieces(self, start_ms: int, end_ms: int) -> list[tuple[int, int, int, int]]:
        """Per offset period in [start, end): where its buckets may start at the earliest
        (the change, or no bound for the first), its offset and its first and last local
        bucket numbers."""
        pieces = []
        for i, (since, offset) in enumerate(self.periods):
            until = self.periods[i + 1][0] if i + 1 < len(self.periods) else end_ms
            low, high = max(since, start_ms), min(until, end_ms)
            if low < high:
                floor = since if i else -(2**63)
                first, last = (low + offset) // self.step, (high - 1 + offset) // self.step
                pieces.append((floor, offset, first, last))
        return pieces

    def sql(self, column: str) -> str:
        """SQL for the start of the bucket holding ``column`` (a time in ms)."""
        whens: list[tuple[int | None, str]] = []
        for i, (since, offset) in enumerate(self.periods):
            until = self.periods[i + 1][0] if i + 1 < len(self.periods) else None
            aligned = since + (-(since + offset)) % self.step
            if i and aligned > since:  # the change falls inside a local bucket: cut there
                whens.append((aligned if until is None else min(aligned, until), str(since)))
            whens.append((until, f"({column} + {offset}) / {self.step} * {self.step} - {offset}"))
        if len(whens) == 1:
            return whens[0][1]
        cases = " ".join(f"WHEN {column} < {until} THEN {sql}" for until, sql in whens[:-1])
        return f"CASE {cases} ELSE {whens[-1][1]} END"

    def key(self) -> Key:
        """A row's bucket as a grouping key: a rollup can give it if its grain divides the
        step, every offset and every change (each of its rows then lies in one bucket)."""
        changes = [since for since, _ in self.periods[1:]]
        divisor = math.gcd(self.step, *(off for _, off in self.periods), *changes)
        return Key(self.sql(_TIME), self.sql("c.started_at"), divisor=divisor, at=self.start_of)


def utc_day() -> Key:
    return Key(f"{_TIME} / {DAY_MS}", f"c.started_at / {DAY_MS}", divisor=DAY_MS)


def stored_hours(db: Database) -> tuple[int, int] | None:
    """The first and last UTC hour (ms) that hold calls, from the lean hourly rollup: two
    lookups at the ends of its key (one SELECT of both MIN and MAX scans it instead)."""
    low, high = db.query(
        "SELECT (SELECT MIN(hour) FROM rollup_hour_lean), (SELECT MAX(hour) FROM rollup_hour_lean)"
    )[0]
    return None if low is None else (int(low), int(high))


def value(key: Any) -> Any:
    """A dimension value as read back: '' (no value) is None."""
    return None if key == "" else key


Range = tuple[int | None, int | None]


def plan(
    scope: Scope, keys: Sequence[Key], where: Key | None = None
) -> list[tuple[Rollup | None, list[Range]]]:
    """Which rollup (None: the calls) answers which ranges of the scope."""
    needs = [*keys, *([where] if where is not None else [])]
    usable = [
        r
        for r in ROLLUPS
        if all(k.rollup is not None for k in needs)
        and all(k.columns <= r.columns for k in needs)
        and all(f in ROLLUP_COLUMNS and _COLUMN_OF.get(f, f) in r.columns for f in scope.filters)
        and (all(k.divisor % r.grain == 0 for k in needs) or _movable(r, needs, scope))
    ]
    # Of two rollups with one grain, only the first usable (the leaner) is needed.
    tiers: list[Rollup] = []
    for r in usable:
        if not tiers or tiers[-1].grain != r.grain:
            tiers.append(r)
    pieces: dict[Rollup | None, list[Range]] = {}
    _split(scope.start_ms, scope.end_ms, tiers, pieces)
    for coarse in tiers:
        if any(k.divisor % coarse.grain for k in needs):
            _move_hours(coarse, pieces, tiers, needs)
    return list(pieces.items())


def _movable(rollup: Rollup, needs: Sequence[Key], scope: Scope) -> bool:
    """Whether a daily rollup can answer keys its grain does not divide, by moving hours:
    each such key must be a time bucket that whole hours divide, over a bounded range."""
    return (
        rollup.grain == DAY_MS
        and scope.start_ms is not None
        and scope.end_ms is not None
        and all(k.divisor % rollup.grain == 0 or (k.at and k.divisor % HOUR_MS == 0) for k in needs)
    )


def _move_hours(
    coarse: Rollup,
    pieces: dict[Rollup | None, list[Range]],
    tiers: Sequence[Rollup],
    needs: Sequence[Key],
) -> None:
    """Add the piece that moves the hours ``coarse`` places in another bucket than their
    own, read from the hourly tier: a row counts in the bucket of its period's middle."""
    movers = [k.at for k in needs if k.divisor % coarse.grain and k.at is not None]
    hourly = next(r for r in tiers if r.grain == HOUR_MS)
    hours: list[Range] = []
    for start, end in pieces.get(coarse, []):
        assert start is not None and end is not None  # _movable: the range is bounded
        for day in range(start, end, coarse.grain):
            middle = day + coarse.grain // 2
            for hour in range(day, day + coarse.grain, HOUR_MS):
                if any(at(hour) != at(middle) for at in movers):
                    hours.append((hour, hour + HOUR_MS))
    if hours:
        moved = Rollup(hourly.table, hourly.time, hourly.grain, hourly.columns, coarse.grain)
        pieces[moved] = hours


def _split(
    start: int | None,
    end: int | None,
    tiers: Sequence[Rollup],
    pieces: dict[Rollup | None, list[Range]],
) -> None:
    if not tiers:
        pieces.setdefault(None, []).append((start, end))
        return
    grain = tiers[0].grain
    first = None if start is None else -(-start // grain) * grain
    last = None if end is None else end // grain * grain
    if first is not None and last is not None and first >= last:
        _split(start, end, tiers[1:], pieces)
        return
    pieces.setdefault(tiers[0], []).append((first, last))
    if start is not None and first is not None and start < first:
        _split(start, first, tiers[1:], pieces)
    if end is not None and last is not None and last < end:
        _split(last, end, tiers[1:], pieces)


def sums(
    db: Database,
    scope: Scope,
    keys: Sequence[Key],
    measures: Sequence[str],
    where: Key | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of (keys..., measures...) summed over the scope's calls, grouped by ``keys``.

    ``measures`` are names of rollup measures (store.rollups.RAW_MEASURES); ``where`` is an
    extra condition on both sides. Sums over no rows are 0."""
    pieces = plan(scope, keys, where)
    if any(r is not None for r, _ in pieces) and rollups.has_pending(db):
        rollups.refresh(db)
    branches = [
        branch
        for r, ranges in pieces
        for branch in (
            [_raw_branch(scope, keys, measures, where, ranges)]
            if r is None
            else _rollup_branches(r, scope, keys, measures, where, ranges)
        )
    ]
    if len(branches) == 1:
        sql, params = branches[0]
    else:
        names = [f"u.k{i}" for i in range(len(keys))]
        outer = [*names, *(f"SUM(u.m{i})" for i in range(len(measures)))]
        sql = (
            f"SELECT {', '.join(outer)} FROM ("
            + " UNION ALL ".join(b[0] for b in branches)
            + ") u"
            + (f" GROUP BY {', '.join(names)}" if names else "")
        )
        params = [p for b in branches for p in b[1]]
    n = len(keys)
    return [(*row[:n], *(int(v or 0) for v in row[n:])) for row in db.query(sql, params)]


def _select(keys: Sequence[str], measures: Sequence[str]) -> str:
    return ", ".join(
        [
            *(f"{k} AS k{i}" for i, k in enumerate(keys)),
            *(f"{m} AS m{i}" for i, m in enumerate(measures)),
        ]
    )


def _spans(column: str, ranges: Sequence[Range]) -> tuple[str | None, list[Any]]:
    """The ranges as one condition on ``column`` (None: unbounded)."""
    spans: list[str] = []
    params: list[Any] = []
    for start, end in ranges:
        bounds = []
        if start is not None:
            bounds.append(f"{column} >= ?")
            params.append(start)
        if end is not None:
            bounds.append(f"{column} < ?")
            params.append(end)
        if not bounds:
            return None, []
        spans.append(" AND ".join(bounds))
    text = spans[0] if len(spans) == 1 else "(" + " OR ".join(f"({s})" for s in spans) + ")"
    return text, params


def _branch(
    table: str,
    cols: Sequence[str],
    measures: Sequence[str],
    parts: list[str],
    params: list[Any],
    span: tuple[str | None, list[Any]],
) -> tuple[str, list[Any]]:
    if span[0] is not None:
        parts.insert(0, span[0])
        params = span[1] + params
    sql = f"SELECT {_select(cols, measures)} FROM {table}"
    if parts:
        sql += " WHERE " + " AND ".join(parts)
    if cols:
        sql += " GROUP BY " + ", ".join(cols)
    return sql, params


def _rollup_branches(
    rollup: Rollup,
    scope: Scope,
    keys: Sequence[Key],
    measures: Sequence[str],
    where: Key | None,
    ranges: Sequence[Range],
) -> list[tuple[str, list[Any]]]:
    """The SELECTs that read ``ranges`` of a rollup: one, or for moved hours two (added
    where they belong, subtracted where their day's row put them)."""
    time = f"r.{rollup.time}"
    if not rollup.moved_from:
        span = _spans(time, ranges)
        # Keys read at the middle of the row's period (see the module docstring).
        middle = f"({time} + {rollup.grain // 2})"
        return [_rollup_select(rollup, scope, keys, measures, where, middle, "", span)]
    hours = [start for start, _ in ranges]
    span = (f"{time} IN ({', '.join('?' * len(hours))})", hours)
    own = f"({time} + {rollup.grain // 2})"
    day = rollup.moved_from
    their_day = f"({time} / {day} * {day} + {day // 2})"
    return [
        _rollup_select(rollup, scope, keys, measures, where, own, "", span),
        _rollup_select(rollup, scope, keys, measures, where, their_day, "-", span),
    ]


def _rollup_select(
    rollup: Rollup,
    scope: Scope,
    keys: Sequence[Key],
    measures: Sequence[str],
    where: Key | None,
    place: str,
    sign: str,
    span: tuple[str | None, list[Any]],
) -> tuple[str, list[Any]]:
    parts, params = scope.conditions(ROLLUP_COLUMNS)
    if where is not None and where.rollup is not None:
        parts.append(where.rollup.replace(_TIME, place))
    cols = [(k.rollup or "").replace(_TIME, place) for k in keys]
    sums = [f"{sign}SUM(r.{m})" for m in measures]
    return _branch(f"{rollup.table} r", cols, sums, parts, params, span)


def _raw_branch(
    scope: Scope,
    keys: Sequence[Key],
    measures: Sequence[str],
    where: Key | None,
    ranges: Sequence[Range],
) -> tuple[str, list[Any]]:
    parts, params = scope.conditions(DIMENSIONS)
    if where is not None:
        parts.append(where.raw)
    cols = [k.raw for k in keys]
    aggregates = [RAW_MEASURES[m] for m in measures]
    return _branch("calls c", cols, aggregates, parts, params, _spans("c.started_at", ranges))
