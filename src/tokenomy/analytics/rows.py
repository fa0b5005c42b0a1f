"""Report rows: sums per key with tokens per category, cost and cache savings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tokenomy.analytics.query import TOKEN_COLUMNS, Group
from tokenomy.record import NANOS_PER_USD


@dataclass(slots=True)
class Row:
    key: str
    calls: int = 0
    failed_calls: int = 0
    unknown_cost_calls: int = 0
    cost_nanos: int = 0
    cache_savings_nanos: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_COLUMNS, 0))
    models: set[str] = field(default_factory=set)
    first_ms: int | None = None
    last_ms: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    breakdown: dict[str, Row] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return sum(v for k, v in self.tokens.items() if k != "reasoning_tokens")

    @property
    def cost_usd(self) -> Decimal:
        return Decimal(self.cost_nanos) / NANOS_PER_USD

    @property
    def cache_savings_usd(self) -> Decimal:
        return Decimal(self.cache_savings_nanos) / NANOS_PER_USD

    def add(self, g: Group, savings: int) -> None:
        self.calls += g.calls
        self.failed_calls += g.failed_calls
        self.unknown_cost_calls += g.unknown_cost_calls
        self.cost_nanos += g.cost_nanos
        self.cache_savings_nanos += savings
        for k, v in g.tokens.items():
            self.tokens[k] += v
        if g.model:
            self.models.add(g.model)
        self.first_ms = g.first_ms if self.first_ms is None else min(self.first_ms, g.first_ms)
        self.last_ms = g.last_ms if self.last_ms is None else max(self.last_ms, g.last_ms)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            **self.tokens,
            "total_tokens": self.total_tokens,
            # null, not 0, when no call of the row has a known cost
            "cost_usd": None
            if self.calls and self.unknown_cost_calls >= self.calls
            else float(round(self.cost_usd, 9)),
            "unknown_cost_calls": self.unknown_cost_calls,
            "cache_savings_usd": float(round(self.cache_savings_usd, 9)),
            "models": sorted(self.models),
        }
        if self.first_ms is not None and self.last_ms is not None:
            out["first_at"] = iso_utc(self.first_ms)
            out["last_at"] = iso_utc(self.last_ms)
        out.update(self.extra)
        if self.breakdown:
            out["breakdown"] = [r.to_json() for r in self.breakdown.values()]
        return out


@dataclass(slots=True)
class Report:
    kind: str
    rows: list[Row]
    totals: Row
    timezone: str

    def to_json(self) -> dict[str, Any]:
        totals = self.totals.to_json()
        totals.pop("key", None)
        return {
            "report": self.kind,
            "timezone": self.timezone,
            "rows": [r.to_json() for r in self.rows],
            "totals": totals,
        }


def iso_utc(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def merge_into(total: Row, row: Row) -> None:
    total.calls += row.calls
    total.failed_calls += row.failed_calls
    total.unknown_cost_calls += row.unknown_cost_calls
    total.cost_nanos += row.cost_nanos
    total.cache_savings_nanos += row.cache_savings_nanos
    for k, v in row.tokens.items():
        total.tokens[k] += v
    total.models |= row.models
    if row.first_ms is not None:
        total.first_ms = (
            row.first_ms if total.first_ms is None else min(total.first_ms, row.first_ms)
        )
    if row.last_ms is not None:
        total.last_ms = row.last_ms if total.last_ms is None else max(total.last_ms, row.last_ms)
