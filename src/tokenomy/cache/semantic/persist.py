"""The semantic cache on disk: a folder of generations and a `CURRENT` file naming one.

    path/CURRENT            "gen-000007"
    path/gen-000007/        manifest.json, entries.json (oldest first), flat-keys.npy,
                            flat-vectors.npy, graph-<n>.usearch

`save` writes a complete new generation, then replaces CURRENT atomically (rename), then
deletes older generations: a crash at any point leaves the previous or the new cache whole.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

from tokenomy.cache.semantic.store import Bucket, VectorStore

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Entry:
    entry_id: str
    bucket: Bucket
    question: str
    key: int  # the vector's key in the store


def save(path: Path, dim: int, store: VectorStore, entries: Iterable[Entry], next_key: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    current = _current(path)
    number = int(current.removeprefix("gen-")) + 1 if current else 1
    name = f"gen-{number:06d}"
    folder = path / name
    if folder.exists():
        shutil.rmtree(folder)  # left by a save that crashed before switching
    folder.mkdir()
    rows = [[e.entry_id, e.bucket[0], e.bucket[1], e.question, e.key] for e in entries]
    (folder / "entries.json").write_bytes(orjson.dumps(rows))
    manifest = {"version": FORMAT_VERSION, "dim": dim, "next_key": next_key} | store.save(folder)
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    tmp = path / "CURRENT.tmp"
    tmp.write_text(name, encoding="utf-8")
    tmp.replace(path / "CURRENT")  # atomic, as os.replace
    for old in path.glob("gen-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def load(path: Path, dim: int) -> tuple[VectorStore, list[Entry], int] | None:
    """(store, entries oldest first, next key), or None when nothing was saved yet."""
    current = _current(path)
    if current is None:
        return None
    folder = path / current
    manifest = orjson.loads((folder / "manifest.json").read_bytes())
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{folder}: unknown semantic cache format {manifest.get('version')}")
    if manifest["dim"] != dim:
        raise ValueError(
            f"{folder}: saved with {manifest['dim']}-dimension embeddings, the embedder gives"
            f" {dim}; use another path for another embedding model"
        )
    entries = [
        Entry(str(eid), (str(ns), str(ctx)), str(q), int(key))
        for eid, ns, ctx, q, key in orjson.loads((folder / "entries.json").read_bytes())
    ]
    store = VectorStore.load(folder, dim, manifest, {e.key: e.bucket for e in entries})
    return store, entries, int(manifest["next_key"])


def _current(path: Path) -> str | None:
    try:
        name = (path / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None
