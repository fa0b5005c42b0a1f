"""What the dashboard's Gateway page shows live: the calls this worker finished lately and
the state of every deployment (circuit, in-flight, rpm/tpm windows).

Kept in memory, per worker process: the state lives in the worker's router, and reading it
must cost the request path nothing (one append to a bounded deque per call). With several
workers, each answer is the view of the worker that served it, and says which one it was.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from tokenomy.gateway.config import GatewayConfig
from tokenomy.gateway.recorder import CallTrace
from tokenomy.gateway.router import Router

# Calls kept for the live list and the window figures; a busy gateway turns these over in
# seconds, a quiet one keeps its last few minutes.
RECENT_CALLS = 500
WINDOW_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class FinishedCall:
    at_ms: int
    finished: float  # monotonic, for the window
    alias: str
    provider: str | None
    model: str | None
    stream: bool
    status: int | None
    error_type: str | None
    duration_ms: int
    ttft_ms: int | None
    tokens: int
    attempts: int
    call_id: str | None = None  # the call record's id (None when nothing is recorded)

    @property
    def failed(self) -> bool:
        return self.error_type is not None or (self.status is not None and self.status >= 400)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at_ms),
            "alias": self.alias,
            "provider": self.provider,
            "model": self.model,
            "stream": self.stream,
            "status": self.status,
            "failed": self.failed,
            "error_type": self.error_type,
            "duration_ms": self.duration_ms,
            "ttft_ms": self.ttft_ms,
            "tokens": self.tokens,
            "attempts": self.attempts,
            "id": self.call_id,
        }


class GatewayMonitor:
    def __init__(self, limit: int = RECENT_CALLS) -> None:
        self._recent: deque[FinishedCall] = deque(maxlen=limit)
        self.started_ms = int(time.time() * 1000)

    def finished(self, trace: CallTrace, call_id: str | None = None) -> None:
        usage = trace.usage
        self._recent.append(
            FinishedCall(
                at_ms=trace.started_ms,
                finished=time.monotonic(),
                alias=trace.served_alias or trace.alias,
                provider=trace.provider,
                model=trace.response_model or trace.deployment_model,
                stream=trace.stream,
                status=trace.status,
                error_type=trace.error_type,
                duration_ms=round((time.perf_counter() - trace.t0) * 1000),
                ttft_ms=trace.ttft_ms,
                tokens=usage.total if usage is not None else 0,
                attempts=trace.attempts,
                call_id=call_id,
            )
        )

    def snapshot(self, config: GatewayConfig, router: Router, recent: int = 50) -> dict[str, Any]:
        now = time.monotonic()
        calls = list(self._recent)
        window = [c for c in calls if now - c.finished <= WINDOW_SECONDS]
        return {
            "worker": {"pid": os.getpid(), "workers": router.workers},
            "started_at": _iso(self.started_ms),
            "models": _models(config, router),
            "window": _window(window),
            "recent": [c.to_json() for c in reversed(calls[-recent:])],
        }


def _models(config: GatewayConfig, router: Router) -> list[dict[str, Any]]:
    wall, now = time.time(), router.clock()
    out = []
    for alias, deployments in sorted(config.aliases.items()):
        rows = []
        for d in deployments:
            state = router.state(d)
            if state.circuit_open:
                circuit = (
                    "half-open" if state.trial_in_flight or state.not_before <= now else "open"
                )
            else:
                circuit = "closed"
            refusal = router.refusal(d)
            rows.append(
                {
                    "label": d.label,
                    "provider": d.provider.name,
                    "model": d.model,
                    "weight": d.weight,
                    "rpm": d.rpm,
                    "tpm": d.tpm,
                    "in_flight": state.in_flight,
                    "circuit": circuit,
                    "consecutive_failures": state.consecutive_failures,
                    "cooling_seconds": round(max(0.0, state.not_before - now), 1),
                    "requests_last_minute": state.requests.total(wall),
                    "tokens_last_minute": state.tokens.total(wall),
                    "available": refusal is None,
                    "refusal": None if refusal is None else refusal.detail,
                }
            )
        out.append(
            {
                "alias": alias,
                "fallbacks": config.fallbacks.get(alias, []),
                "deployments": rows,
            }
        )
    return out


def _window(calls: list[FinishedCall]) -> dict[str, Any]:
    durations = sorted(c.duration_ms for c in calls)
    ttfts = sorted(c.ttft_ms for c in calls if c.ttft_ms is not None)
    failed = sum(1 for c in calls if c.failed)
    return {
        "seconds": int(WINDOW_SECONDS),
        "calls": len(calls),
        "failed_calls": failed,
        "error_rate": round(failed / len(calls), 6) if calls else 0.0,
        "latency_ms": {"p50": _quantile(durations, 0.5), "p95": _quantile(durations, 0.95)},
        "ttft_ms": {"p50": _quantile(ttfts, 0.5), "p95": _quantile(ttfts, 0.95)},
    }


def _quantile(values: list[int], q: float) -> int | None:
    """Nearest-rank quantile of sorted ``values`` (exact: the window holds at most 500)."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, int(q * len(values) + 0.999999) - 1))]


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
