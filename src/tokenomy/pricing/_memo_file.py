"""Resolved prices kept on disk, so a later run prices known models without loading
genai-prices (the largest part of start-up time).

The file is keyed by a fingerprint of every price source: the installed pricing code and
genai-prices data (paths, sizes and mtimes), our packaged YAML and the user's override
file. Any change gives a new fingerprint, hence a fresh resolution: the cache can be stale
only if nothing changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from tokenomy.pricing._price import ModelPrice
from tokenomy.pricing._schedule import Period, Schedule

Entry = ModelPrice | Schedule | None
FORMAT = 1


def _files_identity(base: Path, files: list[str]) -> str:
    """Where a package's files are, with their sizes and mtimes: changes with any edit,
    reinstall or upgrade. (``importlib.metadata`` would give a version, but costs 20 ms to
    import and misses edits to an editable install.)"""
    parts = [str(base)]
    for name in files:
        try:
            st = (base / name).stat()
        except OSError:
            parts.append(f"{name}=?")
        else:
            parts.append(f"{name}={st.st_size}:{st.st_mtime_ns}")
    return ",".join(parts) + ";"


def fingerprint(overrides: Path | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    here = Path(__file__).parent
    h.update(_files_identity(here, sorted(p.name for p in here.glob("*.py"))).encode())
    genai = importlib.util.find_spec("genai_prices")  # found, not imported
    if genai is not None and genai.origin is not None:
        files = ["__init__.py", "data.py", "types.py"]
        h.update(_files_identity(Path(genai.origin).parent, files).encode())
    h.update(resources.files("tokenomy.pricing").joinpath("data", "models.yaml").read_bytes())
    if overrides is not None and overrides.exists():
        h.update(str(overrides).encode() + overrides.read_bytes())
    h.update(f"format={FORMAT}".encode())
    return h.hexdigest()


def _price_out(p: ModelPrice | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "provider": p.provider,
        "model": p.model,
        "input": p.input,
        "output": p.output,
        "cache_read": p.cache_read,
        "cache_write": p.cache_write,
        "cache_write_1h": p.cache_write_1h,
        "long_context_threshold": p.long_context_threshold,
        "premium": _price_out(p.premium),
        "source": p.source,
        "web_search": p.web_search,
    }


def _price_in(d: dict[str, Any] | None) -> ModelPrice | None:
    if d is None:
        return None
    return ModelPrice(**{**d, "premium": _price_in(d["premium"])})


def entry_out(entry: Entry) -> dict[str, Any] | None:
    if entry is None:
        return None
    if isinstance(entry, ModelPrice):
        return {"price": _price_out(entry)}
    periods = [
        {"price": _price_out(p.price), "start_ms": p.start_ms, "daily": p.daily}
        for p in entry.periods
    ]
    return {"periods": periods, "default": _price_out(entry.default)}


def entry_in(d: dict[str, Any] | None) -> Entry:
    if d is None:
        return None
    if "price" in d:
        return _price_in(d["price"])
    periods = tuple(
        Period(
            _price_in(p["price"]),
            p["start_ms"],
            (p["daily"][0], p["daily"][1]) if p["daily"] is not None else None,
        )
        for p in d["periods"]
    )
    return Schedule(periods, _price_in(d["default"]))


def read(path: Path) -> dict[tuple[str | None, str], Entry] | None:
    try:
        doc = orjson.loads(path.read_bytes())
        return {(k[0], k[1]): entry_in(v) for k, v in doc["entries"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a missing or damaged cache is rebuilt, never an error


def write(path: Path, memo: dict[tuple[str | None, str], Entry]) -> None:
    doc = {"entries": [[list(k), entry_out(v)] for k, v in memo.items()]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(orjson.dumps(doc))
    tmp.replace(path)  # atomic: a concurrent reader sees the old or the new file whole
