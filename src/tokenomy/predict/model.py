"""The output-length model: linear in log tokens, with out-of-fold residual quantiles.

The answer's length is log-normal-ish, so the model predicts ``log1p(output tokens)`` as a
linear function of the instruction's handcrafted features (``features.py``), its TF-IDF
words (``words.py``) and a verbosity term per model; the 80% interval is the prediction
plus the 10th and 90th percentiles of held-out residuals, per model where it had enough
answers (models differ in spread, not only in level). Prediction is pure Python, so the
package needs no numpy to use the shipped model; fitting (``fit.py``) uses numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.predict import words
from tokenomy.predict.features import NAMES, features

MIN_MODEL_ROWS = 30  # a model's own residual quantiles need this many answers
LOW_Q, HIGH_Q = 0.10, 0.90


@dataclass(frozen=True)
class Sample:
    instruction: str
    model: str
    output_tokens: int


@dataclass(frozen=True)
class LogInterval:
    """A prediction in log1p space: the median and the 80% interval."""

    center: float
    low: float
    high: float

    def tokens(self) -> tuple[int, int, int]:
        return (
            max(0, round(math.expm1(self.low))),
            max(0, round(math.expm1(self.center))),
            max(0, round(math.expm1(self.high))),
        )


@dataclass
class LengthModel:
    feature_names: tuple[str, ...]
    coef: list[float]
    intercept: float
    verbosity: dict[str, float]  # per model, added to the intercept
    # per model and "*": the 10th percentile of residuals, the shift to the point, the 90th
    residuals: dict[str, tuple[float, float, float]]
    typical: dict[str, float] = field(default_factory=dict)  # per model and "*": mean log
    trained_on: str = ""
    idf: dict[str, float] = field(default_factory=dict)  # the known terms' weights
    word_coef: dict[str, float] = field(default_factory=dict)

    def word_vector(self, instruction: str) -> dict[str, float]:
        return words.vector(instruction, self.idf)

    def predict(self, instruction: str, model: str | None) -> LogInterval:
        key = normalize_model(model)
        x = features(instruction)
        base = self.intercept + sum(c * v for c, v in zip(self.coef, x, strict=True))
        base += sum(self.word_coef[t] * v for t, v in self.word_vector(instruction).items())
        base += self.verbosity.get(key, 0.0)
        lo, mid, hi = self.residuals.get(key) or self.residuals["*"]
        return LogInterval(base + mid, base + lo, base + hi)

    def typical_log(self, model: str | None) -> float:
        """The mean log length the model predicts for this model's usual instructions: the
        level a user's history is compared with."""
        key = normalize_model(model)
        return self.typical.get(key, self.typical.get("*", self.intercept))

    def to_json(self) -> dict[str, Any]:
        return {
            "feature_names": list(self.feature_names),
            "coef": [round(c, 6) for c in self.coef],
            "intercept": round(self.intercept, 6),
            "verbosity": {k: round(v, 6) for k, v in self.verbosity.items()},
            "residuals": {k: [round(q, 6) for q in v] for k, v in self.residuals.items()},
            "typical": {k: round(v, 6) for k, v in self.typical.items()},
            "trained_on": self.trained_on,
            # term: [idf, weight]; sorted so a refit's diff shows what moved
            "words": {
                t: [round(self.idf[t], 5), round(self.word_coef[t], 6)] for t in sorted(self.idf)
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LengthModel:
        names = tuple(data["feature_names"])
        if names != NAMES:  # a file from another version of the features: refuse it
            raise ValueError("length model features do not match this version's")
        return cls(
            feature_names=names,
            coef=[float(c) for c in data["coef"]],
            intercept=float(data["intercept"]),
            verbosity={str(k): float(v) for k, v in data["verbosity"].items()},
            residuals={str(k): _triple(v) for k, v in data["residuals"].items()},
            typical={str(k): float(v) for k, v in data.get("typical", {}).items()},
            trained_on=str(data.get("trained_on", "")),
            idf={str(t): float(v[0]) for t, v in data.get("words", {}).items()},
            word_coef={str(t): float(v[1]) for t, v in data.get("words", {}).items()},
        )


def _triple(v: Sequence[Any]) -> tuple[float, float, float]:
    return float(v[0]), float(v[1]), float(v[2])


def normalize_model(model: str | None) -> str:
    """Lower case, without a provider prefix (``openai/gpt-4o`` is ``gpt-4o``)."""
    if not model:
        return "*"
    return model.strip().lower().rsplit("/", 1)[-1]


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of nothing")
    pos = (len(ordered) - 1) * q
    i = int(pos)
    j = min(i + 1, len(ordered) - 1)
    return ordered[i] + (ordered[j] - ordered[i]) * (pos - i)


def fit(samples: Sequence[Sample], trained_on: str = "", seed: int = 0) -> LengthModel:
    """Fit the model to answered instructions (``fit.py``; needs numpy)."""
    from tokenomy.predict.fit import fit as fit_numpy  # numpy only where a model is fitted

    return fit_numpy(samples, trained_on, seed)
