"""Exact costs of LLM calls from their token counts, at the prices in force at the time.

    catalog = PriceCatalog.load(Path("~/.tokenomy/prices.toml").expanduser())
    catalog.cost_nanos("anthropic", "claude-sonnet-4-5", usage, record.started_at_ms)

Prices come from the genai-prices package, our ``data/models.yaml`` for its gaps, and the
user's TOML overrides; see ``catalog`` for precedence and ``_entries`` for the file format.
"""

from tokenomy.pricing._price import PICO_PER_USD, ModelPrice, PriceConfigError
from tokenomy.pricing.catalog import DEFAULT_OVERRIDES_PATH, PriceCatalog

__all__ = [
    "DEFAULT_OVERRIDES_PATH",
    "PICO_PER_USD",
    "ModelPrice",
    "PriceCatalog",
    "PriceConfigError",
]
