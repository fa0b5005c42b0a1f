"""The ``/failures`` and ``/cache`` answers as they were computed before their rollups:
every call of the range grouped (``api/failures.py`` and ``api/cache_report.py`` of the
release before migration m007, verbatim but for their names). The rollup-based answers must
equal these exactly: same rows, order, measures and evidence."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.analytics.reports import SavingsPricer
from tokenomy.analytics.rows import iso_utc
from tokenomy.api.params import ApiError, Scope
from tokenomy.api.queries import DAY_MS, prompt_cache_savings, response_cache, usd
from tokenomy.api.ranked import EVIDENCE, MODEL, evidence_by_key, rank, where_and
from tokenomy.api.timeseries import INTERVALS
from tokenomy.api.timeseries import buckets as buckets_of
from tokenomy.pricing import PriceCatalog
from tokenomy.store.db import Database


def failures_from_calls(
    db: Database, scope: Scope, limit: int, interval: str = "day"
) -> dict[str, Any]:
    """Failed calls (status other than ``ok``) grouped by (error type, provider, model),
    the most frequent first: count, share of all calls in scope, HTTP statuses seen,
    first and last time, a count per local ``interval`` bucket (aligned with
    ``buckets``, as in ``timeseries``) and the ids of the most recent failures."""
    if interval not in INTERVALS:
        raise ApiError(
            422,
            f"interval must be one of: {', '.join(INTERVALS)} (got {interval!r})",
            "interval",
        )
    where, params = scope.where()
    calls, failed, low, high = db.query(
        "SELECT COUNT(*), SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END), "
        f"MIN(c.started_at), MAX(c.started_at) FROM calls c{where}",
        params,
    )[0]
    calls, failed = int(calls), int(failed or 0)
    total: dict[str, Any] = {
        "calls": calls,
        "failed_calls": failed,
        "error_rate": round(failed / calls, 6) if calls else 0.0,
        "groups": 0,
    }
    # The buckets span the request's range or, where it is open, that of its calls (failed
    # or not), so quiet days show as zeros, as timeseries does.
    start = scope.start_ms if scope.start_ms is not None else low
    last = None if high is None else int(high) + 1
    if scope.end_ms is not None:
        end = scope.end_ms
    elif scope.start_ms is not None:  # "since" alone runs to now (or a later call)
        end = max(int(time.time() * 1000), scope.start_ms + 1, last or 0)
    else:
        end = last
    if start is None or end is None:
        return {"interval": interval, "total": total, "buckets": [], "rows": []}
    start, end = int(start), int(end)
    # The buckets as the API now cuts them (minutes and hours of real time).
    grid = buckets_of(scope, interval, start, end)
    buckets, index, count = grid.labels, grid.index(), len(grid.keys)
    if not failed:
        return {"interval": interval, "total": total, "buckets": buckets, "rows": []}

    fwhere = where_and(where, "c.status <> 'ok'")
    group = f"c.error_type, c.provider, {MODEL}"
    total["groups"] = int(
        db.query(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM calls c{fwhere} GROUP BY {group}) g", params
        )[0][0]
    )
    rows = db.query(
        f"SELECT {group}, COUNT(*), MIN(c.started_at), MAX(c.started_at), "
        f"COALESCE(SUM(c.cost_nanos), 0), COUNT(DISTINCT c.session_id), "
        f"COUNT(*) - COUNT(c.cost_nanos) "
        f"FROM calls c{fwhere} GROUP BY {group} ORDER BY COUNT(*) DESC, "
        f"(c.error_type IS NULL), c.error_type, (c.provider IS NULL), c.provider, "
        f"({MODEL} IS NULL), {MODEL} LIMIT ?",
        [*params, limit],
    )
    groups = [tuple(r[:3]) for r in rows]
    if total["groups"] > len(groups):
        # Only some groups are shown: their details alone are fetched.
        cond, values = _groups_in(groups)
        fwhere, params = where_and(fwhere, cond), [*params, *values]
    statuses: dict[tuple[Any, ...], set[int]] = {}
    for *g, status in db.query(
        f"SELECT DISTINCT {group}, c.http_status FROM calls c{fwhere} "
        "AND c.http_status IS NOT NULL",
        params,
    ):
        statuses.setdefault(tuple(g), set()).add(int(status))
    counts: dict[tuple[Any, ...], list[int]] = {}
    bucket = grid.key.raw
    for *g, b, n in db.query(
        f"SELECT {group}, {bucket}, COUNT(*) FROM calls c{fwhere} GROUP BY {group}, {bucket}",
        params,
    ):
        counts.setdefault(tuple(g), [0] * count)[index[int(b)]] += int(n)
    examples: dict[tuple[Any, ...], list[str]] = {}
    for *g, call_id in db.query(
        "SELECT x.e, x.p, x.m, x.id FROM (SELECT c.error_type AS e, c.provider AS p, "
        f"{MODEL} AS m, c.id AS id, ROW_NUMBER() OVER (PARTITION BY {group} "
        f"ORDER BY c.started_at DESC, c.id DESC) AS rn FROM calls c{fwhere}) x "
        f"WHERE x.rn <= {EVIDENCE} ORDER BY x.rn",
        params,
    ):
        examples.setdefault(tuple(g), []).append(call_id)
    out = []
    for row in rows:
        g = tuple(row[:3])
        n, first_at, last_at, cost, sessions, unknown = (int(v) for v in row[3:])
        out.append(
            {
                "error_type": g[0],
                "provider": g[1],
                "model": g[2],
                "failed_calls": n,
                "share": round(n / calls, 6),
                "http_statuses": sorted(statuses.get(g, ())),
                "cost_usd": usd(cost),
                "unknown_cost_calls": unknown,
                "sessions": sessions,
                "first_at": iso_utc(first_at),
                "last_at": iso_utc(last_at),
                "counts": counts.get(g, [0] * count),
                "examples": examples.get(g, []),
            }
        )
    out.sort(
        key=lambda r: (-r["failed_calls"], *_none_last(r["error_type"], r["provider"], r["model"]))
    )
    return {"interval": interval, "total": total, "buckets": buckets, "rows": out}


def _none_last(*values: Any) -> tuple[Any, ...]:
    return tuple(x for v in values for x in (v is None, "" if v is None else str(v)))


def _groups_in(groups: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """A condition matching any of these (error type, provider, model) groups."""
    columns = ("c.error_type", "c.provider", MODEL)
    parts: list[str] = []
    values: list[Any] = []
    for g in groups:
        terms = []
        for column, value in zip(columns, g, strict=True):
            if value is None:
                terms.append(f"{column} IS NULL")
            else:
                terms.append(f"{column} = ?")
                values.append(value)
        parts.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(parts) + ")", values


# A session (or prompt prefix) reuses the provider's prompt cache poorly when it has at
# least this many calls and prompt tokens yet reads less than half its prompt from cache:
# below these sizes the first call's cache write dominates and the share means little.
POOR_REUSE_MIN_CALLS = 5
POOR_REUSE_MIN_PROMPT_TOKENS = 100_000
_PROMPT = "c.input_tokens + c.cache_read_tokens + c.cache_write_tokens + c.cache_write_1h_tokens"


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def cache_from_calls(
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
