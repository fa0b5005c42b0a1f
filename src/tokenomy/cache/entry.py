"""A cached response: what the client received (status, content type, the body or the
stream's bytes) and what the call was (model, provider, tokens, cost), so a hit can be
replayed exactly and recorded with the savings it made."""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, field
from typing import Any

import orjson

from tokenomy.record import TokenUsage

_HEADER = struct.Struct("<I")  # length of the JSON head that precedes the body


@dataclass(slots=True)
class CachedResponse:
    body: bytes
    content_type: str = "application/json"
    stream: bool = False
    created_ms: int = 0
    provider: str | None = None
    model: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_nanos: int | None = None
    finish_reason: str | None = None

    def encode(self) -> bytes:
        head: dict[str, Any] = {
            "content_type": self.content_type,
            "stream": self.stream,
            "created_ms": self.created_ms,
            "provider": self.provider,
            "model": self.model,
            "usage": list(astuple(self.usage)),
            "cost_nanos": self.cost_nanos,
            "finish_reason": self.finish_reason,
        }
        raw = orjson.dumps(head)
        return _HEADER.pack(len(raw)) + raw + self.body

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse:
        (size,) = _HEADER.unpack_from(data)
        head = orjson.loads(data[_HEADER.size : _HEADER.size + size])
        return cls(
            body=data[_HEADER.size + size :],
            content_type=head["content_type"],
            stream=head["stream"],
            created_ms=head["created_ms"],
            provider=head["provider"],
            model=head["model"],
            usage=TokenUsage(*head["usage"]),
            cost_nanos=head["cost_nanos"],
            finish_reason=head["finish_reason"],
        )

    @property
    def size(self) -> int:
        return len(self.body) + 256  # the head, roughly

    def events(self) -> list[bytes]:
        """A cached stream cut at its event boundaries, to be replayed event by event."""
        parts = self.body.split(b"\n\n")
        out = [p + b"\n\n" for p in parts[:-1]]
        if parts[-1]:
            out.append(parts[-1])
        return out
