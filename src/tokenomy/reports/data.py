"""What a report holds, gathered with the analytics API's own query functions
(``queries.summary``, ``queries.breakdown``, ``timeseries``, ``top``, ``failures``), so its
figures are the API's and the dashboard's to the nano-dollar. The result is plain JSON:
the HTML page is drawn from it, and scheduled reports keep it next to the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from tokenomy.api import failures, queries, top
from tokenomy.api.params import Scope
from tokenomy.api.timeseries import OTHER, timeseries
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

# How long each bar of the cost chart is. Weeks start on Monday; weeks and months are
# folded from local days, so they hold exactly the days' sums.
INTERVALS = ("hour", "day", "week", "month")
# Dimensions the cost chart can be stacked by.
STACKS = ("model", "project", "provider", "source", "user")
SERIES_SHOWN = 7  # stacked series; the rest are summed as "other"
BREAKDOWN_ROWS = 12
TOP_SESSIONS = 10
FAILURE_GROUPS = 10
BREAKDOWNS = ("model", "project", "source")
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """Which calls a report covers (``scope``) and how its chart is drawn."""

    scope: Scope
    interval: str = "day"
    stack: str = "model"
    title: str = "Tokenomy report"
    # A scheduled report's name and period label (``team-weekly``, ``2026-W46``).
    name: str | None = None
    period: str | None = None


def collect(db: Database, catalog: PriceCatalog, spec: ReportSpec, now_ms: int) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready values (dollars as the API gives them)."""
    scope = spec.scope
    summary = queries.summary(db, scope, catalog)
    chart = _chart(db, spec)
    return {
        "schema": SCHEMA_VERSION,
        "title": spec.title,
        "name": spec.name,
        "period": spec.period,
        "generated_at": _iso(now_ms, UTC),
        "range": _range(scope, chart),
        "filters": {k: list(v) for k, v in scope.filters.items()},
        "summary": summary,
        "chart": chart,
        "breakdowns": {
            by: queries.breakdown(db, scope, by, "cost", True, BREAKDOWN_ROWS) for by in BREAKDOWNS
        },
        "top_sessions": top.top(db, scope, "sessions", TOP_SESSIONS)["rows"],
        "failures": failures.failures(db, scope, FAILURE_GROUPS, "day"),
    }


def _chart(db: Database, spec: ReportSpec) -> dict[str, Any]:
    if spec.interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    if spec.stack not in STACKS:
        raise ValueError(f"stack must be one of {', '.join(STACKS)}")
    base = "hour" if spec.interval == "hour" else "day"
    series = timeseries(db, spec.scope, base, "cost", spec.stack, SERIES_SHOWN)
    buckets: list[str] = series["buckets"]
    rows: list[dict[str, Any]] = series["series"]
    if spec.interval in ("week", "month"):
        buckets, rows = _fold(buckets, rows, spec.interval)
    elif base == "day":
        buckets = [b[:10] for b in buckets]  # a local day is its date
    return {
        "interval": spec.interval,
        "stack": spec.stack,
        "buckets": buckets,
        "series": [{**r, "other": r["key"] == OTHER} for r in rows],
    }


def _fold(
    days: list[str], rows: list[dict[str, Any]], interval: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Local days summed into weeks (named by their Monday) or months (``YYYY-MM``)."""

    def period_of(label: str) -> str:
        day = date.fromisoformat(label[:10])
        if interval == "week":
            return (day - timedelta(days=day.weekday())).isoformat()
        return label[:7]

    keys = [period_of(d) for d in days]
    order = list(dict.fromkeys(keys))
    index = {k: i for i, k in enumerate(order)}
    folded = []
    for r in rows:
        sums = [Decimal(0)] * len(order)
        for k, v in zip(keys, r["values"], strict=True):
            sums[index[k]] += Decimal(repr(v))
        folded.append({**r, "values": [float(s) for s in sums]})
    return order, folded


def _range(scope: Scope, chart: Mapping[str, Any]) -> dict[str, Any]:
    """The range in the report's zone: exact instants where given, and the first and last
    local day covered (from the data where the range is open; None with no data)."""
    buckets = chart["buckets"]
    first = last = None
    if scope.start_ms is not None:
        first = _local_day(scope.start_ms, scope)
    elif buckets:
        first = buckets[0][:10] if chart["interval"] != "month" else f"{buckets[0]}-01"
    if scope.end_ms is not None:
        last = _local_day(scope.end_ms - 1, scope)
    elif buckets:
        last = _last_day(buckets[-1], chart["interval"])
    return {
        "timezone": scope.tz.key,
        "start": None if scope.start_ms is None else _iso(scope.start_ms, scope.tz),
        "end": None if scope.end_ms is None else _iso(scope.end_ms, scope.tz),
        "first_day": first,
        "last_day": last,
    }


def _last_day(bucket: str, interval: str) -> str:
    if interval == "week":
        return (date.fromisoformat(bucket) + timedelta(days=6)).isoformat()
    if interval == "month":
        year, month = (int(p) for p in bucket.split("-"))
        nxt = date(year + month // 12, month % 12 + 1, 1)
        return (nxt - timedelta(days=1)).isoformat()
    return bucket[:10]


def _local_day(ms: int, scope: Scope) -> str:
    return datetime.fromtimestamp(ms / 1000, scope.tz).date().isoformat()


def _iso(ms: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")
