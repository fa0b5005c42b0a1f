"""Scoring a semantic cache on pairs: retrieval, per-threshold curves, recall at a precision.

A query either gets a hit (one cached question, whose answer would be served) or a miss.
- precision: hits whose cached question is a correct answer / all hits;
- recall (hit rate on label 1): correct hits / queries that have a correct answer cached;
- false-hit rate (on label 0): hits / queries that have no correct answer cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
BOOL = NDArray[np.bool_]


def nearest(queries: F32, cached: F32, k: int, block: int = 2048) -> tuple[NDArray[np.int64], F32]:
    """Exact top-k cached rows per query by cosine (rows are unit vectors), best first."""
    k = min(k, len(cached))
    idx = np.zeros((len(queries), k), dtype=np.int64)
    sims = np.zeros((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block):
        s = queries[start : start + block] @ cached.T
        top = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else np.argsort(-s, 1)
        top_s = np.take_along_axis(s, top, 1)
        order = np.argsort(-top_s, axis=1, kind="stable")
        idx[start : start + block] = np.take_along_axis(top, order, 1)
        sims[start : start + block] = np.take_along_axis(top_s, order, 1)
    return idx, sims


@dataclass
class Outcome:
    """Per query: the best candidate's score, whether serving it would be correct, and
    whether the query has any correct answer in the cache."""

    score: F64
    correct: BOOL
    positive: BOOL


@dataclass
class Point:
    threshold: float
    precision: float
    recall: float
    false_hit_rate: float
    hits: int

    def as_dict(self) -> dict[str, float]:
        return {
            "threshold": round(self.threshold, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "false_hit_rate": round(self.false_hit_rate, 4),
            "hits": self.hits,
        }


def at_threshold(o: Outcome, t: float) -> Point:
    hit = o.score >= t
    n_hit = int(hit.sum())
    good = int((hit & o.correct).sum())
    pos, neg = int(o.positive.sum()), int((~o.positive).sum())
    return Point(
        threshold=t,
        precision=good / n_hit if n_hit else 1.0,
        recall=good / pos if pos else 0.0,
        false_hit_rate=int((hit & ~o.positive).sum()) / neg if neg else 0.0,
        hits=n_hit,
    )


def best_threshold(o: Outcome, precision: float, *, stable: bool = False) -> Point:
    """The threshold with the highest recall at which precision >= `precision` (the lowest
    such threshold). Only thresholds at observed scores are considered.

    `stable`: the lowest threshold above which precision never drops below `precision` at any
    higher threshold either. Less optimistic than the best point, whose precision is often a
    lucky local peak of a noisy curve: this is how thresholds are tuned on dev."""
    order = np.argsort(-o.score, kind="stable")
    s, c = o.score[order], o.correct[order]
    good = np.cumsum(c)
    n = np.arange(1, len(s) + 1)
    # Cut only where the score changes: all queries with equal score hit together.
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    ok = last_of_tie & (good / n >= precision)
    if stable:
        # Keep only the prefix of cut points before the first one that fails.
        failing = last_of_tie & ~ok
        first_fail = int(np.argmax(failing)) if failing.any() else len(s)
        ok[first_fail:] = False
    if not ok.any():
        return at_threshold(o, float("inf"))
    i = int(np.flatnonzero(ok)[np.argmax(good[ok])])
    return at_threshold(o, float(s[i]))


def curve(o: Outcome, thresholds: Sequence[float]) -> list[Point]:
    return [at_threshold(o, t) for t in thresholds]
