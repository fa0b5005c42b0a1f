"""Costs from the packaged prices (genai-prices plus our models.yaml), to the pico-dollar."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tokenomy.pricing import ModelPrice, PriceCatalog
from tokenomy.record import TokenUsage


def ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2026-11-01T12:00:00")


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.load()


def usd(catalog: PriceCatalog, provider: str | None, model: str, usage: TokenUsage) -> Decimal:
    cost = catalog.cost_usd(provider, model, usage, NOW)
    assert cost is not None, f"{provider}/{model} should be priced"
    return cost


def test_sonnet_4_5_at_exactly_200k_prompt_tokens_is_billed_at_base_rates(
    catalog: PriceCatalog,
) -> None:
    usage = TokenUsage(
        input_tokens=100_000,
        cache_read_tokens=50_000,
        cache_write_tokens=40_000,
        cache_write_1h_tokens=10_000,
        output_tokens=5_000,
    )
    # 0.3 input + 0.015 read + 0.15 5m write + 0.06 1h write + 0.075 output
    assert usd(catalog, "anthropic", "claude-sonnet-4-5", usage) == Decimal("0.6")
    assert catalog.cost_nanos("anthropic", "claude-sonnet-4-5", usage, NOW) == 600_000_000


def test_sonnet_4_5_over_200k_bills_the_whole_request_at_premium(catalog: PriceCatalog) -> None:
    # One more input token: every category, output included, moves to the premium rates.
    usage = TokenUsage(
        input_tokens=100_001,
        cache_read_tokens=50_000,
        cache_write_tokens=40_000,
        cache_write_1h_tokens=10_000,
        output_tokens=5_000,
    )
    # 100_001*6 + 50_000*0.6 + 40_000*7.5 + 10_000*12 + 5_000*22.5, per million
    assert usd(catalog, "anthropic", "claude-sonnet-4-5", usage) == Decimal("1.162506")


def test_cache_reads_are_counted_towards_the_long_context_threshold(catalog: PriceCatalog) -> None:
    cached = TokenUsage(input_tokens=10, cache_read_tokens=199_991, output_tokens=0)
    assert usd(catalog, None, "claude-sonnet-4-5", cached) == Decimal("0.1200546")  # all at premium


def test_sonnet_4_long_context_premium_comes_from_our_data(catalog: PriceCatalog) -> None:
    usage = TokenUsage(input_tokens=250_000, output_tokens=1_000)
    assert usd(catalog, None, "claude-sonnet-4-20250514", usage) == Decimal("1.5225")
    price = catalog.resolve(None, "claude-sonnet-4-0", NOW)
    assert price is not None and price.premium is not None
    assert (price.source, price.premium.source) == ("genai-prices", "tokenomy")
    assert price.premium.cache_write_1h == 12_000_000  # 2x the $6 premium input


@pytest.mark.parametrize("model", ["claude-opus-4-8", "claude-opus-4-7"])
def test_anthropic_cache_multipliers(catalog: PriceCatalog, model: str) -> None:
    def one_million(**kwargs: int) -> Decimal:
        return usd(catalog, "anthropic", model, TokenUsage(**kwargs))

    assert one_million(input_tokens=1_000_000) == Decimal(5)
    assert one_million(cache_write_tokens=1_000_000) == Decimal("6.25")  # 1.25x
    assert one_million(cache_write_1h_tokens=1_000_000) == Decimal(10)  # 2x
    assert one_million(cache_read_tokens=1_000_000) == Decimal("0.5")  # 0.1x
    assert one_million(output_tokens=1_000_000) == Decimal(25)


def test_one_hour_write_price_is_derived_when_the_source_has_none(catalog: PriceCatalog) -> None:
    # genai-prices lists Vertex's Claude 3.5 Sonnet without a 1-hour write price.
    price = catalog.resolve("google", "claude-3-5-sonnet-v2@20241022", NOW)
    assert price is not None
    assert (price.input, price.cache_write_1h) == (3_000_000, 6_000_000)


def test_haiku_4_5_dated_id_and_alias(catalog: PriceCatalog) -> None:
    usage = TokenUsage(input_tokens=1_000, output_tokens=1_000, reasoning_tokens=400)
    assert usd(catalog, None, "claude-haiku-4-5-20251001", usage) == Decimal("0.006")
    assert usd(catalog, "anthropic", "claude-haiku-4-5", usage) == Decimal("0.006")
    price = catalog.resolve(None, "claude-haiku-4-5-20251001", NOW)
    assert price is not None and (price.provider, price.model) == ("anthropic", "claude-haiku-4-5")


def test_gpt_5_with_cached_tokens(catalog: PriceCatalog) -> None:
    # OpenAI reported prompt_tokens=10_000 with cached_tokens=8_000: split on the way in.
    usage = TokenUsage(
        input_tokens=2_000, cache_read_tokens=8_000, output_tokens=1_000, reasoning_tokens=500
    )
    assert usd(catalog, "openai", "gpt-5", usage) == Decimal("0.0135")
    assert usd(catalog, None, "gpt-5-codex", usage) == Decimal("0.0135")


def test_gemini_2_5_pro_tiers_apply_to_the_whole_request(catalog: PriceCatalog) -> None:
    under = TokenUsage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=10_000)
    over = TokenUsage(input_tokens=150_001, cache_read_tokens=50_000, output_tokens=10_000)
    assert usd(catalog, "google", "gemini-2.5-pro", under) == Decimal("0.29375")
    assert usd(catalog, "google", "gemini-2.5-pro", over) == Decimal("0.5375025")


def test_price_changes_over_time(catalog: PriceCatalog) -> None:
    # OpenAI cut o3 from $10/$40 to $2/$8 on 2025-06-10 (UTC dates, as genai-prices).
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert catalog.cost_usd(None, "o3", usage, ms("2025-06-09T23:59:59.999")) == Decimal(50)
    assert catalog.cost_usd(None, "o3", usage, ms("2025-06-10T00:00:00")) == Decimal(10)


@pytest.mark.parametrize("model", ["deepseek-chat", "deepseek-reasoner"])
def test_deepseek_prices_follow_its_2025_changes_where_genai_prices_is_stale(
    catalog: PriceCatalog, model: str
) -> None:
    # Our dated corrections (models.yaml): one million tokens of each kind.
    usage = TokenUsage(input_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=1_000_000)

    def at(moment: str) -> Decimal | None:
        return catalog.cost_usd("deepseek", model, usage, ms(moment))

    peak = {"deepseek-chat": Decimal("1.44"), "deepseek-reasoner": Decimal("2.88")}[model]
    assert at("2025-06-01T12:00:00") == peak  # genai-prices' own, before the changes
    assert at("2025-06-01T20:00:00") == Decimal("0.72")  # its night-time discount
    assert at("2025-09-10T20:00:00") == Decimal("2.31")  # V3.1: 0.56 + 0.07 + 1.68, no discount
    assert at("2025-09-29T00:00:00") == Decimal("0.728")  # V3.2: 0.28 + 0.028 + 0.42
    assert catalog.cost_usd(None, model, usage, NOW) == Decimal("0.728")


@pytest.mark.parametrize(
    ("model", "variant", "factor"),
    [
        ("claude-opus-4-8", "speed=fast", 2),  # fast mode: $10 / $50 / $1 read
        ("claude-opus-4-8", "speed=standard", 1),  # no such variant: standard prices
        ("gpt-5.4", "service_tier=priority", 2),
        ("gpt-5.4", "service_tier=default", 1),
        ("claude-opus-4-6", "speed=fast", 1),  # lists no fast mode
    ],
)
def test_a_price_variant_prices_how_the_call_was_served(
    catalog: PriceCatalog, model: str, variant: str, factor: int
) -> None:
    usage = TokenUsage(input_tokens=1_000, cache_read_tokens=100_000, output_tokens=2_000)
    standard = catalog.cost_nanos(None, model, usage, NOW)
    assert standard is not None
    assert catalog.cost_nanos(None, model, usage, NOW, variant) == standard * factor


def test_a_flex_tier_starts_when_its_price_does(catalog: PriceCatalog) -> None:
    # gpt-5.4's flex prices are listed from 2026-10-12 on; before, standard prices.
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    before, after = ms("2026-10-11T12:00:00"), ms("2026-10-12T12:00:00")
    flex = "service_tier=flex"
    assert catalog.cost_usd(None, "gpt-5.4", usage, before, flex) == catalog.cost_usd(
        None, "gpt-5.4", usage, before
    )
    standard = catalog.cost_usd(None, "gpt-5.4", usage, after)
    assert standard is not None
    assert catalog.cost_usd(None, "gpt-5.4", usage, after, flex) == standard / 2


@pytest.mark.parametrize(
    ("model", "cached", "plain"),
    [
        ("ft:gpt-4o-2024-08-06:acme::AbC123", "1.875", "3.75"),
        ("ft:gpt-4o-mini-2024-07-18:acme::AbC123", "0.15", "0.3"),
        ("ft:gpt-4.1-2025-04-14:acme::AbC123", "0.75", "3"),
        ("ft:gpt-4.1-mini-2025-04-14:acme::AbC123", "0.2", "0.8"),
        ("ft:gpt-4.1-nano-2025-04-14:acme::AbC123", "0.05", "0.2"),
    ],
)
def test_fine_tuned_openai_models_bill_cached_input_at_its_price(
    catalog: PriceCatalog, model: str, cached: str, plain: str
) -> None:
    million = 1_000_000
    assert catalog.cost_usd("openai", model, TokenUsage(cache_read_tokens=million), NOW) == Decimal(
        cached
    )
    assert catalog.cost_usd("openai", model, TokenUsage(input_tokens=million), NOW) == Decimal(
        plain
    )


def test_a_correction_without_a_start_date_is_refused() -> None:
    from tokenomy.pricing._packaged import parse_packaged
    from tokenomy.pricing._price import DEFAULT_CACHE_RULES, PriceConfigError

    data = parse_packaged(
        {
            "corrections": [
                {
                    "provider": "deepseek",
                    "match": "deepseek-chat",
                    "input_mtok": 1,
                    "output_mtok": 1,
                    "source": "x",
                }
            ]
        }
    )
    with pytest.raises(PriceConfigError, match=r"corrections\[0\].*starts_at"):
        data.parse_corrections(str, lambda p, m: DEFAULT_CACHE_RULES)


def test_opus_4_6_long_context_premium_ended_on_2026_03_13(catalog: PriceCatalog) -> None:
    usage = TokenUsage(input_tokens=300_000)
    before = catalog.cost_usd(None, "claude-opus-4-6", usage, ms("2026-03-12T23:00:00"))
    after = catalog.cost_usd(None, "claude-opus-4-6", usage, ms("2026-03-13T01:00:00"))
    assert (before, after) == (Decimal(3), Decimal("1.5"))


@pytest.mark.parametrize(
    ("provider", "model", "canonical"),
    [
        (None, "claude-opus-4-8", ("anthropic", "claude-opus-4-8")),
        (None, "claude-sonnet-4-6", ("anthropic", "claude-sonnet-4-6")),
        (None, "gpt-5.1", ("openai", "gpt-5.1")),
        (None, "gpt-5.2", ("openai", "gpt-5.2")),
        (None, "gpt-5.1-codex", ("openai", "gpt-5.1")),
        (None, "gpt-5.6-sol", ("openai", "gpt-5.6-sol")),
        (None, "gpt-5-codex-mini", ("openai", "gpt-5-codex-mini")),
        (None, "gemini-2.5-flash", ("google", "gemini-2.5-flash")),
        (None, "gemini-3-pro-preview", ("google", "gemini-3-pro-preview")),
        ("anthropic", "anthropic/claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
        (None, "anthropic.claude-sonnet-4-5-20250929-v1:0", ("anthropic", "claude-sonnet-4-5")),
        (None, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", ("anthropic", "claude-sonnet-4-5")),
        (None, "claude-sonnet-4-5@20250929", ("anthropic", "claude-sonnet-4-5")),
        (None, "OpenAI/GPT-5", ("openai", "gpt-5")),
        ("xai", "grok-4-0709", ("x-ai", "grok-4-0709")),
        ("azure", "gpt-5", ("openai", "gpt-5")),
    ],
)
def test_model_names_resolve(
    catalog: PriceCatalog, provider: str | None, model: str, canonical: tuple[str, str]
) -> None:
    price = catalog.resolve(provider, model, NOW)
    assert price is not None
    assert (price.provider, price.model) == canonical


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (None, "no-such-model"),
        ("anthropic", "claude-nonexistent-9"),
        ("ollama", "llama3"),
        (None, ""),
    ],
)
def test_unknown_model_costs_none_not_zero(
    catalog: PriceCatalog, provider: str | None, model: str
) -> None:
    usage = TokenUsage(input_tokens=10, output_tokens=10)
    assert catalog.resolve(provider, model, NOW) is None
    assert catalog.cost_nanos(provider, model, usage, NOW) is None
    assert catalog.cost_usd(provider, model, usage, NOW) is None
    assert catalog.cost_nanos(provider, None, usage, NOW) is None


def test_prices_are_integer_pico_dollars_per_token(catalog: PriceCatalog) -> None:
    price = catalog.resolve(None, "claude-sonnet-4-5", NOW)
    assert isinstance(price, ModelPrice)
    assert price.input == 3_000_000  # $3 per million tokens
    assert price.long_context_threshold == 200_000


def test_known_models_lists_canonical_ids(catalog: PriceCatalog) -> None:
    known = set(catalog.known_models())
    assert {
        ("anthropic", "claude-opus-4-8"),
        ("openai", "gpt-5"),
        ("openai", "gpt-5-codex-mini"),
        ("google", "gemini-2.5-pro"),
    } <= known
