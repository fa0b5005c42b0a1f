"""The analytics API's answers, as SQL over the call store (one code path for SQLite and
PostgreSQL: ``?`` placeholders, integer sums, no engine-only functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.api.params import DIMENSIONS, Scope
from tokenomy.pricing import PriceCatalog
from tokenomy.record import NANOS_PER_USD, TOKEN_FIELDS, TokenUsage
from tokenomy.store.db import Database

MEASURES_SQL = (
    "COUNT(*), "
    "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN c.cost_nanos IS NULL THEN 1 ELSE 0 END), "
    "COALESCE(SUM(c.cost_nanos), 0), " + ", ".join(f"COALESCE(SUM(c.{t}), 0)" for t in TOKEN_FIELDS)
)
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
        # PostgreSQL returns SUM(bigint) as numeric: int() makes both engines alike.
        return cls(
            int(row[0]),
            int(row[1] or 0),
            int(row[2] or 0),
            int(row[3] or 0),
            {t: int(row[4 + i] or 0) for i, t in enumerate(TOKEN_FIELDS)},
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
    where, params = scope.where()
    row = db.query(f"SELECT {MEASURES_SQL} FROM calls c{where}", params)[0]
    measures = Measures.from_row(row)
    out = measures.to_json()
    out["latency_ms"] = latency_percentiles(db, scope, (0.5, 0.95))
    out["cache"] = {
        "prompt_cache_savings_usd": usd(prompt_cache_savings(db, scope, catalog)),
        **response_cache(db, scope, catalog),
    }
    return out


def latency_percentiles(
    db: Database, scope: Scope, quantiles: Sequence[float]
) -> dict[str, int | None]:
    """Exact nearest-rank percentiles of ``duration_ms`` over the calls that have one."""
    where, params = scope.where()
    where = (
        f"{where} AND c.duration_ms IS NOT NULL" if where else " WHERE c.duration_ms IS NOT NULL"
    )
    n = int(db.query(f"SELECT COUNT(*) FROM calls c{where}", params)[0][0])
    out: dict[str, int | None] = {}
    for q in quantiles:
        name = f"p{round(q * 100)}"
        if n == 0:
            out[name] = None
            continue
        rank = max(1, -(-int(q * n * 1000) // 1000))  # ceil(q * n), nearest rank
        value = db.query(
            f"SELECT c.duration_ms FROM calls c{where} ORDER BY c.duration_ms "
            f"LIMIT 1 OFFSET {rank - 1}",
            params,
        )
        out[name] = int(value[0][0])
    return out


def prompt_cache_savings(db: Database, scope: Scope, catalog: PriceCatalog) -> int:
    """What the provider cache reads would have cost at the input price, minus what they
    cost: per model and day, priced at that day's rates (nano-dollars)."""
    where, params = scope.where()
    extra = " AND c.cache_read_tokens > 0" if where else " WHERE c.cache_read_tokens > 0"
    model = DIMENSIONS["model"]
    rows = db.query(
        f"SELECT c.provider, {model}, c.started_at / {DAY_MS}, SUM(c.cache_read_tokens) "
        f"FROM calls c{where}{extra} GROUP BY c.provider, {model}, c.started_at / {DAY_MS}",
        params,
    )
    savings = SavingsPricer(catalog)
    return sum(savings.saved(p, m, int(reads), int(day) * DAY_MS) for p, m, day, reads in rows)


def response_cache(db: Database, scope: Scope, catalog: PriceCatalog) -> dict[str, Any]:
    """Calls answered from our response cache, and what the provider would have charged
    for them (each priced as its own request: long-context rates apply per request)."""
    where, params = scope.where()
    extra = " AND c.cache_hit <> 'none'" if where else " WHERE c.cache_hit <> 'none'"
    cols = ", ".join(f"c.{t}" for t in TOKEN_FIELDS)
    rows = db.query(
        f"SELECT c.provider, {DIMENSIONS['model']}, c.started_at, {cols} "
        f"FROM calls c{where}{extra}",
        params,
    )
    saved = 0
    for provider, model, at, *tokens in rows:
        usage = TokenUsage(*(int(t) for t in tokens))
        cost = catalog.cost_nanos(provider, model, usage, int(at))
        saved += cost or 0
    return {"response_cache_hits": len(rows), "response_cache_savings_usd": usd(saved)}


def breakdown(
    db: Database, scope: Scope, by: str, sort: str, descending: bool, limit: int
) -> dict[str, Any]:
    """Totals per value of one dimension, sorted, at most ``limit`` rows plus the rest."""
    where, params = scope.where()
    if by == "tool":
        key = "t.name"
        source = (
            "calls c JOIN (SELECT DISTINCT source, dedupe_key, name FROM call_tools) t "
            "ON t.source = c.source AND t.dedupe_key = c.dedupe_key"
        )
    else:
        key, source = DIMENSIONS[by], "calls c"
    order_by = {
        "cost": "COALESCE(SUM(c.cost_nanos), 0)",
        "calls": "COUNT(*)",
        "tokens": "SUM(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens "
        "+ c.cache_write_1h_tokens + c.output_tokens)",
        "failed": "SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END)",
        "key": f"({key} IS NULL), {key}",
    }[sort]
    direction = "DESC" if descending else "ASC"
    rows = db.query(
        f"SELECT {key}, {MEASURES_SQL} FROM {source}{where} GROUP BY {key} "
        # NULL keys (calls with no project, say) sort last on both engines.
        f"ORDER BY {order_by} {direction}, ({key} IS NULL), {key}",
        params,
    )
    out = []
    rest: Measures | None = None
    for i, row in enumerate(rows):
        m = Measures.from_row(row[1:])
        if i < limit:
            out.append({"key": row[0], **m.to_json()})
        elif rest is None:
            rest = m
        else:
            rest = _add(rest, m)
    return {
        "by": by,
        "sort": sort,
        "rows": out,
        "other": None if rest is None else {"values": len(rows) - limit, **rest.to_json()},
    }


def _add(a: Measures, b: Measures) -> Measures:
    return Measures(
        a.calls + b.calls,
        a.failed_calls + b.failed_calls,
        a.unknown_cost_calls + b.unknown_cost_calls,
        a.cost_nanos + b.cost_nanos,
        {k: a.tokens[k] + b.tokens[k] for k in a.tokens},
    )
