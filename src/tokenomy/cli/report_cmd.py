"""`tokenomy report`: usage per day, week, month, session, block, project, model or tool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

from tokenomy.analytics.query import Filters
from tokenomy.analytics.reports import REPORT_KINDS, build_report
from tokenomy.analytics.rows import Report
from tokenomy.cli.context import Context, UsageError, parse_zone
from tokenomy.record import Source

if TYPE_CHECKING:
    from rich.console import Console

TITLES = {
    "daily": "Usage per day",
    "weekly": "Usage per week",
    "monthly": "Usage per month",
    "session": "Usage per session",
    "blocks": "5-hour usage blocks",
    "project": "Usage per project",
    "model": "Usage per model",
    "tools": "Tool calls",
}


@dataclass(frozen=True, slots=True)
class ReportOptions:
    kind: str
    since: date | None = None
    until: date | None = None
    timezone: str | None = None
    projects: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    breakdown: bool = False
    order: str = "asc"


def make_report(ctx: Context, opts: ReportOptions) -> Report:
    if opts.kind not in REPORT_KINDS:
        raise UsageError(f"unknown report {opts.kind!r}; choose one of: {', '.join(REPORT_KINDS)}")
    if opts.since and opts.until and opts.since > opts.until:
        raise UsageError(f"--since {opts.since} is after --until {opts.until}")
    if opts.order not in ("asc", "desc"):
        raise UsageError("--order takes asc or desc")
    sources = opts.sources
    if opts.kind == "blocks" and not sources:
        # The 5-hour windows are a Claude plan's: other agents' calls do not count there.
        sources = (Source.CLAUDE_CODE.value,)
    filters = Filters(
        tz=parse_zone(opts.timezone),
        since=opts.since,
        until=opts.until,
        projects=opts.projects,
        sources=sources,
    )
    order: Literal["asc", "desc"] = "desc" if opts.order == "desc" else "asc"
    return build_report(
        ctx.db, ctx.catalog, opts.kind, filters, breakdown=opts.breakdown, order=order
    )


def print_report_table(console: Console, report: Report, opts: ReportOptions) -> None:
    from tokenomy.cli.render import print_report

    print_report(console, report, parse_zone(opts.timezone), TITLES[opts.kind])
