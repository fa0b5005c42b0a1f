"""``GET /api/v1/cache``: how well caching works, and what better caching would save.

The provider's prompt cache overall and per model (share of prompt tokens read from it,
savings at each day's prices), the sessions and prompt prefixes that reuse it poorly with
an estimate of what better reuse could save, and the prompts sent more than once (what an
exact response cache would save). See ``ranked.py`` for the shared rules. Named
``cache_report`` so it is not taken for a cache itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import Scope
from tokenomy.api.queries import DAY_MS, prompt_cache_savings, response_cache, usd
from tokenomy.api.ranked import MODEL, evidence_by_key, rank, where_and
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database

# A session (or prompt prefix) reuses the provider's prompt cache poorly when it has at
# least this many calls and prompt tokens yet reads less than half its prompt from cache:
# below these sizes the first call's cache write dominates and the share means little.
POOR_REUSE_MIN_CALLS = 5
POOR_REUSE_MIN_PROMPT_TOKENS = 100_000
_PROMPT = "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


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
    models, totals = _cache_by_model(db, scope, savings, limit)
    duplicates, dup_totals = _duplicate_prompts(db, scope, limit)
    summary = {
        **totals,
        # The same figure as /summary's, by the same query.
        "savings_usd": usd(prompt_cache_savings(db, scope, catalog)),
        **response_cache(db, scope, catalog),
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
        "poor_reuse_sessions": _poor_reuse(
            db, scope, savings, "c.session_id", min_calls, min_prompt_tokens, limit
        ),
        "poor_reuse_prefixes": _poor_reuse(
            db, scope, savings, "c.prefix_hash", min_calls, min_prompt_tokens, limit
        ),
        "duplicate_prompts": duplicates,
        "rows": duplicates,
    }


_CACHE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
_READS = _CACHE_TOKENS.index("cache_read_tokens")


@dataclass(slots=True)
class _CacheSums:
    """Prompt-cache figures of some calls; ``tokens`` in ``_CACHE_TOKENS`` order."""

    calls: int = 0
    reading: int = 0  # calls that read from the cache
    tokens: list[int] = field(default_factory=lambda: [0] * len(_CACHE_TOKENS))
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
            "tokens": {**dict(zip(_CACHE_TOKENS, self.tokens, strict=True)), "prompt": prompt},
            # Of everything the model read, the part read from the provider's cache.
            "read_share": _ratio(self.tokens[_READS], prompt),
            "cost_usd": usd(self.cost_nanos),
            "savings_usd": usd(self.saved_nanos),
        }


def _cache_by_model(
    db: Database, scope: Scope, savings: SavingsPricer, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cache tokens and savings per (provider, model), the biggest readers of prompts first,
    and in total. Sums are per model and UTC day, so savings use that day's prices."""
    where, params = scope.where()
    day = f"c.started_at / {DAY_MS}"
    rows = db.query(
        f"SELECT c.provider, {MODEL}, {day}, COUNT(*), "
        "SUM(CASE WHEN c.cache_read_tokens > 0 THEN 1 ELSE 0 END), "
        + ", ".join(f"SUM(c.{t})" for t in _CACHE_TOKENS)
        + f", COALESCE(SUM(c.cost_nanos), 0) FROM calls c{where} "
        f"GROUP BY c.provider, {MODEL}, {day}",
        params,
    )
    per_model: dict[tuple[Any, Any], _CacheSums] = {}
    total = _CacheSums()
    for provider, model, d, calls, reading, *rest in rows:
        tokens = [int(v or 0) for v in rest[: len(_CACHE_TOKENS)]]
        reads = tokens[_READS]
        group = _CacheSums(
            int(calls),
            int(reading or 0),
            tokens,
            int(rest[-1] or 0),
            savings.saved(provider, model, reads, int(d) * DAY_MS),
        )
        per_model.setdefault((provider, model), _CacheSums()).add(group)
        total.add(group)
    ranked = sorted(
        per_model.items(),
        key=lambda kv: (-sum(kv[1].tokens), kv[0][1] is None, str(kv[0][1]), str(kv[0][0])),
    )
    models = [{"key": m, "provider": p, **sums.to_json()} for (p, m), sums in ranked[:limit]]
    summary = total.to_json()
    del summary["savings_usd"]  # the caller's, from prompt_cache_savings
    return models, summary


def _poor_reuse(
    db: Database,
    scope: Scope,
    savings: SavingsPricer,
    key: str,
    min_calls: int,
    min_prompt_tokens: int,
    limit: int,
) -> list[dict[str, Any]]:
    """Values of ``key`` (a session, a prompt prefix) with at least ``min_calls`` calls and
    ``min_prompt_tokens`` prompt tokens that read less than half of them from the cache,
    sorted by what better reuse could have saved.

    The estimate: every uncached input token after the key's first call (which has to
    write the cache) read from the cache instead, at that model's input price minus its
    cache-read price on the day. An upper bound: part of a later prompt is always new.
    """
    where, params = scope.where()
    where = where_and(where, f"{key} IS NOT NULL")
    having = (
        f"COUNT(*) >= ? AND SUM({_PROMPT}) >= ? AND 2 * SUM(c.cache_read_tokens) < SUM({_PROMPT})"
    )
    found = db.query(
        f"SELECT {key}, COUNT(*), "
        + ", ".join(f"SUM(c.{t})" for t in _CACHE_TOKENS)
        + ", COALESCE(SUM(c.cost_nanos), 0), MIN(c.started_at), MAX(c.started_at), "
        f"MIN(c.project), COUNT(DISTINCT c.session_id) "
        f"FROM calls c{where} GROUP BY {key} HAVING {having}",
        [*params, min_calls, min_prompt_tokens],
    )
    if not found:
        return []
    # Uncached input after each key's first call, per model and day (so it is priced).
    later = db.query(
        "SELECT x.k, x.provider, x.model, x.day, SUM(x.input_tokens) FROM ("
        f"SELECT {key} AS k, c.provider AS provider, {MODEL} AS model, "
        f"c.started_at / {DAY_MS} AS day, c.input_tokens AS input_tokens, "
        f"ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY c.started_at, c.id) AS rn "
        f"FROM calls c{where} AND {key} IN "
        f"(SELECT {key} FROM calls c{where} GROUP BY {key} HAVING {having})"
        ") x WHERE x.rn > 1 GROUP BY x.k, x.provider, x.model, x.day",
        [*params, *params, min_calls, min_prompt_tokens],
    )
    potential: dict[Any, int] = {}
    for k, provider, model, d, tokens in later:
        saved = savings.saved(provider, model, int(tokens or 0), int(d) * DAY_MS)
        potential[k] = potential.get(k, 0) + saved
    out = []
    for k, calls, *rest in found:
        tokens = [int(v or 0) for v in rest[: len(_CACHE_TOKENS)]]
        cost, first, last, project, sessions = rest[len(_CACHE_TOKENS) :]
        prompt = sum(tokens)
        item: dict[str, Any] = {"key": k}
        if key == "c.session_id":
            item["project"] = project
        else:
            item["sessions"] = int(sessions)
        item.update(
            {
                "calls": int(calls),
                "tokens": {**dict(zip(_CACHE_TOKENS, tokens, strict=True)), "prompt": prompt},
                "read_share": _ratio(tokens[_READS], prompt),
                "cost_usd": usd(int(cost)),
                "potential_savings_usd": usd(potential.get(k, 0)),
                "first_at": iso_utc(int(first)),
                "last_at": iso_utc(int(last)),
            }
        )
        out.append((potential.get(k, 0), item))
    out.sort(key=lambda pair: rank(pair[0], pair[1]["key"]))
    return [item for _, item in out[:limit]]


def _duplicate_prompts(
    db: Database, scope: Scope, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Prompts (``prompt_hash``) sent more than once: the cost of every repeat after the
    first that our response cache did not already answer is what an exact response cache
    would have saved. Sorted by that, then by the number of calls."""
    where, params = scope.where()
    where = where_and(where, "c.prompt_hash IS NOT NULL")
    numbered = (
        "SELECT c.prompt_hash AS k, c.cost_nanos AS cost, c.cache_hit AS hit, "
        "c.started_at AS at, c.session_id AS sid, ROW_NUMBER() OVER "
        f"(PARTITION BY c.prompt_hash ORDER BY c.started_at, c.id) AS rn FROM calls c{where}"
    )
    repeat_cost = "COALESCE(SUM(CASE WHEN x.rn > 1 AND x.hit = 'none' THEN x.cost ELSE 0 END), 0)"
    hits = "SUM(CASE WHEN x.hit <> 'none' THEN 1 ELSE 0 END)"
    grouped = (
        f"SELECT x.k AS k, COUNT(*) AS n, {repeat_cost} AS saved, {hits} AS hits, "
        "COALESCE(SUM(x.cost), 0) AS cost, SUM(CASE WHEN x.cost IS NULL THEN 1 ELSE 0 END) "
        "AS unknown, MIN(x.at) AS first, MAX(x.at) AS last, COUNT(DISTINCT x.sid) AS sessions "
        f"FROM ({numbered}) x GROUP BY x.k HAVING COUNT(*) > 1"
    )
    n, repeats, saved, cache_hits = db.query(
        "SELECT COUNT(*), COALESCE(SUM(g.n - 1), 0), COALESCE(SUM(g.saved), 0), "
        f"COALESCE(SUM(g.hits), 0) FROM ({grouped}) g",
        params,
    )[0]
    totals = {
        "prompts": int(n),
        "repeats": int(repeats),
        "cache_hits": int(cache_hits),
        "repeat_cost_usd": usd(int(saved)),
    }
    if not n:
        return [], totals
    rows = db.query(
        "SELECT g.k, g.n, g.saved, g.hits, g.cost, g.unknown, g.first, g.last, g.sessions "
        f"FROM ({grouped}) g ORDER BY g.saved DESC, g.n DESC, g.k LIMIT ?",
        [*params, limit],
    )
    evidence = evidence_by_key(db, where, params, "c.prompt_hash", [r[0] for r in rows])
    out: list[tuple[tuple[int, int, str], dict[str, Any]]] = []
    for k, calls, repeat, hit, cost, unknown, first, last, sessions in rows:
        order = (-int(repeat), -int(calls), str(k))
        out.append(
            (
                order,
                {
                    "key": k,
                    "calls": int(calls),
                    "repeats": int(calls) - 1,
                    "cache_hits": int(hit),
                    "sessions": int(sessions),
                    "cost_usd": usd(int(cost)),
                    "unknown_cost_calls": int(unknown),
                    "repeat_cost_usd": usd(int(repeat)),
                    "first_at": iso_utc(int(first)),
                    "last_at": iso_utc(int(last)),
                    "evidence": evidence.get(k, []),
                },
            )
        )
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out], totals
