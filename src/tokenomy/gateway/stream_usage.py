"""Usage, model and finish reason read from a provider's stream events as they pass.

It reads the *provider's* events (before any translation), so the recorded token categories
are the provider's exact ones whatever protocol the client speaks.
"""

from __future__ import annotations

from typing import Any

from tokenomy.gateway.providers import (
    Protocol,
    anthropic_tool,
    anthropic_usage,
    openai_tool,
    openai_usage,
    price_variant,
    web_searches,
)
from tokenomy.gateway.translate.base import loads_object, stream_error_of
from tokenomy.record import TokenUsage, ToolUse


class StreamUsage:
    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.model: str | None = None
        self.finish_reason: str | None = None
        # Whether the stream's own end marker was seen: a stream that stops without it was
        # cut off, whatever the connection says.
        self.finished = False
        # The provider's own error event (Anthropic's ``event: error``, an OpenAI or Gemini
        # chunk holding ``error``): its message and code. The stream ends there.
        self.error: tuple[str, str | None] | None = None
        self._usage: dict[str, Any] = {}
        # How the provider served the call, where that has its own prices (providers.py).
        self.variant: str | None = None
        # The tools the answer calls (choice 0's), in order, by their ids.
        self.tools: list[ToolUse] = []

    def see(self, name: str, data: bytes) -> bool:
        """Take in one event; True if it carries only usage (OpenAI's last chunk)."""
        # Cheap test first: an error object's key comes early; other events are parsed once.
        if (name == "error" or b'"error"' in data[:40]) and self._see_error(data):
            return False
        if self.protocol == "openai":
            return self._see_openai(data)
        if self.protocol == "gemini":
            self._see_gemini(data)
            return False
        self._see_anthropic(name, data)
        return False

    def _see_error(self, data: bytes) -> bool:
        event = loads_object(data)
        if event is None or not isinstance(event.get("error"), dict):
            return False
        if self.error is None:
            self.error = stream_error_of(self.protocol, event)
        return True

    def _see_openai(self, data: bytes) -> bool:
        if data == b"[DONE]":
            self.finished = True
            return False
        chunk = loads_object(data)
        if chunk is None:
            return False
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        self.variant = price_variant("openai", chunk) or self.variant
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            # Choice 0's, as for an answer that is not streamed (n > 1 streams every
            # choice, and another may end otherwise, later).
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]
            delta = choice.get("delta")
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            # A call's first delta holds its id and name; the rest only argument pieces.
            for call in calls if isinstance(calls, list) else []:
                if (tool := openai_tool(call)) is not None:
                    self.tools.append(tool)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
            return not choices
        return False

    def _see_anthropic(self, name: str, data: bytes) -> None:
        if name == "message_stop":
            self.finished = True
            return
        if name == "content_block_start":
            block = loads_object(data)
            tool = anthropic_tool(block.get("content_block")) if block is not None else None
            if tool is not None:
                self.tools.append(tool)
            return
        if name not in ("message_start", "message_delta"):
            return
        event = loads_object(data)
        if event is None:
            return
        part = event.get("message") if name == "message_start" else event
        if isinstance(part, dict):
            if isinstance(part.get("model"), str):
                self.model = part["model"]
            self.variant = price_variant("anthropic", part) or self.variant
            if isinstance(part.get("usage"), dict):
                # message_delta's counts are cumulative and replace message_start's.
                self._usage.update({k: v for k, v in part["usage"].items() if v is not None})
        delta = event.get("delta")
        if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
            self.finish_reason = delta["stop_reason"]

    def _see_gemini(self, data: bytes) -> None:
        chunk = loads_object(data)
        if chunk is None:
            return
        if isinstance(chunk.get("modelVersion"), str):
            self.model = chunk["modelVersion"]
        if isinstance(chunk.get("usageMetadata"), dict):
            self._usage = chunk["usageMetadata"]  # cumulative: the last one is the total
        candidates = chunk.get("candidates")
        for candidate in candidates if isinstance(candidates, list) else []:
            if isinstance(candidate, dict) and isinstance(candidate.get("finishReason"), str):
                # Gemini has no end-of-stream event: a finish reason is its last word.
                self.finish_reason = candidate["finishReason"]
                self.finished = True

    def web_searches(self) -> int:
        """The provider's own web searches the answer made (Anthropic), from its usage."""
        return web_searches(self.protocol, self._usage)

    def total(self) -> TokenUsage | None:
        if not self._usage:
            return None
        if self.protocol == "anthropic":
            return anthropic_usage(self._usage)
        if self.protocol == "gemini":
            from tokenomy.gateway.translate.gemini import gemini_usage

            return gemini_usage(self._usage)
        return openai_usage(self._usage)
