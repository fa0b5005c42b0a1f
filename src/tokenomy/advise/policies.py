"""How each provider's prompt cache behaves, as data: who caches what, from which length,
in which steps, and for how long. Prices are not here: they come from the price catalog
(``cache_read``, ``cache_write`` and ``cache_write_1h`` of each model).

Sources (checked 2026-11):
- Anthropic: https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
  (``cache_control`` breakpoints, up to 4 per request; entries live 5 minutes, or 1 hour
  with ``ttl: "1h"``, refreshed for free by every hit; minimum cacheable prompt per model).
- OpenAI: https://platform.openai.com/docs/guides/prompt-caching (automatic for prompts
  of 1,024 tokens or more, cached in 128-token steps, entries usually evicted after 5-10
  minutes of inactivity and always within an hour). We take the 5 minutes: the advice
  then never counts on reads the provider may not give.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """One provider family's prompt cache, for one model."""

    family: str  # "anthropic" or "openai"
    automatic: bool  # the provider caches by itself; else the caller marks breakpoints
    min_tokens: int  # the shortest prefix the provider caches
    step: int  # cached lengths are multiples of this (1: any length)
    ttl_ms: int  # an unused entry's life; every use starts it again
    long_ttl_ms: int | None  # the longer tier bought with a dearer write, if any


# Minimum cacheable prompt of Claude models, first match on the model id wins; the rest
# take 1,024 (Sonnet 4.5, Opus 4 and 4.1, Sonnet 4 and 3.7). Opus 4.7 and later are
# assumed to keep Opus 4.5's 4,096.
_CLAUDE_MINIMUMS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"opus-4[-.]([5-9]|\d\d)|opus-[5-9]"), 4096),
    (re.compile(r"haiku-4[-.]5|haiku-[5-9]"), 4096),
    (re.compile(r"sonnet-4[-.]([6-9]|\d\d)|sonnet-[5-9]"), 2048),
    (re.compile(r"haiku"), 2048),  # Haiku 3 and 3.5
)
_CLAUDE_DEFAULT_MIN = 1024

# Which family's rules a model follows, from its id (Claude on Bedrock, Vertex or a
# router is still cached by Anthropic's rules), then from the recorded provider.
_FAMILY_BY_MODEL: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"claude"), "anthropic"),
    (re.compile(r"(^|/)(gpt-[4-9]|chatgpt-|o[134](-|$)|codex)"), "openai"),
)
_FAMILY_BY_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "azure": "openai"}

OPENAI_MIN_TOKENS = 1024
OPENAI_STEP = 128
OPENAI_EVICTION_MS = 5 * MINUTE_MS
ANTHROPIC_TTL_MS = 5 * MINUTE_MS
ANTHROPIC_LONG_TTL_MS = HOUR_MS


def family_of(provider: str | None, model: str) -> str | None:
    name = model.lower()
    for pattern, family in _FAMILY_BY_MODEL:
        if pattern.search(name):
            return family
    return _FAMILY_BY_PROVIDER.get((provider or "").lower())


def policy_for(provider: str | None, model: str) -> CachePolicy | None:
    """The cache rules ``model`` is billed by, or None for a provider we do not model."""
    family = family_of(provider, model)
    if family == "anthropic":
        name = model.lower()
        minimum = next((n for p, n in _CLAUDE_MINIMUMS if p.search(name)), _CLAUDE_DEFAULT_MIN)
        return CachePolicy("anthropic", False, minimum, 1, ANTHROPIC_TTL_MS, ANTHROPIC_LONG_TTL_MS)
    if family == "openai":
        return CachePolicy("openai", True, OPENAI_MIN_TOKENS, OPENAI_STEP, OPENAI_EVICTION_MS, None)
    return None


def assumptions() -> dict[str, object]:
    """The rules the advice rests on, for answers to carry (so a reader can check them)."""
    return {
        "anthropic": {
            "breakpoint": "cache_control at the end of each prompt, so a call reads what "
            "the previous call of its prefix wrote and writes the rest",
            "ttl_minutes": ANTHROPIC_TTL_MS // MINUTE_MS,
            "long_ttl_minutes": ANTHROPIC_LONG_TTL_MS // MINUTE_MS,
            "refreshed_by_each_hit": True,
            "min_tokens": f"{_CLAUDE_DEFAULT_MIN} (2,048 Haiku 3/3.5 and Sonnet 4.6, "
            "4,096 Opus 4.5+ and Haiku 4.5)",
        },
        "openai": {
            "automatic": True,
            "min_tokens": OPENAI_MIN_TOKENS,
            "step_tokens": OPENAI_STEP,
            "evicted_after_idle_minutes": OPENAI_EVICTION_MS // MINUTE_MS,
        },
        "reuse": "calls of one prefix (prefix_hash, else session, else prompt_hash) and "
        "model, in time order: each repeats min(its prompt, the previous call's prompt) "
        "tokens, or what it read from the cache if more",
    }
