"""The shipped verifier on real all-MiniLM-L6-v2 embeddings: it refuses the near-duplicates
that differ in a number or a negation, which a plain cosine threshold serves."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")

from tokenomy.cache.semantic import (
    CosineVerifier,
    LearnedVerifier,
    SemanticCache,
    default_verifier,
)
from tokenomy.cache.semantic.features import NAMES

COSINE = 0.9  # the usual plain threshold (GPTCache's examples use 0.8 to 0.9)


@pytest.mark.parametrize(
    ("cached", "asked"),
    [
        (
            "What was the population of France in 1990?",
            "What was the population of France in 2010?",
        ),
        (
            "Is it safe to drink coffee during pregnancy?",
            "Is it not safe to drink coffee during pregnancy?",
        ),
        ("Why does my laptop turn off?", "Why doesn't my laptop turn off?"),
        ("Should I learn Python?", "Should I not learn Python?"),
    ],
)
def test_number_or_negation_mismatch_is_refused(minilm: Any, cached: str, asked: str) -> None:
    plain = SemanticCache(minilm, verifier=CosineVerifier(COSINE))
    verified = SemanticCache(minilm)
    for cache in (plain, verified):
        cache.insert("t", cached, "ctx", "e1")
    served = plain.lookup("t", asked, "ctx")
    assert served is not None and served.similarity >= COSINE  # the plain cosine serves it
    assert verified.lookup("t", asked, "ctx") is None
    nearest = verified.nearest("t", asked, "ctx")
    assert nearest is not None and nearest.score < verified.verifier.threshold


@pytest.mark.parametrize(
    ("cached", "asked"),
    [
        ("How do I reset my Gmail password?", "How can I reset my Gmail password?"),
        ("What is the capital of France?", "what is the capital of france"),
    ],
)
def test_rewordings_are_served(minilm: Any, cached: str, asked: str) -> None:
    cache = SemanticCache(minilm)
    cache.insert("t", cached, "ctx", "e1")
    cache.insert("t", "How do I cook rice in a pot?", "ctx", "e2")
    hit = cache.lookup("t", asked, "ctx")
    assert hit is not None
    assert (hit.entry_id, hit.question) == ("e1", cached)
    assert hit.score >= cache.verifier.threshold


def test_shipped_artefact_is_consistent() -> None:
    v = default_verifier()
    assert v.spec["features"] == list(NAMES)
    assert v.embedding_model == "all-MiniLM-L6-v2"
    assert 0.0 < v.threshold < 1.0
    assert v.candidates >= 1
    trained = v.spec["trained"]
    assert trained["split"]["test"] == "not used"
    assert LearnedVerifier(v.spec, threshold=0.5).threshold == 0.5
