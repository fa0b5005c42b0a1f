"""Costs after the fact: which models have no price, and recomputing stored costs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Update, bindparam, func, select, update

from tokenomy.pricing import PriceCatalog
from tokenomy.record import CostSource, TokenUsage
from tokenomy.store.schema import calls

MODEL = func.coalesce(calls.c.response_model, calls.c.request_model)


@dataclass(frozen=True, slots=True)
class UnpricedModel:
    provider: str | None
    model: str | None
    calls: int
    tokens: int


def unpriced_models(engine: Engine) -> list[UnpricedModel]:
    """Every (provider, model) with calls whose cost is unknown, most tokens first."""
    stmt = (
        select(calls.c.provider, MODEL, func.count(), func.sum(calls.c.total_tokens))
        .where(calls.c.cost_nanos.is_(None))
        .group_by(calls.c.provider, MODEL)
        .order_by(func.sum(calls.c.total_tokens).desc())
    )
    with engine.connect() as conn:
        return [UnpricedModel(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in conn.execute(stmt)]


@dataclass(slots=True)
class RepriceResult:
    examined: int = 0
    changed: int = 0
    still_unknown: int = 0


def reprice(
    engine: Engine,
    catalog: PriceCatalog,
    *,
    include_reported: bool = False,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> RepriceResult:
    """Recompute every computed (and unknown) cost from the stored token counts.

    Costs the source reported itself (e.g. Claude Code's ``costUSD``) are kept unless
    ``include_reported``: they are what was actually billed.
    """
    cols = (
        calls.c.id,
        calls.c.provider,
        MODEL,
        calls.c.started_at,
        calls.c.input_tokens,
        calls.c.cache_read_tokens,
        calls.c.cache_write_tokens,
        calls.c.cache_write_1h_tokens,
        calls.c.output_tokens,
        calls.c.cost_nanos,
        calls.c.status,
    )
    stmt = select(*cols)
    if not include_reported:
        stmt = stmt.where(calls.c.cost_source != CostSource.REPORTED.value)
    result = RepriceResult()
    updates: list[dict[str, object]] = []
    upd = (
        update(calls)
        .where(calls.c.id == bindparam("row_id"))
        .values(cost_nanos=bindparam("new_cost"), cost_source=bindparam("new_source"))
    )
    with engine.connect() as reader:
        rows = reader.execute(stmt).all()
    for row in rows:
        result.examined += 1
        usage = TokenUsage(row[4], row[5], row[6], row[7], row[8])
        if usage.total == 0 and row[10] != "ok":
            cost: int | None = 0  # a failed call with no tokens costs nothing
        else:
            cost = catalog.cost_nanos(row[1], row[2], usage, row[3])
        if cost is None:
            result.still_unknown += 1
        source = CostSource.UNKNOWN if cost is None else CostSource.COMPUTED
        if cost != row[9] or include_reported:
            updates.append({"row_id": row[0], "new_cost": cost, "new_source": source.value})
        if len(updates) >= batch:
            result.changed += _apply(engine, upd, updates)
            if progress:
                progress(result.examined)
    result.changed += _apply(engine, upd, updates)
    return result


def _apply(engine: Engine, stmt: Update, updates: list[dict[str, object]]) -> int:
    if not updates:
        return 0
    n = len(updates)
    with engine.begin() as conn:
        conn.execute(stmt, updates)
    updates.clear()
    return n
