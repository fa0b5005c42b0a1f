"""Vectors partitioned by bucket (namespace + context hash), searched only within a bucket.

A lookup must never see another tenant's or another conversation's entries, and a filter
applied after a global nearest-neighbour search would also miss: the bucket's entries may
not be among the global top k. So each bucket is its own index. Most buckets are small
(one conversation's context), and for those an exact scan of a contiguous matrix is both
faster and more accurate than a graph; a bucket that grows past `GRAPH_AT` entries moves to
a usearch HNSW index (cosine metric, f32), which keeps lookups near a millisecond at a million
entries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from usearch.index import Index

F32 = NDArray[np.float32]
GRAPH_AT = 2048  # entries; an exact scan of 2,048 x 384 floats takes about 0.1 ms
_EXPANSION_SEARCH = 64  # HNSW "ef": top-1 recall 0.996 at 100k entries of question vectors


class _Flat:
    """Exact search over a growable matrix; removal moves the last row into the hole."""

    def __init__(self, dim: int) -> None:
        self.vectors = np.zeros((8, dim), dtype=np.float32)
        self.keys = np.zeros(8, dtype=np.uint64)
        self.row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.row)

    def add(self, key: int, vector: F32) -> None:
        n = len(self.row)
        if n == len(self.keys):
            self.vectors = np.concatenate([self.vectors, np.zeros_like(self.vectors)])
            self.keys = np.concatenate([self.keys, np.zeros_like(self.keys)])
        self.vectors[n] = vector
        self.keys[n] = key
        self.row[key] = n

    def remove(self, key: int) -> None:
        i = self.row.pop(key)
        last = len(self.row)
        if i != last:
            self.vectors[i] = self.vectors[last]
            self.keys[i] = self.keys[last]
            self.row[int(self.keys[i])] = i

    def search(self, vector: F32, k: int) -> list[tuple[int, float]]:
        n = len(self.row)
        sims = self.vectors[:n] @ vector
        if k < n:
            top = np.argpartition(-sims, k - 1)[:k]
            top = top[np.argsort(-sims[top], kind="stable")]
        else:
            top = np.argsort(-sims, kind="stable")
        return [(int(self.keys[i]), float(sims[i])) for i in top]


class _Graph:
    def __init__(self, dim: int, index: Index | None = None) -> None:
        self.index = index or Index(
            ndim=dim, metric="cos", dtype="f32", expansion_search=_EXPANSION_SEARCH
        )

    def __len__(self) -> int:
        return len(self.index)

    def add(self, key: int, vector: F32) -> None:
        self.index.add(key, vector, threads=1)

    def remove(self, key: int) -> None:
        self.index.remove(key)

    def search(self, vector: F32, k: int) -> list[tuple[int, float]]:
        m: Any = self.index.search(vector, k, threads=1)
        # usearch's cosine distance is 1 - cosine similarity.
        return [(int(key), 1.0 - float(d)) for key, d in zip(m.keys, m.distances, strict=True)]


Bucket = tuple[str, str]  # (namespace, context hash)


class VectorStore:
    """Not thread-safe on its own: `SemanticCache` holds a lock around every call."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.buckets: dict[Bucket, _Flat | _Graph] = {}

    def add(self, bucket: Bucket, key: int, vector: F32) -> None:
        part = self.buckets.get(bucket)
        if part is None:
            part = self.buckets[bucket] = _Flat(self.dim)
        elif isinstance(part, _Flat) and len(part) >= GRAPH_AT:
            part = self.buckets[bucket] = _promote(part, self.dim)
        part.add(key, vector)

    def add_many(self, bucket: Bucket, keys: NDArray[np.uint64], vectors: F32) -> None:
        """Bulk insert of new keys: one usearch call for a graph bucket."""
        part = self.buckets.get(bucket)
        if isinstance(part, _Graph) or len(part or ()) + len(keys) > GRAPH_AT:
            if part is None:
                part = _Graph(self.dim)
            elif isinstance(part, _Flat):
                part = _promote(part, self.dim)
            self.buckets[bucket] = part
            part.index.add(keys, vectors, threads=1)
            return
        for key, vector in zip(keys.tolist(), vectors, strict=True):
            self.add(bucket, key, vector)

    def remove(self, bucket: Bucket, key: int) -> None:
        part = self.buckets[bucket]
        part.remove(key)
        if len(part) == 0:
            del self.buckets[bucket]

    def search(self, bucket: Bucket, vector: F32, k: int) -> list[tuple[int, float]]:
        part = self.buckets.get(bucket)
        if part is None:
            return []
        return part.search(vector, k)

    # Persistence: the small buckets' rows go into one matrix; each graph into its own file.

    def save(self, folder: Path) -> dict[str, Any]:
        flat_keys: list[F32] = []
        flat_rows: list[F32] = []
        graphs = []
        for n, (bucket, part) in enumerate(self.buckets.items()):
            if isinstance(part, _Flat):
                flat_keys.append(part.keys[: len(part)].copy())  # type: ignore[arg-type]
                flat_rows.append(part.vectors[: len(part)])
            else:
                name = f"graph-{n}.usearch"
                part.index.save(str(folder / name))
                graphs.append({"bucket": list(bucket), "file": name})
        keys = np.concatenate(flat_keys) if flat_keys else np.zeros(0, np.uint64)
        rows = np.concatenate(flat_rows) if flat_rows else np.zeros((0, self.dim), np.float32)
        np.save(folder / "flat-keys.npy", keys)
        np.save(folder / "flat-vectors.npy", rows)
        return {"graphs": graphs}

    @classmethod
    def load(
        cls, folder: Path, dim: int, manifest: dict[str, Any], bucket_of: dict[int, Bucket]
    ) -> VectorStore:
        store = cls(dim)
        keys = np.load(folder / "flat-keys.npy")
        rows = np.load(folder / "flat-vectors.npy")
        for key, row in zip(keys.tolist(), rows, strict=True):
            bucket = bucket_of.get(key)
            if bucket is not None:
                store.add(bucket, key, row)
        for graph in manifest["graphs"]:
            index = Index.restore(str(folder / graph["file"]), expansion_search=_EXPANSION_SEARCH)
            if index is None or index.ndim != dim:
                raise ValueError(f"{folder / graph['file']}: not a {dim}-dimension index")
            store.buckets[(graph["bucket"][0], graph["bucket"][1])] = _Graph(dim, index)
        return store


def _promote(flat: _Flat, dim: int) -> _Graph:
    graph = _Graph(dim)
    n = len(flat)
    graph.index.add(flat.keys[:n], flat.vectors[:n], threads=1)
    return graph
