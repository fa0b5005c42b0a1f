"""Usage reports: per day, week, month, session, project, model, tool, and 5-hour block.

Every row carries tokens per category, calls, failed calls, cost (with the number of calls
whose cost is unknown) and cache savings: what the cache reads would have cost at the
model's input price, minus what they did cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Literal

from tokenomy.analytics.blocks import block_rows
from tokenomy.analytics.query import Filters, Group, grouped, grouped_by_day, grouped_by_tool
from tokenomy.analytics.rows import Report, Row, merge_into
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

ReportKind = Literal["daily", "weekly", "monthly", "session", "blocks", "project", "model", "tools"]
REPORT_KINDS: tuple[str, ...] = (
    "daily",
    "weekly",
    "monthly",
    "session",
    "blocks",
    "project",
    "model",
    "tools",
)


class SavingsPricer:
    """Cache savings per group, with the price looked up once per model and day."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog
        self._memo: dict[tuple[str | None, str | None, int], int] = {}

    def __call__(self, g: Group, at_ms: int) -> int:
        return self.saved(g.provider, g.model, g.tokens["cache_read_tokens"], at_ms)

    def saved(self, provider: str | None, model: str | None, reads: int, at_ms: int) -> int:
        """Nano-dollars that ``reads`` cache-read tokens saved against the input price."""
        if not reads or not model:
            return 0
        day = at_ms // 86_400_000
        key = (provider, model, day)
        per_token = self._memo.get(key)
        if per_token is None:
            price = self._catalog.resolve(provider, model, at_ms)
            per_token = max(0, price.input - price.cache_read) if price else 0
            self._memo[key] = per_token
        return reads * per_token // 1000  # pico-dollars -> nano-dollars


EPOCH_DAY = date(1970, 1, 1)


def _period_key(kind: str, d: date, week_start: int) -> str:
    if kind == "daily":
        return d.isoformat()
    if kind == "monthly":
        return d.strftime("%Y-%m")
    start = d - timedelta(days=(d.weekday() - week_start) % 7)
    return start.isoformat()


def _fold(
    groups: Iterable[Group],
    key_of: Callable[[Group], str],
    savings: SavingsPricer,
    breakdown: bool,
    when: Callable[[Group], int],
) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for g in groups:
        key = key_of(g)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(key)
        saved = savings(g, when(g))
        row.add(g, saved)
        if breakdown:
            model = g.model or "(no model)"
            sub = row.breakdown.get(model)
            if sub is None:
                sub = row.breakdown[model] = Row(model)
            sub.add(g, saved)
    return rows


def build_report(
    db: Database,
    catalog: PriceCatalog,
    kind: str,
    filters: Filters,
    *,
    breakdown: bool = False,
    week_start: int = 0,
    order: Literal["asc", "desc"] = "asc",
    now_ms: int | None = None,
) -> Report:
    """One report over the filtered calls; rows are sorted by key, or by cost for rankings."""
    savings = SavingsPricer(catalog)
    tz = filters.tz
    if kind in ("daily", "weekly", "monthly"):
        groups = grouped_by_day(db, filters)

        def key_of(g: Group) -> str:
            return _period_key(kind, EPOCH_DAY + timedelta(days=int(g.keys[0])), week_start)

        rows = _fold(groups, key_of, savings, breakdown, lambda g: g.last_ms)
        ordered = sorted(rows.values(), key=lambda r: r.key, reverse=order == "desc")
    elif kind in ("session", "project", "model"):
        dim = {"session": "session", "project": "project", "model": "model"}[kind]
        dims = [dim, "project"] if kind == "session" else [dim]
        groups = grouped(db, filters, dims)
        rows = _fold(
            groups, lambda g: str(g.keys[0] or "(none)"), savings, breakdown, lambda g: g.last_ms
        )
        if kind == "session":
            projects = {str(g.keys[0] or "(none)"): g.keys[1] for g in groups}
            for key, row in rows.items():
                row.extra["project"] = projects.get(key)
            ordered = sorted(rows.values(), key=lambda r: r.last_ms or 0, reverse=order == "desc")
        else:
            ordered = sorted(rows.values(), key=lambda r: r.cost_nanos, reverse=True)
    elif kind == "tools":
        groups = grouped_by_tool(db, filters)
        rows = _fold(groups, lambda g: str(g.keys[0]), savings, breakdown, lambda g: g.last_ms)
        for g in groups:
            row = rows[str(g.keys[0])]
            row.extra["mcp_server"] = g.keys[1]
            row.extra["uses"] = row.extra.get("uses", 0) + g.extra["uses"]
            row.extra["sessions"] = max(row.extra.get("sessions", 0), g.extra["sessions"])
        ordered = sorted(rows.values(), key=lambda r: r.extra["uses"], reverse=True)
    elif kind == "blocks":
        now = int(time.time() * 1000) if now_ms is None else now_ms
        ordered = block_rows(db, filters, savings, now)
    else:
        raise ValueError(f"unknown report {kind!r}; choose one of {', '.join(REPORT_KINDS)}")
    totals = Row("total")
    if kind == "tools":
        # Tool rows overlap (a call may use several tools): total the calls once instead.
        for g in grouped(db, filters, []):
            totals.add(g, savings(g, g.last_ms))
    else:
        for row in ordered:
            merge_into(totals, row)
    return Report(kind, ordered, totals, str(tz))
