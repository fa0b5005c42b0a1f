"""Our own packaged price data: ``data/models.yaml`` (see the file for what it holds)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import yaml

from tokenomy.pricing._entries import PRICE_KEYS, PriceEntry, Where, parse_entry, parse_mtok
from tokenomy.pricing._price import CacheRules, MtokPrices, PriceConfigError

DATA_FILE = "models.yaml"
TOKENOMY_SOURCE = "tokenomy"


@dataclass(frozen=True, slots=True)
class LongContext:
    """A premium genai-prices lacks, for one of its models."""

    threshold: int
    premium: MtokPrices  # cache prices left None are derived from the premium input


@dataclass(frozen=True, slots=True)
class PackagedData:
    inference: tuple[tuple[re.Pattern[str], str], ...]
    cache_rules: Mapping[str, CacheRules]
    long_context: Mapping[tuple[str, str], LongContext]
    raw_models: tuple[object, ...]  # parsed by parse_models once providers can be named
    # Dated prices that replace genai-prices' where it is out of date (same entry keys).
    raw_corrections: tuple[object, ...] = ()

    def parse_models(
        self,
        canonical_provider: Callable[[str], str],
        rules_for: Callable[[str, str], CacheRules],
    ) -> list[PriceEntry]:
        return self._parse(self.raw_models, "models", canonical_provider, rules_for)

    def parse_corrections(
        self,
        canonical_provider: Callable[[str], str],
        rules_for: Callable[[str, str], CacheRules],
    ) -> list[PriceEntry]:
        entries = self._parse(self.raw_corrections, "corrections", canonical_provider, rules_for)
        for i, entry in enumerate(entries):
            if entry.starts_at_ms is None:  # undated, it would also rewrite the past
                raise Where(DATA_FILE, f"corrections[{i}]").error(
                    "starts_at", "a correction needs the date its price took effect"
                )
        return entries

    @staticmethod
    def _parse(
        raws: tuple[object, ...],
        key: str,
        canonical_provider: Callable[[str], str],
        rules_for: Callable[[str, str], CacheRules],
    ) -> list[PriceEntry]:
        return [
            parse_entry(
                raw, DATA_FILE, f"{key}[{i}]", TOKENOMY_SOURCE, canonical_provider, rules_for
            )
            for i, raw in enumerate(raws)
        ]


def read_packaged() -> PackagedData:
    text = resources.files("tokenomy.pricing").joinpath("data", DATA_FILE).read_text("utf-8")
    return parse_packaged(yaml.safe_load(text))


def parse_packaged(doc: object) -> PackagedData:
    if not isinstance(doc, Mapping):
        raise PriceConfigError(f"{DATA_FILE}: expected a mapping at the top level")
    return PackagedData(
        inference=tuple(_inference(doc.get("provider_inference") or [])),
        cache_rules=_cache_rules(doc.get("cache_rules") or {}),
        long_context=_long_context(doc.get("long_context") or []),
        raw_models=tuple(_list(doc.get("models") or [], "models")),
        raw_corrections=tuple(_list(doc.get("corrections") or [], "corrections")),
    )


def _inference(items: object) -> list[tuple[re.Pattern[str], str]]:
    out = []
    for i, item in enumerate(_list(items, "provider_inference")):
        where = Where(DATA_FILE, f"provider_inference[{i}]")
        if not isinstance(item, Mapping) or not {"pattern", "provider"} <= item.keys():
            raise where.error(None, "expected {pattern, provider}")
        try:
            out.append((re.compile(str(item["pattern"])), str(item["provider"])))
        except re.error as exc:
            raise where.error("pattern", f"invalid regex: {exc}") from None
    return out


def _cache_rules(items: object) -> dict[str, CacheRules]:
    if not isinstance(items, Mapping):
        raise PriceConfigError(f"{DATA_FILE}: cache_rules: expected a mapping of providers")
    out = {}
    for provider, raw in items.items():
        where = Where(DATA_FILE, f"cache_rules.{provider}")
        if not isinstance(raw, Mapping):
            raise where.error(None, "expected a mapping")

        def factor(key: str, raw: Mapping[object, object] = raw, where: Where = where) -> Decimal:
            return parse_mtok(raw.get(key, 1), key, where)

        write_1h = raw.get("cache_write_1h")
        out[str(provider)] = CacheRules(
            read=factor("cache_read"),
            write=factor("cache_write"),
            write_1h=None if write_1h is None else parse_mtok(write_1h, "cache_write_1h", where),
        )
    return out


def _long_context(items: object) -> dict[tuple[str, str], LongContext]:
    out = {}
    for i, raw in enumerate(_list(items, "long_context")):
        where = Where(DATA_FILE, f"long_context[{i}]")
        if not isinstance(raw, Mapping):
            raise where.error(None, "expected a mapping")
        threshold = raw.get("long_context_threshold")
        premium = raw.get("premium")
        if not isinstance(threshold, int) or threshold <= 0:
            raise where.error(
                "long_context_threshold", f"expected a positive integer, got {threshold!r}"
            )
        if not isinstance(premium, Mapping) or not {"input_mtok", "output_mtok"} <= premium.keys():
            raise where.error("premium", "expected input_mtok and output_mtok")
        prices = {
            key: parse_mtok(premium[key], f"premium.{key}", where)
            for key in PRICE_KEYS
            if key in premium
        }
        out[(str(raw.get("provider")), str(raw.get("model")))] = LongContext(
            threshold=threshold,
            premium=MtokPrices(
                input=prices["input_mtok"],
                output=prices["output_mtok"],
                cache_read=prices.get("cache_read_mtok"),
                cache_write=prices.get("cache_write_mtok"),
                cache_write_1h=prices.get("cache_write_1h_mtok"),
            ),
        )
    return out


def _list(value: object, key: str) -> list[object]:
    if not isinstance(value, list):
        raise PriceConfigError(f"{DATA_FILE}: {key}: expected a list")
    return value
