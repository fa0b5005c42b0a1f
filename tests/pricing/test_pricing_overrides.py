"""User price overrides from a TOML file: new models, changed prices, dates, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tokenomy.pricing import PriceCatalog, PriceConfigError
from tokenomy.record import TokenUsage


def ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp() * 1000)


NOW = ms("2026-11-01T12:00:00")
MILLION_IN_OUT = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)


def catalog_with(tmp_path: Path, text: str) -> tuple[PriceCatalog, Path]:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return PriceCatalog.load(path), path


def test_missing_override_file_is_fine(tmp_path: Path) -> None:
    catalog = PriceCatalog.load(tmp_path / "absent.toml")
    assert catalog.cost_usd(None, "gpt-5", MILLION_IN_OUT, NOW) == Decimal("11.25")


def test_new_model(tmp_path: Path) -> None:
    catalog, path = catalog_with(
        tmp_path,
        """
[[model]]
provider = "acme"
match = "acme-large"
input_mtok = 2
output_mtok = "8.5"
""",
    )
    assert catalog.cost_usd("acme", "acme-large", MILLION_IN_OUT, NOW) == Decimal("10.5")
    # With no provider recorded, a user's model still matches by its id.
    assert catalog.cost_usd(None, "ACME-large", MILLION_IN_OUT, NOW) == Decimal("10.5")
    price = catalog.resolve("acme", "acme-large", NOW)
    assert price is not None and price.source == f"override:{path}"
    assert ("acme", "acme-large") in catalog.known_models()
    # Unpriced cache categories cost what input costs for a provider without cache rules.
    assert (price.cache_read, price.cache_write, price.cache_write_1h) == (2_000_000,) * 3


def test_override_beats_packaged_price_for_every_spelling(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "anthropic"
match = "claude-opus-4-8"
input_mtok = 4.0
output_mtok = 20.0
""",
    )
    for model in ("claude-opus-4-8", "claude-opus-4-8-20260301", "anthropic/claude-opus-4-8"):
        assert catalog.cost_usd(None, model, MILLION_IN_OUT, NOW) == Decimal(24), model
    price = catalog.resolve(None, "claude-opus-4-8", NOW)
    assert price is not None
    # Anthropic's cache rules derive what the entry leaves out.
    assert (price.cache_read, price.cache_write, price.cache_write_1h) == (
        400_000,
        5_000_000,
        8_000_000,
    )


def test_override_for_another_provider_does_not_apply(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "openrouter"
match = "claude-opus-4-8"
input_mtok = 1
output_mtok = 1
""",
    )
    assert catalog.cost_usd("anthropic", "claude-opus-4-8", MILLION_IN_OUT, NOW) == Decimal(30)


def test_override_of_an_unknown_provider_matches_only_that_provider(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "acme"
match = "llama3"
input_mtok = 1
output_mtok = 1
""",
    )
    assert catalog.cost_usd("ollama", "llama3", MILLION_IN_OUT, NOW) is None
    assert catalog.cost_usd("acme", "llama3", MILLION_IN_OUT, NOW) == 2


def test_starts_at_makes_the_override_time_dependent(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "anthropic"
match = "claude-sonnet-4-6"
input_mtok = 2.5
output_mtok = 12.5
starts_at = 2026-07-01

[[model]]
provider = "anthropic"
match = "claude-sonnet-4-6"
input_mtok = 2
output_mtok = 10
starts_at = 2026-09-01T12:00:00Z
""",
    )
    model = "claude-sonnet-4-6"
    assert catalog.cost_usd(None, model, MILLION_IN_OUT, ms("2026-06-30T23:59:59")) == 18
    assert catalog.cost_usd(None, model, MILLION_IN_OUT, ms("2026-07-01T00:00:00")) == 15
    assert catalog.cost_usd(None, model, MILLION_IN_OUT, ms("2026-09-01T11:59:59")) == 15
    assert catalog.cost_usd(None, model, MILLION_IN_OUT, ms("2026-09-01T12:00:00")) == 12


def test_new_model_has_no_price_before_its_start(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "acme"
match = "acme-large"
input_mtok = 1
output_mtok = 1
starts_at = "2026-01-01"
""",
    )
    assert catalog.cost_nanos("acme", "acme-large", MILLION_IN_OUT, ms("2025-12-31T23:00")) is None
    assert catalog.cost_nanos("acme", "acme-large", MILLION_IN_OUT, NOW) == 2_000_000_000


def test_glob_and_exact_matches(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "anthropic"
match = "claude-opus-4-*"
input_mtok = 1
output_mtok = 1

[[model]]
provider = "anthropic"
match = "claude-opus-4-7"
input_mtok = 3
output_mtok = 3
""",
    )
    assert catalog.cost_usd(None, "claude-opus-4-8", MILLION_IN_OUT, NOW) == 2
    assert catalog.cost_usd(None, "claude-opus-4-7", MILLION_IN_OUT, NOW) == 6  # exact wins
    assert catalog.cost_usd(None, "claude-sonnet-4-6", MILLION_IN_OUT, NOW) == 18  # untouched


def test_override_long_context_premium_bills_the_whole_request(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "acme"
match = "acme-long"
input_mtok = 1
output_mtok = 2
long_context_threshold = 1000

[model.premium]
input_mtok = 10
output_mtok = 20
""",
    )
    under = TokenUsage(input_tokens=600, cache_read_tokens=400, output_tokens=100)
    over = TokenUsage(input_tokens=601, cache_read_tokens=400, output_tokens=100)
    assert catalog.cost_usd("acme", "acme-long", under, NOW) == Decimal("0.0012")
    assert catalog.cost_usd("acme", "acme-long", over, NOW) == Decimal("0.01201")


def test_nanos_round_half_up_from_the_exact_amount(tmp_path: Path) -> None:
    catalog, _ = catalog_with(
        tmp_path,
        """
[[model]]
provider = "acme"
match = "acme-tiny"
input_mtok = 0.0005
output_mtok = 0
""",
    )
    one = TokenUsage(input_tokens=1)  # 500 pico-dollars
    assert catalog.cost_usd("acme", "acme-tiny", one, NOW) == Decimal("5E-10")
    assert catalog.cost_nanos("acme", "acme-tiny", one, NOW) == 1
    assert catalog.cost_nanos("acme", "acme-tiny", TokenUsage(input_tokens=3), NOW) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('input_mtok = "abc"\noutput_mtok = 1', ["'input_mtok'", "'abc'"]),
        ("input_mtok = 1", ["'output_mtok'", "missing"]),
        ("input_mtok = 1\noutput_mtok = -2", ["'output_mtok'", "non-negative"]),
        (
            "input_mtok = 1e12\noutput_mtok = 10.0",
            [
                "'input_mtok'",
                "at most $1,000,000 per million tokens (a typo?), got 1000000000000.0",
            ],
        ),
        ('input_mtok = 1\noutput_mtok = "1e300"', ["'output_mtok'", "at most $1,000,000"]),
        ("input_mtok = 1\noutput_mtok = 2\ninptu_mtok = 3", ["'inptu_mtok'", "unknown key"]),
        ("input_mtok = 1\noutput_mtok = 2\nstarts_at = 'soon'", ["'starts_at'", "'soon'"]),
        (
            "input_mtok = 1\noutput_mtok = 2\nlong_context_threshold = 200000",
            ["'premium'", "together"],
        ),
    ],
)
def test_malformed_entry_names_file_entry_and_key(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    good = '[[model]]\nprovider = "acme"\nmatch = "ok"\ninput_mtok = 1\noutput_mtok = 1\n\n'
    bad = f'[[model]]\nprovider = "acme"\nmatch = "acme-x"\n{body}\n'
    path = tmp_path / "prices.toml"
    path.write_text(good + bad, encoding="utf-8")
    with pytest.raises(PriceConfigError) as info:
        PriceCatalog.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "[[model]] #2" in message and "'acme-x'" in message
    for fragment in expected:
        assert fragment in message, message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("[[model]\nprovider = ", encoding="utf-8")
    with pytest.raises(PriceConfigError, match="not valid TOML") as info:
        PriceCatalog.load(path)
    assert str(path) in str(info.value)


def test_missing_required_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[[model]]\nmatch = "x"\ninput_mtok = 1\noutput_mtok = 1\n', encoding="utf-8")
    with pytest.raises(
        PriceConfigError, match=r"\[\[model\]\] #1 \(match 'x'\), key 'provider': missing"
    ):
        PriceCatalog.load(path)
