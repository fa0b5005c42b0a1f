"""The `tokenomy` command. Each command's docstring is its help; the work is done by
importable functions so it can be tested without a process."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from tokenomy.cli.context import Context, UsageError, existing_dirs, parse_date, split_values
from tokenomy.config import Paths
from tokenomy.pricing import PriceConfigError
from tokenomy.store.db import DatabaseError

app = typer.Typer(
    name="tokenomy",
    help="Measure, predict and cut the cost of LLM calls and AI coding agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
prices_app = typer.Typer(help="Inspect the price list.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")

SOURCES_HELP = "Agent logs to read: all, claude-code, codex or gemini."
PathOpt = Annotated[
    list[Path] | None,
    typer.Option("--path", help="Read logs from this directory instead of the default places."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _console() -> Console:
    return Console(highlight=False)


def _fail(message: str) -> typer.Exit:
    from rich.text import Text

    # The message is literal text (it may hold "[[model]]" or a long path): no markup, and no
    # hard wrapping, so a path is never split and the line stays greppable.
    line = Text.assemble(("error: ", "red"), message)
    Console(stderr=True, highlight=False, soft_wrap=True).print(line)
    return typer.Exit(2)


def _context() -> Context:
    return Context(Paths.from_env())


@app.command("import")
def import_command(
    source: Annotated[str, typer.Argument(help=SOURCES_HELP)] = "all",
    path: PathOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every skipped line.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Import agent logs (Claude Code, Codex, Gemini CLI); only new lines are read."""
    from tokenomy.cli.import_cmd import print_summary, run_import, summary_json

    ctx = _context()
    try:
        console = _console()
        summary = run_import(
            ctx, source, paths=existing_dirs(path), console=console, show_progress=not json_out
        )
        if json_out:
            sys.stdout.write(
                orjson.dumps(summary_json(summary), option=orjson.OPT_INDENT_2).decode() + "\n"
            )
        else:
            print_summary(console, summary, verbose=verbose)
    except (UsageError, DatabaseError, PriceConfigError) as exc:
        raise _fail(str(exc)) from None
    finally:
        ctx.close()


@app.command("report")
def report_command(
    kind: Annotated[
        str,
        typer.Argument(help="daily, weekly, monthly, session, blocks, project, model or tools."),
    ] = "daily",
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD or YYYYMMDD).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, inclusive.")] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", "-z", help="IANA time zone for days (default: local)."),
    ] = None,
    project: Annotated[
        list[str] | None, typer.Option("--project", "-p", help="Only these projects.")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", "-s", help="Only these sources (claude-code, codex, ...)."),
    ] = None,
    breakdown: Annotated[
        bool, typer.Option("--breakdown", "-b", help="Split each row by model.")
    ] = False,
    order: Annotated[str, typer.Option(help="asc or desc (by date for time reports).")] = "asc",
    no_import: Annotated[
        bool, typer.Option("--no-import", help="Report on stored calls only.")
    ] = False,
    path: PathOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show usage and cost; imports new agent-log lines first, so one command is enough."""
    from tokenomy.capture.run_import import ImportSummary
    from tokenomy.cli.import_cmd import print_summary, run_import
    from tokenomy.cli.report_cmd import ReportOptions, make_report, print_report_table

    ctx = _context()
    console = _console()
    try:
        opts = ReportOptions(
            kind=kind,
            since=parse_date(since, "--since"),
            until=parse_date(until, "--until"),
            timezone=timezone,
            projects=tuple(split_values(project)),
            sources=tuple(split_values(source)),
            breakdown=breakdown,
            order=order,
        )
        if not no_import:
            summary = run_import(
                ctx,
                "all",
                paths=existing_dirs(path),
                console=Console(stderr=True),
                show_progress=not json_out,
            )
            if summary.problems.items and not json_out:
                problems = ImportSummary(problems=summary.problems)
                print_summary(Console(stderr=True, highlight=False), problems, verbose=False)
        report = make_report(ctx, opts)
        if json_out:
            sys.stdout.write(
                orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n"
            )
        else:
            print_report_table(console, report, opts)
    except (UsageError, DatabaseError, PriceConfigError) as exc:
        raise _fail(str(exc)) from None
    finally:
        ctx.close()


@prices_app.command("check")
def prices_check(json_out: JsonOpt = False) -> None:
    """List every model seen in your calls that has no price (its cost shows as unknown)."""
    from tokenomy.store.costs import unpriced_models

    ctx = _context()
    try:
        ctx.catalog  # noqa: B018 - validates prices.toml before reporting
        missing = unpriced_models(ctx.db)
        if json_out:
            rows = [
                {"provider": m.provider, "model": m.model, "calls": m.calls, "tokens": m.tokens}
                for m in missing
            ]
            sys.stdout.write(
                orjson.dumps({"unpriced": rows}, option=orjson.OPT_INDENT_2).decode() + "\n"
            )
            return
        console = _console()
        if not missing:
            console.print("Every model in your calls has a price.")
            return
        from rich.table import Table

        table = Table("Provider", "Model", "Calls", "Tokens", title="Models with no price")
        for m in missing:
            table.add_row(m.provider or "?", m.model or "?", f"{m.calls:,}", f"{m.tokens:,}")
        console.print(table)
        console.print(
            f"Add prices in {ctx.paths.prices_file} (see docs/data-model.md), "
            "then run `tokenomy reprice`."
        )
    except (DatabaseError, PriceConfigError) as exc:
        raise _fail(str(exc)) from None
    finally:
        ctx.close()


@app.command("reprice")
def reprice_command(
    include_reported: Annotated[
        bool, typer.Option(help="Also replace costs the agent reported itself (costUSD).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Recompute stored costs from token counts after prices change."""
    from tokenomy.store.costs import reprice

    ctx = _context()
    try:
        result = reprice(ctx.db, ctx.catalog, include_reported=include_reported)
        out = {
            "examined": result.examined,
            "changed": result.changed,
            "unknown": result.still_unknown,
        }
        if json_out:
            sys.stdout.write(orjson.dumps(out).decode() + "\n")
        else:
            _console().print(
                f"Repriced {result.examined:,} calls: {result.changed:,} changed, "
                f"{result.still_unknown:,} still without a price."
            )
    except (DatabaseError, PriceConfigError) as exc:
        raise _fail(str(exc)) from None
    finally:
        ctx.close()


@app.command("summary")
def summary_command(
    path: PathOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Import what agent logs exist and show today, this week, this month and the top spenders."""
    from tokenomy.cli.summary_cmd import run_summary

    try:
        code = run_summary(
            Paths.from_env(),
            paths_override=existing_dirs(path),
            console=_console(),
            as_json=json_out,
        )
    except (UsageError, DatabaseError, PriceConfigError) as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console entry point
    app()
