"""Prices from the installed genai-prices package, converted to integer schedules.

genai-prices' bundled data is read as it ships: we never start its auto-updater, so
nothing here touches the network. A model is converted once, the first time it is asked
for, because the package lists thousands of models and an import needs a handful.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from genai_prices.data import providers as genai_providers
from genai_prices.data_snapshot import find_provider_by_id
from genai_prices.types import (
    ModelInfo,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)
from genai_prices.types import ModelPrice as GenaiPrice

from tokenomy.pricing._packaged import TOKENOMY_SOURCE, LongContext
from tokenomy.pricing._price import (
    CacheRules,
    ModelPrice,
    MtokPrices,
    build_price,
    kcount_to_pico,
)
from tokenomy.pricing._schedule import Period, Schedule, date_start_ms, time_of_day_ms

GENAI_SOURCE = "genai-prices"
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)  # before any price's start date
_Value = Decimal | TieredPrices | None
_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok")


class GenaiPrices:
    def __init__(
        self,
        long_context: Mapping[tuple[str, str], LongContext],
        rules_for: Callable[[str, str], CacheRules],
        providers: list[Provider] | None = None,
    ) -> None:
        self.providers = genai_providers if providers is None else providers
        self._long_context = long_context
        self._rules_for = rules_for
        self._owners: dict[int, str] | None = None
        self._schedules: dict[int, Schedule] = {}

    def find(
        self, provider: str, ref: str, variant: Mapping[str, str] | None = None
    ) -> tuple[str, str, Schedule] | None:
        """(owning provider, canonical model id, schedule) for a model id under a provider;
        with ``variant`` (e.g. ``{"speed": "fast"}``), the prices of that way of serving
        it where the provider lists them (genai-prices' ``price_variants``)."""
        found = find_provider_by_id(self.providers, provider)
        if found is None:
            return None
        info = found.find_model(ref, all_providers=self.providers)
        if info is None:
            return None
        owner = self._owner(info, found.id)
        schedule = self._schedule(info, owner)
        # As genai-prices: a model reached through another provider's list keeps its
        # standard prices (the variants are the listing provider's own).
        if variant and owner == found.id:
            schedule = self._variant_schedule(info, owner, variant) or schedule
        if schedule.default is None and all(p.price is None for p in schedule.periods):
            return None  # listed without token prices (e.g. subscription-only models)
        return owner, info.id, schedule

    def known(self) -> Iterator[tuple[str, str]]:
        for provider in self.providers:
            for info in provider.models:
                if any(price.__dict__.get("input_mtok") is not None for price in _prices(info)):
                    yield provider.id, info.id

    def _owner(self, info: ModelInfo, fallback: str) -> str:
        # A provider may fall back to another's list (Azure -> OpenAI): the model's own
        # provider is its canonical one.
        if self._owners is None:
            self._owners = {id(m): p.id for p in self.providers for m in p.models}
        return self._owners.get(id(info), fallback)

    def _schedule(self, info: ModelInfo, owner: str) -> Schedule:
        key = id(info)
        schedule = self._schedules.get(key)
        if schedule is None:
            schedule = self._schedules[key] = self._convert(info, owner)
        return schedule

    def _variant_schedule(
        self, info: ModelInfo, owner: str, variant: Mapping[str, str]
    ) -> Schedule | None:
        """The schedule with ``variant``'s overrides, or None when none applies. Prices
        change only at the start dates of the model's prices and of its variants, so the
        price from each such date on is genai-prices' own ``get_prices`` on that date."""
        matching = [
            v
            for v in info.price_variants or ()
            if all(variant.get(k) == value for k, value in v.when.items())
        ]
        standard = [] if isinstance(info.prices, GenaiPrice) else list(info.prices)
        if not matching or any(isinstance(c.constraint, TimeOfDateConstraint) for c in standard):
            return None  # no such variant (or off-peak windows, which no variant has)
        constraints = [c.constraint for c in standard] + [v.constraint for v in matching]
        starts = sorted({c.start_date for c in constraints if isinstance(c, StartDateConstraint)})
        context = dict(variant)
        periods = [Period(self._price(info.get_prices(_EARLIEST, context), owner, info.id))]
        for day in starts:
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            price = self._price(info.get_prices(moment, context), owner, info.id)
            periods.append(Period(price, start_ms=date_start_ms(day)))
        return Schedule(tuple(periods), periods[0].price)

    def _convert(self, info: ModelInfo, owner: str) -> Schedule:
        if isinstance(info.prices, GenaiPrice):
            return Schedule((Period(self._price(info.prices, owner, info.id)),), None)
        periods = []
        for conditional in info.prices:
            price = self._price(conditional.prices, owner, info.id)
            constraint = conditional.constraint
            if isinstance(constraint, StartDateConstraint):
                periods.append(Period(price, start_ms=date_start_ms(constraint.start_date)))
            elif isinstance(constraint, TimeOfDateConstraint):
                window = (
                    time_of_day_ms(constraint.start_time),
                    time_of_day_ms(constraint.end_time),
                )
                periods.append(Period(price, daily=window))
            else:
                periods.append(Period(price))
        # genai-prices uses a model's first price when none of its constraints hold.
        return Schedule(tuple(periods), periods[0].price if periods else None)

    def _price(self, price: GenaiPrice, owner: str, model: str) -> ModelPrice | None:
        values: dict[str, _Value] = {key: price.__dict__.get(key) for key in _KEYS}
        if values["cache_write_mtok"] is None:
            values["cache_write_mtok"] = price.__dict__.get("cache_write_5m_mtok")
        if values["input_mtok"] is None:
            return None
        starts = sorted(
            {tier.start for v in values.values() if isinstance(v, TieredPrices) for tier in v.tiers}
        )
        # genai-prices bills a tier to every token of the request once its input (cache
        # included) passes the tier's start: one whole-request price level per start.
        levels: list[tuple[int | None, MtokPrices]] = []
        for k in range(len(starts) + 1):
            above = starts[k - 1] if k else None
            threshold = starts[k] if k < len(starts) else None
            levels.append((threshold, _level(values, above)))
        extra = self._long_context.get((owner, model)) if not starts else None
        if extra is not None:
            levels = [(extra.threshold, levels[0][1]), (None, extra.premium)]
        searches = price.__dict__.get("web_searches_kcount")
        result = build_price(
            owner,
            model,
            levels,
            self._rules_for(owner, model),
            GENAI_SOURCE,
            kcount_to_pico(searches) if isinstance(searches, Decimal) else 0,
        )
        if extra is not None and result.premium is not None:
            result = replace(result, premium=replace(result.premium, source=TOKENOMY_SOURCE))
        return result


def _level(values: Mapping[str, _Value], above: int | None) -> MtokPrices:
    def at(key: str) -> Decimal | None:
        value = values[key]
        if not isinstance(value, TieredPrices):
            return value
        chosen = value.base
        for tier in value.tiers:
            if above is not None and tier.start <= above:
                chosen = tier.price
        return chosen

    input_price = at("input_mtok")
    assert input_price is not None
    return MtokPrices(
        input=input_price,
        # genai-prices charges nothing for a category it has no price for; only embedding
        # models lack an output price, and they produce no output tokens.
        output=at("output_mtok") or Decimal(0),
        cache_read=at("cache_read_mtok"),
        cache_write=at("cache_write_mtok"),
        cache_write_1h=at("cache_write_1h_mtok"),
    )


def _prices(info: ModelInfo) -> list[GenaiPrice]:
    if isinstance(info.prices, GenaiPrice):
        return [info.prices]
    return [conditional.prices for conditional in info.prices]
