"""The semantic key of a chat request: (the new question, a hash of everything around it).

Only the final user message is compared by meaning; the rest of the request (system prompt,
earlier turns, tools, images, tool results, and whatever else the caller says changes the
answer, e.g. the model) must match exactly, through the hash. So "and in French?" in two
different conversations never shares an answer.

Works for OpenAI-style messages (system/developer turns inside `messages`, content as a
string or a list of parts) and Anthropic-style ones (top-level `system`, content blocks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

# Markers that change how a provider bills or caches a prompt, never what it answers.
_IGNORED_KEYS = frozenset({"cache_control"})


def semantic_key(
    messages: Sequence[Mapping[str, Any]],
    *,
    system: Any = None,
    tools: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[str, str] | None:
    """(question, context_hash), or None when the request ends with no user text to compare
    (an assistant prefill, a tool result alone, an image alone, no messages)."""
    if not messages:
        return None
    last = messages[-1]
    if last.get("role") != "user":
        return None
    text, rest = _split_content(last.get("content"))
    question = text.strip()
    if not question:
        return None
    context = {
        "system": system,
        "tools": tools,
        "extra": dict(extra) if extra else None,
        "earlier": list(messages[:-1]),
        # The last turn's other parts (an image, a tool result, its name) are context too.
        "last": {k: v for k, v in last.items() if k != "content"} | {"parts": rest},
    }
    blob = orjson.dumps(_canonical(context), option=orjson.OPT_SORT_KEYS)
    return question, hashlib.sha256(blob).hexdigest()[:32]


def _split_content(content: Any) -> tuple[str, list[Any]]:
    """The text of a message's content, and its non-text parts."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return "", [content] if content is not None else []
    texts: list[str] = []
    rest: list[Any] = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") in ("text", "input_text"):
            texts.append(str(part.get("text", "")))
        elif isinstance(part, str):
            texts.append(part)
        else:
            rest.append(part)
    return "\n".join(texts), rest


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items() if k not in _IGNORED_KEYS}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
