"""`tokenomy report`: usage per day, week, month, session, block, project, model or tool,
as a terminal table, JSON, or (``--html``) a self-contained page; and `tokenomy reports`,
the scheduled reports of tokenomy.yaml."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from tokenomy.cli.context import (
    Context,
    UsageError,
    add_config_and_now,
    find_config,
    instant_ms,
    local_zone,
    parse_zone,
    require_command,
)
from tokenomy.config import Paths

if TYPE_CHECKING:  # the report builders load on use: `tokenomy --help` stays quick
    from rich.console import Console

    from tokenomy.analytics.rows import Report
    from tokenomy.reports import ReportSpec, RunResult, ScheduledReport

# `tokenomy report --help`'s examples: README's (a test keeps them the same), then a page.
REPORT_EPILOG = """\
examples:
  tokenomy report daily                # or weekly, monthly, session, blocks...
  tokenomy report daily --breakdown    # split every row by model
  tokenomy report session --order desc # most recent sessions first
  tokenomy report blocks               # 5-hour windows, as Claude plans count
  tokenomy report tools                # tool and MCP-server calls, and cost
  tokenomy report monthly --json       # for scripts: {"rows", "totals"}
  tokenomy report daily --since 2026-11-01 --until 2026-11-15 \\
      -z Europe/Berlin --project webapp
  tokenomy report --html out.html      # a page to mail (docs/reports.md)"""

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
    from tokenomy.analytics.query import Filters
    from tokenomy.analytics.reports import REPORT_KINDS, build_report
    from tokenomy.record import Source

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


# --- `report --html`: one self-contained page (tokenomy.reports) ---------------------------

# With --html, the report kind picks the cost chart's bars (daily, weekly, monthly) or what
# they are stacked by (project, model); the page always holds every table (models,
# projects, sources, top sessions, failures). A range of two days or less is drawn per hour.
HTML_INTERVALS = {"daily": "day", "weekly": "week", "monthly": "month"}
HTML_STACKS = {"project": "project", "model": "model"}
HOURLY_UP_TO_MS = 2 * 86_400_000


def html_spec(opts: ReportOptions) -> ReportSpec:
    from tokenomy.analytics.query import Filters
    from tokenomy.api.params import Scope
    from tokenomy.reports import ReportSpec

    if opts.kind == "blocks":
        raise UsageError(
            "--html draws no 5-hour blocks: use `tokenomy report blocks` in the terminal, "
            "or daily, weekly or monthly with --html"
        )
    if opts.since and opts.until and opts.since > opts.until:
        raise UsageError(f"--since {opts.since} is after --until {opts.until}")
    tz = parse_zone(opts.timezone)
    start, end = Filters(tz=tz, since=opts.since, until=opts.until).range_ms()
    filters: dict[str, tuple[str, ...]] = {}
    if opts.projects:
        filters["project"] = opts.projects
    if opts.sources:
        filters["source"] = opts.sources
    interval = HTML_INTERVALS.get(opts.kind, "day")
    if (
        interval == "day"
        and start is not None
        and end is not None
        and end - start <= HOURLY_UP_TO_MS
    ):
        interval = "hour"
    return ReportSpec(
        Scope(tz, start, end, filters),
        interval=interval,
        stack=HTML_STACKS.get(opts.kind, "model"),
        title="Tokenomy report",
    )


def write_html_report(
    ctx: Context, opts: ReportOptions, out: Path, now_ms: int | None = None
) -> dict[str, Any]:
    """Write the page for ``opts`` to ``out``; returns the report's data (its JSON)."""
    from tokenomy.api.params import ApiError
    from tokenomy.reports import collect, render
    from tokenomy.reports.state import write_atomic

    spec = html_spec(opts)
    if out.is_dir() or not out.name:  # `--html .`: a folder, where a file name is needed
        raise UsageError(f"--html: {out} is a folder; give a file name, e.g. {out / 'report.html'}")
    if not out.parent.is_dir():
        raise UsageError(f"--html: no such directory: {out.parent}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        data = collect(ctx.db, ctx.catalog, spec, now)
    except ApiError as exc:
        raise UsageError(exc.message) from None
    try:
        write_atomic(out, render(data, tokenomy_version()).encode())
    except OSError as exc:
        raise UsageError(f"--html: cannot write {out}: {exc.strerror or exc}") from None
    return data


def report_html(ctx: Context, opts: ReportOptions, out: Path, *, as_json: bool) -> None:
    """`report --html FILE`: write the page, then say what it holds (or its data as JSON)."""
    data = write_html_report(ctx, opts, out)
    if as_json:
        text = orjson.dumps({"html": str(out), **data}, option=orjson.OPT_INDENT_2).decode()
        sys.stdout.write(text + "\n")
    else:
        sys.stdout.write(html_written(out, data) + "\n")


def html_written(out: Path, data: dict[str, Any]) -> str:
    """The line `report --html` prints: model names come from logs and CSV files, so
    control characters in them are shown as escapes (:func:`printable`), as in tables."""
    from tokenomy.cli.format import printable
    from tokenomy.reports.schedule import days_text, summary_text

    if data["summary"]["calls"] == 0:
        return (
            f"Wrote {out} for {days_text(data)}: no calls in this range; import logs with "
            "`tokenomy import` or point an SDK at the gateway."
        )
    return printable(f"Wrote {out} for {days_text(data)}: {summary_text(data)}")


def tokenomy_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokenomy")
    except PackageNotFoundError:
        return ""


# --- `tokenomy reports`: scheduled reports from tokenomy.yaml ------------------------------

REPORTS_EPILOG = """\
Reports are declared under `reports:` in tokenomy.yaml (see docs/reports.md). Nothing runs
them by itself: call `tokenomy reports run` from cron or a systemd timer, e.g. hourly:
  0 * * * *  tokenomy reports run --config /etc/tokenomy/tokenomy.yaml
Each run produces every period that has ended and was not produced yet."""


def add_reports_parser(sub: Any, command: Any) -> None:
    reports = sub.add_parser(
        "reports",
        help="Scheduled reports from tokenomy.yaml: run the due ones, list them.",
        description="Scheduled reports from tokenomy.yaml: run the due ones, list them.",
        epilog=REPORTS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reports_sub = reports.add_subparsers(title="commands", metavar="COMMAND")
    require_command(reports, reports_sub)
    for name, func in (("run", cmd_reports_run), ("list", cmd_reports_list)):
        p = command(reports_sub, name, func)
        add_config_and_now(p, "reports")
        if name == "run":
            p.add_argument(
                "--no-import",
                action="store_true",
                help="report on stored calls only (default: import new agent-log lines first)",
            )


def _load(args: argparse.Namespace, paths: Paths) -> tuple[Path, list[ScheduledReport]]:
    from tokenomy.reports import ReportConfigError, load_reports

    config = find_config(
        args.config, paths, missing="declare reports under `reports:` in one (see docs/reports.md)"
    )
    try:
        return config, load_reports(config, local_zone())
    except ReportConfigError as exc:
        raise UsageError(str(exc)) from None


def cmd_reports_run(args: argparse.Namespace) -> int:
    """Produce every scheduled report whose period has ended and was not produced yet."""
    from tokenomy.reports import ReportState, ReportStateError, run_due, status

    paths = Paths.from_env()
    config, reports = _load(args, paths)
    now = instant_ms(args.now, "--now")
    if not reports:
        sys.stderr.write(f"{config} declares no reports (add a `reports:` section)\n")
        return 0
    state = ReportState(paths.home / "reports")
    ctx = Context(paths)
    try:
        # Agent logs are imported only when something is due: an hourly timer that finds
        # nothing to do stays cheap.
        if not args.no_import and any(r["due_now"] for r in status(reports, state, now)):
            _import_quietly(ctx, show=not args.json)
        result = run_due(ctx.db, ctx.catalog, reports, state, now, version=tokenomy_version())
    except ReportStateError as exc:
        raise UsageError(str(exc)) from None
    finally:
        ctx.close()
    if args.json:
        out = {
            "config": str(config),
            "ok": result.ok,
            "produced": [o.to_json() for o in result.outcomes],
            "skipped_periods": result.skipped,
        }
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print_run(result)
    return 0 if result.ok else 1


def _import_quietly(ctx: Context, *, show: bool) -> None:
    from tokenomy.cli.import_cmd import run_import

    summary = run_import(ctx, "all", paths=None, console=None, show_progress=False)
    if show and summary.problems.items:
        sys.stderr.write(
            f"note: {len(summary.problems.items):,} agent-log lines could not be read; "
            "`tokenomy import --verbose` lists them\n"
        )


def _print_run(result: RunResult) -> None:
    from tokenomy.reports.periods import MAX_CATCH_UP

    for name, n in result.skipped.items():
        sys.stderr.write(
            f"{name}: {n:,} older missed periods were not produced (only the last "
            f"{MAX_CATCH_UP} are caught up on)\n"
        )
    if not result.outcomes:
        sys.stdout.write("Nothing due: every report is up to date (`tokenomy reports list`)\n")
    for o in result.outcomes:
        done = [f"wrote {p}" for p in o.files]
        if o.status is not None:
            done.append(f"posted to {o.webhook} (HTTP {o.status})")
        if o.ok:
            sys.stdout.write(f"{o.report} {o.period}: {'; '.join(done)}\n")
            continue
        for error in o.errors:
            sys.stderr.write(f"error: {error}\n")
        kept = o.kept[0] if o.kept else None
        sys.stderr.write(
            f"{o.report} {o.period}: not delivered"
            + (f"; {'; '.join(done)}" if done else "")
            + (f"; kept in {kept} (and .json)" if kept else "")
            + "; the next `tokenomy reports run` tries again\n"
        )


def cmd_reports_list(args: argparse.Namespace) -> int:
    """List the scheduled reports, what each produced last and when the next is due."""
    from tokenomy.reports import ReportState, ReportStateError, status
    from tokenomy.reports.schedule import outbox_files

    paths = Paths.from_env()
    config, reports = _load(args, paths)
    state = ReportState(paths.home / "reports")
    try:
        rows = status(reports, state, instant_ms(args.now, "--now"))
    except ReportStateError as exc:
        raise UsageError(str(exc)) from None
    outbox = outbox_files(state)
    if args.json:
        out = {"config": str(config), "reports": rows, "outbox": [str(p) for p in outbox]}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    from rich.console import Console

    from tokenomy.cli.render import SafeTable

    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print(f"{config} declares no reports (add a `reports:` section).", markup=False)
        return 0
    table = SafeTable("Name", "Every", "Time zone", "Last period", "Next due", title="Reports")
    for r in rows:
        due = r["next_due"][:16].replace("T", " ")
        if r["due_now"]:
            due = f"now ({r['waiting']} waiting)"
        table.add_row(r["name"], r["every"], r["timezone"], r["last_period"] or "-", due)
    console.print(table)
    for r in rows:  # below the table: paths and URLs are too long for a column
        to = ", ".join(str(v) for v in (r["folder"], r["webhook"]) if v)
        console.print(f"{r['name']} -> {to}", markup=False)
    if outbox:
        console.print(
            f"{len(outbox)} undelivered in {outbox[0].parent}; `tokenomy reports run` tries again.",
            markup=False,
        )
    return 0
