"""SemanticCache with a real usearch index: isolation, eviction, persistence, threads.

Uses the word-hashing embedder and a plain cosine threshold, so these tests are about the
cache's structure, not about meaning (see test_verifier.py for that).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("usearch", reason="needs the `semantic` extra: pip install -e '.[semantic]'")
import numpy as np
from tests.cache.semantic.embedders import DIM, HashingEmbedder

from tokenomy.cache.semantic import CosineVerifier, SemanticCache
from tokenomy.cache.semantic.store import GRAPH_AT

Q = "how do I reset my router password"
CTX = "ctx-1"


def _cache(embedder: HashingEmbedder, **kw: object) -> SemanticCache:
    return SemanticCache(embedder, verifier=CosineVerifier(0.95), **kw)  # type: ignore[arg-type]


def test_exact_repeat_hits(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing)
    cache.insert("t1", Q, CTX, "e1")
    hit = cache.lookup("t1", Q, CTX)
    assert hit is not None
    assert (hit.entry_id, hit.question) == ("e1", Q)
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)
    assert cache.lookup("t1", "what is the weather in Paris today", CTX) is None


def test_namespaces_never_answer_each_other(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing)
    cache.insert("tenant-a", Q, CTX, "a1")
    assert cache.lookup("tenant-b", Q, CTX) is None
    cache.insert("tenant-b", Q, CTX, "b1")
    hit_a, hit_b = cache.lookup("tenant-a", Q, CTX), cache.lookup("tenant-b", Q, CTX)
    assert hit_a is not None and hit_a.entry_id == "a1"
    assert hit_b is not None and hit_b.entry_id == "b1"


def test_other_context_does_not_match(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing)
    cache.insert("t1", Q, "conversation-1", "e1")
    assert cache.lookup("t1", Q, "conversation-2") is None


def test_isolation_holds_in_a_large_graph_bucket(hashing: HashingEmbedder) -> None:
    """Past GRAPH_AT entries a bucket moves to HNSW; another tenant's identical question in
    a big bucket still never answers."""
    cache = _cache(hashing, max_entries=10 * GRAPH_AT)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((GRAPH_AT + 10, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"big-{i}" for i in range(len(vectors))]
    cache.insert_vectors("big", CTX, [f"q{i}" for i in ids], ids, vectors)
    cache.insert("big", Q, CTX, "big-q")
    cache.insert("small", "an unrelated question about cooking rice", CTX, "small-1")
    hit = cache.lookup("big", Q, CTX)
    assert hit is not None and hit.entry_id == "big-q"
    assert cache.lookup("small", Q, CTX) is None


def test_bounded_with_least_recently_used_eviction(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing, max_entries=5)
    questions = [f"question number {w} about topic {w}" for w in "abcdefg"]
    for i, q in enumerate(questions[:5]):
        cache.insert("t", q, CTX, f"e{i}")
    assert cache.lookup("t", questions[0], CTX) is not None  # e0 is now the most recent
    cache.insert("t", questions[5], CTX, "e5")  # evicts e1, the least recently used
    cache.insert("t", questions[6], CTX, "e6")  # evicts e2
    assert len(cache) == 5
    assert cache.lookup("t", questions[1], CTX) is None
    assert cache.lookup("t", questions[2], CTX) is None
    for q in (questions[0], questions[3], questions[6]):
        assert cache.lookup("t", q, CTX) is not None


def test_reinsert_replaces_and_remove_deletes(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing)
    cache.insert("t", Q, CTX, "e1")
    cache.insert("t", "how to cook rice in a pot", CTX, "e1")
    assert len(cache) == 1
    assert cache.lookup("t", Q, CTX) is None
    assert cache.remove("e1") is True
    assert cache.remove("e1") is False
    assert len(cache) == 0
    assert cache.lookup("t", "how to cook rice in a pot", CTX) is None


def test_lookup_then_insert_embeds_once(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing)
    assert cache.lookup("t", Q, CTX) is None
    calls = hashing.calls
    cache.insert("t", Q, CTX, "e1")
    assert hashing.calls == calls


def test_persistence_round_trip(hashing: HashingEmbedder, tmp_path: Path) -> None:
    path = tmp_path / "semcache"
    cache = _cache(hashing, path=path, max_entries=10 * GRAPH_AT)
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((GRAPH_AT + 5, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"g{i}" for i in range(len(vectors))]
    cache.insert_vectors("graph", CTX, ids, ids, vectors)  # a graph bucket
    cache.insert("graph", Q, CTX, "graph-q")
    cache.insert("flat", Q, CTX, "flat-q")  # a small bucket
    cache.insert("flat", "how to cook rice in a pot", "other", "flat-rice")
    cache.save()
    cache.insert("flat", "a question after the save", CTX, "unsaved")

    loaded = _cache(HashingEmbedder(), path=path, max_entries=10 * GRAPH_AT)
    assert len(loaded) == len(cache) - 1
    for ns, q, ctx, entry_id in [
        ("graph", Q, CTX, "graph-q"),
        ("flat", Q, CTX, "flat-q"),
        ("flat", "how to cook rice in a pot", "other", "flat-rice"),
    ]:
        hit = loaded.lookup(ns, q, ctx)
        assert hit is not None and hit.entry_id == entry_id
    assert loaded.lookup("flat", "a question after the save", CTX) is None
    # Saving again replaces the generation; only one is kept.
    loaded.insert("flat", "a question after the save", CTX, "later")
    loaded.save()
    assert len(list(path.glob("gen-*"))) == 1
    again = _cache(HashingEmbedder(), path=path, max_entries=10 * GRAPH_AT)
    assert again.lookup("flat", "a question after the save", CTX) is not None


def test_persisted_lru_order_and_a_smaller_bound(hashing: HashingEmbedder, tmp_path: Path) -> None:
    cache = _cache(hashing, path=tmp_path, max_entries=10)
    for i in range(4):
        cache.insert("t", f"question {i} about subject {i}", CTX, f"e{i}")
    assert cache.lookup("t", "question 0 about subject 0", CTX) is not None  # e0 most recent
    cache.save()
    loaded = _cache(hashing, path=tmp_path, max_entries=2)  # keeps the 2 most recent
    assert len(loaded) == 2
    assert loaded.lookup("t", "question 0 about subject 0", CTX) is not None
    assert loaded.lookup("t", "question 3 about subject 3", CTX) is not None
    assert loaded.lookup("t", "question 1 about subject 1", CTX) is None


def test_another_dimension_is_refused(hashing: HashingEmbedder, tmp_path: Path) -> None:
    cache = _cache(hashing, path=tmp_path)
    cache.insert("t", Q, CTX, "e1")
    cache.save()

    class Small(HashingEmbedder):
        dim = 8

    with pytest.raises(ValueError, match="384-dimension"):
        _cache(Small(), path=tmp_path)


def test_concurrent_inserts_and_lookups_stay_bounded(hashing: HashingEmbedder) -> None:
    cache = _cache(hashing, max_entries=300)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(200):
                q = f"worker {worker} question {i} on topic {i % 17}"
                cache.insert(f"ns{worker % 2}", q, CTX, f"w{worker}-{i}")
                hit = cache.lookup(f"ns{worker % 2}", q, CTX)
                assert hit is None or hit.entry_id.startswith("w")
                if i % 10 == 0:
                    cache.remove(f"w{worker}-{i - 5}")
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 300
