"""``tokenomy prices show MODEL``: the prices a model is billed at, and where they come from."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from tokenomy.cli.context import Context, parse_date
from tokenomy.config import Paths
from tokenomy.pricing import ModelPrice

_CATEGORIES = (
    ("input", "Input"),
    ("output", "Output"),
    ("cache_read", "Cache read"),
    ("cache_write", "Cache write (5 min)"),
    ("cache_write_1h", "Cache write (1 h)"),
)
_PICO_PER_MTOK = Decimal(10**6)  # pico-dollars per token -> dollars per million tokens

EXAMPLES = """\
examples:
  tokenomy prices show claude-sonnet-4-5
  tokenomy prices show gpt-5.4 --variant service_tier=priority
  tokenomy prices show deepseek-chat --provider deepseek --at 2025-06-01
  tokenomy prices show us.anthropic.claude-sonnet-4-5-20250929-v1:0 --json
"""


def add_show(prices_sub: Any) -> None:
    doc = "Show the prices a model is billed at (per million tokens) and their source."
    p: argparse.ArgumentParser = prices_sub.add_parser(
        "show",
        help=doc,
        description=doc + "\nNames are read as recorded calls are: dated, Bedrock, Vertex\n"
        "and router names resolve to the model they stand for.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=cmd_prices_show)
    p.add_argument("model", help="the model name, as a call records it")
    p.add_argument("--provider", help="the provider the call went to (default: inferred)")
    p.add_argument(
        "--at",
        metavar="DATE",
        help="the prices in force on this day, at 12:00 UTC (YYYY-MM-DD; default: now)",
    )
    p.add_argument(
        "--variant",
        metavar="KEY=VALUE",
        help="how the call was served, when that has its own prices: speed=fast, "
        "service_tier=priority|flex, processing=batch",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def cmd_prices_show(args: argparse.Namespace) -> int:
    day = parse_date(args.at, "--at")
    at_ms = (
        int(time.time() * 1000)
        if day is None
        else int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)
    )
    ctx = Context(Paths.from_env())
    try:
        price = ctx.catalog.resolve(args.provider, args.model, at_ms, args.variant)
    finally:
        ctx.close()
    when = datetime.fromtimestamp(at_ms / 1000, UTC).date().isoformat()
    if price is None:
        message = (
            f"no price for {args.model!r}"
            + (f" under provider {args.provider!r}" if args.provider else "")
            + f" on {when}: its calls show an unknown cost. Add it to "
            f"{Paths.from_env().prices_file} (docs/data-model.md), then run `tokenomy reprice`."
        )
        if args.json:
            print(orjson.dumps({"model": args.model, "price": None, "message": message}).decode())
        else:
            print(message)
        return 1
    if args.json:
        out = {"asked": args.model, "on": when, "variant": args.variant, **_price_json(price)}
        print(orjson.dumps(out).decode())
        return 0
    _print_price(price, when, args.variant)
    return 0


def _per_mtok(pico: int) -> Decimal:
    return (Decimal(pico) / _PICO_PER_MTOK).normalize()


def _money(value: Decimal) -> str:
    """$3.00, $0.30, $0.075: cents always, more digits only where the price has them."""
    return f"${value:,.2f}" if value == round(value, 2) else f"${value:,f}"


def _price_json(price: ModelPrice) -> dict[str, Any]:
    out: dict[str, Any] = {
        "provider": price.provider,
        "model": price.model,
        "source": price.source,
        "usd_per_mtok": {key: float(_per_mtok(getattr(price, key))) for key, _ in _CATEGORIES},
    }
    if price.web_search:
        out["usd_per_web_search"] = float(Decimal(price.web_search).scaleb(-12))
    if price.premium is not None and price.long_context_threshold is not None:
        out["long_context"] = {
            "above_prompt_tokens": price.long_context_threshold,
            **_price_json(price.premium),
        }
    return out


def _print_price(price: ModelPrice, when: str, variant: str | None) -> None:
    from rich.console import Console

    from tokenomy.cli.render import SafeTable

    served = f", {variant}" if variant else ""
    table = SafeTable()
    table.add_column("Per million tokens")
    table.add_column("Price", justify="right")
    tiers = [("", price)]
    current = price
    while current.premium is not None and current.long_context_threshold is not None:
        tiers.append((f"above {current.long_context_threshold:,} prompt tokens", current.premium))
        current = current.premium
    for label, _ in tiers[1:]:
        table.add_column(label.capitalize(), justify="right")
    for key, name in _CATEGORIES:
        table.add_row(name, *(_money(_per_mtok(getattr(t, key))) for _, t in tiers))
    console = Console(highlight=False)
    console.print(f"{price.model} ({price.provider}{served}) on {when}, from {price.source}")
    console.print(table)
    if price.web_search:
        per_thousand = _money(Decimal(price.web_search).scaleb(-9))
        console.print(f"Web searches the provider runs: {per_thousand} per 1,000.")
    if len(tiers) > 1:
        console.print(
            "Above a threshold, the whole request (input, cache and output) is billed at "
            "that column's prices."
        )
