"""The price catalog: resolve a recorded (provider, model) once, then price calls fast.

Sources, weakest first: genai-prices' bundled data, our ``data/models.yaml`` for models it
lacks, the user's override file. A user entry applies from its ``starts_at`` on and beats
the packaged price while in force. A model no source knows has no cost (None), never 0.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tokenomy.pricing._entries import PriceEntry
from tokenomy.pricing._genai import GenaiPrices
from tokenomy.pricing._names import Naming
from tokenomy.pricing._overrides import EntryIndex, read_overrides
from tokenomy.pricing._packaged import PackagedData, read_packaged
from tokenomy.pricing._price import (
    DEFAULT_CACHE_RULES,
    CacheRules,
    ModelPrice,
    nanos_from_pico,
    usd_from_pico,
)
from tokenomy.pricing._schedule import Period, Schedule
from tokenomy.record import TokenUsage

_MISS = object()
# Callers pass model names from logs and requests; bound the memo so a stream of junk
# names cannot grow it without limit.
_MEMO_LIMIT = 50_000

DEFAULT_OVERRIDES_PATH = Path("~/.tokenomy/prices.toml")


class PriceCatalog:
    """Prices for every known model at every instant. Build with :meth:`load`."""

    def __init__(self, packaged: PackagedData, overrides: Path | None = None) -> None:
        self._packaged = packaged
        self._genai = GenaiPrices(packaged.long_context, self._rules_for)
        self._naming = Naming(packaged.inference, self._genai.providers)
        self._gaps = EntryIndex(packaged.parse_models(self._naming.provider_id, self._rules_for))
        entries = (
            []
            if overrides is None
            else read_overrides(overrides, self._naming.provider_id, self._rules_for)
        )
        self._overrides = EntryIndex(entries)
        self._memo: dict[tuple[str | None, str], ModelPrice | Schedule | None] = {}

    @classmethod
    def load(cls, overrides: Path | None = None) -> PriceCatalog:
        """Packaged prices plus the override file at ``overrides``, if given and present.

        None means no user overrides: the caller decides whether to read the default
        ``~/.tokenomy/prices.toml`` (``DEFAULT_OVERRIDES_PATH.expanduser()``). Raises
        :class:`PriceConfigError` naming the file, entry and key when the file is malformed.
        """
        return cls(read_packaged(), overrides)

    def resolve(self, provider: str | None, model: str, at_ms: int) -> ModelPrice | None:
        """The prices in force for ``model`` at ``at_ms`` (UTC epoch ms), or None if unknown."""
        entry = self._memo.get((provider, model), _MISS)
        if entry is _MISS:
            entry = self._remember(provider, model)
        if entry is None or isinstance(entry, ModelPrice):
            return entry
        assert isinstance(entry, Schedule)
        return entry.at(at_ms)

    def cost_nanos(
        self, provider: str | None, model: str | None, usage: TokenUsage, at_ms: int
    ) -> int | None:
        """Cost in integer nano-dollars, rounded half-up from the exact amount; None if unpriced."""
        if model is None:
            return None
        price = self.resolve(provider, model, at_ms)
        if price is None:
            return None
        return nanos_from_pico(price.cost_pico(usage))

    def cost_usd(
        self, provider: str | None, model: str | None, usage: TokenUsage, at_ms: int
    ) -> Decimal | None:
        """The exact cost in USD (to the pico-dollar); None if unpriced."""
        if model is None:
            return None
        price = self.resolve(provider, model, at_ms)
        if price is None:
            return None
        return usd_from_pico(price.cost_pico(usage))

    def known_models(self) -> list[tuple[str, str]]:
        """Canonical (provider, model) ids with token prices; globs are not listed."""
        known = set(self._genai.known())
        for index in (self._gaps, self._overrides):
            known.update((e.provider, e.pattern) for e in index.entries if not e.is_glob)
        return sorted(known)

    def _remember(self, provider: str | None, model: str) -> ModelPrice | Schedule | None:
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        entry = self._build(provider, model)
        self._memo[(provider, model)] = entry
        return entry

    def _build(self, provider: str | None, model: str) -> ModelPrice | Schedule | None:
        for pid, ref in self._naming.attempts(provider, model):
            built = self._build_one(pid, ref)
            if built is not None:
                return built
        return None

    def _build_one(self, pid: str | None, ref: str) -> ModelPrice | Schedule | None:
        owner, canonical, packaged = pid, ref, None
        if pid is not None:
            found = self._genai.find(pid, ref)
            if found is None:
                gaps = self._gaps.matching({pid}, [ref])
                if gaps:
                    owner, canonical = gaps[-1].provider, _name_of(gaps[-1].pattern, ref)
                    packaged = Schedule(_periods(gaps, owner, canonical), None)
            else:
                owner, canonical, packaged = found
        users = self._overrides.matching({pid, owner}, [ref, canonical]) if self._overrides else []
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
