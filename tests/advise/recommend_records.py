"""Calls that each show one kind of waste, with their expected savings worked out by hand.

The range is the ten days 2026-11-01 to 2026-11-10 (UTC), so a saving in the range is
three times that per 30 days.
"""

from __future__ import annotations

from typing import Any

import orjson
from tests.api.insight_records import HOUR, MINUTE, T0, call

from tokenomy.record import CallContent, CallRecord, Source, TokenUsage

DAY = 24 * HOUR
SINCE, UNTIL = "2026-11-01", "2026-11-10"
MINI, GPT4O = "gpt-4o-mini", "gpt-4o"


def openai_call(name: str, at: int, **kw: Any) -> CallRecord:
    kw.setdefault("model", MINI)
    return call(name, at, provider="openai", **kw)


def duplicates() -> list[CallRecord]:
    """Prompt h1 in project faq: stored at 0, hits at +10 and +50 min, expired at +70
    (stored again), hit at +80: 2 + 3 + 5 = $0.010 saved. A failed first try stores
    nothing; a call our cache already answered is counted apart."""
    at = T0 + DAY
    costs = {
        "dup-1": (0, 1),
        "dup-2": (10, 2),
        "dup-3": (50, 3),
        "dup-4": (70, 4),
        "dup-5": (80, 5),
    }
    out = [
        openai_call(
            "dup-0", at - MINUTE, project="faq", prompt_hash="h1", status="error", cost_nanos=0
        ),
        openai_call(
            "dup-6",
            at + 81 * MINUTE,
            project="faq",
            prompt_hash="h1",
            cost_nanos=0,
            cache_hit="exact",
        ),
        openai_call("once", at, project="faq", prompt_hash="h2", cost_nanos=9_000_000),
    ]
    out += [
        openai_call(
            name, at + minutes * MINUTE, project="faq", prompt_hash="h1", cost_nanos=c * 1_000_000
        )
        for name, (minutes, c) in costs.items()
    ]
    return out


def batch_job() -> list[CallRecord]:
    """120 non-streamed calls by `job` at 12 a minute ($0.012; half saved), 12 streamed
    calls in one minute and a person's 2 a minute, both left out."""
    at = T0 + 2 * DAY
    out = [
        openai_call(
            f"job-{m}-{i}",
            at + m * MINUTE + i * 1000,
            project="etl",
            user="job",
            cost_nanos=100_000,
        )
        for m in range(10)
        for i in range(12)
    ]
    out += [
        openai_call(
            f"stream-{i}",
            at + 20 * MINUTE + i * 1000,
            project="etl",
            user="job",
            cost_nanos=100_000,
            attributes={"stream": True},
        )
        for i in range(12)
    ]
    out += [
        openai_call(f"alice-{i}", at + i * 30_000, project="etl", user="alice", cost_nanos=100_000)
        for i in range(4)
    ]
    return out


def retry_storm() -> list[CallRecord]:
    """Web's sonnet calls: 6 then 5 failures (429) in two minutes, 2 successes; a later
    minute with 5 failures among 10 successes is not a storm."""
    at = T0 + 3 * DAY
    out: list[CallRecord] = []
    for minute, failed, ok in ((0, 6, 2), (1, 5, 0), (5, 5, 10)):
        for i in range(failed):
            out.append(
                call(
                    f"fail-{minute}-{i}",
                    at + minute * MINUTE + i * 1000,
                    project="web",
                    status="error",
                    error_type="http_429",
                    http_status=429,
                    cost_nanos=0,
                    usage=TokenUsage(),
                )
            )
        for i in range(ok):
            out.append(
                call(
                    f"ok-{minute}-{i}",
                    at + minute * MINUTE + 30_000 + i,
                    project="web",
                    cost_nanos=1000,
                )
            )
    return out


LONG_USAGE = TokenUsage(input_tokens=50_000, cache_read_tokens=200_000, output_tokens=1_000)


def long_contexts() -> list[CallRecord]:
    """Two Claude Code calls of 250k prompt tokens (over Sonnet 4.5's 200k threshold) and
    one of 80k, in one session."""
    at = T0 + 4 * DAY
    return [
        call(
            "long-1",
            at,
            project="agent",
            source=Source.CLAUDE_CODE,
            session_id="s1",
            usage=LONG_USAGE,
        ),
        call(
            "long-2",
            at + MINUTE,
            project="agent",
            source=Source.CLAUDE_CODE,
            session_id="s1",
            usage=LONG_USAGE,
        ),
        call(
            "short-1",
            at + 2 * MINUTE,
            project="agent",
            source=Source.CLAUDE_CODE,
            session_id="s1",
            usage=TokenUsage(input_tokens=80_000, output_tokens=100),
        ),
    ]


def model_calls() -> list[CallRecord]:
    """Ten gpt-4o calls of support (priced by the catalog as they are stored)."""
    at = T0 + 5 * DAY
    usage = TokenUsage(input_tokens=1000, output_tokens=100)
    return [
        openai_call(f"support-{i}", at + i * HOUR, project="support", model=GPT4O, usage=usage)
        for i in range(10)
    ]


def evals_lines() -> bytes:
    """30 cases: gpt-4o-mini scores exactly as gpt-4o; gpt-3.5-turbo fails a third."""
    lines = []
    for i in range(30):
        score = 0.0 if i == 7 else 1.0
        lines.append({"case": f"c{i}", "model": GPT4O, "score": score})
        lines.append({"case": f"c{i}", "model": MINI, "score": score})
        lines.append({"case": f"c{i}", "model": "gpt-3.5-turbo", "score": i % 3 != 0})
    return b"\n".join(orjson.dumps(x) for x in lines) + b"\n"


def growth() -> list[CallRecord]:
    """Codex sessions of project lab: three at $0.001 in the first five days, three at
    $0.003 after ($0.006 above the earlier average). Runner command cmd-a: three runs at
    $0.001, then three at $0.002."""
    out = []
    for i in range(3):
        out.append(
            call(
                f"early-{i}",
                T0 + i * HOUR,
                project="lab",
                source=Source.CODEX,
                session_id=f"e{i}",
                cost_nanos=1_000_000,
            )
        )
        out.append(
            call(
                f"late-{i}",
                T0 + 6 * DAY + i * HOUR,
                project="lab",
                source=Source.CODEX,
                session_id=f"l{i}",
                cost_nanos=3_000_000,
            )
        )
        out.append(
            call(
                f"run-early-{i}",
                T0 + i * HOUR,
                source=Source.RUNNER,
                prompt_hash="cmd-a",
                cost_nanos=1_000_000,
            )
        )
        out.append(
            call(
                f"run-late-{i}",
                T0 + 7 * DAY + i * HOUR,
                source=Source.RUNNER,
                prompt_hash="cmd-a",
                cost_nanos=2_000_000,
            )
        )
    return out


def captured(name: str, at: int, question: str, cost: int) -> CallRecord:
    rec = openai_call(name, at, project="help", cost_nanos=cost)
    body = {"model": MINI, "temperature": 0, "messages": [{"role": "user", "content": question}]}
    rec.content = CallContent(orjson.dumps(body).decode(), None)
    return rec


def near_duplicates() -> list[CallRecord]:
    """A paraphrase 5 minutes after its question (a hit, $0.02), another question (a
    miss), and the first question again (an exact repeat: the exact cache's)."""
    at = T0 + 8 * DAY
    return [
        captured("q-1", at, "How do I learn to play the guitar quickly?", 10_000_000),
        captured("q-2", at + 5 * MINUTE, "How can I learn to play guitar quickly?", 20_000_000),
        captured("q-3", at + 6 * MINUTE, "How do I learn to play the piano quickly?", 40_000_000),
        captured("q-4", at + 7 * MINUTE, "How do I learn to play the guitar quickly?", 80_000_000),
    ]
