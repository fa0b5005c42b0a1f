"""Price entries matched by model id: the user's TOML overrides and our YAML gap models.

An override file (default ``~/.tokenomy/prices.toml``) is a list of ``[[model]]`` tables,
each an entry as described in ``_entries``. For example, an enterprise discount from July:

    [[model]]
    provider = "anthropic"
    match = "claude-opus-4-8"
    input_mtok = 4.0
    output_mtok = 20.0
    starts_at = 2026-07-01
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from fnmatch import fnmatchcase
from pathlib import Path

from tokenomy.pricing._entries import PriceEntry, parse_entry
from tokenomy.pricing._price import CacheRules, PriceConfigError


def read_overrides(
    path: Path,
    canonical_provider: Callable[[str], str],
    rules_for: Callable[[str, str], CacheRules],
) -> list[PriceEntry]:
    """Entries of an override file, in file order; a missing file has none."""
    try:
        with path.open("rb") as handle:
            doc = tomllib.load(handle)
    except FileNotFoundError:
        return []
    except tomllib.TOMLDecodeError as exc:
        raise PriceConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise PriceConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise PriceConfigError(f"{path}: cannot read: {exc}") from None
    extra = sorted(key for key in doc if key != "model")
    if extra:
        raise PriceConfigError(
            f"{path}: unknown top-level key {extra[0]!r} (expected [[model]] tables)"
        )
    tables = doc.get("model", [])
    if not isinstance(tables, list):
        raise PriceConfigError(f"{path}: key 'model': expected [[model]] tables, got one value")
    source = f"override:{path}"
    return [
        parse_entry(raw, str(path), f"[[model]] #{n}", source, canonical_provider, rules_for)
        for n, raw in enumerate(tables, start=1)
    ]


class EntryIndex:
    """Entries by exact id, then globs; an exact entry beats a glob one for the same model."""

    def __init__(self, entries: Iterable[PriceEntry]) -> None:
        self.entries = list(entries)
        self._exact: dict[str, list[PriceEntry]] = {}
        self._globs: list[PriceEntry] = []
        for entry in self.entries:
            if entry.is_glob:
                self._globs.append(entry)
            else:
                self._exact.setdefault(entry.pattern, []).append(entry)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def matching(self, providers: set[str | None], ids: Iterable[str]) -> list[PriceEntry]:
        """Entries for any of ``ids`` under any of ``providers`` (None: any provider), ordered
        so the last one in force should win: globs first, then exact, each by start then
        file order."""
        ids = list(dict.fromkeys(ids))
        any_provider = None in providers

        def fits(entry: PriceEntry) -> bool:
            return any_provider or entry.provider in providers

        exact = [e for i in ids for e in self._exact.get(i, ()) if fits(e)]
        globs = [e for e in self._globs if fits(e) and any(fnmatchcase(i, e.pattern) for i in ids)]
        ordered: list[PriceEntry] = []
        for group in (globs, exact):
            unique = list({id(e): e for e in group}.values())
            # sorted() is stable: equal starts keep file order, so a later line wins.
            ordered.extend(sorted(unique, key=_start_key))
        return ordered


def _start_key(entry: PriceEntry) -> int:
    return entry.starts_at_ms if entry.starts_at_ms is not None else -(2**62)
