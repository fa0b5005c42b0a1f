"""Reports as rich tables that stay readable at 80 columns."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console, RenderableType
from rich.style import StyleType
from rich.table import Table
from rich.text import Text

from tokenomy.analytics.rows import Report, Row
from tokenomy.cli.format import printable, tokens, usd
from tokenomy.humanize import fit as cut_middle

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


def short_model(name: str, *, drop_vendor: bool = False) -> str:
    """Model ids without their release-date suffix (and ``claude-``), to fit narrow tables."""
    name = _DATE_SUFFIX.sub("", name)
    return name.removeprefix("claude-") if drop_vendor else name


def _key_text(report: Report, row: Row, tz: ZoneInfo, width: int) -> str:
    """The row's key as shown, in at most ``width`` characters."""
    if report.kind == "session":
        return _session_text(
            printable(row.key), printable(str(row.extra.get("project") or "")), width
        )
    if report.kind == "blocks" and row.first_ms is not None:
        start = row.first_ms - row.first_ms % 3_600_000
        local = datetime.fromtimestamp(start / 1000, tz)
        mark = " ●" if row.extra.get("active") else ""
        text = local.strftime("%Y-%m-%d %H:%M")
        if len(text) + len(mark) > width:  # the hour matters more than the year
            text = local.strftime("%m-%d %H:%M")
        return text + mark
    if report.kind == "tools" and row.extra.get("mcp_server"):
        return fit(row.key.removeprefix("mcp__"), width)
    if report.kind == "model":
        return fit(short_model(row.key), width)
    return fit(row.key, width)


def _session_text(session: str, project: str, width: int) -> str:
    """The session id whole when it fits, else cut in its middle, then the project in what
    is left. Its first 8 characters were all that was shown, and they do not tell sessions
    apart: Codex ids are UUIDv7, whose start is a timestamp parallel runs share."""
    if not project:
        return fit(session, width)
    # The id keeps at least half the column: the project is the same on many rows.
    id_width = min(len(session), max(width // 2, width - 1 - len(project)))
    if width - id_width - 1 < 1:
        return fit(session, width)
    return f"{fit(session, id_width)} {fit(project, width - id_width - 1)}"


def fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle: names that differ only at
    the end (``playwright__browser_click`` and ``..._navigate``, two projects under one
    parent) stay told apart, where an ellipsis at the end gave both rows the same key.
    Control characters are shown as escapes first (:func:`printable`), so the cut counts
    what the terminal shows."""
    return cut_middle(printable(text), width)


class SafeTable(Table):
    """A rich table whose cells show control characters as visible escapes: names come from
    logs and CSV files, and an ESC or newline in one recoloured the terminal, set its title
    or broke a row. Every CLI table is one of these."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [_printable_cell(cell) for cell in renderables]
        super().add_row(*cells, style=style, end_section=end_section)


def _printable_cell(cell: RenderableType | None) -> RenderableType | None:
    if isinstance(cell, str):
        return printable(cell)
    if isinstance(cell, Text) and printable(cell.plain) != cell.plain:
        # The escapes move the spans: the cell keeps its base style only.
        return Text(printable(cell.plain), style=cell.style, justify=cell.justify)
    return cell


# What a SIMPLE_HEAD table with padding (0, 1), collapse_padding and no edge padding adds to
# each column: the gap between columns, and the table's edges.
TABLE_OVERHEAD_PER_COLUMN = 2


def share(needs: list[int], room: int, least: int = 4) -> list[int]:
    """Widths for columns that need ``needs`` within ``room``: the narrowest are served in
    full first, the rest split what remains evenly (never below ``least``)."""
    out = [0] * len(needs)
    left = room
    for n, i in enumerate(sorted(range(len(needs)), key=lambda i: needs[i])):
        fair = left // (len(needs) - n)
        out[i] = max(least, min(needs[i], fair))
        left -= out[i]
    return out


def _cells(row: Row) -> list[str]:
    writes = row.tokens["cache_write_tokens"] + row.tokens["cache_write_1h_tokens"]
    return [
        f"{row.calls:,}",
        tokens(row.tokens["input_tokens"]),
        tokens(row.tokens["output_tokens"]),
        tokens(row.tokens["cache_read_tokens"]),
        tokens(writes),
        usd(row.cost_usd, row.unknown_cost_calls, row.calls),
        usd(row.cache_savings_usd),
    ]


def report_table(
    report: Report, tz: ZoneInfo, *, title: str | None = None, width: int = 80
) -> SafeTable:
    table = SafeTable(
        title=title,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        show_footer=True,
        title_justify="left",
        pad_edge=False,
    )
    tools = report.kind == "tools"
    failed = bool(report.totals.failed_calls)
    total = _cells(report.totals)
    heads = ["Calls", "Input", "Output", "Cache rd", "Cache wr", "Cost", "Saved"]
    if tools:  # a call may use several tools, so savings per tool would not add up
        heads[-1], total[-1] = "Uses", f"{sum(r.extra.get('uses', 0) for r in report.rows):,}"
    # Every row's numbers first, made once: a column is as wide as its widest cell, never
    # cut ($960.05 in a row is wider than a total of $4,231).
    body: list[tuple[Row, list[str], list[tuple[Row, list[str]]]]] = []
    for row in report.rows:
        cells = _cells(row)
        if tools:
            cells[-1] = f"{row.extra.get('uses', 0):,}"
        subs = []
        if report.kind != "model":  # a model row split by model says nothing new
            for sub in row.breakdown.values():
                sub_cells = _cells(sub)
                if tools:
                    sub_cells[-1] = ""
                subs.append((sub, sub_cells))
        body.append((row, cells, subs))
    numbers = [c for _, cells, subs in body for c in [cells, *(sc for _, sc in subs)]]
    widths = [
        max([len(h), len(f)] + [len(c[i]) for c in numbers])
        for i, (h, f) in enumerate(zip(heads, total, strict=True))
    ]
    if failed:
        widths.append(max(len("✗"), len(f"{report.totals.failed_calls:,}")))
    # The key column gets what is left; a longer key is cut in its middle (fit), and the
    # column's own ellipsis is only a safety net.
    key_width = max(10, width - sum(widths) - 2 * len(widths) - 1)
    table.add_column(
        KEY_TITLES.get(report.kind, "Key"),
        footer="Total",
        no_wrap=True,
        overflow="ellipsis",
        max_width=key_width,
    )
    for head, foot, w in zip(heads, total, widths, strict=False):
        table.add_column(head, justify="right", footer=foot, no_wrap=True, min_width=w)
        if head == "Calls" and failed:
            # Only shown when something failed, so the usual table stays narrow.
            foot_failed = f"{report.totals.failed_calls:,}"
            table.add_column("✗", justify="right", footer=foot_failed, no_wrap=True)
    for row, cells, subs in body:
        line: list[RenderableType] = [_key_text(report, row, tz, key_width), *cells]
        if failed:
            line.insert(2, f"{row.failed_calls:,}" if row.failed_calls else "")
        table.add_row(*line)
        for sub, sub_cells in subs:
            name = fit(short_model(sub.key, drop_vendor=True), key_width - 3)
            sub_line: list[RenderableType] = [Text(f" └ {name}", style="dim")]
            sub_line += [Text(c, style="dim") for c in sub_cells]
            if failed:
                sub_line.insert(
                    2, Text(f"{sub.failed_calls:,}" if sub.failed_calls else "", style="dim")
                )
            table.add_row(*sub_line)
    return table


def notes(report: Report) -> list[str]:
    out = []
    if report.totals.unknown_cost_calls:
        out.append(
            f"+ {report.totals.unknown_cost_calls:,} calls have no known price and are not in "
            "the cost: run `tokenomy prices check`."
        )
    if report.totals.failed_calls:
        # Not "cost nothing": a failed agent run (tokenomy run) did spend its tokens.
        out.append(
            f"✗ {report.totals.failed_calls:,} failed calls (API errors, failed runs): the "
            "tokens they used, if any, are in the cost."
        )
    out.append("Saved = what cache reads would have cost at the input price, minus what they cost.")
    return out


def print_report(console: Console, report: Report, tz: ZoneInfo, title: str) -> None:
    if not report.rows:
        console.print(f"[bold]{title}[/]: no calls in this range.")
        return
    console.print(report_table(report, tz, title=f"[bold]{title}[/]", width=console.width))
    for line in notes(report):
        console.print(f"[dim]{line}[/]")
