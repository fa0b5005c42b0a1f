"""Spend forecast from the stored calls: daily cost per project (the rollups, through the
analytics API's timeseries) in the caller's time zone, each project and the total
forecast on its own (so the projects' figures need not add up to the total's exactly)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from tokenomy.api.params import Scope
from tokenomy.api.sums import sums
from tokenomy.api.timeseries import timeseries
from tokenomy.forecast.model import LEVEL_DAYS, Forecast, forecast
from tokenomy.store.db import Database

HORIZONS = (7, 30)
DEFAULT_HISTORY = 84  # twelve weeks: the weekly pattern of two months, and room to replay


def _midnight(day: date, scope: Scope) -> int:
    return int(datetime.combine(day, time.min, scope.tz).timestamp() * 1000)


def history_window(scope: Scope, history: int, now_ms: int | None = None) -> tuple[date, date]:
    """The first and the last day after it (exclusive) of the history: up to the scope's
    ``until`` (its end, a date's day included), else up to today (today is not complete,
    so it is forecast, not used); at most ``history`` days, not before ``since``."""
    if scope.end_ms is not None:
        end_moment = datetime.fromtimestamp((scope.end_ms - 1) / 1000, scope.tz)
        end = end_moment.date() + timedelta(days=1)
    else:
        now = (
            datetime.now(scope.tz)
            if now_ms is None
            else datetime.fromtimestamp(now_ms / 1000, scope.tz)
        )
        end = now.date()
    start = end - timedelta(days=history)
    if scope.start_ms is not None:
        start = max(start, datetime.fromtimestamp(scope.start_ms / 1000, scope.tz).date())
    return start, end


def _trim(values: list[float]) -> tuple[int, list[float]]:
    """Leading days before the first spend are not history."""
    for i, v in enumerate(values):
        if v:
            return i, values[i:]
    return len(values), []


def _series_json(
    key: str, values: list[float], start: date, days: int
) -> tuple[dict[str, Any], Forecast]:
    skipped, used = _trim(values)
    first = start + timedelta(days=skipped)
    fc = forecast(used, first.weekday(), days, HORIZONS)
    return {
        "key": key,
        "history": [round(v, 6) for v in values],
        "forecast": [b.to_json() for b in fc.days],
        "totals": {str(h): b.to_json() for h, b in fc.totals.items()},
        "history_days": fc.history_days,
        "weekly_pattern": fc.weekly,
        "weekday_factors": [round(f, 4) for f in fc.factors],
        "notes": fc.notes,
    }, fc


def spend_forecast(
    db: Database,
    scope: Scope,
    days: int = 30,
    *,
    history: int = DEFAULT_HISTORY,
    top: int = 10,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """History and forecast of daily spend (USD), in total and for the ``top`` projects
    (the rest summed as ``other``), with 80% intervals and 7- and 30-day totals."""
    start, end = history_window(scope, history, now_ms)
    bounded = Scope(scope.tz, _midnight(start, scope), _midnight(end, scope), scope.filters)
    count = (end - start).days
    history_buckets = [(start + timedelta(days=i)).isoformat() for i in range(count)]
    forecast_buckets = [(end + timedelta(days=i)).isoformat() for i in range(days)]
    ts = timeseries(db, bounded, "day", "cost", "project", top)
    by_key: dict[str, list[float]] = {}
    for s in ts["series"]:
        # The projects past the top N, apart from a project named "other".
        key = (
            "(other projects)" if s.get("rest") else "(none)" if s["key"] is None else str(s["key"])
        )
        by_key[key] = [float(v) for v in s["values"]]
    total = [sum(vals) for vals in zip(*by_key.values(), strict=True)] if by_key else []
    if len(total) != count:
        total = [0.0] * count
    total_json, total_fc = _series_json("total", total, start, days)
    projects = [_series_json(k, v, start, days)[0] for k, v in by_key.items()]
    return {
        "timezone": scope.tz.key,
        "days": days,
        "history_start": start.isoformat(),
        "first_forecast_day": end.isoformat(),
        "history_buckets": history_buckets,
        "forecast_buckets": forecast_buckets,
        "interval": 0.8,
        "total": total_json,
        "projects": projects,
        "has_history": total_fc.history_days > 0,
        # Calls in the window whose cost is unknown (no price for their model): a forecast
        # of nothing then says why, rather than asking for logs that are already there.
        "unknown_cost_calls": _unknown_cost_calls(db, bounded),
        "method": f"level: mean of the last {LEVEL_DAYS} days, times shrunk median weekday "
        "factors; 80% intervals from the model's own past errors (docs/forecast.md)",
    }


def _unknown_cost_calls(db: Database, scope: Scope) -> int:
    return int(sums(db, scope, (), ("unknown_cost_calls",))[0][0] or 0)
