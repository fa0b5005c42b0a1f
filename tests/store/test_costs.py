"""Recomputing stored costs: what a reprice changes and what it must leave alone."""

from __future__ import annotations

from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, TokenUsage
from tokenomy.store import Database
from tokenomy.store.costs import reprice
from tokenomy.store.writer import write_records

CATALOG = PriceCatalog.load()
AT = 1_790_000_000_000


def _call(key: str, **kw: object) -> CallRecord:
    usage = TokenUsage(input_tokens=20_000, output_tokens=5_000)
    return CallRecord(
        "gateway",
        key,
        AT,
        usage,
        provider="openai",
        request_model="gpt-4o",
        **kw,  # type: ignore[arg-type]
    )


def test_a_reprice_keeps_response_cache_hits_free(db: Database) -> None:
    paid = _call("paid")
    hit = _call("hit", cache_hit="exact", cost_nanos=0, cost_source=CostSource.COMPUTED)
    write_records(db, [paid, hit])
    result = reprice(db, CATALOG)
    costs = dict(db.query("SELECT dedupe_key, cost_nanos FROM calls"))
    expected = CATALOG.cost_nanos("openai", "gpt-4o", paid.usage, AT)
    assert expected and costs == {"paid": expected, "hit": 0}
    assert (result.examined, result.changed) == (2, 1)
