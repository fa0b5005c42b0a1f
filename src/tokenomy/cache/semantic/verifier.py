"""The second look after the nearest-neighbour search: is this cached question's answer right?

`LearnedVerifier` is a small gradient-boosted model over `features.NAMES`, trained by
`bench/semcache_train.py` on the train split of the shared QQP pairs and shipped as
`verifier.json` next to this module. `CosineVerifier` is the plain threshold (GPTCache's
method), kept for comparison and for embedders the learned model was not trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from tokenomy.cache.semantic.features import NAMES, Text, analyse, opposite, pair_features

ARTEFACT = "verifier.json"


class Verifier(Protocol):
    """Scores (query, cached question) pairs; a hit needs score >= `threshold`."""

    @property
    def threshold(self) -> float: ...

    @property
    def min_similarity(self) -> float:
        """Candidates less similar than this are not scored at all."""
        ...

    @property
    def candidates(self) -> int:
        """How many nearest neighbours to score (the best-scoring one is served)."""
        ...

    def score(self, query: Text, candidate: str, similarity: float, runner_up: float) -> float:
        """`runner_up`: the best similarity among the other candidates (0 if none)."""
        ...


@dataclass(frozen=True)
class CosineVerifier:
    threshold: float = 0.9
    candidates: int = 1

    @property
    def min_similarity(self) -> float:
        return self.threshold

    def score(self, query: Text, candidate: str, similarity: float, runner_up: float) -> float:
        return similarity


class LearnedVerifier:
    """Boosted trees of fixed depth, evaluated for all trees at once with numpy."""

    def __init__(self, spec: dict[str, Any], threshold: float | None = None) -> None:
        """`threshold` overrides the shipped one (tuned for precision >= 0.95 on QQP, where
        many true duplicates are labelled as different, so real precision is higher)."""
        if spec.get("kind") != "gbdt" or list(spec["features"]) != list(NAMES):
            raise ValueError("verifier artefact does not match this version's features")
        self.spec = spec
        self.threshold: float = float(spec["threshold"] if threshold is None else threshold)
        self.min_similarity: float = float(spec["min_similarity"])
        self.candidates: int = int(spec["candidates"])
        self.embedding_model: str = str(spec.get("embedding_model", ""))
        model = spec["model"]
        self._base = float(model["base"])
        self._feature = np.array(model["feature"], dtype=np.intp)
        # JSON has no infinity: a node that passes everything left is stored as null.
        self._threshold = np.array(
            [[math.inf if v is None else v for v in row] for row in model["threshold"]],
            dtype=np.float64,
        )
        self._leaf = np.array(model["leaf"], dtype=np.float64)
        n_internal = self._feature.shape[1]
        self._depth = int(math.log2(n_internal + 1))
        self._trees = np.arange(self._feature.shape[0])

    @classmethod
    def load(cls, path: Path | None = None, threshold: float | None = None) -> LearnedVerifier:
        """From a JSON artefact; by default the one shipped in this package."""
        if path is None:
            text = resources.files(__package__).joinpath(ARTEFACT).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        return cls(json.loads(text), threshold)

    def score(self, query: Text, candidate: str, similarity: float, runner_up: float) -> float:
        cached = analyse(candidate)
        if opposite(query, cached):
            # Asks the opposite: a wrong answer served is worse than a miss, and the trees
            # saw too few such pairs to learn it (their negation feature counts words).
            return 0.0
        x = np.array(pair_features(query, cached, similarity, runner_up))
        return _sigmoid(self.margin(x))

    def margin(self, x: NDArray[np.float64]) -> float:
        node = np.zeros(len(self._trees), dtype=np.intp)
        n_internal = self._feature.shape[1]
        for _ in range(self._depth):
            f = self._feature[self._trees, node]
            node = 2 * node + 1 + (x[f] > self._threshold[self._trees, node])
        return self._base + float(self._leaf[self._trees, node - n_internal].sum())


def _sigmoid(m: float) -> float:
    return 1.0 / (1.0 + math.exp(-m)) if m > -700 else 0.0


def default_verifier(threshold: float | None = None) -> LearnedVerifier:
    """The shipped verifier (trained for all-MiniLM-L6-v2 embeddings)."""
    return LearnedVerifier.load(threshold=threshold)
