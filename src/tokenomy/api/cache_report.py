"""``GET /api/v1/cache``: how well caching works, and what better caching would save.

The provider's prompt cache overall and per model (share of prompt tokens read from it,
savings at each day's prices), the sessions and prompt prefixes that reuse it poorly with
an estimate of what better reuse could save, and the prompts sent more than once (what an
exact response cache would save). Each part reads rollups: the hourly and daily sums
(``sums.py``), the per-session and per-prefix ones (``reuse.py``) and those of duplicate
prompts (``duplicates.py``); see ``ranked.py`` for the shared rules. Named
``cache_report`` so it is not taken for a cache itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.api.duplicates import duplicate_prompts
from tokenomy.api.params import Scope
from tokenomy.api.queries import DAY_MS, priced_hits, usd
from tokenomy.api.reuse import CACHE_TOKENS, READS, Thresholds, poor_reuse, ratio
from tokenomy.api.sums import Key, dimension, sums, utc_day, value
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TOKEN_FIELDS
from tokenomy.store.db import Database
from tokenomy.store.key_rollups import PREFIXES, SESSIONS

# A session (or prompt prefix) reuses the provider's prompt cache poorly when it has at
# least this many calls and prompt tokens yet reads less than half its prompt from cache:
# below these sizes the first call's cache write dominates and the share means little.
POOR_REUSE_MIN_CALLS = 5
POOR_REUSE_MIN_PROMPT_TOKENS = 100_000


def cache(
    db: Database,
    scope: Scope,
    catalog: PriceCatalog,
    limit: int,
    *,
    min_calls: int = POOR_REUSE_MIN_CALLS,
    min_prompt_tokens: int = POOR_REUSE_MIN_PROMPT_TOKENS,
) -> dict[str, Any]:
    """Prompt-cache efficiency (overall and per model), the sessions and prompt prefixes
    that reuse the provider's cache poorly, and the prompts sent more than once (what an
    exact response cache would save). ``rows`` is ``duplicate_prompts`` again, for CSV."""
    savings = SavingsPricer(catalog)
    rows = _sums(db, scope)
    models, totals, saved = _cache_by_model(rows, savings, limit)
    duplicates, dup_totals = duplicate_prompts(db, scope, limit)
    thresholds = Thresholds(min_calls, min_prompt_tokens)
    pairs = {(p, m) for p, m, *_ in rows}  # the models the scope's calls used
    summary = {
        **totals,
        # The figure /summary gives (queries.prompt_cache_savings): the same sums per
        # provider, model and UTC day, each priced at that day's rates.
        "savings_usd": usd(saved),
        # As queries.response_cache sums them: the calls our cache answered.
        **priced_hits(
            catalog, [(p, m, d, n, *rest[1:-1]) for p, m, d, hit, n, *rest in rows if hit]
        ),
        "duplicates": dup_totals,
    }
    return {
        "summary": summary,
        "thresholds": {
            "min_calls": min_calls,
            "min_prompt_tokens": min_prompt_tokens,
            "max_read_share": 0.5,
        },
        "models": models,
        "poor_reuse_sessions": poor_reuse(db, scope, savings, SESSIONS, thresholds, limit, pairs),
        "poor_reuse_prefixes": poor_reuse(db, scope, savings, PREFIXES, thresholds, limit, pairs),
        "duplicate_prompts": duplicates,
        "rows": duplicates,
    }


@dataclass(slots=True)
class _CacheSums:
    """Prompt-cache figures of some calls; ``tokens`` in ``CACHE_TOKENS`` order."""

    calls: int = 0
    reading: int = 0  # calls that read from the cache
    tokens: list[int] = field(default_factory=lambda: [0] * len(CACHE_TOKENS))
    cost_nanos: int = 0
    saved_nanos: int = 0

    def add(self, other: _CacheSums) -> None:
        self.calls += other.calls
        self.reading += other.reading
        self.tokens = [a + b for a, b in zip(self.tokens, other.tokens, strict=True)]
        self.cost_nanos += other.cost_nanos
        self.saved_nanos += other.saved_nanos

    def to_json(self) -> dict[str, Any]:
        prompt = sum(self.tokens)
        return {
            "calls": self.calls,
            "calls_with_cache_reads": self.reading,
            "tokens": {**dict(zip(CACHE_TOKENS, self.tokens, strict=True)), "prompt": prompt},
            # Of everything the model read, the part read from the provider's cache.
            "read_share": ratio(self.tokens[READS], prompt),
            "cost_usd": usd(self.cost_nanos),
            "savings_usd": usd(self.saved_nanos),
        }


# Whether our response cache answered a call, as a grouping key (lean rollups keep it).
_HIT = Key(
    "CASE WHEN r.cache_hit <> 'none' THEN 1 ELSE 0 END",
    "CASE WHEN c.cache_hit <> 'none' THEN 1 ELSE 0 END",
    frozenset({"cache_hit"}),
)
_MEASURES = ("calls", "cache_read_calls", *TOKEN_FIELDS, "cost_nanos")
assert TOKEN_FIELDS[: len(CACHE_TOKENS)] == CACHE_TOKENS


def _sums(db: Database, scope: Scope) -> list[tuple[Any, ...]]:
    """Per provider, model, UTC day and whether our response cache answered: the calls,
    those that read from the provider's cache, tokens and cost (one read of the rollups
    for the summary's three parts)."""
    rows = sums(db, scope, (dimension("provider"), dimension("model"), utc_day(), _HIT), _MEASURES)
    return [(value(p), value(m), int(d), int(hit), *rest) for p, m, d, hit, *rest in rows]


def _cache_by_model(
    rows: Sequence[tuple[Any, ...]], savings: SavingsPricer, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Cache tokens and savings per (provider, model), the biggest readers of prompts first,
    and in total, with what the reads saved (nanos). Sums are per model and UTC day, so
    savings use that day's prices."""
    # Per provider, model and day (both values of the cache-hit key added up), then per
    # model, each day's reads priced at that day's rates.
    days: dict[tuple[Any, Any, int], list[int]] = {}
    width = 3 + len(CACHE_TOKENS)
    for provider, model, d, _hit, calls, reading, *rest in rows:
        day = days.get((provider, model, d))
        if day is None:
            day = days[(provider, model, d)] = [0] * width
        day[0] += calls
        day[1] += reading
        day[2] += rest[-1]
        for i in range(len(CACHE_TOKENS)):
            day[3 + i] += rest[i]
    per_model: dict[tuple[Any, Any], _CacheSums] = {}
    for (provider, model, d), (calls, reading, cost, *tokens) in days.items():
        sums = per_model.get((provider, model))
        if sums is None:
            sums = per_model[(provider, model)] = _CacheSums()
        sums.calls += calls
        sums.reading += reading
        sums.cost_nanos += cost
        for i, v in enumerate(tokens):
            sums.tokens[i] += v
        sums.saved_nanos += savings.saved(provider, model, tokens[READS], d * DAY_MS)
    total = _CacheSums()
    for sums in per_model.values():
        total.add(sums)
    ranked = sorted(
        per_model.items(),
        key=lambda kv: (-sum(kv[1].tokens), kv[0][1] is None, str(kv[0][1]), str(kv[0][0])),
    )
    models = [{"key": m, "provider": p, **sums.to_json()} for (p, m), sums in ranked[:limit]]
    summary = total.to_json()
    del summary["savings_usd"]  # given with the summary's other savings
    return models, summary, total.saved_nanos
