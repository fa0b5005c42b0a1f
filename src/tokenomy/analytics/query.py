"""Filtered, grouped sums over the call store, in one SQL query per report.

Time is grouped in 15-minute UTC buckets, the finest granularity of any real UTC offset
(e.g. +05:45), so buckets map exactly onto local days in any time zone, DST included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tokenomy.store.db import Database

BUCKET_MS = 15 * 60 * 1000

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)

MODEL_SQL = "COALESCE(c.response_model, c.request_model)"

# Dimensions a report may group or filter by, as SQL over ``calls c``.
DIMENSIONS: dict[str, str] = {
    "project": "c.project",
    "model": MODEL_SQL,
    "provider": "c.provider",
    "source": "c.source",
    "session": "c.session_id",
    "user": 'c."user"',
    "status": "c.status",
}

_MEASURES = (
    "COUNT(*), "
    "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END), "
    "COALESCE(SUM(c.cost_nanos), 0), "
    + ", ".join(f"SUM(c.{t})" for t in TOKEN_COLUMNS)
    + ", MIN(c.started_at), MAX(c.started_at)"
)


SUMMARY_SOURCE = "runner"


@dataclass(frozen=True, slots=True)
class Filters:
    """What to include. ``since``/``until`` are inclusive local dates in ``tz``."""

    tz: ZoneInfo
    since: date | None = None
    until: date | None = None
    projects: Sequence[str] = ()
    sources: Sequence[str] = ()
    models: Sequence[str] = ()
    sessions: Sequence[str] = ()

    def range_ms(self) -> tuple[int | None, int | None]:
        start = end = None
        if self.since:
            start = int(datetime.combine(self.since, time.min, self.tz).timestamp() * 1000)
        if self.until:
            nxt = datetime.combine(self.until + timedelta(days=1), time.min, self.tz)
            end = int(nxt.timestamp() * 1000)
        return start, end

    def where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over ``calls c`` and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        start, end = self.range_ms()
        if start is not None:
            parts.append("c.started_at >= ?")
            params.append(start)
        if end is not None:
            parts.append("c.started_at < ?")
            params.append(end)
        for sql, values in (
            ("c.project", self.projects),
            ("c.source", self.sources),
            (MODEL_SQL, self.models),
            ("c.session_id", self.sessions),
        ):
            if values:
                parts.append(f"{sql} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if not self.sources:
            # A runner record sums a whole agent run whose calls the agent's own logs also
            # hold: counted by default it would double the spend. Asked for by name, it shows.
            parts.append("c.source <> ?")
            params.append(SUMMARY_SOURCE)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params


@dataclass(slots=True)
class Group:
    """Sums for one combination of grouping values."""

    keys: tuple[Any, ...]
    provider: str | None
    model: str | None
    calls: int = 0
    failed_calls: int = 0
    unknown_cost_calls: int = 0
    cost_nanos: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    first_ms: int = 0
    last_ms: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _to_group(row: Sequence[Any], n_keys: int) -> Group:
    """Row layout: keys..., provider, model, measures (see ``_MEASURES``)."""
    m = n_keys + 2
    # PostgreSQL returns SUM(bigint) as numeric: int() makes both engines alike.
    return Group(
        keys=tuple(row[:n_keys]),
        provider=row[n_keys],
        model=row[n_keys + 1],
        calls=int(row[m]),
        failed_calls=int(row[m + 1] or 0),
        unknown_cost_calls=int(row[m + 2] or 0),
        cost_nanos=int(row[m + 3] or 0),
        tokens={c: int(row[m + 4 + i] or 0) for i, c in enumerate(TOKEN_COLUMNS)},
        first_ms=int(row[m + 4 + len(TOKEN_COLUMNS)]),
        last_ms=int(row[m + 5 + len(TOKEN_COLUMNS)]),
    )


def offset_periods(tz: ZoneInfo, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """(from_ms, utc_offset_ms) for every UTC offset ``tz`` has between two instants.

    Offsets change at most a few times a year and always on a quarter hour, so stepping by
    hours and then by quarter hours around each change finds them all exactly.
    """
    hour = 3_600_000

    def offset(ms: int) -> int:
        delta = datetime.fromtimestamp(ms / 1000, tz).utcoffset()
        return int(delta.total_seconds() * 1000) if delta else 0

    t = start_ms - start_ms % hour
    current = offset(t)
    periods = [(start_ms, current)]
    while t < end_ms:
        nxt = t + hour
        if offset(nxt) != current:
            q = t
            while offset(q) == current:
                q += BUCKET_MS
            current = offset(q)
            periods.append((q, current))
        t = nxt
    return periods


def offset_sql(tz: ZoneInfo, start_ms: int, end_ms: int, column: str = "c.started_at") -> str:
    """SQL for the UTC offset (ms) of ``tz`` at ``column`` (a time in ms), for times in the
    range."""
    periods = offset_periods(tz, start_ms, end_ms)
    if len(periods) == 1:
        return str(periods[0][1])
    whens = " ".join(
        f"WHEN {column} < {periods[i + 1][0]} THEN {off}" for i, (_, off) in enumerate(periods[:-1])
    )
    return f"CASE {whens} ELSE {periods[-1][1]} END"


def local_day_sql(tz: ZoneInfo, start_ms: int, end_ms: int) -> str:
    """SQL for the local day number (days since 1970-01-01 in ``tz``) of ``c.started_at``."""
    # The shifted time is never negative for real data, so integer division floors.
    return f"(c.started_at + {offset_sql(tz, start_ms, end_ms)}) / 86400000"


def within(filters: Filters, start_ms: int | None, end_ms: int | None) -> tuple[str, list[Any]]:
    """The filters' WHERE clause over ``calls c``, narrowed to [start_ms, end_ms)."""
    where, params = filters.where()
    bounds: list[str] = []
    for bound, value in (("c.started_at >= ?", start_ms), ("c.started_at < ?", end_ms)):
        if value is not None:
            bounds.append(bound)
            params.append(value)
    if not bounds:
        return where, params
    return where + (" AND " if where else " WHERE ") + " AND ".join(bounds), params


def stored_span(db: Database) -> tuple[int, int] | None:
    """The first and last call stored, whatever a query's filters: the time zone's offset
    periods need only cover the calls a query reads, and without a WHERE both engines
    answer from the time index in two lookups (with one, they read every call: 17 ms of a
    first report's 2 s). Two subqueries: SQLite looks up a MIN or a MAX alone, and scans
    the index for both in one SELECT."""
    row = db.query(
        "SELECT (SELECT MIN(started_at) FROM calls), (SELECT MAX(started_at) FROM calls)"
    )[0]
    return None if row[0] is None else (int(row[0]), int(row[1]))


def grouped_by_day(db: Database, filters: Filters) -> list[Group]:
    """Sums per (local day number, provider, model) in ``filters.tz``: a few rows per day
    instead of one per quarter hour, and exact across DST changes."""
    span = stored_span(db)
    if span is None:
        return []
    day = local_day_sql(filters.tz, *span)
    group = [day, "c.provider", MODEL_SQL]
    where, params = filters.where()
    sql = f"SELECT {', '.join(group)}, {_MEASURES} FROM calls c{where} GROUP BY {', '.join(group)}"
    return [_to_group(row, 1) for row in db.query(sql, params)]


def grouped(db: Database, filters: Filters, dims: Sequence[str]) -> list[Group]:
    """Sums per (dims..., provider, model). Provider and model are always kept so
    the caller can price cache savings; it folds them away when not wanted."""
    keys = [DIMENSIONS[d] for d in dims]
    group = [*keys, "c.provider", MODEL_SQL]
    where, params = filters.where()
    sql = f"SELECT {', '.join(group)}, {_MEASURES} FROM calls c{where} GROUP BY {', '.join(group)}"
    return [_to_group(row, len(keys)) for row in db.query(sql, params)]


def grouped_by_tool(db: Database, filters: Filters) -> list[Group]:
    """Sums over the calls that used each tool; ``extra['uses']`` counts every use."""
    where, params = filters.where()
    sql = (
        "SELECT t.name, t.mcp_server, c.provider, " + MODEL_SQL + ", " + _MEASURES + ", "
        "SUM(t.uses), COUNT(DISTINCT c.session_id) "
        "FROM (SELECT source, dedupe_key, name, MIN(mcp_server) AS mcp_server, COUNT(*) AS uses "
        "      FROM call_tools GROUP BY source, dedupe_key, name) t "
        "JOIN calls c ON c.source = t.source AND c.dedupe_key = t.dedupe_key"
        f"{where} GROUP BY t.name, t.mcp_server, c.provider, {MODEL_SQL}"
    )
    out = []
    for row in db.query(sql, params):
        g = _to_group(row, 2)
        g.extra = {"uses": int(row[-2]), "sessions": int(row[-1])}
        out.append(g)
    return out


def per_call_groups(
    db: Database, filters: Filters, start_ms: int | None = None, end_ms: int | None = None
) -> list[Group]:
    """Every call as its own group, oldest first (for 5-hour blocks); ``start_ms`` and
    ``end_ms`` narrow the filters' range further."""
    where, params = within(filters, start_ms, end_ms)
    sql = (
        f"SELECT c.provider, {MODEL_SQL}, 1, "
        "CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END, "
        "CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END, COALESCE(c.cost_nanos, 0), "
        + ", ".join(f"c.{t}" for t in TOKEN_COLUMNS)
        + f", c.started_at, c.started_at FROM calls c{where} ORDER BY c.started_at"
    )
    return [_to_group(row, 0) for row in db.query(sql, params)]
