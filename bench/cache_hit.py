"""Response-cache hit path: how long the gateway takes to answer a repeated request from
its exact cache, in-process, side by side with LiteLLM's in-process cache.

    .venv/bin/python bench/cache_hit.py [--requests 20000] [--redis URL]
        [--litellm-python /path/to/venv/bin/python] [--json]

Ours: the whole gateway request for a hit (ASGI scope in, response out: headers, JSON body,
key, lookup, replay, the call record put on the writer's queue) with the in-process store,
the SQLite store and, with --redis, Redis; no network between client and gateway, so the
figure is what the cache adds to a call, not a socket's latency. LiteLLM (optional: pass
the Python of a venv where `pip install litellm` was run): `litellm.completion(...,
caching=True)` with its in-memory cache, answering the same repeated request. Neither side
calls a provider: the entry is stored once before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tokenomy.cache.entry import CachedResponse  # noqa: E402
from tokenomy.cache.keys import request_key  # noqa: E402
from tokenomy.gateway.app import Gateway  # noqa: E402
from tokenomy.gateway.config import parse_config  # noqa: E402
from tokenomy.gateway.recorder import Recorder  # noqa: E402
from tokenomy.pricing import PriceCatalog  # noqa: E402
from tokenomy.record import TokenUsage  # noqa: E402
from tokenomy.store import BatchWriter, open_database  # noqa: E402

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant. " * 20},
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
]
BODY = json.dumps({"model": "fast", "messages": MESSAGES, "temperature": 0}).encode()
ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 140, "completion_tokens": 2, "total_tokens": 142},
    }
).encode()

LITELLM_SCRIPT = """
import json, sys, time, statistics
import litellm
from litellm.caching.caching import Cache
litellm.cache = Cache()  # in-memory
messages = json.loads(sys.argv[2])
kw = dict(model="gpt-4o-mini", messages=messages, temperature=0, caching=True,
          mock_response="Paris.")
litellm.completion(**kw)  # stored
n = int(sys.argv[1])
times = []
for _ in range(n):
    t = time.perf_counter()
    r = litellm.completion(**kw)
    times.append(time.perf_counter() - t)
assert r.choices[0].message.content == "Paris."
times.sort()
assert r._hidden_params.get("cache_hit"), "LiteLLM did not answer from its cache"
print(json.dumps({"p50_ms": times[len(times)//2]*1000, "p99_ms": times[int(len(times)*0.99)]*1000}))
"""


def _gateway(cache: dict[str, Any], db_path: Path) -> Gateway:
    deployment = {"provider": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9"}
    raw = {"models": {"fast": [deployment]}, "cache": cache}
    config = parse_config(raw, Path("bench.yaml"), {})
    db = open_database(f"sqlite:///{db_path}")
    return Gateway(config, Recorder(BatchWriter(db, flush_interval=0.2), PriceCatalog.load(None)))


async def _request(gw: Gateway) -> bytes:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer k")],
        "query_string": b"",
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": BODY, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    out: list[bytes] = []
    status = 0

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            out.append(message.get("body", b""))

    await gw(scope, receive, send)
    assert status == 200, (status, b"".join(out)[:300])
    return b"".join(out)


async def measure(cache: dict[str, Any], n: int, work: Path) -> dict[str, float]:
    gw = _gateway(cache, work / f"calls-{cache['backend']}.db")
    await gw.startup()
    key = request_key("default", "openai", "chat", json.loads(BODY))
    usage = TokenUsage(input_tokens=140, output_tokens=2)
    entry = CachedResponse(ANSWER, created_ms=int(time.time() * 1000), model="gpt-4o-mini",
                           provider="openai", usage=usage)  # fmt: skip
    await gw.cache.store.put(key, entry, 3600)
    assert await _request(gw) == ANSWER
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await _request(gw)
        times.append(time.perf_counter() - t)
    await gw.shutdown()
    times.sort()
    return {
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "mean_ms": statistics.fmean(times) * 1000,
    }


def litellm_figures(python: str, n: int) -> dict[str, Any]:
    # LiteLLM would fetch its price map from GitHub at import; its packaged copy is used.
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        [python, "-c", LITELLM_SCRIPT, str(n), json.dumps(MESSAGES)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--redis", metavar="URL", help="also measure the Redis store")
    parser.add_argument("--litellm-python", metavar="PYTHON", help="a Python with litellm")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backends: list[dict[str, Any]] = [
            {"backend": "memory"},
            {"backend": "sqlite", "path": str(work / "cache.db")},
        ]
        if args.redis:
            backends.append({"backend": "redis", "redis_url": args.redis})
        for backend in backends:
            cache = {"aliases": {"fast": "exact"}, **backend}
            results[f"tokenomy_{backend['backend']}"] = asyncio.run(
                measure(cache, args.requests, work)
            )
    if args.litellm_python:
        results["litellm_memory"] = litellm_figures(args.litellm_python, args.requests)
    print(f"{'cache hit, in-process':<28} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in results.items():
        print(f"{name:<28} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f}")
    command = f"python bench/cache_hit.py --requests {args.requests}"
    if args.redis:
        command += f" --redis {args.redis}"
    if args.litellm_python:
        command += " --litellm-python PYTHON_WITH_LITELLM"
    print(f"reproduce: {command}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
