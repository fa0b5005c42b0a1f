"""Running scheduled reports: every period that has ended and was not produced yet is
produced, written to its folder and posted to its webhook, in order, oldest first.

Nothing is lost when a destination fails: the page and its JSON are kept in the data
directory's outbox (``$TOKENOMY_HOME/reports/outbox``), the report's state is not moved
on, and the next run produces the period again from the store (late-imported calls
included) and removes the outbox copy once it is delivered. A report that failed stops
there for this run, so its periods still go out in order; other reports carry on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tokenomy.api.params import Scope
from tokenomy.pricing import PriceCatalog
from tokenomy.reports._format import cost, days, label, percent
from tokenomy.reports.config import ScheduledReport
from tokenomy.reports.data import ReportSpec, collect
from tokenomy.reports.html import render
from tokenomy.reports.periods import Period, due, next_due_ms
from tokenomy.reports.state import Produced, ReportState, write_atomic
from tokenomy.reports.webhook import WebhookError, post, redact, slack_escape
from tokenomy.store.db import Database


@dataclass(slots=True)
class Outcome:
    report: str
    period: str
    files: list[Path] = field(default_factory=list)
    webhook: str | None = None  # the URL, shortened
    status: int | None = None  # the webhook's HTTP status
    errors: list[str] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # outbox copies of a failed report

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "period": self.period,
            "ok": self.ok,
            "files": [str(p) for p in self.files],
            "webhook": self.webhook,
            "status": self.status,
            "errors": self.errors,
            "outbox": [str(p) for p in self.kept],
        }


@dataclass(slots=True)
class RunResult:
    outcomes: list[Outcome] = field(default_factory=list)
    # Missed periods too old to catch up on, per report.
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def spec_for(report: ScheduledReport, period: Period) -> ReportSpec:
    """A day is drawn per hour, a week per day."""
    return ReportSpec(
        Scope(report.tz, period.start_ms, period.end_ms, dict(report.filters)),
        interval="hour" if report.every == "daily" else "day",
        stack=report.stack,
        title=report.name,
        name=report.name,
        period=period.label,
    )


def run_due(
    db: Database,
    catalog: PriceCatalog,
    reports: Sequence[ScheduledReport],
    state: ReportState,
    now_ms: int,
    *,
    version: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    result = RunResult()
    with state.locked():
        done = state.load()
        for report in reports:
            previous = done.get(report.name)
            until = previous.done_until_ms if previous else None
            waiting = due(report.every, report.tz, now_ms, until)
            if waiting.skipped:
                result.skipped[report.name] = waiting.skipped
            for period in waiting.periods:
                outcome = produce(db, catalog, report, period, state, now_ms, version, sleep)
                result.outcomes.append(outcome)
                if not outcome.ok:
                    if report.name not in done:
                        # A first run that failed: remember where the schedule starts, or
                        # the next run would take itself for a first run again and go on
                        # from its own last period, leaving this one in the outbox.
                        done[report.name] = Produced(period.start_ms, "", _iso(time.time()))
                        state.save(done)
                    break
                done[report.name] = Produced(period.end_ms, period.label, _iso(time.time()))
                state.save(done)  # after each period: a crash later does not redo it
    return result


def produce(
    db: Database,
    catalog: PriceCatalog,
    report: ScheduledReport,
    period: Period,
    state: ReportState,
    now_ms: int,
    version: str,
    sleep: Callable[[float], None],
) -> Outcome:
    data = collect(db, catalog, spec_for(report, period), now_ms)
    page = render(data, version).encode()
    data_json = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    stem = f"{report.name}-{period.label}"
    outcome = Outcome(report.name, period.label)
    if report.folder is not None:
        try:
            report.folder.mkdir(parents=True, exist_ok=True)
            for suffix, content in ((".html", page), (".json", data_json)):
                path = report.folder / (stem + suffix)
                write_atomic(path, content)
                outcome.files.append(path)
        except OSError as exc:
            outcome.errors.append(
                f"{report.name}: cannot write to {report.folder}: {exc.strerror or exc}"
            )
    if report.webhook is not None:
        outcome.webhook = redact(report.webhook.url)
        body = webhook_body(data, page.decode() if report.webhook.html else None)
        try:
            outcome.status = post(report.webhook, body, f"report {report.name}", sleep=sleep).status
        except WebhookError as exc:
            outcome.errors.append(str(exc))
    kept = [state.outbox / (stem + suffix) for suffix in (".html", ".json")]
    if outcome.ok:
        for path in kept:
            path.unlink(missing_ok=True)  # delivered now: an earlier failure's copy goes
    else:
        state.outbox.mkdir(parents=True, exist_ok=True)
        for path, content in zip(kept, (page, data_json), strict=True):
            write_atomic(path, content)
        outcome.kept = kept
    return outcome


def days_text(data: dict[str, Any]) -> str:
    return days(data["range"], " to ")


def summary_text(data: dict[str, Any]) -> str:
    """Cost, calls, failures and the top models, in a sentence."""
    s = data["summary"]
    if s["calls"] == 0:
        return "no calls in this range."
    text = f"{cost(s)} over {s['calls']:,} calls"
    if s["failed_calls"]:
        text += f", {s['failed_calls']:,} failed ({percent(s['error_rate'])})"
    models = data["breakdowns"]["model"]["rows"][:3]
    if models:
        text += ". Top models: " + ", ".join(f"{label(m['key'])} {cost(m)}" for m in models)
    unknown = s["unknown_cost_calls"]
    if unknown:
        text += f". {unknown:,} call{' has' if unknown == 1 else 's have'} no price"
    return text + "."


def message(data: dict[str, Any]) -> str:
    """One paragraph for chat (Slack's ``text``): the report, its range and the figures,
    escaped for Slack's markup (model names come from the data; "<0.1%" is ours)."""
    name = " ".join(str(v) for v in (data["name"], data["period"]) if v)
    return slack_escape(f"Tokenomy report {name} {days_text(data)}: {summary_text(data)}")


def webhook_body(data: dict[str, Any], page: str | None) -> bytes:
    """JSON with a Slack-compatible ``text``, the summary, and the page unless left out."""
    body: dict[str, Any] = {
        "text": message(data),
        "report": data["name"],
        "period": data["period"],
        "range": data["range"],
        "filters": data["filters"],
        "summary": data["summary"],
    }
    if page is not None:
        body["html"] = page
    return orjson.dumps(body)


def status(
    reports: Sequence[ScheduledReport], state: ReportState, now_ms: int
) -> list[dict[str, Any]]:
    """Each report with its last period produced and when the next one is due."""
    done = state.load()
    rows = []
    for report in reports:
        previous = done.get(report.name)
        until = previous.done_until_ms if previous else None
        nxt = next_due_ms(report.every, report.tz, now_ms, until)
        rows.append(
            {
                "name": report.name,
                "every": report.every,
                "timezone": report.tz.key,
                "filters": {k: list(v) for k, v in report.filters.items()},
                "folder": None if report.folder is None else str(report.folder),
                "webhook": None if report.webhook is None else redact(report.webhook.url),
                # A schedule whose first period is still undelivered has produced none.
                "last_period": previous.period or None if previous else None,
                "last_produced_at": previous.at if previous and previous.period else None,
                "next_due": datetime.fromtimestamp(nxt / 1000, report.tz).isoformat(),
                "due_now": nxt <= now_ms,
                "waiting": len(due(report.every, report.tz, now_ms, until).periods),
            }
        )
    return rows


def outbox_files(state: ReportState) -> list[Path]:
    if not state.outbox.is_dir():
        return []
    return sorted(p for p in state.outbox.iterdir() if p.suffix == ".html")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
