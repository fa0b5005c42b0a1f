"""Train the semantic cache's verifier and write the artefact the package ships.

    .venv/bin/python bench/semcache_train.py --data ../shared/data/semcache/qqp_pairs_dev.jsonl

Uses the train split only (bench/semcache_data.py: 70% of the unique text_a, seed 20261121),
itself split by text_a into fit (60%) and dev (40%): the trees are fitted on fit, the
threshold is chosen on dev. The test split is never read here. Writes
src/tokenomy/cache/semantic/verifier.json (about 40 kB).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from semcache_data import (
    DEV_FRACTION,
    SEED,
    TEST_FRACTION,
    EmbeddingStore,
    Pair,
    Truth,
    load_pairs,
    make_queries,
    splits,
)
from semcache_eval import Outcome, at_threshold, best_threshold, nearest
from semcache_gbdt import Booster, fit
from tokenomy.cache.semantic import LocalEmbedder
from tokenomy.cache.semantic.features import MONOTONE, NAMES, Text, analyse, pair_features

ROOT = Path(__file__).resolve().parents[1]
ARTEFACT = ROOT / "src" / "tokenomy" / "cache" / "semantic" / "verifier.json"
MODEL_NAME = "all-MiniLM-L6-v2"
CANDIDATES = 3  # neighbours scored per lookup
TARGET_PRECISION = 0.95
TREES, DEPTH, RATE = 200, 3, 0.05


@dataclass
class Candidates:
    """Feature rows for the top-k cached questions of each query, k per query."""

    x: NDArray[np.float64]
    correct: NDArray[np.int64]
    positive: NDArray[np.bool_]
    k: int
    texts: list[tuple[str, str]]  # (query, cached question) per row

    def outcome(self, scores: NDArray[np.float64]) -> Outcome:
        by_query = scores.reshape(-1, self.k)
        best = by_query.argmax(axis=1)
        rows = np.arange(len(best))
        correct = self.correct.reshape(-1, self.k)[rows, best].astype(bool)
        return Outcome(by_query[rows, best], correct, self.positive)

    def cosine_outcome(self) -> Outcome:
        """GPTCache's method on the same candidates: the nearest one, by cosine."""
        first = self.x.reshape(-1, self.k, len(NAMES))[:, 0, NAMES.index("cosine")]
        correct = self.correct.reshape(-1, self.k)[:, 0].astype(bool)
        return Outcome(first.astype(np.float64), correct, self.positive)


def candidates(
    pairs: Sequence[Pair], truth: Truth, store: EmbeddingStore, k: int = CANDIDATES
) -> Candidates:
    """Insert the split's text_a, query its text_b, keep the top k by cosine (exact search)."""
    work = make_queries(pairs, truth)
    cached, queries = work.cached, work.queries
    idx, sims = nearest(store.of(queries), store.of(cached), max(k, 2))
    memo: dict[str, Text] = {}

    def text(s: str) -> Text:
        t = memo.get(s)
        if t is None:
            t = memo[s] = analyse(s)
        return t

    rows, correct, texts = [], [], []
    for qi, q in enumerate(queries):
        row_sims = [float(s) for s in sims[qi]]
        for r in range(k):
            runner_up = max(s for i, s in enumerate(row_sims) if i != r)
            c = cached[idx[qi, r]]
            rows.append(pair_features(text(q), text(c), row_sims[r], runner_up))
            correct.append(truth.same(q, c))
            texts.append((q, c))
    return Candidates(np.array(rows), np.array(correct, dtype=np.int64), work.positive, k, texts)


def train(fit_set: Candidates) -> Booster:
    monotone = {NAMES.index(name): sign for name, sign in MONOTONE.items()}
    return fit(fit_set.x, fit_set.correct, trees=TREES, depth=DEPTH, rate=RATE, monotone=monotone)


def probability(booster: Booster, x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-booster.margin(x)))  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ARTEFACT)
    args = ap.parse_args(argv)

    pairs = load_pairs(args.data)
    truth = Truth(pairs)
    parts = splits(pairs)
    store = EmbeddingStore(
        [p.text_a for p in pairs] + [p.text_b for p in pairs], args.data, MODEL_NAME
    )
    store.load_or_embed(LocalEmbedder())
    fit_set = candidates(parts["fit"], truth, store)
    dev_set = candidates(parts["dev"], truth, store)
    booster = train(fit_set)

    dev_scores = probability(booster, dev_set.x)
    chosen = best_threshold(dev_set.outcome(dev_scores), TARGET_PRECISION, stable=True)
    baseline = best_threshold(dev_set.cosine_outcome(), TARGET_PRECISION, stable=True)
    # Below this cosine no fit or dev candidate was accepted: such neighbours are not scored.
    accepted = np.r_[
        fit_set.x[probability(booster, fit_set.x) >= chosen.threshold, 0],
        dev_set.x[dev_scores >= chosen.threshold, 0],
    ]
    min_similarity = float(np.floor((accepted.min() - 0.02) * 100) / 100) if len(accepted) else 0.9
    spec = {
        "kind": "gbdt",
        "version": 1,
        "embedding_model": MODEL_NAME,
        "features": list(NAMES),
        "candidates": CANDIDATES,
        "threshold": round(chosen.threshold, 6),
        "min_similarity": min_similarity,
        "model": booster.to_json(),
        "trained": {
            "command": f"python bench/semcache_train.py --data {args.data}",
            "data": args.data.name,
            "date": datetime.date.today().isoformat(),
            "split": {
                "by": "text_a",
                "seed": SEED,
                "test_fraction": TEST_FRACTION,
                "dev_fraction_of_train": DEV_FRACTION,
                "fit_pairs": len(parts["fit"]),
                "dev_pairs": len(parts["dev"]),
                "test": "not used",
            },
            "trees": TREES,
            "depth": DEPTH,
            "rate": RATE,
            "monotone": MONOTONE,
            "dev_at_threshold": at_threshold(
                dev_set.outcome(dev_scores), chosen.threshold
            ).as_dict(),
            "dev_cosine_at_precision_95": baseline.as_dict(),
            "threshold_rule": "lowest dev threshold above which precision stays >= 0.95",
        },
    }
    args.out.write_text(json.dumps(spec, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"fit: {len(fit_set.positive)} queries, dev: {len(dev_set.positive)} queries")
    print(f"dev, verifier at threshold {chosen.threshold:.4f}: {chosen.as_dict()}")
    print(f"dev, plain cosine at precision >= 0.95: {baseline.as_dict()}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), min_similarity {min_similarity}")
    print(f"reproduce: .venv/bin/python bench/semcache_train.py --data {args.data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
