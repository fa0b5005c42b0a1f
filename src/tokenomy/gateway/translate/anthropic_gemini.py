"""Anthropic Messages clients served by a Gemini deployment, composed through the OpenAI
shape: Anthropic -> OpenAI -> Gemini for requests, Gemini -> OpenAI -> Anthropic for answers
and streams. Each half is tested on its own, and OpenAI's shape holds everything both ends
share; the one thing it drops that Gemini has, ``top_k``, is carried across here.
"""

from __future__ import annotations

from typing import Any

from tokenomy.gateway.sse import EventReader
from tokenomy.gateway.translate.anthropic_openai import (
    OpenAIToAnthropicStream,
    anthropic_response,
    openai_request,
)
from tokenomy.gateway.translate.base import StreamTranslator, client_error_body
from tokenomy.gateway.translate.gemini import (
    GeminiToOpenAIStream,
    gemini_request,
    openai_response,
)
from tokenomy.record import TokenUsage


class AnthropicToGemini:
    def request(self, body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
        out = gemini_request(openai_request(body, model, stream=stream))
        if isinstance(body.get("top_k"), int):
            out.setdefault("generationConfig", {})["topK"] = body["top_k"]
        return out

    def response(self, body: dict[str, Any], alias: str) -> dict[str, Any]:
        return anthropic_response(openai_response(body, alias), alias)

    def stream(self, alias: str, *, include_usage: bool) -> StreamTranslator:
        # The middle stream must carry usage: Anthropic's message_delta needs it.
        return ChainedStream(
            GeminiToOpenAIStream(alias, include_usage=True), OpenAIToAnthropicStream(alias)
        )

    def error(self, status: int, body: bytes) -> bytes:
        return client_error_body("anthropic", status, "gemini", body)


class ChainedStream(StreamTranslator):
    """The events ``first`` makes are fed to ``second``. Provider-side facts (usage, finish
    reason, model, end of stream) are ``first``'s: it is the one reading the provider."""

    def __init__(self, first: StreamTranslator, second: StreamTranslator) -> None:
        super().__init__()
        self._first = first
        self._second = second
        self._reader = EventReader()

    def feed(self, event: str, data: bytes) -> list[bytes]:
        return self._relay(self._first.feed(event, data))

    def finish(self) -> list[bytes]:
        return self._relay(self._first.finish()) + self._second.finish()

    def token_usage(self) -> TokenUsage | None:
        return self._first.token_usage()

    def _relay(self, framed: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for event in self._reader.feed(b"".join(framed)):
            out += self._second.feed("" if event.name == "message" else event.name, event.data)
        first = self._first
        self.usage, self.finish_reason, self.model = first.usage, first.finish_reason, first.model
        self.finished = first.finished
        self.error = first.error or self._second.error
        return out
