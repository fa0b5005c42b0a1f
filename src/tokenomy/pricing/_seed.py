"""Resolved prices of the models agents use, shipped in the package.

A first run has no price cache yet (see ``_memo_file``), and resolving even one model means
loading genai-prices: a quarter of a second, a tenth of a first `tokenomy report` on a
large log tree. The seed is the cache a first run would have written for the models
Claude Code, Codex and Gemini CLI name, built ahead from exactly these sources.

It is used only while it is provably current: its fingerprint covers the installed
genai-prices version, our packaged YAML and the content of every pricing module. Anything
else (a newer genai-prices, an edited module, a user override file) falls back to
resolving from the sources, which is always right, only slower. ``make seed-prices``
rebuilds it; a test fails when it is stale for the installed sources.

    make seed-prices     # rewrite data/seed-prices.json
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import resources
from pathlib import Path

import orjson

from tokenomy.pricing import _memo_file

SEED_FILE = "seed-prices.json"

# Providers whose listed models are all seeded (the ones the built-in importers record).
SEEDED_PROVIDERS = ("anthropic", "openai", "google")
# Dated names agents log that are not listed ids themselves (they match by prefix).
DATED_NAMES = (
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("anthropic", "claude-3-7-sonnet-20250219"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-opus-4-20250514"),
    ("anthropic", "claude-opus-4-1-20250805"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-haiku-4-5-20251001"),
    ("anthropic", "claude-opus-4-5-20251101"),
)

Memo = dict[tuple[str | None, str], _memo_file.Entry]


def genai_version() -> str:
    """The installed genai-prices version, from its dist-info folder's name (found, not
    imported: importing it is what the seed saves)."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or spec.origin is None:
        return "absent"
    site = Path(spec.origin).parent.parent
    for info in sorted(site.glob("genai_prices-*.dist-info")):
        return info.name.removeprefix("genai_prices-").removesuffix(".dist-info")
    return "unknown"


def fingerprint() -> str:
    """Of the sources a resolution depends on, by content (not paths or times), so the
    same release gives the same fingerprint on every machine."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"format={_memo_file.FORMAT};genai-prices={genai_version()};".encode())
    pricing = resources.files("tokenomy.pricing")
    h.update(pricing.joinpath("data", "models.yaml").read_bytes())
    here = Path(__file__).parent
    for module in sorted(here.glob("*.py")):
        h.update(module.name.encode() + b"\0" + module.read_bytes())
    return h.hexdigest()


def load() -> Memo | None:
    """The shipped seed, or None when it was built from other sources than these."""
    try:
        raw = resources.files("tokenomy.pricing").joinpath("data", SEED_FILE).read_bytes()
        doc = orjson.loads(raw)
        if doc["fingerprint"] != fingerprint():
            return None
        return {(k[0], k[1]): _memo_file.entry_in(v) for k, v in doc["entries"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no usable seed: resolve from the sources


def build() -> Memo:
    """Resolve every seeded name from the sources, as a first run would."""
    from tokenomy.pricing._resolver import Resolver

    resolver = Resolver(None)
    names = {(p, m) for p, m in resolver.known_models() if p in SEEDED_PROVIDERS}
    names.update(DATED_NAMES)
    return {(p, m): resolver.build(p, m) for p, m in sorted(names)}


def write(path: Path) -> int:
    memo = build()
    doc = {
        "fingerprint": fingerprint(),
        "genai_prices": genai_version(),
        "entries": [[list(k), _memo_file.entry_out(v)] for k, v in memo.items()],
    }
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return len(memo)


def main() -> None:
    target = Path(__file__).parent / "data" / SEED_FILE
    count = write(target)
    print(f"wrote {count} resolved prices to {target}")
