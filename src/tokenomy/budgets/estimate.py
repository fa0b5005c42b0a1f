"""What a request may cost before it is sent, so the budget can be reserved for it.

Input: characters / 4 of the request's text (messages, system prompt, tools, schema),
plus a few tokens per message, and a flat allowance per image. This is close for English
prose and low for code, non-Latin scripts and unusual tokenizers; the documented
overspend bound (docs/budgets.md) is exactly the sum of such shortfalls over the requests
in flight. Output: the request's own cap (``max_tokens``, ``max_completion_tokens``),
times ``n``, or ``default_max_tokens`` when it sets none. Both are priced at the alias's
first deployment: input as uncached input, output as output; an unpriced model at a
deliberately high fallback price, so that a budget still holds.
"""

from __future__ import annotations

from typing import Any

from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage

CHARS_PER_TOKEN = 4
PER_MESSAGE_TOKENS = 4  # role and separators, as chat formats add them
REPLY_TOKENS = 3  # the assistant turn the provider primes
IMAGE_TOKENS = 1600  # about a 1,000 x 1,000 image on either provider
# Parts of a request that become prompt tokens (the rest are parameters).
_PROMPT_FIELDS = (
    "messages",
    "system",
    "tools",
    "functions",
    "tool_choice",
    "response_format",
    "input",
    "prompt",
)
# Used for a model without a price: a frontier model's list price, so that an unpriced
# model is reserved for, and counted, generously rather than free.
FALLBACK_INPUT_NANOS_PER_TOKEN = 15_000  # $15 per million tokens
FALLBACK_OUTPUT_NANOS_PER_TOKEN = 75_000  # $75 per million tokens


def input_tokens(body: dict[str, Any]) -> int:
    chars = images = ids = extra = 0
    for name in _PROMPT_FIELDS:
        value = body.get(name)
        if value is None:
            continue
        if name == "messages" and isinstance(value, list):
            extra += PER_MESSAGE_TOKENS * len(value) + REPLY_TOKENS
        c, i, t = _measure(value)
        chars, images, ids = chars + c, images + i, ids + t
    return -(-chars // CHARS_PER_TOKEN) + images * IMAGE_TOKENS + ids + extra


def _measure(value: Any) -> tuple[int, int, int]:
    """(characters of text, images, tokens given as ids) in a JSON value. A loop, not
    recursion: a request nested a thousand deep must not crash the gateway."""
    chars = images = ids = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.startswith("data:"):  # an inline image or file, base64: not text
                images += 1
            else:
                chars += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            ids += 1  # embeddings input given as token ids
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            kind = item.get("type")
            if kind in ("image", "image_url", "input_image", "document") or (
                kind == "base64" and "data" in item
            ):
                images += 1
                continue
            chars += sum(len(k) for k in item)
            stack.extend(item.values())
    return chars, images, ids


def output_tokens(body: dict[str, Any], operation: str, default_max_tokens: int) -> int:
    if operation == "embeddings":
        return 0
    cap = None
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            cap = value
            break
    choices = body.get("n")
    n = choices if isinstance(choices, int) and not isinstance(choices, bool) and choices > 1 else 1
    return (default_max_tokens if cap is None else cap) * n


def estimate_usage(body: dict[str, Any], operation: str, default_max_tokens: int) -> TokenUsage:
    return TokenUsage(
        input_tokens=input_tokens(body),
        output_tokens=output_tokens(body, operation, default_max_tokens),
    )


def price(
    catalog: PriceCatalog, provider: str | None, model: str | None, usage: TokenUsage, at_ms: int
) -> int:
    """Cost in nanos at the catalog's price, or at the fallback price if it has none."""
    cost = catalog.cost_nanos(provider, model, usage, at_ms)
    return fallback_cost(usage) if cost is None else cost


def fallback_cost(usage: TokenUsage) -> int:
    prompt = (
        usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
        + usage.cache_write_1h_tokens
    )
    return (
        prompt * FALLBACK_INPUT_NANOS_PER_TOKEN
        + usage.output_tokens * FALLBACK_OUTPUT_NANOS_PER_TOKEN
    )
