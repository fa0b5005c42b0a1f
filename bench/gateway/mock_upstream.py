"""A stand-in for an OpenAI-compatible provider: ``POST /v1/chat/completions`` answers after
50 ms with a fixed body that carries ``usage`` (or, with ``"stream": true``, a fixed SSE
stream whose last chunk carries it).

    .venv/bin/python bench/gateway/mock_upstream.py --port 18431 [--delay-ms 50] [--processes 1]

The benchmark subtracts the latency measured straight against this server from the latency
through each proxy, so the mock must never be the bottleneck: it runs aiohttp on uvloop,
answers from pre-encoded bytes, parses a request only as far as ``stream``, and can run
several processes on one port (SO_REUSEPORT) if one is not enough. ``GET /health`` answers
at once, for start-up checks.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import sys

import orjson
import uvloop
from aiohttp import web

# A dated snapshot id, as OpenAI returns: both proxies then price the call (the gateway's
# recorder does, LiteLLM's cost tracking does), which is part of the work being compared.
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33}

CHAT_BODY = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The answer is 42, as always."},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
        "system_fingerprint": "fp_bench",
    }
)


def _chunk(delta: dict[str, str], finish: str | None = None, usage: bool = False) -> bytes:
    choices = [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]
    event: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": RESPONSE_MODEL,
        "choices": choices,
    }
    if usage:
        event["usage"] = USAGE
    return b"data: " + orjson.dumps(event) + b"\n\n"


# OpenAI's shape: role first, content in pieces, the finish reason, then (because clients
# and proxies ask for it with stream_options.include_usage) a usage-only chunk, then [DONE].
STREAM_BODY = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        *(_chunk({"content": piece}) for piece in ("The answer", " is 42,", " as always.")),
        _chunk({}, finish="stop"),
        _chunk({}, usage=True),
        b"data: [DONE]\n\n",
    ]
)


def build_app(delay: float) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            stream = orjson.loads(raw).get("stream") is True
        except (orjson.JSONDecodeError, AttributeError):
            return web.json_response({"error": {"message": "bad JSON"}}, status=400)
        await asyncio.sleep(delay)
        if not stream:
            return web.Response(body=CHAT_BODY, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(STREAM_BODY)
        await response.write_eof()
        return response

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=32 << 20)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", health)
    return app


async def _serve(host: str, port: int, delay: float, reuse_port: bool) -> None:
    runner = web.AppRunner(build_app(delay), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def serve(host: str, port: int, delay: float, reuse_port: bool) -> None:
    uvloop.run(_serve(host, port, delay, reuse_port))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18431)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="answer after (default 50)")
    parser.add_argument(
        "--processes", type=int, default=1, help="processes sharing the port (default 1)"
    )
    args = parser.parse_args(argv)
    delay = args.delay_ms / 1000
    if args.processes <= 1:
        serve(args.host, args.port, delay, reuse_port=False)
        return 0
    # Children get SIGTERM from us; each runs its own loop on the shared port.
    children = [
        multiprocessing.Process(target=serve, args=(args.host, args.port, delay, True))
        for _ in range(args.processes)
    ]
    for child in children:
        child.start()

    def stop(_sig: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
