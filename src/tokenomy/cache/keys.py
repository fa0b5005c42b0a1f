"""The request, normalised: the exact-cache key, and the prompt hashes every gateway and SDK
call record carries.

Everything that can change the output is in the key: the protocol and operation (a cached
answer is replayed byte for byte in the shape it was served in), the model alias, the
messages, tools, and every sampling parameter. Left out are only fields that cannot change
the answer's content: ``stream_options``, ``user`` and ``metadata`` (attribution), and
``store``. ``stream`` stays in: a streamed answer is replayed as the same stream.

The normalised request is serialised once (:func:`normal_request`); the cache key and the
record's ``prompt_hash`` are both hashes of those bytes, so a prompt hash is equal for two
requests exactly when the exact cache would answer one with the other (namespace aside).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

# Fields that identify or route a request but do not change what the model says.
_IGNORED = frozenset({"stream_options", "user", "metadata", "store"})
_TEXT_PART = frozenset({"type", "text"})
_CONTAINERS = (dict, list)
# Anthropic's cache breakpoint mark on a block (tool, system block, message content block).
_CACHE_MARK = "cache_control"


def _normal(value: Any) -> Any:
    """A message content given as one text part equals the same text as a string.

    Copy on write: a dict or list in which nothing changes is returned as it is, and leaves
    are never visited by a call. This runs on every gateway request (for the prompt hash),
    so a conversation that needs no change costs one walk and no copies."""
    if isinstance(value, dict):
        out: dict[str, Any] | None = None
        for k, v in value.items():
            if isinstance(v, _CONTAINERS):
                new = _normal(v)
                if new is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        if len(value) == 1:
            part = value[0]
            if isinstance(part, dict) and part.get("type") == "text" and part.keys() <= _TEXT_PART:
                return part.get("text")
        items: list[Any] | None = None
        for i, v in enumerate(value):
            if isinstance(v, _CONTAINERS):
                new = _normal(v)
                if new is not v:
                    if items is None:
                        items = list(value)
                    items[i] = new
        return value if items is None else items
    return value


def normal_request(protocol: str, operation: str, body: dict[str, Any]) -> bytes:
    """The request as the exact cache compares requests: the JSON of ``[protocol, operation,
    body]``, keys sorted, the body without the ignored fields and normalised."""
    kept = {k: _normal(v) for k, v in body.items() if k not in _IGNORED}
    if kept.get("stream") is False:
        del kept["stream"]  # absent and false mean the same
    return orjson.dumps([protocol, operation, kept], option=orjson.OPT_SORT_KEYS)


def key_of(namespace: str, normal: bytes) -> str:
    """The cache key of a :func:`normal_request` in ``namespace``: a hex SHA-256 of
    ``[namespace, protocol, operation, body]``, the namespace spliced into the bytes already
    made rather than the request serialised again. (The same bytes, hence the same keys,
    as before the prompt hash shared them: stored entries stay valid.)"""
    digest = hashlib.sha256(b"[" + orjson.dumps(namespace) + b",")
    digest.update(memoryview(normal)[1:])
    return digest.hexdigest()


def request_key(namespace: str, protocol: str, operation: str, body: dict[str, Any]) -> str:
    """A hex SHA-256 of the namespace and the normalised request."""
    return key_of(namespace, normal_request(protocol, operation, body))


def _short(payload: bytes) -> str:
    """32 hex digits (128 bits, as :func:`params_hash`). BLAKE2b rather than SHA-256: it is
    computed on every request, and without SHA instructions BLAKE2b is about four times
    faster in hashlib; nothing outside tokenomy needs to recompute it."""
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def prompt_hash(normal: bytes) -> str:
    """The record's ``prompt_hash`` of a :func:`normal_request`: equal for two requests
    exactly when the exact cache would answer one with the other, whatever the tenant."""
    return _short(normal)


def prefix_hash(protocol: str, operation: str, body: dict[str, Any]) -> str | None:
    """The record's ``prefix_hash``: a hash of the model, tools, system prompt and the
    messages up to the first user message (OpenAI's leading system and developer messages
    are among them; Anthropic's system prompt is ``system``; the Responses API's is
    ``instructions``, its conversation ``input``). None for a request without a
    conversation (embeddings).

    Why this part: it is what a conversation sends unchanged on every turn, so it is the
    prefix a provider's prompt cache can reuse across the turns, and it tells
    conversations apart. Two turns of one conversation share it (the later turns only add
    messages after it); two conversations with different first questions do not; and a
    whole-prompt hash would differ on every turn. The rest of the prompt (later turns,
    sampling parameters, ``stream``) is left out because it changes from call to call
    without changing what the cache can reuse.

    Anthropic's ``cache_control`` marks are dropped from the blocks: clients move their
    breakpoint to the newest message on each turn, so the first message is marked on the
    first turn and not on the next, with the same content. A text given as one text part
    equals the same text as a string, as in the cache key.
    """
    if operation in ("chat", "messages"):
        system = body.get("system")  # Anthropic's; OpenAI's is among the messages
        turns = body.get("messages")
    elif operation == "responses":
        system = body.get("instructions")
        turns = body.get("input")
        if isinstance(turns, str):
            turns = [{"role": "user", "content": turns}]
    else:
        return None
    if not isinstance(turns, list):
        return None
    head = [_normal(_unmarked_message(m)) for m in _to_first_user(turns)]
    parts = [
        protocol,
        body.get("model"),
        _unmarked(body.get("tools")),
        _normal(_unmarked(system)),
        head,
    ]
    return _short(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS))


def _to_first_user(turns: list[Any]) -> Sequence[Any]:
    """The messages up to and including the first user message (all of them if none is)."""
    for i, turn in enumerate(turns):
        if isinstance(turn, dict) and turn.get("role") == "user":
            return turns[: i + 1]
    return turns


def _unmarked(value: Any) -> Any:
    """A list of blocks without their cache marks (a string or anything else as it is)."""
    if not isinstance(value, list):
        return value
    return [
        {k: v for k, v in b.items() if k != _CACHE_MARK}
        if isinstance(b, dict) and _CACHE_MARK in b
        else b
        for b in value
    ]


def _unmarked_message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    return {
        k: _unmarked(v) if k == "content" else v for k, v in message.items() if k != _CACHE_MARK
    }


def params_hash(protocol: str, operation: str, body: dict[str, Any]) -> str:
    """A hash of everything but the conversation: model, tools, sampling parameters. The
    semantic cache adds it to a question's context, so a question asked of another model,
    or at another temperature, never matches."""
    kept = {
        k: _normal(v)
        for k, v in body.items()
        if k not in _IGNORED and k not in ("messages", "system", "stream")
    }
    payload = orjson.dumps([protocol, operation, kept], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()[:32]
