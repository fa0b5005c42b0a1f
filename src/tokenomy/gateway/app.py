"""The gateway as a plain ASGI application (no framework: every microsecond on the request
path is overhead the user pays on every call).

A request is read whole (bounded), checked (virtual key, model alias), and handed to the
:class:`~tokenomy.gateway.proxy.Proxy`, which tries the alias's deployments, its fallback
aliases, and retries. The call is recorded when it ends, without waiting on the database.
A client that leaves cancels the upstream call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from tokenomy.gateway.config import Deployment, GatewayConfig
from tokenomy.gateway.errors import error_body
from tokenomy.gateway.providers import Operation, Protocol
from tokenomy.gateway.proxy import ClientError, Proxy, Request
from tokenomy.gateway.recorder import CallTrace, Recorder
from tokenomy.gateway.router import Router
from tokenomy.gateway.stream_usage import StreamUsage
from tokenomy.record import Source

if TYPE_CHECKING:
    from tokenomy.api.app import AnalyticsApi
    from tokenomy.keys import KeyInfo, KeyRing

__all__ = ["ClientError", "Gateway", "StreamUsage"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("tokenomy.gateway")

MAX_BODY_BYTES = 32 * 1024 * 1024
API_PREFIX = "/api/v1"  # the analytics API, when the server was given one
# How often the key list is re-read, so a revoked key stops working within this many seconds.
KEY_REFRESH_SECONDS = 10.0
_ROUTES: dict[str, tuple[Protocol, Operation]] = {
    "/v1/chat/completions": ("openai", "chat"),
    "/chat/completions": ("openai", "chat"),
    "/v1/embeddings": ("openai", "embeddings"),
    "/embeddings": ("openai", "embeddings"),
    "/v1/messages": ("anthropic", "messages"),
}


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        recorder: Recorder | None = None,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        load_keys: Callable[[], KeyRing] | None = None,
        load_config: Callable[[], GatewayConfig] | None = None,
        capture_content: bool = False,
        workers: int = 1,
        source: str = Source.GATEWAY,
        api: AnalyticsApi | None = None,
    ) -> None:
        self.source = source
        self.api = api
        self.config = config
        self.recorder = recorder
        self.max_body_bytes = max_body_bytes
        self.router = Router(config.router, workers=workers)
        self.capture_content = capture_content
        self._load_keys = load_keys
        self._load_config = load_config
        self._keys: KeyRing | None = None
        self._keys_loaded_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._proxy: Proxy | None = None
        self._tasks: set[asyncio.Task[None]] = set()

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
            self._proxy = Proxy(self._session, self.router)
        if self._load_keys is not None:
            await self._refresh_keys()
            self._spawn(self._refresh_keys_forever())
        if self._load_config is not None:
            # SIGHUP re-reads the config. (With several workers uvicorn's supervisor takes
            # SIGHUP itself and replaces the workers one by one, which reads it too.)
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(
                    signal.SIGHUP, lambda: self._spawn(self.reload())
                )

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._proxy = None
        if self.recorder is not None:
            # Every recorded call reaches the database before the process ends.
            await asyncio.to_thread(self.recorder.close)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self) -> None:
        """Re-read the config (and the keys). Requests in flight keep the deployments they
        started with; a config that does not load is reported and the old one kept."""
        if self._load_config is not None:
            try:
                config = await asyncio.to_thread(self._load_config)
            except Exception as exc:  # any config error: keep serving with the old one
                log.error("config not reloaded, keeping the previous one: %s", exc)
            else:
                self.config = config
                self.router.settings = config.router
                log.warning("config reloaded: %d model aliases", len(config.aliases))
        if self._load_keys is not None:
            await self._refresh_keys()

    async def _refresh_keys(self) -> None:
        assert self._load_keys is not None
        try:
            self._keys = await asyncio.to_thread(self._load_keys)
            self._keys_loaded_at = time.monotonic()
        except Exception as exc:  # the database is away: keep the keys we know
            log.error("virtual keys not reloaded: %s", exc)

    async def _refresh_keys_forever(self) -> None:
        while True:
            await asyncio.sleep(KEY_REFRESH_SECONDS)
            await self._refresh_keys()

    # -- requests -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        client_protocol: Protocol = "anthropic" if "anthropic-version" in headers else "openai"
        try:
            if method == "GET" and path == "/health":
                await _send_json(send, 200, {"status": "ok"})
                return
            key = await self._authenticate(headers)
            if self.api is not None and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
                # Spend data: the same key rule as the gateway (checked just above).
                await self.api.handle(scope, send)
                return
            if self.api is not None and method == "GET" and path == "/metrics":
                await self.api.metrics(send)  # Prometheus; spend data, so behind keys too
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
            request.authenticated = key is not None
            await self._serve(request, key, receive, send)
        except ClientError as exc:
            await _send_error(send, client_protocol, exc)

    async def _authenticate(self, headers: dict[str, str]) -> KeyInfo | None:
        """The virtual key the request carries. Once any key exists, every request needs
        one; before that the gateway is open (and bound to loopback unless --insecure)."""
        keys = self._keys
        if keys is None or not keys.configured:
            return None
        secret = _presented_key(headers)
        if secret is None:
            raise ClientError(
                401,
                "this gateway needs a tokenomy key: send it as the API key "
                "(Authorization: Bearer tk-... or x-api-key: tk-...)",
                "missing_api_key",
            )
        info = keys.lookup(secret)
        stale = time.monotonic() - self._keys_loaded_at > 1.0
        if info is None and stale and not keys.is_revoked(secret):
            # Perhaps created since the last refresh: look again, at most once a second.
            await self._refresh_keys()
            info = self._keys.lookup(secret) if self._keys is not None else None
        if info is None:
            raise ClientError(401, "invalid or revoked tokenomy key", "invalid_api_key")
        return info

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

    def _chain(self, alias: str) -> list[tuple[str, list[Deployment]]]:
        """The alias's deployments, then each fallback alias's, in the order to try them."""
        config = self.config
        deployments = config.deployments(alias)
        if deployments is None:
            known = ", ".join(sorted(config.aliases)) or "none configured"
            raise ClientError(404, f"unknown model {alias!r} (known: {known})", "model_not_found")
        chain = [(alias, deployments)]
        for fallback in config.fallbacks.get(alias, []):
            chain.append((fallback, config.aliases[fallback]))
        return chain

    async def _serve(
        self, request: Request, key: KeyInfo | None, receive: Receive, send: Send
    ) -> None:
        alias = request.json.get("model")
        if not isinstance(alias, str) or not alias:
            raise ClientError(400, "the request has no 'model'", "missing_model")
        chain = self._chain(alias)
        trace = CallTrace(operation=request.operation, alias=alias, source=self.source)
        trace.stream = request.json.get("stream") is True
        _attribute(trace, request.headers, key)
        if self.capture_content:
            trace.request_text = request.body.decode("utf-8", "replace")
            trace.response_parts = []
        assert self._proxy is not None, "gateway not started"
        try:
            reply = _TrackedSend(send)
            await _unless_client_leaves(
                self._proxy.forward(request, chain, trace, reply), receive, trace, reply
            )
        except ClientError as exc:
            trace.fail(exc.code or "client_error", exc.message, exc.status)
            raise
        finally:
            if self.recorder is not None:
                self.recorder.record(trace)


class _TrackedSend:
    """``send`` that knows when the response has started and when it was sent whole."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.complete = False

    async def __call__(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
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


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key") or headers.get("api-key") or None


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


def _attribute(trace: CallTrace, headers: dict[str, str], key: KeyInfo | None) -> None:
    """Attribution from headers; a virtual key's own project and user win over them, so a
    key handed to a team cannot book its spend to another team."""
    trace.project = headers.get("x-tokenomy-project") or None
    trace.user = headers.get("x-tokenomy-user") or None
    trace.session = headers.get("x-tokenomy-session") or None
    tags = headers.get("x-tokenomy-tags")
    if tags:
        trace.tags = [t.strip() for t in tags.split(",") if t.strip()]
    if key is not None:
        trace.api_key_id = key.id
        trace.project = key.project or trace.project
        trace.user = key.user or trace.user


async def _send_json(send: Send, status: int, value: Any) -> None:
    await _send_body(send, status, orjson.dumps(value))


async def _send_error(send: Send, protocol: Protocol, exc: ClientError) -> None:
    body = error_body(protocol, exc.status, exc.message, exc.code)
    await _send_body(send, exc.status, body, exc.headers)


async def _send_body(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
