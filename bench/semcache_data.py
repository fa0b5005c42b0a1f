"""Shared by bench/semcache.py and bench/semcache_train.py: pairs, the split, embeddings.

The split is by `text_a` (the cached question): every pair with the same `text_a` falls on the
same side, so no cached question is seen in training and in test. Seeded and independent of
the file's line order: the sorted unique `text_a` are shuffled with `random.Random(SEED)`.

Ground truth for a hit: a cached question `c` answers a query `q` when they are the same text
or when a chain of label-1 pairs joins them (QQP marks duplicates pairwise; "A dup B" and
"B dup C" make A a correct answer to C). Every other hit is counted as false, including hits on
questions the file never compared with `q`: conservative, and the same for both methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SEED = 20261121
TEST_FRACTION = 0.3  # of the unique text_a
DEV_FRACTION = 0.4  # of the train part's text_a: where thresholds are tuned
CACHE_DIR = (
    Path(os.environ.get("TOKENOMY_BENCH_CACHE", Path.home() / ".cache" / "tokenomy-bench"))
    / "semcache"
)


@dataclass(frozen=True)
class Pair:
    text_a: str
    text_b: str
    label: int


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                pairs.append(Pair(str(row["text_a"]), str(row["text_b"]), int(row["label"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise SystemExit(
                    f"{path}:{n}: not a {{text_a, text_b, label}} pair ({exc})"
                ) from None
    return pairs


def split_by_text_a(
    pairs: Sequence[Pair], fraction: float, seed: int = SEED
) -> tuple[list[Pair], list[Pair]]:
    """(rest, held out): `fraction` of the unique text_a, and all their pairs, held out."""
    keys = sorted({p.text_a for p in pairs})
    random.Random(seed).shuffle(keys)
    held = set(keys[: round(len(keys) * fraction)])
    return [p for p in pairs if p.text_a not in held], [p for p in pairs if p.text_a in held]


def splits(pairs: Sequence[Pair]) -> dict[str, list[Pair]]:
    """train = fit + dev; test is never used for fitting or tuning."""
    train, test = split_by_text_a(pairs, TEST_FRACTION)
    fit, dev = split_by_text_a(train, DEV_FRACTION, seed=SEED + 1)
    return {"train": train, "fit": fit, "dev": dev, "test": test}


class Truth:
    """Duplicate clusters: union-find over the label-1 pairs of the whole file."""

    def __init__(self, pairs: Sequence[Pair]) -> None:
        self._parent: dict[str, str] = {}
        for p in pairs:
            if p.label == 1:
                self._union(p.text_a, p.text_b)

    def root(self, x: str) -> str:
        """The duplicate cluster of `x` (itself when it has no label-1 pair)."""
        parent = self._parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self._parent[ra] = rb

    def same(self, a: str, b: str) -> bool:
        return a == b or self.root(a) == self.root(b)


@dataclass
class Queries:
    """A split as a cache workload: its unique text_a are cached, its unique text_b are the
    queries; `positive[i]` when some cached question is a correct answer to query i."""

    cached: list[str]
    queries: list[str]
    positive: NDArray[np.bool_]


def make_queries(pairs: Sequence[Pair], truth: Truth) -> Queries:
    cached = sorted({p.text_a for p in pairs})
    queries = sorted({p.text_b for p in pairs})
    roots = {truth.root(c) for c in cached}
    positive = np.array([truth.root(q) in roots for q in queries], dtype=bool)
    return Queries(cached, queries, positive)


class EmbeddingStore:
    """Embeddings of every text, computed once per (model, file) and kept under
    ~/.cache/tokenomy-bench/semcache (about 110 MB for the QQP file)."""

    def __init__(self, texts: Sequence[str], data_path: Path, model_name: str) -> None:
        self.texts = sorted(set(texts))
        self.row = {t: i for i, t in enumerate(self.texts)}
        digest = hashlib.sha256("\n".join(self.texts).encode()).hexdigest()[:16]
        self.cache_file = CACHE_DIR / f"{model_name}-{data_path.stem}-{digest}.npy"
        self.vectors: NDArray[np.float32] | None = None

    def load_or_embed(self, embed: object, batch: int = 2048) -> NDArray[np.float32]:
        if self.cache_file.is_file():
            self.vectors = np.load(self.cache_file)
            return self.vectors
        from tokenomy.cache.semantic import Embedder

        assert isinstance(embed, Embedder)
        parts = []
        for start in range(0, len(self.texts), batch):
            parts.append(embed.embed(self.texts[start : start + batch]))
            print(f"  embedded {start + len(parts[-1])}/{len(self.texts)}", file=sys.stderr)
        self.vectors = np.concatenate(parts) if parts else np.zeros((0, embed.dim), np.float32)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(self.cache_file, self.vectors)
        return self.vectors

    def of(self, texts: Sequence[str]) -> NDArray[np.float32]:
        assert self.vectors is not None
        return self.vectors[[self.row[t] for t in texts]]
