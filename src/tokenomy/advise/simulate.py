"""What a provider's prompt cache would have done with one prefix's calls.

Pure functions over token counts and times (no database, no prices), so the API, the CLI
and the benchmark replaying a trace all run the same simulation.

The model: the calls of one prefix, in time order, are one conversation. Each call's
prompt starts with what the previous call sent (a conversation grows: the previous prompt,
its answer, a new message), so it repeats ``min(prompt, previous prompt)`` tokens; a call
that read more than that from the provider's cache proves a longer repeat and is taken at
its word. The cache holds one entry per prefix: the last call's whole prompt (a breakpoint
at the end of each prompt), alive until ``ttl`` after its last use. A call reads the part
of its repeat that is still alive, if that part reaches the provider's minimum, and writes
(or, with automatic caching, pays as input) the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenomy.advise.policies import HOUR_MS, CachePolicy


@dataclass(frozen=True, slots=True)
class Use:
    """One call as the simulation sees it."""

    at_ms: int
    prompt: int  # every prompt-side token: input, cache reads and writes
    reusable: int  # of them, sent before by this prefix (see ``reusable``)


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    caching: bool
    long: bool = False  # writes with the longer TTL at its price


NO_CACHE = Strategy("none", caching=False)
ANTHROPIC_5M = Strategy("anthropic_5m", caching=True)
ANTHROPIC_1H = Strategy("anthropic_1h", caching=True, long=True)
OPENAI_AUTO = Strategy("openai_auto", caching=True)


def strategies_for(policy: CachePolicy) -> tuple[Strategy, ...]:
    """What a caller can choose: automatic caching cannot be switched off or lengthened."""
    if policy.automatic:
        return (OPENAI_AUTO,)
    return (NO_CACHE, ANTHROPIC_5M, ANTHROPIC_1H)


@dataclass(frozen=True, slots=True)
class Split:
    """One call's prompt as the provider would bill it (the record's token categories)."""

    input: int
    read: int
    write: int
    write_1h: int


@dataclass(slots=True)
class Run:
    splits: list[Split]
    evicted: int = 0  # calls whose repeat had expired from the cache (a gap over the TTL)
    evicted_within_hour: int = 0  # of them, after a gap a 1-hour entry would have covered


def reusable(prompts: Sequence[int], reads: Sequence[int]) -> list[int]:
    """How many tokens of each call were sent before by the same prefix: the smaller of
    its prompt and the previous one, or what the provider says it read, if more."""
    out: list[int] = []
    previous = 0
    for prompt, read in zip(prompts, reads, strict=True):
        out.append(min(prompt, max(min(prompt, previous), read)))
        previous = prompt
    return out


def simulate(uses: Sequence[Use], policy: CachePolicy, strategy: Strategy, *, warm: int = 0) -> Run:
    """Each call's split under ``strategy``. ``warm``: tokens the first call found in the
    cache already (written before the range began, as its own reads show)."""
    if not strategy.caching:
        return Run([Split(u.prompt, 0, 0, 0) for u in uses])
    long_ttl = policy.long_ttl_ms if strategy.long else None
    ttl = long_ttl if long_ttl is not None else policy.ttl_ms
    run = Run([])
    cached = warm
    last_use = uses[0].at_ms if uses and warm else None
    for use in uses:
        if use.prompt < policy.min_tokens:  # too short to cache: nothing read or kept
            run.splits.append(Split(use.prompt, 0, 0, 0))
            continue
        repeat = min(use.reusable, cached)
        alive = last_use is not None and use.at_ms - last_use <= ttl
        if repeat >= policy.min_tokens and not alive and last_use is not None:
            run.evicted += 1
            if use.at_ms - last_use <= HOUR_MS:
                run.evicted_within_hour += 1
        read = repeat - repeat % policy.step if alive and repeat >= policy.min_tokens else 0
        rest = use.prompt - read
        if policy.automatic:
            run.splits.append(Split(rest, read, 0, 0))
        elif strategy.long:
            run.splits.append(Split(0, read, 0, rest))
        else:
            run.splits.append(Split(0, read, rest, 0))
        cached, last_use = use.prompt, use.at_ms
    return run
