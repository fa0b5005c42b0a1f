"""``GET /api/v1/failures``: how calls fail, so the errors worth fixing first stand out.

Failed calls grouped by (error type, provider, model), the most frequent first, each with
its share of all calls, the HTTP statuses seen, a count per local time bucket (aligned as
in ``timeseries.py``) and the ids of its most recent failures (see ``ranked.py`` for the
shared rules). The calls in scope are counted from the rollups (``sums.py``); the failed
ones are read from their copy (store/failed_calls.py), a few percent of the calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import ApiError, Scope
from tokenomy.api.queries import usd
from tokenomy.api.ranked import EVIDENCE, where_and
from tokenomy.api.sums import sums
from tokenomy.api.timeseries import INTERVALS, buckets, open_end
from tokenomy.store import failed_calls, rollups
from tokenomy.store.db import Database


def failures(db: Database, scope: Scope, limit: int, interval: str = "day") -> dict[str, Any]:
    """Failed calls (status other than ``ok``) grouped by (error type, provider, model),
    the most frequent first: count, share of all calls in scope, HTTP statuses seen,
    first and last time, a count per local ``interval`` bucket (aligned with
    ``buckets``, as in ``timeseries``) and the ids of the most recent failures."""
    if interval not in INTERVALS:
        raise ApiError(
            422,
            f"interval must be one of: {', '.join(INTERVALS)} (got {interval!r})",
            "interval",
        )
    if rollups.has_pending(db):
        rollups.refresh(db)  # the copy of the failed calls, whatever sums() reads
    calls, failed = sums(db, scope, (), ("calls", "failed_calls"))[0]
    total: dict[str, Any] = {
        "calls": calls,
        "failed_calls": failed,
        "error_rate": round(failed / calls, 6) if calls else 0.0,
        "groups": 0,
    }
    where, params = scope.where()
    # The buckets span the request's range or, where it is open, that of its calls (failed
    # or not), so quiet days show as zeros, as timeseries does.
    start, end = scope.start_ms, scope.end_ms
    if start is None or end is None:
        low, high = _span(db, where, params) if calls else (None, None)
        start = low if start is None else start
        end = open_end(scope.start_ms, high) if end is None else end
    if start is None or end is None:
        return {"interval": interval, "total": total, "buckets": [], "rows": []}
    grid = buckets(scope, interval, start, end)
    if not failed:
        return {"interval": interval, "total": total, "buckets": grid.labels, "rows": []}

    # Every row of the copy is a failed call; its group is a number (store/failed_calls.py).
    table = f"{failed_calls.TABLE} c"
    bucket, index = grid.key.raw, grid.index()
    # One pass per group, bucket and HTTP status: each group's figures, counts per bucket
    # and statuses seen.
    figures: dict[int, _Group] = {}
    for number, b, status, n, low, high, cost, unknown in db.query(
        f"SELECT c.failure_group, {bucket}, c.http_status, COUNT(*), MIN(c.started_at), "
        f"MAX(c.started_at), COALESCE(SUM(c.cost_nanos), 0), "
        f"SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END) FROM {table}{where} "
        f"GROUP BY c.failure_group, {bucket}, c.http_status",
        params,
    ):
        f = figures.setdefault(int(number), _Group([0] * len(grid.keys)))
        f.add(index[int(b)], status, int(n), int(low), int(high), int(cost), int(unknown))
    names = failed_calls.groups(db)
    ranked = sorted(figures, key=lambda g: (-figures[g].calls, *_none_last(*names[g])))
    total["groups"] = len(ranked)
    shown = ranked[:limit]
    fwhere = where
    if total["groups"] > len(shown):
        # Only some groups are shown: their details alone are fetched.
        fwhere = where_and(where, f"c.failure_group IN ({', '.join(map(str, shown))})")
    sessions = dict(
        db.query(
            f"SELECT c.failure_group, COUNT(DISTINCT c.session_id) FROM {table}{fwhere} "
            "GROUP BY c.failure_group",
            params,
        )
    )
    examples = _examples(db, where, params, shown)
    out = []
    for number in shown:
        f, g = figures[number], names[number]
        out.append(
            {
                "error_type": g[0],
                "provider": g[1],
                "model": g[2],
                "failed_calls": f.calls,
                "share": round(f.calls / calls, 6),
                "http_statuses": sorted(f.statuses),
                "cost_usd": usd(f.cost),
                "unknown_cost_calls": f.unknown_cost,
                "sessions": int(sessions[number]),
                "first_at": iso_utc(f.first_at),
                "last_at": iso_utc(f.last_at),
                "counts": f.counts,
                "examples": examples.get(number, []),
            }
        )
    return {"interval": interval, "total": total, "buckets": grid.labels, "rows": out}


@dataclass(slots=True)
class _Group:
    """One (error type, provider, model): its failed calls, per bucket, and more."""

    counts: list[int]
    calls: int = 0
    cost: int = 0
    unknown_cost: int = 0  # calls whose cost is unknown (no price): not free
    first_at: int = 2**63 - 1
    last_at: int = -(2**63)
    statuses: set[int] = field(default_factory=set)

    def add(
        self, bucket: int, status: Any, n: int, low: int, high: int, cost: int, unknown: int
    ) -> None:
        self.counts[bucket] += n
        self.calls += n
        self.cost += cost
        self.unknown_cost += unknown
        self.first_at, self.last_at = min(self.first_at, low), max(self.last_at, high)
        if status is not None:
            self.statuses.add(int(status))


def _examples(
    db: Database, where: str, params: list[Any], groups: Sequence[int]
) -> dict[int, list[str]]:
    """The latest failed calls of each group: each read backwards by the copy's index on
    (group, time) until ``EVIDENCE`` of them match the scope."""
    one = (
        f"SELECT * FROM (SELECT c.failure_group, c.id FROM {failed_calls.TABLE} c"
        f"{where_and(where, 'c.failure_group = ?')} "
        f"ORDER BY c.started_at DESC, c.id DESC LIMIT {EVIDENCE}) x"
    )
    out: dict[int, list[str]] = {}
    if groups:
        rows = db.query(
            " UNION ALL ".join([one] * len(groups)), [v for g in groups for v in (*params, g)]
        )
        for number, call_id in rows:
            out.setdefault(int(number), []).append(call_id)
    return out


def _span(db: Database, where: str, params: list[Any]) -> tuple[int, int]:
    """The first and last call in scope (by the time index, from each end)."""
    low, high = (
        int(
            db.query(
                f"SELECT c.started_at FROM calls c{where} ORDER BY c.started_at {o} LIMIT 1", params
            )[0][0]
        )
        for o in ("ASC", "DESC")
    )
    return low, high


def _none_last(*values: Any) -> tuple[Any, ...]:
    return tuple(x for v in values for x in (v is None, "" if v is None else str(v)))
