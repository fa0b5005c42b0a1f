"""Calls the advisor tests share, on 2026-11-01 (UTC), with what each prefix paid and what
the advice costs worked out by hand below. Prices (per million tokens): Sonnet 4.5 input
$3, 5-minute write $3.75, 1-hour write $6, read $0.30; gpt-4o input $2.50, read $1.25.

- ``pfx-tools`` (prefix hash, Sonnet): the same 10,000-token prompt every 10 minutes, each
  call writing it to the 5-minute cache again: 4 x $0.0375 = $0.15 paid. With 1-hour writes:
  $0.06 + 3 x $0.003 = $0.069, saving $0.081.
- ``sess-chat`` (session, Sonnet, no caching): prompts of 10,000, 11,000 and 12,000 tokens a
  minute apart: 33,000 x $3 = $0.099 paid. A 5-minute breakpoint: write 10,000 ($0.0375),
  then read 10,000 + write 1,000 ($0.00675), read 11,000 + write 1,000 ($0.00705):
  $0.0513, saving $0.0477 (1-hour writes: $0.0783).
- ``dup-prompt`` (prompt hash, gpt-4o, nothing cached): 3 x 2,000 tokens a minute apart:
  $0.015 paid. Automatic caching: 2,000 input ($0.005), then twice 1,920 read ($0.0024) +
  80 input ($0.0002): $0.0102, saving $0.0048.
- No advice: ``sess-good`` (already reads its prefix), ``sess-short`` (gpt-4o under 1,024
  tokens), ``sess-gemini`` (a provider whose cache is not modelled).
"""

from __future__ import annotations

from typing import Any

from tests.api.insight_records import MINUTE, SONNET, T0, call

from tokenomy.record import CallRecord, TokenUsage

GPT = "gpt-4o"
# The range every test asks for: one day, so savings per 30 days are 30 times the day's.
SINCE, UNTIL = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"
NOW_MS = T0 + 3 * 86_400_000


def _u(inp: int, read: int = 0, write: int = 0) -> TokenUsage:
    return TokenUsage(
        input_tokens=inp, cache_read_tokens=read, cache_write_tokens=write, output_tokens=50
    )


def _series(
    name: str, start: int, step_min: int, usages: list[TokenUsage], **kw: Any
) -> list[CallRecord]:
    return [
        call(f"{name}-{i}", start + i * step_min * MINUTE, usage=u, cost_nanos=1_000_000, **kw)
        for i, u in enumerate(usages)
    ]


def advice_calls() -> list[CallRecord]:
    return [
        *_series(
            "tools",
            T0 + 60 * MINUTE,
            10,
            [_u(0, 0, 10_000)] * 4,
            prefix_hash="pfx-tools",
            session_id="sess-a",
            project="agents",
        ),
        *_series(
            "chat",
            T0 + 3 * 60 * MINUTE,
            1,
            [_u(10_000), _u(11_000), _u(12_000)],
            session_id="sess-chat",
            project="web",
        ),
        *_series(
            "dup",
            T0 + 5 * 60 * MINUTE,
            1,
            [_u(2_000)] * 3,
            prompt_hash="dup-prompt",
            provider="openai",
            model=GPT,
            project="web",
        ),
        *_series(
            "good",
            T0 + 7 * 60 * MINUTE,
            1,
            [_u(0, 0, 10_000), _u(0, 10_000, 500), _u(0, 10_500, 500)],
            session_id="sess-good",
        ),
        *_series(
            "short",
            T0 + 8 * 60 * MINUTE,
            1,
            [_u(900)] * 3,
            session_id="sess-short",
            provider="openai",
            model=GPT,
        ),
        *_series(
            "gem",
            T0 + 9 * 60 * MINUTE,
            1,
            [_u(20_000)] * 3,
            session_id="sess-gemini",
            provider="google",
            model="gemini-2.5-pro",
        ),
    ]


# Row keys, largest saving first, with the savings and the strategy each is advised.
EXPECTED_ROWS = [
    ("pfx-tools", "prefix", "anthropic_1h", 0.081),
    ("sess-chat", "session", "anthropic_5m", 0.0477),
    ("dup-prompt", "prompt", "openai_auto", 0.0048),
]
SONNET_MODEL = SONNET
