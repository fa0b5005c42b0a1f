"""Models a cheaper model matches on the user's own evaluation results.

For each model the calls in scope used, every other model scored on the same cases (see
``evals.py``) is compared case by case; a model is "as good" when the one-sided 95% lower
bound of its mean score minus the used model's is above ``-MARGIN`` over at least
``MIN_CASES`` shared cases. Both models' prices are applied to the used model's tokens
(each day's tokens, category by category, at the price in force that day; long-context
premiums are not applied to the sums), and the recorded spend is scaled by the ratio: an
estimate that assumes the other model answers with as many tokens. The cheapest
qualifying model is advised; a model that costs more is never advised.
"""

from __future__ import annotations

from dataclasses import replace

from tokenomy.advise.recommend.base import (
    ESTIMATE,
    Context,
    Recommendation,
    group_query,
    money,
)
from tokenomy.advise.recommend.evals import Comparison, EvalResults, compare, matching_names
from tokenomy.api.queries import DAY_MS
from tokenomy.api.ranked import MODEL, where_and
from tokenomy.record import TokenUsage

MIN_CASES = 20
MARGIN = 0.02


def find_cheaper_models(ctx: Context, results: EvalResults) -> list[Recommendation]:
    if not results.scores:
        return []
    where, params = ctx.scope.where()
    where = where_and(
        where, f"c.cost_nanos IS NOT NULL AND c.cache_hit = 'none' AND {MODEL} IS NOT NULL"
    )
    rows = ctx.db.query(
        f"SELECT c.provider, {MODEL}, c.started_at / {DAY_MS}, SUM(c.input_tokens), "
        "SUM(c.cache_read_tokens), SUM(c.cache_write_tokens), SUM(c.cache_write_1h_tokens), "
        "SUM(c.output_tokens), SUM(c.cost_nanos), COUNT(*), MIN(c.id) FROM calls c"
        f"{where} GROUP BY c.provider, {MODEL}, c.started_at / {DAY_MS}",
        params,
    )
    days: dict[tuple[str | None, str], list[tuple[int, TokenUsage, int, int, str]]] = {}
    for provider, model, day, i, r, w, h, o, cost, calls, first in rows:
        usage = TokenUsage(
            input_tokens=int(i),
            cache_read_tokens=int(r),
            cache_write_tokens=int(w),
            cache_write_1h_tokens=int(h),
            output_tokens=int(o),
        )
        days.setdefault((provider, str(model)), []).append(
            (int(day) * DAY_MS, usage, int(cost), int(calls), str(first))
        )
    names = matching_names(results, {model for _, model in days})
    out = []
    for (provider, model), spent in days.items():
        name = names.get(model)
        if name is None:
            continue
        best = _cheapest_match(ctx, results, provider, name, spent)
        if best is not None:
            out.append(_recommend(provider, model, name, spent, *best))
    return out


def _cheapest_match(
    ctx: Context,
    results: EvalResults,
    provider: str | None,
    used: str,
    spent: list[tuple[int, TokenUsage, int, int, str]],
) -> tuple[str, Comparison, int] | None:
    actual = sum(cost for _, _, cost, _, _ in spent)
    # Both models are priced the same way (the catalog, these tokens); the recorded spend
    # is then scaled by their ratio, so reported or negotiated costs carry over.
    own = _repriced(ctx, provider, used, spent)
    if own is None or own <= 0:
        return None
    best: tuple[str, Comparison, int] | None = None
    for other in results.models:
        if other == used:
            continue
        cmp = compare(results, used, other)
        if cmp is None or cmp.cases < MIN_CASES or cmp.lower_bound < -MARGIN:
            continue
        theirs = _repriced(ctx, results.providers.get(other), other, spent)
        if theirs is None or theirs >= own:
            continue
        cost = actual * theirs // own
        if best is None or cost < best[2]:
            best = (other, cmp, cost)
    return best


def _repriced(
    ctx: Context,
    provider: str | None,
    model: str,
    spent: list[tuple[int, TokenUsage, int, int, str]],
) -> int | None:
    pico = 0
    for day_ms, usage, _, _, _ in spent:
        price = ctx.catalog.resolve(provider, model, day_ms)
        if price is None:
            return None
        # A day's sums are far past any long-context threshold; bill them at base rates.
        pico += replace(price, premium=None).cost_pico(usage)
    return (pico + 500) // 1000


def _recommend(
    provider: str | None,
    model: str,
    used: str,
    spent: list[tuple[int, TokenUsage, int, int, str]],
    other: str,
    cmp: Comparison,
    cost: int,
) -> Recommendation:
    actual = sum(c for _, _, c, _, _ in spent)
    calls = sum(n for _, _, _, n, _ in spent)
    examples = [first for *_, first in sorted(spent, key=lambda d: -d[2])[:3]]
    named = model if used == model else f"{model} ({used} in your results)"
    return Recommendation(
        kind="cheaper_model",
        title=f"Use {other} instead of {model}",
        advice=(
            f"Route {model}'s calls to {other} (an alias in the gateway's config, or a rule "
            "in the router); keep the evaluation in CI to see it stays as good."
        ),
        evidence=(
            f"On {cmp.cases:,} cases of your evaluation results {other} scored "
            f"{cmp.mean_other:.3f} against {cmp.mean_used:.3f} for {named} (difference "
            f"{cmp.mean_other - cmp.mean_used:+.3f}; its 95% lower bound, "
            f"{cmp.lower_bound:+.3f}, is within the {MARGIN} margin). "
            f"{calls:,} calls to {model} cost {money(actual)}; at {other}'s prices for the "
            f"same tokens they would cost {money(cost)}."
        ),
        savings_nanos=actual - cost,
        basis=ESTIMATE,
        calls=calls,
        calls_query=group_query(None, provider, model),
        examples=examples,
        model=model,
        details={
            "alternative": other,
            "cases": cmp.cases,
            "score": cmp.mean_used,
            "alternative_score": cmp.mean_other,
            "difference_lower_bound": round(cmp.lower_bound, 6),
            "margin": MARGIN,
        },
    )
