"""Resolving a (provider, model) to its price schedule from every source.

This is the expensive part of pricing (it loads genai-prices' data, our YAML and the user's
overrides), so :class:`~tokenomy.pricing.catalog.PriceCatalog` builds it only when a model
is not in its persistent cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tokenomy.pricing._entries import PriceEntry
from tokenomy.pricing._genai import GenaiPrices
from tokenomy.pricing._names import Naming
from tokenomy.pricing._overrides import EntryIndex, read_overrides
from tokenomy.pricing._packaged import PackagedData, read_packaged
from tokenomy.pricing._price import DEFAULT_CACHE_RULES, CacheRules, ModelPrice
from tokenomy.pricing._schedule import Period, Schedule


class Resolver:
    """Sources, weakest first: genai-prices, our ``data/models.yaml`` (its ``models`` fill
    genai-prices' gaps, its ``corrections`` replace its stale prices from a date on), the
    override file."""

    def __init__(self, overrides: Path | None = None, packaged: PackagedData | None = None) -> None:
        self._packaged = packaged or read_packaged()
        self._genai = GenaiPrices(self._packaged.long_context, self._rules_for)
        self._naming = Naming(self._packaged.inference, self._genai.providers)
        self._gaps = EntryIndex(
            self._packaged.parse_models(self._naming.provider_id, self._rules_for)
        )
        self._corrections = EntryIndex(
            self._packaged.parse_corrections(self._naming.provider_id, self._rules_for)
        )
        entries = (
            []
            if overrides is None
            else read_overrides(overrides, self._naming.provider_id, self._rules_for)
        )
        self._overrides = EntryIndex(entries)

    def known_models(self) -> list[tuple[str, str]]:
        """Canonical (provider, model) ids with token prices; globs are not listed."""
        known = set(self._genai.known())
        for index in (self._gaps, self._overrides):
            known.update((e.provider, e.pattern) for e in index.entries if not e.is_glob)
        return sorted(known)

    def build(
        self, provider: str | None, model: str, variant: Mapping[str, str] | None = None
    ) -> ModelPrice | Schedule | None:
        """The prices of ``model``; with ``variant``, of that way of serving it (fast mode,
        a service tier) where genai-prices lists one, else the standard ones."""
        for pid, ref in self._naming.attempts(provider, model):
            built = self._build_one(pid, ref, variant)
            if built is not None:
                return built
        return None

    def _build_one(
        self, pid: str | None, ref: str, variant: Mapping[str, str] | None = None
    ) -> ModelPrice | Schedule | None:
        owner, canonical, packaged = pid, ref, None
        found = None
        if pid is not None:
            found = self._genai.find(pid, ref, variant)
            if found is None:
                gaps = self._gaps.matching({pid}, [ref])
                if gaps:
                    owner, canonical = gaps[-1].provider, _name_of(gaps[-1].pattern, ref)
                    packaged = Schedule(_periods(gaps, owner, canonical), None)
            else:
                owner, canonical, packaged = found
        # Our dated corrections of a source's stale prices, then the user's own entries:
        # later periods win while in force.
        users = [
            *(self._corrections.matching({owner}, [canonical]) if found is not None else []),
            *(self._overrides.matching({pid, owner}, [ref, canonical]) if self._overrides else []),
        ]
        if packaged is None and not users:
            return None
        if packaged is None:
            owner, canonical = users[-1].provider, _name_of(users[-1].pattern, ref)
        assert owner is not None
        periods = packaged.periods if packaged is not None else ()
        schedule = Schedule(
            periods + _periods(users, owner, canonical),
            packaged.default if packaged is not None else None,
        )
        return schedule.simplified()

    def _rules_for(self, provider: str, model: str) -> CacheRules:
        family = self._naming.family(provider, model)
        rules = self._packaged.cache_rules
        return rules.get(family) or rules.get(provider) or DEFAULT_CACHE_RULES


def _periods(entries: list[PriceEntry], provider: str, model: str) -> tuple[Period, ...]:
    return tuple(
        Period(e.price.renamed(provider, model), start_ms=e.starts_at_ms)
        if e.starts_at_ms is not None
        else Period(e.price.renamed(provider, model))
        for e in entries
    )


def _name_of(pattern: str, ref: str) -> str:
    """A glob names the model by the id asked for; an exact entry by its own id."""
    return ref if any(char in "*?[" for char in pattern) else pattern
