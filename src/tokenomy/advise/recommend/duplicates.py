"""Duplicate prompts an exact response cache would have answered.

Calls with the same ``prompt_hash`` (the normalised request: model, messages, tools and
every sampling parameter) are replayed in time order through an exact cache with a TTL:
the first successful answer is stored, and every later call within the TTL of that store
would have been a hit, costing nothing. That is what the gateway's exact cache does
(entries are not refreshed by hits), so the saving is measured on the recorded calls, not
estimated. Runner records are left out: an agent run has effects beyond its answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from tokenomy.advise.recommend.base import (
    MEASURED,
    Context,
    Recommendation,
    group_query,
    money,
    plural,
)
from tokenomy.api.params import DOUBLE_COUNTED_SOURCE
from tokenomy.api.ranked import MODEL, where_and
from tokenomy.record import Status

# The gateway's default exact-cache TTL (cache/settings.py).
DEFAULT_TTL_S = 3600
_FETCH = 5000


@dataclass(slots=True)
class _Group:
    """The repeats of one project, provider and model."""

    hits: int = 0
    savings_nanos: int = 0
    waited_ms: int = 0
    prompts: set[str] = field(default_factory=set)
    by_prompt: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[int, str]] = field(default_factory=list)
    already_cached: int = 0


def find_exact_duplicates(ctx: Context, ttl_s: int = DEFAULT_TTL_S) -> list[Recommendation]:
    where, params = ctx.scope.where()
    where = where_and(where, f"c.prompt_hash IS NOT NULL AND c.source <> '{DOUBLE_COUNTED_SOURCE}'")
    # Only prompts sent more than once can repeat: find them first, in one grouped pass.
    sql = (
        f"SELECT c.project, c.provider, {MODEL}, c.prompt_hash, c.started_at, c.id, "
        "c.cost_nanos, c.status, c.cache_hit, c.duration_ms FROM calls c"
        f"{where} AND c.prompt_hash IN (SELECT c.prompt_hash FROM calls c{where} "
        "GROUP BY c.prompt_hash HAVING COUNT(*) > 1) "
        "ORDER BY c.prompt_hash, c.started_at, c.id"
    )
    groups: dict[tuple[str | None, str | None, str | None], _Group] = {}
    # The time each (group, prompt)'s entry expires, while it lives.
    entries: dict[tuple[Any, ...], int] = {}
    ttl_ms = ttl_s * 1000
    conn = ctx.db.connect()
    try:
        cur = cast(Any, conn.cursor())
        cur.execute(ctx.db.sql(sql), [*params, *params])
        last_hash = None
        while rows := cur.fetchmany(_FETCH):
            for project, provider, model, phash, at, call_id, cost, status, hit, duration in rows:
                if phash != last_hash:
                    entries.clear()  # rows come prompt by prompt: keep one prompt's entries
                    last_hash = phash
                key = (project, provider, model)
                g = groups.setdefault(key, _Group())
                if hit != "none":
                    g.already_cached += 1
                    continue
                expires = entries.get(key)
                if expires is not None and int(at) < expires:
                    g.hits += 1
                    g.prompts.add(phash)
                    saved = int(cost or 0)
                    g.savings_nanos += saved
                    g.by_prompt[phash] = g.by_prompt.get(phash, 0) + saved
                    g.waited_ms += int(duration or 0)
                    g.examples.append((-saved, str(call_id)))
                    if len(g.examples) > 50:
                        g.examples.sort()
                        del g.examples[3:]
                elif status == Status.OK:
                    entries[key] = int(at) + ttl_ms
        cur.close()
    finally:
        conn.close()
    return [
        _recommend(key, g, ttl_s) for key, g in groups.items() if g.hits and g.savings_nanos > 0
    ]


def _recommend(
    key: tuple[str | None, str | None, str | None], g: _Group, ttl_s: int
) -> Recommendation:
    project, provider, model = key
    top_prompt = min(g.by_prompt, key=lambda p: (-g.by_prompt[p], p))
    where = f" in {project}" if project else ""
    ttl = (
        f"{ttl_s // 3600} hour" + ("" if ttl_s == 3600 else "s")
        if ttl_s % 3600 == 0
        else f"{ttl_s} s"
    )
    already = (
        f" {plural(g.already_cached, 'call')} of these prompts already came from the cache."
        if g.already_cached
        else ""
    )
    return Recommendation(
        kind="exact_cache",
        title=f"Cache repeated requests to {model}{where}",
        advice=(
            f"Turn on the exact response cache for {model}{where} (tokenomy.yaml "
            "`cache: {aliases: {<alias>: exact}}`, or send `x-tokenomy-cache: exact`), where "
            "the same answer to the same request is acceptable (temperature 0, "
            "deterministic tasks)."
        ),
        evidence=(
            f"{plural(g.hits, 'call')} repeated {plural(len(g.prompts), 'request')} answered "
            f"less than {ttl} before; served from the cache they would have cost nothing "
            f"instead of {money(g.savings_nanos)}, and saved "
            f"{g.waited_ms / 60_000:,.1f} minutes of waiting.{already}"
        ),
        savings_nanos=g.savings_nanos,
        basis=MEASURED,
        calls=g.hits,
        calls_query={**group_query(project, provider, model), "q": top_prompt},
        examples=[call_id for _, call_id in sorted(g.examples)[:3]],
        project=project,
        model=model,
        details={
            "repeats": g.hits,
            "repeated_prompts": len(g.prompts),
            "ttl_s": ttl_s,
            "waited_ms": g.waited_ms,
            "already_cached": g.already_cached,
        },
    )
