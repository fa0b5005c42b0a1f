"""The contract every protocol translation implements, and the small helpers they share
(SSE framing, lenient JSON reading, client-protocol error bodies)."""

from __future__ import annotations

import abc
import typing
from collections.abc import Mapping
from typing import Any, Literal

import orjson

from tokenomy.gateway.errors import error_body
from tokenomy.record import TokenUsage

Protocol = Literal["openai", "anthropic", "gemini"]
ClientProtocol = Literal["openai", "anthropic"]  # the gateway serves no Gemini-protocol clients

DONE = b"data: [DONE]\n\n"


class TranslationError(ValueError):
    """A request that cannot be expressed in the provider's protocol (message shown to the
    client as a 400)."""


class StreamTranslator(abc.ABC):
    """One provider stream turned into the client's, event by event.

    Attributes, all about the PROVIDER side (what the gateway records):

    * ``usage``: the provider's raw usage object seen so far (Anthropic: message_start's
      merged with message_delta's cumulative counts; OpenAI: the usage chunk; Gemini: the
      latest ``usageMetadata``), None until one arrives. :meth:`token_usage` gives it as
      :class:`TokenUsage`.
    * ``finish_reason``: in the provider's vocabulary (``end_turn``, ``tool_calls``,
      ``STOP``...), like the gateway records for a pass-through call.
    * ``model``: the model the provider says answered (``modelVersion`` for Gemini).
    * ``finished``: the provider's stream reached its normal end (Anthropic message_stop,
      OpenAI ``[DONE]``, Gemini a chunk with a finishReason). If the connection ends while
      this is False the stream was cut: send the client an error event, not :meth:`finish`.
    * ``error``: the message of an error the provider reported inside the stream (already
      relayed to the client as an error event), else None.
    """

    def __init__(self) -> None:
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.finished = False
        self.error: str | None = None

    @abc.abstractmethod
    def feed(self, event: str, data: bytes) -> list[bytes]:
        """One upstream SSE event (its ``event:`` name, "" if none, and its ``data:``
        payload) -> zero or more complete SSE events in the client's protocol, framed."""

    @abc.abstractmethod
    def finish(self) -> list[bytes]:
        """Called once when the upstream stream ended normally: the closing events the
        client protocol still needs (OpenAI ``data: [DONE]``, Anthropic message_stop)."""

    @abc.abstractmethod
    def token_usage(self) -> TokenUsage | None:
        """The provider-side usage seen so far, in disjoint categories."""


class Translator(typing.Protocol):
    """Everything needed to serve a client of one protocol from a provider of another."""

    def request(self, body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
        """Client body -> provider body, with the provider's model id. Raises
        :class:`TranslationError`."""
        ...

    def response(self, body: dict[str, Any], alias: str) -> dict[str, Any]:
        """Provider's non-stream response -> client's response (its ``model`` is the alias
        the client asked for)."""
        ...

    def stream(self, alias: str, *, include_usage: bool) -> StreamTranslator:
        """A translator for one streamed response. ``include_usage``: the client asked for
        OpenAI's ``stream_options.include_usage`` (ignored for Anthropic clients, whose
        streams always carry usage)."""
        ...

    def error(self, status: int, body: bytes) -> bytes:
        """Provider error body -> client-protocol error body (same status); an unparsable
        body still gives a valid client error with its text as the message."""
        ...


# -- SSE framing --------------------------------------------------------------------------


def data_event(value: Any) -> bytes:
    """An OpenAI-style event: a data line only."""
    return b"data: " + orjson.dumps(value) + b"\n\n"


def named_event(name: str, value: Any) -> bytes:
    """An Anthropic-style event: the SDK ignores events without an ``event:`` line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(value) + b"\n\n"


# -- lenient reading ----------------------------------------------------------------------


def loads_object(data: bytes) -> dict[str, Any] | None:
    """A JSON object, or None for anything else (keep-alives, garbage, arrays)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def count(mapping: Mapping[str, Any], key: str) -> int:
    """A token count: non-negative int, anything else (missing, null) is 0."""
    value = mapping.get(key)
    return value if type(value) is int and value > 0 else 0


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call's ``arguments`` string as the object Anthropic and Gemini want.

    Models sometimes emit invalid JSON; failing the whole answer over it would lose the
    rest, so the raw text is kept under one key for the client (or the model) to see.
    """
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_unparsed_arguments": arguments}
    return value if isinstance(value, dict) else {"_unparsed_arguments": arguments}


def dumps_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# -- errors ---------------------------------------------------------------------------------

# An error inside a stream has no HTTP status of its own (the stream's is 200): the status
# its code stands for, so the client's error type matches (Anthropic types, Gemini statuses,
# OpenAI codes).
_CODE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    "rate_limit_exceeded": 429,
    "server_error": 500,
}


def provider_error(provider: Protocol, body: bytes) -> tuple[str, str | None]:
    """The message and machine-readable code of a provider's error body. A body that is not
    the provider's error JSON gives its own text (or a generic message) instead."""
    parsed: Any
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if provider == "gemini" and isinstance(parsed, list) and parsed:
        parsed = parsed[0]  # the streaming endpoint without alt=sse wraps errors in an array
    error = as_dict(as_dict(parsed).get("error"))
    message = error.get("message")
    if isinstance(message, str) and message:
        key = {"openai": "code", "anthropic": "type", "gemini": "status"}[provider]
        code = error.get(key)
        if provider == "openai" and not isinstance(code, str):
            code = error.get("type")
        return message, code if isinstance(code, str) else None
    text = body.decode("utf-8", "replace").strip()
    return text or "the provider answered with an error and no message", None


def client_error_body(
    client: ClientProtocol, status: int, provider: Protocol, body: bytes
) -> bytes:
    message, code = provider_error(provider, body)
    return error_body(client, status, message, code)


def client_stream_error(client: ClientProtocol, message: str, code: str | None) -> bytes:
    """An error event inside a stream, in the client's protocol (the HTTP status is already
    200, so the code carries what went wrong)."""
    status = _CODE_STATUS.get(code or "", 500)
    if client == "anthropic":
        return b"event: error\ndata: " + error_body("anthropic", status, message) + b"\n\n"
    return b"data: " + error_body("openai", status, message, code) + b"\n\n"


def stream_error_of(provider: Protocol, value: Mapping[str, Any]) -> tuple[str, str | None]:
    """Message and code of an error object found inside a provider's stream."""
    return provider_error(provider, orjson.dumps(value))
