"""`tokenomy forecast`: spend for the next 7 and 30 days, in total and per project, with
80% intervals. Thin over :func:`tokenomy.forecast.spend_forecast`."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.context import Context, UsageError, parse_zone, split_values
from tokenomy.config import Paths

if TYPE_CHECKING:
    from rich.table import Table

EPILOG = """\
The forecast reads the stored calls' daily cost (the last 12 weeks by default) in your time
zone; today is forecast, not used. Each project and the total are forecast on their own
from their weekday pattern and recent level; the intervals come from the forecaster's own
errors over that history (see docs/forecast.md). Nothing stored yet? Run `tokenomy import`
(agent logs) or record calls through `tokenomy serve`, then run this again."""


def forecast_json(args: argparse.Namespace) -> dict[str, Any]:
    from tokenomy.api.params import Scope
    from tokenomy.forecast import spend_forecast

    if not 14 <= args.history <= 365:
        raise UsageError(f"--history must be from 14 to 365 days (got {args.history})")
    if not 1 <= args.days <= 90:
        raise UsageError(f"--days must be from 1 to 90 (got {args.days})")
    filters = {"project": tuple(split_values(args.project))} if args.project else {}
    scope = Scope(parse_zone(args.timezone), filters=filters)
    ctx = Context(Paths.from_env())
    try:
        return spend_forecast(ctx.db, scope, args.days, history=args.history)
    finally:
        ctx.close()


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def _band(band: dict[str, float]) -> tuple[str, str, str]:
    return _usd(band["low"]), _usd(band["expected"]), _usd(band["high"])


LEVELS = ("low", "expected", "high")
BOX_OVERHEAD_PER_COLUMN = 3  # a rich box table's "│" between columns and its padding
PROJECT_LEAST = 10


def _bands(series: dict[str, Any]) -> list[str]:
    return [*_band(series["totals"]["7"]), *_band(series["totals"]["30"])]


def cmd_forecast(args: argparse.Namespace) -> int:
    """Forecast spend for the next 7 and 30 days, per project and in total, with intervals."""
    result = forecast_json(args)
    if args.json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    from rich.console import Console
    from rich.text import Text

    from tokenomy.cli.format import printable
    from tokenomy.cli.render import SafeTable

    console = Console(highlight=False)
    if not result["has_history"] and result["unknown_cost_calls"]:
        console.print(
            f"No known spend in the last {args.history} days to forecast from: "
            f"{result['unknown_cost_calls']:,} calls there have no known price for their "
            "model. `tokenomy prices check` lists the models; add their prices to "
            "~/.tokenomy/prices.toml, then `tokenomy reprice` and `tokenomy forecast` again."
        )
        return 0
    if not result["has_history"]:
        console.print(
            "No spend in the last "
            f"{args.history} days to forecast from. Import your agents' logs with "
            "`tokenomy import`, or send calls through `tokenomy serve`, then run "
            "`tokenomy forecast` again."
        )
        return 0
    console.print(_forecast_table(result, console.width))
    total = result["total"]
    pattern = "a weekly pattern" if total["weekly_pattern"] else "no weekly pattern"
    # The days used start at the first spend, which may be well after the window's start.
    used = total["history_days"]
    first = date.fromisoformat(result["first_forecast_day"]) - timedelta(days=used)
    console.print(
        f"History used: {used} days from {first.isoformat()} with {pattern}; each row is "
        "forecast on its own, so projects need not add up to the total."
    )
    for series in [total, *result["projects"]]:
        for note in series["notes"]:
            console.print(Text(f"  {printable(series['key'])}: {note}"))
    if args.days not in (7, 30):
        rows = zip(result["forecast_buckets"], total["forecast"], strict=True)
        daily = SafeTable("Day", "Low", "Expected", "High", title=f"Next {args.days} days, total")
        for day, band in rows:
            daily.add_row(day, *_band(band))
        console.print(daily)
    return 0


def _forecast_table(result: dict[str, Any], width: int) -> Table:
    """Each series' 7- and 30-day bands, within ``width`` columns."""
    from rich.text import Text

    from tokenomy.cli.render import SafeTable, fit

    table = SafeTable(
        title=f"Spend forecast from {result['first_forecast_day']} ({result['timezone']}), "
        "80% intervals",
    )
    heads = [f"{head} {what}" for head in ("7 days", "30 days") for what in LEVELS]
    rows = [
        ("Total" if series is result["total"] else series["key"], _bands(series))
        for series in [result["total"], *result["projects"]]
    ]
    # Amounts keep their width and headers wrap, before the project is cut in its middle
    # (as in `tokenomy report`; a name used to wrap over several lines). Widths are set
    # here, not left to rich, which could crop the last column when it had to shrink.
    words = [max(len(word) for word in head.split()) for head in heads]
    widths = [max(w, *(len(r[1][i]) for r in rows)) for i, w in enumerate(words)]
    room = width - sum(widths) - BOX_OVERHEAD_PER_COLUMN * (len(heads) + 1) - 1
    project = max(PROJECT_LEAST, min(room, max(len(name) for name, _ in rows)))
    room -= project
    for i, head in enumerate(heads):  # what is left lets headers stand on one line
        grow = max(0, len(head) - widths[i])
        if grow <= room:
            widths[i] += grow
            room -= grow
    table.add_column("Project", no_wrap=True, max_width=project)
    for head, fixed in zip(heads, widths, strict=True):
        # Folded, never cut: "$217,000…" would read as another amount.
        table.add_column(head, justify="right", overflow="fold", min_width=fixed, max_width=fixed)
    for name, bands in rows:
        table.add_row(Text(fit(name, project)), *bands)
    return table


def add_forecast_parser(sub: Any, command: Any) -> None:
    p = command(sub, "forecast", cmd_forecast)
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--days",
        type=int,
        default=30,
        metavar="N",
        help="days forecast in the daily series (1-90, default 30); totals are always "
        "for 7 and 30 days",
    )
    p.add_argument(
        "-p", "--project", action="append", help="only these projects (repeatable, or a,b)"
    )
    p.add_argument(
        "-z", "--timezone", metavar="ZONE", help="IANA time zone for days (default: local)"
    )
    p.add_argument(
        "--history",
        type=int,
        default=84,
        metavar="DAYS",
        help="days of history to use (default 84: twelve weeks)",
    )
