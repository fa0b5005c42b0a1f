"""The cache simulation alone (no database), with every figure worked out by hand:
Anthropic's 5-minute TTL against 1-hour writes, OpenAI's automatic caching threshold and
steps, the models' minimum lengths, and how repeats are estimated."""

from __future__ import annotations

import pytest

from tokenomy.advise import Split, Strategy, Use, policy_for, reusable, simulate
from tokenomy.advise.policies import family_of
from tokenomy.advise.simulate import ANTHROPIC_1H, ANTHROPIC_5M, NO_CACHE, OPENAI_AUTO

MINUTE = 60_000
SONNET = policy_for("anthropic", "claude-sonnet-4-5")
GPT = policy_for("openai", "gpt-4o")


def _same_prompt(tokens: int, minutes: list[int]) -> list[Use]:
    """The same prompt at these minutes: every call after the first repeats all of it."""
    return [Use(m * MINUTE, tokens, 0 if i == 0 else tokens) for i, m in enumerate(minutes)]


def test_policies_by_model() -> None:
    assert SONNET is not None and GPT is not None
    assert (SONNET.family, SONNET.automatic, SONNET.min_tokens, SONNET.step) == (
        "anthropic",
        False,
        1024,
        1,
    )
    assert (SONNET.ttl_ms, SONNET.long_ttl_ms) == (5 * MINUTE, 60 * MINUTE)
    assert (GPT.family, GPT.automatic, GPT.min_tokens, GPT.step, GPT.ttl_ms) == (
        "openai",
        True,
        1024,
        128,
        5 * MINUTE,
    )
    minimums = {
        m: p.min_tokens
        for m in ("claude-haiku-4-5", "claude-3-5-haiku", "claude-opus-4-5", "claude-opus-4-1")
        if (p := policy_for("anthropic", m)) is not None
    }
    assert minimums == {
        "claude-haiku-4-5": 4096,
        "claude-3-5-haiku": 2048,
        "claude-opus-4-5": 4096,
        "claude-opus-4-1": 1024,
    }
    # Claude through Bedrock or a router is still cached by Anthropic's rules.
    assert family_of("bedrock", "us.anthropic.claude-sonnet-4-5-v1:0") == "anthropic"
    assert family_of("openrouter", "openai/gpt-4.1") == "openai"
    assert policy_for("google", "gemini-2.5-pro") is None


def test_reusable_is_the_previous_prompt_or_what_was_read() -> None:
    # A conversation grows 1,000 -> 1,500; then shrinks to 1,200 (a compaction): it can
    # only repeat what it still holds. The last call read 4,000 of 5,000 from the cache:
    # more than the previous 1,200, so something wrote it before: taken at its word.
    assert reusable([1000, 1500, 1200, 5000], [0, 0, 0, 4000]) == [0, 1000, 1200, 4000]


def test_anthropic_one_hour_pays_when_reuses_come_10_minutes_apart() -> None:
    assert SONNET is not None
    uses = _same_prompt(10_000, [0, 10, 20, 30])
    short = simulate(uses, SONNET, ANTHROPIC_5M)
    # Every entry is gone after 5 minutes: each call writes the whole prompt again.
    assert short.splits == [Split(0, 0, 10_000, 0)] * 4
    assert (short.evicted, short.evicted_within_hour) == (3, 3)
    long = simulate(uses, SONNET, ANTHROPIC_1H)
    assert long.splits == [Split(0, 0, 0, 10_000)] + [Split(0, 10_000, 0, 0)] * 3
    assert long.evicted == 0
    # Priced at Sonnet 4.5 ($3/M input; 5-min writes $3.75, 1-h writes $6, reads $0.30):
    # none 4 x $0.03 = $0.12; 5 min 4 x $0.0375 = $0.15; 1 h $0.06 + 3 x $0.003 = $0.069.
    assert simulate(uses, SONNET, NO_CACHE).splits == [Split(10_000, 0, 0, 0)] * 4


def test_anthropic_five_minutes_is_enough_when_reuses_come_2_minutes_apart() -> None:
    assert SONNET is not None
    uses = _same_prompt(10_000, [0, 2, 4, 10])
    short = simulate(uses, SONNET, ANTHROPIC_5M)
    # Each hit starts the 5 minutes again: 4 -> 10 is 6 minutes after the last use.
    assert short.splits == [
        Split(0, 0, 10_000, 0),
        Split(0, 10_000, 0, 0),
        Split(0, 10_000, 0, 0),
        Split(0, 0, 10_000, 0),
    ]
    assert (short.evicted, short.evicted_within_hour) == (1, 1)


def test_a_growing_conversation_reads_the_previous_prompt_and_writes_the_rest() -> None:
    assert SONNET is not None
    prompts = [10_000, 11_000, 12_000]
    repeats = reusable(prompts, [0, 0, 0])
    uses = [Use(i * MINUTE, p, r) for i, (p, r) in enumerate(zip(prompts, repeats, strict=True))]
    assert simulate(uses, SONNET, ANTHROPIC_5M).splits == [
        Split(0, 0, 10_000, 0),
        Split(0, 10_000, 1_000, 0),
        Split(0, 11_000, 1_000, 0),
    ]


def test_prompts_under_the_models_minimum_are_never_cached() -> None:
    haiku = policy_for("anthropic", "claude-haiku-4-5")  # 4,096
    assert haiku is not None
    uses = _same_prompt(3_000, [0, 1, 2])
    assert simulate(uses, haiku, ANTHROPIC_5M).splits == [Split(3_000, 0, 0, 0)] * 3


def test_openai_caches_from_1024_tokens_in_128_token_steps() -> None:
    assert GPT is not None
    # 1,000 tokens: under the threshold, nothing is cached.
    assert (
        simulate(_same_prompt(1_000, [0, 1]), GPT, OPENAI_AUTO).splits
        == [Split(1_000, 0, 0, 0)] * 2
    )
    # 1,100 tokens: 1,024 read (1,100 rounded down to 128s), 76 input; no write premium.
    assert simulate(_same_prompt(1_100, [0, 1]), GPT, OPENAI_AUTO).splits == [
        Split(1_100, 0, 0, 0),
        Split(76, 1_024, 0, 0),
    ]
    # 2,000 tokens, then again after 6 idle minutes (evicted), then 1 minute later.
    run = simulate(_same_prompt(2_000, [0, 6, 7]), GPT, OPENAI_AUTO)
    assert run.splits == [Split(2_000, 0, 0, 0), Split(2_000, 0, 0, 0), Split(80, 1_920, 0, 0)]
    assert run.evicted == 1


def test_a_warm_cache_before_the_range_is_read_by_the_first_call() -> None:
    assert SONNET is not None
    uses = [Use(0, 5_000, 4_000), Use(MINUTE, 5_000, 5_000)]
    assert simulate(uses, SONNET, ANTHROPIC_5M, warm=4_000).splits == [
        Split(0, 4_000, 1_000, 0),
        Split(0, 5_000, 0, 0),
    ]


@pytest.mark.parametrize("strategy", [ANTHROPIC_5M, ANTHROPIC_1H, NO_CACHE])
def test_every_prompt_token_lands_in_exactly_one_category(strategy: Strategy) -> None:
    assert SONNET is not None
    prompts = [900, 5_000, 7_000, 2_000, 2_500, 30_000]
    repeats = reusable(prompts, [0] * len(prompts))
    uses = [
        Use(i * 7 * MINUTE, p, r) for i, (p, r) in enumerate(zip(prompts, repeats, strict=True))
    ]
    run = simulate(uses, SONNET, strategy)
    assert [s.input + s.read + s.write + s.write_1h for s in run.splits] == prompts
