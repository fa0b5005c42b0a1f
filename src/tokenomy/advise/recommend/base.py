"""What every recommendation is made of, and what every finder shares.

A recommendation says what to change, what it would have saved on the calls in scope
(scaled to 30 days), how sure that figure is (``basis``), the figures that show it, and
where its calls are: ``calls_query`` is the ``/api/v1/calls`` query (and the dashboard's
Calls page link) that lists them, ``examples`` the ids of a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import Scope
from tokenomy.api.queries import DAY_MS, usd
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

MONTH_MS = 30 * DAY_MS
HOUR_MS = 3_600_000
# A range shorter than this is scaled as if it were this long, so a burst of calls in one
# minute is not multiplied by 43,200 into a monthly figure.
MIN_SPAN_MS = DAY_MS

# How a saving was worked out, weakest claim last.
MEASURED = "measured"  # replaying the recorded calls under the change (exact on these calls)
ESTIMATE = "estimate"  # the recorded calls repriced under an assumption that is stated
UPPER_BOUND = "upper bound"  # the most the change could save; less if only part applies

# Every kind, in the order the issue and the docs list them.
KINDS = (
    "exact_cache",
    "semantic_cache",
    "prompt_cache",
    "batch_api",
    "cheaper_model",
    "retry_storm",
    "long_context",
    "cost_growth",
)


@dataclass(frozen=True, slots=True)
class Window:
    """The calls' time range, for scaling savings to 30 days."""

    start_ms: int | None
    span_ms: int

    def monthly_nanos(self, nanos: int) -> int:
        return nanos * MONTH_MS // self.span_ms

    @property
    def days(self) -> float:
        return round(self.span_ms / DAY_MS, 4)


def window(db: Database, scope: Scope, now_ms: int) -> Window:
    """The range asked for, or from the first call in scope to the last where it is open,
    never past now (a range ending tomorrow has not had its calls yet)."""
    start, end = scope.start_ms, scope.end_ms
    if start is None or end is None:
        where, params = scope.where()
        first, last = db.query(
            f"SELECT MIN(c.started_at), MAX(c.started_at) FROM calls c{where}", params
        )[0]
        if start is None:
            start = None if first is None else int(first)
        if end is None:
            end = None if last is None else int(last) + 1
    if end is not None:
        end = min(end, max(now_ms, (start or 0) + 1))
    if start is None or end is None:
        return Window(start, MIN_SPAN_MS)
    return Window(start, max(end - start, MIN_SPAN_MS))


@dataclass(slots=True)
class Recommendation:
    kind: str
    title: str
    advice: str
    evidence: str
    savings_nanos: int
    basis: str
    calls: int
    calls_query: dict[str, str]
    examples: list[str] = field(default_factory=list)
    project: str | None = None
    model: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self, win: Window) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "advice": self.advice,
            "evidence": self.evidence,
            "savings_usd": usd(self.savings_nanos),
            "monthly_savings_usd": usd(win.monthly_nanos(self.savings_nanos)),
            "basis": self.basis,
            "project": self.project,
            "model": self.model,
            "calls": self.calls,
            "calls_query": self.calls_query,
            "examples": self.examples,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Context:
    """What a finder reads: the store, the calls asked about, prices, and the range."""

    db: Database
    scope: Scope
    catalog: PriceCatalog
    window: Window
    now_ms: int


def money(nanos: int) -> str:
    """Dollars for a sentence: cents, or four decimals below a dollar."""
    value = nanos / 1e9
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def range_query(start_ms: int, end_ms: int) -> dict[str, str]:
    """``since``/``until`` parameters covering [start, end]."""
    return {"since": iso_utc(start_ms), "until": iso_utc(end_ms + 1)}


def group_query(project: str | None, provider: str | None, model: str | None) -> dict[str, str]:
    """The calls of one project, provider and model."""
    out: dict[str, str] = {}
    if project is not None:
        out["project"] = project
    if provider is not None:
        out["provider"] = provider
    if model is not None:
        out["model"] = model
    return out
