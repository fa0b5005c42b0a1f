"""`tokenomy budgets [status]`: each budget's spend this period, limit and reset time.

Thin over :mod:`tokenomy.budgets.status`. Budgets are the rules in tokenomy.yaml's
``budgets:`` section and the virtual keys created with ``--budget``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from tokenomy.cli.context import Context, UsageError, find_config
from tokenomy.config import Paths, read_sections

if TYPE_CHECKING:
    from rich.console import Console

    from tokenomy.budgets.settings import BudgetSettings
    from tokenomy.budgets.status import BudgetStatus, StatusReport

WARN_AT = Decimal("0.8")  # a budget this far used is shown in yellow
EPILOG = """\
Budgets come from two places:
  tokenomy.yaml    budgets: {redis_url: ..., rules: [{name, project|user|org|key,
                   period: daily|monthly, limit_usd, mode: hard|soft, alert_at, timezone}]}
  virtual keys     tokenomy keys create --budget 50 --budget-period monthly

Spend comes from Redis when budgets.redis_url is set (what the gateways enforce, with
what calls in flight hold), else from the calls in the database. See docs/budgets.md.
"""


def cmd_budgets_status(args: argparse.Namespace) -> int:
    """Show each budget's spend this period, its limit, and when it resets."""
    # Here, not at the top: every command builds the parser that names this function, and
    # the budgets' imports (asyncio, the gateway's config, YAML) would cost each one 40 ms.
    import asyncio

    from tokenomy.budgets.status import all_budgets, budget_status
    from tokenomy.keys import KeyStore

    paths = Paths.from_env()
    # Found as alerts and reports find it, so all three read the same budgets.
    settings = read_settings(find_config(args.config, paths, missing=None))
    ctx = Context(paths)
    try:
        budgets = all_budgets(settings, KeyStore(ctx.db).list())
        report = asyncio.run(budget_status(settings, budgets, ctx.db))
    finally:
        ctx.close()
    if args.json:
        out = {
            "ledger": report.ledger,
            "note": report.note,
            "budgets": [s.to_json() for s in report.budgets],
        }
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_status(_console(), report)
    return 0


def read_settings(path: Path | None) -> BudgetSettings:
    """Only the ``budgets:`` section: the models' provider keys need not be set here."""
    from tokenomy.budgets.settings import BudgetSettings, parse_budgets
    from tokenomy.gateway.config import GatewayConfigError, failer

    if path is None:
        return BudgetSettings()
    raw = read_sections(path, UsageError, "budgets")
    try:
        return parse_budgets(raw.get("budgets"), "budgets", failer(path))
    except GatewayConfigError as exc:
        raise UsageError(str(exc)) from exc


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_status(console: Console, report: StatusReport) -> None:
    from rich import box
    from rich.text import Text

    from tokenomy.budgets.budget import money
    from tokenomy.cli.format import printable
    from tokenomy.cli.render import SafeTable, fit

    if report.note:
        console.print(Text(f"note: {report.note}", style="yellow"))
    if not report.budgets:
        console.print(
            "No budgets. Add rules under `budgets:` in tokenomy.yaml, or give a key one "
            "with `tokenomy keys create --budget USD` (docs/budgets.md)."
        )
        return
    table = SafeTable(
        title=f"Budgets (spend from {report.ledger})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    rows = [_cells(s) for s in report.budgets]
    widths = _widths(rows, console.width)
    for head, width in zip(HEADS, widths, strict=True):
        justify: Literal["left", "right"] = "right" if head in NUMBERS else "left"
        table.add_column(head, justify=justify, no_wrap=True, min_width=width, max_width=width)
    held: list[str] = []
    for s, cells in zip(report.budgets, rows, strict=True):
        fraction = s.fraction
        style = ""
        if fraction is not None and fraction >= 1:
            style = "red"
        elif fraction is not None and fraction >= WARN_AT:
            style = "yellow"
        name, covers, limit, spent, used, resets = cells
        table.add_row(
            Text(fit(name, widths[0])),
            Text(fit(covers, widths[1])),
            limit,
            spent,
            Text(used, style=style),
            _resets(resets, widths[5]),
        )
        if s.reserved_nanos:
            held.append(f"{printable(s.budget.name)} {money(s.reserved_nanos)}")
    console.print(table)
    if held:
        console.print(Text("Held by calls in flight: " + ", ".join(held)))


HEADS = ("Budget", "Covers", "Limit", "Spent", "Used", "Resets")
NUMBERS = ("Limit", "Spent", "Used")


def _cells(s: BudgetStatus) -> list[str]:
    from tokenomy.budgets.budget import money
    from tokenomy.budgets.status import describe_limit

    fraction = s.fraction
    own_key = s.budget.name == f"key:{s.budget.scope.key}"
    covers = "the key's calls" if own_key else s.budget.scope.describe()
    if s.budget.mode == "soft":
        covers += " (soft)"
    return [
        s.budget.name,
        covers,
        describe_limit(s.budget),
        money(s.spent_nanos),
        "-" if fraction is None else f"{fraction * 100:.1f}%",
        # Periods start at local midnight: the date and the zone say when.
        f"{s.window.end.date().isoformat()} {s.budget.timezone}",
    ]


def _widths(rows: list[list[str]], width: int) -> list[int]:
    """Column widths within ``width``: amounts are never cut; the reset time's zones give way
    first (down to the shortest, UTC say, which stays whole), then the names and what they
    cover share what is left."""
    from tokenomy.cli.render import TABLE_OVERHEAD_PER_COLUMN, share

    widest = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADS)]
    numbers = sum(w for h, w in zip(HEADS, widest, strict=True) if h in NUMBERS)
    room = width - numbers - TABLE_OVERHEAD_PER_COLUMN * len(HEADS)
    shortest = min(len(r[5]) for r in rows)
    resets = min(widest[5], max(shortest, room - widest[0] - widest[1]))
    name, covers = share(widest[:2], room - resets, least=6)
    return [name, covers, *widest[2:5], resets]


def _resets(text: str, width: int) -> str:
    """``2026-12-01 America/New_York`` in ``width``: the date whole, the zone cut in its
    middle, or left out when too little of it would show."""
    from tokenomy.cli.render import fit

    if len(text) <= width:
        return text
    day, zone = text.split(" ", 1)
    room = width - len(day) - 1
    return f"{day} {fit(zone, room)}" if room >= 3 else day


def add_budgets_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``budgets`` (and ``budgets status``, the same) to the top-level sub-parsers."""
    budgets = command(sub, "budgets", cmd_budgets_status)
    budgets.epilog = EPILOG
    budgets.formatter_class = argparse.RawDescriptionHelpFormatter
    _config_option(budgets)
    inner = budgets.add_subparsers(title="commands", metavar="COMMAND")
    p = command(inner, "status", cmd_budgets_status)
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    _config_option(p)


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the gateway's config (default: ./tokenomy.yaml, then $TOKENOMY_HOME/tokenomy.yaml)",
    )
