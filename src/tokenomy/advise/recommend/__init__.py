"""`tokenomy advise`: ranked recommendations, each with its dollar savings per month, the
evidence behind it and the calls that show it.

    recommend(db, scope, catalog, evals=None) -> {"range", "summary", "rows", "not_assessed"}

Each finder looks for one kind of waste in the calls in scope (see ``base.KINDS`` and the
module of each); rows from all of them are ranked by their monthly saving. A finder that
cannot look (no evaluation results, no captured prompts) says why in ``not_assessed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tokenomy.advise.recommend.base import (
    ESTIMATE,
    KINDS,
    Context,
    Recommendation,
    window,
)
from tokenomy.advise.recommend.batching import find_batchable
from tokenomy.advise.recommend.cheaper_model import find_cheaper_models
from tokenomy.advise.recommend.duplicates import find_exact_duplicates
from tokenomy.advise.recommend.evals import EvalFileError, EvalResults, load_evals
from tokenomy.advise.recommend.growth import find_cost_growth
from tokenomy.advise.recommend.long_context import find_long_contexts
from tokenomy.advise.recommend.near_duplicates import NearDuplicates, find_near_duplicates
from tokenomy.advise.recommend.retries import find_retry_storms
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import Scope
from tokenomy.api.queries import usd
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

__all__ = ["KINDS", "EvalFileError", "EvalResults", "load_evals", "recommend"]

# Rows worth less than this a month are noise, not advice.
MIN_MONTHLY_NANOS = 10_000_000  # $0.01


def recommend(
    db: Database,
    scope: Scope,
    catalog: PriceCatalog,
    *,
    evals: EvalResults | None = None,
    limit: int = 20,
    kinds: tuple[str, ...] = KINDS,
    near: NearDuplicates | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Recommendations for the calls in ``scope``, the largest monthly saving first."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    ctx = Context(db, scope, catalog, window(db, scope, now), now)
    not_assessed: list[dict[str, str]] = []
    rows: list[Recommendation] = []
    finders: dict[str, Callable[[], list[Recommendation]]] = {
        "exact_cache": lambda: find_exact_duplicates(ctx),
        "semantic_cache": lambda: find_near_duplicates(ctx, near or NearDuplicates(), not_assessed),
        "prompt_cache": lambda: _prompt_caching(ctx),
        "batch_api": lambda: find_batchable(ctx),
        "cheaper_model": lambda: _cheaper(ctx, evals, not_assessed),
        "retry_storm": lambda: find_retry_storms(ctx),
        "long_context": lambda: find_long_contexts(ctx),
        "cost_growth": lambda: find_cost_growth(ctx),
    }
    for kind in kinds:
        rows += finders[kind]()
    win = ctx.window
    # Storms that cost nothing still matter (rate limits, time): they are kept, last.
    kept = [
        r
        for r in rows
        if win.monthly_nanos(r.savings_nanos) >= MIN_MONTHLY_NANOS or r.kind == "retry_storm"
    ]
    kept.sort(key=lambda r: (-r.savings_nanos, -r.calls, r.kind, r.title))
    total = sum(r.savings_nanos for r in kept)
    spend = _spend(ctx)
    return {
        "range": {
            "since": iso_utc(win.start_ms) if win.start_ms is not None else None,
            "until": iso_utc(win.start_ms + win.span_ms) if win.start_ms is not None else None,
            "days": win.days,
        },
        "summary": {
            "recommendations": len(kept),
            "spend_usd": usd(spend),
            "monthly_spend_usd": usd(win.monthly_nanos(spend)),
            # Savings of different rows can overlap (a duplicate prompt is also a long
            # one): the sum is what the rows claim, not what doing all of them saves.
            "savings_usd": usd(total),
            "monthly_savings_usd": usd(win.monthly_nanos(total)),
            "by_kind": {
                kind: usd(win.monthly_nanos(sum(r.savings_nanos for r in kept if r.kind == kind)))
                for kind in kinds
            },
        },
        "rows": [r.to_json(win) for r in kept[:limit]],
        "not_assessed": not_assessed,
    }


def _spend(ctx: Context) -> int:
    where, params = ctx.scope.where()
    value = ctx.db.query(f"SELECT COALESCE(SUM(c.cost_nanos), 0) FROM calls c{where}", params)
    return int(value[0][0])


def _cheaper(
    ctx: Context, evals: EvalResults | None, not_assessed: list[dict[str, str]]
) -> list[Recommendation]:
    if evals is not None and not evals.scores:
        first = f": {evals.problems[0]}" if evals.problems else ""
        not_assessed.append(
            {"kind": "cheaper_model", "reason": f"no usable results in {evals.path}{first}"}
        )
        return []
    if evals is None:
        not_assessed.append(
            {
                "kind": "cheaper_model",
                "reason": "no evaluation results: give a file of {case, model, score} lines "
                "(tokenomy advise --evals FILE, or ~/.tokenomy/evals.jsonl)",
            }
        )
        return []
    return find_cheaper_models(ctx, evals)


def _prompt_caching(ctx: Context) -> list[Recommendation]:
    """The prompt-cache advisor's answer as one row per provider and model (its own
    command, `tokenomy advise cache`, lists every prefix)."""
    from tokenomy.advise.prompt_cache import by_model

    out = []
    # Every prefix of each model, not the first N of a list: `tokenomy advise cache` agrees.
    for top, rows in by_model(ctx.db, ctx.scope, ctx.catalog, now_ms=ctx.now_ms):
        model = top["model"]
        savings = sum(round(r["savings_usd"] * 1e9) for r in rows)
        strategies = sorted({r["strategy"] for r in rows})
        projects = {r["project"] for r in rows}
        evicted = sum(r["evicted"] for r in rows)
        out.append(
            Recommendation(
                kind="prompt_cache",
                title=f"Cache repeated prompt prefixes of {model}",
                advice=(
                    f"{len(rows):,} prefixes would cost less cached (`tokenomy advise cache` "
                    f"lists each). The one that saves most: {top['advice']}"
                    if len(rows) > 1
                    else top["advice"]
                ),
                evidence=(
                    f"{sum(r['calls'] for r in rows):,} calls sent "
                    f"{sum(r['repeated_tokens'] for r in rows):,} tokens again that the provider "
                    f"could have read from its cache at 0.1x"
                    + (
                        f"; {evicted:,} repeats came after a 5-minute entry expired."
                        if evicted
                        else "."
                    )
                    + f" Replayed through the cache rules, the prompts would cost "
                    f"${sum(r['advised_prompt_cost_usd'] for r in rows):,.4f} instead of "
                    f"${sum(r['prompt_cost_usd'] for r in rows):,.4f}."
                ),
                savings_nanos=savings,
                basis=ESTIMATE,
                calls=sum(r["calls"] for r in rows),
                calls_query=top["calls_query"],
                examples=top["evidence"][:3],
                project=next(iter(projects)) if len(projects) == 1 else None,
                model=model,
                details={"prefixes": len(rows), "strategies": strategies, "evicted": evicted},
            )
        )
    return out
