"""`tokenomy import csv FILE`: call records from a CSV or JSONL table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.capture.table_rows import (
    FIELDS,
    TableSpec,
    TableSpecError,
    TimeFormat,
    parse_assignments,
)
from tokenomy.cli.context import Context, UsageError
from tokenomy.cli.format import printable

if TYPE_CHECKING:  # imported when a table is imported, not for every command's --help
    from rich.console import Console

    from tokenomy.capture.import_table import TableSummary

EPILOG = f"""\
With no --map, columns named like call-record fields fill them: {", ".join(FIELDS)}.
Missing fields take defaults (tokens 0, status ok, response_model = request_model); the cost
is computed from the prices unless cost_usd or cost_nanos is given. started_at is ISO 8601
(a time without zone is UTC, or --table-timezone) or a number of seconds/milliseconds.

examples:
  tokenomy import csv calls.csv
  tokenomy import csv azure_llm_2023_conv.csv --map started_at=TIMESTAMP \\
      --map input_tokens=ContextTokens,output_tokens=GeneratedTokens \\
      --set provider=openai,request_model=gpt-4o,project=azure-conv
  tokenomy import csv mooncake_conversation_trace.jsonl --map started_at=timestamp \\
      --time-unit ms --time-origin 2026-11-01T00:00:00Z \\
      --map input_tokens=input_length,output_tokens=output_length \\
      --set provider=moonshotai,request_model=kimi-k2,project=mooncake
"""


# The options only `import csv` reads, by dest, with their defaults: given to an agent-log
# import they would be ignored, so they are refused (refuse_table_options).
_TABLE_ONLY: dict[str, str | None] = {
    "map": None,
    "set": None,
    "time_unit": "auto",
    "time_origin": None,
    "table_timezone": "UTC",
    "format": "auto",
}


def refuse_table_options(args: argparse.Namespace) -> None:
    """An agent-log import (`import claude-code|codex|gemini|all`) given a table's FILE or
    options: a usage error naming them, not a run that quietly ignores them."""
    if args.file is not None:
        raise UsageError(f"import {args.source} takes no FILE (only `import csv FILE` does)")
    given = [
        "--" + dest.replace("_", "-")
        for dest, default in _TABLE_ONLY.items()
        if getattr(args, dest) != default
    ]
    if given:
        raise UsageError(
            f"import {args.source} takes no {', '.join(given)} (only `import csv FILE` does)"
        )


def add_table_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("csv and jsonl tables (tokenomy import csv FILE)")
    g.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="the table: CSV, or JSON lines (.jsonl, or --format jsonl)",
    )
    g.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN",
        help="read FIELD from COLUMN (repeatable, or a=b,c=d)",
    )
    g.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", help="give every row this value"
    )
    g.add_argument(
        "--time-unit",
        choices=("auto", "s", "ms"),
        default=_TABLE_ONLY["time_unit"],
        help="unit of numeric times (default: auto, seconds below 1e11)",
    )
    g.add_argument(
        "--time-origin",
        metavar="ISO",
        help="numeric times are offsets from this instant (e.g. 2026-11-01T00:00:00Z)",
    )
    g.add_argument(
        "--table-timezone",
        metavar="ZONE",
        default=_TABLE_ONLY["table_timezone"],
        help="zone of ISO times written without one (default: UTC)",
    )
    g.add_argument(
        "--format",
        choices=("auto", "csv", "jsonl"),
        default=_TABLE_ONLY["format"],
        help="default: by suffix",
    )


def table_spec(args: argparse.Namespace) -> TableSpec:
    origin_ms = 0
    if args.time_origin:
        from datetime import UTC, datetime

        try:
            origin = datetime.fromisoformat(args.time_origin)
        except ValueError:
            raise UsageError(f"--time-origin: {args.time_origin!r} is not ISO 8601") from None
        if origin.tzinfo is None:
            origin = origin.replace(tzinfo=UTC)
        origin_ms = round(origin.timestamp() * 1000)
    try:
        zone = ZoneInfo(args.table_timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"--table-timezone: unknown time zone {args.table_timezone!r} (e.g. UTC, Europe/Paris)"
        ) from None
    try:
        return TableSpec(
            mapping=parse_assignments(args.map, "--map"),
            constants=parse_assignments(args.set, "--set"),
            time=TimeFormat(args.time_unit, origin_ms, zone),
            format=args.format,
        )
    except TableSpecError as exc:
        raise UsageError(str(exc)) from None


def run_table_import(
    ctx: Context, args: argparse.Namespace, console: Console | None
) -> TableSummary:
    if args.path:  # where agent logs are: a table is named as FILE
        raise UsageError("import csv takes no --path (the table is FILE: import csv FILE)")
    if args.file is None:
        raise UsageError("import csv: name the file, e.g. tokenomy import csv calls.csv")
    if not args.file.is_file():
        raise UsageError(f"import csv: no such file: {args.file}")
    spec = table_spec(args)
    if console is None:
        return _run(ctx, args.file, spec, None)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(f"Importing {args.file.name}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bars:
        task = bars.add_task("rows", total=args.file.stat().st_size)
        return _run(ctx, args.file, spec, lambda done, _total: bars.update(task, completed=done))


def _run(ctx: Context, path: Path, spec: TableSpec, progress: Any) -> TableSummary:
    from tokenomy.capture.import_table import import_table
    from tokenomy.store.background_refresh import BackgroundRefresh

    # The days the import has moved past are refreshed while it reads the next ones; the
    # caller's refresh does the rest.
    behind = BackgroundRefresh(ctx.db)
    try:
        return import_table(ctx.db, ctx.catalog, path, spec, progress, behind.advance)
    except TableSpecError as exc:
        raise UsageError(str(exc)) from None
    finally:
        behind.finish()


def print_table_summary(
    console: Console,
    summary: TableSummary,
    *,
    verbose: bool,
    prices_file: Path | str = "~/.tokenomy/prices.toml",
) -> None:
    from rich.text import Text

    console.print(
        f"{summary.rows:,} rows read, {summary.stored:,} calls stored, "
        f"{summary.skipped:,} rows skipped"
    )
    if summary.already_stored:
        console.print(
            Text(
                f"{summary.already_stored:,} rows were stored before and were left as they are "
                "(a row is known by its file name and line, or its dedupe_key column)",
                style="dim",
            ),
            soft_wrap=True,
        )
    if summary.unused_columns:
        console.print(
            Text(
                f"columns not imported: {', '.join(summary.unused_columns)} (see --map)",
                style="dim",
            )
        )
    shown = summary.problems if verbose else summary.problems[:5]
    for p in shown:
        console.print(Text(str(p), style="yellow"), soft_wrap=True)
    if len(shown) < len(summary.problems):
        console.print(
            Text(
                f"... and {len(summary.problems) - len(shown):,} more: run with --verbose",
                style="yellow",
            )
        )
    if summary.unpriced_models:
        models = printable(", ".join(sorted(summary.unpriced_models)))  # names from a file
        console.print(
            Text(
                f"No price for {models}: their cost shows as "
                f"unknown. Add them to {prices_file} (see `tokenomy prices check`).",
                style="yellow",
            ),
            soft_wrap=True,
        )


def table_summary_json(summary: TableSummary) -> dict[str, Any]:
    return {
        "rows": summary.rows,
        "stored": summary.stored,
        "already_stored": summary.already_stored,
        "unused_columns": summary.unused_columns,
        "unpriced_models": sorted(summary.unpriced_models),
        "problems": [
            {"path": p.path, "line": p.line, "reason": p.reason} for p in summary.problems
        ],
    }
