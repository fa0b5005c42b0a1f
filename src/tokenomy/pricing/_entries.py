"""One price entry, as written in the user's TOML overrides or our packaged YAML.

Both files share this shape so a user can copy an entry from one to the other:

    provider = "anthropic"          # required
    match = "claude-opus-4-8"       # required: exact model id, or a glob ("claude-opus-4-*")
    input_mtok = 5.0                # required: USD per million tokens (number or "5.00")
    output_mtok = 25.0              # required
    cache_read_mtok = 0.5           # optional; derived from input by the provider's rules
    cache_write_mtok = 6.25         # optional (5-minute writes)
    cache_write_1h_mtok = 10.0      # optional
    starts_at = 2026-07-01          # optional: in force from this UTC date or instant on
    long_context_threshold = 200000 # optional, with a premium table of the same price keys:
    [model.premium]                 #   the whole request is billed at these prices once
    input_mtok = 10.0               #   input + cache reads + writes exceed the threshold
    output_mtok = 37.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tokenomy.pricing._price import (
    CacheRules,
    ModelPrice,
    MtokPrices,
    PriceConfigError,
    build_price,
)
from tokenomy.pricing._schedule import date_start_ms, datetime_ms

PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
)
ENTRY_KEYS = frozenset(
    {"provider", "match", "starts_at", "long_context_threshold", "premium", "source", *PRICE_KEYS}
)
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class PriceEntry:
    provider: str
    pattern: str  # lower case
    is_glob: bool
    starts_at_ms: int | None
    price: ModelPrice  # named after the pattern until applied to a resolved model
    note: str | None  # the entry's own `source:` text, for people reading the data


class Where:
    """Builds error messages that name the file, the entry and the key."""

    def __init__(self, file: str, entry: str) -> None:
        self.file = file
        self.entry = entry

    def error(self, key: str | None, problem: str) -> PriceConfigError:
        at = f"{self.entry}, key {key!r}" if key else self.entry
        return PriceConfigError(f"{self.file}: {at}: {problem}")


def parse_entry(
    raw: object,
    file: str,
    entry: str,
    source: str,
    canonical_provider: Callable[[str], str],
    rules_for: Callable[[str, str], CacheRules],
) -> PriceEntry:
    """Validate one entry. ``rules_for(provider, pattern)`` picks the cache-price rules."""
    where = Where(file, entry)
    if not isinstance(raw, Mapping):
        raise where.error(None, f"expected a table of keys, got {_kind(raw)}")
    if isinstance(raw.get("match"), str):
        # Name the entry by its model too: "#7" alone is hard to find in a long file.
        where.entry = f"{entry} (match {raw['match'].strip().lower()!r})"
    unknown = sorted(str(key) for key in raw if key not in ENTRY_KEYS)
    if unknown:
        raise where.error(unknown[0], f"unknown key (allowed: {', '.join(sorted(ENTRY_KEYS))})")
    provider = canonical_provider(_text(raw, "provider", where))
    pattern = _text(raw, "match", where).lower()
    threshold = _threshold(raw.get("long_context_threshold"), where)
    premium_raw = raw.get("premium")
    if (threshold is None) != (premium_raw is None):
        missing = "premium" if premium_raw is None else "long_context_threshold"
        raise where.error(missing, "long_context_threshold and premium must be given together")
    levels = [(threshold, _prices(raw, where, ""))]
    if premium_raw is not None:
        if not isinstance(premium_raw, Mapping):
            raise where.error("premium", f"expected a table of prices, got {_kind(premium_raw)}")
        extra = sorted(str(key) for key in premium_raw if key not in PRICE_KEYS)
        if extra:
            raise where.error(
                f"premium.{extra[0]}", f"unknown key (allowed: {', '.join(PRICE_KEYS)})"
            )
        levels.append((None, _prices(premium_raw, where, "premium.")))
    note = raw.get("source")
    if note is not None and not isinstance(note, str):
        raise where.error("source", f"expected text, got {_kind(note)}")
    price = build_price(provider, pattern, levels, rules_for(provider, pattern), source)
    return PriceEntry(
        provider=provider,
        pattern=pattern,
        is_glob=any(char in GLOB_CHARS for char in pattern),
        starts_at_ms=_starts_at(raw.get("starts_at"), where),
        price=price,
        note=note,
    )


# No model costs anywhere near this; a price above it is a typo, and one as large as 1e12
# made costs overflow the database's 64-bit integers (reprice and report crashed).
MAX_MTOK = Decimal(1_000_000)


def parse_mtok(value: object, key: str, where: Where) -> Decimal:
    """A non-negative USD-per-million-tokens price from a TOML/YAML number or string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise where.error(key, f"expected a price in USD per million tokens, got {_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise where.error(key, f"expected a finite price, got {value!r}")
    try:
        # repr() of a float is the shortest decimal that round-trips: what the user wrote.
        price = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise where.error(key, f"expected a decimal number, got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise where.error(key, f"expected a finite non-negative price, got {value!r}")
    if price > MAX_MTOK:
        raise where.error(
            key, f"expected at most ${MAX_MTOK:,} per million tokens (a typo?), got {value!r}"
        )
    return price


def _prices(raw: Mapping[object, object], where: Where, prefix: str) -> MtokPrices:
    def get(key: str, required: bool) -> Decimal | None:
        value = raw.get(key)
        if value is None:
            if required:
                raise where.error(prefix + key, "missing (required)")
            return None
        return parse_mtok(value, prefix + key, where)

    input_price = get("input_mtok", True)
    output_price = get("output_mtok", True)
    assert input_price is not None and output_price is not None
    return MtokPrices(
        input=input_price,
        output=output_price,
        cache_read=get("cache_read_mtok", False),
        cache_write=get("cache_write_mtok", False),
        cache_write_1h=get("cache_write_1h_mtok", False),
    )


def _text(raw: Mapping[object, object], key: str, where: Where) -> str:
    value = raw.get(key)
    if value is None:
        raise where.error(key, "missing (required)")
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"expected non-empty text, got {_kind(value)}")
    return value.strip()


def _threshold(value: object, where: Where) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise where.error(
            "long_context_threshold", f"expected a positive token count, got {value!r}"
        )
    return value


def _starts_at(value: object, where: Where) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise where.error(
                "starts_at", f"expected a date like 2026-07-01, got {value!r}"
            ) from None
    if isinstance(value, datetime):
        return datetime_ms(value)
    if isinstance(value, date):
        return date_start_ms(value)
    raise where.error("starts_at", f"expected a date or date-time, got {_kind(value)}")


def _kind(value: object) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"
