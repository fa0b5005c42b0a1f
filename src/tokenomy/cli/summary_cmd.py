"""`tokenomy summary` (what `make run` shows): import, then today / week / month at a glance.

With no agent logs on the machine it shows the same summary on a small generated sample,
labelled as such and kept in its own database so it never mixes with real data.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from rich.console import Console
from rich.table import Table

from tokenomy.analytics.query import Filters
from tokenomy.analytics.reports import build_report
from tokenomy.analytics.rows import Report, Row
from tokenomy.cli.context import Context, local_zone
from tokenomy.cli.format import tokens, usd
from tokenomy.cli.import_cmd import print_summary, run_import
from tokenomy.cli.render import SafeTable
from tokenomy.config import Paths

NEXT_COMMANDS = (
    ("tokenomy report daily", "cost and tokens per day"),
    ("tokenomy report session --order desc", "your most recent sessions"),
    ("tokenomy report blocks", "5-hour windows, as Claude plans count them"),
    ("tokenomy report tools", "which tools and MCP servers your agents call"),
    ("tokenomy report monthly --breakdown --json", "per model, for scripts"),
)


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    since: date | None


def periods(today: date) -> list[Period]:
    return [
        Period("Today", today),
        Period("This week", today - timedelta(days=today.weekday())),
        Period("This month", today.replace(day=1)),
        Period("All time", None),
    ]


def ensure_sample(paths: Paths) -> Path:
    """Write the sample tree once (deterministic), returning its projects directory."""
    from tokenomy.sample import TreeSpec, generate_tree

    root = paths.sample_home / "claude"
    marker = root / "ground_truth.json"
    if not marker.exists():
        now = datetime.now(UTC)
        spec = TreeSpec(
            root=root,
            sessions=40,
            seed=7,
            # Sessions start within ``days`` of ``start`` and run a few hours: end before now.
            start=now - timedelta(days=36),
            days=35,
            projects=5,
        )
        truth = generate_tree(spec)
        marker.write_bytes(truth.to_json())
    return root / "projects"


def run_summary(
    paths: Paths, *, paths_override: list[Path] | None = None, console: Console, as_json: bool
) -> int:
    ctx = Context(paths)
    try:
        summary = run_import(
            ctx, "all", paths=paths_override, console=console, show_progress=not as_json
        )
        seen = sum(s.files_seen for s in summary.sources.values())
        has_calls = _has_calls(ctx)
    finally:
        ctx.close()
    sample = seen == 0 and not has_calls
    if sample:
        sample_paths = paths.for_sample()
        ctx = Context(sample_paths)
        roots = [ensure_sample(paths)]
        summary = run_import(ctx, "claude-code", paths=roots, console=console, show_progress=False)
    else:
        ctx = Context(paths)
    try:
        return _show(ctx, console, as_json=as_json, sample=sample, imported=summary)
    finally:
        ctx.close()


def _through_today(tz: ZoneInfo, since: date | None, today: date) -> Filters:
    """From ``since`` to the end of today: a call dated later (a skewed clock, an imported
    table) is not "today" or "this month"; "All time" (no since) still counts it."""
    return Filters(tz=tz, since=since, until=today if since is not None else None)


def _has_calls(ctx: Context) -> bool:
    return bool(ctx.db.query("SELECT 1 FROM calls LIMIT 1"))


def _show(ctx: Context, console: Console, *, as_json: bool, sample: bool, imported: Any) -> int:
    tz = local_zone()
    today = datetime.now(tz).date()
    by_period = [
        (p, build_report(ctx.db, ctx.catalog, "daily", _through_today(tz, p.since, today)).totals)
        for p in periods(today)
    ]
    month = _through_today(tz, today.replace(day=1), today)
    top_projects = build_report(ctx.db, ctx.catalog, "project", month)
    top_models = build_report(ctx.db, ctx.catalog, "model", month)
    if as_json:
        out = {
            "sample_data": sample,
            "periods": {p.label: r.to_json() for p, r in by_period},
            "top_projects": [r.to_json() for r in top_projects.rows[:5]],
            "top_models": [r.to_json() for r in top_models.rows[:5]],
        }
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if sample:
        console.print(
            "[bold yellow]No agent logs found on this machine[/] (looked in ~/.claude, "
            "~/.config/claude, ~/.codex, ~/.gemini).\n"
            "[yellow]Showing SAMPLE DATA from a generated Claude Code tree, kept in its own "
            f"database ({ctx.paths.database_url}).[/]\n"
        )
    else:
        print_summary(console, imported, verbose=False, prices_file=ctx.paths.prices_file)
    console.print(_period_table(by_period, sample))
    console.print(_top_table("Top projects this month", top_projects))
    console.print(_top_table("Top models this month", top_models))
    saved = by_period[-1][1].cache_savings_usd
    console.print(
        f"Prompt caching saved [bold green]{usd(saved)}[/] in all "
        "(cache reads at the cache price instead of the input price)."
    )
    console.print("\n[bold]Next:[/]")
    for cmd, what in NEXT_COMMANDS:
        console.print(f"  [cyan]{cmd}[/]  [dim]{what}[/]")
    return 0


def _period_table(rows: list[tuple[Period, Row]], sample: bool) -> Table:
    title = "Agent usage" + (" [yellow](SAMPLE DATA)[/]" if sample else "")
    table = SafeTable(title=title, title_justify="left")
    for head in ("", "Calls", "Tokens", "Cache read", "Cost", "Saved"):
        table.add_column(head, justify="left" if not head else "right")
    for period, r in rows:
        table.add_row(
            period.label,
            f"{r.calls:,}",
            tokens(r.total_tokens),
            tokens(r.tokens["cache_read_tokens"]),
            usd(r.cost_usd, r.unknown_cost_calls, r.calls),
            usd(r.cache_savings_usd),
        )
    return table


def _top_table(title: str, report: Report) -> Table:
    table = SafeTable(title=title, title_justify="left")
    table.add_column("Name", max_width=40)
    for head in ("Calls", "Tokens", "Cost"):
        table.add_column(head, justify="right")
    for r in report.rows[:5]:
        table.add_row(
            r.key,
            f"{r.calls:,}",
            tokens(r.total_tokens),
            usd(r.cost_usd, r.unknown_cost_calls, r.calls),
        )
    if not report.rows:
        table.add_row("(no calls this month)", "", "", "")
    return table
