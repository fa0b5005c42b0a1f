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
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import aiohttp
import orjson

from tokenomy.api.params import ApiError
from tokenomy.asgi_body import BodyTooLargeError, read_body
from tokenomy.cache.keys import prefix_hash, prompt_hash
from tokenomy.dashboard import live
from tokenomy.dashboard.assets import Assets
from tokenomy.gateway.budget_guard import BudgetGuard, Ticket
from tokenomy.gateway.config import Deployment, GatewayConfig
from tokenomy.gateway.errors import error_body
from tokenomy.gateway.exchange import TrackedSend, then_settle, unless_client_leaves
from tokenomy.gateway.model_routes import (
    COUNT_TOKENS_PATH,
    anthropic_deployment,
    model_entry,
    model_id,
    model_list,
    relay_count_tokens,
)
from tokenomy.gateway.monitor import GatewayMonitor
from tokenomy.gateway.off_loop import run_blocking
from tokenomy.gateway.providers import Operation, Protocol
from tokenomy.gateway.proxy import ClientError, Proxy, Request
from tokenomy.gateway.recorder import CallTrace, Recorder
from tokenomy.gateway.request_json import parse_json_body
from tokenomy.gateway.response_cache import Capture, ResponseCache
from tokenomy.gateway.router import Router
from tokenomy.gateway.same_site import refusal
from tokenomy.gateway.stream_usage import StreamUsage
from tokenomy.record import CallRecord, Source
from tokenomy.store.db import Database

if TYPE_CHECKING:
    from tokenomy.api.app import AnalyticsApi
    from tokenomy.keys import KeyInfo, KeyRing

__all__ = ["ClientError", "Gateway", "StreamUsage"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("tokenomy.gateway")
SEMANTIC_SAVE_SECONDS = 300.0

MAX_BODY_BYTES = 32 * 1024 * 1024
API_PREFIX = "/api/v1"  # the analytics API, when the server was given one
LIVE_PATH = API_PREFIX + "/live"  # server-sent events for the dashboard
GATEWAY_PATH = API_PREFIX + "/gateway"  # this worker's deployments and latest calls
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
        budget_db: Database | None = None,
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
        self._keys_loaded_at = 0.0  # monotonic: when the keys in use were read
        self._reload: asyncio.Future[None] | None = None  # the next reload for unknown keys
        self._session: aiohttp.ClientSession | None = None
        self._proxy: Proxy | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.monitor = GatewayMonitor()
        self.cache = ResponseCache(config.cache)
        self._assets = Assets()
        # Budgets price estimates as the recorder prices calls, and seed a period's spend
        # from the database on a connection of their own.
        catalog = recorder.catalog if recorder is not None else None
        self._own_db = Database(api.db.url) if budget_db is None and api is not None else None
        self.budgets = BudgetGuard(config.budgets, catalog, budget_db or self._own_db)

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
        if self.cache.semantic is not None and self.cache.semantic.path is not None:
            self._spawn(self._save_semantic_forever())
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
        await self.cache.close()
        await self.budgets.close()
        if self._own_db is not None:
            self._own_db.close()
        if self.recorder is not None:
            # Every recorded call reaches the database before the process ends.
            await run_blocking(self.recorder.close)

    async def _save_semantic_forever(self) -> None:
        """The semantic index is saved at shutdown, and every few minutes when it changed:
        a crash (kill -9, a lost machine) loses only the last minutes' entries."""
        semantic = self.cache.semantic
        assert semantic is not None
        while True:
            await asyncio.sleep(SEMANTIC_SAVE_SECONDS)
            try:
                await asyncio.to_thread(semantic.save_if_changed)
            except Exception as exc:  # a full disk must not stop the gateway
                log.error("semantic cache not saved (will try again): %s", exc)

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
                if config.cache != self.config.cache:
                    old, self.cache = self.cache, ResponseCache(config.cache)
                    await old.close()
                if config.budgets != self.config.budgets:
                    # Calls in flight settle on the guard that reserved for them.
                    self.budgets = self.budgets.successor(config.budgets)
                self.config = config
                self.router.settings = config.router
                log.warning("config reloaded: %d model aliases", len(config.aliases))
        if self._load_keys is not None:
            await self._refresh_keys()

    async def _refresh_keys(self) -> None:
        assert self._load_keys is not None
        try:
            started = time.monotonic()
            self._keys = await asyncio.to_thread(self._load_keys)
            self._keys_loaded_at = started  # a key created after this may be missing
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
        # The protocol whose error shape the client reads: its endpoint's, known before any
        # check (a 401 on /v1/messages is Anthropic's even without anthropic-version).
        known = _ROUTES.get(path)
        client_protocol: Protocol = (
            known[0]
            if known is not None
            else ("anthropic" if "anthropic-version" in headers else "openai")
        )
        try:
            # HEAD as GET: load balancers and uptime checks probe with it (the server
            # sends no body for a HEAD).
            if method in ("GET", "HEAD") and path == "/health":
                await _send_json(send, 200, {"status": "ok"})
                return
            # The dashboard's files hold no data (the API behind them asks for a key).
            if self.api is not None and await self._assets.serve(path, headers, send, method):
                return
            if self._keys is None or not self._keys.configured:
                why = refusal(scope.get("server"), headers)
                if why is not None:
                    raise ClientError(403, why, "forbidden")
            key = await self._authenticate(headers)
            # A key tied to a project or user reads only those calls (KeyInfo.reads).
            reads = key.reads if key is not None else {}
            if self.api is not None and path in (LIVE_PATH, GATEWAY_PATH) and method == "GET":
                if reads and path == GATEWAY_PATH:
                    raise _unscoped_only(reads, "the gateway's state (every tenant's calls)")
                await self._live(path, scope, receive, send, reads)
                return
            if self.api is not None and (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
                # Spend data: the same key rule as the gateway (checked just above).
                await self.api.handle(scope, send, receive, reads)
                return
            if self.api is not None and method in ("GET", "HEAD") and path == "/metrics":
                if reads:  # every tenant's series, with no filter to apply
                    raise _unscoped_only(reads, "/metrics")
                await self.api.metrics(send)  # Prometheus; spend data, so behind keys too
                return
            if method == "GET" and path in ("/v1/models", "/models"):
                await _send_json(send, 200, model_list(self.config.aliases, client_protocol))
                return
            if method == "GET" and (name := model_id(path)) is not None:
                if self.config.deployments(name) is None:
                    raise ClientError(404, f"no model {name!r} here", "not_found_error")
                await _send_json(send, 200, model_entry(name, client_protocol))
                return
            if path == COUNT_TOKENS_PATH:
                if method != "POST":
                    raise ClientError(405, f"{path} takes POST, not {method}", "method_not_allowed")
                await self._count_tokens(headers, key, receive, send)
                return
            route = _ROUTES.get(path)
            if route is None:
                raise ClientError(404, f"no such endpoint: {method} {path}", "not_found")
            client_protocol = route[0]
            if method != "POST":
                raise ClientError(405, f"{path} takes POST, not {method}", "method_not_allowed")
            body = await self._read_body(receive, headers)
            request = Request(route[0], route[1], headers, body, parse_json_body(body))
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
        asked = time.monotonic()
        for _ in range(2):  # twice at most: the database may be away, the reload failing
            if info is not None or keys.is_revoked(secret) or self._keys_loaded_at >= asked:
                break
            # Perhaps created since the keys were read: wait for a reload that started
            # after this request (one a second at most, shared by every unknown key, so a
            # client sending a bad key cannot keep new keys from working).
            await self._reload_keys_soon()
            keys = self._keys if self._keys is not None else keys
            info = keys.lookup(secret)
        if info is None:
            raise ClientError(401, "invalid or revoked tokenomy key", "invalid_api_key")
        return info

    async def _reload_keys_soon(self) -> None:
        """Wait for the next reload of the keys, starting one if none is under way; reloads
        are at least a second apart."""
        reload = self._reload
        if reload is None or reload.done():

            async def run() -> None:
                wait = 1.0 - (time.monotonic() - self._keys_loaded_at)
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._refresh_keys()

            reload = self._reload = asyncio.ensure_future(run())
            self._tasks.add(reload)  # cancelled at shutdown like the other background tasks
            reload.add_done_callback(self._tasks.discard)
        await asyncio.shield(reload)

    def gateway_state(self) -> dict[str, Any]:
        return self.monitor.snapshot(self.config, self.router)

    async def _live(
        self, path: str, scope: Scope, receive: Receive, send: Send, reads: Mapping[str, str]
    ) -> None:
        assert self.api is not None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        try:
            with_gateway, interval = _live_params(query, path == GATEWAY_PATH)
            if with_gateway and reads:
                raise ApiError(
                    403,
                    "gateway=1 shows every tenant's latest calls: it needs a key with no "
                    "project or user (docs/keys.md)",
                    "gateway",
                )
        except ApiError as exc:
            await _send_json(send, exc.status, exc.to_json())
            return
        if path == GATEWAY_PATH:
            await _send_json(send, 200, self.gateway_state())
            return
        await live.stream(
            self.api.db,
            receive,
            send,
            interval=interval,
            snapshot=self.gateway_state if with_gateway else None,
            reads=reads,
        )

    async def _count_tokens(
        self, headers: dict[str, str], key: KeyInfo | None, receive: Receive, send: Send
    ) -> None:
        """Anthropic's token count, relayed to the alias's Anthropic deployment."""
        body = await self._read_body(receive, headers)
        request = Request("anthropic", "messages", headers, body, parse_json_body(body))
        request.authenticated = key is not None
        alias = request.json.get("model")
        if not isinstance(alias, str) or not alias:
            raise ClientError(400, "the request has no 'model'", "missing_model")
        deployments = [d for _, chain in self._chain(alias) for d in chain]
        deployment = anthropic_deployment(alias, deployments)
        request.addressed = deployments[0]
        if self._session is None:  # before start-up: no connection pool yet
            raise ClientError(503, "the gateway is starting; try again", "overloaded_error")
        await relay_count_tokens(self._session, request, deployment, send)

    async def _read_body(self, receive: Receive, headers: dict[str, str]) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise ClientError(413, f"request body over {self.max_body_bytes} bytes", "too_large")
        try:
            return await read_body(receive, self.max_body_bytes)
        except BodyTooLargeError as exc:
            raise ClientError(413, str(exc), "too_large") from exc

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
        options = request.json.get("stream_options")
        if request.protocol == "openai" and options is not None and not isinstance(options, dict):
            # Refused here, before any provider: the gateway adds include_usage to it.
            raise ClientError(
                400,
                'stream_options must be an object such as {"include_usage": true}, '
                f"got {type(options).__name__}",
                "invalid_request",
            )
        chain = self._chain(alias)
        trace = CallTrace(operation=request.operation, alias=alias, source=self.source)
        trace.stream = request.json.get("stream") is True
        trace.prompt_hash = prompt_hash(request.normalised())
        trace.prefix_hash = prefix_hash(request.protocol, request.operation, request.json)
        _attribute(trace, request.headers, key)
        if self.capture_content:
            trace.request_text = request.body.decode("utf-8", "replace")
            trace.response_parts = []
        # The tenant is the key's: a key holder's x-tokenomy-project header attributes the
        # call, it never opens another project's cached answers.
        tenant_project = key.project if key is not None else trace.project
        plan = self.cache.plan(request, alias, key.id if key else None, tenant_project)
        if plan is not None and plan.read:
            found = await self.cache.lookup(plan)
            if found is not None:
                try:
                    await self.cache.replay(*found[:2], send, trace, found[2])
                finally:
                    self._finished(trace)
                return  # a hit costs nothing: no budget is reserved or spent
        guard = self.budgets
        try:
            ticket = await guard.reserve(request, chain, trace, key)
        except ClientError as exc:  # over a hard budget, or budgets unavailable and closed
            trace.fail(exc.code or "client_error", exc.message, exc.status)
            self._finished(trace)
            raise
        reply = TrackedSend(send)
        if plan is not None:
            reply.marker = b"miss" if plan.read else b"bypass"
            if plan.write:
                # Kept just before the answer's last bytes go out: by then the call is
                # settled (usage, status, errors), and a repeat sent the moment the client
                # has its answer already finds it.
                capture = reply.capture = Capture()
                reply.before_end = lambda: self.cache.keep(plan, capture, trace)
        if ticket is not None:
            reply.before_end = then_settle(reply.before_end, guard, ticket, trace)
        assert self._proxy is not None, "gateway not started"
        try:
            await unless_client_leaves(
                self._proxy.forward(request, chain, trace, reply), receive, trace, reply
            )
        except ClientError as exc:
            trace.fail(exc.code or "client_error", exc.message, exc.status)
            raise
        finally:
            await self._settle(guard, ticket, trace, self._finished(trace))

    def _finished(self, trace: CallTrace) -> CallRecord | None:
        """Recorded, and shown on the Gateway page (with the record's id, so a row there
        opens the call)."""
        record = self.recorder.record(trace) if self.recorder is not None else None
        self.monitor.finished(trace, None if record is None else record.id)
        return record

    @staticmethod
    async def _settle(
        guard: BudgetGuard, ticket: Ticket | None, trace: CallTrace, record: CallRecord | None
    ) -> None:
        # Unless settled as the answer ended: at the recorded cost, 0 before any tokens.
        if ticket is not None:
            await guard.settle(ticket, trace, record)


def _live_params(query: dict[str, list[str]], state_only: bool) -> tuple[bool, float]:
    """``/api/v1/gateway`` takes nothing; ``/api/v1/live`` takes ``gateway`` (0 or 1) and
    ``interval`` (seconds, 0.2-30): anything else is a 422 naming it, as the API's are."""
    allowed = () if state_only else ("gateway", "interval")
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) or "no parameters"
        raise ApiError(
            422, f"unknown parameter {', '.join(unknown)}; this takes: {takes}", unknown[0]
        )
    flag = query.get("gateway", ["0"])[0]
    if flag not in ("0", "1"):
        raise ApiError(422, f"gateway must be 0 or 1 (got {flag!r})", "gateway")
    text = query.get("interval", [str(live.DEFAULT_INTERVAL)])[0]
    try:
        interval = float(text)
    except ValueError:
        interval = -1.0
    if not 0.2 <= interval <= 30:
        raise ApiError(422, f"interval must be 0.2 to 30 seconds (got {text!r})", "interval")
    return flag == "1", interval


def _unscoped_only(reads: Mapping[str, str], what: str) -> ClientError:
    tied = " and ".join(f"{dim} {value!r}" for dim, value in reads.items())
    return ClientError(
        403,
        f"this key reads the calls of {tied} only; {what} needs a key with no project or "
        "user (tokenomy keys create --name admin)",
        "forbidden",
    )


def _presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get("x-api-key") or headers.get("api-key") or None


def _text(value: str | None) -> str | None:
    """A header value as the client meant it: HTTP carries bytes, read here as Latin-1;
    curl, Go and Node send UTF-8 (``Zürich`` must not become ``ZÃ¼rich``, which no budget
    or filter on ``Zürich`` matches). Bytes that are not UTF-8 stay Latin-1."""
    if not value:
        return None
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _attribute(trace: CallTrace, headers: dict[str, str], key: KeyInfo | None) -> None:
    """Attribution from headers; a virtual key's own project and user win over them, so a
    key handed to a team cannot book its spend to another team."""
    trace.org = _text(headers.get("x-tokenomy-org"))
    trace.project = _text(headers.get("x-tokenomy-project"))
    trace.user = _text(headers.get("x-tokenomy-user"))
    trace.session = _text(headers.get("x-tokenomy-session"))
    tags = _text(headers.get("x-tokenomy-tags"))
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
