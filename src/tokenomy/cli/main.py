"""The `tokenomy` command. Each command's docstring is its help; the work is done by
importable functions, and ``main(argv) -> int`` runs a whole command without a process.

The parser is the standard library's: a report is often run in a loop or a prompt hook,
and start-up time is most of a repeat run's time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.advise_cmd import add_advise_parser
from tokenomy.cli.alerts_cmd import add_alerts_parser
from tokenomy.cli.budgets_cmd import add_budgets_parser
from tokenomy.cli.context import (
    Context,
    ShowVersion,
    UsageError,
    add_day_range_options,
    at_least_one,
    existing_paths,
    has_active_keys,
    has_any_keys,
    parse_date,
    parse_sources,
    port_number,
    require_command,
    sources_help,
    split_values,
)
from tokenomy.cli.forecast_cmd import add_forecast_parser
from tokenomy.cli.keys_cmd import add_keys_parser
from tokenomy.cli.predict_cmd import add_predict_parser
from tokenomy.cli.prices_cmd import add_show as add_prices_show
from tokenomy.cli.report_cmd import REPORT_EPILOG, add_reports_parser
from tokenomy.cli.rollups_cmd import add_rollups_parser
from tokenomy.cli.run_cmd import add_run_parser
from tokenomy.cli.ui_cmd import add_ui_parser
from tokenomy.config import Paths
from tokenomy.pricing import PriceConfigError
from tokenomy.store.db import DatabaseError

if TYPE_CHECKING:  # rich is imported only when something is drawn: --json stays lean
    from rich.console import Console

REPORT_KINDS = ("daily", "weekly", "monthly", "session", "blocks", "project", "model", "tools")
SOURCES = ("all", "claude-code", "codex", "gemini", "csv")


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(highlight=False, stderr=stderr)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _error(message: str) -> int:
    # The message is literal text (it may hold "[[model]]" or a long path): no markup, and no
    # hard wrapping, so a path is never split and the line stays greppable.
    from rich.console import Console
    from rich.text import Text

    line = Text.assemble(("error: ", "red"), message)
    Console(stderr=True, highlight=False, soft_wrap=True).print(line)
    return 2


def cmd_import(args: argparse.Namespace) -> int:
    """Import agent logs (Claude Code, Codex, Gemini CLI); only new lines are read."""
    from tokenomy.cli.import_cmd import print_summary, run_import, summary_json
    from tokenomy.cli.rollups_cmd import refresh_rollups

    ctx = Context(Paths.from_env())
    if args.source == "csv":
        return _import_table(ctx, args)
    from tokenomy.cli.import_table_cmd import refuse_table_options

    refuse_table_options(args)
    try:
        console = None if args.json else _console()
        summary = run_import(
            ctx,
            args.source,
            paths=existing_paths(args.path),
            console=console,
            show_progress=not args.json,
        )
        refresh_rollups(ctx.db, console)
        if console is None:
            _print_json(summary_json(summary))
        else:
            print_summary(console, summary, verbose=args.verbose, prices_file=ctx.paths.prices_file)
        return 0
    finally:
        ctx.close()


def _import_table(ctx: Context, args: argparse.Namespace) -> int:
    from tokenomy.cli.import_table_cmd import (
        print_table_summary,
        run_table_import,
        table_summary_json,
    )
    from tokenomy.cli.rollups_cmd import refresh_rollups

    try:
        console = None if args.json else _console()
        summary = run_table_import(ctx, args, console)
        refresh_rollups(ctx.db, console)
        if console is None:
            _print_json(table_summary_json(summary))
        else:
            print_table_summary(
                console, summary, verbose=args.verbose, prices_file=ctx.paths.prices_file
            )
        return 0
    finally:
        ctx.close()


def cmd_report(args: argparse.Namespace) -> int:
    """Show usage and cost; imports new agent-log lines first, so one command is enough."""
    from tokenomy.capture.run_import import ImportSummary
    from tokenomy.cli.import_cmd import missing_log_dirs, print_summary, run_import
    from tokenomy.cli.report_cmd import (
        ReportOptions,
        html_spec,
        make_report,
        print_report_table,
        report_html,
    )

    ctx = Context(Paths.from_env())
    try:
        opts = ReportOptions(
            kind=args.kind,
            since=parse_date(args.since, "--since"),
            until=parse_date(args.until, "--until"),
            timezone=args.timezone,
            projects=tuple(split_values(args.project)),
            sources=parse_sources(args.source),
            breakdown=args.breakdown,
            order=args.order,
        )
        if args.html is not None:  # refused before importing, if the kind has no page
            html_spec(opts)
        if not args.no_import:
            stderr = None if args.json else _console(stderr=True)
            summary = run_import(
                ctx,
                "all",
                paths=existing_paths(args.path),
                console=stderr,
                show_progress=not args.json,
            )
            if summary.problems.items and stderr is not None:
                print_summary(
                    stderr,
                    ImportSummary(problems=summary.problems),
                    verbose=False,
                    verbose_hint="`tokenomy import --verbose`",  # report has no --verbose
                )
            if stderr is not None and not args.path:
                from rich.text import Text

                for line in missing_log_dirs(os.environ):
                    stderr.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
        if args.html is not None:
            report_html(ctx, opts, Path(args.html), as_json=args.json)
            return 0
        report = make_report(ctx, opts)
        if args.json:
            _print_json(report.to_json())
        else:
            print_report_table(_console(), report, opts)
        return 0
    finally:
        ctx.close()


def cmd_prices_check(args: argparse.Namespace) -> int:
    """List every model seen in your calls that has no price (its cost shows as unknown)."""
    from tokenomy.cli.render import SafeTable
    from tokenomy.store.costs import unpriced_models

    ctx = Context(Paths.from_env())
    try:
        ctx.catalog  # noqa: B018 - validates prices.toml before reporting
        missing = unpriced_models(ctx.db)
        if args.json:
            rows = [
                {"provider": m.provider, "model": m.model, "calls": m.calls, "tokens": m.tokens}
                for m in missing
            ]
            _print_json({"unpriced": rows})
            return 0
        console = _console()
        if not missing:
            console.print("Every model in your calls has a price.")
            return 0
        table = SafeTable("Provider", "Model", "Calls", "Tokens", title="Models with no price")
        for m in missing:
            table.add_row(m.provider or "?", m.model or "?", f"{m.calls:,}", f"{m.tokens:,}")
        console.print(table)
        console.print(
            f"Add prices in {ctx.paths.prices_file} (see docs/data-model.md), "
            "then run `tokenomy reprice`."
        )
        return 0
    finally:
        ctx.close()


def cmd_reprice(args: argparse.Namespace) -> int:
    """Recompute stored costs from token counts after prices change."""
    from tokenomy.cli.rollups_cmd import refresh_rollups
    from tokenomy.store.costs import reprice

    ctx = Context(Paths.from_env())
    try:
        result = reprice(ctx.db, ctx.catalog, include_reported=args.include_reported)
        refresh_rollups(ctx.db, None if args.json else _console())
        out = {
            "examined": result.examined,
            "changed": result.changed,
            "unknown": result.still_unknown,
        }
        if args.json:
            sys.stdout.write(orjson.dumps(out).decode() + "\n")
        else:
            _console().print(
                f"Repriced {result.examined:,} calls: {result.changed:,} changed, "
                f"{result.still_unknown:,} still without a price."
            )
        return 0
    finally:
        ctx.close()


def cmd_summary(args: argparse.Namespace) -> int:
    """Import what agent logs exist and show today, this week, this month and the top spenders."""
    from tokenomy.cli.summary_cmd import run_summary

    return run_summary(
        Paths.from_env(),
        paths_override=existing_paths(args.path),
        console=_console(),
        as_json=args.json,
    )


def _command(
    sub: Any, name: str, func: Callable[[argparse.Namespace], int], *, json: bool = True
) -> argparse.ArgumentParser:
    doc = (func.__doc__ or "").strip()
    parser: argparse.ArgumentParser = sub.add_parser(name, help=doc, description=doc)
    parser.set_defaults(func=func)
    if json:
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def _examples(parser: argparse.ArgumentParser, *lines: str) -> None:
    """An "examples:" epilog, laid out as written."""
    parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _path_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path",
        action="append",
        type=Path,
        metavar="PATH",
        help="read logs from this folder (walked) or log file instead of the default places "
        "(repeatable)",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the gateway: OpenAI- and Anthropic-compatible endpoints that record every call."""
    from tokenomy.gateway.config import GatewayConfigError, load_config
    from tokenomy.gateway.same_site import is_loopback
    from tokenomy.gateway.serve import run

    if not is_loopback(args.host) and not args.insecure and not has_active_keys(Paths.from_env()):
        raise UsageError(
            f"refusing to serve on {args.host} without keys: anyone who can reach it could "
            "spend your provider credit. Create one with `tokenomy keys create`, use --host "
            "127.0.0.1, or --insecure if the network is yours alone"
        )
    config = Path(args.config) if args.config else None
    if config is None and Path("tokenomy.yaml").is_file():
        config = Path("tokenomy.yaml")
    from tokenomy.alerts import AlertConfigError, load_alerts
    from tokenomy.gateway.config import GatewayConfig
    from tokenomy.gateway.serve import startup_line

    loaded = GatewayConfig()
    try:
        if config is not None:
            loaded = load_config(config)
            for warning in loaded.warnings:
                sys.stderr.write(f"warning: {warning}\n")
            load_alerts(config)  # budget alerts are sent from the gateway too
    except (GatewayConfigError, AlertConfigError) as exc:
        raise UsageError(str(exc)) from exc
    if config is None:
        sys.stderr.write("no tokenomy.yaml here and no --config: no models to serve yet\n")
    # Once, here: with --workers N every worker process builds its own app.
    keys = has_any_keys(Paths.from_env())
    line = startup_line(
        args.host, args.port, loaded, config, keys_required=keys, workers=args.workers
    )
    sys.stderr.write(line + "\n")
    run(config, args.host, args.port, args.workers, capture_content=args.capture_content)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokenomy",
        description="Measure, predict and cut the cost of LLM calls and AI coding agents.",
    )
    parser.add_argument("--version", action=ShowVersion)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    from tokenomy.cli.import_table_cmd import EPILOG, add_table_options

    p = _command(sub, "import", cmd_import)
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "source",
        nargs="?",
        default="all",
        choices=SOURCES,
        help="whose logs (default: all agents), or csv for a table of calls",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list every skipped line")
    _path_option(p)
    add_table_options(p)

    p = _command(sub, "report", cmd_report)
    p.epilog = REPORT_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "kind", nargs="?", default="daily", choices=REPORT_KINDS, help="what to group by"
    )
    add_day_range_options(p)
    p.add_argument("-s", "--source", action="append", help=sources_help())
    p.add_argument("-b", "--breakdown", action="store_true", help="split each row by model")
    p.add_argument(
        "--order", default="asc", choices=("asc", "desc"), help="row order (default: asc)"
    )
    p.add_argument("--no-import", action="store_true", help="report on stored calls only")
    p.add_argument(
        "--html",
        metavar="FILE",
        help="write a self-contained HTML page (charts included) instead of the table; "
        "daily/weekly/monthly set its bars, project/model what they are stacked by",
    )
    _path_option(p)

    prices = sub.add_parser(
        "prices", help="Inspect the price list.", description="Inspect the price list."
    )
    prices_sub = prices.add_subparsers(title="commands", metavar="COMMAND")
    require_command(prices, prices_sub)
    _command(prices_sub, "check", cmd_prices_check)
    add_prices_show(prices_sub)

    p = _command(sub, "reprice", cmd_reprice)
    _examples(
        p,
        "tokenomy prices check      # which models have no price",
        "tokenomy reprice           # after editing ~/.tokenomy/prices.toml",
        "tokenomy reprice --json    # {examined, changed, unknown}",
    )
    p.add_argument(
        "--include-reported",
        action="store_true",
        help="also replace costs the agent reported itself (costUSD)",
    )

    p = _command(sub, "summary", cmd_summary)
    _examples(
        p,
        "tokenomy summary                      # today, this week, this month, top spenders",
        "tokenomy summary --path ~/old-laptop  # logs copied from elsewhere",
        "tokenomy summary --json",
    )
    _path_option(p)

    p = _command(sub, "serve", cmd_serve, json=False)  # it prints no result to shape
    _examples(
        p,
        "tokenomy serve                          # ./tokenomy.yaml on 127.0.0.1:4000",
        "tokenomy serve --config litellm.yaml    # a LiteLLM proxy config as it is",
        "tokenomy serve --workers 4 --port 8080",
        "OPENAI_BASE_URL=http://127.0.0.1:4000/v1 python app.py   # then point an SDK at it",
    )
    p.add_argument("--config", metavar="FILE", help="model aliases (default: ./tokenomy.yaml)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=4000, help="port (default: 4000)")
    p.add_argument("--workers", type=at_least_one, default=1, help="worker processes (default: 1)")
    p.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback address without keys"
    )
    p.add_argument(
        "--capture-content",
        action="store_true",
        help="also store prompt and response text (off by default: only counts are kept)",
    )

    add_rollups_parser(sub, _command)
    add_reports_parser(sub, _command)
    add_alerts_parser(sub, _command)
    add_ui_parser(sub, _command)
    add_keys_parser(sub)
    add_budgets_parser(sub, _command)
    add_run_parser(sub)
    add_advise_parser(sub, _command)
    add_predict_parser(sub, _command)
    add_forecast_parser(sub, _command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
        return code
    except (UsageError, DatabaseError, PriceConfigError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        return 130


def run() -> None:  # pragma: no cover - the console script
    sys.exit(main())
