"""The estimate before a call: input from the request's text, output from its cap."""

from __future__ import annotations

from tokenomy.budgets.estimate import (
    IMAGE_TOKENS,
    estimate_usage,
    fallback_cost,
    input_tokens,
    output_tokens,
    price,
)
from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage

CATALOG = PriceCatalog.load(None)
AT = 1_763_700_000_000


def test_input_is_a_quarter_of_the_characters_plus_message_overhead() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}]}
    # 400 + "role" + "user" + "content" = 415 characters -> 104 tokens; 4 per message, 3 reply.
    assert input_tokens(body) == 104 + 4 + 3
    with_system = {**body, "system": "y" * 40, "temperature": 0.2, "metadata": {"a": "z" * 99}}
    assert input_tokens(with_system) == -(-455 // 4) + 4 + 3  # parameters are not prompt


def test_images_count_a_flat_allowance_not_their_base64() -> None:
    image = "data:image/png;base64," + "A" * 100_000
    openai = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}
        ]
    }
    anthropic = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "base64", "data": "A" * 100_000}}],
            }
        ]
    }
    for body in (openai, anthropic):
        assert IMAGE_TOKENS <= input_tokens(body) < IMAGE_TOKENS + 20


def test_output_is_the_cap_times_n_or_the_default() -> None:
    assert output_tokens({"max_tokens": 100}, "chat", 4096) == 100
    assert output_tokens({"max_completion_tokens": 50, "max_tokens": 100}, "chat", 4096) == 50
    assert output_tokens({"max_tokens": 100, "n": 3}, "chat", 4096) == 300
    assert output_tokens({}, "chat", 4096) == 4096
    assert output_tokens({"max_tokens": 100}, "embeddings", 4096) == 0


def test_embeddings_input_counts_text_and_token_ids() -> None:
    usage = estimate_usage({"input": ["abcd" * 10, [1, 2, 3]]}, "embeddings", 4096)
    assert usage == TokenUsage(input_tokens=10 + 3)


def test_priced_at_the_catalog_or_at_the_fallback() -> None:
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    # gpt-4o-mini: $0.15 in, $0.60 out per million.
    assert price(CATALOG, "openai", "gpt-4o-mini", usage, AT) == 750_000_000
    # Unpriced: $15 + $75, a deliberately high fallback.
    assert price(CATALOG, "openai", "no-such-model-xyz", usage, AT) == 90_000_000_000
    assert fallback_cost(TokenUsage(cache_read_tokens=2, output_tokens=1)) == 2 * 15_000 + 75_000


def test_a_request_nested_a_thousand_deep_is_measured_not_crashed_on() -> None:
    value: object = "abcd"
    for _ in range(5000):
        value = [value]
    assert input_tokens({"messages": value}) == 1 + 4 + 3
