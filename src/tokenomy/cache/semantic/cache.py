"""SemanticCache: question -> id of a cached answer, for near-identical questions.

The cache stores no answers, only which `entry_id` (the exact cache's key for the stored
response) answers which question in which namespace and conversation context. A lookup
embeds the question, searches the nearest cached questions of the same (namespace, context
hash) bucket, and asks the verifier whether the best of them is really the same question.

Thread-safe: one lock guards the index and the LRU order; embedding and verifying (the slow
parts) run outside it. Call it from worker threads, not from an event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tokenomy.cache.semantic import persist
from tokenomy.cache.semantic.embedder import Embedder
from tokenomy.cache.semantic.features import analyse
from tokenomy.cache.semantic.store import Bucket, VectorStore
from tokenomy.cache.semantic.verifier import Verifier, default_verifier

F32 = NDArray[np.float32]
_RECENT_EMBEDDINGS = 256


@dataclass(frozen=True)
class SemanticHit:
    entry_id: str
    similarity: float  # cosine between the two questions' embeddings
    score: float  # the verifier's score; a hit had score >= verifier.threshold
    question: str  # the cached question


class SemanticCache:
    """Bounded by `max_entries`, evicting the least recently used (inserted or hit) entry.

    `entry_id` is unique across namespaces: inserting an id again replaces its entry.
    With a `path`, the cache is loaded from it when present and `save()` writes it there.
    """

    def __init__(
        self,
        embedder: Embedder,
        path: Path | None = None,
        max_entries: int = 100_000,
        verifier: Verifier | None = None,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.embedder = embedder
        self.path = path
        self.max_entries = max_entries
        self.verifier: Verifier = verifier if verifier is not None else default_verifier()
        self.dim = embedder.dim
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, persist.Entry] = OrderedDict()  # oldest first
        self._by_key: dict[int, persist.Entry] = {}
        self._store = VectorStore(self.dim)
        self._next_key = 1
        self._changes = 0  # inserts and removals: what save_if_changed() compares
        self._saved_changes = 0
        # lookup() then insert() of the same question (a miss, then its answer) embeds once.
        self._recent: OrderedDict[str, F32] = OrderedDict()
        self._recent_lock = threading.Lock()
        if path is not None:
            state = persist.load(path, self.dim)
            if state is not None:
                self._store, entries, self._next_key = state
                for entry in entries:
                    self._entries[entry.entry_id] = entry
                    self._by_key[entry.key] = entry
                with self._lock:
                    self._evict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, namespace: str, question: str, context_hash: str) -> SemanticHit | None:
        """The cached question that answers this one, if the verifier accepts it."""
        best = self.nearest(namespace, question, context_hash)
        if best is None or best.score < self.verifier.threshold:
            return None
        with self._lock:
            if best.entry_id in self._entries:
                self._entries.move_to_end(best.entry_id)
        return best

    def nearest(self, namespace: str, question: str, context_hash: str) -> SemanticHit | None:
        """The best-scoring candidate whatever its score (for tuning and diagnostics); None
        when the bucket is empty or no neighbour reaches `verifier.min_similarity`."""
        vector = self._embed(question)
        v = self.verifier
        with self._lock:
            found = self._store.search((namespace, context_hash), vector, max(v.candidates, 2))
            candidates = [(self._by_key[key], sim) for key, sim in found]
        if not candidates:
            return None
        query = analyse(question)
        best: SemanticHit | None = None
        for rank, (entry, sim) in enumerate(candidates[: v.candidates]):
            if sim < v.min_similarity:
                break
            runner_up = max((s for i, (_, s) in enumerate(candidates) if i != rank), default=0.0)
            score = v.score(query, entry.question, sim, runner_up)
            if best is None or score > best.score:
                best = SemanticHit(entry.entry_id, sim, score, entry.question)
        return best

    def insert(self, namespace: str, question: str, context_hash: str, entry_id: str) -> None:
        vector = self._embed(question)  # usually remembered from the lookup that missed
        self.insert_vectors(namespace, context_hash, [question], [entry_id], vector[None, :])

    def insert_vectors(
        self,
        namespace: str,
        context_hash: str,
        questions: list[str],
        entry_ids: list[str],
        vectors: F32 | None,
    ) -> None:
        """Insert many questions of one bucket; `vectors` when already embedded (warm-up from
        stored calls, benchmarks), else they are embedded here."""
        if len(questions) != len(entry_ids):
            raise ValueError("one entry_id per question")
        if vectors is None:
            vectors = self._embed_many(questions)
        if vectors.shape != (len(questions), self.dim):
            raise ValueError(f"expected {len(questions)} vectors of {self.dim} dimensions")
        bucket: Bucket = (namespace, context_hash)
        with self._lock:
            for entry_id in entry_ids:
                self._remove(entry_id)
            keys = np.arange(self._next_key, self._next_key + len(entry_ids), dtype=np.uint64)
            self._next_key += len(entry_ids)
            # A repeated id within one call keeps its last question, as single inserts would.
            last = {entry_id: i for i, entry_id in enumerate(entry_ids)}
            rows = sorted(last.values())
            self._store.add_many(bucket, keys[rows], vectors[rows])
            for i in rows:
                entry = persist.Entry(entry_ids[i], bucket, questions[i], int(keys[i]))
                self._entries[entry.entry_id] = entry
                self._by_key[entry.key] = entry
            self._evict()
            self._changes += 1

    def remove(self, entry_id: str) -> bool:
        with self._lock:
            return self._remove(entry_id)

    def save(self) -> None:
        """Write the cache to `path` (a new generation, then an atomic switch to it)."""
        if self.path is None:
            raise ValueError("this SemanticCache has no path")
        with self._lock:
            persist.save(self.path, self.dim, self._store, self._entries.values(), self._next_key)
            self._saved_changes = self._changes

    def save_if_changed(self) -> bool:
        """Save when entries were added or removed since the last save (the gateway does
        every few minutes, so a crash loses only the last few minutes' entries)."""
        if self.path is None or self._changes == self._saved_changes:
            return False
        self.save()
        return True

    def _remove(self, entry_id: str) -> bool:
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return False
        self._changes += 1
        del self._by_key[entry.key]
        self._store.remove(entry.bucket, entry.key)
        return True

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries:
            _, entry = self._entries.popitem(last=False)
            del self._by_key[entry.key]
            self._store.remove(entry.bucket, entry.key)

    def _embed(self, question: str) -> F32:
        with self._recent_lock:
            hit = self._recent.get(question)
            if hit is not None:
                self._recent.move_to_end(question)
                return hit
        vector: F32 = self._embed_many([question])[0]
        with self._recent_lock:
            self._recent[question] = vector
            if len(self._recent) > _RECENT_EMBEDDINGS:
                self._recent.popitem(last=False)
        return vector

    def _embed_many(self, questions: list[str]) -> F32:
        vectors = np.asarray(self.embedder.embed(questions), dtype=np.float32)
        if vectors.shape != (len(questions), self.dim):
            raise ValueError(f"the embedder returned {vectors.shape}, expected {self.dim} columns")
        return vectors
