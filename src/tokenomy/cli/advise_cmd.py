"""`tokenomy advise cache`: repeated prompt prefixes that are not cached, or expire before
they are reused, with what Anthropic breakpoints (5-minute or 1-hour TTL) or OpenAI's
automatic caching would save per month (see docs/advise.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.context import (
    Context,
    UsageError,
    add_day_range_options,
    parse_date,
    parse_sources,
    parse_zone,
    sources_help,
    split_values,
)
from tokenomy.config import Paths

if TYPE_CHECKING:  # rich is loaded only to draw: --json stays lean
    from rich.console import Console

    from tokenomy.api.params import Scope

CACHE_EPILOG = """\
How it works: the calls of one prefix (their prefix_hash, else their session, else their
prompt_hash) and model are replayed in time order through each provider's cache rules:
Anthropic cache_control breakpoints with the 5-minute TTL (refreshed by every hit) or
1-hour writes (2x input instead of 1.25x), OpenAI's automatic caching (prompts of 1,024
tokens or more, 128-token steps, evicted after 5 idle minutes). Each call is taken to
repeat min(its prompt, the previous call's prompt) tokens, or what it read from the cache
if more. Savings are scaled from the range to 30 days.

examples:
  tokenomy advise cache --since 2026-11-01 -z Europe/Berlin
  tokenomy advise cache -p webapp --limit 5 --json"""

STRATEGY_NAMES = {
    "anthropic_5m": "5-min",
    "anthropic_1h": "1-hour",
    "none": "none",
    "openai_auto": "auto",
}
# Rows whose advice is spelled out under the table.
EXPLAINED = 5


def cache_scope(args: argparse.Namespace) -> Scope:
    """The calls asked for: --since/--until are inclusive local days, as in `report`."""
    from tokenomy.analytics.query import Filters
    from tokenomy.api.params import Scope

    since = parse_date(args.since, "--since")
    until = parse_date(args.until, "--until")
    if since and until and since > until:
        raise UsageError(f"--since {since} is after --until {until}")
    tz = parse_zone(args.timezone)
    start, end = Filters(tz=tz, since=since, until=until).range_ms()
    filters: dict[str, tuple[str, ...]] = {}
    parse_sources(args.source)  # a misspelt source is named, not silently empty
    for name, values in (
        ("project", args.project),
        ("source", args.source),
        ("model", args.model),
        ("provider", args.provider),
    ):
        if picked := tuple(split_values(values)):
            filters[name] = picked
    return Scope(tz, start, end, filters)


def cmd_advise_cache(args: argparse.Namespace) -> int:
    """Prompt prefixes sent again uncached or evicted before reuse, and what caching saves."""
    from tokenomy.advise import advise_cache

    scope = cache_scope(args)
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    ctx = Context(Paths.from_env())
    try:
        if not args.no_import:
            import_first(ctx, args)
        result = advise_cache(ctx.db, scope, ctx.catalog, limit=args.limit)
        if args.json:
            text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
            sys.stdout.write(text + "\n")
        else:
            from rich.console import Console

            print_advice(Console(highlight=False), result)
        return 0
    finally:
        ctx.close()


def import_first(ctx: Context, args: argparse.Namespace) -> None:
    """New agent-log lines first, as `report` does, so one command is enough."""
    from tokenomy.capture.run_import import ImportSummary
    from tokenomy.cli.context import existing_paths
    from tokenomy.cli.import_cmd import print_summary, run_import

    stderr = None
    if not args.json:
        from rich.console import Console

        stderr = Console(stderr=True, highlight=False)
    summary = run_import(
        ctx, "all", paths=existing_paths(args.path), console=stderr, show_progress=not args.json
    )
    if summary.problems.items and stderr is not None:
        print_summary(stderr, ImportSummary(problems=summary.problems), verbose=False)


def _money(value: float) -> str:
    from decimal import Decimal

    from tokenomy.cli.format import usd

    return usd(Decimal(str(value)))


def print_advice(console: Console, result: dict[str, Any]) -> None:
    from rich import box

    from tokenomy.cli.format import tokens
    from tokenomy.cli.render import SafeTable, short_model

    s, rows = result["summary"], result["rows"]
    days = result["range"]["days"]
    if not rows:
        console.print(_empty_text(s))
        _print_skipped(console, s)
        return
    table = SafeTable(
        title="[bold]Prompt-caching advice[/]",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        title_justify="left",
        pad_edge=False,
    )
    cells = [
        [
            f"{r['calls']:,}",
            tokens(r["repeated_tokens"]),
            _money(r["prompt_cost_usd"]),
            _money(r["advised_prompt_cost_usd"]),
            _money(r["monthly_savings_usd"]),
            STRATEGY_NAMES.get(r["strategy"], r["strategy"]),
        ]
        for r in rows
    ]
    heads = ["Calls", "Reused", "Now", "Advised", "Save/30d", "Cache"]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    # Numbers never shrink; the prefix and model share what is left and end in "…".
    spare = max(20, console.width - sum(widths) - 2 * (len(widths) + 2) - len(str(len(rows))))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Prefix", no_wrap=True, overflow="ellipsis", max_width=spare - spare // 2)
    table.add_column("Model", no_wrap=True, overflow="ellipsis", max_width=spare // 2)
    for head, width in zip(heads[:-1], widths, strict=False):
        table.add_column(head, justify="right", no_wrap=True, min_width=width)
    table.add_column(heads[-1], no_wrap=True, min_width=widths[-1])
    for i, (r, row_cells) in enumerate(zip(rows, cells, strict=True), 1):
        table.add_row(str(i), r["key"], short_model(r["model"], drop_vendor=True), *row_cells)
    console.print(table)
    for i, r in enumerate(rows[:EXPLAINED], 1):
        # Advice and ids are plain text: a key may hold brackets rich would read as markup.
        console.print(f"{i}. {r['advice']}", markup=False)
        console.print(f"   calls: {' '.join(r['evidence'][:2])}", style="dim", markup=False)
    console.print(
        f"Total: {_money(s['savings_usd'])} saved on {_money(s['prompt_cost_usd'])} of prompt "
        f"cost in {days:.1f} days, {_money(s['monthly_savings_usd'])} per 30 days "
        f"({s['groups_with_advice']:,} of {s['groups']:,} prefixes). Now and Advised are "
        "prompt costs; output is not changed by caching."
    )
    if s["evicted"]:
        console.print(
            f"[dim]{s['evicted']:,} repeats came after the 5-minute entry had expired, "
            f"{s['evicted_within_1h']:,} of them within an hour.[/]"
        )
    _print_skipped(console, s)
    console.print("[dim]How this is estimated: docs/advise.md; `--json` for every figure.[/]")


def _empty_text(s: dict[str, Any]) -> str:
    if s["groups"] == 0:
        return (
            "No repeated prompts to advise on in this range. The advisor needs calls that\n"
            "share a prefix hash, a session or a prompt hash:\n"
            "  tokenomy import    read your coding agents' logs\n"
            "  tokenomy serve     record the calls your applications make\n"
            "or widen --since/--until."
        )
    prefixes = f"{s['groups']:,} prefix" + ("" if s["groups"] == 1 else "es")
    return (
        f"Nothing to change: for the {prefixes} ({s['calls']:,} calls) in this range, no "
        "caching strategy costs less than what was paid."
    )


def _print_skipped(console: Console, s: dict[str, Any]) -> None:
    skipped = s["skipped"]
    if skipped["unmodelled_calls"]:
        names = ", ".join(skipped["unmodelled_providers"][:5])
        console.print(
            f"{skipped['unmodelled_calls']:,} calls of providers whose cache the advisor does "
            f"not model yet ({names}) are left out.",
            style="dim",
            markup=False,
        )
    if skipped["unpriced_calls"]:
        console.print(
            f"{skipped['unpriced_calls']:,} calls of models with no known price are left out: "
            "run `tokenomy prices check`.",
            style="dim",
        )


def _scope_options(p: argparse.ArgumentParser, limit_help: str) -> None:
    add_day_range_options(p)
    p.add_argument("-s", "--source", action="append", help=sources_help())
    p.add_argument("-m", "--model", action="append", help="only these models")
    p.add_argument("--provider", action="append", help="only these providers")
    p.add_argument("--limit", type=int, default=10, help=limit_help)
    p.add_argument("--no-import", action="store_true", help="advise on stored calls only")
    p.add_argument(
        "--path",
        action="append",
        type=Path,
        metavar="DIR",
        help="read logs from this directory instead of the default places (repeatable)",
    )


def add_advise_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    from tokenomy.cli.recommend_cmd import add_recommend_options

    doc = (
        "Advice that cuts cost, ranked by its saving per month, with the evidence and the "
        "calls behind it. `advise cache` details provider prompt caching per prefix."
    )
    advise = sub.add_parser("advise", help=doc, description=doc)
    _scope_options(advise, "recommendations to list, largest saving first (default 10)")
    add_recommend_options(advise)
    advise_sub = advise.add_subparsers(title="commands", metavar="COMMAND")
    p = command(advise_sub, "cache", cmd_advise_cache)
    p.epilog = CACHE_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    _scope_options(p, "prefixes to list, largest saving first (default 10)")
