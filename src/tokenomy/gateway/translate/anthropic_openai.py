"""Anthropic Messages clients (Claude Code among them) served by an OpenAI-protocol
deployment.

Dropped, because OpenAI's protocol has no place for them and they do not change the
answer's shape: ``cache_control`` (OpenAI caches prompts by itself), ``top_k``, ``metadata``
(its user_id can be longer than OpenAI's ``user`` allows), ``thinking`` (it would need
``reasoning_effort``, which non-reasoning models reject), ``service_tier``, and thinking
blocks in earlier assistant turns (their signatures mean nothing to another provider).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenomy.gateway.providers import openai_usage
from tokenomy.gateway.translate.base import (
    StreamTranslator,
    TranslationError,
    as_dict,
    as_list,
    client_error_body,
    client_stream_error,
    dumps_text,
    loads_object,
    named_event,
    parse_arguments,
    stream_error_of,
)
from tokenomy.gateway.translate.media import data_url
from tokenomy.record import TokenUsage

STOP_REASONS = {  # OpenAI finish_reason -> Anthropic stop_reason
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}

_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_IGNORED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


class AnthropicToOpenAI:
    def request(self, body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
        return openai_request(body, model, stream=stream)

    def response(self, body: dict[str, Any], alias: str) -> dict[str, Any]:
        return anthropic_response(body, alias)

    def stream(self, alias: str, *, include_usage: bool) -> StreamTranslator:
        return OpenAIToAnthropicStream(alias)

    def error(self, status: int, body: bytes) -> bytes:
        return client_error_body("anthropic", status, "openai", body)


# -- request ------------------------------------------------------------------------------


def openai_request(body: Mapping[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    messages = _system(body.get("system"))
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise TranslationError("messages: a non-empty list of messages is required")
    for i, message in enumerate(raw):
        messages.extend(_message(message, f"messages[{i}]"))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if isinstance(body.get("max_tokens"), int):
        # max_completion_tokens, not the older max_tokens that OpenAI's reasoning models
        # reject; OpenAI-compatible servers that predate it ignore it.
        out["max_completion_tokens"] = body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = as_list(body.get("stop_sequences"))
    if stops:
        out["stop"] = stops
    if stream:
        # Without include_usage an OpenAI stream carries no usage at all, and the Anthropic
        # client needs it for message_delta (and the gateway to record the call).
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = as_dict(body.get("tool_choice"))
        kind = choice.get("type")
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in _TOOL_CHOICES:
            out["tool_choice"] = _TOOL_CHOICES[kind]
        elif kind is not None:
            raise TranslationError(f"tool_choice.type: unknown value {kind!r}")
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    texts = [b["text"] for b in as_list(system) if isinstance(as_dict(b).get("text"), str)]
    # One string rather than a list of parts: many OpenAI-compatible servers accept only
    # strings as system content.
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    message = as_dict(message)
    role, content = message.get("role"), message.get("content")
    if role not in ("user", "assistant"):
        raise TranslationError(f"{where}.role: 'user' or 'assistant' expected, not {role!r}")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content: a string or a list of blocks is required")
    if role == "assistant":
        return [_assistant(content, where)]
    return _user(content, where)


def _assistant(blocks: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        block = as_dict(block)
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = dumps_text(block.get("input") or {})
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        elif kind not in _IGNORED_BLOCKS:
            raise TranslationError(f"{where}.content[{j}]: {kind!r} blocks cannot be translated")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results become tool messages, which must come straight after the assistant
    message that called the tools; whatever else the user message holds follows them."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        here = f"{where}.content[{j}]"
        block = as_dict(block)
        if block.get("type") == "tool_result":
            text, images = _tool_result_content(block.get("content"), here)
            if block.get("is_error") is True and not text.startswith("Error"):
                text = "Error: " + text  # OpenAI has no is_error: keep the fact in the text
            results.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}
            )
            parts.extend(images)  # tool messages take text only: images follow as user parts
        else:
            parts.append(_part(block, here))
    out = results
    if parts:
        plain = len(parts) == 1 and parts[0]["type"] == "text"
        out.append({"role": "user", "content": parts[0]["text"] if plain else parts})
    return out


def _part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _source_url(block, where)}}
    if kind == "document":
        source = as_dict(block.get("source"))
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data", ""))}
        if source.get("type") == "base64":
            file_data = data_url(str(source.get("media_type")), str(source.get("data")))
            title = block.get("title") if isinstance(block.get("title"), str) else "document"
            return {"type": "file", "file": {"filename": f"{title}.pdf", "file_data": file_data}}
        raise TranslationError(
            f"{where}.source: only base64 and text documents can be sent to an OpenAI deployment"
        )
    raise TranslationError(f"{where}: {kind!r} blocks cannot be sent to an OpenAI deployment")


def _source_url(block: Mapping[str, Any], where: str) -> str:
    source = as_dict(block.get("source"))
    if source.get("type") == "base64":
        return data_url(str(source.get("media_type")), str(source.get("data")))
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise TranslationError(f"{where}.source: only base64 and url images can be translated")


def _tool_result_content(content: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(content, str) or content is None:
        return content or "", []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for j, block in enumerate(as_list(content)):
        part = _part(as_dict(block), f"{where}.content[{j}]")
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            images.append(part)
    return "\n\n".join(texts), images


def _tools(raw: Any) -> list[dict[str, Any]]:
    tools = []
    for i, tool in enumerate(as_list(raw)):
        tool = as_dict(tool)
        if tool.get("type") not in (None, "custom") or not isinstance(tool.get("name"), str):
            # Anthropic's server tools (web search, code execution...) run on Anthropic's
            # side; an OpenAI deployment cannot run them.
            raise TranslationError(
                f"tools[{i}]: Anthropic server tool {tool.get('type')!r} cannot run on an "
                "OpenAI deployment"
            )
        function: dict[str, Any] = {
            "name": tool["name"],
            "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
        }
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


# -- response -----------------------------------------------------------------------------


def anthropic_usage_from_openai(raw: Any) -> dict[str, Any]:
    """Anthropic counts input, cache reads and cache writes apart; OpenAI's prompt_tokens
    hold all three."""
    usage = openai_usage(as_dict(raw))
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    }


def _stop_reason(finish_reason: Any, called_tools: bool, *, refused: bool = False) -> str:
    if refused:
        return "refusal"
    # Some OpenAI-compatible servers say "stop" after tool calls: the calls are what counts.
    if called_tools and finish_reason in (None, "stop"):
        return "tool_use"
    return (
        STOP_REASONS.get(finish_reason, "end_turn")
        if isinstance(finish_reason, str)
        else "end_turn"
    )


def anthropic_response(body: Mapping[str, Any], alias: str) -> dict[str, Any]:
    choices = as_list(body.get("choices"))
    choice = as_dict(choices[0]) if choices else {}
    message = as_dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    text = message.get("content")
    if isinstance(text, list):  # some compatible servers answer with parts
        text = "".join(str(as_dict(p).get("text", "")) for p in text)
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    # A refusal has no content, only its text here: it goes to the client as a text block
    # and Anthropic's own "refusal" stop reason, not as an empty answer.
    refusal = message.get("refusal")
    refused = isinstance(refusal, str) and bool(refusal)
    if refused:
        content.append({"type": "text", "text": refusal})
    calls = as_list(message.get("tool_calls"))
    for i, call in enumerate(calls):
        function = as_dict(as_dict(call).get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"call_{i}",
                "name": function.get("name"),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return {
        "id": body.get("id") if isinstance(body.get("id"), str) else "msg_translated",
        "type": "message",
        "role": "assistant",
        "model": alias,
        "content": content,
        "stop_reason": _stop_reason(choice.get("finish_reason"), bool(calls), refused=refused),
        "stop_sequence": None,
        "usage": anthropic_usage_from_openai(body.get("usage")),
    }


# -- stream -------------------------------------------------------------------------------


class OpenAIToAnthropicStream(StreamTranslator):
    """OpenAI chunks -> Anthropic events. OpenAI sends usage in a chunk after the finish
    chunk, and Anthropic wants it in message_delta, so message_delta and message_stop wait
    for ``[DONE]`` (or the end of the stream)."""

    def __init__(self, alias: str) -> None:
        super().__init__()
        self._alias = alias
        self._id = "msg_translated"
        self._started = False
        self._closed = False
        self._open: int | None = None  # index of the content block being streamed
        self._open_is_text = False
        self._blocks = 0
        self._tools: dict[int, int] = {}  # OpenAI tool_calls index -> Anthropic block index
        self._refused = False

    def token_usage(self) -> TokenUsage | None:
        return openai_usage(self.usage) if self.usage else None

    def feed(self, event: str, data: bytes) -> list[bytes]:
        if self._closed:
            return []
        if data.strip() == b"[DONE]":
            self.finished = True
            return self._close()
        chunk = loads_object(data)
        if chunk is None:
            return []
        if isinstance(chunk.get("error"), dict):
            message, code = stream_error_of("openai", chunk)
            self.error, self._closed = message, True
            return [client_stream_error("anthropic", message, code)]
        if isinstance(chunk.get("id"), str) and not self._started:
            self._id = chunk["id"]
        if isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        out = self._start()
        for choice in as_list(chunk.get("choices")):
            choice = as_dict(choice)
            if choice.get("index", 0) != 0:
                continue
            out += self._delta(as_dict(choice.get("delta")))
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]
                out += self._close_block()
        return out

    def finish(self) -> list[bytes]:
        return [] if self._closed else self._start() + self._close()

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._alias,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # OpenAI reports usage only at the end: the real counts come in message_delta.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [named_event("message_start", {"type": "message_start", "message": message})]

    def _delta(self, delta: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refused = True  # streamed as text, ended with stop_reason "refusal"
        for text in (delta.get("content"), refusal):
            if isinstance(text, str) and text:
                if self._open is None or not self._open_is_text:
                    out += self._open_block({"type": "text", "text": ""}, is_text=True)
                out.append(self._block_delta(self._open, {"type": "text_delta", "text": text}))
        for call in as_list(delta.get("tool_calls")):
            call = as_dict(call)
            index: int = call["index"] if isinstance(call.get("index"), int) else 0
            function = as_dict(call.get("function"))
            if index not in self._tools:
                block: dict[str, Any] = {
                    "type": "tool_use",
                    "id": call.get("id") or f"call_{index}",
                    "name": function.get("name") or "",
                    "input": {},
                }
                out += self._open_block(block, is_text=False)
                self._tools[index] = self._blocks - 1
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                json_delta = {"type": "input_json_delta", "partial_json": arguments}
                out.append(self._block_delta(self._tools[index], json_delta))
        return out

    def _open_block(self, block: dict[str, Any], *, is_text: bool) -> list[bytes]:
        out = self._close_block()
        self._open, self._open_is_text = self._blocks, is_text
        self._blocks += 1
        start = {"type": "content_block_start", "index": self._open, "content_block": block}
        return [*out, named_event("content_block_start", start)]

    def _block_delta(self, index: int | None, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        return named_event("content_block_delta", event)

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [named_event("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _close(self) -> list[bytes]:
        self._closed = True
        out = self._close_block()
        delta = {
            "stop_reason": _stop_reason(
                self.finish_reason, bool(self._tools), refused=self._refused
            ),
            "stop_sequence": None,
        }
        usage = anthropic_usage_from_openai(self.usage)
        out.append(
            named_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(named_event("message_stop", {"type": "message_stop"}))
        return out
