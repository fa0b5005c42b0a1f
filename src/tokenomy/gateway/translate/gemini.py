"""OpenAI chat-completions clients served by a Google Gemini deployment (AI Studio's
``generateContent`` / ``streamGenerateContent?alt=sse``; the gateway puts the model in the
URL, so the body built here has none).

Kept: system and developer messages (``systemInstruction``), images and files (inline data
URLs -> ``inlineData``, other URLs -> ``fileData``), input audio, tools and tool calls,
``tool_choice``, ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, the two
penalties, and ``response_format`` (JSON mode and JSON schema). Dropped as hints without an
equivalent: ``logit_bias``, ``logprobs``, ``parallel_tool_calls``, ``reasoning_effort``,
``user``, ``service_tier``, ``store``, ``metadata``. Refused: as for Anthropic (``n`` > 1,
``functions``, audio output).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

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
from tokenomy.gateway.translate.gemini_schema import gemini_schema, has_properties
from tokenomy.gateway.translate.media import guess_media_type, parse_data_url
from tokenomy.gateway.translate.openai_anthropic import refuse_unsupported
from tokenomy.record import TokenUsage

FINISH_REASONS = {  # Gemini finishReason -> OpenAI finish_reason (anything else: "stop")
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}


class OpenAIToGemini:
    def request(self, body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
        return gemini_request(body)

    def response(self, body: dict[str, Any], alias: str) -> dict[str, Any]:
        return openai_response(body, alias)

    def stream(self, alias: str, *, include_usage: bool) -> StreamTranslator:
        return GeminiToOpenAIStream(alias, include_usage=include_usage)

    def error(self, status: int, body: bytes) -> bytes:
        return client_error_body("openai", status, "gemini", body)


def gemini_usage(raw: Mapping[str, Any]) -> TokenUsage:
    """Gemini's ``usageMetadata`` in disjoint categories. ``promptTokenCount`` includes the
    cached tokens; ``candidatesTokenCount`` excludes the thinking tokens, which are billed as
    output; ``toolUsePromptTokenCount`` (results of Google's own tools fed back to the
    model) is billed as input."""
    prompt = count(raw, "promptTokenCount")
    cached = min(count(raw, "cachedContentTokenCount"), prompt)
    thoughts = count(raw, "thoughtsTokenCount")
    return TokenUsage(
        input_tokens=prompt - cached + count(raw, "toolUsePromptTokenCount"),
        cache_read_tokens=cached,
        output_tokens=count(raw, "candidatesTokenCount") + thoughts,
        reasoning_tokens=thoughts,
    )


# -- request ------------------------------------------------------------------------------


def gemini_request(body: Mapping[str, Any]) -> dict[str, Any]:
    refuse_unsupported(body, "Gemini")
    system, contents = _contents(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    declarations = _declarations(body.get("tools"))
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
        config = _tool_config(body.get("tool_choice"))
        if config is not None:
            out["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


def _generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int):
        config["maxOutputTokens"] = limit
    renamed = {
        "temperature": "temperature",  # same 0-2 scale as OpenAI's
        "top_p": "topP",
        "seed": "seed",
        "presence_penalty": "presencePenalty",
        "frequency_penalty": "frequencyPenalty",
    }
    for theirs, ours in renamed.items():
        if body.get(theirs) is not None:
            config[ours] = body[theirs]
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    fmt = as_dict(body.get("response_format"))
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if fmt.get("type") == "json_schema":
        schema = as_dict(fmt.get("json_schema")).get("schema")
        if schema:
            config["responseSchema"] = gemini_schema(schema, "response_format.json_schema")
    return config


def _contents(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (systemInstruction parts, contents).

    Gemini matches a function response to its call by name, not id: the names of the calls
    made so far are kept by id, so each tool message can name its function. Consecutive
    turns of one role are merged, so all the responses to one model turn's calls arrive
    together, as Gemini requires.
    """
    if not isinstance(raw, list) or not raw:
        raise TranslationError("messages: a non-empty list of messages is required")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranslationError(f"{where}: a message must be an object")
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.extend(_parts(content, where, text_only=True))
        elif role == "user":
            _append(contents, "user", _parts(content, where, text_only=False))
        elif role == "assistant":
            _append(contents, "model", _model_parts(message, where, names))
        elif role == "tool":
            _append(contents, "user", [_function_response(message, where, names)])
        elif role == "function":
            raise TranslationError(f"{where}: role 'function' is deprecated: use tool messages")
        else:
            raise TranslationError(f"{where}.role: unknown role {role!r}")
    if not contents:
        raise TranslationError("messages: Gemini needs at least one user or assistant message")
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _parts(content: Any, where: str, *, text_only: bool) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content: a string or a list of parts is required")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        part = as_dict(part)
        kind = part.get("type")
        if kind in ("text", "refusal"):
            text = part.get("text", part.get("refusal"))
            if isinstance(text, str) and text:
                parts.append({"text": text})
        elif text_only:
            raise TranslationError(f"{here}: only text parts are allowed here")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image if isinstance(image, str) else as_dict(image).get("url")
            if not isinstance(url, str) or not url:
                raise TranslationError(f"{here}.image_url.url: required")
            parts.append(_media_part(url, here))
        elif kind == "input_audio":
            audio = as_dict(part.get("input_audio"))
            mime = _AUDIO_TYPES.get(str(audio.get("format")), f"audio/{audio.get('format')}")
            inline = {"mimeType": mime, "data": str(audio.get("data", ""))}
            parts.append({"inlineData": inline})
        elif kind == "file":
            file = as_dict(part.get("file"))
            if not isinstance(file.get("file_data"), str):
                raise TranslationError(f"{here}.file: only inline file_data can be translated")
            parts.append(_media_part(file["file_data"], here))
        else:
            raise TranslationError(f"{here}: {kind!r} parts have no Gemini equivalent")
    return parts


def _media_part(url: str, where: str) -> dict[str, Any]:
    inline = parse_data_url(url, where)
    if inline is not None:
        return {"inlineData": {"mimeType": inline.media_type, "data": inline.data}}
    file: dict[str, Any] = {"fileUri": url}
    mime = guess_media_type(url)
    if mime is not None:
        file["mimeType"] = mime
    return {"fileData": file}


def _model_parts(
    message: Mapping[str, Any], where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    parts = _parts(message.get("content"), where, text_only=True)
    for j, call in enumerate(as_list(message.get("tool_calls"))):
        function = as_dict(as_dict(call).get("function"))
        name, ident = function.get("name"), call.get("id")
        if not isinstance(name, str) or not isinstance(ident, str):
            raise TranslationError(f"{where}.tool_calls[{j}]: id and function.name are required")
        names[ident] = name
        args = parse_arguments(function.get("arguments"))
        parts.append({"functionCall": {"name": name, "args": args}})
    return parts


def _function_response(
    message: Mapping[str, Any], where: str, names: Mapping[str, str]
) -> dict[str, Any]:
    ident = message.get("tool_call_id")
    name = names.get(ident) if isinstance(ident, str) else None
    if name is None:
        raise TranslationError(
            f"{where}.tool_call_id: {ident!r} is not the id of a tool call in an earlier "
            "assistant message (Gemini needs the function's name)"
        )
    content = message.get("content")
    text = (
        content
        if isinstance(content, str)
        else "".join(p.get("text", "") for p in _parts(content, where, text_only=True))
    )
    # Gemini wants an object: a JSON object result is passed as one, anything else wrapped.
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _declarations(raw: Any) -> list[dict[str, Any]]:
    declarations = []
    for i, tool in enumerate(as_list(raw)):
        tool = as_dict(tool)
        function = as_dict(tool.get("function"))
        if tool.get("type") != "function" or not isinstance(function.get("name"), str):
            raise TranslationError(
                f"tools[{i}]: only function tools (with function.name) can be translated"
            )
        declaration: dict[str, Any] = {"name": function["name"]}
        if isinstance(function.get("description"), str):
            declaration["description"] = function["description"]
        parameters = gemini_schema(function.get("parameters"), f"tools[{i}].function.parameters")
        # Gemini rejects an object schema with no properties ("should be non-empty for
        # OBJECT type"): a function without arguments has no parameters at all.
        if has_properties(parameters):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return declarations


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in _TOOL_MODES:
            raise TranslationError(f"tool_choice: unknown value {choice!r}")
        return {"mode": _TOOL_MODES[choice]}
    name = as_dict(as_dict(choice).get("function")).get("name")
    if not isinstance(name, str):
        raise TranslationError("tool_choice: {'type': 'function', 'function': {'name'}} expected")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


# -- response -----------------------------------------------------------------------------


def openai_usage_from_gemini(raw: Any) -> dict[str, Any]:
    usage = gemini_usage(as_dict(raw))
    prompt = usage.input_tokens + usage.cache_read_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def call_id(response_id: Any, index: int) -> str:
    """Gemini's function calls have no ids: one made from the response's id (unique per
    response) and the call's position, so it stays the same however the answer is read."""
    return f"call_{response_id}_{index}" if isinstance(response_id, str) else f"call_{index}"


def finish_reason(gemini_reason: str | None, called_tools: bool) -> str:
    # Gemini says STOP after function calls too; OpenAI clients look for "tool_calls".
    if called_tools and gemini_reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(gemini_reason or "", "stop")


def _candidate(body: Mapping[str, Any]) -> dict[str, Any]:
    candidates = as_list(body.get("candidates"))
    return as_dict(candidates[0]) if candidates else {}


def _visible(parts: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The answer's text and its function calls; thought summaries (``thought: true``) are
    left out, as OpenAI's protocol has no place for them."""
    texts, calls = [], []
    for part in parts:
        part = as_dict(part)
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            calls.append(part["functionCall"])
    return "".join(texts), calls


def _tool_call(call: Mapping[str, Any], ident: str) -> dict[str, Any]:
    function = {"name": call.get("name"), "arguments": dumps_text(call.get("args") or {})}
    return {"id": ident, "type": "function", "function": function}


def openai_response(body: Mapping[str, Any], alias: str) -> dict[str, Any]:
    candidate = _candidate(body)
    text, calls = _visible(as_list(as_dict(candidate.get("content")).get("parts")))
    response_id = body.get("responseId")
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = [
            _tool_call(c, call_id(response_id, i)) for i, c in enumerate(calls)
        ]
    reason = candidate.get("finishReason")
    if not candidate and as_dict(body.get("promptFeedback")).get("blockReason"):
        reason = "SAFETY"  # the prompt itself was blocked: no candidate at all
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(reason if isinstance(reason, str) else None, bool(calls)),
    }
    return {
        "id": f"chatcmpl-{response_id}" if isinstance(response_id, str) else "chatcmpl-gemini",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [choice],
        "usage": openai_usage_from_gemini(body.get("usageMetadata")),
    }


# -- stream -------------------------------------------------------------------------------


class GeminiToOpenAIStream(StreamTranslator):
    """Gemini chunks (each a whole GenerateContentResponse holding the new parts) -> OpenAI
    chunks. Gemini has no end-of-stream event and may send usageMetadata after the chunk with
    the finishReason, so the usage chunk and ``[DONE]`` come from :meth:`finish`."""

    def __init__(self, alias: str, *, include_usage: bool) -> None:
        super().__init__()
        self._alias = alias
        self._include_usage = include_usage
        self._id = "chatcmpl-gemini"
        self._response_id: str | None = None
        self._created = int(time.time())
        self._started = False
        self._finish_sent = False
        self._closed = False
        self._calls = 0

    def token_usage(self) -> TokenUsage | None:
        return gemini_usage(self.usage) if self.usage else None

    def feed(self, event: str, data: bytes) -> list[bytes]:
        chunk = loads_object(data)
        if self._closed or chunk is None:
            return []
        if isinstance(chunk.get("error"), dict):
            message, code = stream_error_of("gemini", chunk)
            self.error, self._closed = message, True
            return [client_stream_error("openai", message, code)]
        if isinstance(chunk.get("responseId"), str) and self._response_id is None:
            self._response_id = chunk["responseId"]
            self._id = f"chatcmpl-{self._response_id}"
        if isinstance(chunk.get("modelVersion"), str):
            self.model = chunk["modelVersion"]
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = chunk["usageMetadata"]  # each one is cumulative: the last wins
        out = self._start()
        candidate = _candidate(chunk)
        text, calls = _visible(as_list(as_dict(candidate.get("content")).get("parts")))
        if text:
            out.append(self._chunk({"content": text}))
        for call in calls:
            out += self._call(call)
        reason = candidate.get("finishReason")
        if not candidate and as_dict(chunk.get("promptFeedback")).get("blockReason"):
            reason = "SAFETY"
        if isinstance(reason, str) and not self._finish_sent:
            self.finish_reason, self.finished = reason, True
            self._finish_sent = True
            out.append(self._chunk({}, finish_reason(reason, self._calls > 0)))
        return out

    def finish(self) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        out = self._start()
        if not self._finish_sent:
            self._finish_sent = True
            out.append(self._chunk({}, finish_reason(self.finish_reason, self._calls > 0)))
        if self._include_usage:
            usage = openai_usage_from_gemini(self.usage)
            out.append(data_event({**self._envelope(), "choices": [], "usage": usage}))
        out.append(DONE)
        return out

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _call(self, call: Mapping[str, Any]) -> list[bytes]:
        """A Gemini call arrives whole; it goes out as OpenAI streams one: id and name
        first, then the arguments."""
        index = self._calls
        self._calls += 1
        call_delta = _tool_call(call, call_id(self._response_id, index))
        arguments = call_delta["function"]["arguments"]
        head = {
            **call_delta,
            "index": index,
            "function": {**call_delta["function"], "arguments": ""},
        }
        tail = {"index": index, "function": {"arguments": arguments}}
        return [self._chunk({"tool_calls": [head]}), self._chunk({"tool_calls": [tail]})]

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._alias,
        }

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        chunk: dict[str, Any] = {**self._envelope(), "choices": [choice]}
        if self._include_usage:
            chunk["usage"] = None
        return data_event(chunk)
