"""Line builders for Claude Code JSONL transcripts, modelled on a real 2.1.233 log.

Field sets and order follow ``shared/data/agent-logs/claude-code/session-basic.jsonl``:
one assistant line per content block, each repeating ``message.id``, ``requestId`` and the
full ``usage``; user lines carrying prompts or ``tool_result`` blocks; ``queue-operation``
and ``last-prompt`` bookkeeping lines. Lines are dicts serialised with orjson (compact, as
Claude Code writes them). Everything random comes from the caller's ``random.Random``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import orjson

VERSION = "2.1.233"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_WORDS_TEXT = (
    "def return import class self value config token cache session request model usage "
    "the a of to in for is that with on this it be as are by from or an will can not "
    "error result file path line test assert build deploy query index table schema row "
    "async await function const let var if else while for try except raise yield lambda "
    "data stream buffer parse read write open close flush commit branch merge review fix"
)
_HOUR_MS = 3_600_000
# Marker replaced by invalid UTF-8 bytes after serialisation (see ``invalid_utf8``).
BAD_BYTES_MARKER = "@@INVALID-UTF8@@"


def _text_pool(size: int) -> str:
    """A fixed block of code-like text; slices of it stand in for prompts and tool output."""
    rng = random.Random(20260820)
    words = _WORDS_TEXT.split(" ")
    out: list[str] = []
    n = 0
    while n < size:
        line = " ".join(rng.choices(words, k=rng.randint(3, 14)))
        indent = "    " * rng.randint(0, 3)
        out.append(indent + line)
        n += len(line) + len(indent) + 1
    return "\n".join(out)


_POOL = _text_pool(1 << 18)


class Ids:
    """Identifier generator drawing from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def uuid(self) -> str:
        v = self.rng.getrandbits(128)
        v = (v & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
        v = (v & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
        h = f"{v:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _b58(self, k: int) -> str:
        return "".join(self.rng.choices(_B58, k=k))

    def message_id(self) -> str:
        return "msg_01" + self._b58(22)

    def request_id(self) -> str:
        return "req_011C" + self._b58(20)

    def tool_use_id(self) -> str:
        return "toolu_01" + self._b58(22)

    def agent_id(self) -> str:
        return "a" + f"{self.rng.getrandbits(64):016x}"

    def signature(self) -> str:
        return "Eo" + "".join(self.rng.choices(_B64, k=self.rng.randint(180, 900)))

    def text(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        start = self.rng.randrange(0, len(_POOL) - n - 1)
        return _POOL[start : start + n]


class Clock:
    """ISO-8601 UTC 'Z' timestamps with millisecond precision, as Claude Code writes them."""

    def __init__(self) -> None:
        self._prefix: dict[int, str] = {}

    def iso(self, at_ms: int) -> str:
        hour, rest = divmod(at_ms, _HOUR_MS)
        prefix = self._prefix.get(hour)
        if prefix is None:
            prefix = datetime.fromtimestamp(hour * 3600, tz=UTC).strftime("%Y-%m-%dT%H:")
            self._prefix[hour] = prefix
        minute, rest = divmod(rest, 60_000)
        second, ms = divmod(rest, 1000)
        return f"{prefix}{minute:02d}:{second:02d}.{ms:03d}Z"


def usage(inp: int, out: int, read: int, w5: int, w1h: int, thinking: int) -> dict[str, Any]:
    """The ``message.usage`` object of a 2.1.233 assistant line."""
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": w5 + w1h,
        "cache_read_input_tokens": read,
        "output_tokens": out,
        "output_tokens_details": {"thinking_tokens": thinking},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": w1h, "ephemeral_5m_input_tokens": w5},
        "inference_geo": "not_available",
        "iterations": [
            {
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": w5 + w1h,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": w5,
                    "ephemeral_1h_input_tokens": w1h,
                },
                "type": "message",
            }
        ],
        "speed": "standard",
    }


def zero_usage() -> dict[str, Any]:
    """Usage of a synthetic API-error line, as copied from real transcripts: zeros and nulls."""
    return {
        "output_tokens_details": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": None,
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
        "inference_geo": None,
        "iterations": None,
        "speed": None,
    }


class Envelope:
    """The per-session fields every conversation line ends with."""

    def __init__(
        self, session_id: str, cwd: str, branch: str, entrypoint: str, agent_id: str | None
    ) -> None:
        self.session_id = session_id
        self.cwd = cwd
        self.branch = branch
        self.entrypoint = entrypoint
        self.agent_id = agent_id
        self.sidechain = agent_id is not None

    def finish(self, line: dict[str, Any], uuid: str, ts: str) -> dict[str, Any]:
        line["uuid"] = uuid
        line["timestamp"] = ts
        line["userType"] = "external"
        line["entrypoint"] = self.entrypoint
        line["cwd"] = self.cwd
        line["sessionId"] = self.session_id
        line["version"] = VERSION
        line["gitBranch"] = self.branch
        if self.agent_id is not None:
            line["agentId"] = self.agent_id
        return line


def assistant_line(
    env: Envelope,
    parent: str | None,
    uuid: str,
    ts: str,
    model: str,
    message_id: str,
    request_id: str | None,
    block: dict[str, Any],
    stop_reason: str | None,
    use: dict[str, Any],
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": env.sidechain,
        "message": {
            "model": model,
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "stop_details": None,
            "usage": use,
            "diagnostics": None,
        },
    }
    if request_id is not None:
        line["requestId"] = request_id
    line["type"] = "assistant"
    return env.finish(line, uuid, ts)


def api_error_line(
    env: Envelope, parent: str | None, uuid: str, ts: str, message_id: str, status: int
) -> dict[str, Any]:
    """A synthetic assistant line Claude Code writes when the API call failed."""
    kind = {429: "rate_limit", 401: "authentication_failed"}.get(status, "server_error")
    text = {
        429: "API Error: Request rejected (429) · rate limited",
        401: "Please run /login · API Error: 401 OAuth access token has expired.",
    }.get(
        status, f"API Error: {status} Overloaded. This is a server-side issue, usually temporary."
    )
    # No requestId: the request never produced a response (field set from real transcripts).
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": env.sidechain,
        "type": "assistant",
        "uuid": uuid,
        "timestamp": ts,
        "message": {
            "diagnostics": None,
            "id": message_id,
            "container": None,
            "model": "<synthetic>",
            "role": "assistant",
            "stop_details": None,
            "stop_reason": "stop_sequence",
            "stop_sequence": "",
            "type": "message",
            "usage": zero_usage(),
            "content": [{"type": "text", "text": text}],
            "context_management": None,
        },
        "error": kind,
        "apiErrorStatus": status,
        "isApiErrorMessage": True,
    }
    return env.finish(line, uuid, ts)


def user_prompt_line(
    env: Envelope, parent: str | None, uuid: str, ts: str, prompt_id: str, text: str
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": env.sidechain,
        "promptId": prompt_id,
        "type": "user",
        "message": {"role": "user", "content": text},
        "uuid": uuid,
        "timestamp": ts,
        "permissionMode": "default",
        "promptSource": "user",
    }
    env.finish(line, uuid, ts)
    return line


def tool_result_line(
    env: Envelope,
    parent: str,
    uuid: str,
    ts: str,
    prompt_id: str,
    tool_use_id: str,
    output: str,
    is_error: bool,
    result_meta: dict[str, Any],
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": env.sidechain,
        "promptId": prompt_id,
        "type": "user",
        "message": {
            "role": "user",
            "content": [
                {
                    "tool_use_id": tool_use_id,
                    "type": "tool_result",
                    "content": output,
                    "is_error": is_error,
                }
            ],
        },
        "uuid": uuid,
        "timestamp": ts,
        "toolUseResult": result_meta,
        "sourceToolAssistantUUID": parent,
    }
    return env.finish(line, uuid, ts)


def progress_line(
    env: Envelope,
    parent: str | None,
    uuid: str,
    ts: str,
    copied: dict[str, Any],
    prompt: str,
    agent_id: str,
    parent_tool_use_id: str,
) -> dict[str, Any]:
    """An ``agent_progress`` line mirroring one subagent line inside the parent transcript."""
    inner: dict[str, Any] = {
        "type": copied["type"],
        "message": copied["message"],
        "uuid": copied["uuid"],
        "timestamp": copied["timestamp"],
    }
    if "requestId" in copied:
        inner["requestId"] = copied["requestId"]
    line: dict[str, Any] = {
        "parentUuid": parent,
        "isSidechain": False,
        "type": "progress",
        "data": {
            "message": inner,
            "normalizedMessages": [],
            "type": "agent_progress",
            "prompt": prompt,
            "agentId": agent_id,
        },
        "toolUseID": "agent_msg_" + copied["message"].get("id", uuid)[-22:],
        "parentToolUseID": parent_tool_use_id,
    }
    return env.finish(line, uuid, ts)


def queue_operation_lines(session_id: str, ts: str, ts2: str, text: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "queue-operation",
            "operation": "enqueue",
            "timestamp": ts,
            "sessionId": session_id,
            "content": text,
        },
        {
            "type": "queue-operation",
            "operation": "dequeue",
            "timestamp": ts2,
            "sessionId": session_id,
        },
    ]


def last_prompt_line(session_id: str, text: str, leaf: str) -> dict[str, Any]:
    return {"type": "last-prompt", "lastPrompt": text, "leafUuid": leaf, "sessionId": session_id}


def compact_lines(
    env: Envelope,
    parent: str,
    uuids: tuple[str, str],
    ts: str,
    ts2: str,
    pre_tokens: int,
    text: str,
) -> list[dict[str, Any]]:
    """A ``compact_boundary`` system line and the summary user line that follows it."""
    boundary: dict[str, Any] = {
        "parentUuid": None,
        "logicalParentUuid": parent,
        "isSidechain": False,
        "type": "system",
        "subtype": "compact_boundary",
        "content": "Conversation compacted",
        "isMeta": False,
        "level": "info",
        "compactMetadata": {"trigger": "auto", "preTokens": pre_tokens},
    }
    summary: dict[str, Any] = {
        "parentUuid": uuids[0],
        "isSidechain": False,
        "type": "user",
        "message": {
            "role": "user",
            "content": "This session is being continued from a "
            "previous conversation that ran out of context. Summary:\n" + text,
        },
        "isCompactSummary": True,
        "isVisibleInTranscriptOnly": True,
    }
    return [env.finish(boundary, uuids[0], ts), env.finish(summary, uuids[1], ts2)]


def dumps(line: dict[str, Any]) -> bytes:
    return orjson.dumps(line)


def invalid_utf8(raw: bytes) -> bytes:
    """Put bytes that are not UTF-8 where ``BAD_BYTES_MARKER`` was serialised."""
    return raw.replace(BAD_BYTES_MARKER.encode(), b"\xc3\x28\xff\xfe broken \xed\xa0\x80")
