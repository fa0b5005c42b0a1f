"""OpenAI chat-completions clients served by an Anthropic (Messages API) deployment.

Dropped without a word, because they are hints with no Anthropic equivalent and refusing
them would break ordinary clients: ``seed``, ``frequency_penalty``, ``presence_penalty``,
``logit_bias``, ``logprobs``, ``top_logprobs``, ``service_tier``, ``store``, ``metadata``,
``prediction``, ``reasoning_effort``, ``verbosity``, ``web_search_options``. Refused with a
400, because the client would get an answer of another shape than it asked for: ``n`` > 1,
``functions`` / ``function_call`` (use tools), a JSON ``response_format``, audio output.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tokenomy.gateway.providers import anthropic_usage
from tokenomy.gateway.translate.base import (
    DONE,
    StreamTranslator,
    TranslationError,
    as_dict,
    as_list,
    client_error_body,
    client_stream_error,
    count,
    data_event,
    dumps_text,
    loads_object,
    parse_arguments,
    stream_error_of,
)
from tokenomy.gateway.translate.media import parse_data_url
from tokenomy.record import TokenUsage

# Anthropic requires max_tokens and OpenAI clients usually leave it out (meaning "as much
# as the model allows"). 4096 is enough for a chat answer and within every Claude model's
# limit; a client that wants more says so with max_tokens / max_completion_tokens.
DEFAULT_MAX_TOKENS = 4096

FINISH_REASONS = {  # Anthropic stop_reason -> OpenAI finish_reason
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_TOOL_CHOICES = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}


class OpenAIToAnthropic:
    def request(self, body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
        return anthropic_request(body, model, stream=stream)

    def response(self, body: dict[str, Any], alias: str) -> dict[str, Any]:
        return openai_response(body, alias)

    def stream(self, alias: str, *, include_usage: bool) -> StreamTranslator:
        return AnthropicToOpenAIStream(alias, include_usage=include_usage)

    def error(self, status: int, body: bytes) -> bytes:
        return client_error_body("openai", status, "anthropic", body)


# -- request ------------------------------------------------------------------------------


def refuse_unsupported(body: Mapping[str, Any], provider: str) -> None:
    """The OpenAI options that would change the answer's shape and that ``provider`` lacks."""
    n = body.get("n")
    if n is not None and n != 1:
        raise TranslationError(
            f"n={n}: a {provider} deployment gives one choice per request; send n=1 or leave "
            "it out, and make several requests for several choices"
        )
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise TranslationError(
            "functions / function_call are OpenAI's deprecated form of tools: send tools and "
            f"tool_choice instead to use a {provider} deployment"
        )
    if "audio" in as_list(body.get("modalities")) or body.get("audio") is not None:
        raise TranslationError(f"audio output is not available from a {provider} deployment")


def anthropic_request(body: Mapping[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    refuse_unsupported(body, "Anthropic")
    fmt = as_dict(body.get("response_format")).get("type")
    if fmt not in (None, "text"):
        raise TranslationError(
            f"response_format {fmt!r} is not supported with an Anthropic deployment: "
            "describe the JSON you want in the prompt, or use a tool"
        )
    system, messages = _messages(body.get("messages"))
    out: dict[str, Any] = {"model": model, "messages": messages}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    out["max_tokens"] = limit if isinstance(limit, int) else DEFAULT_MAX_TOKENS
    if system:
        # A single plain system text stays a string, as most Anthropic clients send it.
        plain = len(system) == 1 and "cache_control" not in system[0]
        out["system"] = system[0]["text"] if plain else system
    temperature = body.get("temperature")
    if isinstance(temperature, int | float):
        # OpenAI's scale is 0-2, Anthropic's 0-1: above 1 there is no equivalent, and the
        # most random Anthropic allows is the closest.
        out["temperature"] = min(temperature, 1)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = stop
    if stream:
        out["stream"] = True
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"))
        if body.get("parallel_tool_calls") is False:
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        if choice is not None:
            out["tool_choice"] = choice
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    return out


def _messages(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic system blocks, Anthropic messages).

    Anthropic has one system prompt, at the top: system and developer messages anywhere in
    the conversation are gathered into it, in order. Each OpenAI tool message becomes a
    tool_result block, and consecutive messages of one role are merged, because Anthropic
    wants all the results of one assistant turn in the single user message after it.
    """
    if not isinstance(raw, list) or not raw:
        raise TranslationError("messages: a non-empty list of messages is required")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where}: a message must be an object")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_text_blocks(content, where))
        elif role == "user":
            _append(turns, "user", _user_blocks(content, where))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message, where))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message, where)])
        elif role == "function":
            raise TranslationError(f"{where}: role 'function' is deprecated: use tool messages")
        else:
            raise TranslationError(f"{where}.role: unknown role {role!r}")
    return system, turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return  # Anthropic rejects empty messages and empty text blocks
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _text_block(part: Mapping[str, Any], text: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    # Not OpenAI's, but clients written for Anthropic-backed proxies send it on parts: kept,
    # since prompt caching is the biggest saving Anthropic offers.
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content: a string or a list of parts is required")
    blocks = []
    for j, part in enumerate(content):
        kind = as_dict(part).get("type")
        if kind not in ("text", "refusal"):
            raise TranslationError(f"{where}.content[{j}]: only text parts are allowed here")
        text = part.get("text", part.get("refusal"))
        if isinstance(text, str) and text:
            blocks.append(_text_block(part, text))
    return blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(content, where)
    blocks = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        part = as_dict(part)
        kind = part.get("type")
        if kind == "text":
            blocks.extend(_text_blocks([part], where))
        elif kind == "image_url":
            blocks.append(_image_block(part, here))
        elif kind == "file":
            blocks.append(_document_block(as_dict(part.get("file")), here))
        else:
            raise TranslationError(f"{here}: {kind!r} parts have no Anthropic equivalent")
    return blocks


def _image_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image if isinstance(image, str) else as_dict(image).get("url")
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{where}.image_url.url: required")
    inline = parse_data_url(url, where)
    source: dict[str, Any]
    if inline is None:
        source = {"type": "url", "url": url}
    else:
        source = {"type": "base64", "media_type": inline.media_type, "data": inline.data}
    block: dict[str, Any] = {"type": "image", "source": source}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _document_block(file: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = file.get("file_data")
    inline = parse_data_url(data, where) if isinstance(data, str) else None
    if inline is None or inline.media_type != "application/pdf":
        raise TranslationError(
            f"{where}: only PDF files given inline as file_data (a base64 data: URL) can be "
            "sent to an Anthropic deployment"
        )
    source = {"type": "base64", "media_type": inline.media_type, "data": inline.data}
    return {"type": "document", "source": source}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = _text_blocks(message.get("content"), where)
    for j, call in enumerate(as_list(message.get("tool_calls"))):
        function = as_dict(as_dict(call).get("function"))
        name, ident = function.get("name"), call.get("id")
        if not isinstance(name, str) or not isinstance(ident, str):
            raise TranslationError(f"{where}.tool_calls[{j}]: id and function.name are required")
        arguments = parse_arguments(function.get("arguments"))
        blocks.append({"type": "tool_use", "id": ident, "name": name, "input": arguments})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    ident = message.get("tool_call_id")
    if not isinstance(ident, str) or not ident:
        raise TranslationError(f"{where}.tool_call_id: required")
    content = message.get("content")
    result: Any = content if isinstance(content, str) else _text_blocks(content, where)
    return {"type": "tool_result", "tool_use_id": ident, "content": result}


def _tools(raw: Any) -> list[dict[str, Any]]:
    tools = []
    for i, tool in enumerate(as_list(raw)):
        tool = as_dict(tool)
        function = as_dict(tool.get("function"))
        if tool.get("type") != "function" or not isinstance(function.get("name"), str):
            raise TranslationError(
                f"tools[{i}]: only function tools (with function.name) can be translated"
            )
        parameters = function.get("parameters")
        converted: dict[str, Any] = {
            "name": function["name"],
            # Anthropic requires a schema; OpenAI allows leaving it out for no arguments.
            "input_schema": parameters or {"type": "object", "properties": {}},
        }
        if isinstance(function.get("description"), str):
            converted["description"] = function["description"]
        tools.append(converted)
    return tools


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise TranslationError(f"tool_choice: unknown value {choice!r}")
        return dict(_TOOL_CHOICES[choice])
    name = as_dict(as_dict(choice).get("function")).get("name")
    if not isinstance(name, str):
        raise TranslationError("tool_choice: {'type': 'function', 'function': {'name'}} expected")
    return {"type": "tool", "name": name}


# -- response -----------------------------------------------------------------------------


def openai_usage_from_anthropic(raw: Any) -> dict[str, Any]:
    """OpenAI's prompt_tokens include cache reads and writes, which Anthropic counts apart."""
    u = as_dict(raw)
    read, write = count(u, "cache_read_input_tokens"), count(u, "cache_creation_input_tokens")
    prompt = count(u, "input_tokens") + read + write
    output = count(u, "output_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read, "cache_write_tokens": write},
    }


def openai_response(body: Mapping[str, Any], alias: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in as_list(body.get("content")):
        block = as_dict(block)
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            arguments = dumps_text(block.get("input") or {})
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        # thinking blocks: OpenAI's protocol has no place for them (and they are only
        # produced when the request enables thinking, which a translated one never does).
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    reason = body.get("stop_reason")
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop",
    }
    return {
        "id": body.get("id") if isinstance(body.get("id"), str) else "chatcmpl-translated",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [choice],
        "usage": openai_usage_from_anthropic(body.get("usage")),
    }


# -- stream -------------------------------------------------------------------------------


class AnthropicToOpenAIStream(StreamTranslator):
    """Anthropic events -> OpenAI chunks: a role chunk first, then content and tool-call
    deltas, the finish chunk at message_delta, and at message_stop the usage chunk (when the
    client asked for it) and ``[DONE]``."""

    def __init__(self, alias: str, *, include_usage: bool) -> None:
        super().__init__()
        self._alias = alias
        self._include_usage = include_usage
        self._id = "chatcmpl-translated"
        self._created = int(time.time())
        self._started = False
        self._finish_sent = False
        self._closed = False
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index

    def token_usage(self) -> TokenUsage | None:
        return anthropic_usage(self.usage) if self.usage else None

    def feed(self, event: str, data: bytes) -> list[bytes]:
        payload = loads_object(data)
        if self._closed or payload is None:
            return []
        kind = payload.get("type") or event
        if kind == "error":
            message, code = stream_error_of("anthropic", payload)
            self.error, self._closed = message, True
            return [client_stream_error("openai", message, code)]
        if kind == "message_start":
            started = as_dict(payload.get("message"))
            if isinstance(started.get("id"), str):
                self._id = started["id"]
            self._see(started)
            return self._start()
        out = self._start()  # the role chunk, in case message_start never came
        if kind == "content_block_start":
            out += self._block_start(payload)
        elif kind == "content_block_delta":
            out += self._block_delta(payload)
        elif kind == "message_delta":
            self._see(payload)
            reason = as_dict(payload.get("delta")).get("stop_reason")
            if isinstance(reason, str):
                self.finish_reason = reason
            out.append(self._finish_chunk())
        elif kind == "message_stop":
            self.finished = True
            out += self._close()
        return out

    def finish(self) -> list[bytes]:
        return [] if self._closed else self._start() + self._close()

    def _see(self, part: Mapping[str, Any]) -> None:
        if isinstance(part.get("model"), str):
            self.model = part["model"]
        usage = part.get("usage")
        if isinstance(usage, dict):
            # message_delta's counts are cumulative: they replace message_start's.
            merged = dict(self.usage or {})
            merged.update({k: v for k, v in usage.items() if v is not None})
            self.usage = merged

    def _start(self) -> list[bytes]:
        """The role chunk that opens every OpenAI stream, once."""
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _block_start(self, payload: Mapping[str, Any]) -> list[bytes]:
        block = as_dict(payload.get("content_block"))
        if block.get("type") == "tool_use":
            index = len(self._tools)
            self._tools[_index(payload)] = index
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []  # thinking blocks: no place for them in OpenAI's protocol

    def _block_delta(self, payload: Mapping[str, Any]) -> list[bytes]:
        delta = as_dict(payload.get("delta"))
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            index = self._tools.get(_index(payload))
            if index is not None:
                call = {"index": index, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [call]})]
        return []

    def _finish_chunk(self) -> bytes:
        self._finish_sent = True
        reason = FINISH_REASONS.get(self.finish_reason or "", "stop")
        return self._chunk({}, reason)

    def _close(self) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        out = [] if self._finish_sent else [self._finish_chunk()]
        if self._include_usage:
            usage = openai_usage_from_anthropic(self.usage)
            out.append(data_event({**self._envelope(), "choices": [], "usage": usage}))
        out.append(DONE)
        return out

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._alias,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: dict[str, Any] = {**self._envelope(), "choices": [choice]}
        if self._include_usage:
            chunk["usage"] = None  # as OpenAI sends it: only the last chunk has usage
        return data_event(chunk)


def _index(payload: Mapping[str, Any]) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) else 0
