"""Local HTTP servers that emulate LLM provider APIs with their exact wire formats.

Each :class:`Upstream` serves on ``127.0.0.1:<free port>`` from a background thread that runs
its own event loop, so synchronous tests (and a gateway under test) can talk to it over real
HTTP. Answers are deterministic so tests can assert exact token counts:

* :func:`openai_upstream` — ``POST /v1/chat/completions`` (plain and streamed),
  ``POST /v1/embeddings``, ``GET /v1/models``.
* :func:`anthropic_upstream` — ``POST /v1/messages`` (plain and streamed),
  ``POST /v1/messages/count_tokens``, ``GET /v1/models``.

Scripted behaviour (:meth:`Upstream.fail_next`, :meth:`Upstream.cut_next_stream`,
:meth:`Upstream.error_next_stream`) is consumed in order, each entry by one request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import json
import struct
import threading
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

__all__ = [
    "ANTHROPIC_MODELS",
    "ANTHROPIC_STREAM_OUTPUT_TOKENS_AT_START",
    "ANTHROPIC_USAGE",
    "CREATED",
    "EMBEDDING_DIMENSIONS",
    "EMBEDDING_USAGE",
    "MOCK_CHUNKS",
    "MOCK_TEXT",
    "OPENAI_MODELS",
    "OPENAI_USAGE",
    "REFUSAL_TEXT",
    "Seen",
    "Upstream",
    "anthropic_error_body",
    "anthropic_upstream",
    "mock_embedding",
    "openai_error_body",
    "openai_upstream",
]

MOCK_TEXT = "Hello from mock"
MOCK_CHUNKS = ("Hello", " from", " mock")
REFUSAL_CHUNKS = ("I'm sorry,", " I can't help with that.")
REFUSAL_TEXT = "".join(REFUSAL_CHUNKS)
CREATED = 1_735_689_600  # fixed `created` timestamp (2025-01-01T00:00:00Z) for byte-stable answers
EMBEDDING_DIMENSIONS = 8

OPENAI_USAGE: dict[str, Any] = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 2,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
EMBEDDING_USAGE: dict[str, Any] = {"prompt_tokens": 3, "total_tokens": 3}
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")

ANTHROPIC_USAGE: dict[str, Any] = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 3,
    "cache_read_input_tokens": 20,
    "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 2},
    "output_tokens": 5,
    "service_tier": "standard",
}
ANTHROPIC_STREAM_OUTPUT_TOKENS_AT_START = 1
ANTHROPIC_MODELS = (
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
)

_SHUTDOWN_TIMEOUT = 0.25
_MAX_BODY = 64 * 1024 * 1024


@dataclass
class Seen:
    """One request the upstream received."""

    path: str
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    json: Any  # parsed body, or None when the body is empty or not JSON
    method: str = "POST"
    query: str = ""
    peer: Any = None  # the client's (address, port): the same for requests on one connection


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None


@dataclass(frozen=True)
class _StreamFault:
    after_events: int
    error_status: int | None  # None: cut the connection; else send the provider's error event
    garble: bool = False  # send an event whose data is not JSON there, then the rest


# A route answers with a finished response or with the SSE events of a streamed one.
_Reply = web.Response | list[bytes]
_Route = Callable[[web.Request, Any], Awaitable[_Reply]]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=_dumps(obj).encode(),
        content_type="application/json",
        headers=headers,
    )


def _retry_after_value(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def mock_embedding(index: int) -> list[float]:
    """The deterministic vector returned for input number ``index`` (exact in float32)."""
    return [(index + j + 1) / 16 for j in range(EMBEDDING_DIMENSIONS)]


def _first_tool_name(tools: Any) -> str | None:
    if not isinstance(tools, list) or not tools:
        return None
    tool = tools[0]
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    name = tool.get("name")
    return name if isinstance(name, str) else None


class Upstream:
    """An emulated provider on 127.0.0.1:<free port>, served from a background thread with its
    own event loop."""

    provider = "generic"

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.first_byte_delay: float = 0.0  # before sending headers / the first byte
        self.latency: float = 0.0  # before doing anything with every request
        self.end_delay: float = 0.0  # after a stream's last event, before ending the body
        self.event_delay: float = 0.0  # before each of a stream's events after the first
        # Answer finished responses compressed, as Cloudflare-fronted APIs do (_encode);
        # the encodings used, one per compressed answer.
        self.compress_like_cloudflare = False
        self.encoded: list[str] = []
        # False: a server that takes no key (a local Ollama or vLLM).
        self.needs_key = True
        # Streams without usage even when asked for it, as OpenAI-compatible servers that
        # ignore stream_options send them.
        self.omit_usage = False
        # Replaces the provider's usage in answers (another provider's fields, say).
        self.usage: dict[str, Any] | None = None
        # Chat answers are OpenAI refusals (message.refusal / delta.refusal, no content).
        self.refuse = False
        # The tier OpenAI says it served a chat answer in ("priority", "flex" bill apart).
        self.service_tier = "default"
        self._lock = threading.Lock()
        self._failures: deque[_Failure] = deque()
        self._stream_faults: deque[_StreamFault] = deque()
        self._body_cuts: deque[tuple[int | None, float]] = deque()
        self._counter = 0
        self._base_url = ""
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._routes: dict[tuple[str, str], _Route] = {}

    # -- public API ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` — no trailing slash, no ``/v1``."""
        if not self._base_url:
            raise RuntimeError("upstream not started")
        return self._base_url

    def fail_next(self, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        """The next ``times`` requests (any path) get ``status`` in the provider's error shape,
        with a ``retry-after`` header when ``retry_after`` is given."""
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, retry_after))

    def cut_next_stream(self, after_events: int) -> None:
        """The next streamed response closes the connection after ``after_events`` SSE events
        (capped so the final event — ``message_stop`` / ``[DONE]`` — is never sent)."""
        with self._lock:
            self._stream_faults.append(_StreamFault(after_events, None))

    def error_next_stream(self, after_events: int, status: int = 529) -> None:
        """The next streamed response sends the provider's in-stream error after
        ``after_events`` events (HTTP status stays 200) and then ends."""
        with self._lock:
            self._stream_faults.append(_StreamFault(after_events, status))

    def cut_next_body(
        self, times: int = 1, *, status: int | None = None, stall: float = 0.0
    ) -> None:
        """The next ``times`` finished (not streamed) responses send their headers, with the
        whole body's Content-Length, then half the body, wait ``stall`` seconds and close
        the connection; with ``status``, the response is that error (in the provider's
        shape) cut the same way."""
        with self._lock:
            self._body_cuts.extend([(status, stall)] * times)

    def garble_next_stream(self, after_events: int) -> None:
        """The next streamed response sends, after ``after_events`` events, one event whose
        data is not JSON (its framing intact), then the rest of the stream as usual."""
        with self._lock:
            self._stream_faults.append(_StreamFault(after_events, None, garble=True))

    def reset(self) -> None:
        """Forget recorded requests, scripted behaviour and delays."""
        with self._lock:
            self._failures.clear()
            self._stream_faults.clear()
            self._body_cuts.clear()
        self.seen.clear()
        self.first_byte_delay = 0.0
        self.latency = 0.0
        self.end_delay = 0.0
        self.event_delay = 0.0
        self.compress_like_cloudflare = False
        self.encoded.clear()
        self.needs_key = True
        self.omit_usage = False
        self.usage = None
        self.refuse = False
        self.service_tier = "default"

    def start(self) -> Upstream:
        if self._thread is not None:
            raise RuntimeError("upstream already started")
        self._thread = threading.Thread(
            target=self._run, name=f"upstream-{self.provider}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("upstream did not start within 10 s")
        if self._startup_error is not None:
            self._thread.join()
            raise RuntimeError("upstream failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._stop_event = None
        self._base_url = ""
        self._ready.clear()

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- server plumbing -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._startup_error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self._base_url = f"http://{host}:{port}"
            self._ready.set()
            await self._stop_event.wait()
        finally:
            await runner.cleanup()

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.seen.append(
            Seen(
                path=request.path,
                headers=headers,
                body=body,
                json=parsed,
                method=request.method,
                query=request.query_string,
                peer=request.transport.get_extra_info("peername") if request.transport else None,
            )
        )
        if self.latency > 0:
            await asyncio.sleep(self.latency)

        reply = await self._dispatch(request, body, parsed)
        if self.first_byte_delay > 0:
            await asyncio.sleep(self.first_byte_delay)
        if isinstance(reply, web.Response):
            with self._lock:
                cut = self._body_cuts.popleft() if self._body_cuts else None
            if cut is not None:
                status, stall = cut
                if status is not None:
                    reply = self._error(status, None)
                return await self._cut_body(request, reply, stall)
            return self._encode(request, reply) if self.compress_like_cloudflare else reply
        return await self._stream(request, reply)

    def _encode(self, request: web.Request, reply: web.Response) -> web.Response:
        """The body in the first of br, zstd, gzip, deflate the request accepts. This
        emulator cannot produce br or zstd (no encoder among the test dependencies): it
        labels the plain body with them, which only a client that asked for them would try
        to decode, and fail on, as a client without the decoder fails on the real thing."""
        accepted = {
            part.split(";")[0].strip().lower()
            for part in request.headers.get("Accept-Encoding", "").split(",")
        }
        coding = next((c for c in ("br", "zstd", "gzip", "deflate") if c in accepted), None)
        if coding is None:
            return reply
        body = bytes(reply.body) if isinstance(reply.body, bytes | bytearray) else b""
        if coding == "gzip":
            body = gzip.compress(body)
        elif coding == "deflate":
            body = zlib.compress(body)
        reply.body = body
        reply.headers["Content-Encoding"] = coding
        self.encoded.append(coding)
        return reply

    async def _cut_body(
        self, request: web.Request, reply: web.Response, stall: float
    ) -> web.StreamResponse:
        body = bytes(reply.body) if isinstance(reply.body, bytes | bytearray) else b""
        resp = web.StreamResponse(status=reply.status)
        resp.content_type = "application/json"
        resp.content_length = len(body)
        try:
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            await asyncio.sleep(max(stall, 0.05))  # the half reaches the client before the close
        except ConnectionError:
            return resp
        if request.transport is not None:
            request.transport.close()
        return resp

    async def _dispatch(self, request: web.Request, body: bytes, parsed: Any) -> _Reply:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return self._error(failure.status, None, retry_after=failure.retry_after)
        route = self._routes.get((request.method, request.path))
        if route is None:
            return self._not_found(request)
        auth_error = self._check_auth(request) if self.needs_key else None
        if auth_error is not None:
            return auth_error
        if request.method == "POST" and not isinstance(parsed, dict):
            what = "empty" if not body else "not valid JSON"
            return self._error(400, f"The request body is {what}.")
        return await route(request, parsed)

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        with self._lock:
            fault = self._stream_faults.popleft() if self._stream_faults else None
        resp = web.StreamResponse(status=200, headers=self._stream_headers())
        resp.content_type = "text/event-stream"
        resp.charset = "utf-8"
        resp.enable_chunked_encoding()
        try:
            await resp.prepare(request)
            if fault is None:
                for n, event in enumerate(events):
                    if n and self.event_delay > 0:
                        await asyncio.sleep(self.event_delay)
                    await resp.write(event)
                if self.end_delay > 0:
                    await asyncio.sleep(self.end_delay)
                await resp.write_eof()
                return resp
            n = max(0, min(fault.after_events, len(events) - 1))
            for event in events[:n]:
                await resp.write(event)
            if fault.garble:
                await resp.write(self._garbled_event())
                for event in events[n:]:
                    await resp.write(event)
                await resp.write_eof()
                return resp
            if fault.error_status is not None:
                await resp.write(self._stream_error_event(fault.error_status))
                await resp.write_eof()
                return resp
            # Abrupt end: close the socket without the terminating chunk of the chunked body.
            transport = request.transport
            if transport is not None:
                transport.close()
        except ConnectionError:
            pass  # the client went away; nothing more to send
        return resp

    # -- provider hooks --------------------------------------------------------------------

    def _stream_headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-cache"}

    def _garbled_event(self) -> bytes:
        return b"data: {not json\n\n"

    def _check_auth(self, request: web.Request) -> web.Response | None:
        raise NotImplementedError

    def _error(
        self, status: int, message: str | None, *, retry_after: float | None = None
    ) -> web.Response:
        raise NotImplementedError

    def _not_found(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def _stream_error_event(self, status: int) -> bytes:
        raise NotImplementedError


# -- OpenAI ------------------------------------------------------------------------------------

_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (mock)."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: k. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: ("invalid_request_error", None, "You are not allowed to access this resource."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `mock-model` does not exist or you do not have access to it.",
    ),
    409: ("invalid_request_error", None, "Conflict (mock)."),
    422: ("invalid_request_error", None, "Unprocessable request (mock)."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o-mini in organization org-mock on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}


def openai_error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's error object for ``status``."""
    err_type, code, default = _OPENAI_ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}."),
    )
    return {"error": {"message": message or default, "type": err_type, "param": None, "code": code}}


class _OpenAIUpstream(Upstream):
    provider = "openai"

    def __init__(self) -> None:
        super().__init__()
        self._routes = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("POST", "/v1/embeddings"): self._embeddings,
            ("GET", "/v1/models"): self._models,
        }

    def _request_id_headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_mock{self._next_id():06d}", "openai-processing-ms": "1"}

    def _stream_headers(self) -> dict[str, str]:
        return {**super()._stream_headers(), **self._request_id_headers()}

    def _check_auth(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return None
        return self._error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
            "as the password field (with blank username) if you're accessing the API from "
            "your browser and are prompted for a username and password. You can obtain an API "
            "key from https://platform.openai.com/account/api-keys.",
            no_code=True,
        )

    def _error(
        self,
        status: int,
        message: str | None,
        *,
        retry_after: float | None = None,
        no_code: bool = False,
    ) -> web.Response:
        body = openai_error_body(status, message)
        if no_code:
            body["error"]["code"] = None
        headers = self._request_id_headers()
        if retry_after is not None:
            headers["retry-after"] = _retry_after_value(retry_after)
        return _json_response(status, body, headers)

    def _not_found(self, request: web.Request) -> web.Response:
        return self._error(404, f"Invalid URL ({request.method} {request.path})", no_code=True)

    def _stream_error_event(self, status: int) -> bytes:
        return f"data: {_dumps(openai_error_body(status))}\n\n".encode()

    async def _chat(self, request: web.Request, req: dict[str, Any]) -> _Reply:
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter", no_code=True)
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "Missing required parameter: 'messages'.", no_code=True)
        ident = self._next_id()
        cid = f"chatcmpl-mock{ident:06d}"
        tool = _first_tool_name(req.get("tools"))
        call_id = f"call_mock{ident:06d}"
        if req.get("stream") is True:
            opts = req.get("stream_options")
            include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            include_usage = include_usage and not self.omit_usage
            events = self._chat_events(cid, model, tool, call_id, include_usage)
            if req.get("n") == 2:
                events[-1:-1] = self._second_choice_events(cid, model)
            return events

        message: dict[str, Any] = {
            "role": "assistant",
            "content": MOCK_TEXT,
            "refusal": None,
            "annotations": [],
        }
        finish = "stop"
        if self.refuse:
            message["content"], message["refusal"] = None, REFUSAL_TEXT
        elif tool is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": tool, "arguments": "{}"},
                }
            ]
            finish = "tool_calls"
        choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]
        if req.get("n") == 2:
            # A second choice cut short: which choice the record follows shows.
            second = {"role": "assistant", "content": "Hel", "refusal": None, "annotations": []}
            choices.append(
                {"index": 1, "message": second, "logprobs": None, "finish_reason": "length"}
            )
        completion = {
            "id": cid,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": choices,
            "usage": self.usage or OPENAI_USAGE,
            "service_tier": self.service_tier,
            "system_fingerprint": "fp_mock",
        }
        return _json_response(200, completion, self._request_id_headers())

    def _chat_events(
        self, cid: str, model: str, tool: str | None, call_id: str, include_usage: bool
    ) -> list[bytes]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "service_tier": self.service_tier,
                "system_fingerprint": "fp_mock",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        chunks: list[dict[str, Any]] = []
        if self.refuse:
            chunks.append(chunk({"role": "assistant", "content": None, "refusal": ""}))
            chunks.extend(chunk({"refusal": piece}) for piece in REFUSAL_CHUNKS)
            chunks.append(chunk({}, "stop"))
        elif tool is None:
            chunks.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            chunks.extend(chunk({"content": piece}) for piece in MOCK_CHUNKS)
            chunks.append(chunk({}, "stop"))
        else:
            first_call = {
                "index": 0,
                "id": call_id,
                "type": "function",
                "function": {"name": tool, "arguments": ""},
            }
            chunks.append(
                chunk(
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [first_call],
                        "refusal": None,
                    }
                )
            )
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}))
            chunks.append(chunk({}, "tool_calls"))
        if include_usage:
            usage_chunk = chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.usage or OPENAI_USAGE
            chunks.append(usage_chunk)
        events = [f"data: {_dumps(c)}\n\n".encode() for c in chunks]
        events.append(b"data: [DONE]\n\n")
        return events

    def _second_choice_events(self, cid: str, model: str) -> list[bytes]:
        """With n=2: a second choice, cut short ("length"), streamed after the first."""
        chunks = [
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "choices": [{"index": 1, "delta": delta, "logprobs": None, "finish_reason": end}],
            }
            for delta, end in (({"role": "assistant", "content": "Hel"}, None), ({}, "length"))
        ]
        return [f"data: {_dumps(c)}\n\n".encode() for c in chunks]

    async def _embeddings(self, request: web.Request, req: dict[str, Any]) -> _Reply:
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter", no_code=True)
        inp = req.get("input")
        if isinstance(inp, str) or (
            isinstance(inp, list) and inp and all(isinstance(t, int) for t in inp)
        ):
            count = 1
        elif isinstance(inp, list) and inp:
            count = len(inp)
        else:
            return self._error(400, "'input' must be a non-empty string or array.", no_code=True)
        as_base64 = req.get("encoding_format") == "base64"
        data = []
        for i in range(count):
            vector = mock_embedding(i)
            embedding: Any = vector
            if as_base64:
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding = base64.b64encode(packed).decode("ascii")
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        body = {"object": "list", "data": data, "model": model, "usage": EMBEDDING_USAGE}
        return _json_response(200, body, self._request_id_headers())

    async def _models(self, request: web.Request, req: Any) -> _Reply:
        data = [
            {"id": name, "object": "model", "created": CREATED, "owned_by": "system"}
            for name in OPENAI_MODELS
        ]
        return _json_response(200, {"object": "list", "data": data}, self._request_id_headers())


# -- Anthropic ---------------------------------------------------------------------------------

_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request (mock)."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 input tokens "
        "per minute.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error_body(
    status: int, message: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """Anthropic's error shape for ``status``."""
    err_type, default = _ANTHROPIC_ERRORS.get(
        status,
        ("api_error" if status >= 500 else "invalid_request_error", f"Error {status}."),
    )
    return {
        "type": "error",
        "error": {"type": err_type, "message": message or default},
        "request_id": request_id,
    }


class _AnthropicUpstream(Upstream):
    provider = "anthropic"

    def __init__(self) -> None:
        super().__init__()
        self._routes = {
            ("POST", "/v1/messages"): self._messages,
            ("POST", "/v1/messages/count_tokens"): self._count_tokens,
            ("GET", "/v1/models"): self._models,
        }

    def _request_id(self) -> str:
        return f"req_mock{self._next_id():06d}"

    def _stream_headers(self) -> dict[str, str]:
        return {**super()._stream_headers(), "request-id": self._request_id()}

    def _check_auth(self, request: web.Request) -> web.Response | None:
        # Older SDKs send the key as x-api-key; anthropic>=2 sends `Authorization: Bearer <key>`.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        has_bearer = scheme.lower() == "bearer" and bool(token.strip())
        if not request.headers.get("x-api-key", "").strip() and not has_bearer:
            return self._error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version", "").strip():
            return self._error(400, "anthropic-version: header is required")
        return None

    def _error(
        self, status: int, message: str | None, *, retry_after: float | None = None
    ) -> web.Response:
        rid = self._request_id()
        headers = {"request-id": rid}
        if retry_after is not None:
            headers["retry-after"] = _retry_after_value(retry_after)
        if status == 529:
            headers["x-should-retry"] = "true"
        return _json_response(status, anthropic_error_body(status, message, rid), headers)

    def _not_found(self, request: web.Request) -> web.Response:
        return self._error(404, "Not Found")

    def _stream_error_event(self, status: int) -> bytes:
        body = anthropic_error_body(status, request_id=self._request_id())
        return f"event: error\ndata: {_dumps(body)}\n\n".encode()

    def _validate(self, req: dict[str, Any], *, need_max_tokens: bool) -> web.Response | None:
        if not isinstance(req.get("model"), str) or not req["model"]:
            return self._error(400, "model: Field required")
        if need_max_tokens and not isinstance(req.get("max_tokens"), int):
            return self._error(400, "max_tokens: Field required")
        if not isinstance(req.get("messages"), list):
            return self._error(400, "messages: Field required")
        return None

    async def _messages(self, request: web.Request, req: dict[str, Any]) -> _Reply:
        invalid = self._validate(req, need_max_tokens=True)
        if invalid is not None:
            return invalid
        model: str = req["model"]
        ident = self._next_id()
        mid = f"msg_mock{ident:06d}"
        tool = _first_tool_name(req.get("tools"))
        tool_id = f"toolu_mock{ident:06d}"
        if req.get("stream") is True:
            return self._message_events(mid, model, tool, tool_id)
        content: list[dict[str, Any]]
        if tool is None:
            content = [{"type": "text", "text": MOCK_TEXT}]
            stop = "end_turn"
        else:
            content = [{"type": "tool_use", "id": tool_id, "name": tool, "input": {}}]
            stop = "tool_use"
        message = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": self.usage or ANTHROPIC_USAGE,
        }
        return _json_response(200, message, {"request-id": self._request_id()})

    def _message_events(self, mid: str, model: str, tool: str | None, tool_id: str) -> list[bytes]:
        events: list[tuple[str, dict[str, Any]]] = []
        usage = self.usage or ANTHROPIC_USAGE
        start_usage = {**usage, "output_tokens": ANTHROPIC_STREAM_OUTPUT_TOKENS_AT_START}
        if "output_tokens_details" in usage:
            start_usage["output_tokens_details"] = None  # known at the end only
        # message_delta: the cumulative output count, and its details when there are any.
        end_usage = {
            k: v for k, v in usage.items() if k in ("output_tokens", "output_tokens_details")
        }
        message: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        events.append(("message_start", {"type": "message_start", "message": message}))
        block: dict[str, Any]
        deltas: list[dict[str, Any]]
        if tool is None:
            block = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in MOCK_CHUNKS]
            stop = "end_turn"
        else:
            block = {"type": "tool_use", "id": tool_id, "name": tool, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": ""},
                {"type": "input_json_delta", "partial_json": "{}"},
            ]
            stop = "tool_use"
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
        )
        events.append(("ping", {"type": "ping"}))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": end_usage,
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return [f"event: {name}\ndata: {_dumps(data)}\n\n".encode() for name, data in events]

    async def _count_tokens(self, request: web.Request, req: dict[str, Any]) -> _Reply:
        invalid = self._validate(req, need_max_tokens=False)
        if invalid is not None:
            return invalid
        body = {"input_tokens": ANTHROPIC_USAGE["input_tokens"]}
        return _json_response(200, body, {"request-id": self._request_id()})

    async def _models(self, request: web.Request, req: Any) -> _Reply:
        data = [
            {"type": "model", "id": mid, "display_name": name, "created_at": created}
            for mid, name, created in ANTHROPIC_MODELS
        ]
        body = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }
        return _json_response(200, body, {"request-id": self._request_id()})


def openai_upstream() -> Upstream:
    """An OpenAI emulator (not started: use ``with openai_upstream() as up:`` or ``.start()``)."""
    return _OpenAIUpstream()


def anthropic_upstream() -> Upstream:
    """An Anthropic emulator (not started: use ``with anthropic_upstream() as up:``)."""
    return _AnthropicUpstream()
