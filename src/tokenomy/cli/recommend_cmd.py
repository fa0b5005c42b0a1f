"""`tokenomy advise`: every kind of advice at once, ranked by what it saves per month, each
with its evidence and the calls behind it (docs/advise.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.cli.context import Context, UsageError
from tokenomy.config import Paths

if TYPE_CHECKING:
    from rich.console import Console

    from tokenomy.advise.recommend.evals import EvalResults

ADVISE_EPILOG = """\
Kinds (--kind): exact_cache (duplicate prompts), semantic_cache (near-duplicates, from
captured prompts), prompt_cache (repeated prefixes), batch_api (job loops that could wait
24 h at half price), cheaper_model (on your evaluation results, --evals), retry_storm,
long_context (prompts over 100k tokens), cost_growth (commands and sessions).

Savings are scaled from the range to 30 days; "measured" replays the recorded calls,
"estimate" reprices them under a stated assumption, "upper bound" is the most a change
could save. Rows can overlap, so their sum is not what doing all of them saves.

examples:
  tokenomy advise --since 2026-11-01 -z Europe/Berlin
  tokenomy advise -p webapp --kind exact_cache,batch_api --json
  tokenomy advise --evals results.jsonl      # {"case", "model", "score"} per line"""

BASIS = {"measured": "measured", "estimate": "estimate", "upper bound": "at most"}
# Rows whose advice and evidence are spelled out under the table.
EXPLAINED = 5


def cmd_advise(args: argparse.Namespace) -> int:
    """Ranked advice that cuts cost, each with its saving per month and evidence."""
    from tokenomy.advise.recommend import KINDS, recommend
    from tokenomy.cli.advise_cmd import cache_scope, import_first

    scope = cache_scope(args)
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    kinds = tuple(k for value in args.kind or () for k in value.split(",") if k) or KINDS
    if unknown := [k for k in kinds if k not in KINDS]:
        raise UsageError(f"--kind {unknown[0]!r} is not one of: {', '.join(KINDS)}")
    paths = Paths.from_env()
    evals = _evals(args.evals, paths)
    ctx = Context(paths)
    try:
        if not args.no_import:
            import_first(ctx, args)
        result = recommend(ctx.db, scope, ctx.catalog, evals=evals, limit=args.limit, kinds=kinds)
        if evals is not None and evals.problems:
            result["eval_problems"] = evals.problems
        if args.json:
            sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            from rich.console import Console

            print_recommendations(Console(highlight=False), result)
        return 0
    finally:
        ctx.close()


def _evals(given: Path | None, paths: Paths) -> EvalResults | None:
    """Results from --evals, else ~/.tokenomy/evals.jsonl when it exists."""
    from tokenomy.advise.recommend import EvalFileError, load_evals

    path = given or (paths.evals_file if paths.evals_file.is_file() else None)
    if path is None:
        return None
    try:
        return load_evals(path)
    except EvalFileError as exc:
        raise UsageError(f"--evals: {exc}") from exc


def _money(value: float) -> str:
    from decimal import Decimal

    from tokenomy.cli.format import usd

    return usd(Decimal(str(value)))


def print_recommendations(console: Console, result: dict[str, Any]) -> None:
    from rich import box

    from tokenomy.cli.render import SafeTable

    s, rows = result["summary"], result["rows"]
    for problem in result.get("eval_problems", [])[:5]:
        console.print(problem, style="yellow", markup=False)
    if not rows:
        console.print(
            "No advice for this range: nothing found that would save a cent a month.\n"
            "  tokenomy import    read your coding agents' logs\n"
            "  tokenomy serve     record the calls your applications make\n"
            "or widen --since/--until."
        )
        _print_not_assessed(console, result)
        return
    table = SafeTable(
        title="[bold]Advice, largest saving first[/]",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        title_justify="left",
        pad_edge=False,
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Save/30d", justify="right", no_wrap=True)
    table.add_column("Basis", no_wrap=True)
    table.add_column("Recommendation", overflow="fold")
    table.add_column("Calls", justify="right", no_wrap=True)
    for i, r in enumerate(rows, 1):
        # Titles hold names (projects, models) that rich would read as markup.
        from rich.text import Text

        table.add_row(
            str(i),
            _money(r["monthly_savings_usd"]),
            BASIS.get(r["basis"], r["basis"]),
            Text(r["title"]),
            f"{r['calls']:,}",
        )
    console.print(table)
    for i, r in enumerate(rows[:EXPLAINED], 1):
        console.print(f"{i}. {r['advice']}", markup=False)
        console.print(f"   {r['evidence']}", style="dim", markup=False)
        if r["examples"]:
            console.print(f"   calls: {' '.join(r['examples'])}", style="dim", markup=False)
    days = result["range"]["days"]
    console.print(
        f"In {days:.1f} days: {_money(s['savings_usd'])} of {_money(s['spend_usd'])} spent; "
        f"{_money(s['monthly_savings_usd'])} of {_money(s['monthly_spend_usd'])} per 30 days "
        "(rows can overlap)."
    )
    _print_not_assessed(console, result)
    console.print(
        "[dim]Each kind is explained in docs/advise.md; `--json` has every figure and the "
        "calls query of each row.[/]"
    )


def _print_not_assessed(console: Console, result: dict[str, Any]) -> None:
    for item in result["not_assessed"]:
        console.print(f"Not assessed, {item['kind']}: {item['reason']}", style="dim", markup=False)


def add_recommend_options(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=cmd_advise)
    parser.epilog = ADVISE_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--kind", action="append", metavar="KIND", help="only these kinds (repeatable, or a,b)"
    )
    parser.add_argument(
        "--evals",
        type=Path,
        metavar="FILE",
        help="your evaluation results, JSON Lines or CSV of case, model, score "
        "(default ~/.tokenomy/evals.jsonl if present)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
