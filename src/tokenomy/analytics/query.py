"""Filtered, grouped sums over the call store, in one SQL query per report.

Time is grouped in 15-minute UTC buckets, the finest granularity of any real UTC offset
(e.g. +05:45), so buckets map exactly onto local days in any time zone, DST included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_, case, func, literal, select
from sqlalchemy.sql import Select

from tokenomy.store.schema import call_tools, calls

BUCKET_MS = 15 * 60 * 1000

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)

# Dimensions a report may group or filter by, mapped to columns of ``calls``.
DIMENSIONS: dict[str, Any] = {
    "project": calls.c.project,
    "model": func.coalesce(calls.c.response_model, calls.c.request_model),
    "provider": calls.c.provider,
    "source": calls.c.source,
    "session": calls.c.session_id,
    "user": calls.c.user,
    "status": calls.c.status,
}


@dataclass(frozen=True, slots=True)
class Filters:
    """What to include. ``since``/``until`` are inclusive local dates in ``tz``."""

    tz: ZoneInfo
    since: date | None = None
    until: date | None = None
    projects: Sequence[str] = ()
    sources: Sequence[str] = ()
    models: Sequence[str] = ()
    sessions: Sequence[str] = ()

    def range_ms(self) -> tuple[int | None, int | None]:
        start = end = None
        if self.since:
            start = int(datetime.combine(self.since, time.min, self.tz).timestamp() * 1000)
        if self.until:
            nxt = datetime.combine(self.until + timedelta(days=1), time.min, self.tz)
            end = int(nxt.timestamp() * 1000)
        return start, end

    def clauses(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        start, end = self.range_ms()
        if start is not None:
            out.append(calls.c.started_at >= start)
        if end is not None:
            out.append(calls.c.started_at < end)
        if self.projects:
            out.append(calls.c.project.in_(list(self.projects)))
        if self.sources:
            out.append(calls.c.source.in_(list(self.sources)))
        if self.models:
            out.append(DIMENSIONS["model"].in_(list(self.models)))
        if self.sessions:
            out.append(calls.c.session_id.in_(list(self.sessions)))
        return out


@dataclass(slots=True)
class Group:
    """Sums for one combination of grouping values."""

    keys: tuple[Any, ...]
    provider: str | None
    model: str | None
    calls: int = 0
    failed_calls: int = 0
    unknown_cost_calls: int = 0
    cost_nanos: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    first_ms: int = 0
    last_ms: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _measures() -> list[Any]:
    return [
        func.count().label("calls"),
        func.sum(case((calls.c.status != "ok", 1), else_=0)).label("failed_calls"),
        func.sum(case((calls.c.cost_nanos.is_(None), 1), else_=0)).label("unknown_cost_calls"),
        func.coalesce(func.sum(calls.c.cost_nanos), 0).label("cost_nanos"),
        *[func.sum(calls.c[c]).label(c) for c in TOKEN_COLUMNS],
        func.min(calls.c.started_at).label("first_ms"),
        func.max(calls.c.started_at).label("last_ms"),
    ]


def _to_group(row: Any, n_keys: int) -> Group:
    m = row._mapping
    return Group(
        keys=tuple(row[:n_keys]),
        provider=m["provider"],
        model=m["model"],
        calls=int(m["calls"]),
        failed_calls=int(m["failed_calls"] or 0),
        unknown_cost_calls=int(m["unknown_cost_calls"] or 0),
        cost_nanos=int(m["cost_nanos"] or 0),
        tokens={c: int(m[c] or 0) for c in TOKEN_COLUMNS},
        first_ms=int(m["first_ms"]),
        last_ms=int(m["last_ms"]),
    )


def grouped(
    engine: Engine, filters: Filters, dims: Sequence[str], *, by_bucket: bool = False
) -> list[Group]:
    """Sums per (bucket?, dims..., provider, model). Provider and model are always kept so
    the caller can price cache savings; it folds them away when not wanted."""
    keys: list[Any] = []
    if by_bucket:
        keys.append((calls.c.started_at // BUCKET_MS).label("bucket"))
    keys.extend(DIMENSIONS[d].label(f"k_{d}") for d in dims)
    provider = calls.c.provider.label("provider")
    model = DIMENSIONS["model"].label("model")
    stmt: Select[Any] = (
        select(*keys, provider, model, *_measures())
        .where(and_(True, *filters.clauses()))
        .group_by(*keys, provider, model)
    )
    with engine.connect() as conn:
        return [_to_group(row, len(keys)) for row in conn.execute(stmt)]


def grouped_by_tool(engine: Engine, filters: Filters) -> list[Group]:
    """Sums over the calls that used each tool; ``extra['uses']`` counts every use."""
    per_call = (
        select(
            call_tools.c.source,
            call_tools.c.dedupe_key,
            call_tools.c.name,
            func.min(call_tools.c.mcp_server).label("mcp_server"),
            func.count().label("uses"),
        )
        .group_by(call_tools.c.source, call_tools.c.dedupe_key, call_tools.c.name)
        .subquery()
    )
    stmt = (
        select(
            per_call.c.name,
            per_call.c.mcp_server,
            calls.c.provider.label("provider"),
            DIMENSIONS["model"].label("model"),
            func.sum(per_call.c.uses).label("uses"),
            func.count(func.distinct(calls.c.session_id)).label("sessions"),
            *_measures(),
        )
        .select_from(
            per_call.join(
                calls,
                and_(
                    calls.c.source == per_call.c.source,
                    calls.c.dedupe_key == per_call.c.dedupe_key,
                ),
            )
        )
        .where(and_(True, *filters.clauses()))
        .group_by(per_call.c.name, per_call.c.mcp_server, calls.c.provider, DIMENSIONS["model"])
    )
    out = []
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            g = _to_group(row, 2)
            g.extra = {"uses": int(row._mapping["uses"]), "sessions": int(row._mapping["sessions"])}
            out.append(g)
    return out


def per_call_groups(engine: Engine, filters: Filters) -> list[Group]:
    """Every call as its own group, oldest first (for 5-hour blocks)."""
    stmt = (
        select(
            calls.c.provider.label("provider"),
            DIMENSIONS["model"].label("model"),
            literal(1).label("calls"),
            case((calls.c.status != "ok", 1), else_=0).label("failed_calls"),
            case((calls.c.cost_nanos.is_(None), 1), else_=0).label("unknown_cost_calls"),
            func.coalesce(calls.c.cost_nanos, 0).label("cost_nanos"),
            *[calls.c[c] for c in TOKEN_COLUMNS],
            calls.c.started_at.label("first_ms"),
            calls.c.started_at.label("last_ms"),
        )
        .where(and_(True, *filters.clauses()))
        .order_by(calls.c.started_at)
    )
    with engine.connect() as conn:
        return [_to_group(row, 0) for row in conn.execute(stmt)]
