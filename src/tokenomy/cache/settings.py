"""The ``cache:`` section of tokenomy.yaml: which aliases are cached and how, where
entries live, for how long, and who may share them.

```yaml
cache:
  aliases: {fast: exact, chat: semantic}   # opt-in per alias (default: off)
  ttl: 3600               # seconds an entry is served (default 1 hour)
  namespace: key          # key (default) | project | shared: who may share entries
  backend: memory         # memory (default) | sqlite | redis
  max_mb: 256             # memory and sqlite: the size bound (LRU eviction)
  path: ~/.tokenomy/response-cache.db   # sqlite
  redis_url: redis://127.0.0.1:6379/0   # redis
  semantic: {max_entries: 100000, embedder: local}   # see docs/semantic-cache.md
```

A request can opt in or out itself (``x-tokenomy-cache: exact|semantic|off``), and
``Cache-Control: no-cache`` / ``no-store`` are honoured (docs/cache.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

from tokenomy.config import check_finite

Mode = Literal["exact", "semantic", "off"]
MODES: tuple[Mode, ...] = ("exact", "semantic", "off")
Namespace = Literal["key", "project", "shared"]
NAMESPACES: tuple[Namespace, ...] = ("key", "project", "shared")
BACKENDS = ("memory", "sqlite", "redis")
_KEYS = ("aliases", "ttl", "namespace", "backend", "max_mb", "path", "redis_url", "semantic")

Fail = Callable[[str, str], NoReturn]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    aliases: dict[str, Mode] = field(default_factory=dict)
    ttl: float = 3600.0
    namespace: Namespace = "key"
    backend: str = "memory"
    max_bytes: int = 256 * 1024 * 1024
    path: Path | None = None
    redis_url: str | None = None
    semantic: dict[str, Any] = field(default_factory=dict)


def parse_cache(raw: Any, where: str, fail: Fail, home: Path) -> CacheSettings:
    if raw is None:
        return CacheSettings()
    if not isinstance(raw, dict):
        fail(where, f"expected a mapping with any of {', '.join(_KEYS)}")
    unknown = sorted(set(raw) - set(_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_KEYS)})")
    aliases = raw.get("aliases") or {}
    if not isinstance(aliases, dict):
        fail(f"{where}.aliases", "expected a mapping of alias -> exact | semantic | off")
    modes: dict[str, Mode] = {}
    for alias, mode in aliases.items():
        if mode not in MODES:
            fail(f"{where}.aliases.{alias}", f"expected one of {', '.join(MODES)}, got {mode!r}")
        modes[str(alias)] = mode
    ttl = raw.get("ttl", 3600)
    check_finite(ttl, f"{where}.ttl", fail)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
        fail(f"{where}.ttl", f"expected a positive number of seconds, got {ttl!r}")
    namespace = raw.get("namespace", "key")
    if namespace not in NAMESPACES:
        fail(f"{where}.namespace", f"expected one of {', '.join(NAMESPACES)}, got {namespace!r}")
    backend = raw.get("backend", "memory")
    if backend not in BACKENDS:
        fail(f"{where}.backend", f"expected one of {', '.join(BACKENDS)}, got {backend!r}")
    max_mb = raw.get("max_mb", 256)
    check_finite(max_mb, f"{where}.max_mb", fail)
    if isinstance(max_mb, bool) or not isinstance(max_mb, int | float) or max_mb <= 0:
        fail(f"{where}.max_mb", f"expected a positive number of megabytes, got {max_mb!r}")
    path = raw.get("path")
    if path is not None and not isinstance(path, str):
        fail(f"{where}.path", f"expected a file path, got {path!r}")
    redis_url = raw.get("redis_url")
    if backend == "redis" and redis_url is None:
        fail(f"{where}.redis_url", "the redis backend needs redis_url (redis://host:port/db)")
    # As budgets.redis_url is checked: a URL Redis's client refuses stopped the gateway's
    # start-up with a traceback.
    if redis_url is not None and (
        not isinstance(redis_url, str) or not redis_url.startswith(("redis://", "rediss://"))
    ):
        fail(f"{where}.redis_url", f"expected redis://host:port/db, got {redis_url!r}")
    semantic = raw.get("semantic") or {}
    if not isinstance(semantic, dict):
        fail(f"{where}.semantic", "expected a mapping")
    _check_semantic(semantic, f"{where}.semantic", fail)
    return CacheSettings(
        aliases=modes,
        ttl=float(ttl),
        namespace=namespace,
        backend=backend,
        max_bytes=int(max_mb * 1024 * 1024),
        path=Path(path).expanduser() if path else home / "response-cache.db",
        redis_url=redis_url,
        semantic=semantic,
    )


_SEMANTIC_KEYS = ("embedder", "max_entries", "path")
_EMBEDDER_KEYS = ("base_url", "model", "api_key_env")


def _check_semantic(raw: dict[str, Any], where: str, fail: Fail) -> None:
    """``embedder: local`` (the packaged MiniLM) or ``{base_url, model, api_key_env}`` (any
    OpenAI-compatible embeddings endpoint); ``max_entries``; ``path`` (where the index is
    kept across restarts)."""
    unknown = sorted(set(raw) - set(_SEMANTIC_KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_SEMANTIC_KEYS)})")
    embedder = raw.get("embedder", "local")
    if isinstance(embedder, dict):
        extra = sorted(set(embedder) - set(_EMBEDDER_KEYS))
        if extra:
            fail(
                f"{where}.embedder.{extra[0]}",
                f"unknown key (expected one of {', '.join(_EMBEDDER_KEYS)})",
            )
        for key in ("base_url", "model"):
            if not isinstance(embedder.get(key), str):
                fail(f"{where}.embedder.{key}", "required: a string")
    elif embedder != "local":
        fail(
            f"{where}.embedder",
            f"expected local or a mapping with base_url and model, got {embedder!r}",
        )
    entries = raw.get("max_entries", 100_000)
    if isinstance(entries, bool) or not isinstance(entries, int) or entries < 1:
        fail(f"{where}.max_entries", f"expected a whole number >= 1, got {entries!r}")
    if "path" in raw and (not isinstance(raw["path"], str) or not raw["path"].strip()):
        fail(f"{where}.path", f"expected a folder path (a string), got {raw['path']!r}")
    key_env = embedder.get("api_key_env") if isinstance(embedder, dict) else None
    if key_env is not None and not isinstance(key_env, str):
        fail(
            f"{where}.embedder.api_key_env",
            f"expected an environment variable's name, got {key_env!r}",
        )
