"""Provider adapters: where a provider lives, how it wants its key, which protocol it speaks.

Every provider whose API is OpenAI's chat-completions protocol (most of them) is the same
adapter with another default base URL; Azure OpenAI (deployment in the path, ``api-key``
header) and Google Gemini (its own protocol, model in the path) are small subclasses.
Adapters are registered through the ``tokenomy.providers`` entry-point group, which a
third-party package can use too: the entry point names a :class:`Provider` or a list of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from tokenomy.record import TokenUsage, ToolUse

Protocol = Literal["openai", "anthropic", "gemini"]
Operation = Literal["chat", "embeddings", "messages", "models"]

_PATHS: dict[Protocol, dict[Operation, str]] = {
    # OpenAI-style base URLs end in their version (".../v1"); Anthropic's do not.
    "openai": {"chat": "/chat/completions", "embeddings": "/embeddings", "models": "/models"},
    "anthropic": {"messages": "/v1/messages", "models": "/v1/models"},
}
# What each protocol's chat operation is called (a translated request uses the provider's).
CHAT_OPERATION: dict[Protocol, Operation] = {
    "openai": "chat",
    "anthropic": "messages",
    "gemini": "chat",
}


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    protocol: Protocol
    default_base_url: str

    def url(
        self,
        base_url: str,
        operation: Operation,
        *,
        model: str = "",
        stream: bool = False,
        api_version: str | None = None,
    ) -> str | None:
        """Where to send ``operation``; None if this provider does not serve it."""
        path = _PATHS[self.protocol].get(operation)
        return None if path is None else base_url + path

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        if self.protocol == "anthropic":
            return {"x-api-key": api_key} if api_key else {}
        return {"authorization": f"Bearer {api_key}"} if api_key else {}

    def usage(self, body: Mapping[str, Any]) -> TokenUsage | None:
        """Token usage from a response body (or the usage part of a stream), if any."""
        raw = body.get("usage")
        if not isinstance(raw, Mapping):
            return None
        return anthropic_usage(raw) if self.protocol == "anthropic" else openai_usage(raw)


@dataclass(frozen=True, slots=True)
class AzureProvider(Provider):
    """Azure OpenAI: OpenAI's protocol, but the deployment name is in the path, the API
    version in the query string, and the key in an ``api-key`` header."""

    default_api_version: str = "2024-10-21"

    def url(
        self,
        base_url: str,
        operation: Operation,
        *,
        model: str = "",
        stream: bool = False,
        api_version: str | None = None,
    ) -> str | None:
        path = {"chat": "chat/completions", "embeddings": "embeddings"}.get(operation)
        if path is None:
            return None
        version = api_version or self.default_api_version
        return f"{base_url}/openai/deployments/{model}/{path}?api-version={version}"

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"api-key": api_key} if api_key else {}


@dataclass(frozen=True, slots=True)
class GeminiProvider(Provider):
    """Google Gemini (AI Studio): its own ``generateContent`` protocol, the model in the
    path, streams as SSE only when asked for with ``alt=sse``."""

    def url(
        self,
        base_url: str,
        operation: Operation,
        *,
        model: str = "",
        stream: bool = False,
        api_version: str | None = None,
    ) -> str | None:
        version = api_version or "v1beta"
        if operation == "chat":
            method = "streamGenerateContent?alt=sse" if stream else "generateContent"
            return f"{base_url}/{version}/models/{model}:{method}"
        if operation == "models":
            return f"{base_url}/{version}/models"
        return None

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        return {"x-goog-api-key": api_key} if api_key else {}

    def usage(self, body: Mapping[str, Any]) -> TokenUsage | None:
        from tokenomy.gateway.translate.gemini import gemini_usage

        raw = body.get("usageMetadata")
        return gemini_usage(raw) if isinstance(raw, Mapping) else None


def _count(mapping: Mapping[str, Any] | None, key: str) -> int:
    if mapping is None:
        return 0
    value = mapping.get(key)
    return value if type(value) is int and value > 0 else 0


def _sub(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else None


def openai_usage(u: Mapping[str, Any]) -> TokenUsage:
    """OpenAI usage: cached tokens are part of prompt tokens, reasoning part of completion.
    (DeepSeek reports its cache hits as ``prompt_cache_hit_tokens``; OpenRouter its cache
    writes, for the providers that bill them, as ``prompt_tokens_details.cache_write_tokens``,
    also part of prompt tokens.)"""
    prompt = _count(u, "prompt_tokens")
    details = _sub(u, "prompt_tokens_details")
    cached = _count(details, "cached_tokens") or _count(u, "prompt_cache_hit_tokens")
    cached = min(cached, prompt)
    written = min(_count(details, "cache_write_tokens"), prompt - cached)
    completion = _count(u, "completion_tokens")
    reasoning = min(_count(_sub(u, "completion_tokens_details"), "reasoning_tokens"), completion)
    return TokenUsage(
        input_tokens=prompt - cached - written,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=completion,
        reasoning_tokens=reasoning,
    )


def anthropic_usage(u: Mapping[str, Any]) -> TokenUsage:
    """Anthropic usage: disjoint already; cache writes split into 5-minute and 1-hour;
    ``output_tokens_details.thinking_tokens`` is the part of output spent thinking (as the
    Claude Code importer reads it)."""
    written = _count(u, "cache_creation_input_tokens")
    write_1h = min(_count(_sub(u, "cache_creation"), "ephemeral_1h_input_tokens"), written)
    output = _count(u, "output_tokens")
    return TokenUsage(
        input_tokens=_count(u, "input_tokens"),
        cache_read_tokens=_count(u, "cache_read_input_tokens"),
        cache_write_tokens=written - write_1h,
        cache_write_1h_tokens=write_1h,
        output_tokens=output,
        reasoning_tokens=min(_count(_sub(u, "output_tokens_details"), "thinking_tokens"), output),
    )


def price_variant(protocol: Protocol, body: Mapping[str, Any]) -> str | None:
    """How the provider says it served the call, where that has prices of its own (the
    catalog's variants): OpenAI's ``service_tier`` at the top of an answer or chunk
    (``priority``, ``flex``), Anthropic's ``usage.speed`` (``fast``). None for the standard
    way, or when the answer does not say."""
    if protocol == "openai":
        tier = body.get("service_tier")
        if isinstance(tier, str) and tier not in ("default", "auto", "standard"):
            return f"service_tier={tier}"
        return None
    if protocol == "anthropic":
        usage = _sub(body, "usage")
        speed = usage.get("speed") if usage is not None else None
        if isinstance(speed, str) and speed != "standard":
            return f"speed={speed}"
    return None


def web_searches(protocol: Protocol, usage: Mapping[str, Any] | None) -> int:
    """The provider's own web searches in an answer's usage (billed per search):
    Anthropic's ``server_tool_use.web_search_requests``."""
    if protocol != "anthropic" or usage is None:
        return 0
    return _count(_sub(usage, "server_tool_use"), "web_search_requests")


def tool_uses(protocol: Protocol, body: Mapping[str, Any]) -> list[ToolUse]:
    """The tools an answer calls (choice 0's), by the provider's own ids, as the agent-log
    importers record them: OpenAI's ``message.tool_calls``, Anthropic's ``tool_use``
    blocks (``server_tool_use`` too: web search is a tool the provider runs)."""
    if protocol == "openai":
        choices = body.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        message = _sub(first, "message") if isinstance(first, Mapping) else None
        calls = message.get("tool_calls") if message is not None else None
        return [t for c in calls if (t := openai_tool(c))] if isinstance(calls, list) else []
    if protocol == "anthropic":
        blocks = body.get("content")
        return [t for b in blocks if (t := anthropic_tool(b))] if isinstance(blocks, list) else []
    return []


def openai_tool(call: object) -> ToolUse | None:
    """A tool call of an answer, or of a stream's first delta for it (which holds its id)."""
    if not isinstance(call, Mapping):
        return None
    function = _sub(call, "function")
    name = function.get("name") if function is not None else None
    use_id = call.get("id")
    if isinstance(name, str) and name and isinstance(use_id, str) and use_id:
        return ToolUse(name, use_id)
    return None


def anthropic_tool(block: object) -> ToolUse | None:
    """A ``tool_use`` (or ``server_tool_use``) content block, answered or streamed."""
    if not isinstance(block, Mapping) or block.get("type") not in ("tool_use", "server_tool_use"):
        return None
    name, use_id = block.get("name"), block.get("id")
    if isinstance(name, str) and name and isinstance(use_id, str) and use_id:
        return ToolUse(name, use_id)
    return None


def _openai_compatible(name: str, base_url: str) -> Provider:
    return Provider(name, "openai", base_url)


BUILTIN: list[Provider] = [
    _openai_compatible("openai", "https://api.openai.com/v1"),
    Provider("anthropic", "anthropic", "https://api.anthropic.com"),
    # Azure has no default: every resource has its own https://NAME.openai.azure.com.
    AzureProvider("azure", "openai", ""),
    GeminiProvider("gemini", "gemini", "https://generativelanguage.googleapis.com"),
    _openai_compatible("openrouter", "https://openrouter.ai/api/v1"),
    _openai_compatible("groq", "https://api.groq.com/openai/v1"),
    _openai_compatible("mistral", "https://api.mistral.ai/v1"),
    _openai_compatible("deepseek", "https://api.deepseek.com/v1"),
    _openai_compatible("xai", "https://api.x.ai/v1"),
    _openai_compatible("together", "https://api.together.xyz/v1"),
    _openai_compatible("fireworks", "https://api.fireworks.ai/inference/v1"),
    # Any other OpenAI-compatible server (vLLM, Ollama, llama.cpp): base_url is required
    # in practice; this default is Ollama's.
    _openai_compatible("openai-compatible", "http://127.0.0.1:11434/v1"),
]


@cache
def known_providers() -> dict[str, Provider]:
    """Every registered provider by name (built-ins and third-party packages)."""
    found: dict[str, Provider] = {}
    for ep in entry_points(group="tokenomy.providers"):
        value = ep.load()
        for provider in value if isinstance(value, list) else [value]:
            if not isinstance(provider, Provider):
                raise TypeError(f"entry point {ep.name!r} gives {provider!r}, not a Provider")
            found[provider.name] = provider
    if not found:  # not installed (running from a source tree): the built-ins still work
        found = {p.name: p for p in BUILTIN}
    return found
