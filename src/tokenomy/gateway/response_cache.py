"""The response cache in the gateway: which requests may be answered from the cache, the
lookup (exact key first, then a verified semantic match), the replay of a hit in the
client's own protocol (a stream as a stream), and the store of a fresh answer.

A hit never reaches a provider: it is recorded as a call with ``cache_hit`` set and no
cost, so the savings show in reports. What is stored is exactly what the client received
(the body, or the stream's bytes), so a replay is byte for byte the original answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tokenomy.cache.entry import CachedResponse
from tokenomy.cache.keys import key_of, params_hash
from tokenomy.cache.settings import MODES, CacheSettings, Mode
from tokenomy.cache.stores import CacheStore, MemoryStore, RedisStore, SQLiteStore
from tokenomy.gateway.off_loop import run_blocking
from tokenomy.gateway.proxy import ClientError, Request, wants_usage
from tokenomy.gateway.recorder import CallTrace
from tokenomy.record import TokenUsage

if TYPE_CHECKING:
    from tokenomy.cache.semantic import Embedder, SemanticCache

log = logging.getLogger("tokenomy.gateway.cache")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
HEADER = "x-tokenomy-cache"
# Request headers that change the answer, so part of the exact key (docs/cache.md).
ANSWER_HEADERS = ("anthropic-beta", "anthropic-version", "openai-beta")
# A response larger than this is served but not kept (a cache of a few huge answers is a
# poor cache of many small ones).
MAX_ENTRY_BYTES = 8 * 1024 * 1024
Hit = Literal["exact", "semantic"]


@dataclass(slots=True)
class Plan:
    """What the cache may do for one request."""

    mode: Mode
    read: bool
    write: bool
    namespace: str
    key: str
    stream: bool
    question: str | None = None  # semantic: the last user message
    context: str | None = None  # semantic: hash of everything else


@dataclass(slots=True)
class Capture:
    """The response as it goes to the client, kept to be stored."""

    status: int = 0
    content_type: str = "application/json"
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    overflow: bool = False

    def add(self, body: bytes) -> None:
        if self.overflow or not body:
            return
        self.size += len(body)
        if self.size > MAX_ENTRY_BYTES:
            self.overflow, self.parts = True, []
        else:
            self.parts.append(body)


def open_store(settings: CacheSettings) -> CacheStore:
    if settings.backend == "sqlite":
        assert settings.path is not None
        return SQLiteStore(settings.path, settings.max_bytes)
    if settings.backend == "redis":
        assert settings.redis_url is not None
        return RedisStore(settings.redis_url)
    return MemoryStore(settings.max_bytes)


def open_semantic(settings: CacheSettings) -> SemanticCache | None:
    """The semantic cache, when an alias uses it or the config has a ``semantic`` section;
    its index is kept beside the response cache's file across restarts."""
    if not settings.semantic and "semantic" not in settings.aliases.values():
        return None
    # Whatever keeps it from opening, the gateway serves on with the exact cache rather
    # than refuse to start, and says why and what to do.
    try:
        from tokenomy.cache.semantic import (
            EmbedderUnavailableError,
            EmbeddingError,
            HttpEmbedder,
            LocalEmbedder,
            SemanticCache,
        )
    except ImportError as exc:
        log.error(
            "semantic cache off, exact cache only: the semantic extra is not installed "
            "(pip install 'tokenomy[semantic]'): %s",
            exc,
        )
        return None
    conf = settings.semantic
    embedder_conf = conf.get("embedder", "local")
    embedder: Embedder
    try:
        if isinstance(embedder_conf, dict):
            key_env = embedder_conf.get("api_key_env")
            if key_env and not os.environ.get(key_env):
                log.warning(
                    "cache.semantic.embedder.api_key_env: %s is not set; asking %s without a key",
                    key_env,
                    embedder_conf["base_url"],
                )
            embedder = HttpEmbedder(
                embedder_conf["base_url"],
                os.environ.get(key_env) if key_env else None,
                embedder_conf["model"],
            )
        else:
            embedder = LocalEmbedder()
        default = (settings.path or Path("response-cache.db")).with_name("semantic-cache")
        path = Path(conf["path"]).expanduser() if "path" in conf else default
        return SemanticCache(embedder, path, max_entries=int(conf.get("max_entries", 100_000)))
    except (EmbedderUnavailableError, EmbeddingError) as exc:
        log.error("semantic cache off, exact cache only: %s", exc)
        return None


class ResponseCache:
    def __init__(
        self,
        settings: CacheSettings,
        store: CacheStore | None = None,
        semantic: SemanticCache | None = None,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else open_store(settings)
        self.semantic = semantic if semantic is not None else open_semantic(settings)

    # -- deciding -------------------------------------------------------------------------

    def plan(
        self, request: Request, alias: str, key_id: str | None, project: str | None
    ) -> Plan | None:
        """None when the cache stays out of this request (the default for every alias that
        did not opt in); a bad ``x-tokenomy-cache`` value is the client's error."""
        asked = request.headers.get(HEADER)
        if asked is not None:
            asked = asked.strip().lower()
            if asked not in MODES:
                raise ClientError(
                    400, f"{HEADER} must be one of: {', '.join(MODES)} (got {asked!r})", "bad_cache"
                )
        if request.operation not in ("chat", "messages"):
            return None  # embeddings and the rest: not cached (docs/cache.md)
        mode: Mode = asked or self.settings.aliases.get(alias, "off")
        if mode == "off":
            return None
        body = request.json
        # A near match is served only where the caller accepts a different sample anyway:
        # temperature 0, or a semantic opt-in on the request itself.
        if mode == "semantic" and self.semantic is None and asked == "semantic":
            _warn_no_semantic_index()
        if mode == "semantic" and (
            self.semantic is None or (asked != "semantic" and body.get("temperature") != 0)
        ):
            mode = "exact"
        control = request.headers.get("cache-control", "").lower()
        namespace = self._namespace(key_id, project)
        stream = body.get("stream") is True
        # An OpenAI stream with include_usage ends with a usage chunk (choices: []), one
        # without has none: the replayed bytes differ, so the two are kept apart. (Folded
        # into the key, not the request: the prompt hash stays the prompt's.)
        usage = stream and request.protocol == "openai" and wants_usage(body)
        variant = namespace + "+usage" if usage else namespace
        plan = Plan(
            mode=mode,
            read="no-cache" not in control,
            write="no-store" not in control,
            namespace=namespace,
            key=key_of(variant + _answer_headers(request.headers), request.normalised()),
            stream=stream,
        )
        if mode == "semantic":
            plan.question, plan.context = _semantic_key(request, stream, usage)
            if plan.question is None:
                plan.mode = "exact"
        return plan

    def _namespace(self, key_id: str | None, project: str | None) -> str:
        """Who may share entries: one virtual key (default), one project, or everyone.
        ``project`` is the key's own when there is a key. A key without a project is a
        tenant of its own; without any key every caller is one tenant (a gateway with no
        keys)."""
        kind = self.settings.namespace
        if kind == "shared":
            return "shared"
        if kind == "key" and key_id:
            return f"key:{key_id}"
        if project:
            return f"project:{project}"
        if key_id:
            return f"key:{key_id}"
        return "default"

    # -- reading --------------------------------------------------------------------------

    async def lookup(self, plan: Plan) -> tuple[CachedResponse, Hit, dict[str, Any]] | None:
        try:
            entry = await self.store.get(plan.key)
            if entry is not None:
                return entry, "exact", {}
            if plan.mode != "semantic" or self.semantic is None or plan.question is None:
                return None
            match = await asyncio.to_thread(
                self.semantic.lookup, plan.namespace, plan.question, plan.context or ""
            )
            if match is None:
                return None
            entry = await self.store.get(match.entry_id)
            if entry is None:  # expired or evicted meanwhile: forget the pointer too
                await asyncio.to_thread(self.semantic.remove, match.entry_id)
                return None
            # Which entry answered, and how close it was; never the cached question's text:
            # it is someone's prompt, and prompts are stored only with content capture on.
            evidence = {
                "similarity": round(match.similarity, 4),
                "score": round(match.score, 4),
                "matched_entry": match.entry_id,
            }
            return entry, "semantic", evidence
        except Exception as exc:  # a cache that is down must never fail the call
            log.warning("response cache lookup failed, asking the provider: %s", exc)
            return None

    async def replay(
        self, entry: CachedResponse, hit: Hit, send: Send, trace: CallTrace, extra: dict[str, Any]
    ) -> None:
        age = max(0, int(time.time() - entry.created_ms / 1000))
        headers = [
            (b"content-type", entry.content_type.encode("latin-1")),
            (HEADER.encode(), f"hit-{hit}".encode()),
            (b"age", str(age).encode()),
        ]
        if entry.stream:
            headers.append((b"cache-control", b"no-cache"))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for event in entry.events():
                await send({"type": "http.response.body", "body": event, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            headers.append((b"content-length", str(len(entry.body)).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": entry.body})
        trace.first_byte()
        trace.status = 200
        trace.cache_hit = hit
        trace.provider = entry.provider
        trace.deployment_model = entry.model
        trace.response_model = entry.model
        trace.usage = entry.usage
        trace.finish_reason = entry.finish_reason
        trace.attributes["cache_age_s"] = age
        trace.attributes.update(extra)

    # -- writing --------------------------------------------------------------------------

    async def keep(self, plan: Plan, capture: Capture, trace: CallTrace) -> None:
        """Store a complete, successful answer (nothing else: an error or a cut stream
        replayed forever would be worse than no cache)."""
        if capture.status != 200 or capture.overflow or trace.error_type is not None:
            return
        entry = CachedResponse(
            body=b"".join(capture.parts),
            content_type=capture.content_type,
            stream=plan.stream,
            created_ms=int(time.time() * 1000),
            provider=trace.provider,
            model=trace.response_model or trace.deployment_model,
            usage=trace.usage or TokenUsage(),
            finish_reason=trace.finish_reason,
        )
        try:
            await self.store.put(plan.key, entry, self.settings.ttl)
            if plan.mode == "semantic" and self.semantic is not None and plan.question:
                await asyncio.to_thread(
                    self.semantic.insert,
                    plan.namespace,
                    plan.question,
                    plan.context or "",
                    plan.key,
                )
        except Exception as exc:
            log.warning("response cache store failed (the answer was served): %s", exc)

    async def close(self) -> None:
        await self.store.close()
        if self.semantic is not None:
            await run_blocking(self.semantic.save)


def _answer_headers(headers: dict[str, str]) -> str:
    """The request headers that change the answer, as a suffix of the key's namespace: an
    API version, and beta features (Anthropic's context-1m or output-128k, OpenAI-Beta).
    Empty without them, so the keys of requests that send none stay what they were."""
    parts: list[str] = []
    for name in ANSWER_HEADERS:
        value = headers.get(name)
        if value is not None:
            # "a,b" and "b, a" ask for the same features.
            flags = sorted(f.strip() for f in value.split(",") if f.strip())
            parts.append(f"+{name}={','.join(flags)}")
    return "".join(parts)


@functools.cache  # said once: the first call logs, the next ones are cached no-ops
def _warn_no_semantic_index() -> None:
    """A request asked for the semantic cache, which this gateway has not opened (no alias
    uses it and there is no ``cache.semantic`` section)."""
    log.warning(
        "x-tokenomy-cache: semantic asked, but the semantic cache is not open (set an "
        "alias to semantic, or add a cache.semantic section): using the exact cache"
    )


def _semantic_key(
    request: Request, stream: bool, usage: bool = False
) -> tuple[str | None, str | None]:
    """The last user message, and a hash of the rest of the context: the conversation
    before it, the system prompt, tools and every parameter (and whether it streams, so a
    hit can be replayed in the same form)."""
    from tokenomy.cache.semantic import semantic_key

    body = request.json
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None, None
    params = params_hash(request.protocol, request.operation, body)  # includes the tools
    # Anthropic keeps the system prompt beside the messages; OpenAI's is one of them.
    extra: dict[str, Any] = {"params": params, "stream": stream}
    if usage:
        extra["usage"] = True  # only when set: entries stored before keep their contexts
    found = semantic_key(messages, system=body.get("system"), extra=extra)
    return (None, None) if found is None else found
