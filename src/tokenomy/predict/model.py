"""The output-length model: ridge regression on log tokens, with residual quantiles.

The answer's length is log-normal-ish, so the model predicts ``log1p(output tokens)`` as a
linear function of the instruction's features plus a verbosity term per model; the 80%
interval is the prediction plus the 10th and 90th percentiles of the training residuals,
per model where it had enough answers (models differ in spread, not only in level). The
fit is pure Python (a normal-equation solve of ~30 unknowns): the package needs no numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tokenomy.predict.features import NAMES, features

RIDGE = 1.0  # keeps rare flags and small models from swinging the fit
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
    residuals: dict[str, tuple[float, float, float]]  # per model and "*": q10, q50, q90
    typical: dict[str, float] = field(default_factory=dict)  # per model and "*": mean log
    trained_on: str = ""

    def predict(self, instruction: str, model: str | None) -> LogInterval:
        key = normalize_model(model)
        x = features(instruction)
        base = self.intercept + sum(c * v for c, v in zip(self.coef, x, strict=True))
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


def fit(samples: Sequence[Sample], trained_on: str = "") -> LengthModel:
    """Fit the model to answered instructions (ridge on standardised features)."""
    if not samples:
        raise ValueError("no samples to fit")
    models = sorted({normalize_model(s.model) for s in samples})
    rows = [features(s.instruction) for s in samples]
    ys = [math.log1p(s.output_tokens) for s in samples]
    width = len(NAMES)
    # Columns: the features, then one indicator per model; centred so the intercept is
    # the mean and the penalty does not pull it.
    full = [
        r + [1.0 if normalize_model(s.model) == m else 0.0 for m in models]
        for r, s in zip(rows, samples, strict=True)
    ]
    d = width + len(models)
    n = len(full)
    means = [sum(r[k] for r in full) / n for k in range(d)]
    y_mean = sum(ys) / n
    gram = [[0.0] * d for _ in range(d)]
    rhs = [0.0] * d
    for r, y in zip(full, ys, strict=True):
        c = [v - m for v, m in zip(r, means, strict=True)]
        yc = y - y_mean
        for a in range(d):
            ca = c[a]
            if ca == 0.0:
                continue
            rhs[a] += ca * yc
            row = gram[a]
            for b in range(d):
                row[b] += ca * c[b]
    for a in range(d):
        gram[a][a] += RIDGE
    beta = _solve(gram, rhs)
    intercept = y_mean - sum(b * m for b, m in zip(beta, means, strict=True))
    coef = beta[:width]
    verbosity = dict(zip(models, beta[width:], strict=True))
    # Unknown models get the average verbosity, folded into the intercept.
    shift = sum(verbosity.values()) / len(verbosity)
    intercept += shift
    verbosity = {m: v - shift for m, v in verbosity.items()}
    model = LengthModel(NAMES, coef, intercept, verbosity, {"*": (0.0, 0.0, 0.0)}, {}, trained_on)
    residuals: dict[str, list[float]] = {"*": []}
    logs: dict[str, list[float]] = {"*": []}
    for s, y in zip(samples, ys, strict=True):
        key = normalize_model(s.model)
        resid = y - model.predict(s.instruction, s.model).center
        for k in ("*", key):
            residuals.setdefault(k, []).append(resid)
            logs.setdefault(k, []).append(y)
    model.residuals = {
        k: (quantile(v, LOW_Q), quantile(v, 0.5), quantile(v, HIGH_Q))
        for k, v in residuals.items()
        if k == "*" or len(v) >= MIN_MODEL_ROWS
    }
    model.typical = {k: sum(v) / len(v) for k, v in logs.items()}
    return model


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting; ``a`` is positive definite (ridge)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        p = m[col][col]
        for r in range(col + 1, n):
            f = m[r][col] / p
            if f:
                row, top = m[r], m[col]
                for k in range(col, n + 1):
                    row[k] -= f * top[k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x
