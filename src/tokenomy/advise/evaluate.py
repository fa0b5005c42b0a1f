"""One prefix's calls: what they paid for their prompts, what each caching strategy would
have paid, and which strategy to recommend.

Money is integer pico-dollars until the answer is written (then nano-dollars, then USD),
priced at each call's own time and prompt size (a long-context premium bills the whole
prompt, cached or not). Output tokens are left out: caching does not change them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import pairwise

from tokenomy.advise.calls import Group
from tokenomy.advise.policies import HOUR_MS, CachePolicy
from tokenomy.advise.simulate import Run, Split, Use, reusable, simulate, strategies_for
from tokenomy.pricing import ModelPrice, PriceCatalog

EVIDENCE = 3


@dataclass(slots=True)
class Tally:
    """Prompt tokens by category and their cost, over some calls."""

    pico: int = 0
    input: int = 0
    read: int = 0
    write: int = 0
    write_1h: int = 0

    def add(self, split: Split, pico: int) -> None:
        self.pico += pico
        self.input += split.input
        self.read += split.read
        self.write += split.write
        self.write_1h += split.write_1h

    def merge(self, other: Tally) -> None:
        self.pico += other.pico
        self.input += other.input
        self.read += other.read
        self.write += other.write
        self.write_1h += other.write_1h


@dataclass(slots=True)
class Evaluation:
    group: Group
    policy: CachePolicy
    prompt_tokens: int
    repeated_tokens: int  # the estimate: tokens these calls sent again
    actual: Tally
    strategies: dict[str, Tally]
    best: str
    # Reuse gaps (time since the prefix's previous call, for calls with a cacheable
    # repeat): within the short TTL, within an hour, longer.
    gaps: tuple[int, int, int]
    evicted: int  # under the short TTL, repeats that had expired
    evicted_within_hour: int
    rewritten: int  # calls that paid to write again what they had sent before
    evidence: list[str] = field(default_factory=list)

    @property
    def savings_pico(self) -> int:
        return self.actual.pico - self.strategies[self.best].pico

    @property
    def one_hour_pays(self) -> bool | None:
        """Whether 1-hour writes (dearer) would cost less than 5-minute ones here."""
        short, long = self.strategies.get("anthropic_5m"), self.strategies.get("anthropic_1h")
        if short is None or long is None:
            return None
        return long.pico < short.pico


def _pico(price: ModelPrice, split: Split, prompt: int) -> int:
    p = price.for_prompt(prompt)
    return (
        split.input * p.input
        + split.read * p.cache_read
        + split.write * p.cache_write
        + split.write_1h * p.cache_write_1h
    )


def evaluate(group: Group, policy: CachePolicy, catalog: PriceCatalog) -> Evaluation | None:
    """The group's figures, or None when a call's model has no price at its time."""
    calls = group.calls
    prices: list[ModelPrice] = []
    for c in calls:
        price = catalog.resolve(group.provider, group.model, c.at_ms)
        if price is None:
            return None
        prices.append(price)
    prompts = [c.prompt for c in calls]
    repeats = reusable(prompts, [c.read for c in calls])
    uses = [Use(c.at_ms, p, r) for c, p, r in zip(calls, prompts, repeats, strict=True)]
    warm = calls[0].read
    actual = Tally()
    actual_each: list[int] = []
    for c, price, prompt in zip(calls, prices, prompts, strict=True):
        split = Split(c.input, c.read, c.write, c.write_1h)
        actual_each.append(_pico(price, split, prompt))
        actual.add(split, actual_each[-1])
    tallies: dict[str, Tally] = {}
    each: dict[str, list[int]] = {}
    runs: dict[str, Run] = {}
    for strategy in strategies_for(policy):
        run = simulate(uses, policy, strategy, warm=warm)
        runs[strategy.name] = run
        tally, costs = Tally(), []
        for split, price, prompt in zip(run.splits, prices, prompts, strict=True):
            costs.append(_pico(price, split, prompt))
            tally.add(split, costs[-1])
        tallies[strategy.name], each[strategy.name] = tally, costs
    # The cheapest; on a tie the simpler one (listed first: no cache before 5 min, 1 h).
    best = min(tallies, key=lambda name: tallies[name].pico)
    # Evictions are counted under the provider's usual TTL (5 minutes).
    short = next(runs[s.name] for s in strategies_for(policy) if s.caching and not s.long)
    out = Evaluation(
        group,
        policy,
        sum(prompts),
        sum(repeats),
        actual,
        tallies,
        best,
        _gaps(uses, policy),
        short.evicted,
        short.evicted_within_hour,
        _rewritten(group, repeats, policy),
    )
    # The calls where the advice changes the most, so a reader can open and check them.
    gains = (
        (a - b, -c.at_ms, c.id) for a, b, c in zip(actual_each, each[best], calls, strict=True)
    )
    out.evidence = [call_id for _, _, call_id in heapq.nlargest(EVIDENCE, gains)]
    return out


def _gaps(uses: list[Use], policy: CachePolicy) -> tuple[int, int, int]:
    short = within_hour = longer = 0
    for previous, use in pairwise(uses):
        if use.reusable < policy.min_tokens:
            continue
        gap = use.at_ms - previous.at_ms
        if gap <= policy.ttl_ms:
            short += 1
        elif gap <= HOUR_MS:
            within_hour += 1
        else:
            longer += 1
    return short, within_hour, longer


def _rewritten(group: Group, repeats: list[int], policy: CachePolicy) -> int:
    """Calls that wrote to the cache part of what they had sent before: the provider had
    let it expire (or the prompt changed early on, which also defeats the cache)."""
    return sum(
        1
        for c, repeat in zip(group.calls[1:], repeats[1:], strict=True)
        if repeat >= policy.min_tokens and c.write + c.write_1h > c.prompt - repeat
    )
