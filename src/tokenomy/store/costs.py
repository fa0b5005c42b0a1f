"""Costs after the fact: which models have no price, and recomputing stored costs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from tokenomy.pricing import PriceCatalog
from tokenomy.record import PRICE_VARIANT, WEB_SEARCHES, CostSource, TokenUsage
from tokenomy.store.db import Database
from tokenomy.store.rollups import hour_of, mark_hours

MODEL = "COALESCE(response_model, request_model)"
# A call whose provider sent no usage (the gateway marks it): its cost is unknown for want
# of tokens, not of a price, so adding a price or repricing cannot give it one.
USAGE_MISSING = """attributes LIKE '%"usage_missing":true%'"""


@dataclass(frozen=True, slots=True)
class UnpricedModel:
    provider: str | None
    model: str | None
    calls: int
    tokens: int


def unpriced_models(db: Database) -> list[UnpricedModel]:
    """Every (provider, model) with calls whose cost is unknown for want of a price, most
    tokens first."""
    rows = db.query(
        f"SELECT provider, {MODEL}, COUNT(*), SUM(total_tokens) FROM calls "
        f"WHERE cost_nanos IS NULL AND NOT ({USAGE_MISSING}) "
        f"GROUP BY provider, {MODEL} ORDER BY SUM(total_tokens) DESC"
    )
    return [UnpricedModel(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


@dataclass(slots=True)
class RepriceResult:
    examined: int = 0
    changed: int = 0
    still_unknown: int = 0


def reprice(
    db: Database,
    catalog: PriceCatalog,
    *,
    include_reported: bool = False,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> RepriceResult:
    """Recompute every computed (and unknown) cost from the stored token counts.

    Costs the source reported itself (e.g. Claude Code's ``costUSD``) are kept unless
    ``include_reported``: they are what was actually billed. A response-cache hit keeps
    its cost of 0: it carries the cached answer's tokens, but no provider was called. A
    call whose provider sent no usage keeps its unknown cost: its tokens are not known.
    """
    where = "" if include_reported else "WHERE cost_source <> ?"
    params = () if include_reported else (CostSource.REPORTED.value,)
    rows = db.query(
        "SELECT id, provider, " + MODEL + ", started_at, input_tokens, cache_read_tokens, "
        "cache_write_tokens, cache_write_1h_tokens, output_tokens, cost_nanos, status, "
        # Only the rare rows with a price variant or web searches have their attributes
        # read at all.
        f"cache_hit, CASE WHEN {USAGE_MISSING} THEN 1 ELSE 0 END, "
        f"CASE WHEN attributes LIKE '%{PRICE_VARIANT}%' "
        f"OR attributes LIKE '%{WEB_SEARCHES}%' THEN attributes END "
        f"FROM calls {where}",
        params,
    )
    result = RepriceResult()
    updates: list[tuple[int | None, str, str]] = []
    hours: set[int] = set()
    for row in rows:
        result.examined += 1
        usage = TokenUsage(row[4], row[5], row[6], row[7], row[8])
        if row[11] != "none":
            cost: int | None = 0  # answered from our response cache: no provider was paid
        elif row[12]:
            continue  # no usage was seen: no price makes its cost known (nor $0)
        elif usage.total == 0 and row[10] != "ok":
            cost = 0  # a failed call with no tokens costs nothing
        else:
            variant, searches = _priced_attributes(row[13])
            cost = catalog.cost_nanos(row[1], row[2], usage, row[3], variant, searches)
        if cost is None:
            result.still_unknown += 1
        source = CostSource.UNKNOWN if cost is None else CostSource.COMPUTED
        if cost != row[9] or include_reported:
            updates.append((cost, source.value, row[0]))
            hours.add(hour_of(int(row[3])))
        if len(updates) >= batch:
            result.changed += _apply(db, updates, hours)
            if progress:
                progress(result.examined)
    result.changed += _apply(db, updates, hours)
    return result


def _priced_attributes(attributes: object) -> tuple[str | None, int]:
    """A call's price variant and web searches from its attributes (JSON text)."""
    if attributes is None:
        return None, 0
    try:
        values = orjson.loads(attributes) if isinstance(attributes, str | bytes) else attributes
    except orjson.JSONDecodeError:
        return None, 0
    if not isinstance(values, dict):
        return None, 0
    variant, searches = values.get(PRICE_VARIANT), values.get(WEB_SEARCHES)
    return (
        variant if isinstance(variant, str) else None,
        searches if type(searches) is int and searches > 0 else 0,
    )


def _apply(db: Database, updates: list[tuple[int | None, str, str]], hours: set[int]) -> int:
    if not updates:
        return 0
    n = len(updates)
    with db.transaction() as cur:
        cur.executemany(
            db.sql("UPDATE calls SET cost_nanos = ?, cost_source = ? WHERE id = ?"), updates
        )
        mark_hours(db, cur, hours)  # the rollups of these hours now hold old costs
    updates.clear()
    hours.clear()
    return n
