"""Our packaged price data file, and schedule details genai-prices brings with it."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
import yaml

from tokenomy.pricing import PriceCatalog, PriceConfigError
from tokenomy.pricing._packaged import parse_packaged


def ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp() * 1000)


def packaged_doc() -> dict[str, Any]:
    text = resources.files("tokenomy.pricing").joinpath("data", "models.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def test_every_packaged_fact_cites_its_source() -> None:
    doc = packaged_doc()
    entries = [*doc["models"], *doc["long_context"], *doc["cache_rules"].values()]
    assert entries
    for entry in entries:
        assert str(entry.get("source", "")).startswith("https://"), entry


def test_packaged_gap_models_are_not_already_in_genai_prices() -> None:
    # A gap entry genai-prices has since covered is dead data: delete it from models.yaml.
    from genai_prices.data import providers

    doc = packaged_doc()
    by_id = {p.id: p for p in providers}
    for entry in doc["models"]:
        provider = by_id[entry["provider"]]
        assert provider.find_model(entry["match"], all_providers=providers) is None, entry


def test_malformed_packaged_data_is_reported() -> None:
    doc = packaged_doc()
    doc["long_context"][0]["premium"] = {"input_mtok": 6}
    with pytest.raises(PriceConfigError, match=r"models.yaml: long_context\[0\], key 'premium'"):
        parse_packaged(doc)


def test_off_peak_prices_follow_the_utc_time_of_day() -> None:
    # genai-prices gives DeepSeek V4 Pro a different price from 01:00 to 04:00 UTC.
    catalog = PriceCatalog.load()
    inside = catalog.resolve("deepseek", "deepseek-v4-pro", ms("2026-11-01T02:00:00"))
    outside = catalog.resolve("deepseek", "deepseek-v4-pro", ms("2026-11-01T05:00:00"))
    assert inside is not None and outside is not None
    assert inside.input != outside.input


def test_several_long_context_tiers_chain() -> None:
    # OpenRouter's Qwen3.7 Flash has tiers at 32k and 256k prompt tokens.
    catalog = PriceCatalog.load()
    price = catalog.resolve("openrouter", "qwen/qwen3.7-flash", ms("2026-11-01T00:00:00"))
    assert price is not None
    inputs = [price.for_prompt(n).input for n in (32_000, 32_001, 256_000, 256_001)]
    assert inputs == [30_000, 100_000, 100_000, 200_000]
