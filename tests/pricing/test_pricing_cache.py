"""The persistent price cache gives the same costs and follows every change of source."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenomy.pricing import PriceCatalog
from tokenomy.record import TokenUsage

USAGE = TokenUsage(
    input_tokens=1000, cache_read_tokens=5000, cache_write_tokens=700, output_tokens=300
)
AT = 1_790_000_000_000


def test_cached_catalog_prices_known_models_without_loading_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = PriceCatalog.load(None, cache_dir=tmp_path)
    expected = first.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT)
    assert expected is not None
    assert first.cost_nanos(None, "no-such-model-x", USAGE, AT) is None
    first.save()

    def refuse(_overrides: object) -> object:
        raise AssertionError("sources were loaded for a cached model")

    monkeypatch.setattr(PriceCatalog, "_resolve_sources", staticmethod(refuse))
    second = PriceCatalog.load(None, cache_dir=tmp_path)
    assert second.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT) == expected
    assert second.cost_nanos(None, "no-such-model-x", USAGE, AT) is None  # unknown is cached too


def test_changing_the_override_file_invalidates_the_cache(tmp_path: Path) -> None:
    overrides = tmp_path / "prices.toml"
    base = PriceCatalog.load(overrides, cache_dir=tmp_path / "cache")
    before = base.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT)
    base.save()
    overrides.write_text(
        '[[model]]\nprovider = "anthropic"\nmatch = "claude-sonnet-4-5"\n'
        "input_mtok = 1\noutput_mtok = 1\ncache_read_mtok = 1\ncache_write_mtok = 1\n"
    )
    after = PriceCatalog.load(overrides, cache_dir=tmp_path / "cache")
    assert after.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT) == USAGE.total * 1000
    assert after.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT) != before


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path) -> None:
    catalog = PriceCatalog.load(None, cache_dir=tmp_path)
    catalog.cost_nanos("anthropic", "claude-haiku-4-5", USAGE, AT)
    catalog.save()
    for f in tmp_path.glob("prices-*.json"):
        f.write_text("{not json")
    again = PriceCatalog.load(None, cache_dir=tmp_path)
    assert again.cost_nanos("anthropic", "claude-haiku-4-5", USAGE, AT) is not None
