"""Reports as rich tables that stay readable at 80 columns."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from tokenomy.analytics.rows import Report, Row
from tokenomy.cli.format import tokens, usd

KEY_TITLES = {
    "daily": "Date",
    "weekly": "Week of",
    "monthly": "Month",
    "session": "Session",
    "blocks": "Block start",
    "project": "Project",
    "model": "Model",
    "tools": "Tool",
}


_DATE_SUFFIX = re.compile(r"-20\d{6}$")


def short_model(name: str) -> str:
    """Model ids without their release-date suffix, to fit narrow tables."""
    return _DATE_SUFFIX.sub("", name)


def _key_text(report: Report, row: Row, tz: ZoneInfo) -> str:
    if report.kind == "session":
        project = row.extra.get("project") or ""
        return f"{row.key[:8]} {project}".strip()
    if report.kind == "blocks" and row.first_ms is not None:
        start = row.first_ms - row.first_ms % 3_600_000
        local = datetime.fromtimestamp(start / 1000, tz)
        mark = " ●" if row.extra.get("active") else ""
        return local.strftime("%Y-%m-%d %H:%M") + mark
    if report.kind == "tools" and row.extra.get("mcp_server"):
        return row.key.removeprefix("mcp__")
    if report.kind == "model":
        return short_model(row.key)
    return row.key


def _cells(row: Row) -> list[RenderableType]:
    writes = row.tokens["cache_write_tokens"] + row.tokens["cache_write_1h_tokens"]
    calls = f"{row.calls:,}"
    if row.failed_calls:
        calls += f" ({row.failed_calls}✗)"
    return [
        calls,
        tokens(row.tokens["input_tokens"]),
        tokens(row.tokens["output_tokens"]),
        tokens(row.tokens["cache_read_tokens"]),
        tokens(writes),
        usd(row.cost_usd, row.unknown_cost_calls),
        usd(row.cache_savings_usd),
    ]


def report_table(report: Report, tz: ZoneInfo, *, title: str | None = None) -> Table:
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        show_footer=True,
        title_justify="left",
        pad_edge=False,
    )
    # Numbers never shrink; the key column gives way (ellipsis) on a narrow terminal.
    table.add_column(
        KEY_TITLES.get(report.kind, "Key"), footer="Total", no_wrap=True, overflow="ellipsis"
    )
    tools = report.kind == "tools"
    total = _cells(report.totals)
    heads = ["Calls", "Input", "Output", "Cache rd", "Cache wr", "Cost", "Saved"]
    if tools:  # a call may use several tools, so savings per tool would not add up
        heads[-1], total[-1] = "Uses", f"{sum(r.extra.get('uses', 0) for r in report.rows):,}"
    for head, foot in zip(heads, total, strict=True):
        width = max(len(head), len(str(foot)))
        table.add_column(head, justify="right", footer=foot, no_wrap=True, min_width=width)
    for row in report.rows:
        cells = [_key_text(report, row, tz), *_cells(row)]
        if tools:
            cells[-1] = f"{row.extra.get('uses', 0):,}"
        table.add_row(*cells)
        if report.kind == "model":
            continue  # a model row split by model says nothing new
        for sub in row.breakdown.values():
            sub_cells: list[RenderableType] = [Text(f" └ {short_model(sub.key)}", style="dim")]
            sub_cells += [Text(str(c), style="dim") for c in _cells(sub)]
            if tools:
                sub_cells[-1] = ""
            table.add_row(*sub_cells)
    return table


def notes(report: Report) -> list[str]:
    out = []
    if report.totals.unknown_cost_calls:
        out.append(
            f"+ {report.totals.unknown_cost_calls:,} calls have no known price and are not in "
            "the cost: run `tokenomy prices check`."
        )
    if report.totals.failed_calls:
        out.append(f"✗ {report.totals.failed_calls:,} failed calls (API errors) cost nothing.")
    out.append("Saved = what cache reads would have cost at the input price, minus what they cost.")
    return out


def print_report(console: Console, report: Report, tz: ZoneInfo, title: str) -> None:
    if not report.rows:
        console.print(f"[bold]{title}[/]: no calls in this range.")
        return
    console.print(report_table(report, tz, title=f"[bold]{title}[/]"))
    for line in notes(report):
        console.print(f"[dim]{line}[/]")
