"""The price catalog: resolve a recorded (provider, model) once, then price calls fast.

Sources, weakest first: genai-prices' bundled data, our ``data/models.yaml`` for models it
lacks, the user's override file. A user entry applies from its ``starts_at`` on and beats
the packaged price while in force. A model no source knows has no cost (None), never 0.

Resolution is memoised, and with a ``cache_dir`` the memo persists between runs (see
``_memo_file``), so the sources are loaded only for a model not seen before.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from tokenomy.pricing import _memo_file, _seed
from tokenomy.pricing._price import ModelPrice, nanos_from_pico, usd_from_pico
from tokenomy.pricing._schedule import Schedule
from tokenomy.record import TokenUsage

if TYPE_CHECKING:
    from tokenomy.pricing._resolver import Resolver

_MISS = object()
# Callers pass model names from logs and requests; bound the memo so a stream of junk
# names cannot grow it without limit.
_MEMO_LIMIT = 50_000

DEFAULT_OVERRIDES_PATH = Path("~/.tokenomy/prices.toml")
# Between a model and its variant in memo keys: no model id holds it.
VARIANT_MARK = "#"


def _memo_key(provider: str | None, model: str, variant: str | None) -> tuple[str | None, str]:
    return provider, model if variant is None else f"{model}{VARIANT_MARK}{variant}"


def parse_variant(text: str | None) -> dict[str, str] | None:
    """``speed=fast,service_tier=priority`` -> a dict; None for none."""
    if not text:
        return None
    pairs = (part.partition("=") for part in text.split(","))
    return {k.strip(): v.strip() for k, eq, v in pairs if eq and k.strip() and v.strip()} or None


class PriceCatalog:
    """Prices for every known model at every instant. Build with :meth:`load`."""

    def __init__(
        self,
        overrides: Path | None = None,
        *,
        resolver: Resolver | None = None,
        memo: dict[tuple[str | None, str], _memo_file.Entry] | None = None,
        cache_file: Path | None = None,
    ) -> None:
        self._overrides_path = overrides
        self._resolver = resolver
        self._memo: dict[tuple[str | None, str], _memo_file.Entry] = dict(memo or {})
        self._cache_file = cache_file
        self._dirty = False

    @classmethod
    def load(cls, overrides: Path | None = None, *, cache_dir: Path | None = None) -> PriceCatalog:
        """Packaged prices plus the override file at ``overrides``, if given and present.

        None means no user overrides: the caller decides whether to read the default
        ``~/.tokenomy/prices.toml`` (``DEFAULT_OVERRIDES_PATH.expanduser()``). Raises
        :class:`PriceConfigError` naming the file, entry and key when the file is malformed.
        With ``cache_dir``, resolved prices are kept there between runs.
        """
        if cache_dir is not None:
            cache_file = cache_dir / f"prices-{_memo_file.fingerprint(overrides)}.json"
            memo = _memo_file.read(cache_file)
            if memo is not None:
                # Same sources as when the cache was written: they were valid then.
                return cls(overrides, memo=memo, cache_file=cache_file)
            if overrides is None or not overrides.exists():
                seed = _seed.load()  # what this cache would hold, built ahead
                if seed is not None:
                    return cls(overrides, memo=seed, cache_file=cache_file)
            return cls(overrides, resolver=cls._resolve_sources(overrides), cache_file=cache_file)
        return cls(overrides, resolver=cls._resolve_sources(overrides))

    @staticmethod
    def _resolve_sources(overrides: Path | None) -> Resolver:
        from tokenomy.pricing._resolver import Resolver

        return Resolver(overrides)

    def _sources(self) -> Resolver:
        if self._resolver is None:
            self._resolver = self._resolve_sources(self._overrides_path)
        return self._resolver

    def resolve(
        self, provider: str | None, model: str, at_ms: int, variant: str | None = None
    ) -> ModelPrice | None:
        """The prices in force for ``model`` at ``at_ms`` (UTC epoch ms), or None if unknown.
        ``variant`` is how the call was served when that changes its price, as
        ``key=value`` pairs joined by commas (``speed=fast``, ``service_tier=priority``)."""
        entry = self._memo.get(_memo_key(provider, model, variant), _MISS)
        if entry is _MISS:
            entry = self._remember(provider, model, variant)
        if entry is None or isinstance(entry, ModelPrice):
            return entry
        assert isinstance(entry, Schedule)
        return entry.at(at_ms)

    def cost_nanos(
        self,
        provider: str | None,
        model: str | None,
        usage: TokenUsage,
        at_ms: int,
        variant: str | None = None,
        web_searches: int = 0,
    ) -> int | None:
        """Cost in integer nano-dollars, rounded half-up from the exact amount; None if unpriced.
        ``web_searches``: the provider's own searches the call made, billed per search."""
        pico = self._cost_pico(provider, model, usage, at_ms, variant, web_searches)
        return None if pico is None else nanos_from_pico(pico)

    def cost_usd(
        self,
        provider: str | None,
        model: str | None,
        usage: TokenUsage,
        at_ms: int,
        variant: str | None = None,
    ) -> Decimal | None:
        """The exact cost in USD (to the pico-dollar); None if unpriced."""
        pico = self._cost_pico(provider, model, usage, at_ms, variant)
        return None if pico is None else usd_from_pico(pico)

    def _cost_pico(
        self,
        provider: str | None,
        model: str | None,
        usage: TokenUsage,
        at_ms: int,
        variant: str | None,
        web_searches: int = 0,
    ) -> int | None:
        if model is None:
            return None
        price = self.resolve(provider, model, at_ms, variant)
        return None if price is None else price.cost_pico(usage, web_searches)

    def known_models(self) -> list[tuple[str, str]]:
        """Canonical (provider, model) ids with token prices; globs are not listed."""
        return self._sources().known_models()

    def save(self) -> None:
        """Write newly resolved prices to the cache file, if there is one."""
        if self._dirty and self._cache_file is not None:
            # A cache that cannot be written only costs speed next time.
            with contextlib.suppress(OSError):
                _memo_file.write(self._cache_file, self._memo)
            self._dirty = False

    def _remember(
        self, provider: str | None, model: str, variant: str | None = None
    ) -> _memo_file.Entry:
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        entry = self._sources().build(provider, model, parse_variant(variant))
        self._memo[_memo_key(provider, model, variant)] = entry
        self._dirty = True
        return entry
