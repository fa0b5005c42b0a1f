"""``GET /api/v1/failures``: how calls fail, so the errors worth fixing first stand out.

Failed calls grouped by (error type, provider, model), the most frequent first, each with
its share of all calls, the HTTP statuses seen, a count per local time bucket (aligned as
in ``timeseries.py``) and the ids of its most recent failures (see ``ranked.py`` for the
shared rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenomy.analytics.query import offset_sql
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import ApiError, Scope
from tokenomy.api.queries import usd
from tokenomy.api.ranked import EVIDENCE, MODEL, where_and
from tokenomy.api.timeseries import INTERVALS, bucket_label, bucket_span
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
    step = INTERVALS[interval]
    where, params = scope.where()
    calls, failed, low, high = db.query(
        "SELECT COUNT(*), SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
        f"MIN(c.started_at), MAX(c.started_at) FROM calls c{where}",
        params,
    )[0]
    calls, failed = int(calls), int(failed or 0)
    total: dict[str, Any] = {
        "calls": calls,
        "failed_calls": failed,
        "error_rate": round(failed / calls, 6) if calls else 0.0,
        "groups": 0,
    }
    # The buckets span the request's range or, where it is open, that of its calls (failed
    # or not), so quiet days show as zeros, as timeseries does.
    start = scope.start_ms if scope.start_ms is not None else low
    end = scope.end_ms if scope.end_ms is not None else (None if high is None else int(high) + 1)
    if start is None or end is None:
        return {"interval": interval, "total": total, "buckets": [], "rows": []}
    start, end = int(start), int(end)
    first, count = bucket_span(scope, interval, start, end)
    buckets = [bucket_label(scope, (first + i) * step) for i in range(count)]
    if not failed:
        return {"interval": interval, "total": total, "buckets": buckets, "rows": []}

    fwhere = where_and(where, "c.status <> 'ok'")
    group = f"c.error_type, c.provider, {MODEL}"
    total["groups"] = int(
        db.query(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM calls c{fwhere} GROUP BY {group}) g", params
        )[0][0]
    )
    rows = db.query(
        f"SELECT {group}, COUNT(*), MIN(c.started_at), MAX(c.started_at), "
        f"COALESCE(SUM(c.cost_nanos), 0), COUNT(DISTINCT c.session_id) "
        f"FROM calls c{fwhere} GROUP BY {group} ORDER BY COUNT(*) DESC, "
        f"(c.error_type IS NULL), c.error_type, (c.provider IS NULL), c.provider, "
        f"({MODEL} IS NULL), {MODEL} LIMIT ?",
        [*params, limit],
    )
    groups = [tuple(r[:3]) for r in rows]
    if total["groups"] > len(groups):
        # Only some groups are shown: their details alone are fetched.
        cond, values = _groups_in(groups)
        fwhere, params = where_and(fwhere, cond), [*params, *values]
    statuses: dict[tuple[Any, ...], set[int]] = {}
    for *g, status in db.query(
        f"SELECT DISTINCT {group}, c.http_status FROM calls c{fwhere} "
        "AND c.http_status IS NOT NULL",
        params,
    ):
        statuses.setdefault(tuple(g), set()).add(int(status))
    counts: dict[tuple[Any, ...], list[int]] = {}
    bucket = f"(c.started_at + {offset_sql(scope.tz, start, end)}) / {step}"
    for *g, b, n in db.query(
        f"SELECT {group}, {bucket}, COUNT(*) FROM calls c{fwhere} GROUP BY {group}, {bucket}",
        params,
    ):
        counts.setdefault(tuple(g), [0] * count)[int(b) - first] += int(n)
    examples: dict[tuple[Any, ...], list[str]] = {}
    for *g, call_id in db.query(
        "SELECT x.e, x.p, x.m, x.id FROM (SELECT c.error_type AS e, c.provider AS p, "
        f"{MODEL} AS m, c.id AS id, ROW_NUMBER() OVER (PARTITION BY {group} "
        f"ORDER BY c.started_at DESC, c.id DESC) AS rn FROM calls c{fwhere}) x "
        f"WHERE x.rn <= {EVIDENCE} ORDER BY x.rn",
        params,
    ):
        examples.setdefault(tuple(g), []).append(call_id)
    out = []
    for row in rows:
        g = tuple(row[:3])
        n, first_at, last_at, cost, sessions = (int(v) for v in row[3:])
        out.append(
            {
                "error_type": g[0],
                "provider": g[1],
                "model": g[2],
                "failed_calls": n,
                "share": round(n / calls, 6),
                "http_statuses": sorted(statuses.get(g, ())),
                "cost_usd": usd(cost),
                "sessions": sessions,
                "first_at": iso_utc(first_at),
                "last_at": iso_utc(last_at),
                "counts": counts.get(g, [0] * count),
                "examples": examples.get(g, []),
            }
        )
    out.sort(
        key=lambda r: (-r["failed_calls"], *_none_last(r["error_type"], r["provider"], r["model"]))
    )
    return {"interval": interval, "total": total, "buckets": buckets, "rows": out}


def _none_last(*values: Any) -> tuple[Any, ...]:
    return tuple(x for v in values for x in (v is None, "" if v is None else str(v)))


def _groups_in(groups: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """A condition matching any of these (error type, provider, model) groups."""
    columns = ("c.error_type", "c.provider", MODEL)
    parts: list[str] = []
    values: list[Any] = []
    for g in groups:
        terms = []
        for column, value in zip(columns, g, strict=True):
            if value is None:
                terms.append(f"{column} IS NULL")
            else:
                terms.append(f"{column} = ?")
                values.append(value)
        parts.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(parts) + ")", values
