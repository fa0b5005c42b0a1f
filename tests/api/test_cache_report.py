"""``cache`` on SQLite and PostgreSQL: prompt-cache shares and savings per model, sessions
and prefixes that reuse the cache poorly, and duplicate prompts, for records the tests
wrote, with every expected figure worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

from tests.api.insight_records import HOUR, MINUTE, SONNET, T0, call, iso, scope

from tokenomy.api.cache_report import cache
from tokenomy.api.top import top
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, TokenUsage
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)


def _calls(prefix: str, at: int, usages: list[TokenUsage], **kw: Any) -> list[CallRecord]:
    """One call per usage, a minute apart, each costing 10 nanos."""
    return [
        call(f"{prefix}{i}", at + i * MINUTE, usage=u, cost_nanos=10, **kw)
        for i, u in enumerate(usages)
    ]


def _u(inp: int, read: int = 0, write: int = 0, write_1h: int = 0) -> TokenUsage:
    return TokenUsage(
        input_tokens=inp,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
    )


CACHE_CALLS = [
    # good: reads 250,000 of 305,000 prompt tokens.
    *_calls(
        "g",
        T0,
        [_u(1000, 50_000, 50_000)] + [_u(1000, 50_000)] * 4,
        session_id="good",
        prefix_hash="pfxgood",
    ),
    # poor1: 6 calls, nothing read; 5 x 30,000 uncached after the first call.
    *_calls("p", T0 + HOUR, [_u(60_000)] + [_u(30_000)] * 5, session_id="poor1"),
    # poor2 (gpt-4o): 5 calls, 10,000 of 210,000 read; 4 x 40,000 uncached after the first.
    *_calls(
        "q",
        T0 + 2 * HOUR,
        [_u(40_000)] * 4 + [_u(40_000, 10_000)],
        session_id="poor2",
        provider="openai",
        model="gpt-4o",
        prefix_hash="pfxbad",
    ),
    # Too few calls, too few tokens, and exactly half read: none of them is poor reuse.
    *_calls("s", T0 + 3 * HOUR, [_u(50_000)] * 4, session_id="small"),
    *_calls("t", T0 + 4 * HOUR, [_u(1000, 0, 0, 2000)] + [_u(1000)] * 4, session_id="thin"),
    *_calls("h", T0 + 5 * HOUR, [_u(10_000, 10_000)] * 5, session_id="half"),
    # Prompts sent more than once (haiku: 100 input + 10 output tokens each).
    call("d1", T0 + 20 * HOUR, model="claude-haiku-4-5", prompt_hash="dupa", cost_nanos=1_000),
    call("d2", T0 + 21 * HOUR, model="claude-haiku-4-5", prompt_hash="dupa", cost_nanos=1_500),
    call(
        "d3",
        T0 + 22 * HOUR,
        model="claude-haiku-4-5",
        prompt_hash="dupa",
        cost_nanos=1_500,
        cache_hit="exact",  # already answered by our response cache
    ),
    call("e1", T0 + 20 * HOUR, model="claude-haiku-4-5", prompt_hash="dupb", cost_nanos=4_000),
    call("e2", T0 + 23 * HOUR, model="claude-haiku-4-5", prompt_hash="dupb", cost_nanos=2_500),
    call("e3", T0 + 23 * HOUR, model="claude-haiku-4-5", prompt_hash="once", cost_nanos=9_000),
]


def test_the_prices_these_figures_assume() -> None:
    sonnet = CATALOG.resolve("anthropic", SONNET, T0)
    gpt = CATALOG.resolve("openai", "gpt-4o", T0)
    haiku = CATALOG.resolve("anthropic", "claude-haiku-4-5", T0)
    assert sonnet is not None and gpt is not None and haiku is not None
    # pico-dollars per token: input - cache read = 2,700 (sonnet), 1,250 (gpt-4o) nanos
    assert (sonnet.input, sonnet.cache_read) == (3_000_000, 300_000)
    assert (gpt.input, gpt.cache_read) == (2_500_000, 1_250_000)
    assert (haiku.input, haiku.output) == (1_000_000, 5_000_000)


def test_cache_summary_and_models(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, scope(), CATALOG, 10)
    s = result["summary"]
    # input: sonnet 5,000 + 210,000 + 200,000 + 5,000 + 50,000 = 470,000; gpt 200,000;
    # haiku 6 x 100. Reads: 250,000 + 50,000 + 10,000.
    assert s["tokens"] == {
        "input_tokens": 670_600,
        "cache_read_tokens": 310_000,
        "cache_write_tokens": 50_000,
        "cache_write_1h_tokens": 2_000,
        "prompt": 1_032_600,
    }
    assert s["read_share"] == 0.300213  # 310,000 / 1,032,600
    assert (s["calls"], s["calls_with_cache_reads"]) == (36, 11)
    # 300,000 sonnet reads x 2,700 + 10,000 gpt-4o reads x 1,250 nanos
    assert s["savings_usd"] == (810_000_000 + 12_500_000) / 1e9
    # d3: 100 x 1,000,000 + 10 x 5,000,000 pico = 150,000 nanos
    assert (s["response_cache_hits"], s["response_cache_savings_usd"]) == (1, 150_000 / 1e9)
    assert [(m["key"], m["provider"], m["tokens"]["prompt"]) for m in result["models"]] == [
        (SONNET, "anthropic", 822_000),
        ("gpt-4o", "openai", 210_000),
        ("claude-haiku-4-5", "anthropic", 600),
    ]
    sonnet, gpt, haiku = result["models"]
    assert (sonnet["read_share"], sonnet["savings_usd"], sonnet["calls"]) == (
        0.364964,  # 300,000 / 822,000
        0.81,
        25,
    )
    assert (gpt["read_share"], gpt["savings_usd"], gpt["calls_with_cache_reads"]) == (
        0.047619,
        0.0125,
        1,
    )
    assert (haiku["read_share"], haiku["savings_usd"]) == (0.0, 0.0)
    assert [m["key"] for m in cache(db, scope(), CATALOG, 1)["models"]] == [SONNET]


def test_cache_finds_sessions_and_prefixes_that_reuse_poorly(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, scope(), CATALOG, 10)
    assert result["thresholds"] == {
        "min_calls": 5,
        "min_prompt_tokens": 100_000,
        "max_read_share": 0.5,
    }
    poor = result["poor_reuse_sessions"]
    # poor1: 150,000 x 2,700 nanos = $0.405; poor2: 160,000 x 1,250 nanos = $0.20
    assert [(r["key"], r["potential_savings_usd"]) for r in poor] == [
        ("poor1", 0.405),
        ("poor2", 0.2),
    ]
    assert poor[0]["tokens"] == {
        "input_tokens": 210_000,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "prompt": 210_000,
    }
    assert (poor[0]["calls"], poor[0]["read_share"], poor[0]["cost_usd"]) == (6, 0.0, 60 / 1e9)
    assert (poor[0]["first_at"], poor[0]["last_at"]) == (
        iso(T0 + HOUR),
        iso(T0 + HOUR + 5 * MINUTE),
    )
    assert poor[1]["read_share"] == 0.047619  # 10,000 / 210,000
    assert [
        (r["key"], r["sessions"], r["potential_savings_usd"]) for r in result["poor_reuse_prefixes"]
    ] == [("pfxbad", 1, 0.2)]
    assert [r["key"] for r in cache(db, scope(), CATALOG, 1)["poor_reuse_sessions"]] == ["poor1"]
    only_gpt = cache(db, scope(model="gpt-4o"), CATALOG, 10)
    assert [r["key"] for r in only_gpt["poor_reuse_sessions"]] == ["poor2"]
    # Lower thresholds: "small" (4 calls, 200,000 tokens) now counts: 3 x 50,000 x 2,700.
    looser = cache(db, scope(), CATALOG, 10, min_calls=4)
    assert [(r["key"], r["potential_savings_usd"]) for r in looser["poor_reuse_sessions"]] == [
        ("poor1", 0.405),  # a tie: by key
        ("small", 0.405),
        ("poor2", 0.2),
    ]


def test_cache_duplicate_prompts_and_what_a_response_cache_would_save(db: Database) -> None:
    write_records(db, CACHE_CALLS)
    result = cache(db, scope(), CATALOG, 10)
    # dupb: e2 repeats e1 (the first in time, though dearer): 2,500. dupa: d2 repeats d1
    # for 1,500; d3 was already answered by our cache.
    assert result["summary"]["duplicates"] == {
        "prompts": 2,
        "repeats": 3,
        "cache_hits": 1,
        "repeat_cost_usd": 4_000 / 1e9,
    }
    rows = result["duplicate_prompts"]
    assert result["rows"] == rows
    assert [
        (r["key"], r["calls"], r["repeats"], r["cache_hits"], r["repeat_cost_usd"]) for r in rows
    ] == [
        ("dupb", 2, 1, 0, 2_500 / 1e9),
        ("dupa", 3, 2, 1, 1_500 / 1e9),
    ]
    assert (rows[1]["cost_usd"], rows[1]["evidence"]) == (4_000 / 1e9, ["d2", "d3", "d1"])
    assert (rows[1]["first_at"], rows[1]["last_at"]) == (iso(T0 + 20 * HOUR), iso(T0 + 22 * HOUR))
    assert [r["key"] for r in cache(db, scope(), CATALOG, 1)["rows"]] == ["dupb"]
    # From 21:00 on, dupa's first call in range is d2: nothing left to repeat but a hit.
    late = cache(db, scope(since="2026-11-01T21:00:00Z"), CATALOG, 10)
    assert [(r["key"], r["repeat_cost_usd"]) for r in late["rows"]] == [("dupa", 0.0)]


def test_cache_on_an_empty_database(db: Database) -> None:
    result = cache(db, scope(), CATALOG, 10)
    assert result["summary"] == {
        "calls": 0,
        "calls_with_cache_reads": 0,
        "tokens": {
            "input_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_tokens": 0,
            "cache_write_1h_tokens": 0,
            "prompt": 0,
        },
        "read_share": None,
        "cost_usd": 0.0,
        "savings_usd": 0.0,
        "response_cache_hits": 0,
        "response_cache_savings_usd": 0.0,
        "duplicates": {"prompts": 0, "repeats": 0, "cache_hits": 0, "repeat_cost_usd": 0.0},
    }
    for name in (
        "models",
        "poor_reuse_sessions",
        "poor_reuse_prefixes",
        "duplicate_prompts",
        "rows",
    ):
        assert result[name] == []
    for what in ("commands", "sessions", "projects", "users", "prompts"):
        assert top(db, scope(), what, 10) == {"what": what, "rows": []}
