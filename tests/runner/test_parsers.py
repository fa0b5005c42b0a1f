"""Reading the documented output of `claude -p --output-format json` and `codex exec --json`."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from tests.runner.fake_claude import HAIKU, MODEL_USAGE, SONNET
from tests.runner.fake_codex import USAGE

from tokenomy.record import TokenUsage
from tokenomy.runner.claude_result import parse_claude_result
from tokenomy.runner.codex_events import parse_codex_events
from tokenomy.runner.outcome import AgentOutputError


def claude_json(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 12345,
        "duration_api_ms": 11000,
        "num_turns": 4,
        "result": "Done.",
        "session_id": "4f0c",
        "total_cost_usd": 0.1234,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 1500,
            "cache_read_input_tokens": 30000,
            "output_tokens": 800,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 1500},
        },
        "modelUsage": json.loads(json.dumps(MODEL_USAGE)),
        "permission_denials": [],
    }
    out.update(changes)
    return out


def usage_of(counts: dict[str, Any]) -> TokenUsage:
    return TokenUsage(
        input_tokens=counts["inputTokens"],
        cache_read_tokens=counts["cacheReadInputTokens"],
        cache_write_tokens=counts["cacheCreationInputTokens"],
        output_tokens=counts["outputTokens"],
    )


def test_claude_tokens_come_per_model_from_model_usage() -> None:
    out = parse_claude_result(json.dumps(claude_json()))
    assert not out.is_error
    assert {m.model: m.usage for m in out.models} == {
        SONNET: usage_of(MODEL_USAGE[SONNET]),
        HAIKU: usage_of(MODEL_USAGE[HAIKU]),
    }
    assert out.usage == usage_of(MODEL_USAGE[SONNET]) + usage_of(MODEL_USAGE[HAIKU])
    assert out.main_model == SONNET
    assert (out.session_id, out.num_turns, out.result) == ("4f0c", 4, "Done.")


def test_claude_costs_are_read_exactly() -> None:
    text = json.dumps(claude_json(total_cost_usd="X")).replace('"X"', "0.30000000000000004")
    out = parse_claude_result(text)
    assert out.reported_cost_usd == Decimal("0.30000000000000004")
    assert {m.model: m.reported_cost_usd for m in out.models} == {
        SONNET: Decimal(str(MODEL_USAGE[SONNET]["costUSD"])),
        HAIKU: Decimal(str(MODEL_USAGE[HAIKU]["costUSD"])),
    }


def test_one_hour_cache_writes_are_moved_for_the_main_model_only() -> None:
    data = claude_json()
    data["usage"]["cache_creation"] = {"ephemeral_1h_input_tokens": 600}
    data["modelUsage"][HAIKU]["cacheCreationInputTokens"] = 100
    out = parse_claude_result(json.dumps(data))
    models = {m.model: m.usage for m in out.models}
    written = MODEL_USAGE[SONNET]["cacheCreationInputTokens"]
    assert (models[SONNET].cache_write_tokens, models[SONNET].cache_write_1h_tokens) == (
        written - 600,
        600,
    )
    assert (models[HAIKU].cache_write_tokens, models[HAIKU].cache_write_1h_tokens) == (100, 0)


@pytest.mark.parametrize("subtype", ["error_max_turns", "error_during_execution"])
def test_claude_error_subtypes_are_errors_even_without_is_error(subtype: str) -> None:
    data = claude_json(subtype=subtype)
    del data["is_error"], data["result"]
    out = parse_claude_result(json.dumps(data))
    assert out.is_error and out.subtype == subtype and out.result is None


def test_claude_api_errors_are_errors_with_subtype_success() -> None:
    out = parse_claude_result(
        json.dumps(claude_json(is_error=True, result="API Error: 429 rate_limit_error"))
    )
    assert out.is_error and out.subtype == "success"
    assert out.result == "API Error: 429 rate_limit_error"


def test_claude_without_model_usage_falls_back_to_usage() -> None:
    data = claude_json()
    del data["modelUsage"]
    data["usage"]["cache_creation"] = {"ephemeral_1h_input_tokens": 1000}
    out = parse_claude_result(json.dumps(data))
    assert out.models == () and out.main_model is None
    assert out.usage == TokenUsage(20, 30000, 500, 1000, 800)


def test_claude_stream_json_and_leading_noise_are_read_from_the_result_line() -> None:
    lines = [
        "Warning: something harmless",
        json.dumps({"type": "system", "subtype": "init", "session_id": "4f0c"}),
        json.dumps({"type": "assistant", "message": {"content": []}}),
        json.dumps(claude_json()),
    ]
    out = parse_claude_result("\n".join(lines))
    assert out.session_id == "4f0c" and out.main_model == SONNET


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        ("", "no output"),
        ("Welcome! <html>", "expected a JSON object with type 'result', got: Welcome!"),
        ('{"type": "assistant"}', "expected a JSON object"),
    ],
)
def test_claude_output_without_a_result_is_an_error(stdout: str, reason: str) -> None:
    with pytest.raises(AgentOutputError, match=reason):
        parse_claude_result(stdout)


def test_claude_bad_token_counts_name_the_field() -> None:
    data = claude_json()
    data["modelUsage"][HAIKU]["outputTokens"] = -3
    with pytest.raises(AgentOutputError, match=f"modelUsage.{HAIKU}.outputTokens is -3"):
        parse_claude_result(json.dumps(data))


def codex_lines(*events: dict[str, Any]) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


START = {"type": "thread.started", "thread_id": "t-1"}
DONE = {"type": "turn.completed", "usage": dict(USAGE)}
CODEX_USAGE = TokenUsage(
    input_tokens=USAGE["input_tokens"] - USAGE["cached_input_tokens"],
    cache_read_tokens=USAGE["cached_input_tokens"],
    output_tokens=USAGE["output_tokens"],
)


def test_codex_input_includes_cached_and_turns_add_up() -> None:
    message = {"type": "item.completed", "item": {"id": "i", "type": "agent_message", "text": "ok"}}
    out = parse_codex_events(codex_lines(START, message, DONE, DONE), "gpt-5")
    assert not out.is_error
    assert out.models[0].model == "gpt-5"
    assert out.usage == CODEX_USAGE + CODEX_USAGE
    assert (out.session_id, out.num_turns, out.result) == ("t-1", 2, "ok")
    assert out.details == {"items": {"agent_message": 1}}


def test_codex_reasoning_is_part_of_output() -> None:
    done = {"type": "turn.completed", "usage": {**USAGE, "reasoning_output_tokens": 100}}
    out = parse_codex_events(codex_lines(START, done), "gpt-5")
    assert out.usage.reasoning_tokens == 100
    assert out.usage.output_tokens == USAGE["output_tokens"]


def test_codex_without_a_model_keeps_tokens_unattributed() -> None:
    out = parse_codex_events(codex_lines(START, DONE), None)
    assert out.models == () and out.main_model is None
    assert out.usage == CODEX_USAGE


def test_codex_failed_turn_is_an_error_with_its_message() -> None:
    failed = {"type": "turn.failed", "error": {"message": "sandbox denied"}}
    out = parse_codex_events(codex_lines(START, failed), "gpt-5")
    assert out.is_error and out.subtype == "turn_failed" and out.result == "sandbox denied"


def test_codex_error_event_then_a_completed_turn_is_a_success() -> None:
    retry = {"type": "error", "message": "stream disconnected, reconnecting 1/5"}
    out = parse_codex_events(codex_lines(START, retry, DONE), "gpt-5")
    assert not out.is_error


def test_codex_error_without_any_turn_is_an_error() -> None:
    out = parse_codex_events(codex_lines(START, {"type": "error", "message": "bad key"}), None)
    assert out.is_error and out.result == "bad key"


def test_codex_output_without_events_is_an_error() -> None:
    with pytest.raises(AgentOutputError, match="no JSON events"):
        parse_codex_events("Reading prompt from stdin...\n", None)
