"""Fitting the output-length model (numpy; prediction itself is pure Python in ``model.py``).

The model is linear in ``log1p(output tokens)`` over the handcrafted features, the
instruction's TF-IDF words (``words.py``) and one verbosity term per answering model. It is
fitted with an absolute (L1) loss, by iteratively reweighted ridge: the log length is
skewed (a few answers are a word long), and a squared loss lets those few drag every
prediction down, while the median error is what we are judged on. Selected by
cross-validation within the AlpacaEval train split, grouped by instruction
(docs/benchmarks.md, "Output-length prediction").

The interval and the final shift come from out-of-fold residuals (each training
instruction predicted by a fit that did not see it): in-sample residuals of a model with a
thousand word weights are too small, and the intervals they give too narrow.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tokenomy.predict.features import NAMES, features
from tokenomy.predict.model import (
    HIGH_Q,
    LOW_Q,
    MIN_MODEL_ROWS,
    LengthModel,
    Sample,
    normalize_model,
    quantile,
)
from tokenomy.predict.words import terms

F64 = NDArray[np.float64]

RIDGE = 60.0  # penalty on every weight (CV-chosen from 30/60/120)
HAND_SCALE = 0.3  # standardised flags enter at this scale: penalised harder than words
MODEL_SCALE = 3.0  # model indicators at this scale: verbosity is nearly unpenalised
INTERCEPT_SCALE = 30.0  # a constant column, so the intercept is almost free
MIN_DF = 2  # a word in one training instruction only says nothing about others
L1_FLOOR = 0.05  # IRLS weights 1/max(|residual|, floor): bounded near a perfect fit
L1_ROUNDS = 20
FOLDS = 5
MIN_FOLD_INSTRUCTIONS = 20  # fewer distinct instructions: in-sample residuals instead
SHIFTS = [i / 50 for i in range(-15, 16)]  # -0.30 .. +0.30 in log space


def fit(samples: Sequence[Sample], trained_on: str = "", seed: int = 0) -> LengthModel:
    """Fit the model; its interval and shift from out-of-fold residuals, folds grouped by
    instruction (``seed`` shuffles them)."""
    if not samples:
        raise ValueError("no samples to fit")
    model = _fit_core(samples, trained_on)
    ys = [math.log1p(s.output_tokens) for s in samples]
    centers = _out_of_fold(samples, seed)
    if centers is None:  # too few instructions to hold any out
        centers = [model.predict(s.instruction, s.model).center for s in samples]
    residuals = [y - c for y, c in zip(ys, centers, strict=True)]
    actual = [max(s.output_tokens, 1) for s in samples]

    def mdape(shift: float) -> float:
        return quantile(
            [abs(math.expm1(c + shift) - a) / a for c, a in zip(centers, actual, strict=True)],
            0.5,
        )

    # The log median is not the point with the smallest median percentage error; the
    # shift that is, read from held-out predictions, moves every point the same way.
    shift = min(SHIFTS, key=lambda s: (mdape(s), abs(s)))
    by_model: dict[str, list[float]] = {"*": []}
    logs: dict[str, list[float]] = {"*": []}
    for s, y, r in zip(samples, ys, residuals, strict=True):
        for k in ("*", normalize_model(s.model)):
            by_model.setdefault(k, []).append(r)
            logs.setdefault(k, []).append(y)
    model.residuals = {
        k: (quantile(v, LOW_Q), shift, quantile(v, HIGH_Q))
        for k, v in by_model.items()
        if k == "*" or len(v) >= MIN_MODEL_ROWS
    }
    model.typical = {k: sum(v) / len(v) for k, v in logs.items()}
    return model


def _out_of_fold(samples: Sequence[Sample], seed: int) -> list[float] | None:
    instructions = sorted({s.instruction for s in samples})
    if len(instructions) < MIN_FOLD_INSTRUCTIONS:
        return None
    random.Random(seed).shuffle(instructions)
    fold = {t: i % FOLDS for i, t in enumerate(instructions)}
    centers = [0.0] * len(samples)
    for k in range(FOLDS):
        inner = _fit_core([s for s in samples if fold[s.instruction] != k], "")
        for i, s in enumerate(samples):
            if fold[s.instruction] == k:
                centers[i] = inner.predict(s.instruction, s.model).center
    return centers


def _fit_core(samples: Sequence[Sample], trained_on: str) -> LengthModel:
    """The weights, with a zero interval (``fit`` sets it)."""
    models = sorted({normalize_model(s.model) for s in samples})
    n_instr = len({s.instruction for s in samples})
    df: dict[str, int] = {}
    for text in {s.instruction for s in samples}:
        for t in set(terms(text)):
            df[t] = df.get(t, 0) + 1
    vocab = sorted(t for t, c in df.items() if c >= MIN_DF)
    idf = {t: math.log((1 + n_instr) / (1 + df[t])) + 1 for t in vocab}
    model = LengthModel(NAMES, [0.0] * len(NAMES), 0.0, {}, {"*": (0.0, 0.0, 0.0)}, {}, trained_on)
    model.idf = idf
    column = {t: j for j, t in enumerate(vocab)}
    hand = np.array([features(s.instruction) for s in samples], dtype=np.float64)
    mu = hand.mean(axis=0)
    sd = hand.std(axis=0)
    # A feature constant in the data gets a zero column and so a zero weight; its float
    # mean's rounding would otherwise make a near-zero deviation into a huge weight.
    constant = sd < 1e-9
    sd[constant] = 1.0
    centred = hand - mu
    centred[:, constant] = 0.0
    words = np.zeros((len(samples), len(vocab)))
    for i, s in enumerate(samples):
        for t, v in model.word_vector(s.instruction).items():
            words[i, column[t]] = v
    indicators = np.array(
        [[MODEL_SCALE * (normalize_model(s.model) == m) for m in models] for s in samples],
        dtype=np.float64,
    )
    x = np.hstack(
        [
            np.full((len(samples), 1), INTERCEPT_SCALE),
            indicators,
            words,
            centred / sd * HAND_SCALE,
        ]
    )
    y = np.log1p(np.array([s.output_tokens for s in samples], dtype=np.float64))
    beta = _l1_ridge(x, y)
    model_b, word_b, hand_b = np.split(beta[1:], [len(models), len(models) + len(vocab)])
    intercept = float(beta[0]) * INTERCEPT_SCALE
    verbosity = {m: float(b) * MODEL_SCALE for m, b in zip(models, model_b, strict=True)}
    model.word_coef = {t: float(b) for t, b in zip(vocab, word_b, strict=True)}
    raw = hand_b * HAND_SCALE / sd
    model.coef = [float(c) for c in raw]
    intercept -= float(raw @ mu)
    # Unknown models get the average verbosity, folded into the intercept.
    shift = sum(verbosity.values()) / len(verbosity)
    model.intercept = intercept + shift
    model.verbosity = {m: v - shift for m, v in verbosity.items()}
    return model


def _l1_ridge(x: F64, y: F64) -> F64:
    """About sum |y - x b| + RIDGE |b|^2 at its minimum, by reweighted ridge, solved in the
    n-by-n dual (there are more word columns than is cheap to solve in the primal)."""
    gram = x @ x.T
    weights = np.ones(len(y))
    alpha = np.zeros(len(y))
    for _ in range(L1_ROUNDS):
        alpha = np.asarray(np.linalg.solve(gram + RIDGE * np.diag(1.0 / weights), y), np.float64)
        residual = np.abs(y - gram @ alpha)
        weights = 1.0 / np.maximum(residual, L1_FLOOR)
    beta: F64 = x.T @ alpha
    return beta
