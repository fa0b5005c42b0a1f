"""``advise_cache`` over stored calls on SQLite and PostgreSQL: which prefixes get advice,
what they paid, what the advice costs and saves (worked out by hand in records.py), the
evidence, the calls behind each row, scope filters and the 30-day scaling."""

from __future__ import annotations

from typing import Any

import pytest
from tests.advise.records import EXPECTED_ROWS, GPT, NOW_MS, SINCE, UNTIL, advice_calls
from tests.api.insight_records import SONNET, scope

from tokenomy.advise import advise_cache
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)


def _advise(db: Database, **params: str) -> dict[str, Any]:
    return advise_cache(
        db, scope(since=SINCE, until=UNTIL, **params), CATALOG, limit=20, now_ms=NOW_MS
    )


def test_rows_rank_the_prefixes_by_what_the_advice_saves(db: Database) -> None:
    write_records(db, advice_calls())
    result = _advise(db)
    rows = result["rows"]
    assert [(r["key"], r["kind"], r["strategy"], r["savings_usd"]) for r in rows] == EXPECTED_ROWS
    # One day asked for: 30 days save 30 times as much.
    assert [r["monthly_savings_usd"] for r in rows] == [2.43, 1.431, 0.144]
    tools, chat, dup = rows
    assert (tools["prompt_cost_usd"], tools["advised_prompt_cost_usd"]) == (0.15, 0.069)
    assert (chat["prompt_cost_usd"], chat["advised_prompt_cost_usd"]) == (0.099, 0.0513)
    assert (dup["prompt_cost_usd"], dup["advised_prompt_cost_usd"]) == (0.015, 0.0102)
    assert chat["strategies"]["anthropic_1h"]["prompt_cost_usd"] == 0.0783
    assert chat["strategies"]["none"]["prompt_cost_usd"] == 0.099
    assert (tools["model"], tools["provider"], tools["project"], tools["calls"]) == (
        SONNET,
        "anthropic",
        "agents",
        4,
    )
    assert (tools["repeated_tokens"], tools["prompt_tokens"]) == (30_000, 40_000)
    assert dup["model"] == GPT


def test_a_prefix_evicted_between_reuses_is_flagged_with_its_evidence(db: Database) -> None:
    write_records(db, advice_calls())
    tools = _advise(db)["rows"][0]
    # Reuses 10 minutes apart: past the 5-minute TTL, within the hour; each call wrote the
    # whole prompt again; 1-hour writes pay for themselves.
    assert tools["gaps"] == {"within_ttl": 0, "ttl_to_1h": 3, "over_1h": 0}
    assert (tools["evicted"], tools["evicted_within_1h"], tools["rewritten_calls"]) == (3, 3, 3)
    assert tools["one_hour_pays"] is True
    assert 'ttl "1h"' in tools["advice"] and "3 of 3 reuses" in tools["advice"]
    # The calls the advice changes most (each $0.0345 cheaper), oldest first on ties.
    assert tools["evidence"] == ["tools-1", "tools-2", "tools-3"]
    # A prefix hash is not searchable in the calls list: its model and time span are.
    assert tools["calls_query"] == {
        "model": SONNET,
        "provider": "anthropic",
        "since": "2026-11-01T01:00:00.000Z",
        "until": "2026-11-01T01:30:00.001Z",
        "session": "sess-a",
        "project": "agents",
    }
    chat = _advise(db)["rows"][1]
    assert chat["calls_query"] == {"model": SONNET, "provider": "anthropic", "session": "sess-chat"}
    assert "Add a cache_control breakpoint" in chat["advice"]
    assert chat["one_hour_pays"] is False


def test_summary_totals_and_what_was_left_out(db: Database) -> None:
    write_records(db, advice_calls())
    result = _advise(db)
    s = result["summary"]
    # Five prefixes simulated (the Gemini session is not): 4 + 3 + 3 + 3 + 3 calls.
    assert (s["groups"], s["groups_with_advice"], s["calls"]) == (5, 3, 16)
    # Paid: $0.15 + $0.099 + $0.015 + sess-good $0.0474 + sess-short 2,700 x $2.50/M.
    assert s["prompt_cost_usd"] == 0.31815
    assert s["savings_usd"] == 0.1335
    assert s["advised_prompt_cost_usd"] == 0.18465
    assert s["monthly_savings_usd"] == 4.005
    assert s["skipped"] == {
        "unpriced_calls": 0,
        "unmodelled_calls": 3,
        "unmodelled_providers": ["google"],
    }
    assert result["range"] == {
        "since": "2026-11-01T00:00:00.000Z",
        "until": "2026-11-02T00:00:00.000Z",
        "days": 1.0,
    }


def test_filters_and_limit_narrow_the_advice(db: Database) -> None:
    write_records(db, advice_calls())
    web = _advise(db, project="web")["rows"]
    assert [r["key"] for r in web] == ["sess-chat", "dup-prompt"]
    gpt = _advise(db, model=GPT)["rows"]
    assert [r["key"] for r in gpt] == ["dup-prompt"]
    one = advise_cache(db, scope(since=SINCE, until=UNTIL), CATALOG, limit=1, now_ms=NOW_MS)
    assert [r["key"] for r in one["rows"]] == ["pfx-tools"]
    # The total still counts every prefix, not only the rows listed.
    assert one["summary"]["savings_usd"] == 0.1335


def test_an_open_range_runs_from_the_first_call_to_the_last(db: Database) -> None:
    write_records(db, advice_calls())
    result = advise_cache(db, scope(), CATALOG, now_ms=NOW_MS)
    assert result["range"]["since"] == "2026-11-01T01:00:00.000Z"
    # 01:00 to 09:02 is 8 h 2 min, under a day: scaled as a day, as `tokenomy advise`
    # scales it (the two used to differ: 30 days over 8 h 2 min made $11.97 of this).
    assert result["range"]["days"] == 1.0
    assert result["summary"]["monthly_savings_usd"] == 0.1335 * 30
    two_days = advise_cache(
        db, scope(since=SINCE, until="2026-11-03T00:00:00Z"), CATALOG, now_ms=NOW_MS
    )
    assert two_days["range"]["days"] == 2.0
    assert two_days["summary"]["monthly_savings_usd"] == 0.1335 * 15


def test_advise_and_advise_cache_give_the_same_monthly_figure(db: Database) -> None:
    from tokenomy.advise.recommend import recommend

    write_records(db, advice_calls())
    cache = advise_cache(db, scope(), CATALOG, now_ms=NOW_MS)
    rows = recommend(db, scope(), CATALOG, now_ms=NOW_MS)["rows"]
    prompt_rows = [r for r in rows if r["kind"] == "prompt_cache"]
    assert prompt_rows
    monthly = sum(r["monthly_savings_usd"] for r in prompt_rows)
    assert monthly == pytest.approx(cache["summary"]["monthly_savings_usd"], abs=0.01)


def test_no_calls_no_rows(db: Database) -> None:
    result = _advise(db)
    assert result["rows"] == []
    assert result["summary"]["groups"] == 0
    assert result["range"]["days"] == 1.0  # still the range asked for


def test_advise_counts_every_prefix_not_the_first_thousand(db: Database) -> None:
    """`tokenomy advise` read the cache advice's first 1,000 rows only: past that, its
    prompt-cache row said less than `tokenomy advise cache` for the same calls."""
    from tests.advise.records import MINUTE, T0, _series, _u

    from tokenomy.advise.recommend import recommend

    calls = []
    for i in range(1_050):  # each prefix sent twice within five minutes, uncached
        calls += _series(f"p{i}", T0 + i * MINUTE, 1, [_u(3_000)] * 2, prefix_hash=f"pfx-{i}")
    write_records(db, calls)
    cache = advise_cache(db, scope(), CATALOG, now_ms=NOW_MS)
    [row] = [r for r in recommend(db, scope(), CATALOG, now_ms=NOW_MS)["rows"]
             if r["kind"] == "prompt_cache"]  # fmt: skip
    assert row["calls"] == cache["summary"]["calls"] == 2_100
    assert row["monthly_savings_usd"] == pytest.approx(
        cache["summary"]["monthly_savings_usd"], abs=0.01
    )
