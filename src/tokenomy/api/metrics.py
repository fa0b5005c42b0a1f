"""``GET /metrics``: Prometheus counters and latency histograms of every stored call.

Read from the daily rollups, not from counters in the serving process: the figures are
the same whichever worker or replica is scraped, they include calls that arrived by import
or SDK, and they survive restarts. They are totals over all stored calls, so a reprice can
lower a cost counter (Prometheus reads that as a counter reset; rates recover at once).
The latency histogram is the rollups' own (cumulative counts below each bound), which is
exactly Prometheus's bucket format.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenomy.api.params import DOUBLE_COUNTED_SOURCE
from tokenomy.record import NANOS_PER_USD, TOKEN_FIELDS
from tokenomy.store import rollups
from tokenomy.store.db import Database
from tokenomy.store.schema import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
_MEASURES = (
    "calls",
    "unknown_cost_calls",
    "cost_nanos",
    *TOKEN_FIELDS,
    "duration_count",
    "duration_sum",
    *LATENCY_COLUMNS,
)
_SQL = (
    'SELECT r."provider", r."model", r."status", '
    + ", ".join(f"SUM(r.{m})" for m in _MEASURES)
    + " FROM rollup_day_lean r WHERE r.source <> ? "
    'GROUP BY r."provider", r."model", r."status" '
    'ORDER BY r."provider", r."model", r."status"'
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs) + "}"


def exposition(db: Database) -> str:
    """The metrics in Prometheus's text format."""
    if rollups.has_pending(db):
        rollups.refresh(db)
    rows = db.query(_SQL, (DOUBLE_COUNTED_SOURCE,))
    calls: list[str] = []
    unknown: list[str] = []
    cost: list[str] = []
    tokens: list[str] = []
    latency: list[str] = []
    for provider, model, status, *values in rows:
        v = dict(zip(_MEASURES, (int(x or 0) for x in values), strict=True))
        base = [("provider", provider), ("model", model), ("status", status)]
        labels = _labels(base)
        calls.append(f"tokenomy_calls_total{labels} {v['calls']}")
        unknown.append(f"tokenomy_unknown_cost_calls_total{labels} {v['unknown_cost_calls']}")
        cost.append(f"tokenomy_cost_usd_total{labels} {v['cost_nanos'] / NANOS_PER_USD!r}")
        for t in TOKEN_FIELDS:
            kind = _labels([*base, ("type", t.removesuffix("_tokens"))])
            tokens.append(f"tokenomy_tokens_total{kind} {v[t]}")
        for bound, column in zip(LATENCY_BOUNDS_MS, LATENCY_COLUMNS, strict=True):
            le = _labels([*base, ("le", repr(bound / 1000))])
            latency.append(f"tokenomy_call_duration_seconds_bucket{le} {v[column]}")
        inf = _labels([*base, ("le", "+Inf")])
        latency.append(f"tokenomy_call_duration_seconds_bucket{inf} {v['duration_count']}")
        latency.append(f"tokenomy_call_duration_seconds_sum{labels} {v['duration_sum'] / 1000!r}")
        latency.append(f"tokenomy_call_duration_seconds_count{labels} {v['duration_count']}")
    families = (
        ("tokenomy_calls_total", "counter", "Calls recorded (all sources but runner).", calls),
        (
            "tokenomy_unknown_cost_calls_total",
            "counter",
            "Calls whose model has no known price.",
            unknown,
        ),
        ("tokenomy_cost_usd_total", "counter", "Cost of the calls in US dollars.", cost),
        ("tokenomy_tokens_total", "counter", "Tokens by category (type label).", tokens),
        (
            "tokenomy_call_duration_seconds",
            "histogram",
            "Call duration, for calls that have one.",
            latency,
        ),
    )
    out: list[str] = []
    for name, kind, text, lines in families:
        # In this text format (0.0.4) HELP and TYPE name the samples, _total included; the
        # name without it is OpenMetrics' convention, which strict parsers here read as an
        # empty family beside untyped samples.
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *lines]
    return "\n".join(out) + "\n"
