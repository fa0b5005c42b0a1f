"""Real `tokenomy serve` processes sharing Redis and PostgreSQL, and a crowd of OpenAI SDK
clients that spend a key's budget through them until refused. Used by the replica test
and by bench/budget_overspend.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import openai

HI: Any = [{"role": "user", "content": "hi"}]
MAX_CALLS_PER_CLIENT = 5000  # a stop, should refusals never come


@dataclass
class Tally:
    served: int = 0
    refused: int = 0  # the final refusal of each client: the budget is used up
    held: int = 0  # refused while calls in flight held the rest (retried at once)
    served_by_port: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def hammer(ports: list[int], secret: str, clients: int, max_tokens: int) -> Tally:
    """``clients`` threads, spread over the replicas, each calling until the budget is
    used up (a 429 that says not to retry); a 429 because calls in flight hold what is
    left is retried at once."""
    tally = Tally(served_by_port=dict.fromkeys(ports, 0))
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        port = ports[index % len(ports)]
        sdk = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=secret, max_retries=0, timeout=30
        )
        served = held = 0
        start.wait()
        try:
            for _ in range(MAX_CALLS_PER_CLIENT):
                try:
                    sdk.chat.completions.create(model="fast", messages=HI, max_tokens=max_tokens)
                    served += 1
                except openai.RateLimitError as exc:
                    if exc.code != "budget_exceeded":
                        raise
                    if exc.response.headers.get("x-should-retry") == "false":
                        with lock:
                            tally.refused += 1
                        return
                    held += 1
            raise RuntimeError(f"no refusal after {MAX_CALLS_PER_CLIENT} calls")
        except Exception as exc:
            with lock:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            sdk.close()
            with lock:
                tally.served += served
                tally.held += held
                tally.served_by_port[port] += served

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.seconds = time.perf_counter() - t0
    return tally
