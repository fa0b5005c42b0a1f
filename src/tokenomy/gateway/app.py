"""The gateway as a plain ASGI application (no framework: every microsecond on the request
path is overhead the user pays on every call).

A request is read whole (bounded), its model alias looked up, and sent to the alias's
deployments in order until one answers (a connection error, 429 or 5xx moves on to the
next). When the client speaks the deployment's protocol the body goes through untouched,
except the model id when the alias differs. Streams are relayed event by event as they
arrive; usage is read on the way. The call is recorded when it ends, without waiting on
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from tokenomy.gateway.config import Deployment, GatewayConfig
from tokenomy.gateway.errors import error_body, stream_error_event
from tokenomy.gateway.providers import Operation, Protocol, anthropic_usage, openai_usage
from tokenomy.gateway.recorder import CallTrace, Recorder
from tokenomy.gateway.sse import EventReader
from tokenomy.record import TokenUsage

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 32 * 1024 * 1024
_RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}
# Not relayed: hop-by-hop headers, and those that described the upstream's encoding (the
# client gets the body decoded, with its own length).
_DROP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "date",
    "server",
    "host",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
}
_AUTH_HEADERS = {"authorization", "x-api-key", "api-key"}
_ROUTES: dict[str, tuple[Protocol, Operation]] = {
    "/v1/chat/completions": ("openai", "chat"),
    "/chat/completions": ("openai", "chat"),
    "/v1/embeddings": ("openai", "embeddings"),
    "/embeddings": ("openai", "embeddings"),
    "/v1/messages": ("anthropic", "messages"),
}


class ClientError(Exception):
    """A request the gateway refuses, with the status and message the client will see."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(slots=True)
class Request:
    protocol: Protocol
    operation: Operation
    headers: dict[str, str]
    body: bytes
    json: dict[str, Any]


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        recorder: Recorder | None = None,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.config = config
        self.recorder = recorder
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.recorder is not None:
            # Every recorded call reaches the database before the process ends.
            await asyncio.to_thread(self.recorder.close)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        client_protocol: Protocol = "anthropic" if "anthropic-version" in headers else "openai"
        try:
            if method == "GET" and path == "/health":
                await _send_json(send, 200, {"status": "ok"})
                return
            if method == "GET" and path in ("/v1/models", "/models"):
                await _send_json(send, 200, self._models(client_protocol))
                return
            route = _ROUTES.get(path)
            if route is None:
                raise ClientError(404, f"no such endpoint: {method} {path}", "not_found")
            client_protocol = route[0]
            if method != "POST":
                raise ClientError(405, f"{path} takes POST, not {method}", "method_not_allowed")
            body = await self._read_body(receive, headers)
            request = Request(route[0], route[1], headers, body, _parse_json(body))
            await self._serve(request, receive, send)
        except ClientError as exc:
            await _send_error(send, client_protocol, exc)

    def _models(self, protocol: Protocol) -> dict[str, Any]:
        names = sorted(self.config.aliases)
        if protocol == "anthropic":
            data = [
                {"type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"}
                for n in names
            ]
            first, last = (names[0], names[-1]) if names else (None, None)
            return {"data": data, "has_more": False, "first_id": first, "last_id": last}
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "tokenomy"} for n in names
            ],
        }

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ClientError(413, f"request body over {self.max_body_bytes} bytes", "too_large")
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise asyncio.CancelledError  # the client left before sending its request
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise ClientError(
                    413, f"request body over {self.max_body_bytes} bytes", "too_large"
                )
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    # -- proxying -------------------------------------------------------------------------

    async def _serve(self, request: Request, receive: Receive, send: Send) -> None:
        alias = request.json.get("model")
        if not isinstance(alias, str) or not alias:
            raise ClientError(400, "the request has no 'model'", "missing_model")
        deployments = self.config.deployments(alias)
        if deployments is None:
            known = ", ".join(sorted(self.config.aliases)) or "none configured"
            raise ClientError(404, f"unknown model {alias!r} (known: {known})", "model_not_found")
        usable = [d for d in deployments if d.provider.protocol == request.protocol]
        if not usable:
            raise ClientError(
                400,
                f"model {alias!r} has no deployment that speaks the {request.protocol} "
                "protocol (translation between protocols is not supported yet)",
                "protocol_mismatch",
            )
        trace = CallTrace(operation=request.operation, alias=alias)
        trace.stream = request.json.get("stream") is True
        _attribute(trace, request.headers)
        try:
            reply = _TrackedSend(send)
            await _unless_client_leaves(
                self._forward(request, usable, trace, reply), receive, trace, reply
            )
        finally:
            if self.recorder is not None:
                self.recorder.record(trace)

    async def _forward(
        self,
        request: Request,
        deployments: list[Deployment],
        trace: CallTrace,
        send: Send,
    ) -> None:
        assert self._session is not None, "gateway not started"
        last_error: ClientError | None = None
        for i, deployment in enumerate(deployments):
            trace.attempts += 1
            trace.provider = deployment.provider.name
            trace.deployment_model = deployment.model
            url = deployment.provider.url(deployment.base_url, request.operation)
            if url is None:
                raise ClientError(400, f"{deployment.label} does not serve {request.operation}")
            body, strip_usage = _upstream_body(request, deployment)
            timeout = aiohttp.ClientTimeout(total=deployment.timeout, connect=10)
            try:
                response = await self._session.post(
                    url,
                    data=body,
                    headers=_upstream_headers(request.headers, deployment),
                    timeout=timeout,
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                message = f"{deployment.label}: cannot connect: {exc or type(exc).__name__}"
                last_error = ClientError(502, message, "upstream_unreachable")
                trace.fail("connection_error", message, 502)
                continue
            async with response:
                last = i == len(deployments) - 1
                if response.status in _RETRYABLE and not last:
                    trace.fail(f"http_{response.status}", await response.text(), response.status)
                    continue
                trace.status, trace.error_type, trace.error = response.status, None, None
                content_type = response.headers.get("content-type", "")
                if response.status == 200 and content_type.startswith("text/event-stream"):
                    await self._relay_stream(response, request, trace, strip_usage, send)
                else:
                    await self._relay_body(response, deployment, trace, send)
                return
        assert last_error is not None
        raise last_error

    async def _relay_body(
        self,
        response: aiohttp.ClientResponse,
        deployment: Deployment,
        trace: CallTrace,
        send: Send,
    ) -> None:
        body = await response.read()
        trace.first_byte()
        if response.status < 400:
            with contextlib.suppress(orjson.JSONDecodeError):
                parsed = orjson.loads(body)
                if isinstance(parsed, dict):
                    trace.usage = deployment.provider.usage(parsed)
                    model = parsed.get("model")
                    trace.response_model = model if isinstance(model, str) else None
                    trace.finish_reason = _finish_reason(parsed)
        else:
            trace.fail(f"http_{response.status}", body.decode("utf-8", "replace"), response.status)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _relay_headers(response, len(body)),
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _relay_stream(
        self,
        response: aiohttp.ClientResponse,
        request: Request,
        trace: CallTrace,
        strip_usage: bool,
        send: Send,
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": _relay_headers(response, None),
            }
        )
        await _relay_events(response, request.protocol, trace, strip_usage, send)


class _TrackedSend:
    """``send`` that knows when the response has been sent whole."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.complete = False

    async def __call__(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True


async def _unless_client_leaves(
    work: Awaitable[None], receive: Receive, trace: CallTrace, reply: _TrackedSend
) -> None:
    """Run ``work`` (the upstream call and relay); if the client disconnects first, cancel
    it, so nobody pays for an answer no one will read. (The server also reports a
    disconnect once the response is complete: that is no reason to cancel anything.)"""
    job = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done() and reply.complete:
            await job
    finally:
        if not job.done():
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            trace.fail("client_disconnected", "the client closed the connection first", 499)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    job.result()


async def _relay_events(
    response: aiohttp.ClientResponse,
    protocol: Protocol,
    trace: CallTrace,
    strip_usage: bool,
    send: Send,
) -> None:
    reader = EventReader()
    usage = StreamUsage(protocol)
    try:
        async for chunk in response.content.iter_any():
            trace.first_byte()
            out: list[bytes] = []
            for event in reader.feed(chunk):
                usage_only = usage.see(event.name, event.data)
                if not (strip_usage and usage_only):
                    out.append(event.raw)
            if out:
                await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
        if not usage.finished:
            raise aiohttp.ClientPayloadError("the stream ended before its last event")
    except (aiohttp.ClientError, TimeoutError) as exc:
        message = f"upstream stream failed: {exc or type(exc).__name__}"
        trace.fail("stream_interrupted", message)
        await send(
            {
                "type": "http.response.body",
                "body": stream_error_event(protocol, message),
                "more_body": True,
            }
        )
    finally:
        trace.usage = usage.total()
        trace.response_model = usage.model or trace.response_model
        trace.finish_reason = usage.finish_reason
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class StreamUsage:
    """Usage, model and finish reason read from a stream's events as they pass."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.finished = False
        self._usage: dict[str, Any] = {}

    def see(self, name: str, data: bytes) -> bool:
        """Take in one event; True if it carries only usage (OpenAI's last chunk)."""
        if self.protocol == "openai":
            if data == b"[DONE]":
                self.finished = True
                return False
            chunk = _loads(data)
            if chunk is None:
                return False
            if isinstance(chunk.get("model"), str):
                self.model = chunk["model"]
            choices = chunk.get("choices")
            for choice in choices if isinstance(choices, list) else []:
                if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
                    self.finish_reason = choice["finish_reason"]
            if isinstance(chunk.get("usage"), dict):
                self._usage = chunk["usage"]
                return not choices
            return False
        if name == "message_stop":
            self.finished = True
        elif name in ("message_start", "message_delta"):
            event = _loads(data)
            if event is None:
                return False
            part = event.get("message") if name == "message_start" else event
            if isinstance(part, dict):
                if isinstance(part.get("model"), str):
                    self.model = part["model"]
                if isinstance(part.get("usage"), dict):
                    # message_delta's counts are cumulative and replace message_start's.
                    self._usage.update({k: v for k, v in part["usage"].items() if v is not None})
            delta = event.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.finish_reason = delta["stop_reason"]
        return False

    def total(self) -> TokenUsage | None:
        if not self._usage:
            return None
        return (
            anthropic_usage(self._usage)
            if self.protocol == "anthropic"
            else openai_usage(self._usage)
        )


def _loads(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            400, f"the request body is not valid JSON: {exc}", "invalid_json"
        ) from exc
    if not isinstance(value, dict):
        raise ClientError(400, "the request body must be a JSON object", "invalid_json")
    return value


def _upstream_body(request: Request, deployment: Deployment) -> tuple[bytes, bool]:
    """The body to send, and whether the usage chunk we asked for must be hidden from a
    client that did not ask for it. Untouched bytes when nothing needs changing."""
    body = request.json
    changes: dict[str, Any] = {}
    strip_usage = False
    if deployment.model != body.get("model"):
        changes["model"] = deployment.model
    if request.protocol == "openai" and request.operation == "chat" and body.get("stream") is True:
        options = body.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            # Without it an OpenAI stream carries no usage at all.
            changes["stream_options"] = {**(options or {}), "include_usage": True}
            strip_usage = True
    if not changes:
        return request.body, False
    return orjson.dumps({**body, **changes}), strip_usage


def _upstream_headers(client: dict[str, str], deployment: Deployment) -> dict[str, str]:
    headers = {
        k: v
        for k, v in client.items()
        if k not in _DROP_HEADERS
        and not k.startswith("x-tokenomy-")
        and (deployment.api_key is None or k not in _AUTH_HEADERS)
    }
    headers["content-type"] = "application/json"
    headers.update(deployment.provider.auth_headers(deployment.api_key))
    return headers


def _relay_headers(
    response: aiohttp.ClientResponse, length: int | None
) -> list[tuple[bytes, bytes]]:
    headers = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k.lower() not in _DROP_HEADERS
    ]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers


def _finish_reason(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("stop_reason"), str):
        return str(body["stop_reason"])
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    return None


def _attribute(trace: CallTrace, headers: dict[str, str]) -> None:
    trace.project = headers.get("x-tokenomy-project") or None
    trace.user = headers.get("x-tokenomy-user") or None
    trace.session = headers.get("x-tokenomy-session") or None
    tags = headers.get("x-tokenomy-tags")
    if tags:
        trace.tags = [t.strip() for t in tags.split(",") if t.strip()]


async def _send_json(send: Send, status: int, value: Any) -> None:
    await _send_body(send, status, orjson.dumps(value))


async def _send_error(send: Send, protocol: Protocol, exc: ClientError) -> None:
    await _send_body(send, exc.status, error_body(protocol, exc.status, exc.message, exc.code))


async def _send_body(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
