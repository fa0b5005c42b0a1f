"""Semantic cache: precision and hit rate of hits against a plain cosine threshold, and latency.

    .venv/bin/python bench/semcache.py --data ../shared/data/semcache/qqp_pairs_dev.jsonl --json
    .venv/bin/python bench/semcache.py --data ../shared/data/semcache/qqp_pairs_dev.jsonl \\
        --latency --sizes 100000,1000000

Accuracy: the split's unique `text_a` are inserted into one SemanticCache bucket, each unique
`text_b` is looked up (bench/semcache_data.py has the split, seeded, by text_a, and the ground
truth). Both methods use the same embeddings (all-MiniLM-L6-v2, computed once and kept under
~/.cache/tokenomy-bench) and the same usearch index in the same run:
- baseline: GPTCache's method, the nearest cached question is a hit when cosine >= t;
- tokenomy: the shipped verifier scores the nearest candidates, a hit when score >= t.
Reported on the test split (never used for training or tuning) unless `--split all`, which
uses every pair (for a pairs file that is not the one the verifier was trained on).

Latency (`--latency`): one bucket (the worst case: everything in one tenant and context)
filled with the test split's cached questions and then synthetic vectors up to N (real
question embeddings plus Gaussian noise, renormalised, so neighbourhoods look like real
ones; their texts are real), then `lookup()` timed for real test queries, verifier
included; embedding a question with the local model is timed separately.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from semcache_data import (
    EmbeddingStore,
    Queries,
    Truth,
    load_pairs,
    make_queries,
    splits,
)
from semcache_eval import Outcome, at_threshold, best_threshold, curve
from tokenomy.cache.semantic import (
    CosineVerifier,
    LocalEmbedder,
    SemanticCache,
    Verifier,
    default_verifier,
)

MODEL_NAME = "all-MiniLM-L6-v2"
COSINE_THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.98)
SCORE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
NAMESPACE, CONTEXT = "bench", "qqp"
# Per-dimension noise on synthetic vectors: cosine ~0.93 to the question they copy, so many
# lookups meet several candidates above the verifier's min_similarity (its slow path).
NOISE = 0.02


class Precomputed:
    """An embedder that looks vectors up, so a timed lookup excludes embedding time."""

    def __init__(self, vectors: dict[str, NDArray[np.float32]], dim: int) -> None:
        self.vectors = vectors
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return np.stack([self.vectors[t] for t in texts])


def run_method(
    work: Queries, store: EmbeddingStore, verifier: Verifier, truth: Truth
) -> tuple[Outcome, list[float]]:
    """Fill a cache with the cached questions, look every query up; per query the best
    candidate's score (-inf: no candidate) and whether serving it would be right."""
    vectors = dict(zip(work.queries, store.of(work.queries), strict=True))
    embedder = Precomputed(vectors, store.of(work.cached[:1]).shape[1])
    cache = SemanticCache(embedder, max_entries=len(work.cached) + 1, verifier=verifier)
    ids = [str(i) for i in range(len(work.cached))]
    cache.insert_vectors(NAMESPACE, CONTEXT, work.cached, ids, store.of(work.cached))
    scores = np.full(len(work.queries), -np.inf)
    correct = np.zeros(len(work.queries), dtype=bool)
    times = []
    for i, q in enumerate(work.queries):
        t0 = time.perf_counter()
        best = cache.nearest(NAMESPACE, q, CONTEXT)
        times.append(time.perf_counter() - t0)
        if best is not None:
            scores[i] = best.score
            correct[i] = truth.same(q, best.question)
    return Outcome(scores, correct, work.positive), times


def report(o: Outcome, thresholds: Sequence[float], tuned: float | None) -> dict[str, object]:
    best = best_threshold(o, 0.95)
    out: dict[str, object] = {
        "recall_at_precision_95": round(best.recall, 4),
        "at_precision_95": best.as_dict(),
        "curve": [p.as_dict() for p in curve(o, thresholds)],
    }
    if tuned is not None:
        out["at_threshold_tuned_on_dev"] = at_threshold(o, tuned).as_dict()
    return out


def accuracy(args: argparse.Namespace) -> dict[str, object]:
    pairs = load_pairs(args.data)
    truth = Truth(pairs)
    parts = splits(pairs)
    texts = [p.text_a for p in pairs] + [p.text_b for p in pairs]
    store = EmbeddingStore(texts, args.data, MODEL_NAME)
    t0 = time.perf_counter()
    store.load_or_embed(LocalEmbedder())
    embed_s = time.perf_counter() - t0
    verifier = default_verifier()
    baseline = CosineVerifier(threshold=-1.0)  # every nearest neighbour, scored by cosine

    evaluated = pairs if args.split == "all" else parts["test"]
    work = make_queries(evaluated, truth)
    base_o, base_t = run_method(work, store, baseline, truth)
    ours_o, ours_t = run_method(work, store, verifier, truth)
    # The baseline's threshold tuned on dev the way the verifier's was (precision >= 0.95).
    base_tuned = None
    if args.split == "test":
        dev_o, _ = run_method(make_queries(parts["dev"], truth), store, baseline, truth)
        base_tuned = best_threshold(dev_o, 0.95).threshold
    result: dict[str, object] = {
        "baseline": {"method": "plain cosine threshold on the nearest neighbour (GPTCache)"}
        | report(base_o, COSINE_THRESHOLDS, base_tuned),
        "tokenomy": {
            "method": "verifier (boosted trees over similarity and text features), "
            f"{verifier.candidates} candidates"
        }
        | report(ours_o, SCORE_THRESHOLDS, verifier.threshold if args.split == "test" else None)
        | {"shipped_threshold": verifier.threshold},
    }
    r_base = result["baseline"]["recall_at_precision_95"]  # type: ignore[index]
    r_ours = result["tokenomy"]["recall_at_precision_95"]  # type: ignore[index]
    result["ratio_recall_at_precision_95"] = round(r_ours / r_base, 3) if r_base else None
    result["goal"] = "tokenomy recall >= 1.5x baseline recall, both at precision >= 0.95"
    result["data"] = {
        "file": str(args.data),
        "split": args.split,
        "pairs": len(evaluated),
        "cached_questions": len(work.cached),
        "queries": len(work.queries),
        "queries_with_a_correct_answer_cached": int(work.positive.sum()),
        "tuned_on": "dev part of the train split (bench/semcache_train.py); never on test",
    }
    result["lookup_ms_excluding_embedding"] = {
        "baseline_p50": _ms(base_t, 50),
        "tokenomy_p50": _ms(ours_t, 50),
        "tokenomy_p99": _ms(ours_t, 99),
    }
    result["embedding_s_all_texts"] = round(embed_s, 1)
    return result


def latency(args: argparse.Namespace) -> dict[str, object]:
    pairs = load_pairs(args.data)
    parts = splits(pairs)
    texts = [p.text_a for p in pairs] + [p.text_b for p in pairs]
    store = EmbeddingStore(texts, args.data, MODEL_NAME)
    model = LocalEmbedder()
    vectors = store.load_or_embed(model)
    rng = np.random.default_rng(1)
    work = make_queries(parts["test"], Truth(pairs))
    queries = [work.queries[i] for i in rng.permutation(len(work.queries))[: args.queries]]
    embedder = Precomputed(dict(zip(queries, store.of(queries), strict=True)), model.dim)
    # Synthetic entries copy any question but the timed queries, so hits stay meaningful.
    query_rows = {store.row[q] for q in work.queries}
    pool = np.array([i for i in range(len(store.texts)) if i not in query_rows])
    out: dict[str, object] = {}
    for size in args.sizes:
        cache = SemanticCache(embedder, max_entries=size, verifier=default_verifier())
        t0 = time.perf_counter()
        # The test split's real cached questions, so lookups find true neighbours and the
        # verifier runs as in production; then synthetic entries up to `size`.
        real = work.cached[:size]
        ids = [f"real-{i}" for i in range(len(real))]
        cache.insert_vectors(NAMESPACE, CONTEXT, real, ids, store.of(real))
        for start in range(len(real), size, 50_000):
            n = min(50_000, size - start)
            base = pool[rng.integers(0, len(pool), n)]
            noisy = vectors[base] + rng.normal(0, NOISE, (n, model.dim)).astype(np.float32)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            ids = [str(start + i) for i in range(n)]
            cache.insert_vectors(NAMESPACE, CONTEXT, [store.texts[b] for b in base], ids, noisy)
        build_s = time.perf_counter() - t0
        times, hits = [], 0
        for q in queries:
            t0 = time.perf_counter()
            hit = cache.lookup(NAMESPACE, q, CONTEXT)
            times.append(time.perf_counter() - t0)
            hits += hit is not None
        out[str(size)] = {
            "entries": len(cache),
            "lookup_p50_ms": _ms(times, 50),
            "lookup_p99_ms": _ms(times, 99),
            "lookups": len(times),
            "hits": hits,
            "build_s": round(build_s, 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        }
        print(f"  {size}: {out[str(size)]}", file=sys.stderr)
        del cache
        gc.collect()
    embed_times = []
    for q in queries[: args.embed_queries]:
        t0 = time.perf_counter()
        model.embed([q])
        embed_times.append(time.perf_counter() - t0)
    out["embedding_one_question_ms"] = {
        "p50": _ms(embed_times, 50),
        "p99": _ms(embed_times, 99),
        "model": MODEL_NAME + " (numpy, this process)",
    }
    out["goal"] = "lookup p50 <= 2 ms, p99 <= 10 ms at 100k and 1M entries"
    out["vectors"] = (
        "the test split's cached questions (real embeddings), then synthetic entries: a real"
        f" question's embedding + N(0, {NOISE}) per dimension, renormalised, with its text"
    )
    return out


def _ms(times: Sequence[float], q: int) -> float:
    return round(float(np.percentile(np.array(times) * 1000, q)), 3) if times else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="pairs file: {text_a, text_b, label}")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--split", choices=("test", "all"), default="test")
    ap.add_argument("--latency", action="store_true", help="lookup latency instead of accuracy")
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000])
    ap.add_argument("--queries", type=int, default=2000, help="timed lookups per size")
    ap.add_argument("--embed-queries", type=int, default=200)
    args = ap.parse_args(argv)
    argv_used = sys.argv[1:] if argv is None else list(argv)
    result = latency(args) if args.latency else accuracy(args)
    result["machine"] = f"{platform.machine()}, {platform.python_version()}"
    result["command"] = ".venv/bin/python bench/semcache.py " + shlex.join(argv_used)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
