"""Hourly series per project and model, read from the rollups through the analytics
API's sums (the same numbers the dashboard shows), one query for every metric."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from tokenomy.api.params import Scope
from tokenomy.api.queries import percentile
from tokenomy.api.sums import bucket, dimension, sums, value
from tokenomy.api.timeseries import METRICS as SUMMED
from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database
from tokenomy.store.rollups import HOUR_MS
from tokenomy.store.schema import LATENCY_COLUMNS

METRICS = ("cost", "tokens", "error_rate", "latency_p95")
UNITS = {"cost": "USD", "tokens": "tokens", "error_rate": "share of calls", "latency_p95": "ms"}
_MEASURES = (
    "cost_nanos",
    "calls",
    "failed_calls",
    *SUMMED["tokens"],
    "duration_count",
    *LATENCY_COLUMNS,
)
_TOKENS = slice(3, 3 + len(SUMMED["tokens"]))
_TIMED = 3 + len(SUMMED["tokens"])

Group = tuple[str | None, str | None]  # (project, model)


@dataclass(slots=True)
class Hourly:
    """One group's hours from ``start_ms``; None where a ratio has too few calls."""

    start_ms: int
    calls: list[int]
    series: dict[str, list[float | None]] = field(default_factory=dict)

    def hour_ms(self, i: int) -> int:
        return self.start_ms + i * HOUR_MS


def load_hourly(
    db: Database,
    start_ms: int,
    end_ms: int,
    *,
    filters: Mapping[str, tuple[str, ...]] | None = None,
    min_calls: int = 20,
) -> dict[Group, Hourly]:
    """Every (project, model) with calls in [start, end), hours aligned to UTC hours.

    Error rate and p95 latency need ``min_calls`` calls in the hour: one failure in two
    calls is 50% and means nothing. Hours without calls are 0 cost and tokens."""
    start_ms = start_ms // HOUR_MS * HOUR_MS
    end_ms = -(-end_ms // HOUR_MS) * HOUR_MS
    count = (end_ms - start_ms) // HOUR_MS
    scope = Scope(ZoneInfo("UTC"), start_ms, end_ms, dict(filters or {}))
    keys = [bucket(scope, HOUR_MS, start_ms, end_ms), dimension("project"), dimension("model")]
    first = start_ms // HOUR_MS
    out: dict[Group, Hourly] = {}
    for row in sums(db, scope, keys, _MEASURES):
        group = (value(row[1]), value(row[2]))
        h = out.get(group)
        if h is None:
            h = out[group] = Hourly(start_ms, [0] * count)
            h.series = {
                "cost": [0.0] * count,
                "tokens": [0.0] * count,
                "error_rate": [None] * count,
                "latency_p95": [None] * count,
            }
        i = int(row[0]) - first
        m = row[3:]
        cost, calls, failed = m[0], m[1], m[2]
        h.calls[i] += calls
        h.series["cost"][i] = cost / NANOS_PER_USD
        h.series["tokens"][i] = float(sum(m[_TOKENS]))
        if calls >= min_calls:
            h.series["error_rate"][i] = failed / calls
        timed = m[_TIMED]
        if timed >= min_calls:
            p95 = percentile(timed, m[_TIMED + 1 :], 0.95)
            h.series["latency_p95"][i] = None if p95 is None else float(p95)
    return out
