"""The price seed shipped in the package: current for the installed sources, used by a
first run instead of loading genai-prices, and never used when it could be wrong."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import orjson
import pytest

from tokenomy.pricing import PriceCatalog, _seed
from tokenomy.pricing._resolver import Resolver
from tokenomy.record import TokenUsage

USAGE = TokenUsage(
    input_tokens=1000, cache_read_tokens=5000, cache_write_tokens=700, output_tokens=300
)
AT = 1_790_000_000_000


def _shipped() -> dict[str, object]:
    raw = resources.files("tokenomy.pricing").joinpath("data", _seed.SEED_FILE).read_bytes()
    doc: dict[str, object] = orjson.loads(raw)
    return doc


def test_the_seed_is_current_for_the_installed_sources() -> None:
    built_for = _shipped()["genai_prices"]
    if built_for != _seed.genai_version():
        pytest.skip(
            f"seed built for genai-prices {built_for}, {_seed.genai_version()} installed: "
            "first runs load genai-prices (slower, still right); run `make seed-prices`"
        )
    seed = _seed.load()
    assert seed is not None, (
        "the price seed is stale (pricing code changed): run `make seed-prices`"
    )
    assert seed == _seed.build()
    assert ("anthropic", "claude-haiku-4-5-20251001") in seed


def test_a_first_run_prices_seeded_models_without_importing_genai_prices(tmp_path: Path) -> None:
    expected = Resolver(None).build("anthropic", "claude-sonnet-4-5-20250929")
    assert expected is not None
    code = (
        "import sys; from pathlib import Path; from tokenomy.pricing import PriceCatalog\n"
        "from tokenomy.record import TokenUsage\n"
        f"c = PriceCatalog.load(None, cache_dir=Path({str(tmp_path)!r}))\n"
        "u = TokenUsage(input_tokens=1000, output_tokens=300)\n"
        "print(c.cost_nanos('anthropic', 'claude-sonnet-4-5-20250929', u, 1790000000000))\n"
        "print('genai_prices' in sys.modules)\n"
    )
    if _seed.load() is None:
        pytest.skip("no current seed for the installed genai-prices (see the test above)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    catalog = PriceCatalog.load(None)  # straight from the sources
    usage = TokenUsage(input_tokens=1000, output_tokens=300)
    assert out == [
        str(catalog.cost_nanos("anthropic", "claude-sonnet-4-5-20250929", usage, AT)),
        "False",
    ]


def test_a_model_the_seed_lacks_is_resolved_from_the_sources(tmp_path: Path) -> None:
    first_run = PriceCatalog.load(None, cache_dir=tmp_path)
    fresh = PriceCatalog.load(None)
    for provider, model in [("openrouter", "anthropic/claude-sonnet-4.5"), (None, "gpt-4o")]:
        assert first_run.cost_nanos(provider, model, USAGE, AT) == fresh.cost_nanos(
            provider, model, USAGE, AT
        )


def test_an_override_file_is_never_bypassed_by_the_seed(tmp_path: Path) -> None:
    overrides = tmp_path / "prices.toml"
    overrides.write_text(
        '[[model]]\nprovider = "anthropic"\nmatch = "claude-sonnet-4-5"\n'
        "input_mtok = 1\noutput_mtok = 1\ncache_read_mtok = 1\ncache_write_mtok = 1\n"
    )
    catalog = PriceCatalog.load(overrides, cache_dir=tmp_path / "cache")
    assert catalog.cost_nanos("anthropic", "claude-sonnet-4-5", USAGE, AT) == USAGE.total * 1000


def test_a_seed_from_other_sources_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_seed, "genai_version", lambda: "0.0.0-other")
    assert _seed.load() is None
