"""Near-duplicate questions a semantic cache would have answered.

This needs the questions' text, which is only stored when the gateway captures content
(``tokenomy serve --capture-content``). The latest ``max_calls`` captured calls are
replayed in time order through the semantic cache itself (same key: the last user message
and a hash of everything else; same embedder and verifier; entries kept ``ttl_s``): a call
the cache would have answered with another call's answer is a hit and would have cost
nothing. Exact repeats are left to the exact-cache finder, so no call is counted twice.
Without captured content, or without the ``semantic`` extra, the finder says so in
``not_assessed`` instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.advise.recommend.base import (
    MEASURED,
    Context,
    Recommendation,
    group_query,
    money,
    plural,
)
from tokenomy.api.ranked import MODEL, where_and

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tokenomy.cache.semantic import Embedder


@dataclass(slots=True)
class NearDuplicates:
    """How the finder replays: how many of the latest captured calls, the entries' TTL,
    and the embedder (default: the packaged local model)."""

    max_calls: int = 2000
    ttl_s: int = 3600
    embedder: Embedder | None = None


@dataclass(slots=True)
class _Group:
    hits: int = 0
    savings_nanos: int = 0
    examples: list[tuple[int, str]] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)


class _Remembered:
    """An embedder that answers from vectors computed in one batch beforehand."""

    def __init__(self, texts: Sequence[str], vectors: NDArray[np.float32], dim: int) -> None:
        self.dim = dim
        self._rows = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._vectors[[self._rows[t] for t in texts]]


def find_near_duplicates(
    ctx: Context, near: NearDuplicates, not_assessed: list[dict[str, str]]
) -> list[Recommendation]:
    calls = _captured(ctx, near.max_calls)
    if not calls:
        not_assessed.append(
            {
                "kind": "semantic_cache",
                "reason": "no captured prompts in this range: near-duplicates are found from "
                "the questions' text, which the gateway stores with `tokenomy serve "
                "--capture-content`",
            }
        )
        return []
    try:
        from tokenomy.cache.semantic import EmbedderUnavailableError, LocalEmbedder, SemanticCache

        embedder = near.embedder if near.embedder is not None else LocalEmbedder()
    except (ImportError, EmbedderUnavailableError) as exc:
        not_assessed.append(
            {
                "kind": "semantic_cache",
                "reason": f"the semantic cache is not installed ({exc}): "
                "pip install 'tokenomy[semantic]'",
            }
        )
        return []
    questions = sorted({c[6] for c in calls})
    vectors = embedder.embed(questions)
    cache = SemanticCache(_Remembered(questions, vectors, embedder.dim), max_entries=len(calls))
    stored_at: dict[str, int] = {}
    ttl_ms = near.ttl_s * 1000
    groups: dict[tuple[str | None, str | None, str], _Group] = {}
    for project, provider, model, call_id, at, cost, question, context in calls:
        namespace = f"{project}\x1f{provider}\x1f{model}"
        hit = cache.lookup(namespace, question, context)
        if hit is not None and stored_at[hit.entry_id] + ttl_ms <= at:
            cache.remove(hit.entry_id)  # expired: this call is a miss and stores anew
            hit = None
        if hit is None:
            cache.insert(namespace, question, context, call_id)
            stored_at[call_id] = at
            continue
        if hit.question == question:
            continue  # the same request again: the exact cache's, counted there
        g = groups.setdefault((project, provider, model), _Group())
        g.hits += 1
        g.savings_nanos += cost
        g.examples.append((-cost, call_id))
        if len(g.pairs) < 3:
            g.pairs.append((hit.question[:80], question[:80]))
    sample = len(calls) >= near.max_calls
    return [
        _recommend(key, g, len(calls), sample, near.ttl_s)
        for key, g in groups.items()
        if g.savings_nanos > 0
    ]


def _captured(ctx: Context, limit: int) -> list[tuple[Any, ...]]:
    """The latest captured chat calls with a question, oldest first:
    (project, provider, model, id, at, cost, question, context hash)."""
    from tokenomy.cache.keys import params_hash

    where, params = ctx.scope.where()
    where = where_and(
        where,
        f"c.status = 'ok' AND c.cache_hit = 'none' AND c.cost_nanos IS NOT NULL "
        f"AND {MODEL} IS NOT NULL AND k.request IS NOT NULL",
    )
    rows = ctx.db.query(
        f"SELECT c.project, c.provider, {MODEL}, c.id, c.started_at, c.cost_nanos, k.request "
        f"FROM calls c JOIN call_content k ON k.source = c.source AND k.dedupe_key = c.dedupe_key"
        f"{where} ORDER BY c.started_at DESC, c.id DESC LIMIT ?",
        [*params, limit],
    )
    from tokenomy.cache.semantic.key import semantic_key

    out = []
    for project, provider, model, call_id, at, cost, request in reversed(rows):
        try:
            body = orjson.loads(request)
        except orjson.JSONDecodeError:
            continue  # a body cut at the capture limit: no question to compare
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            continue
        extra = {
            "params": params_hash("recorded", "chat", body),
            "stream": bool(body.get("stream")),
        }
        key = semantic_key(body["messages"], system=body.get("system"), extra=extra)
        if key is None:
            continue
        out.append((project, provider, str(model), str(call_id), int(at), int(cost), *key))
    return out


def _recommend(
    key: tuple[str | None, str | None, str], g: _Group, captured: int, sample: bool, ttl_s: int
) -> Recommendation:
    project, provider, model = key
    where = f" in {project}" if project else ""
    pair = g.pairs[0]
    scope = f"the latest {captured:,} captured calls" if sample else f"{captured:,} captured calls"
    return Recommendation(
        kind="semantic_cache",
        title=f"Answer near-duplicate questions to {model}{where} from the semantic cache",
        advice=(
            f"Turn on the semantic cache for {model}{where} (tokenomy.yaml "
            "`cache: {aliases: {<alias>: semantic}}`, or send `x-tokenomy-cache: semantic`) "
            "where a verified near-identical question may share an answer."
        ),
        evidence=(
            f"In {scope}, {plural(g.hits, 'question')} matched an earlier one with the same "
            f"context within {ttl_s // 60} minutes and passed the cache's verifier (e.g. "
            f"{pair[0]!r} then {pair[1]!r}); answered from the cache they would have cost "
            f"nothing instead of {money(g.savings_nanos)}."
        ),
        savings_nanos=g.savings_nanos,
        basis=MEASURED,
        calls=g.hits,
        calls_query=group_query(project, provider, model),
        examples=[i for _, i in sorted(g.examples)[:3]],
        project=project,
        model=model,
        details={"hits": g.hits, "captured_calls": captured, "sampled": sample, "ttl_s": ttl_s},
    )
