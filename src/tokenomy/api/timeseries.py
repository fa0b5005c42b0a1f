"""``GET /api/v1/timeseries``: one metric per time bucket, optionally split by a dimension.

Buckets are local to the request's time zone: a day starts at local midnight, exactly,
across DST changes (the zone's UTC offsets over the range are worked out first and applied
in SQL, as reports do); a minute or an hour starts at the local clock's minute or hour and
is a real stretch of time, so a repeated hour is two buckets and a skipped one none.
Every bucket of the range is present, zero where nothing happened, so a chart needs no gap
filling; a range with more buckets than ``MAX_BUCKETS`` is refused with the limit named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tokenomy.api.params import ApiError, Scope
from tokenomy.api.sums import Clock, Key, bucket, dimension, sums, value
from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database

INTERVALS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
MAX_BUCKETS = 5_000
# Each metric as the rollup measures it adds up.
METRICS: dict[str, tuple[str, ...]] = {
    "cost": ("cost_nanos",),
    "calls": ("calls",),
    "failed_calls": ("failed_calls",),
    "tokens": (
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
    ),
    "input_tokens": ("input_tokens",),
    "output_tokens": ("output_tokens",),
    "cache_read_tokens": ("cache_read_tokens",),
    "cache_write_tokens": ("cache_write_tokens", "cache_write_1h_tokens"),
}
OTHER = "other"


def local_ms(scope: Scope, utc_ms: int) -> int:
    offset = datetime.fromtimestamp(utc_ms / 1000, scope.tz).utcoffset()
    return utc_ms + (int(offset.total_seconds() * 1000) if offset else 0)


def bucket_label(scope: Scope, local_ms: int) -> str:
    """The bucket's start as an ISO time with its offset (local wall clock -> instant)."""
    wall = datetime.fromtimestamp(local_ms / 1000, UTC).replace(tzinfo=scope.tz)
    return wall.isoformat()


@dataclass(frozen=True, slots=True)
class Buckets:
    """The buckets of a range: the SQL key of a row's bucket, each bucket's key in order
    and its label (its start, with the offset then in force)."""

    key: Key
    keys: list[int]
    labels: list[str]

    def index(self) -> dict[int, int]:
        return {k: i for i, k in enumerate(self.keys)}


def buckets(scope: Scope, interval: str, start: int, end: int) -> Buckets:
    """The buckets that meet [start, end); a 422 naming the limit when they are more than
    ``MAX_BUCKETS``. A day is a local date (a 23- or 25-hour day is one bucket); minutes
    and hours are stretches of real time (sums.Clock): the hour repeated when clocks go
    back is two buckets, the hour skipped when they go forward is none."""
    step = INTERVALS[interval]
    if interval == "day":
        first = local_ms(scope, start) // step
        count = local_ms(scope, end - 1) // step - first + 1
        _check_count(interval, count)
        keys = list(range(first, first + count))
        labels = [bucket_label(scope, k * step) for k in keys]
        return Buckets(bucket(scope, step, start, end), keys, labels)
    # A bucket is never longer than its step: a longer range has too many, refused before
    # the zone's offsets over it are read.
    _check_count(interval, -(-(end - start) // step), "at least ")
    clock = Clock.of(scope, step, start, end)
    _check_count(interval, clock.count(start, end))
    starts = clock.starts(start, end)
    labels = [datetime.fromtimestamp(ms / 1000, scope.tz).isoformat() for ms in starts]
    return Buckets(clock.key(), starts, labels)


def _check_count(interval: str, count: int, bound: str = "") -> None:
    if count > MAX_BUCKETS:
        raise ApiError(
            422,
            f"interval={interval} over this range gives {bound}{count:,} buckets; the limit is "
            f"{MAX_BUCKETS:,}: narrow since/until or use a longer interval",
            "interval",
        )


def open_end(start_ms: int | None, last_call_ms: int | None) -> int:
    """Where a range with no ``until`` ends: after its last call; when it has a ``since``
    ("the last 30 days"), at least now, so the quiet days since the last call show as zeros
    rather than the chart stopping at the last call as if it were today."""
    last = 0 if last_call_ms is None else last_call_ms + 1
    if start_ms is None:
        return last
    return max(last, int(time.time() * 1000), start_ms + 1)


def timeseries(
    db: Database,
    scope: Scope,
    interval: str,
    metric: str,
    group_by: str | None,
    top: int,
) -> dict[str, Any]:
    start, end = scope.start_ms, scope.end_ms
    if start is None or end is None:
        where, params = scope.where()
        span = db.query(f"SELECT MIN(c.started_at), MAX(c.started_at) FROM calls c{where}", params)
        if span[0][0] is None and start is None:  # nothing to chart: the usual keys
            return {
                "interval": interval,
                "metric": "cost_usd" if metric == "cost" else metric,
                "group_by": group_by,
                "buckets": [],
                "series": [],
            }
        start = int(span[0][0]) if start is None else start
        if end is None:
            last = None if span[0][1] is None else int(span[0][1])
            end = open_end(scope.start_ms, last)
    grid = buckets(scope, interval, start, end)
    count, index = len(grid.keys), grid.index()
    keys = [grid.key]
    if group_by is not None:
        keys.append(dimension(group_by))
    bounded = Scope(scope.tz, start, end, scope.filters)
    values: dict[Any, list[int]] = {}
    for row in sums(db, bounded, keys, METRICS[metric]):
        series = values.setdefault(value(row[1]) if group_by is not None else None, [0] * count)
        series[index[int(row[0])]] += sum(row[len(keys) :])
    rest: list[int] | None = None  # the series past the top N, summed (never a real value's)
    if group_by is not None and len(values) > top:
        ranked = sorted(values, key=lambda k: (-sum(values[k]), k is None, str(k)))
        rest = [0] * count
        for k in ranked[top:]:
            rest = [a + b for a, b in zip(rest, values.pop(k), strict=True)]
    order = sorted(values, key=lambda k: (-sum(values[k]), k is None, str(k)))

    def scale(n: int) -> float | int:
        return round(n / NANOS_PER_USD, 9) if metric == "cost" else n

    return {
        "interval": interval,
        "metric": "cost_usd" if metric == "cost" else metric,
        "group_by": group_by,
        "buckets": grid.labels,
        "series": [
            {"key": k if group_by is not None else "total", "values": [scale(v) for v in values[k]]}
            for k in order
        ]
        # "rest" tells the remainder from a real value named "other" (a project, say).
        + (
            [{"key": OTHER, "rest": True, "values": [scale(v) for v in rest]}]
            if rest is not None
            else []
        ),
    }
