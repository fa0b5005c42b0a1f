"""Five-hour usage blocks, the windows Claude subscription plans count usage in.

The rule (the same as ccusage's, so the two tools show the same windows):
- a block starts at the first call's time, floored to the whole hour (UTC);
- it lasts 5 hours; a call at or after the block's end, or more than 5 hours after the
  previous call, starts a new block (floored to its hour again);
- the block is *active* if now is before its end and the last call is under 5 hours old;
  an active block shows its burn rate and the cost projected to its end.
"""

from __future__ import annotations

from collections.abc import Callable

from tokenomy.analytics.query import Filters, Group, per_call_groups
from tokenomy.analytics.rows import Row, iso_utc
from tokenomy.store.db import Database

BLOCK_MS = 5 * 3600 * 1000
HOUR_MS = 3600 * 1000


def block_rows(
    db: Database, filters: Filters, savings: Callable[[Group, int], int], now_ms: int
) -> list[Row]:
    rows: list[Row] = []
    current: Row | None = None
    block_start = 0
    last = 0
    for g in per_call_groups(db, filters):
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
