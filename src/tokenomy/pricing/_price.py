"""Per-token prices as integers, and the arithmetic that turns token counts into money.

Prices are kept in pico-dollars (1e-12 USD) per token: $3 per million tokens is exactly
3_000_000 pico per token, and every price quoted to a millionth of a dollar per million
tokens is an integer. Costs are then sums of integer products, exact and fast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from tokenomy.record import TokenUsage

PICO_PER_USD = 10**12
# One "per million tokens" USD price in pico-dollars per token.
_PICO_PER_TOKEN_PER_MTOK_USD = 10**6


class PriceConfigError(ValueError):
    """A price file (user overrides or packaged data) is malformed; the message names where."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model for one period, in integer pico-dollars per token.

    ``premium`` holds the prices that apply to the *whole* request once its prompt side
    (input + cache reads + cache writes) exceeds ``long_context_threshold``. A premium may
    have its own threshold and premium, for providers with several long-context tiers.
    """

    provider: str
    model: str
    input: int
    output: int
    cache_read: int
    cache_write: int
    cache_write_1h: int
    long_context_threshold: int | None
    premium: ModelPrice | None
    source: str
    # Pico-dollars per server-side web search (Anthropic: $10 per 1,000); 0 when none.
    web_search: int = 0

    def for_prompt(self, prompt_tokens: int) -> ModelPrice:
        """The prices billed for a request whose prompt side has ``prompt_tokens`` tokens."""
        price = self
        while price.premium is not None and price.long_context_threshold is not None:
            if prompt_tokens <= price.long_context_threshold:
                break
            price = price.premium
        return price

    def cost_pico(self, usage: TokenUsage, web_searches: int = 0) -> int:
        """Exact cost in pico-dollars. ``reasoning_tokens`` are already inside ``output_tokens``;
        ``web_searches`` are the provider's own searches, billed per search."""
        i = usage.input_tokens
        r = usage.cache_read_tokens
        w = usage.cache_write_tokens
        h = usage.cache_write_1h_tokens
        price = self if self.premium is None else self.for_prompt(i + r + w + h)
        return (
            i * price.input
            + r * price.cache_read
            + w * price.cache_write
            + h * price.cache_write_1h
            + usage.output_tokens * price.output
            + web_searches * self.web_search
        )

    def renamed(self, provider: str, model: str) -> ModelPrice:
        """The same prices under another canonical id (premium tiers included)."""
        premium = None if self.premium is None else self.premium.renamed(provider, model)
        return replace(self, provider=provider, model=model, premium=premium)


@dataclass(frozen=True, slots=True)
class CacheRules:
    """How a provider prices cache tokens it publishes no separate price for, as multiples
    of the input price. ``write_1h`` of None means "same as a 5-minute write"."""

    read: Decimal = Decimal(1)
    write: Decimal = Decimal(1)
    write_1h: Decimal | None = None


# Without a rule, a cache token costs what the same token costs uncached: that is how
# genai-prices bills a category it has no price for (the tokens stay inside input).
DEFAULT_CACHE_RULES = CacheRules()


@dataclass(frozen=True, slots=True)
class MtokPrices:
    """USD per million tokens as published; None where the source gives no price."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None


def mtok_to_pico(value: Decimal) -> int:
    """USD per million tokens -> pico-dollars per token.

    Exact for any price with at most six decimals. Finer prices only come from float noise
    in aggregator data (e.g. 0.18000000000000002) or repeating fractions (1/12), where the
    nearest pico-dollar is as good as any finite decimal.
    """
    return int((value * _PICO_PER_TOKEN_PER_MTOK_USD).to_integral_value(ROUND_HALF_EVEN))


def build_price(
    provider: str,
    model: str,
    levels: list[tuple[int | None, MtokPrices]],
    rules: CacheRules,
    source: str,
    web_search: int = 0,
) -> ModelPrice:
    """A price chain from (threshold, prices) levels, lowest first; ``web_search`` is the
    price of one web search (pico-dollars), whatever the prompt's size.

    Level k's threshold is the prompt size above which level k+1 applies; the last level
    has no threshold. Missing cache prices are derived from that level's input price.
    """
    premium: ModelPrice | None = None
    for threshold, prices in reversed(levels):
        write = prices.cache_write
        if write is None:
            write = prices.input * rules.write
        write_1h = prices.cache_write_1h
        if write_1h is None:
            write_1h = write if rules.write_1h is None else prices.input * rules.write_1h
        read = prices.cache_read
        if read is None:
            read = prices.input * rules.read
        premium = ModelPrice(
            provider=provider,
            model=model,
            input=mtok_to_pico(prices.input),
            output=mtok_to_pico(prices.output),
            cache_read=mtok_to_pico(read),
            cache_write=mtok_to_pico(write),
            cache_write_1h=mtok_to_pico(write_1h),
            long_context_threshold=threshold if premium is not None else None,
            premium=premium,
            source=source,
            web_search=web_search,
        )
    if premium is None:
        raise ValueError("build_price needs at least one level")
    return premium


def kcount_to_pico(value: Decimal) -> int:
    """USD per thousand requests -> pico-dollars per request."""
    return int((value * 10**9).to_integral_value(ROUND_HALF_EVEN))


def nanos_from_pico(pico: int) -> int:
    """Integer nano-dollars, rounded half-up from an exact pico-dollar amount."""
    return (pico + 500) // 1000


def usd_from_pico(pico: int) -> Decimal:
    return Decimal(pico).scaleb(-12)
