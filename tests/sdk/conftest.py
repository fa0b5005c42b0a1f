"""Emulated providers (those of the gateway tests, plus OpenAI's Responses API and
compressed answers), and a recorder on a fresh database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from tests.gateway.conftest import ant, oai
from tests.gateway.upstreams import CREATED, MOCK_CHUNKS, MOCK_TEXT, OPENAI_USAGE
from tests.gateway.upstreams import _OpenAIUpstream as OpenAIUpstream

from tokenomy.gateway.recorder import Recorder
from tokenomy.pricing import PriceCatalog
from tokenomy.store import BatchWriter, Database

__all__ = ["ant", "oai"]

CATALOG = PriceCatalog.load(None)

# The Responses API reports the chat-completions categories under other names.
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": OPENAI_USAGE["prompt_tokens"],
    "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": OPENAI_USAGE["completion_tokens"],
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": OPENAI_USAGE["total_tokens"],
}


class WiderOpenAI(OpenAIUpstream):
    """The OpenAI emulator with ``POST /v1/responses`` (plain and streamed) and, when
    ``compress`` is set, gzip/deflate-compressed answers (as api.openai.com sends them)."""

    def __init__(self) -> None:
        super().__init__()
        self.compress = False
        self._routes[("POST", "/v1/responses")] = self._responses

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        reply = await super()._handle(request)
        if self.compress and isinstance(reply, web.Response):
            reply.enable_compression()
        return reply

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        if not self.compress:
            return await super()._stream(request, events)
        resp = web.StreamResponse(status=200)
        resp.content_type = "text/event-stream"
        resp.enable_compression()
        await resp.prepare(request)
        for event in events:
            await resp.write(event)
        await resp.write_eof()
        return resp

    async def _responses(self, request: web.Request, req: dict[str, Any]) -> Any:
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter")
        ident = self._next_id()
        response: dict[str, Any] = {
            "id": f"resp_mock{ident:06d}",
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "model": model,
            "output": [
                {
                    "type": "message",
                    "id": f"msg_mock{ident:06d}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": MOCK_TEXT, "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": RESPONSES_USAGE,
        }
        if req.get("stream") is not True:
            return web.Response(body=json.dumps(response).encode(), content_type="application/json")
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": started}),
            *(
                (
                    "response.output_text.delta",
                    {"item_id": f"msg_mock{ident:06d}", "output_index": 0, "delta": piece},
                )
                for piece in MOCK_CHUNKS
            ),
            ("response.completed", {"response": response}),
        ]
        out = []
        for i, (name, data) in enumerate(events):
            payload = json.dumps({"type": name, "sequence_number": i, **data})
            out.append(f"event: {name}\ndata: {payload}\n\n".encode())
        return out


@pytest.fixture
def wide() -> Iterator[WiderOpenAI]:
    with WiderOpenAI() as up:
        yield up


@pytest.fixture
def recorder(sqlite_db: Database) -> Iterator[Recorder]:
    rec = Recorder(BatchWriter(sqlite_db, flush_interval=0.05), CATALOG)
    yield rec
    rec.close()


COLUMNS = (
    "source",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "project",
    "user",
    "session_id",
    "status",
    "error_type",
    "http_status",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "cost_source",
    "finish_reason",
    "ttft_ms",
    "duration_ms",
    "attributes",
)


def stored(db: Database, recorder: Recorder | None = None) -> list[dict[str, Any]]:
    """Every call in the database (after flushing ``recorder``), oldest first, with its
    attributes parsed."""
    if recorder is not None:
        recorder.close()
    quoted = ", ".join(f'"{c}"' for c in COLUMNS)  # "user" is a keyword in PostgreSQL
    rows = db.query(f"SELECT {quoted} FROM calls ORDER BY started_at, id")
    out = []
    for row in rows:
        rec = dict(zip(COLUMNS, row, strict=True))
        rec["attributes"] = json.loads(rec["attributes"] or "{}")
        out.append(rec)
    return out


def tokens(rec: dict[str, Any]) -> tuple[int, ...]:
    """(input, cache read, cache write 5 min, cache write 1 h, output, reasoning)."""
    return (
        rec["input_tokens"],
        rec["cache_read_tokens"],
        rec["cache_write_tokens"],
        rec["cache_write_1h_tokens"],
        rec["output_tokens"],
        rec["reasoning_tokens"],
    )
