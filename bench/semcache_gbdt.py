"""Gradient-boosted depth-limited trees for binary logistic loss, in numpy (training only).

The cache needs a few hundred small trees over a dozen features; a histogram booster of
about a hundred lines does that in seconds, and keeps scikit-learn/LightGBM out of the
project. Trees are full binary trees of fixed depth (a node without a useful split passes
everything left), which is the layout `tokenomy.cache.semantic.verifier` evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass
class Booster:
    base: float
    feature: NDArray[np.int64]  # (trees, 2**depth - 1)
    threshold: F64  # go right when x > threshold
    leaf: F64  # (trees, 2**depth)

    def margin(self, x: F64) -> F64:
        n_trees, n_internal = self.feature.shape
        depth = int(np.log2(n_internal + 1))
        out = np.full(len(x), self.base)
        rows = np.arange(len(x))
        for t in range(n_trees):
            node = np.zeros(len(x), dtype=np.int64)
            for _ in range(depth):
                f = self.feature[t, node]
                node = 2 * node + 1 + (x[rows, f] > self.threshold[t, node])
            out += self.leaf[t, node - n_internal]
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "base": self.base,
            "feature": self.feature.tolist(),
            "threshold": [[_round(v) for v in row] for row in self.threshold],
            "leaf": [[_round(v) for v in row] for row in self.leaf],
        }


def _round(v: float) -> float | None:
    return None if not np.isfinite(v) else float(f"{v:.6g}")


def fit(
    x: F64,
    y: NDArray[np.int64],
    *,
    trees: int = 300,
    depth: int = 3,
    rate: float = 0.05,
    l2: float = 1.0,
    min_hessian: float = 5.0,
    bins: int = 64,
    monotone: dict[int, int] | None = None,
    subsample: float = 1.0,
    seed: int = 0,
) -> Booster:
    """`monotone` maps a feature to +1/-1: splits on it must raise/lower the score to its
    right (checked per split, a light form of monotonicity)."""
    monotone = monotone or {}
    n, n_features = x.shape
    edges = [
        np.unique(np.quantile(x[:, j], np.linspace(0, 1, bins + 1)[1:-1]))
        for j in range(n_features)
    ]
    binned = np.stack(
        [np.searchsorted(edges[j], x[:, j], side="left") for j in range(n_features)], 1
    )
    prior = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    base = float(np.log(prior / (1 - prior)))
    margin = np.full(n, base)
    n_internal = 2**depth - 1
    feature = np.zeros((trees, n_internal), dtype=np.int64)
    threshold = np.full((trees, n_internal), np.inf)
    leaf = np.zeros((trees, 2**depth))
    rng = np.random.default_rng(seed)
    for t in range(trees):
        p = 1.0 / (1.0 + np.exp(-margin))
        g, h = p - y, p * (1.0 - p)
        if subsample < 1.0:
            # Stochastic boosting: each tree sees a random share of rows (less variance).
            keep = rng.random(n) < subsample
            g, h = g * keep, h * keep
        node_of = np.zeros(n, dtype=np.int64)
        for node in range(n_internal):
            rows = node_of == node
            best = _best_split(binned[rows], g[rows], h[rows], edges, l2, min_hessian, monotone)
            if best is not None:
                j, b = best
                feature[t, node], threshold[t, node] = j, edges[j][b]
            right = rows & (x[:, feature[t, node]] > threshold[t, node])
            node_of[rows] = 2 * node + 1
            node_of[right] = 2 * node + 2
        leaves = node_of - n_internal
        g_sum = np.bincount(leaves, g, minlength=2**depth)
        h_sum = np.bincount(leaves, h, minlength=2**depth)
        leaf[t] = -rate * g_sum / (h_sum + l2)
        margin += leaf[t, leaves]
    return Booster(base, feature, threshold, leaf)


def _best_split(
    binned: NDArray[np.int64],
    g: F64,
    h: F64,
    edges: list[F64],
    l2: float,
    min_hessian: float,
    monotone: dict[int, int],
) -> tuple[int, int] | None:
    g_all, h_all = g.sum(), h.sum()
    if h_all < 2 * min_hessian:
        return None
    parent = g_all * g_all / (h_all + l2)
    best_gain, best = 1e-9, None
    for j in range(binned.shape[1]):
        n_edges = len(edges[j])
        if n_edges == 0:
            continue
        # Rows in bin <= b go left of edge b (x <= edges[b]).
        g_left = np.cumsum(np.bincount(binned[:, j], g, minlength=n_edges + 1))[:-1]
        h_left = np.cumsum(np.bincount(binned[:, j], h, minlength=n_edges + 1))[:-1]
        g_right, h_right = g_all - g_left, h_all - h_left
        gain = g_left**2 / (h_left + l2) + g_right**2 / (h_right + l2) - parent
        ok = (h_left >= min_hessian) & (h_right >= min_hessian)
        sign = monotone.get(j, 0)
        if sign:
            # Leaf value is -G/(H+l2); a right child must be >= (sign +1) the left one.
            left_val, right_val = -g_left / (h_left + l2), -g_right / (h_right + l2)
            ok &= sign * (right_val - left_val) >= 0
        gain = np.where(ok, gain, -np.inf)
        b = int(np.argmax(gain))
        if gain[b] > best_gain:
            best_gain, best = float(gain[b]), (j, b)
    return best
