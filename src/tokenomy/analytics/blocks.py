"""Five-hour usage blocks, the windows Claude subscription plans count usage in.

The rule (the same as ccusage's, so the two tools show the same windows):
- a block starts at the first call's time, floored to the whole hour (UTC);
- it lasts 5 hours; a call at or after the block's end, or more than 5 hours after the
  previous call, starts a new block (floored to its hour again);
- the block is *active* if now is before its end and the last call is under 5 hours old;
  an active block shows its burn rate and the cost projected to its end.

Blocks are cut from every call, as ccusage does, and only then chosen by the range: a block
is listed, whole, when one of its calls falls in the range, so ``--since`` never moves a
block's start. Only the calls that shape those blocks are read: back to the last quiet
stretch of over 5 hours before the range (a block starts afresh after it) and up to 5
hours past its end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tokenomy.analytics.query import Filters, Group, per_call_groups, within
from tokenomy.analytics.rows import Row, iso_utc
from tokenomy.store.db import Database

BLOCK_MS = 5 * 3600 * 1000
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


def block_rows(
    db: Database, filters: Filters, savings: Callable[[Group, int], int], now_ms: int
) -> list[Row]:
    start, end = filters.range_ms()
    every = dataclasses.replace(filters, since=None, until=None)
    low = None if start is None else _fresh_start(db, every, start)
    high = None if end is None else end + BLOCK_MS
    rows = _blocks(per_call_groups(db, every, low, high), savings, now_ms)
    return [
        r
        for r in rows
        if (start is None or (r.last_ms or 0) >= start) and (end is None or (r.first_ms or 0) < end)
    ]


def _blocks(calls: list[Group], savings: Callable[[Group, int], int], now_ms: int) -> list[Row]:
    rows: list[Row] = []
    current: Row | None = None
    block_start = 0
    last = 0
    for g in calls:
        at = g.first_ms
        if current is None or at >= block_start + BLOCK_MS or at - last > BLOCK_MS:
            block_start = at - at % HOUR_MS
            current = Row(iso_utc(block_start))
            current.extra["start_at"] = iso_utc(block_start)
            current.extra["end_at"] = iso_utc(block_start + BLOCK_MS)
            rows.append(current)
        last = at
        current.add(g, savings(g, at))
    for i, row in enumerate(rows):
        start = row.first_ms or 0
        end = start - start % HOUR_MS + BLOCK_MS
        last_ms = row.last_ms or 0
        active = i == len(rows) - 1 and now_ms < end and 0 <= now_ms - last_ms < BLOCK_MS
        row.extra["active"] = active
        if active:
            minutes = max(1.0, (last_ms - start) / 60000)
            row.extra["tokens_per_minute"] = round(row.total_tokens / minutes, 1)
            remaining = max(0.0, (end - now_ms) / 60000)
            projected = row.cost_nanos + row.cost_nanos / minutes * remaining
            row.extra["projected_cost_usd"] = round(projected / 1e9, 4)
    return rows


def _fresh_start(db: Database, filters: Filters, start_ms: int) -> int:
    """Where a block starts afresh at or before ``start_ms``: after the last quiet stretch
    of over 5 hours before it, so no earlier call shapes a block that meets the range.
    Read backwards in windows that double, so a long unbroken run of calls takes few
    queries."""
    later, span = start_ms, DAY_MS
    while True:
        where, params = within(filters, later - span, later)
        sql = f"SELECT c.started_at FROM calls c{where} ORDER BY c.started_at DESC"
        times = [int(r[0]) for r in db.query(sql, params)]
        if not times:  # no call in the window: over 5 hours of quiet before ``later``
            return later
        for at in times:
            if later - at > BLOCK_MS:
                return later
            later = at
        span *= 2
