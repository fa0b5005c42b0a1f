"""`recommend`: each kind of waste found in calls built to show it, with the saving worked
out by hand, ranked, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.advise.recommend_records import (
    GPT4O,
    LONG_USAGE,
    MINI,
    SINCE,
    UNTIL,
    batch_job,
    duplicates,
    evals_lines,
    growth,
    long_contexts,
    model_calls,
    near_duplicates,
    retry_storm,
)
from tests.api.insight_records import T0, scope

from tokenomy.advise.recommend import load_evals, recommend
from tokenomy.advise.recommend.evals import compare
from tokenomy.pricing import PriceCatalog
from tokenomy.record import CallRecord, CostSource, TokenUsage
from tokenomy.store import Database, write_records

CATALOG = PriceCatalog.load(None)
NOW = T0 + 30 * 86_400_000
RANGE = scope(since=SINCE, until=UNTIL)


def priced(records: list[CallRecord]) -> list[CallRecord]:
    for r in records:
        if r.cost_nanos is None:
            r.cost_nanos = CATALOG.cost_nanos(
                r.provider, r.response_model, r.usage, r.started_at_ms
            )
    return records


def advise(db: Database, *kinds: str, **kw: Any) -> dict[str, Any]:
    return recommend(db, RANGE, CATALOG, now_ms=NOW, kinds=kinds, **kw)


def only(result: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in result["rows"] if r["kind"] == kind]


def test_duplicate_prompts_are_replayed_through_an_exact_cache(db: Database) -> None:
    write_records(db, duplicates())
    result = advise(db, "exact_cache")
    [row] = result["rows"]
    assert row["savings_usd"] == 0.010  # dup-2, dup-3 and dup-5; dup-4 came after the TTL
    assert row["monthly_savings_usd"] == 0.030  # ten days -> thirty
    assert row["calls"] == 3 and row["basis"] == "measured"
    assert row["examples"] == ["dup-5", "dup-3", "dup-2"]
    assert row["calls_query"] == {"project": "faq", "provider": "openai", "model": MINI, "q": "h1"}
    assert row["details"]["already_cached"] == 1
    assert result["range"]["days"] == 9.0 + 1  # the 1st to the 10th, inclusive


def test_a_shorter_ttl_finds_fewer_repeats(db: Database) -> None:
    from tokenomy.advise.recommend.base import Context, window
    from tokenomy.advise.recommend.duplicates import find_exact_duplicates

    write_records(db, duplicates())
    ctx = Context(db, RANGE, CATALOG, window(db, RANGE, NOW), NOW)
    [rec] = find_exact_duplicates(ctx, ttl_s=20 * 60)
    # Stored at 0 (hit at 10), again at 50 (70 is past it: stored), hit at 80.
    assert rec.savings_nanos == 2_000_000 + 5_000_000


def test_a_job_loop_is_advised_the_batch_api(db: Database) -> None:
    write_records(db, batch_job())
    [row] = advise(db, "batch_api")["rows"]
    assert row["calls"] == 120 and row["savings_usd"] == 0.006
    assert row["calls_query"] == {
        "project": "etl",
        "provider": "openai",
        "model": MINI,
        "user": "job",
    }
    assert row["details"]["burst_minutes"] == 10
    assert "Batch API" in row["advice"] and "24 hours" in row["advice"]


def test_a_retry_storm_is_found_and_kept_though_it_cost_nothing(db: Database) -> None:
    write_records(db, retry_storm())
    [row] = advise(db, "retry_storm")["rows"]
    assert row["details"]["storms"] == 1 and row["details"]["minutes"] == 2
    assert row["calls"] == 11 and row["details"]["calls"] == 13
    assert row["savings_usd"] == 0.0
    assert "Retry-After" in row["advice"]
    assert row["calls_query"]["status"] == "error"
    assert row["examples"] == ["fail-0-0"]


def test_long_prompts_are_priced_as_if_cut_to_100k(db: Database) -> None:
    write_records(db, priced(long_contexts()))
    [row] = advise(db, "long_context")["rows"]
    assert row["calls"] == 2 and row["basis"] == "upper bound"
    assert row["details"]["premium_calls"] == 2
    # 250k cut to 100k keeps 2/5 of each category: 20k input, 80k cache reads.
    cut = TokenUsage(input_tokens=20_000, cache_read_tokens=80_000, output_tokens=1_000)
    full = CATALOG.cost_nanos("anthropic", "claude-sonnet-4-5", LONG_USAGE, T0)
    short = CATALOG.cost_nanos("anthropic", "claude-sonnet-4-5", cut, T0)
    assert full is not None and short is not None
    assert row["savings_usd"] == pytest.approx(2 * (full - short) / 1e9, abs=2e-9)
    assert "/compact" in row["advice"]  # Claude Code sessions get agent advice


def test_long_prompts_quote_the_cost_the_calls_recorded(db: Database) -> None:
    """Calls that reported their own cost (a negotiated price, say) are quoted at it, as
    the calls page shows them, and their saving is the same share of it."""
    calls = [
        dataclasses.replace(c, cost_nanos=50 * 10**9, cost_source=CostSource.REPORTED)
        for c in long_contexts()
    ]
    write_records(db, calls)
    [row] = advise(db, "long_context")["rows"]
    assert "costing $100.00" in row["evidence"]
    cut = TokenUsage(input_tokens=20_000, cache_read_tokens=80_000, output_tokens=1_000)
    full = CATALOG.cost_nanos("anthropic", "claude-sonnet-4-5", LONG_USAGE, T0)
    short = CATALOG.cost_nanos("anthropic", "claude-sonnet-4-5", cut, T0)
    assert full is not None and short is not None
    assert row["savings_usd"] == pytest.approx(100 * (full - short) / full, rel=1e-6)


def test_a_cheaper_model_that_scores_as_well_is_advised(db: Database, tmp_path: Path) -> None:
    write_records(db, priced(model_calls()))
    path = tmp_path / "evals.jsonl"
    path.write_bytes(evals_lines())
    [row] = advise(db, "cheaper_model", evals=load_evals(path))["rows"]
    assert row["title"] == f"Use {MINI} instead of {GPT4O}"
    assert row["details"]["cases"] == 30 and row["details"]["difference_lower_bound"] == 0
    usage = TokenUsage(input_tokens=10_000, output_tokens=1_000)
    at = T0 + 5 * 86_400_000
    now = CATALOG.cost_nanos("openai", GPT4O, usage, at)
    then = CATALOG.cost_nanos("openai", MINI, usage, at)
    assert now is not None and then is not None
    assert row["savings_usd"] == pytest.approx((now - then) / 1e9, abs=2e-9)


def test_without_evaluation_results_the_model_advice_says_what_it_needs(db: Database) -> None:
    write_records(db, priced(model_calls()))
    result = advise(db, "cheaper_model")
    assert result["rows"] == []
    [missing] = result["not_assessed"]
    assert missing["kind"] == "cheaper_model" and "--evals" in missing["reason"]


def test_evaluation_files_report_bad_lines_and_keep_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "evals.jsonl"
    path.write_bytes(
        b'{"case": 1, "model": "a", "score": 1}\n'
        b"not json\n"
        b'{"case": 1, "model": "b", "score": "x"}\n'
        b'{"case": 1, "model": "b", "score": true}\n'
    )
    results = load_evals(path)
    assert [p.split(": ")[0] for p in results.problems] == [f"{path}:2", f"{path}:3"]
    assert results.models == ["a", "b"]
    csv_path = tmp_path / "evals.csv"
    csv_path.write_text("id,model,score,dataset\nq1,a,0.5,x\nq1,b,pass,x\nq2,b,0.25,x\n")
    table = load_evals(csv_path)
    assert table.problems == []
    cmp = compare(table, "a", "b")
    assert cmp is not None and cmp.cases == 1 and cmp.mean_other == 1.0


def test_sessions_and_commands_whose_cost_grew(db: Database) -> None:
    write_records(db, growth())
    rows = advise(db, "cost_growth")["rows"]
    by_title = {r["title"]: r for r in rows}
    sessions = by_title["codex sessions in lab cost 3.0x more"]
    # $0.009 in the second half against $0.003 at the earlier average: $0.006, scaled from
    # the five-day half to the ten-day range.
    assert sessions["savings_usd"] == 0.012
    assert sessions["calls_query"] == {
        "source": "codex",
        "since": "2026-11-06T00:00:00.000Z",
        "project": "lab",
    }
    command = by_title["Command cmd-a costs 2.0x more a run"]
    assert command["savings_usd"] == 0.006 and command["calls_query"]["q"] == "cmd-a"


def test_near_duplicates_replay_through_the_semantic_cache(db: Database) -> None:
    pytest.importorskip("numpy")
    write_records(db, near_duplicates())
    result = advise(db, "semantic_cache", "exact_cache")
    [row] = only(result, "semantic_cache")
    assert row["examples"] == ["q-2"] and row["savings_usd"] == 0.02
    assert "guitar" in row["evidence"]


def test_without_captured_prompts_near_duplicates_are_not_assessed(db: Database) -> None:
    write_records(db, duplicates())
    result = advise(db, "semantic_cache")
    assert result["rows"] == []
    assert "--capture-content" in result["not_assessed"][0]["reason"]


def test_rows_are_ranked_by_saving_and_sum_in_the_summary(db: Database) -> None:
    write_records(db, [*duplicates(), *batch_job(), *retry_storm(), *priced(long_contexts())])
    result = recommend(db, RANGE, CATALOG, now_ms=NOW)
    kinds = [r["kind"] for r in result["rows"]]
    # The long session also repeats its prefix: prompt caching is advised for it too.
    assert kinds == ["long_context", "prompt_cache", "exact_cache", "batch_api", "retry_storm"]
    savings = [r["monthly_savings_usd"] for r in result["rows"]]
    assert savings == sorted(savings, reverse=True)
    assert result["summary"]["monthly_savings_usd"] == pytest.approx(sum(savings), abs=1e-8)
    assert result["summary"]["by_kind"]["exact_cache"] == 0.03
    # A filter narrows every finder.
    narrowed = recommend(db, replace(RANGE, filters={"project": ("faq",)}), CATALOG, now_ms=NOW)
    assert [r["kind"] for r in narrowed["rows"]] == ["exact_cache"]
