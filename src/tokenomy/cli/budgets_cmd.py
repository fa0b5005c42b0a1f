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
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.context import Context, UsageError
from tokenomy.config import Paths, read_yaml

if TYPE_CHECKING:
    from rich.console import Console

    from tokenomy.budgets.settings import BudgetSettings
    from tokenomy.budgets.status import StatusReport

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

    settings = read_settings(_config_path(args.config))
    ctx = Context(Paths.from_env())
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


def _config_path(given: str | None) -> Path | None:
    if given:
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"{path}: no such file (give the gateway's tokenomy.yaml)")
        return path
    default = Path("tokenomy.yaml")
    return default if default.is_file() else None


def read_settings(path: Path | None) -> BudgetSettings:
    """Only the ``budgets:`` section: the models' provider keys need not be set here."""
    from tokenomy.budgets.settings import BudgetSettings, parse_budgets
    from tokenomy.gateway.config import GatewayConfigError, failer

    if path is None:
        return BudgetSettings()
    raw = read_yaml(path, UsageError)
    if not isinstance(raw, dict):
        return BudgetSettings()
    try:
        return parse_budgets(raw.get("budgets"), "budgets", failer(path))
    except GatewayConfigError as exc:
        raise UsageError(str(exc)) from exc


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def print_status(console: Console, report: StatusReport) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from tokenomy.budgets.budget import money
    from tokenomy.budgets.status import describe_limit

    if report.note:
        console.print(Text(f"note: {report.note}", style="yellow"))
    if not report.budgets:
        console.print(
            "No budgets. Add rules under `budgets:` in tokenomy.yaml, or give a key one "
            "with `tokenomy keys create --budget USD` (docs/budgets.md)."
        )
        return
    table = Table(
        title=f"Budgets (spend from {report.ledger})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    # Six columns fit 80 characters: a soft budget says so with what it covers, and what
    # calls in flight hold is said below the table.
    table.add_column("Budget", no_wrap=True, overflow="ellipsis", min_width=12)
    table.add_column("Covers", min_width=8)
    table.add_column("Limit", justify="right", no_wrap=True)
    table.add_column("Spent", justify="right", no_wrap=True)
    table.add_column("Used", justify="right", no_wrap=True)
    table.add_column("Resets", no_wrap=True)
    held: list[str] = []
    for s in report.budgets:
        fraction = s.fraction
        used = "-" if fraction is None else f"{fraction * 100:.1f}%"
        style = ""
        if fraction is not None and fraction >= 1:
            style = "red"
        elif fraction is not None and fraction >= WARN_AT:
            style = "yellow"
        own_key = s.budget.name == f"key:{s.budget.scope.key}"
        covers = "the key's calls" if own_key else s.budget.scope.describe()
        if s.budget.mode == "soft":
            covers += " (soft)"
        table.add_row(
            Text(s.budget.name),
            Text(covers),
            describe_limit(s.budget),
            money(s.spent_nanos),
            Text(used, style=style),
            # Periods start at local midnight: the date and the zone say when.
            f"{s.window.end.date().isoformat()} {s.budget.timezone}",
        )
        if s.reserved_nanos:
            held.append(f"{s.budget.name} {money(s.reserved_nanos)}")
    console.print(table)
    if held:
        console.print(Text("Held by calls in flight: " + ", ".join(held)))


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
        "--config", metavar="FILE", help="the gateway's config (default: ./tokenomy.yaml)"
    )
