"""The analytics API's answers, as SQL over the call store (one code path for SQLite and
PostgreSQL: ``?`` placeholders, integer sums, no engine-only functions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.api.params import Scope
from tokenomy.api.sums import condition, dimension, sums, utc_day, value
from tokenomy.pricing import PriceCatalog
from tokenomy.record import NANOS_PER_USD, TOKEN_FIELDS, TokenUsage
from tokenomy.store.db import Database
from tokenomy.store.rollups import RAW_MEASURES
from tokenomy.store.schema import LATENCY_BOUNDS_MS, LATENCY_COLUMNS

BASE_MEASURES = ("calls", "failed_calls", "unknown_cost_calls", "cost_nanos", *TOKEN_FIELDS)
LATENCY_MEASURES = ("duration_count", "duration_sum", *LATENCY_COLUMNS)
SORTS = ("cost", "calls", "tokens", "failed", "key")
DAY_MS = 86_400_000


@dataclass(slots=True)
class Measures:
    calls: int
    failed_calls: int
    unknown_cost_calls: int
    cost_nanos: int
    tokens: dict[str, int]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Measures:
        """From sums in ``BASE_MEASURES`` order."""
        return cls(
            int(row[0]),
            int(row[1] or 0),
            int(row[2] or 0),
            int(row[3] or 0),
            {t: int(row[4 + i] or 0) for i, t in enumerate(TOKEN_FIELDS)},
        )

    def __add__(self, other: Measures) -> Measures:
        return Measures(
            self.calls + other.calls,
            self.failed_calls + other.failed_calls,
            self.unknown_cost_calls + other.unknown_cost_calls,
            self.cost_nanos + other.cost_nanos,
            {k: self.tokens[k] + other.tokens[k] for k in self.tokens},
        )

    @property
    def total_tokens(self) -> int:
        return sum(v for k, v in self.tokens.items() if k != "reasoning_tokens")

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "error_rate": round(self.failed_calls / self.calls, 6) if self.calls else 0.0,
            "cost_usd": usd(self.cost_nanos),
            "unknown_cost_calls": self.unknown_cost_calls,
            "tokens": {**self.tokens, "total": self.total_tokens},
        }


def usd(nanos: int) -> float:
    return float(round(nanos / NANOS_PER_USD, 9))


def summary(db: Database, scope: Scope, catalog: PriceCatalog) -> dict[str, Any]:
    row = sums(db, scope, (), (*BASE_MEASURES, *LATENCY_MEASURES))[0]
    n = len(BASE_MEASURES)
    out = Measures.from_row(row[:n]).to_json()
    out["latency_ms"] = latency(row[n], row[n + 1], row[n + 2 :])
    out["cache"] = {
        "prompt_cache_savings_usd": usd(prompt_cache_savings(db, scope, catalog)),
        **response_cache(db, scope, catalog),
    }
    return out


def latency(count: int, total: int, faster_than: Sequence[int]) -> dict[str, Any]:
    """Mean, p50 and p95 latency from the histogram: a percentile is interpolated inside
    its bucket (buckets are 25% wide, so it is within about 12% of the exact value)."""
    return {
        "calls_timed": count,
        "mean": round(total / count) if count else None,
        "p50": percentile(count, faster_than, 0.5),
        "p95": percentile(count, faster_than, 0.95),
    }


def percentile(count: int, faster_than: Sequence[int], q: float) -> int | None:
    """The ``q`` quantile of ``count`` durations, given how many were below each bound of
    ``LATENCY_BOUNDS_MS``; past the last bound, that bound."""
    if count == 0:
        return None
    rank = max(1.0, q * count)
    below, lower = 0, 0
    for bound, n in zip(LATENCY_BOUNDS_MS, faster_than, strict=True):
        if n >= rank:
            return round(lower + (bound - lower) * (rank - below) / (n - below))
        below, lower = n, bound
    return LATENCY_BOUNDS_MS[-1]


def prompt_cache_savings(db: Database, scope: Scope, catalog: PriceCatalog) -> int:
    """What the provider cache reads would have cost at the input price, minus what they
    cost: per model and UTC day, priced at that day's rates (nano-dollars)."""
    rows = sums(
        db,
        scope,
        (dimension("provider"), dimension("model"), utc_day()),
        ("cache_read_tokens",),
        condition("r.cache_read_tokens > 0", "c.cache_read_tokens > 0"),
    )
    savings = SavingsPricer(catalog)
    return sum(
        savings.saved(value(p), value(m), reads, int(day) * DAY_MS) for p, m, day, reads in rows
    )


def response_cache(db: Database, scope: Scope, catalog: PriceCatalog) -> dict[str, Any]:
    """Calls answered from our response cache, and what the provider would have charged
    for them: per model and day, each hit priced as the group's average request (so a
    long-context surcharge applies only where the requests themselves are long)."""
    rows = sums(
        db,
        scope,
        (dimension("provider"), dimension("model"), utc_day()),
        ("calls", *TOKEN_FIELDS),
        condition("r.cache_hit <> 'none'", "c.cache_hit <> 'none'", "cache_hit"),
    )
    return priced_hits(catalog, rows)


def priced_hits(catalog: PriceCatalog, rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """:func:`response_cache` from its sums: (provider, model, UTC day, calls, tokens...)
    of the calls our cache answered."""
    hits = saved = 0
    for provider, model, day, calls, *tokens in rows:
        hits += calls
        at = int(day) * DAY_MS
        mean = TokenUsage(*(t // calls for t in tokens))
        rest = TokenUsage(*(t % calls for t in tokens))
        each = catalog.cost_nanos(value(provider), value(model), mean, at) or 0
        saved += each * calls + (catalog.cost_nanos(value(provider), value(model), rest, at) or 0)
    return {"response_cache_hits": hits, "response_cache_savings_usd": usd(saved)}


def breakdown(
    db: Database, scope: Scope, by: str, sort: str, descending: bool, limit: int
) -> dict[str, Any]:
    """Totals per value of one dimension, sorted, at most ``limit`` rows plus the rest."""
    if by == "tool":
        rows = _by_tool(db, scope)
    else:
        rows = [
            (value(r[0]), Measures.from_row(r[1:]))
            for r in sums(db, scope, (dimension(by),), BASE_MEASURES)
        ]
    measure = {
        "cost": lambda m: m.cost_nanos,
        "calls": lambda m: m.calls,
        "tokens": lambda m: m.total_tokens,
        "failed": lambda m: m.failed_calls,
    }.get(sort)
    # Keys with no value (calls with no project, say) sort last either way.
    rows.sort(key=lambda r: (r[0] is None, str(r[0])))
    if measure is not None:
        rows.sort(key=lambda r: measure(r[1]), reverse=descending)
    elif descending:
        named = [r for r in rows if r[0] is not None][::-1]
        rows = named + [r for r in rows if r[0] is None]
    out = [{"key": k, **m.to_json()} for k, m in rows[:limit]]
    rest: Measures | None = None
    for _, m in rows[limit:]:
        rest = m if rest is None else rest + m
    return {
        "by": by,
        "sort": sort,
        "rows": out,
        "other": None if rest is None else {"values": len(rows) - limit, **rest.to_json()},
    }


def _by_tool(db: Database, scope: Scope) -> list[tuple[Any, Measures]]:
    """Per tool name, the calls that used it (a call with two tools counts for both)."""
    where, params = scope.where()
    measures = ", ".join(RAW_MEASURES[m] for m in BASE_MEASURES)
    rows = db.query(
        f"SELECT t.name, {measures} FROM calls c JOIN "
        "(SELECT DISTINCT source, dedupe_key, name FROM call_tools) t "
        f"ON t.source = c.source AND t.dedupe_key = c.dedupe_key{where} GROUP BY t.name",
        params,
    )
    return [(r[0], Measures.from_row(r[1:])) for r in rows]
